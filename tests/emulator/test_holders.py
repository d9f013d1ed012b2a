"""Exclusive block-device holders shared by the SCST and zpool emulators (tests/emul/holders.py).

Against scst-3.11-pre-linux-6.1-zfs/exclusive-holders.txt (SCST 3.11-pre and
OpenZFS 2.3.2 in one 6.1 kernel): the capture's cases A, B, C and E are
replayed on one emulated host (SCST through its FUSE mount, zpool through
zfsemu) and every write's errno, ``last_sysfs_mgmt_res``, device listing and
zpool output and exit code is compared with the capture text. Case D (a zvol)
did not run in the capture (no udev there) and is skipped. Then the key
rules: partitions against whole disks, an initiator's SRP disk against the
target's own disk (the designed topology: the standby exports its disk with
blockio while the active mirrors its disk and that LUN), and ``zfsemu.crash``.
"""

import errno
import os
import re

import pytest

from tests.captures import captures_dir
from tests.emul import holders, zfsemu
from tests.emul.rig import make_host, make_pair, scst_export

pytestmark = pytest.mark.needs_tool("fusermount3")

MIB = 1 << 20
CAPTURES = "scst-3.11-pre-linux-6.1-zfs"


def capture_text(name):
    return (captures_dir() / CAPTURES / name).read_text()


def capture_sections(text):
    """{section letter: [(command, [output lines])]} of exclusive-holders.txt ("== X: ..." sections, "$ " steps)."""
    sections, steps = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            steps = sections.setdefault(line[3], []) if line[3:4].isupper() and line[4:5] == ":" else None
        elif steps is not None and line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps is not None and steps:
            steps[-1][1].append(line)
    return sections


# --------------------------------------------------------------------------
# one emulated host: SCST (FUSE) + zfsemu
# --------------------------------------------------------------------------


class Host:
    """make_host() with the capture guest's loop devices and the zpool emulator installed."""

    def __init__(self, base, name="mds01", loops=3, **kwargs):
        self.h = make_host(base, name, lun_mib=256, **kwargs)
        self.root = self.h.root
        self.scst = self.root / "sys/kernel/scst_tgt"
        for n in range(loops):
            with open(self.root / "dev" / ("loop%d" % n), "wb") as handle:
                handle.truncate(256 * MIB)
        zfsemu.install(self.root)

    def mgmt(self, path, text):
        """``echo text > path`` through the mount: the errno of write(2) (0 = success)."""
        fd = os.open(self.scst / path, os.O_WRONLY)
        try:
            os.write(fd, (text + "\n").encode())
        except OSError as exc:
            return exc.errno
        finally:
            os.close(fd)
        return 0

    def last_res(self):
        return int((self.scst / "last_sysfs_mgmt_res").read_text())

    def devices(self):
        return sorted(os.listdir(self.scst / "devices"))

    def run(self, tool, *args):
        """(exit code, stdout + stderr) like the capture's ``"$@" 2>&1``."""
        code, out, err = zfsemu.run(str(self.root), tool, list(args))
        return code, out.decode() + err

    def ok(self, tool, *args):
        code, out = self.run(tool, *args)
        assert code == 0, out
        return out

    def holders(self):
        return holders.holders(self.root)

    def stop(self):
        self.h.handle.stop()


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    yield h
    h.stop()


