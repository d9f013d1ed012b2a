"""zfsmirror states through Salt's real loader, on the replaying fake tools of test_zfsmirror_actions.

Each state is checked the same way: test=True reports exactly the changes the
real run then makes, and runs only reading commands; the run after gives no
changes; refusals fail in both modes and name the disk or pool. The fakes
replay static captures, so "after" is shown by replaying the capture of the
pool in its new state (e.g. the captured healthy mirror after the create).
"""

import shutil
import subprocess
from unittest import mock

import pytest

from mdtmirror_lib import stateplan
from tests.unit.test_zfsmirror_actions import (
    LIST_POOLS,
    SILENT,
    Rig,
    cap,
    fresh_host,
    importable,
    needs_blkid,
    reads_of_create,
    with_hostid,
)


def is_read(call):
    tool, args = call[0], call[1:]
    if tool == "blkid":
        return True
    if tool == "zpool":
        return (
            args[0] in ("list", "status", "get", "version")
            or args[:2] == ["create", "-n"]  # the dry run of disk_in_use
            or (args[0] == "import" and len(args) == 3)  # the listing: import -d <dir>
        )
    if tool == "zfs":
        return args[0] in ("list", "get", "holds")
    return False  # zgenhostid, systemctl, ssh, zstream


@pytest.fixture(scope="module")
def rig_env(tmp_path_factory, module_salt_loaders):
    rig = Rig(tmp_path_factory.mktemp("zfsrig-states"))
    loaders = module_salt_loaders(mdtmirror=rig.config, minion_id="mds03")
    return rig, loaders.states.zfsmirror


@pytest.fixture
def env(rig_env):
    rig, states = rig_env
    rig.reset()
    for name in ("dev/loop0", "dev/loop1", "dev/loop2"):
        rig.disk(name)
    return rig, states


def only_reads(rig):
    return all(is_read(call) for call in rig.calls())


def healthy_pool(rig):
    rig.play(
        zpool=[
            (LIST_POOLS, cap("zfs/zpool_list_Hp.txt")),
            (("get",), cap("zfs/zpool_get_all.txt")),
            (("status",), cap("zfs-json/zpool_status_j.json")),
        ]
    )


MIRROR = {"name": "mdtpool", "local": "/dev/loop0", "remote": "/dev/loop1", "properties": {"ashift": 12}}


@needs_blkid
def test_pool_mirrored_creates_then_is_quiet(env):
    rig, states = env
    fresh_host(rig)
    predicted = states.pool_mirrored(test=True, **MIRROR)
    assert predicted.result is None, predicted.comment
    # the state's own look (zpool get fails: not imported, as the pool list confirms), then create's reads
    own_look = [["zpool", "get", "-H", "-p", "all", "mdtpool"], ["zpool"] + LIST_POOLS]
    assert only_reads(rig) and rig.calls() == own_look + reads_of_create(rig)
    assert not rig.hostid.exists()
    assert predicted.changes == {
        "hostid": {"old": None, "new": str(rig.hostid)},
        "mdtpool": {
            "old": None,
            "new": {
                "mirror": ["/dev/loop0", "/dev/loop1"],
                "properties": {"multihost": "on", "cachefile": "none", "ashift": "12"},
            },
        },
    }
    assert predicted.comment.startswith("Would create pool mdtpool: mirror of /dev/loop0 and /dev/loop1\n")

    fresh_host(rig)
    applied = states.pool_mirrored(**MIRROR)
    assert applied.result is True, applied.comment
    assert applied.changes == predicted.changes
    creates = [c for c in rig.calls("zpool") if c[0] == "create" and c[1] != "-n"]
    assert creates == [
        ["create", "-o", "multihost=on", "-o", "cachefile=none", "-o", "ashift=12"]
        + ["mdtpool", "mirror", "/dev/loop0", "/dev/loop1"]
    ]
    assert applied.comment.startswith("Created pool mdtpool: pool mdtpool is a healthy mirror")

    # the pool as captured after such a create: imported, multihost on, both sides ONLINE
    for test in (False, True):
        healthy_pool(rig)
        again = states.pool_mirrored(test=test, **MIRROR)
        assert again.result is True and again.changes == {}, again.comment
        assert only_reads(rig)
        assert again.comment.splitlines()[0] == "pool mdtpool is a healthy mirror of its local and remote sides"
        # the captured pool was created without cachefile=none: said, not changed
        assert "default cache file" in again.comment


