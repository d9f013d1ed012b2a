"""The zpool/zfs emulator (tests/emul/zfsemu.py) against the real OpenZFS 2.3.2 captures.

Exact comparisons (whole output and exit code) where the emulator can be
deterministic: the clock is fixed with ``ZFSEMU_TIME`` and ``TZ=UTC`` (the
captures were taken in UTC), disks are named like the captured ones
(``loop0``, ``loop1``, ``sda``). Normalised fields, and only these: pool and
vdev guids (``id:`` line, ``guid`` column), the scrub duration, and in JSON
the space accounting and txg values (keys, nesting and types are compared).
"""

import calendar
import io
import json
import os
import re
import shlex
import socket
import subprocess
import time

import pytest

from tests.captures import REPO, captures_dir
from tests.emul import zfsemu

MIB = 1 << 20


def golden(name):
    """(command, output, exit code) of one capture."""
    text = (captures_dir() / "linux-6.1-openzfs-2.3.2" / name).read_text()
    lines = text.splitlines(keepends=True)
    assert lines[0].startswith("$ ")
    code = re.match(r"\[exit (\d+)\]", lines[-1].strip())
    assert code, name
    return lines[0][2:].strip(), "".join(lines[1:-1]), int(code.group(1))


def golden_json(name):
    cmd, body, code = golden(name)
    return json.loads(body)


def utc(text):
    return calendar.timegm(time.strptime(text, "%a %b %d %H:%M:%S %Y"))