def replay_step(host, command, output):
    """Run one captured step on the emulated host and compare; returns what it checked."""
    mg = re.match(r"echo '(.*)' > (handlers/\S+)$", command)
    if mg:
        text, path = mg.groups()
        err = host.mgmt(path, text)
        res = host.last_res()
        want_err = 0
        for line in output:
            failed = re.search(r"write error: (.*)$", line)
            if failed:
                want_err = next(e for e in errno.errorcode if os.strerror(e) == failed.group(1))
        (status,) = [line for line in output if line.startswith("  write rc=")]
        want = re.match(r"  write rc=(\d+) last_sysfs_mgmt_res=(-?\d+)$", status)
        assert (err, int(want.group(1)), res) == (want_err, 1 if want_err else 0, int(want.group(2))), command
        listing = [line for line in output if not line.startswith(("  ", "/"))]
        if listing:
            assert host.devices() == listing, command
        return ("mgmt", text, err, res)
    argv = command.split()
    assert argv[0] == "zpool", command
    code, out = host.run(*argv)
    assert output[-1].startswith("  rc=")
    want = "".join(line[2:] + "\n" for line in output[:-1])
    assert (code, out) == (int(output[-1][5:]), want), command
    return ("zpool", command, code)


def test_exclusive_holders_capture_replayed(host):
    """Cases A, B, C, E of exclusive-holders.txt, step by step, as the script ran them."""
    sections = capture_sections(capture_text("exclusive-holders.txt"))
    assert sorted(sections) == ["A", "B", "C", "D", "E"]
    done = []
    for letter in "ABCE":
        if letter == "B":
            host.ok("zgenhostid", "-f")  # exclusive-holders.sh.txt: `zgenhostid -f` before case B
        for command, output in sections[letter]:
            done.append(replay_step(host, command, output))
    # A: blockio holds loop0, both creates refused (the hostid error after zero_label's line)
    # B: the pool holds loop1, blockio refused EBUSY; C: fileio accepted; E: after export blockio opens it
    assert [d[2] for d in done if d[0] == "mgmt"] == [0, errno.EBUSY, 0, 0, 0]
    assert [d[2] for d in done if d[0] == "zpool"] == [1, 1, 0, 0, 1]
    assert host.holders() == {"/dev/loop0": "scst:A1", "/dev/loop1": "scst:E1"}
    # dmesg: the refused device failed in the copy manager's attach_tgt(), as captured
    line = "scst: ***ERROR***: Device handler's vdisk_blockio attach_tgt() failed: -16"
    assert line in host.h.kernel.dmesg
    assert any(cap.endswith(line) for cap in capture_text("exclusive-holders.txt").splitlines())


def test_pool_holds_only_its_online_leaves(host):
    host.ok("zgenhostid", "-f")
    host.ok("zpool", "create", "pb", "mirror", "/dev/loop1", "/dev/loop2")
    assert host.holders() == {"/dev/loop1": "zfs:pb", "/dev/loop2": "zfs:pb"}
    # attach/replace onto a device SCST holds: zero_label's line, then the kernel's EBUSY
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "add_device A1 filename=/dev/loop0") == 0
    code, out = host.run("zpool", "attach", "pb", "loop1", "/dev/loop0")
    assert (code, out) == (
        1,
        "cannot open '/dev/loop0': Device or resource busy\ncannot attach /dev/loop0 to loop1: /dev/loop0 is busy\n",
    )
    code, out = host.run("zpool", "replace", "pb", "loop2", "/dev/loop0")
    assert (code, out) == (
        1,
        "cannot open '/dev/loop0': Device or resource busy\ncannot replace loop2 with /dev/loop0: /dev/loop0 is busy\n",
    )
    # an offline leaf is closed: its disk is free for SCST, and online then fails as for a missing disk
    host.ok("zpool", "offline", "pb", "loop2")
    assert host.holders() == {"/dev/loop0": "scst:A1", "/dev/loop1": "zfs:pb"}
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "add_device B1 filename=/dev/loop2") == 0
    out = host.ok("zpool", "online", "pb", "loop2")
    assert out == (
        "warning: device 'loop2' onlined, but remains in faulted state\n"
        "use 'zpool replace' to replace devices that are no longer present\n"
    )
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "del_device B1") == 0
    host.ok("zpool", "online", "pb", "loop2")
    assert re.search(r"\t +loop2 +ONLINE ", host.ok("zpool", "status", "pb"))
    assert host.holders() == {"/dev/loop0": "scst:A1", "/dev/loop1": "zfs:pb", "/dev/loop2": "zfs:pb"}
    # SCST's active=0 closes its device (the claim goes), active=1 opens it again
    assert host.mgmt("devices/A1/active", "0") == 0
    assert "/dev/loop0" not in host.holders()
    assert host.mgmt("devices/A1/active", "1") == 0
    assert host.holders()["/dev/loop0"] == "scst:A1"
    # detach and destroy let go
    host.ok("zpool", "detach", "pb", "loop2")
    assert host.holders() == {"/dev/loop0": "scst:A1", "/dev/loop1": "zfs:pb"}
    host.ok("zpool", "destroy", "pb")
    assert host.holders() == {"/dev/loop0": "scst:A1"}