def degraded_pool(rig, statuses):
    rig.play(
        zpool=[
            (LIST_POOLS, cap("zfs/zpool_list_Hp.txt")),
            (("get",), cap("zfs/zpool_get_all.txt")),
            (("status",), cap(*statuses)),
            (("online",), cap("zfs/zpool_online.txt")),
        ]
    )


def test_pool_mirrored_heals_a_degraded_mirror(env):
    rig, states = env
    with_hostid(rig)
    degraded_pool(rig, ["zfs-json/zpool_status_j_degraded.json"])
    predicted = states.pool_mirrored(test=True, **MIRROR)
    assert predicted.result is None, predicted.comment
    assert predicted.changes == {"mdtpool:/dev/loop1": {"old": "OFFLINE", "new": "ONLINE"}}
    assert only_reads(rig)
    # plan (degraded), heal's own plan (degraded), then the pool after the online (captured, healthy)
    degraded_pool(rig, ["zfs-json/zpool_status_j_degraded.json"] * 2 + ["zfs-json/zpool_status_j_attach.json"])
    applied = states.pool_mirrored(**MIRROR)
    assert applied.result is True, applied.comment
    assert applied.changes == predicted.changes
    assert [c for c in rig.calls("zpool") if c[0] == "online"] == [["online", "mdtpool", "/dev/loop1"]]
    assert applied.comment.startswith("Applied: pool mdtpool is a healthy mirror")


def test_pool_mirrored_fails_while_the_peer_lun_is_missing(env):
    rig, states = env
    with_hostid(rig)
    (rig.root / "dev/loop1").unlink()
    for test in (True, False):
        degraded_pool(rig, ["zfs-json/zpool_status_j_degraded.json"])
        ret = states.pool_mirrored(test=test, **MIRROR)
        assert ret.result is False and ret.changes == {}
        assert ret.comment.splitlines()[0] == (
            "remote side /dev/loop1 of pool mdtpool is OFFLINE and the device is not there yet"
        )
        assert only_reads(rig)


@needs_blkid
@pytest.mark.needs_tool("mkfs.ext4", "blkid")
def test_pool_mirrored_refuses_a_used_disk_in_both_modes(env):
    rig, states = env
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    subprocess.run([mkfs, "-q", "-F", str(rig.root / "dev/loop0")], check=True)
    for test in (True, False):
        fresh_host(rig)
        ret = states.pool_mirrored(test=test, **MIRROR)
        assert ret.result is False and ret.changes == {}
        assert ret.comment.startswith("local disk /dev/loop0 is in use: /dev/loop0 contains a ext4 signature")
        assert only_reads(rig)
    fresh_host(rig)
    forced = states.pool_mirrored(test=True, force=True, **MIRROR)
    assert forced.result is None and forced.changes["mdtpool"]["new"]["forced"] == ["/dev/loop0"]


def test_pool_mirrored_does_not_create_over_an_existing_pool(env):
    rig, states = env
    rig.play(zpool=[(LIST_POOLS, SILENT), (("import", "-d"), cap("zfs-json/zpool_import_scan.txt"))])
    ret = states.pool_mirrored(test=True, **MIRROR)
    assert ret.result is False
    assert ret.comment == (
        f"a pool named mdtpool is already on the disks in {rig.import_dir} (state ONLINE): "
        "import it (zfsmirror.import_pool) instead of creating another"
    )


def test_pool_imported_predicts_the_import_and_scans_the_disks_once(env):
    # On a takeover the import listing waits out multihost's activity check (~25 s on real kernels):
    # a real run reads it once, and decides from it what test=True predicted.
    rig, states = env
    with_hostid(rig)
    importable(rig)
    predicted = states.pool_imported("mdtpool", force=True, test=True)
    assert predicted.result is None and only_reads(rig), predicted.comment
    assert predicted.changes == {"mdtpool": {"old": "exported", "new": "imported"}}
    assert rig.calls("zpool") == [LIST_POOLS, ["import", "-d", rig.import_dir]]

    importable(rig)
    applied = states.pool_imported("mdtpool", force=True)
    assert applied.result is True and applied.changes == predicted.changes, applied.comment
    assert rig.calls("zpool") == [
        LIST_POOLS,
        ["import", "-d", rig.import_dir],
        ["import", "-d", rig.import_dir, "-o", "cachefile=none", "mdtpool"],
        LIST_POOLS,
    ]
    assert applied.comment == "Imported pool mdtpool (ONLINE): exported cleanly"

    for test in (False, True):
        rig.play(zpool=[(LIST_POOLS, cap("zfs/zpool_list_Hp.txt"))])
        again = states.pool_imported("mdtpool", test=test)
        assert again.result is True and again.changes == {} and only_reads(rig), again.comment
        assert again.comment == "pool mdtpool is imported here (ONLINE)"