@pytest.fixture(autouse=True)
def utc_clock(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class Host:
    def __init__(self, base, name, disks=None, hostid=None):
        self.root = base / name
        (self.root / "dev" / "disk" / "by-id").mkdir(parents=True)
        (self.root / "etc").mkdir()
        for disk, size in (disks or {}).items():
            with open(self.root / "dev" / disk, "wb") as handle:
                handle.truncate(size)
        if hostid is not None:
            (self.root / "etc" / "hostid").write_bytes(hostid.to_bytes(4, "little"))

    def __call__(self, cmdline, stdin=None):
        """Run ``zpool ...``/``zfs ...`` in-process; returns (exit code, stdout + stderr)."""
        argv = shlex.split(cmdline)
        code, out, err = zfsemu.run(str(self.root), argv[0], argv[1:], stdin=io.BytesIO(stdin or b""))
        return code, out.decode() + err

    def ok(self, cmdline, stdin=None):
        code, out = self(cmdline, stdin)
        assert code == 0, (cmdline, out)
        return out

    def check(self, capture, cmdline=None, normalise=None):
        cmd, want, want_code = golden(capture)
        code, out = self(cmdline or cmd)
        if normalise:
            out, want = normalise(out), normalise(want)
        assert (code, out) == (want_code, want)


def peer_link(host, peer, disk="sdb", by_id="scsi-23830313330643861", backing="mdt0"):
    """The SRP emulator's view of the peer's LUN: /dev/sdb -> peer's backing file (real path), by-id -> ../../sdb."""
    os.symlink(os.path.realpath(peer.root / "dev" / backing), host.root / "dev" / disk)
    os.symlink("../../" + disk, host.root / "dev" / "disk" / "by-id" / by_id)
    return "/dev/disk/by-id/" + by_id


@pytest.fixture
def loops(tmp_path):
    """One host with the captures' disks: loop0, loop1, sda (256 MiB each)."""
    disks = {"loop0": 256 * MIB, "loop1": 256 * MIB, "loop2": 256 * MIB, "sda": 256 * MIB}
    return Host(tmp_path, "mds01", disks, hostid=0x8F3A2C1D)


@pytest.fixture
def pair(tmp_path):
    a = Host(tmp_path, "mds01", {"mdt0": 256 * MIB}, hostid=0x0A0A0001)
    b = Host(tmp_path, "mds02", {"mdt0": 256 * MIB, "bk0": 128 * MIB}, hostid=0x0B0B0002)
    a.peer = peer_link(a, b)
    b.peer = peer_link(b, a, by_id="scsi-23830313330643862")
    for h, serial in ((a, "scsi-2local1"), (b, "scsi-2local2")):
        os.symlink("../../mdt0", h.root / "dev" / "disk" / "by-id" / serial)
    return a, b


# --------------------------------------------------------------------------
# golden: zpool status / list / get
# --------------------------------------------------------------------------


def test_status_of_a_fresh_mirror_is_the_capture(loops):
    loops.check("zfs/zpool_create.txt")
    loops.check("zfs/zpool_status_online.txt")
    loops.check("zfs/zpool_status_P.txt")
    loops.check("zfs/zpool_status_x_healthy.txt")
    code, out = loops("zpool status -x mdtpool")
    assert (code, out) == (0, "pool 'mdtpool' is healthy\n")


def test_offline_online_resilver_match_the_captures(loops, monkeypatch):
    loops.ok("zpool create -o multihost=on mdtpool mirror /dev/loop0 /dev/sda")
    loops.check("zfs/zpool_offline.txt")
    loops.check("zfs/zpool_status_degraded_offline.txt")
    monkeypatch.setenv("ZFSEMU_TIME", str(utc("Tue Nov 24 12:18:47 2026")))
    loops.check("zfs/zpool_online.txt")
    code, out = loops("zpool status -P mdtpool")
    assert "  scan: resilver in progress since Tue Nov 24 12:18:47 2026\n" in out
    assert "resilvered, 50.00% done" in out and "/dev/sda1   ONLINE       0     0     0  (resilvering)" in out
    assert "status: One or more devices is currently being resilvered." in out
    loops.check("zfs/zpool_status_after_resilver.txt")
    loops.check("zfs/zpool_status_resilver.txt")


def test_scrub_status_matches_the_capture(loops, monkeypatch):
    loops.ok("zpool create mdtpool mirror /dev/loop0 /dev/sda")
    monkeypatch.setenv("ZFSEMU_TIME", str(utc("Tue Nov 24 12:19:17 2026")))
    loops.check("zfs/zpool_scrub.txt")
    loops.check("zfs/zpool_status_scrubbed.txt", normalise=lambda t: re.sub(r" in \d\d:\d\d:\d\d ", " in T ", t))


def test_list_and_get_match_the_captures(loops):
    loops.ok("zpool create -o multihost=on -o ashift=12 -O canmount=off mdtpool mirror /dev/loop0 /dev/sda")
    loops.ok("zfs create -o mountpoint=none mdtpool/mdt0")
    guid = loops.ok("zpool get -H -p -o value guid mdtpool").strip()
    loops.check(
        "zfs/zpool_list_Hp.txt", normalise=lambda t: t.replace(guid, "GUID").replace("268159777216571432", "GUID")
    )
    cmd, want, _ = golden("zfs/zpool_get_all.txt")
    got = loops.ok(cmd)
    rows = lambda text: [tuple(line.split("\t")[i] for i in (0, 1, 3)) for line in text.splitlines()]  # noqa: E731
    assert rows(got) == rows(want)
    fixed = {"size", "free", "allocated", "capacity", "health", "ashift", "multihost", "altroot", "failmode"}
    values = lambda text: {r.split("\t")[1]: r.split("\t")[2] for r in text.splitlines()}  # noqa: E731
    assert {k: v for k, v in values(got).items() if k in fixed} == {k: v for k, v in values(want).items() if k in fixed}


def test_zfs_list_and_get_all_match_the_captures(loops):
    loops.ok("zpool create -o ashift=12 mdtpool mirror /dev/loop0 /dev/sda")
    loops.ok("zfs create -o mountpoint=none mdtpool/mdt0")
    for snap in ("mdtmirror-20261121T0000Z", "mdtmirror-20261122T0000Z", "mdtmirror-20261123T0000Z", "manual-keep"):
        loops.ok("zfs snapshot mdtpool/mdt0@" + snap)
    loops.check("zfs/zfs_list_all.txt")
    cmd, want, _ = golden("zfs/zfs_get_all.txt")
    got = loops.ok(cmd)
    rows = lambda text: [tuple(line.split("\t")[i] for i in (0, 1, 3)) for line in text.splitlines()]  # noqa: E731
    assert rows(got) == rows(want)
    varying = {"creation", "guid", "createtxg", "objsetid", "snapshots_changed", "logicalused", "logicalreferenced"}
    values = lambda text: {r.split("\t")[1]: r.split("\t")[2] for r in text.splitlines()}  # noqa: E731
    assert {k: v for k, v in values(got).items() if k not in varying} == {
        k: v for k, v in values(want).items() if k not in varying
    }


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def _rename(tree, names):
    if isinstance(tree, dict):
        return {names.get(k, k): _rename(v, names) for k, v in tree.items()}
    return tree


def test_status_json_has_the_captured_structure(loops):
    loops.ok("zpool create mdtpool mirror /dev/loop0 /dev/loop1")
    got = json.loads(loops.ok("zpool status -j --json-int mdtpool"))
    want = golden_json("zfs-json/zpool_status_j.json")
    assert _shape(got) == _shape(want)
    assert list(got["pools"]["mdtpool"]) == list(want["pools"]["mdtpool"])
    mine = got["pools"]["mdtpool"]["vdevs"]["mdtpool"]
    theirs = want["pools"]["mdtpool"]["vdevs"]["mdtpool"]
    same = ("name", "vdev_type", "class", "state", "total_space", "def_space", "rep_dev_size", "phys_space", "path")
    for a, b in ((mine, theirs), (mine["vdevs"]["mirror-0"], theirs["vdevs"]["mirror-0"])):
        assert {k: a[k] for k in same if k in b} == {k: b[k] for k in same if k in b}
    for leaf in ("loop0", "loop1"):
        a, b = mine["vdevs"]["mirror-0"]["vdevs"][leaf], theirs["vdevs"]["mirror-0"]["vdevs"][leaf]
        assert {k: a[k] for k in same if k in b and k != "rep_dev_size"} == {
            k: b[k] for k in same if k in b and k != "rep_dev_size"
        }
    assert mine["guid"] == got["pools"]["mdtpool"]["pool_guid"]
    # without --json-int the numbers are strings
    text = json.loads(loops.ok("zpool status -j mdtpool"))["pools"]["mdtpool"]
    assert isinstance(text["pool_guid"], str) and text["vdevs"]["mdtpool"]["total_space"] == "240M"


def test_degraded_json_has_the_captured_structure(loops):
    loops.ok("zpool create mdtpool mirror /dev/loop0 /dev/loop1")
    loops.ok("zpool offline mdtpool /dev/loop1")
    got = json.loads(loops.ok("zpool status -j --json-int mdtpool"))
    want = golden_json("zfs-json/zpool_status_j_degraded.json")
    assert _shape(got) == _shape(want)
    pool, cap = got["pools"]["mdtpool"], want["pools"]["mdtpool"]
    assert (pool["state"], pool["status"], pool["action"]) == (cap["state"], cap["status"], cap["action"])
    leaf = pool["vdevs"]["mdtpool"]["vdevs"]["mirror-0"]["vdevs"]["loop1"]
    assert leaf["state"] == "OFFLINE"
    text = loops.ok("zpool status -P mdtpool")
    assert text == golden("zfs-json/zpool_status_text_degraded.txt")[1]


def test_in_use_refusals_match_the_captures(loops):
    loops.ok("zpool create mdtpool mirror /dev/loop0 /dev/sda")
    loops.check("zfs/zpool_create_inuse.txt")
    loops.check("zfs/zpool_create_again.txt")
    loops.ok("zpool destroy mdtpool")
    loops.ok("zpool create mdtpool mirror /dev/loop0 /dev/loop1")
    loops.check("zfs-json/zpool_create_foreign_label.txt")
    loops.check("zfs-json/zpool_labelclear_busy.txt")
    # -f cannot override a pool ACTIVE here (check_file_generic; scst-3.11-pre-linux-6.1-zfs/role-aware-switchover.txt)
    code, out = loops("zpool create -f newpool /dev/loop1")
    assert (code, out) == (
        1,
        "invalid vdev specification\nthe following errors must be manually repaired:\n"
        "/dev/loop1 is part of active pool 'mdtpool'\n",
    )
    loops.check("zfs-json/zpool_create_label_check.txt")


def test_snapshots_holds_and_destroy_match_the_captures(loops, monkeypatch):
    loops.ok("zpool create mdtpool mirror /dev/loop0 /dev/sda")
    loops.ok("zfs create -o mountpoint=none mdtpool/mdt0")
    monkeypatch.setenv("ZFSEMU_TIME", "1795522722")
    loops.ok("zfs snapshot mdtpool/mdt0@mdtmirror-20261121T0000Z")
    monkeypatch.setenv("ZFSEMU_TIME", "1795522723")
    for snap in ("mdtmirror-20261122T0000Z", "mdtmirror-20261123T0000Z", "manual-keep"):
        loops.ok("zfs snapshot mdtpool/mdt0@" + snap)
    loops.ok("zfs hold keep mdtpool/mdt0@manual-keep")
    loops.check("zfs/zfs_list_snap.txt")
    loops.check("zfs/zfs_holds.txt")
    loops.check("zfs/zfs_destroy_held.txt")
    loops.check("zfs/zfs_destroy_batch.txt")
    listed = loops.ok("zfs list -H -p -t snapshot -d 1 -s createtxg -o name mdtpool/mdt0")
    assert listed == "mdtpool/mdt0@mdtmirror-20261123T0000Z\nmdtpool/mdt0@manual-keep\n"
    code, out = loops("zfs hold keep mdtpool/mdt0@manual-keep")
    assert code == 1 and "tag already exists" in out
    loops.ok("zfs release keep mdtpool/mdt0@manual-keep")
    assert loops.ok("zfs holds -H mdtpool/mdt0@manual-keep") == ""


def test_destroy_range_follows_creation_order(loops):
    loops.ok("zpool create mdtpool /dev/loop0")
    loops.ok("zfs create mdtpool/fs")
    for snap in ("z", "a", "m", "b"):
        loops.ok("zfs snapshot mdtpool/fs@" + snap)
    out = loops.ok("zfs destroy -nv mdtpool/fs@a%m")
    assert out == "would destroy mdtpool/fs@a\nwould destroy mdtpool/fs@m\nwould reclaim 0B\n"
    loops.ok("zfs destroy mdtpool/fs@a%m,nosuch")
    assert loops.ok("zfs list -H -t snapshot -o name") == "mdtpool/fs@z\nmdtpool/fs@b\n"
    code, out = loops("zfs destroy mdtpool/fs@nosuch")
    assert (code, out) == (1, "could not find any snapshots to destroy; check snapshot names.\n")


def test_version_export_and_import_listing_match_the_captures(loops):
    loops.check("zfs/version.txt")
    assert loops.ok("zpool version") == loops.ok("zfs version")
    loops.ok("zpool create mdtpool mirror /dev/loop0 /dev/loop1")
    loops.check("zfs-json/zpool_export.txt")
    assert loops.ok("zpool status") == "no pools available\n"
    loops.check("zfs-json/zpool_import_scan.txt", normalise=lambda t: re.sub(r"id: \d+", "id: ID", t))
    loops.check("zfs/zpool_import.txt")
    assert "mdtpool     ONLINE" in loops.ok("zpool status mdtpool")


# --------------------------------------------------------------------------
# behaviour: device health
# --------------------------------------------------------------------------


def test_lost_srp_path_degrades_on_io_and_heals_on_online(pair, monkeypatch):
    a, b = pair
    a.ok("zpool create -o multihost=on mdtpool mirror /dev/mdt0 " + a.peer)
    backing = b.root / "dev" / "mdt0"
    os.rename(backing, str(backing) + ".gone")  # the link now dangles
    # zfs/zpool_status_srp_gone.txt, zpool_status_x_srp_gone.txt: nothing noticed yet
    assert "state: ONLINE" in a.ok("zpool status mdtpool")
    assert a.ok("zpool status -x") == "all pools are healthy\n"
    a.ok("zpool scrub mdtpool")
    out = a.ok("zpool status mdtpool")
    assert " state: DEGRADED\nstatus: One or more devices have been removed.\n" in out
    assert re.search(r"\n\tNAME {24}STATE     READ WRITE CKSUM\n", out)
    assert re.search(r"\n\t  mirror-0 {18}DEGRADED     0     0     0\n", out)
    assert re.search(r"\n\t    mdt0 {20}ONLINE       0     0     0\n", out)
    assert "\n\t    scsi-23830313330643861  REMOVED      0     0     0\n" in out
    assert "all pools are healthy" not in a.ok("zpool status -x")
    state = json.loads(a.ok("zpool status -j --json-int -P mdtpool"))["pools"]["mdtpool"]
    leaves = state["vdevs"]["mdtpool"]["vdevs"]["mirror-0"]["vdevs"]
    assert [v["state"] for v in leaves.values()] == ["ONLINE", "REMOVED"]
    assert list(leaves) == ["/dev/mdt0p1", a.peer + "-part1"]
    # onlining while the path is still gone changes nothing
    out = a.ok("zpool online mdtpool " + a.peer)
    assert out.startswith("warning: device '%s' onlined, but remains in faulted state" % a.peer)
    assert "REMOVED" in a.ok("zpool status mdtpool")
    # the path opens again (and while transport-offline it gives ENXIO: a socket)
    os.unlink(a.root / "dev" / "sdb")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(a.root / "enxio"))
    os.symlink(str(a.root / "enxio"), a.root / "dev" / "sdb")
    assert a.ok("zpool online mdtpool " + a.peer).startswith("warning:")
    sock.close()
    os.unlink(a.root / "dev" / "sdb")
    os.rename(str(backing) + ".gone", backing)
    os.symlink(os.path.realpath(backing), a.root / "dev" / "sdb")
    monkeypatch.setenv("ZFSEMU_TIME", str(utc("Tue Nov 24 12:18:47 2026")))
    assert a.ok("zpool online mdtpool " + a.peer) == ""
    assert "resilver in progress" in a.ok("zpool status mdtpool")
    out = a.ok("zpool status mdtpool")
    assert " state: ONLINE\n  scan: resilvered 72K in 00:00:00 with 0 errors on Tue Nov 24 12:18:47 2026\n" in out
    assert "REMOVED" not in out