def test_mirror_with_a_held_leaf_imports_degraded(host):
    host.ok("zgenhostid", "-f")
    host.ok("zpool", "create", "pb", "mirror", "/dev/loop1", "/dev/loop2")
    host.ok("zpool", "export", "pb")
    assert host.holders() == {}
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "add_device E1 filename=/dev/loop2") == 0
    listing = host.ok("zpool", "import", "-d", "/dev")
    assert " state: DEGRADED\n" in listing and re.search(r"\t +loop2 +UNAVAIL  cannot open\n", listing)
    host.ok("zpool", "import", "-d", "/dev", "pb")
    status = host.ok("zpool", "status", "pb")
    assert "state: DEGRADED" in status and re.search(r"loop2 +UNAVAIL +0 +0 +0  cannot open", status)
    assert host.holders() == {"/dev/loop1": "zfs:pb", "/dev/loop2": "scst:E1"}
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "del_device E1") == 0
    host.ok("zpool", "online", "pb", "loop2")
    assert host.holders() == {"/dev/loop1": "zfs:pb", "/dev/loop2": "zfs:pb"}


def test_same_disk_twice_for_blockio_by_any_path(host):
    """The old same-path rule, now by device: another blockio device on the same disk is EBUSY."""
    by_id = host.root / "dev/disk/by-id"
    by_id.mkdir(parents=True)
    os.symlink("../../loop0", by_id / "scsi-loop0")
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "add_device A1 filename=/dev/loop0") == 0
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "add_device A2 filename=/dev/loop0") == errno.EBUSY
    assert host.last_res() == -errno.EBUSY
    assert host.mgmt("handlers/vdisk_blockio/mgmt", "add_device A3 filename=/dev/disk/by-id/scsi-loop0") == errno.EBUSY
    assert host.mgmt("handlers/vdisk_fileio/mgmt", "add_device F1 filename=/dev/loop0") == 0
    assert host.devices() == ["1:0:0:0", "A1", "F1"]
    assert host.holders() == {"/dev/loop0": "scst:A1"}


def test_create_f_on_a_disk_of_an_active_pool(host):
    """role-aware-switchover.txt: -f cannot override a disk of a pool imported here (before any open)."""
    text = capture_text("role-aware-switchover.txt")
    match = re.search(r"\$ (zpool create -f x0 /dev/loop0)\n((?:  .*\n)+)", text)
    command, output = match.groups()
    lines = output.splitlines()
    host.ok("zgenhostid", "-f")
    host.ok("zpool", "create", "mdt", "mirror", "/dev/loop0", "/dev/loop1")
    replay_step(host, command, lines)


# --------------------------------------------------------------------------
# partitions and whole disks
# --------------------------------------------------------------------------


