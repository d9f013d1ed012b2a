"""The mirrored MDT pool on two emulated MDS: created over the local LUN and
the peer's SRP LUN by by-id paths with multihost on; losing the peer degrades
it and zfsmirror.health says which side; bringing the peer back and
re-applying heals it; snapshots are taken and pruned by policy (held and
foreign snapshots survive); a backup stream is produced; a disk with a
foreign label is refused by name."""

import datetime
import os
import subprocess

import pytest
from salt.exceptions import CommandExecutionError

from tests.emul import zfsemu
from tests.emul.rig import make_pair

pytestmark = pytest.mark.slow

LOCAL_BY_ID = "/dev/disk/by-id/scsi-local-mdt0"


@pytest.fixture
def pair(tmp_path):
    # Short SRP timers, compressed in time: path loss -> fail-fast -> removed in ~2 s.
    pair = make_pair(tmp_path, link_layer="InfiniBand", fabric_kwargs={"time_scale": 0.06})
    for host in pair.hosts.values():
        host.mdtmirror["bin"].update(zfsemu.install(host.root))
        link = host.root / LOCAL_BY_ID.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("../../mdt0", link)
    yield pair
    pair.stop()


def peer_of(name):
    return {"mds01": "mds02", "mds02": "mds01"}[name]


def pillar(pair, name):
    return {
        "mdtmirror": {
            "target": {"device": "MDT0", "enable_service": False},
            "initiator": {
                "module_options": {"fast_io_fail_tmo": 5, "dev_loss_tmo": 30, "reconnect_delay": 3},
                "enable_daemon": False,
            },
            "mirror": {"pool": "mdtpool", "owner": "mds01"},
            "node": {"lun_path": LOCAL_BY_ID, "initiators": [pair.hosts[peer_of(name)].target]},
        }
    }


def ok(result):
    assert not result.failed, result.errors
    failed = {state.id: state.comment for state in result if state.result is False}
    assert failed == {}
    return {state.id: state.changes for state in result if state.changes}


def zpool(host, *args):
    rc, out, err = zfsemu.run(host.root, "zpool", list(args))
    return rc, out.decode(), err


def snapshots(host):
    rc, out, _ = zfsemu.run(host.root, "zfs", ["list", "-H", "-t", "snapshot", "-s", "createtxg", "-o", "name"])
    assert rc == 0
    return out.decode().split()