def test_a_write_notices_the_lost_path(pair):
    a, b = pair
    a.ok("zpool create mdtpool mirror /dev/mdt0 " + a.peer)
    os.unlink(a.root / "dev" / "sdb")  # the SCSI disk went away: by-id link dangles
    a.ok("zfs create mdtpool/fs")
    assert "REMOVED" in a.ok("zpool status mdtpool")
    assert a.ok("zpool list -H -o health mdtpool") == "DEGRADED\n"
    code, out = a("zpool offline mdtpool /dev/mdt0")
    assert (code, out) == (1, "cannot offline /dev/mdt0: no valid replicas\n")


def test_attach_detach_replace(loops):
    loops.ok("zpool create mdtpool /dev/loop0")
    loops.check("zfs/zpool_attach.txt")
    loops.ok("zpool attach -w mdtpool /dev/loop0 /dev/loop1")
    assert "mirror-0" in loops.ok("zpool status mdtpool")
    loops.check("zfs/zpool_replace.txt")
    code, out = loops("zpool replace mdtpool /dev/loop1 /dev/sda")  # sda1 (a partition) is 10 MiB smaller
    assert (code, out) == (1, "cannot replace /dev/loop1 with /dev/sda: device is too small\n")
    loops.ok("zpool replace -w mdtpool /dev/loop1 /dev/loop2")
    out = loops.ok("zpool status -P mdtpool")
    assert "/dev/loop2" in out and "loop1" not in out
    loops.ok("zpool create other /dev/loop1")  # the replaced disk's label is gone
    loops.check("zfs/zpool_detach.txt")
    out = loops.ok("zpool status -P mdtpool")
    assert "mirror" not in out and "\t  /dev/loop2  ONLINE" in out