def test_partition_against_whole_disk(tmp_path):
    h = Host(tmp_path, loops=0)
    try:
        for name in ("sda", "sda1", "sda9"):
            with open(h.root / "dev" / name, "wb") as handle:
                handle.truncate(256 * MIB)
        # a pool on the whole disk sda holds the partition ZFS made on it, sda1
        h.ok("zpool", "create", "p", "/dev/sda")
        assert h.holders() == {"/dev/sda1": "zfs:p"}
        blockio = "handlers/vdisk_blockio/mgmt"
        assert h.mgmt(blockio, "add_device W filename=/dev/sda") == errno.EBUSY  # its whole disk
        assert h.mgmt(blockio, "add_device P1 filename=/dev/sda1") == errno.EBUSY  # that partition
        assert h.mgmt(blockio, "add_device P9 filename=/dev/sda9") == 0  # another partition: independent
        h.ok("zpool", "destroy", "p")
        assert h.mgmt(blockio, "add_device P1 filename=/dev/sda1") == 0
        assert h.holders() == {"/dev/sda1": "scst:P1", "/dev/sda9": "scst:P9"}
        # and the other way: a held partition makes the whole disk busy for check_disk()
        code, out = h.run("zpool", "create", "-f", "q", "/dev/sda")
        assert (code, out) == (1, "/dev/sda is in use and contains a unknown filesystem.\n")
        assert h.mgmt(blockio, "add_device W filename=/dev/sda") == errno.EBUSY
    finally:
        h.stop()


def test_keys(tmp_path):
    root = tmp_path / "mds01"
    peer = tmp_path / "mds02"
    for d in ("dev/disk/by-id", "dev/disk/by-path", "dev/zvol/p"):
        (root / d).mkdir(parents=True)
    (peer / "dev").mkdir(parents=True)
    for name in ("sda", "sda1", "mdt0", "loop0", "zd0"):
        (root / "dev" / name).write_bytes(b"")
    (peer / "dev" / "mdt0").write_bytes(b"")
    os.symlink("../../sda", root / "dev/disk/by-id/scsi-x")
    os.symlink("/dev/mdt0", root / "dev/disk/by-path/pci-0")  # host-absolute target
    os.symlink("../../zd0", root / "dev/zvol/p/v")
    os.symlink(os.path.realpath(peer / "dev/mdt0"), root / "dev/sdb")  # the SRP emulator's disk
    os.symlink("../../sdb", root / "dev/disk/by-id/scsi-2peer")
    (root / "run/srpemu").mkdir(parents=True)
    os.symlink(str(root / "run/srpemu/enxio"), root / "dev/sdc")  # transport-offline SRP disk
    dev = lambda path, part=None: holders.device(root, path, part)  # noqa: E731
    assert dev("/dev/loop0") == ("/dev/loop0", "/dev/loop0")
    assert dev("/dev/mdt0") == ("/dev/mdt0", "/dev/mdt0")  # no /dev/mdt: a whole disk
    assert dev("/dev/mdt0", part=1) == ("/dev/mdt0p1", "/dev/mdt0")
    assert dev("/dev/loop0p1") == ("/dev/loop0p1", "/dev/loop0")
    assert dev("/dev/sda1") == ("/dev/sda1", "/dev/sda")
    assert dev("/dev/disk/by-id/scsi-x") == ("/dev/sda", "/dev/sda")
    assert dev("/dev/disk/by-id/scsi-x-part1") == ("/dev/sda1", "/dev/sda")  # no such link: by its disk
    assert dev("/dev/disk/by-id/scsi-x", part=2) == ("/dev/sda2", "/dev/sda")
    assert dev("/dev/disk/by-path/pci-0") == ("/dev/mdt0", "/dev/mdt0")
    assert dev("/dev/zvol/p/v") == ("/dev/zd0", "/dev/zd0")
    # an SRP disk is the initiator's own device node, not the peer's disk it reaches
    assert dev("/dev/disk/by-id/scsi-2peer") == ("/dev/sdb", "/dev/sdb")
    assert dev("/dev/disk/by-id/scsi-2peer-part1") == ("/dev/sdb1", "/dev/sdb")
    assert dev("/dev/sdc") == ("/dev/sdc", "/dev/sdc")
    assert holders.device(peer, "/dev/mdt0") == ("/dev/mdt0", "/dev/mdt0")
    # partition nodes linked to their disk's own file (the emulated data path) stay partitions
    os.symlink("mdt0", root / "dev/mdt0p1")
    os.symlink("../../sda", root / "dev/disk/by-id/scsi-x-part1")
    os.symlink(os.path.realpath(peer / "dev/mdt0"), root / "dev/sdb1")
    os.symlink("../../sda1", root / "dev/disk/by-id/wwn-y")
    assert dev("/dev/mdt0p1") == ("/dev/mdt0p1", "/dev/mdt0")
    assert dev("/dev/disk/by-id/scsi-x-part1") == ("/dev/sda1", "/dev/sda")
    assert dev("/dev/disk/by-id/wwn-y") == ("/dev/sda1", "/dev/sda")
    assert dev("/dev/sdb1") == ("/dev/sdb1", "/dev/sdb")
    assert dev("/dev/mdt0") == ("/dev/mdt0", "/dev/mdt0")
    # claims: partition vs whole disk, partitions independent, same holder again, release, clear
    assert holders.claim(root, "/dev/sda", "zfs:p", part=1) == "/dev/sda1"
    with pytest.raises(OSError) as exc:
        holders.claim(root, "/dev/disk/by-id/scsi-x", "scst:W")
    assert exc.value.errno == errno.EBUSY
    assert holders.claim(root, "/dev/sda9", "scst:P9") == "/dev/sda9"
    assert holders.claim(root, "/dev/sda1", "zfs:p") == "/dev/sda1"
    assert holders.conflict(root, "/dev/sda1", "scst:X") == "zfs:p"
    assert holders.conflict(root, "/dev/sda1", "zfs:p") is None
    assert not holders.release(root, "/dev/sda1", "scst:X")
    assert holders.release(root, "/dev/sda1", "zfs:p")
    assert holders.claim(root, "/dev/sdb", "zfs:p", part=1) == "/dev/sdb1"
    assert holders.holders(root) == {"/dev/sda9": "scst:P9", "/dev/sdb1": "zfs:p"}
    assert holders.holders(peer) == {}
    assert (root / holders.REGISTRY).is_file()
    holders.clear(root)
    assert holders.holders(root) == {}


