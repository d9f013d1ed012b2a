"""
The ZFS side of an MDT mirror: read and judge the pool that mirrors a local LUN
with the peer's LUN (logged in over SRP), and the safety checks that must pass
before anything writes to a disk.

Why not saltext-zfs for this: its ``zpool.status`` drops the vdev notes
(``was /dev/...``, ``(resilvering)``, ``too many errors``), keeps ``scan:`` as a
raw string, ignores ``-P`` and the JSON output of OpenZFS 2.3, and its
``zpool.present`` imports/creates with ``-f`` and knows no multihost. The pool
and snapshot logic is therefore ours; plain dataset/hold handling can still use
saltext-zfs.

Output formats: OpenZFS >= 2.3 prints JSON (``zpool status -j --json-int``),
which is asked first; 2.1 and 2.2 (what Lustre servers are often pinned to)
refuse ``-j`` (usage, exit 2) and only have text, then asked instead and
parsed by :py:func:`parse_status_text` into the same structure as
:py:func:`parse_status_json`.

Configuration (minion config or pillar, read with ``config.get``):

``mdtmirror:sysroot``
    prefix for the ``/etc`` and ``/dev`` paths below (default ``/``). Device
    paths handed to zpool/zfs/blkid stay as given; only the checks this module
    makes itself (does the device exist, which ``/dev/disk/by-id`` link points
    to it, unit files) look under the sysroot.
``mdtmirror:paths:<key>``
    override one path: ``hostid`` (``/etc/hostid``), ``import_dir`` (where
    ``zpool import -d`` looks for the pool's disks, ``/dev/disk/by-id``),
    ``kstat_zfs`` (the zfs module's kstat tree, ``/proc/spl/kstat/zfs``:
    the pools imported here),
    ``systemd_system`` (``/etc/systemd/system``, where the periodic jobs'
    units go).
``mdtmirror:bin:<name>``
    the binaries: ``zpool``, ``zfs``, ``zgenhostid``, ``blkid``, ``zdb``
    (labels: who imported a pool last), ``zstream``
    (set it empty to never verify streams with ``zstream dump``), ``ssh``,
    ``systemctl``; ``salt_call`` and ``zfs`` as written into the unit files
    (absolute paths: ``/usr/bin/salt-call``, ``/usr/sbin/zfs`` unless
    configured or found on PATH); ``remote_zfs``, the ``zfs`` run on a backup
    host through ssh (``zfs``); ``blockdev`` and ``udevadm`` (re-reading the
    partition tables the peer wrote before a failover import, and the page
    cache before a label is read; empty: never).
``mdtmirror:zpool_output``
    ``json``, ``text`` or ``auto`` (default): which ``zpool status`` output
    :py:func:`status` asks for.

The work is done by :py:class:`mdtmirror_lib.zfs_host.ZfsHost` (its module docstring says what
the actions share: multihost, ``cachefile=none``, never ``-f`` by itself, snapshot names, timers);
each public function here is its thin, documented face.
"""

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import publicdoc, zfs_host, zfsmirror_doc  # noqa: E402  (after current(): the fresh copy)

__virtualname__ = "zfsmirror"

# What Salt exposes as zfsmirror.*: each a thin, documented face of a ZfsHost method.
__all__ = [
    "version",
    "status",
    "health",
    "disk_in_use",
    "hostid",
    "hostid_present",
    "ensure_hostid",
    "list_pools",
    "pool_names",
    "list_snapshots",
    "pool_properties",
    "set_pool_properties",
    "create",
    "heal",
    "import_listing",
    "disk_label",
    "pool_label",
    "last_importer_here",
    "import_pool",
    "export_pool",
    "create_zvol",
    "snapshot",
    "prune",
    "backup",
    "restore_points",
    "restore",
    "snapshot_job",
    "backup_job",
]


def __virtual__():
    return __virtualname__


def _zfs():
    """The library object that does the work, on this minion's runner, configuration and context."""
    return zfs_host.ZfsHost(__salt__["cmd.run_all"], __salt__["config.get"], __context__)


def version():
    return _zfs().version()


def status(pool, local=None, remote=None, output=None):
    return _zfs().status(pool, local, remote, output)


def health(pool, local=None, remote=None, output=None):
    return _zfs().health(pool, local, remote, output)


def disk_in_use(path):
    return _zfs().disk_in_use(path)


def hostid():
    return _zfs().hostid()


def hostid_present():
    return _zfs().hostid_present()


def ensure_hostid(hostid=None, test=False):
    return _zfs().ensure_hostid(hostid, test)


def list_pools():
    return _zfs().list_pools()


def pool_names():
    return _zfs().pool_names()


def pool_properties(pool, missing_ok=False):
    return _zfs().pool_properties(pool, missing_ok)


def set_pool_properties(pool, properties, test=False, current=None):
    return _zfs().set_pool_properties(pool, properties, test, current)


def import_listing(reread=True):
    return _zfs().import_listing(reread)


def create(
    pool, local, remote, properties=None, filesystem_properties=None, force=False, test=False, remote_pending=False
):
    return _zfs().create(pool, local, remote, properties, filesystem_properties, force, test, remote_pending)


def disk_label(path):
    return _zfs().disk_label(path)


def pool_label(path):
    return _zfs().pool_label(path)


def last_importer_here(pool, path):
    return _zfs().last_importer_here(pool, path)


def heal(pool, local, remote, test=False):
    return _zfs().heal(pool, local, remote, test)


def import_pool(pool, force=False, test=False, whole=False):
    return _zfs().import_pool(pool, force, test, whole)


def export_pool(pool, test=False):
    return _zfs().export_pool(pool, test)


def create_zvol(name, size, properties=None, test=False):
    return _zfs().create_zvol(name, size, properties, test)


def snapshot(dataset, prefix="mdtmirror-", now=None, test=False):
    return _zfs().snapshot(dataset, prefix, now, test)


def list_snapshots(dataset):
    return _zfs().list_snapshots(dataset)


def prune(dataset, policy, prefix="mdtmirror-", now=None, test=False):
    return _zfs().prune(dataset, policy, prefix, now, test)


def backup(dataset, destination, prefix="mdtmirror-", hold_tag="mdtmirror-backup", test=False):
    return _zfs().backup(dataset, destination, prefix, hold_tag, test)


def restore_points(source, dataset=None):
    return _zfs().restore_points(source, dataset)


def restore(source, target, snapshot=None, dataset=None, force=False, test=False):
    return _zfs().restore(source, target, snapshot, dataset, force, test)


def snapshot_job(name, dataset, policy, prefix="mdtmirror-", interval=60, on_calendar=None, test=False):
    return _zfs().snapshot_job(name, dataset, policy, prefix, interval, on_calendar, test)


def backup_job(
    name,
    dataset,
    destination,
    prefix="mdtmirror-",
    hold_tag="mdtmirror-backup",
    interval=None,
    on_calendar="daily",
    test=False,
):
    return _zfs().backup_job(name, dataset, destination, prefix, hold_tag, interval, on_calendar, test)


# Each public function's docstring (what sys.doc shows, with its CLI example) is in zfsmirror_doc.
publicdoc.attach(globals(), zfsmirror_doc.DOCS)