# --------------------------------------------------------------------------
# behaviour: two hosts, multihost
# --------------------------------------------------------------------------


def test_export_on_one_host_import_on_the_other(pair):
    a, b = pair
    a.ok("zpool create -o multihost=on mdtpool mirror /dev/mdt0 " + a.peer)
    a.ok("zfs create -o mountpoint=none mdtpool/mdt0")
    a.ok("zfs snapshot mdtpool/mdt0@one")
    code, out = b("zpool create x /dev/mdt0")
    assert code == 1 and out.endswith("/dev/mdt0 is part of active pool 'mdtpool'\n")
    a.ok("zpool export mdtpool")
    assert a.ok("zpool list") == "no pools available\n"
    listing = b.ok("zpool import -d /dev/disk/by-id")
    assert listing.startswith("  pool: mdtpool\n    id: ")
    assert "action: The pool can be imported using its name or numeric identifier.\n" in listing
    b.ok("zpool import -d /dev/disk/by-id -o cachefile=none mdtpool")
    assert b.ok("zfs list -H -t all -o name") == "mdtpool\nmdtpool/mdt0\nmdtpool/mdt0@one\n"
    out = b.ok("zpool status -P mdtpool")
    assert re.search(r"\t    /dev/disk/by-id/scsi-23830313330643862-part1 +ONLINE", out)
    assert re.search(r"\t    /dev/disk/by-id/scsi-2local2-part1 +ONLINE", out)
    assert b.ok("zpool get -H -o value multihost mdtpool") == "on\n"
    assert "currently imported by another system" in a.ok("zpool import")