def test_pool_mirror_degrade_heal_snapshots_backup(pair, salt_loaders, tmp_path, monkeypatch):
    loaders = {name: salt_loaders(mdtmirror=h.mdtmirror, minion_id=name) for name, h in pair.hosts.items()}
    for name, ld in loaders.items():
        ok(ld.modules.state.sls("mdtmirror.target", pillar=pillar(pair, name)))
    for name, ld in loaders.items():
        ok(ld.modules.state.sls("mdtmirror.initiator", pillar=pillar(pair, name)))
    mds01, mds02 = pair.hosts["mds01"], pair.hosts["mds02"]
    ld = loaders["mds01"]

    # Only the owner renders a pool state; the standby only gets its hostid (multihost needs it for a failover).
    standby = ok(loaders["mds02"].modules.state.sls("mdtmirror.mirror", pillar=pillar(pair, "mds02")))
    assert set(standby) == {"mdtmirror-hostid"}
    assert ok(loaders["mds02"].modules.state.sls("mdtmirror.mirror", pillar=pillar(pair, "mds02"))) == {}

    predicted = ok(ld.modules.state.sls("mdtmirror.mirror", pillar=pillar(pair, "mds01"), test=True))
    assert set(predicted) == {"mdtmirror-pool"}
    assert zpool(mds01, "list", "-H", "-o", "name")[1] == ""
    applied = ok(ld.modules.state.sls("mdtmirror.mirror", pillar=pillar(pair, "mds01")))
    assert applied == predicted
    assert ok(ld.modules.state.sls("mdtmirror.mirror", pillar=pillar(pair, "mds01"))) == {}

    # What ZFS says (the emulated zpool, not our parser).
    rc, out, _ = zpool(mds01, "get", "-H", "-o", "value", "multihost", "mdtpool")
    assert out.strip() == "on"
    rc, status, _ = zpool(mds01, "status", "-P", "mdtpool")
    assert "state: ONLINE" in status and LOCAL_BY_ID in status and "/dev/disk/by-id/scsi-2" in status
    remote = [line.split()[0] for line in status.splitlines() if "/dev/disk/by-id/scsi-2" in line][0]

    sides = {"local": [LOCAL_BY_ID], "remote": [remote.rsplit("-part", 1)[0]]}
    health = ld.modules.zfsmirror.health("mdtpool", local=sides["local"], remote=sides["remote"])
    assert [side["state"] for side in health["remote"]] == ["ONLINE"]
    assert [side["state"] for side in health["local"]] == ["ONLINE"]
    assert health["redundant"] is True

    # The peer's target goes away: the SRP path is lost; ZFS notices on I/O.
    # The remote port's timers as in pathloss.txt (seconds are 60 ms here).
    (rport,) = ld.modules.srp.list_logins()
    rport_dir = mds01.root / "sys/class/srp_remote_ports" / rport["remote_port"]
    for attr, value in (("fast_io_fail_tmo", "5"), ("dev_loss_tmo", "30"), ("reconnect_delay", "3")):
        (rport_dir / attr).write_text(value + "\n")
    enabled = mds02.root / f"sys/kernel/scst_tgt/targets/ib_srpt/{mds02.target}/enabled"
    enabled.write_text("0\n")
    import time

    deadline = time.monotonic() + 10
    while ld.modules.srp.list_logins() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ld.modules.srp.list_logins() == [], "the remote port should be gone after dev_loss_tmo"
    assert zpool(mds01, "scrub", "mdtpool")[0] == 0
    health = ld.modules.zfsmirror.health("mdtpool", local=sides["local"], remote=sides["remote"])
    assert health["state"] == "DEGRADED" and health["redundant"] is False
    (remote_side,) = health["remote"]
    assert remote_side["state"] in ("REMOVED", "UNAVAIL") and remote_side["why"]
    assert [side["state"] for side in health["local"]] == ["ONLINE"]

    # The peer comes back; re-applying logs in again and heals the pool.
    enabled.write_text("1\n")
    ok(ld.modules.state.sls("mdtmirror.initiator", pillar=pillar(pair, "mds01")))
    healed = ok(ld.modules.state.sls("mdtmirror.mirror", pillar=pillar(pair, "mds01")))
    assert "mdtmirror-pool" in healed
    deadline = time.monotonic() + 10
    while "state: ONLINE" not in zpool(mds01, "status", "mdtpool")[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "state: ONLINE" in zpool(mds01, "status", "mdtpool")[1]

    # Snapshots: ours pruned by policy; held and foreign ones survive.
    zfs = ld.modules.zfsmirror
    base = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
    for hour in range(30):
        when = (base + datetime.timedelta(hours=hour)).timestamp()
        monkeypatch.setenv("ZFSEMU_TIME", str(int(when)))  # the emulated pool's clock: creation times
        zfs.snapshot("mdtpool", now=when)
    names = snapshots(mds01)
    assert len(names) == 30 and all(n.startswith("mdtpool@mdtmirror-") for n in names)
    zfsemu.run(mds01.root, "zfs", ["snapshot", "mdtpool@manual-before-upgrade"])
    zfsemu.run(mds01.root, "zfs", ["hold", "keep", names[0]])
    now = (base + datetime.timedelta(hours=30)).timestamp()
    monkeypatch.setenv("ZFSEMU_TIME", str(int(now)))
    pruned = zfs.prune("mdtpool", {"hourly": 5}, now=now)
    assert len(pruned["calls"]) <= 2, pruned["calls"]
    left = set(snapshots(mds01))
    assert names[0] in left, "a held snapshot was pruned"
    rc, out, _ = zfsemu.run(mds01.root, "zfs", ["list", "-H", "-t", "snapshot", "-o", "name"])
    assert "mdtpool@manual-before-upgrade" in out.decode()
    assert set(names[-5:]) <= left and len(left & set(names)) < 30

    # Backup: a checked stream to a file.
    target_dir = tmp_path / "backup"
    target_dir.mkdir()
    result = zfs.backup("mdtpool", f"file:{target_dir}")
    files = list(target_dir.iterdir())
    assert len(files) == 1 and files[0].stat().st_size > 0 and not files[0].name.endswith(".partial")
    assert result

    # An incremental backup on top, then a restore of the chain into a new dataset.
    later = now + 3600
    monkeypatch.setenv("ZFSEMU_TIME", str(int(later)))
    newest = zfs.snapshot("mdtpool", now=later)["snapshot"]
    incremental = zfs.backup("mdtpool", f"file:{target_dir}")
    assert incremental["incremental"] and incremental["snapshot"] == newest
    points = zfs.restore_points(f"file:{target_dir}")
    assert [(p["snapshot"], p["streams"], p["problem"]) for p in points] == [
        (result["snapshot"].split("@")[1], 1, None),
        (newest.split("@")[1], 2, None),
    ]
    predicted = zfs.restore(f"file:{target_dir}", "mdtpool/restore", test=True)
    assert predicted["snapshot"] == newest.split("@")[1] and len(predicted["streams"]) == 2
    assert "mdtpool/restore" not in zfsemu.run(mds01.root, "zfs", ["list", "-H", "-o", "name"])[1].decode()
    done = zfs.restore(f"file:{target_dir}", "mdtpool/restore")
    assert done["streams"] == predicted["streams"] and all(done["verified"]), done
    assert done["commands"] == predicted["commands"]
    restored = [n for n in snapshots(mds01) if n.startswith("mdtpool/restore@")]
    assert restored == [
        f"mdtpool/restore@{result['snapshot'].split('@')[1]}",
        f"mdtpool/restore@{newest.split('@')[1]}",
    ]
    # Never over a live dataset without force, never onto the pool itself.
    for target, words in (("mdtpool/restore", "exists"), ("mdtpool", "exists")):
        with pytest.raises(CommandExecutionError, match=words):
            zfs.restore(f"file:{target_dir}", target)
    assert [n for n in snapshots(mds01) if n.startswith("mdtpool/restore@")] == restored
    # With force=True the copy is replaced: -F on the full stream only, as predicted.
    forced = zfs.restore(f"file:{target_dir}", "mdtpool/restore", force=True, test=True)
    assert [c[2:] for c in forced["commands"]] == [["-u", "-F", "mdtpool/restore"], ["-u", "mdtpool/restore"]]
    assert zfs.restore(f"file:{target_dir}", "mdtpool/restore", force=True)["commands"] == forced["commands"]
    assert [n for n in snapshots(mds01) if n.startswith("mdtpool/restore@")] == restored
    # The node's own view (mdtmirror.restore_points, what salt-run mdtmirror.restore_points asks the active):
    # its pillar's backup destination and the pool's root dataset.
    with_backups = pillar(pair, "mds01")
    with_backups["mdtmirror"]["backup"] = {"destination": f"file:{target_dir}"}
    node = salt_loaders(mdtmirror=mds01.mdtmirror, pillar=with_backups, minion_id="mds01").modules.mdtmirror
    listing = node.restore_points()
    assert (listing["dataset"], listing["points"]) == ("mdtpool", points)
    # A damaged stream is refused before zfs recv reads it (zstream dump), naming the file.
    damaged = sorted(target_dir.iterdir())[-1]
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.raises(CommandExecutionError, match=f"backup file {damaged} is damaged"):
        zfs.restore(f"file:{target_dir}", "mdtpool/restore2")


def test_disk_with_foreign_label_refused_by_name(pair, salt_loaders):
    host = pair.hosts["mds01"]
    ld = salt_loaders(mdtmirror=host.mdtmirror, minion_id="mds01")
    # A real ext4 file system on what would be the remote disk.
    disk = host.root / "dev" / "foreign"
    with open(disk, "wb") as handle:
        handle.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-F", "-q", str(disk)], check=True)
    ret = ld.states.zfsmirror.pool_mirrored(name="mdtpool", local=LOCAL_BY_ID, remote="/dev/foreign")
    assert ret.result is False
    assert "/dev/foreign" in ret.comment and "ext4" in ret.comment, ret.comment
    assert zpool(host, "list", "-H", "-o", "name")[1] == ""