# --------------------------------------------------------------------------
# two hosts: the initiator's SRP disk is not the target's disk; crash
# --------------------------------------------------------------------------

LINE = "id_ext=005400fffe000002,ioc_guid=005400fffe000002,dest=10.0.0.2:5555"


@pytest.fixture
def pair(tmp_path):
    p = make_pair(tmp_path, srp_kwargs={"udev_delay": 0}, lun_mib=256)
    for h in p.hosts.values():
        zfsemu.install(h.root)
        zfsemu.run(str(h.root), "zgenhostid", [])
    yield p.hosts["mds01"], p.hosts["mds02"]
    p.stop()


def zpool(host, *args):
    code, out, err = zfsemu.run(str(host.root), "zpool", list(args))
    return code, out.decode() + err


def srp_disk(a):
    fd = os.open(a.root / "sys/class/infiniband_srp/srp-rxe0-1/add_target", os.O_WRONLY)
    try:
        os.write(fd, LINE.encode())
    finally:
        os.close(fd)
    (name,) = [n for n in os.listdir(a.root / "dev") if n.startswith("sd")]
    return "/dev/" + name


def test_srp_disk_of_the_peer_is_another_device(pair):
    """The standby exports its disk with blockio; the active mirrors its own disk and that LUN."""
    active, standby = pair
    scst_export(standby, [active.ip])  # MDT1: standby's /dev/mdt0, vdisk_blockio
    assert holders.holders(standby.root) == {"/dev/mdt0": "scst:MDT1"}
    sd = srp_disk(active)
    code, out = zpool(active, "create", "-o", "multihost=on", "mdtpool", "mirror", "/dev/mdt0", sd)
    assert code == 0, out
    assert holders.holders(active.root) == {"/dev/mdt0p1": "zfs:mdtpool", sd + "1": "zfs:mdtpool"}
    assert holders.holders(standby.root) == {"/dev/mdt0": "scst:MDT1"}
    assert "state: ONLINE" in zpool(active, "status", "mdtpool")[1]
    # on the active, its own disk and the SRP disk are the pool's: blockio cannot have either
    kernel = active.kernel
    for name, path in (("X1", "/dev/mdt0"), ("X2", sd)):
        with pytest.raises(OSError) as exc:
            kernel.write("handlers/vdisk_blockio/mgmt", ("add_device %s filename=%s\n" % (name, path)).encode())
        assert exc.value.errno == errno.EBUSY
    # on the standby, its disk is SCST's, whatever the active's pool does with the LUN
    with pytest.raises(OSError) as exc:
        standby.kernel.write("handlers/vdisk_blockio/mgmt", b"add_device X3 filename=/dev/mdt0\n")
    assert exc.value.errno == errno.EBUSY
    assert holders.holders(standby.root) == {"/dev/mdt0": "scst:MDT1"}