def test_multihost_pool_active_elsewhere_is_refused_even_with_force(pair):
    a, b = pair
    a.ok("zpool create -o multihost=on mdtpool mirror /dev/mdt0 " + a.peer)
    listing = b.ok("zpool import")
    assert " state: UNAVAIL\nstatus: The pool is currently imported by another system.\n" in listing
    assert "action: The pool must be exported from mds01 (hostid=a0a0001)\n" in listing
    code, out = b("zpool import mdtpool")
    assert code == 1
    assert out == (
        "cannot import 'mdtpool': pool is imported on mds01 (hostid: 0xa0a0001)\n"
        "Export the pool on the other system, then run 'zpool import'.\n"
    )
    code, out = b("zpool import -f mdtpool")
    assert code == 1 and out.startswith("cannot import 'mdtpool': pool is imported on host 'mds01' (hostid=a0a0001).")
    # the owner dies: no more MMP writes, -f takes the pool over
    zfsemu.crash(a.root)
    code, out = b("zpool import mdtpool")
    assert code == 1 and "pool was previously in use from another system.\nLast accessed by mds01" in out
    b.ok("zpool import -f mdtpool")
    assert "state: ONLINE" in b.ok("zpool status mdtpool")


def test_pool_without_multihost_needs_force_only(pair):
    a, b = pair
    a.ok("zpool create mdtpool mirror /dev/mdt0 " + a.peer)
    assert "status: The pool was last accessed by another system." in b.ok("zpool import")
    code, out = b("zpool import mdtpool")
    assert code == 1 and out.endswith("The pool can be imported, use 'zpool import -f' to import the pool.\n")
    b.ok("zpool import -f mdtpool")