def test_zvol_present(env):
    rig, states = env
    rig.play(zfs=[(("get",), cap("zfs/zfs_get_all.txt")), (("create",), SILENT), (("set",), SILENT)])
    predicted = states.zvol_present(name="mdtpool/mdt0/lun0", size="1G", test=True)
    assert predicted.result is None and only_reads(rig)
    # udev's link, which the real run waits for (zfsmirror.create_zvol) before the export names it.
    link = rig.root / "dev/zvol/mdtpool/mdt0/lun0"
    link.parent.mkdir(parents=True, exist_ok=True)
    (rig.root / "dev/zd0").write_text("")
    link.symlink_to("../../../zd0")
    applied = states.zvol_present(name="mdtpool/mdt0/lun0", size="1G")
    assert applied.result is True and applied.changes == predicted.changes
    assert rig.calls("zfs")[-2:] == [
        ["create", "-V", str(1 << 30), "mdtpool/mdt0/lun0"],
        ["set", "canmount=off", "mdtpool/mdt0"],
    ]
    refused = states.zvol_present(name="mdtpool/mdt0", size="1G", test=True)
    assert refused.result is False and refused.comment == "mdtpool/mdt0 exists and is a filesystem, not a volume"


def _idempotent(rig, call, **kwargs):
    predicted = call(test=True, **kwargs)
    assert predicted.result is None, predicted.comment
    assert predicted.changes and rig.calls() == []
    applied = call(**kwargs)
    assert applied.result is True, applied.comment
    assert applied.changes == predicted.changes
    rig.play()
    for test in (False, True):
        again = call(test=test, **kwargs)
        assert again.result is True and again.changes == {}, again.comment
    assert rig.calls() == []
    return applied


def test_snapshot_schedule_present(env):
    rig, states = env
    kwargs = {"name": "mdt0", "dataset": "mdtpool/mdt0", "policy": {"hourly": 48, "daily": 90}, "interval": 15}
    applied = _idempotent(rig, states.snapshot_schedule_present, **kwargs)
    unit = rig.root / "etc/systemd/system/mdtmirror-snapshot-mdt0.service"
    assert str(unit) in applied.changes
    bad = states.snapshot_schedule_present(name="mdt0", dataset="mdtpool/mdt0", policy={"daily": 0}, test=True)
    assert bad.result is False and "keeps no snapshot" in bad.comment


def test_backups_configured(env, tmp_path):
    rig, states = env
    kwargs = {"name": "mdt0", "dataset": "mdtpool/mdt0", "destination": f"file:{tmp_path}"}
    _idempotent(rig, states.backups_configured, **kwargs)
    for dest, message in [
        ("ftp:bk01", "invalid backup destination 'ftp:bk01'"),
        ("file:/nonexistent", "backup directory /nonexistent does not exist"),
    ]:
        ret = states.backups_configured(name="mdt0", dataset="mdtpool/mdt0", destination=dest, test=True)
        assert ret.result is False and message in ret.comment


@needs_blkid
def test_pool_mirrored_publishes_a_created_pool_and_nothing_else(env, rig_env):
    """With ``publish`` the peer learns from the mine where the pool is, right after the create; a
    no-op or a test run publishes nothing (the peer's plan would read its disk's labels otherwise)."""
    rig, states = env
    published = []
    mine = {"mine.update": lambda: published.append(True)}
    real_publish = stateplan.publish
    # The unit loaders have no master to publish to: the state's own publish step, with a recording mine.
    with mock.patch.object(stateplan, "publish", lambda ret, salt: real_publish(ret, mine)):
        fresh_host(rig)
        assert states.pool_mirrored(test=True, publish=True, **MIRROR).result is None
        assert published == []
        fresh_host(rig)
        created = states.pool_mirrored(publish=True, **MIRROR)
        assert created.result is True and created.changes, created.comment
        assert published == [True] and "Published to the Salt mine (mine.update)" in created.comment
        healthy_pool(rig)
        again = states.pool_mirrored(publish=True, **MIRROR)
        assert again.result is True and again.changes == {} and published == [True]