def test_crash_clears_holders_and_the_peer_imports_with_force(tmp_path):
    """zfsemu.crash(): no export, claims gone, labels active with the dead host's hostid."""
    a, b = Host(tmp_path, "mds01", loops=0), Host(tmp_path, "mds02", loops=0)
    try:
        a.ok("zgenhostid", "0a0a0001")
        b.ok("zgenhostid", "0b0b0002")
        os.symlink(os.path.realpath(b.root / "dev/mdt0"), a.root / "dev/sdb")  # a's SRP disk of b's LUN
        os.symlink(os.path.realpath(a.root / "dev/mdt0"), b.root / "dev/sdb")
        a.ok("zpool", "create", "-o", "multihost=on", "mdtpool", "mirror", "/dev/mdt0", "/dev/sdb")
        assert b.mgmt("handlers/vdisk_blockio/mgmt", "add_device MDT1 filename=/dev/mdt0") == 0
        assert a.holders() == {"/dev/mdt0p1": "zfs:mdtpool", "/dev/sdb1": "zfs:mdtpool"}
        assert b.holders() == {"/dev/mdt0": "scst:MDT1"}
        assert "currently imported by another system" in b.ok("zpool", "import")

        zfsemu.crash(a.root)
        assert a.holders() == {}
        assert a.ok("zpool", "list") == "no pools available\n"
        # not exported, not alive: last accessed by mds01, -f needed
        listing = b.ok("zpool", "import")
        assert "status: The pool was last accessed by another system.\n" in listing
        assert "currently imported" not in listing
        code, out = b.run("zpool", "import", "mdtpool")
        assert (
            code == 1
            and "pool was previously in use from another system.\nLast accessed by mds01 (hostid=a0a0001)" in out
        )
        # b's own disk is still SCST's (blockio export): that leaf cannot be opened, the pool comes up DEGRADED
        b.ok("zpool", "import", "-f", "mdtpool")
        status = b.ok("zpool", "status", "mdtpool")
        assert "state: DEGRADED" in status and re.search(r"mdt0 +UNAVAIL .* cannot open", status)
        assert b.holders() == {"/dev/mdt0": "scst:MDT1", "/dev/sdb1": "zfs:mdtpool"}
        assert "remains in faulted state" in b.ok("zpool", "online", "mdtpool", "mdt0")
        # the switchover's order: SCST lets go of the disk first, then the pool can open it
        assert b.mgmt("handlers/vdisk_blockio/mgmt", "del_device MDT1") == 0
        b.ok("zpool", "online", "mdtpool", "mdt0")
        assert b.holders() == {"/dev/mdt0p1": "zfs:mdtpool", "/dev/sdb1": "zfs:mdtpool"}
        assert b.mgmt("handlers/vdisk_blockio/mgmt", "add_device MDT1 filename=/dev/mdt0") == errno.EBUSY
        assert b.last_res() == -errno.EBUSY
    finally:
        a.stop()
        b.stop()