def test_multihost_needs_a_hostid(tmp_path):
    a = Host(tmp_path, "mds01", {"loop0": 256 * MIB, "loop1": 256 * MIB}, hostid=0x11223344)
    b = Host(tmp_path, "mds02")
    os.symlink(os.path.realpath(a.root / "dev" / "loop0"), b.root / "dev" / "loop0")
    os.symlink(os.path.realpath(a.root / "dev" / "loop1"), b.root / "dev" / "loop1")
    code, out = b("zpool create -o multihost=on x /dev/loop0")
    assert (code, out) == (1, "cannot create 'x': requires a non-zero system hostid\n")
    a.ok("zpool create -o multihost=on mdtpool mirror /dev/loop0 /dev/loop1")
    a.ok("zpool export mdtpool")
    assert "multihost property on.  It cannot\n\tbe safely imported" in b.ok("zpool import -d /dev")
    b.check("zfs-json/zpool_import_no_hostid.txt")
    b.ok("zgenhostid 0xcafe0002")
    b.check("zfs-json/zpool_import_other_hostid.txt")


def test_send_recv_round_trip_between_hosts(pair):
    a, b = pair
    a.ok("zpool create mdtpool mirror /dev/mdt0 " + a.peer)
    b.ok("zpool create backup /dev/bk0")
    a.ok("zfs create -o com.example:tag=x mdtpool/mdt0")
    a.ok("zfs snapshot mdtpool/mdt0@s1")
    a.ok("zfs snapshot mdtpool/mdt0@s2")
    tools_a, tools_b = zfsemu.install(a.root), zfsemu.install(b.root)
    assert os.access(tools_a["zpool"], os.X_OK) and set(tools_a) >= {"zpool", "zfs", "zgenhostid"}
    pipe = "{a} send -p mdtpool/mdt0@s1 | {b} recv -u backup/mdt0".format(a=tools_a["zfs"], b=tools_b["zfs"])
    subprocess.run(["sh", "-ec", pipe], check=True, timeout=30)
    pipe = "{a} send -i @s1 mdtpool/mdt0@s2 | {b} recv -u backup/mdt0".format(a=tools_a["zfs"], b=tools_b["zfs"])
    subprocess.run(["sh", "-ec", pipe], check=True, timeout=30)
    guids = lambda h, ds: h.ok("zfs list -H -p -t snapshot -o name,guid -r " + ds).replace(ds, "DS")  # noqa: E731
    assert guids(a, "mdtpool/mdt0") == guids(b, "backup/mdt0")
    assert b.ok("zfs get -H -o value,source com.example:tag backup/mdt0") == "x\treceived\n"
    stream = subprocess.run([tools_a["zfs"], "send", "mdtpool/mdt0@s2"], capture_output=True, check=True).stdout
    assert stream.startswith(zfsemu.MAGIC)
    code, out = b("zfs recv backup/mdt0", stdin=stream)
    assert code == 1 and out.startswith("cannot receive new filesystem stream: destination 'backup/mdt0' exists")
    code, out = b("zfs recv backup/other", stdin=b"not a stream\n")
    assert (code, out) == (1, "cannot receive: invalid stream (bad magic number)\n")
    code, out = b("zfs recv backup/other", stdin=stream[:40])
    assert code == 1 and "invalid stream" in out
    code, out = b("zfs recv backup/other")
    assert (code, out) == (1, "cannot receive: failed to read from stream\n")
    dump = subprocess.run([tools_a["zstream"], "dump"], input=stream, capture_output=True, check=True).stdout
    assert b"Total DRR_BEGIN records = 1" in dump and b"Total DRR_END records = 1" in dump


