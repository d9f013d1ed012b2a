"""import_decision: whether a pool that ``zpool import`` lists may be imported here, and with ``-f`` or not.

The listings are zpool 2.3.2's for the three hostid cases (constructed like test_lib_zfs_parse's) and a
real capture.
"""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import zfs_parse, zfs_policy
from tests.unit.test_lib_zfs_parse import _import_listing_with, capture


def test_import_decision_from_the_listing():
    # listings as zpool 2.3.2 prints them for the three hostid cases (constructed like test_lib_zfs_parse')
    active = zfs_parse.parse_import_list(
        _import_listing_with(
            "status: The pool is currently imported by another system.\n",
            "action: The pool must be exported from mds02 (hostid=1a2b3c4d)\n\tbefore it can be safely imported.\n",
        )
    )["mdtpool"]
    for force in (False, True):
        with pytest.raises(CommandExecutionError) as err:
            zfs_policy.import_decision(active, force=force)
        assert str(err.value) == (
            "pool mdtpool is imported on mds02 (hostid 0x1a2b3c4d): multihost sees it active; "
            "export it there first (never forced)"
        )
    mismatch = zfs_parse.parse_import_list(
        _import_listing_with(
            "status: The pool was last accessed by another system.\n",
            "action: The pool can be imported using its name or numeric identifier and\n\tthe '-f' flag.\n",
        )
    )["mdtpool"]
    with pytest.raises(CommandExecutionError, match="last accessed by another host and not exported.*force=True"):
        zfs_policy.import_decision(mismatch)
    assert zfs_policy.import_decision(mismatch, force=True)["force"] is True
    required = zfs_parse.parse_import_list(
        _import_listing_with(
            "status: The pool has the multihost property on.  It cannot\n"
            "\tbe safely imported when the system hostid is not set.\n",
            "action: Set a unique system hostid with the zgenhostid(8) command.\n",
        )
    )["mdtpool"]
    with pytest.raises(CommandExecutionError, match="no hostid: run zfsmirror.ensure_hostid"):
        zfs_policy.import_decision(required, force=True)
    ok = zfs_parse.parse_import_list(capture("zfs-json/zpool_import_scan.txt")[1])["mdtpool"]
    assert zfs_policy.import_decision(ok, force=True) == {"force": False, "note": "exported cleanly"}


def test_force_must_be_given_plainly():
    ok = zfs_parse.parse_import_list(capture("zfs-json/zpool_import_scan.txt")[1])["mdtpool"]
    for vague in ("yes", 1, None):
        with pytest.raises(SaltInvocationError, match="force must be True or False"):
            zfs_policy.import_decision(ok, force=vague)
