"""Backups' pure policy: what the next backup sends and releases, which stream files restore a snapshot."""

import pytest
from salt.exceptions import CommandExecutionError

from mdtmirror_lib import zfs_policy


def test_plan_backup_incremental_and_release():
    snaps = [{"name": f"p/m@mdtmirror-{i}", "createtxg": i, "creation": i, "userrefs": 0} for i in range(4)]
    holds = {"p/m@mdtmirror-1": {"mdtmirror-backup": 1}, "p/m@mdtmirror-0": {"mdtmirror-backup": 0, "keep": 0}}
    assert zfs_policy.plan_backup(snaps, holds) == {
        "send": "p/m@mdtmirror-3",
        "base": "p/m@mdtmirror-1",
        "release": ["p/m@mdtmirror-0", "p/m@mdtmirror-1"],
        "up_to_date": False,
    }
    assert zfs_policy.plan_backup(snaps, {})["base"] is None
    assert zfs_policy.plan_backup(snaps, {"p/m@mdtmirror-3": {"mdtmirror-backup": 1}})["up_to_date"] is True


def test_backup_files_and_restore_chains():
    names = [
        "mdtpool+mdt0@mdtmirror-20261123T0000Z.full.zsend",
        "mdtpool+mdt0@mdtmirror-20261124T0000Z.from-mdtmirror-20261123T0000Z.zsend",
        "mdtpool+mdt0@mdtmirror-20261125T0000Z.from-mdtmirror-20261124T0000Z.zsend",
        "mdtpool+mdt0@mdtmirror-20261126T0000Z.from-mdtmirror-20261125T0000Z.zsend.partial",  # not finished
        "mdtpool+mdt0@mdtmirror-20261127T0000Z.from-mdtmirror-20261126T0000Z.zsend",  # its base never landed
        "other@x.full.zsend",
        "README",
    ]
    found = zfs_policy.parse_backup_files(names)
    assert sorted(found) == ["mdtpool/mdt0", "other"]
    streams = found["mdtpool/mdt0"]
    assert streams["mdtmirror-20261124T0000Z"] == {"file": names[1], "base": "mdtmirror-20261123T0000Z"}
    chain = zfs_policy.restore_chain(streams, "mdtmirror-20261125T0000Z")
    assert [c["file"] for c in chain] == names[:3]
    with pytest.raises(CommandExecutionError) as err:
        zfs_policy.restore_chain(streams, "mdtmirror-20261127T0000Z")
    assert str(err.value) == (
        "cannot restore mdtmirror-20261127T0000Z: no backup file for the stream of mdtmirror-20261126T0000Z, "
        f"which {names[4]} is based on"
    )
    with pytest.raises(CommandExecutionError, match="loop"):
        zfs_policy.restore_chain({"a": {"file": "f1", "base": "b"}, "b": {"file": "f2", "base": "a"}}, "a")