def test_zvol_gets_a_block_device(loops):
    loops.ok("zpool create mdtpool /dev/loop0")
    loops.ok("zfs create -V 64M mdtpool/lun")
    link = loops.root / "dev" / "zvol" / "mdtpool" / "lun"
    assert os.path.realpath(link) == str(loops.root / "dev" / "zd0")
    assert os.path.getsize(link) == 64 * MIB
    assert loops.ok("zfs get -H -p -o value volsize,volblocksize,refreservation mdtpool/lun") == (
        "67108864\n16384\n67108864\n"
    )
    code, out = loops("zfs create -V 1000 mdtpool/odd")
    assert code == 1 and "must be a multiple of volume block size" in out
    loops.ok("zpool export mdtpool")
    assert not os.path.lexists(link)
    loops.ok("zpool import mdtpool")
    assert os.path.getsize(link) == 64 * MIB


# --------------------------------------------------------------------------
# zgenhostid
# --------------------------------------------------------------------------


def test_zgenhostid(tmp_path):
    h = Host(tmp_path, "mds01")
    tools = zfsemu.install(h.root)
    run = lambda *args: subprocess.run([tools["zgenhostid"], *args], capture_output=True, text=True)  # noqa: E731
    assert run("0x1a2b3c4d").returncode == 0
    assert (h.root / "etc" / "hostid").read_bytes() == bytes([0x4D, 0x3C, 0x2B, 0x1A])
    again = run("deadbeef")
    assert (again.returncode, again.stderr) == (1, "/etc/hostid: File exists\n")
    assert run("-f", "deadbeef").returncode == 0
    assert (h.root / "etc" / "hostid").read_bytes() == bytes.fromhex("efbeadde")
    bad = run("-f", "123")
    assert bad.returncode == 1 and bad.stderr.startswith("Numerical result out of range\nusage: zgenhostid")
    assert run("-o", "/etc/hostid2").returncode == 0
    assert int.from_bytes((h.root / "etc" / "hostid2").read_bytes(), "little") != 0


def test_a_different_disk_at_the_old_path_is_not_onlined(pair):
    a, b = pair
    a.ok("zpool create mdtpool mirror /dev/mdt0 " + a.peer)
    os.unlink(a.root / "dev" / "sdb")
    a.ok("zpool scrub mdtpool")
    with open(b.root / "dev" / "blank", "wb") as handle:
        handle.truncate(256 * MIB)
    os.symlink(os.path.realpath(b.root / "dev" / "blank"), a.root / "dev" / "sdb")
    assert a.ok("zpool online mdtpool " + a.peer).startswith("warning:")
    assert "REMOVED" in a.ok("zpool status mdtpool")
    a.ok("zpool replace -w mdtpool %s /dev/sdb" % (a.peer + "-part1"))
    out = a.ok("zpool status -P mdtpool")
    assert " state: ONLINE\n" in out and re.search(r"\t    /dev/sdb1 +ONLINE", out)


# --------------------------------------------------------------------------
# zdb -l: who imported a pool last (tests/golden/realkernel-probes/zdb-label.*)
# --------------------------------------------------------------------------


def _probe(name):
    """``[(command, output, exit code)]`` of a capture of this project's real-kernel harness."""
    text = (REPO / "tests" / "golden" / "realkernel-probes" / name).read_text()
    found = re.findall(r"^\$ (.*)\n((?:(?!\[exit ).*\n)*)\[exit (\d+)\]$", text, re.M)
    return [(cmd, out, int(code)) for cmd, out, code in found]


def _label_head(text):
    """The label's top-level lines up to its vdev tree, guids and txg normalised (the emulator's differ)."""
    head = text.split("    vdev_tree:")[0]
    return re.sub(r"(guid|txg): \d+", r"\1: N", head)


def test_zdb_label_follows_the_real_capture(loops):
    outputs = _probe("zdb-label.txt")
    real = [(cmd, out, code) for cmd, out, code in outputs if cmd.startswith("zdb -l")]
    loops.root.joinpath("etc", "hostid").write_bytes((0x00C0FFEE).to_bytes(4, "little"))
    loops.ok("zpool create -o multihost=on -o cachefile=none mdtpool mirror /dev/loop0 /dev/loop1")
    seen = [loops("zdb -l /dev/loop0")]
    loops.ok("zpool export mdtpool")
    seen.append(loops("zdb -l /dev/loop0"))
    loops.ok("zpool import -d /dev -o cachefile=none mdtpool")
    loops.ok("zgenhostid -f 0x0badf00d")
    seen.append(loops("zdb -l /dev/loop0"))
    seen.append(loops("zdb -l /tmp/rkzfs/none"))
    seen.append(loops("zdb -l /dev/loop2"))
    assert [code for code, _ in seen] == [code for _, _, code in real]
    for (_code, out), (cmd, want, _) in zip(seen[:3], real[:3]):
        assert _label_head(out) == _label_head(want).replace("'(none)'", "'mds01'"), cmd
        assert out.rstrip().endswith("labels = 0 1 2 3")
    assert seen[4][1] == real[4][1]
    assert seen[3][1] == real[3][1]


def test_zdb_label_after_a_crash_and_a_takeover(pair):
    a, b = pair
    a.ok(f"zpool create -o multihost=on -o cachefile=none mdtpool mirror /dev/disk/by-id/scsi-2local1 {a.peer}")
    zfsemu.crash(str(a.root))
    # The crashed host's own disk still says: imported by it, not exported.
    # ZFS partitioned the whole disk: the label is in partition 1, the disk itself has none to unpack.
    assert a("zdb -l /dev/disk/by-id/scsi-2local1")[0] == 2
    label = re.search(r"state: (\d+)\n.*\n.*\n.*\n    hostid: (\d+)", a.ok("zdb -l /dev/disk/by-id/scsi-2local1-part1"))
    assert label.groups() == ("0", str(0x0A0A0001))
    b.ok("zpool import -f -d /dev/disk/by-id -o cachefile=none mdtpool")
    # The survivor imported it: the labels it writes name it (on its own disk; the crashed one's is not
    # reachable, it keeps the old words).
    assert f"hostid: {0x0B0B0002}" in b.ok("zdb -l /dev/disk/by-id/scsi-2local2-part1")


# --------------------------------------------------------------------------
# the kstat tree (tests/golden/realkernel-probes/kstat-pools.*): zfsmirror.pool_names reads it
# --------------------------------------------------------------------------


def test_kstat_tree_follows_the_real_capture(loops):
    """The probe's commands replayed: after each, the emulated host's ``ls -p /proc/spl/kstat/zfs``
    is the real one, entry for entry, and the pool's ``state`` word the real one (a pool's directory
    from create or import to export or destroy; ONLINE, DEGRADED with a side offline)."""
    zfsemu.install(loops.root)
    kstat = loops.root / "proc" / "spl" / "kstat" / "zfs"

    def ls(path):
        return "".join(sorted(p.name + ("/" if p.is_dir() else "") + "\n" for p in path.iterdir()))

    seen = []
    for cmd, want, code in _probe("kstat-pools.txt"):
        if cmd.startswith("zpool "):
            got = loops(cmd)
            assert got[0] == code, (cmd, got)
        elif cmd.startswith("ls -p "):
            directory = cmd.split()[-1]
            got = ls(kstat / directory.split("/proc/spl/kstat/zfs")[1].lstrip("/"))
            if directory.endswith("/zfs"):
                assert got == want, cmd
            else:  # a pool's own statistics: the emulator keeps only its state word
                assert "state\n" in want and got == "state\n", (cmd, want)
        elif cmd.startswith("cat "):
            assert (kstat / "mdtpool" / "state").read_text() == want, cmd
        seen.append(cmd.split()[0])
    assert seen.count("ls") == 6 and seen.count("cat") == 2, seen


def test_a_crash_leaves_no_pool_in_the_kstat_tree(pair):
    a, _ = pair
    a.ok(f"zpool create -o multihost=on -o cachefile=none mdtpool mirror /dev/disk/by-id/scsi-2local1 {a.peer}")
    assert (a.root / "proc" / "spl" / "kstat" / "zfs" / "mdtpool" / "state").read_text() == "ONLINE\n"
    zfsemu.crash(str(a.root))
    assert not (a.root / "proc" / "spl" / "kstat" / "zfs" / "mdtpool").exists()
