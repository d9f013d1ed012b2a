"""The srp module through Salt's real loader, on a fake sysfs tree made of real values.

The tree is the initiator of login.txt (SCST 3.11 target, ib_srp over soft-RoCE,
RDMA/CM): SCSI host2, remote port port-2:1, disk sda. Attribute values come from
the captures (login.txt dumps, srp_remote_ports.txt, infiniband_srp_dir.txt, the
/dev/disk/by-id listing); the directory layout is the kernel's (the remote port
link of srp_remote_ports.txt, the DEVPATH of udevadm_sda.txt).
"""

import errno
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.captures import captures_dir, scst_capture
from tests.unit.test_lib_srp_parse import dump_blocks

LOGIN_LINE = "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555"
# rdma-core Documentation/ibsrpdm.md (commit 691953d8d502), "ibsrpdm -c" example: format from documentation.
DOCUMENTED_SRP_DAEMON_OUTPUT = """\
id_ext=20030003BA27CC7A,ioc_guid=0005ad00000013e7,dgid=fe800000000000000005ad00000013e9,pkey=ffff,service_id=0000000000000066
id_ext=20030003BA27CF53,ioc_guid=0005ad00000013e7,dgid=fe800000000000000005ad00000013e9,pkey=ffff,service_id=0000000000000066
"""


def srp_capture(name):
    return captures_dir() / "linux-6.1-openzfs-2.3.2" / "srp" / name


def write_attrs(directory, attrs):
    directory.mkdir(parents=True, exist_ok=True)
    for name, value in attrs.items():
        if value is None or value.startswith("cat: "):
            continue  # unreadable in the capture (ENOENT for RDMA/CM, 0200)
        (directory / name).write_text(value + "\n")


def symlink(link, target):
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def build_port(root):
    """The local port: infiniband_srp_dir.txt, the RoCE GID/link layer of the SCST capture."""
    entries = dict(
        line.split(": ", 1) for line in srp_capture("infiniband_srp_dir.txt").read_text().splitlines() if ": " in line
    )
    srp_port = root / "sys/devices/virtual/infiniband_srp/srp-rxe0-1"
    write_attrs(srp_port, {"ibdev": entries["ibdev"], "port": entries["port"]})
    (srp_port / "add_target").write_text("")
    os.chmod(srp_port / "add_target", 0o600)  # 0200 on a real host; the test reads it back
    symlink(root / "sys/class/infiniband_srp/srp-rxe0-1", "../../devices/virtual/infiniband_srp/srp-rxe0-1")
    host = dump_blocks(scst_capture("login.txt").read_text())["/sys/class/scsi_host/host2"]
    hca = root / "sys/class/infiniband/rxe0"
    # node_guid: real-kernel-testbed.md; gid: the SCSI host's sgid (GID 0);
    # link_layer: the ib_srpt target's link_layer; state: rdma_link.txt's
    # ACTIVE in the kernel's "<n>: <name>" form.
    write_attrs(hca, {"node_guid": "5054:00ff:fe12:3456"})
    write_attrs(hca / "ports/1", {"link_layer": "Ethernet", "state": "4: ACTIVE"})
    write_attrs(hca / "ports/1/gids", {"0": host["sgid"]})


def build_login(root):
    """SCSI host2 + remote port port-2:1 + disk sda of login.txt."""
    text = scst_capture("login.txt").read_text()
    blocks = dump_blocks(text)
    rport_attrs = dict(blocks["/sys/class/srp_remote_ports/port-2:1"])
    lio = dump_blocks(srp_capture("srp_remote_ports.txt").read_text())["/sys/class/srp_remote_ports/port-2:1"]
    rport_attrs["failed_reconnects"] = lio["failed_reconnects"]  # login.txt's dump lacks it
    plat = root / "sys/devices/platform/host2"
    shost = plat / "scsi_host/host2"
    # proc_name: real-kernel-testbed.md ("proc_name = ib_srp").
    write_attrs(shost, {**blocks["/sys/class/scsi_host/host2"], "proc_name": "ib_srp"})
    symlink(shost / "device", "../../../host2")
    symlink(root / "sys/class/scsi_host/host2", "../../devices/platform/host2/scsi_host/host2")
    rport = plat / "port-2:1/srp_remote_ports/port-2:1"
    write_attrs(rport, rport_attrs)
    (rport / "delete").write_text("")
    symlink(
        root / "sys/class/srp_remote_ports/port-2:1", "../../devices/platform/host2/port-2:1/srp_remote_ports/port-2:1"
    )
    vendor, model, size, lbs = re.search(r"vendor=(.{8}) model=(.{16}) size=(\d+) lbs=(\d+)", text).groups()
    sdev = plat / "target2:0:0/2:0:0:0"
    write_attrs(sdev, {"vendor": vendor, "model": model, "type": "0"})
    write_attrs(sdev / "block/sda", {"size": size})
    write_attrs(sdev / "block/sda/queue", {"logical_block_size": lbs})
    (root / "dev").mkdir(exist_ok=True)
    (root / "dev/sda").touch()
    by_id = text.split("--- disks:")[1].split("total 0")[1]  # the first listing is /dev/disk/by-id
    for name, dest in re.findall(r" (\S+) -> (\.\./\.\./\S+)$", by_id, re.M):
        symlink(root / "dev/disk/by-id" / name, dest)


def build_other_host(root):
    """The guest's ATA host with its CD-ROM (rport_delete.txt's host1, dev_disk_links.txt's sr0)."""
    plat = root / "sys/devices/pci0000:00/0000:00:01.1/ata2/host1"
    write_attrs(plat / "scsi_host/host1", {"proc_name": "ata_piix"})  # proc_name not captured: any non-ib_srp driver
    symlink(plat / "scsi_host/host1/device", "../../../host1")
    symlink(root / "sys/class/scsi_host/host1", "../../devices/pci0000:00/0000:00:01.1/ata2/host1/scsi_host/host1")
    write_attrs(plat / "target1:0:0/1:0:0:0", {"type": "5"})
    (plat / "target1:0:0/1:0:0:0/block/sr0").mkdir(parents=True)


@pytest.fixture(scope="module")
def root_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("srphost") / "root"


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("bin")


@pytest.fixture(scope="module")
def srp(root_dir, bin_dir, module_salt_loaders):
    loaders = module_salt_loaders(
        mdtmirror={
            "sysroot": str(root_dir),
            "srp_login_wait": 1,
            "bin": {"srp_daemon": str(bin_dir / "srp_daemon"), "udevadm": str(bin_dir / "udevadm")},
        }
    )
    return loaders.modules.srp


@pytest.fixture
def host(root_dir, bin_dir):
    """A fresh fake host logged in to the target, for each test."""
    for path in (root_dir, bin_dir):
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    build_port(root_dir)
    build_login(root_dir)
    build_other_host(root_dir)
    return root_dir


@pytest.fixture
def bare_host(host):
    """The same host before the login."""
    for path in ("sys/devices/platform/host2", "sys/class/scsi_host/host2", "sys/class/srp_remote_ports/port-2:1"):
        target = host / path
        shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    for path in (host / "dev/disk/by-id").iterdir():
        path.unlink()
    return host


def script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def add_target(root):
    return root / "sys/devices/virtual/infiniband_srp/srp-rxe0-1/add_target"


# ---------------------------------------------------------------- reading


def test_ports(srp, host):
    (port,) = srp.ports()
    assert port["name"] == "srp-rxe0-1"
    assert (port["hca"], port["port"]) == ("rxe0", 1)
    assert port["add_target"] == str(host / "sys/class/infiniband_srp/srp-rxe0-1/add_target")
    assert port["gid"] == "fe80:0000:0000:0000:5054:00ff:fe12:3456"
    assert port["port_guid"] == "5054:00ff:fe12:3456" == port["node_guid"]
    assert (port["link_layer"], port["active"]) == ("Ethernet", True)
    # dev_infiniband.txt: no umad device without ib_umad.
    assert port["umad"] is None
    write_attrs(host / "sys/class/infiniband_mad/umad0", {"ibdev": "rxe0", "port": "1"})
    write_attrs(host / "sys/class/infiniband_mad/issm0", {"ibdev": "rxe0", "port": "1"})
    assert srp.ports()[0]["umad"] == str(host / "dev/infiniband/umad0")


def test_list_logins_joins_host_and_remote_port(srp, host):
    (entry,) = srp.list_logins()  # host1 (ata_piix) is not an ib_srp login
    assert (entry["host"], entry["remote_port"], entry["port"]) == ("host2", "port-2:1", "srp-rxe0-1")
    assert entry["transport"] == "rdma_cm"
    assert (entry["id_ext"], entry["ioc_guid"]) == ("005400fffe123456", "005400fffe123456")
    assert entry["dgid"] is None and entry["pkey"] is None
    assert entry["state"] == "running"
    assert (entry["dev_loss_tmo"], entry["fast_io_fail_tmo"], entry["reconnect_delay"]) == (600, 15, 10)
    assert entry["failed_reconnects"] == 0
    assert entry["port_id"] == "00:54:00:ff:fe:12:34:56:00:54:00:ff:fe:12:34:56"


def test_list_logins_brief_reads_the_host_and_its_remote_port_only(srp, host):
    """What the node plan asks on every apply: the same login, named, no attribute of it parsed."""
    assert srp.list_logins(brief=True) == [{"host": "host2", "remote_port": "port-2:1"}]
    assert srp.disks(srp.list_logins(brief=True)[0], timeout=0) == srp.disks("host2", timeout=0)
    with pytest.raises(SaltInvocationError, match="brief must be True or False, not 'yes'"):
        srp.list_logins(brief="yes")


def test_list_logins_without_ib_srp(srp, bare_host):
    assert srp.list_logins() == []
    assert srp.list_logins(brief=True) == []


def test_disks_of_a_login(srp, host):
    expected = [
        {
            "scsi": "2:0:0:0",
            "type": 0,
            # Host paths (no sysroot prefix): what zpool is given.
            "dev": "/dev/sda",
            "by_id": ["/dev/disk/by-id/scsi-23830313330643861"],  # not the CD-ROM's ata-QEMU_DVD-ROM link
            "vendor": "MDTM",
            "model": "MDT1",
            "size_bytes": 1048576 * 512,
            "logical_block_size": 4096,
        }
    ]
    assert srp.disks("host2", timeout=0) == expected
    # rport_delete.txt: once ZFS partitioned it, sda has sda1 and sda9 (udev adds -partN links).
    for part in ("1", "9"):
        symlink(host / f"dev/disk/by-id/scsi-23830313330643861-part{part}", f"../../sda{part}")
    assert srp.disks("port-2:1", timeout=0) == expected
    assert srp.disks(srp.list_logins()[0], timeout=0) == expected
    with pytest.raises(CommandExecutionError, match="SCSI host host7 does not exist"):
        srp.disks("host7", timeout=0)
    with pytest.raises(SaltInvocationError, match="invalid SRP login"):
        srp.disks("sda", timeout=0)


def test_disks_waits_for_udev_by_id_link(srp, host):
    link = host / "dev/disk/by-id/scsi-23830313330643861"
    link.unlink()
    timer = threading.Timer(0.6, lambda: link.symlink_to("../../sda"))
    timer.start()
    start = time.monotonic()
    (disk,) = srp.disks("host2", timeout=10)
    timer.join()
    assert time.monotonic() - start >= 0.5
    assert disk["by_id"] == ["/" + str(link.relative_to(host))]


def test_disks_gives_up_after_timeout_without_by_id(srp, host):
    # udevadm_sda.txt: udev may give an SRP disk no by-id name at all.
    (host / "dev/disk/by-id/scsi-23830313330643861").unlink()
    start = time.monotonic()
    (disk,) = srp.disks("host2", timeout=0.6)
    assert 0.5 <= time.monotonic() - start < 5
    assert disk["dev"] == "/dev/sda" and disk["by_id"] == []


def test_disks_runs_udevadm_settle_only_for_an_incomplete_disk(srp, host, bin_dir):
    record = bin_dir / "udevadm.args"
    script(bin_dir / "udevadm", f'echo "$@" >> {record}\n')
    srp.disks("host2", timeout=3)
    assert not record.exists(), "every disk has its by-id link: nothing to settle (a no-op apply spawns nothing)"
    (host / "dev/disk/by-id/scsi-23830313330643861").unlink()
    srp.disks("host2", timeout=0.3)
    assert record.read_text() == "settle --timeout=0\n"


# ---------------------------------------------------------------- login


def test_login_refuses_unknown_key_before_writing(srp, bare_host):
    before = add_target(bare_host).read_text()
    with pytest.raises(SaltInvocationError, match="'bogus_key'"):
        srp.login(LOGIN_LINE + ",bogus_key=1")
    with pytest.raises(SaltInvocationError, match="tl_retry_count"):
        srp.login(LOGIN_LINE, tl_retry_count=9)
    assert add_target(bare_host).read_text() == before == ""


def test_login_already_logged_in_does_not_write(srp, host):
    add_target(host).write_text("untouched")
    result = srp.login(LOGIN_LINE)
    assert result["changed"] is False
    assert (result["host"], result["remote_port"], result["port"]) == ("host2", "port-2:1", "srp-rxe0-1")
    assert result["line"] == LOGIN_LINE
    assert srp.login(LOGIN_LINE, port="rxe0/1", ch_count=1)["changed"] is False
    assert add_target(host).read_text() == "untouched"


def test_login_conflicting_login_to_same_target_port(srp, host):
    # The target's login_info (IB/CM identity) of the port logged in over RDMA/CM.
    info = scst_capture("login.txt").read_text().splitlines()[1]
    with pytest.raises(CommandExecutionError, match=r"already logged in .* transport rdma_cm \(wanted ib_cm\)"):
        srp.login(info)
    assert add_target(host).read_text() == ""


class FakeAddTarget:
    """
    add_target as a FIFO served by a thread standing in for ib_srp: it
    records each open's data and creates the login after the first one.
    Every later open is served too, so a module that opens twice fails the
    test instead of hanging it.
    """

    def __init__(self, root):
        self.root = root
        self.path = add_target(root)
        self.path.unlink()
        os.mkfifo(self.path)
        self.received = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self):
        while not self.stop.is_set():
            with open(self.path, "rb") as handle:
                data = handle.read()
            if self.stop.is_set():
                break
            self.received.append(data)
            if len(self.received) == 1:
                build_login(self.root)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        try:  # wake the reader blocked in open()
            os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        self.thread.join(5)


def test_login_writes_one_line_and_returns_the_new_login(srp, bare_host):
    with FakeAddTarget(bare_host) as kernel:
        result = srp.login(LOGIN_LINE)
    assert kernel.received == [(LOGIN_LINE + "\n").encode()]
    assert result["changed"] is True
    assert (result["host"], result["remote_port"]) == ("host2", "port-2:1")
    assert result["login"]["state"] == "running"


def test_login_test_mode_writes_nothing(srp, bare_host):
    result = srp.login(LOGIN_LINE, test=True)
    assert result["changed"] is True and result["host"] is None
    assert add_target(bare_host).read_text() == ""


def test_login_accepted_but_no_login_appears(srp, bare_host):
    with pytest.raises(CommandExecutionError, match="accepted .* but no login appeared"):
        srp.login(LOGIN_LINE)
    assert add_target(bare_host).read_text() == LOGIN_LINE + "\n"


def test_login_whose_remote_port_never_appears_is_an_error_naming_the_host(srp, bare_host, monkeypatch):
    whole_login = build_login

    def host_only(root):
        # Made aside, then copied in without the remote port: the login never sees one, not even for a moment.
        aside = root.parent / "login-aside"
        aside.mkdir()
        whole_login(aside)
        shutil.rmtree(aside / "sys/devices/platform/host2/port-2:1")
        (aside / "sys/class/srp_remote_ports/port-2:1").unlink()
        shutil.copytree(aside, root, symlinks=True, dirs_exist_ok=True)

    monkeypatch.setattr(sys.modules[__name__], "build_login", host_only)
    with FakeAddTarget(bare_host):
        with pytest.raises(
            CommandExecutionError,
            match="made SCSI host2 .* but its remote port did not appear in .*srp_remote_ports within 1 s",
        ):
            srp.login(LOGIN_LINE)
    # The next apply finds that SCSI host: still no login it may call made, in either mode.
    for test in (True, False):
        with pytest.raises(
            CommandExecutionError,
            match="SCSI host2 of ib_srp is logged in to .* but has no remote port in .*srp_remote_ports",
        ):
            srp.login(LOGIN_LINE, test=test)


def test_a_host_without_remote_port_that_goes_away_is_logged_in_anew(srp, bare_host, monkeypatch):
    # ib_srp removes a login's remote port before its SCSI host: an apply in that moment waits, sees the
    # host gone, and logs in.
    from mdtmirror_lib import srp_tree

    real_find = srp_tree.SrpRoot.find_login
    seen = []

    def find_login(self, spec, port_entry):
        seen.append(1)
        if len(seen) == 1:
            return {"host": "host2", "remote_port": None}
        return real_find(self, spec, port_entry)

    monkeypatch.setattr(srp_tree.SrpRoot, "find_login", find_login)
    with FakeAddTarget(bare_host) as kernel:
        result = srp.login(LOGIN_LINE)
    assert kernel.received == [(LOGIN_LINE + "\n").encode()]
    assert result["changed"] is True and result["remote_port"] == "port-2:1"
    assert len(seen) >= 3  # the half login, the wait's look that found it gone, the login's own


@pytest.fixture
def kernel_answers(monkeypatch):
    """Make writes to add_target fail with an errno, after an optional side effect."""

    def install(code, side_effect=None):
        real_write = os.write

        def write(fd, data):
            if os.readlink(f"/proc/self/fd/{fd}").endswith("/add_target"):
                if side_effect:
                    side_effect()
                raise OSError(code, os.strerror(code))
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)

    return install


@pytest.mark.parametrize("code", [errno.EEXIST, errno.EIO])
def test_login_duplicate_answer_with_visible_login_is_not_an_error(srp, bare_host, kernel_answers, code):
    # pathloss.txt: "write error: File exists"; duplicate_login.txt: "I/O error".
    kernel_answers(code, side_effect=lambda: build_login(bare_host))  # srp_daemon won the race
    result = srp.login(LOGIN_LINE)
    assert result["changed"] is False
    assert result["remote_port"] == "port-2:1"
    assert errno.errorcode[code] in result["comment"]


@pytest.mark.parametrize(
    "code, message",
    [
        (errno.EIO, r"target refused the login \(is this initiator in the target's group\?\): EIO"),
        (errno.ECONNRESET, r"target refused the login .*ECONNRESET"),
        (errno.EEXIST, r"already connected to that target port \(EEXIST\)"),
        (errno.EINVAL, r"rejected 'id_ext=005400fffe123456,.*' with EINVAL"),
        (errno.ENETUNREACH, r"no path to the target: ENETUNREACH"),
        (errno.ENOMEM, r"add_target failed with ENOMEM"),
    ],
)
def test_login_errors_name_target_and_errno(srp, bare_host, kernel_answers, code, message):
    kernel_answers(code)
    with pytest.raises(CommandExecutionError, match=message) as info:
        srp.login(LOGIN_LINE)
    assert "id_ext=005400fffe123456 ioc_guid=005400fffe123456 (dest 10.0.2.15:5555)" in str(info.value)


def test_login_without_ib_srp(srp, bare_host):
    shutil.rmtree(bare_host / "sys/class/infiniband_srp")
    with pytest.raises(CommandExecutionError, match="no SRP initiator port.*modprobe ib_srp"):
        srp.login(LOGIN_LINE)


def test_login_unknown_port(srp, bare_host):
    with pytest.raises(CommandExecutionError, match="no SRP initiator port 'mlx5_0/1'; ports: srp-rxe0-1"):
        srp.login(LOGIN_LINE, port="mlx5_0/1")


# ---------------------------------------------------------------- logout


def test_logout_by_remote_port_writes_delete(srp, host):
    delete = host / "sys/class/srp_remote_ports/port-2:1/delete"
    assert srp.logout("port-2:1", timeout=0) == {"changed": True, "removed": ["port-2:1"]}
    assert delete.read_text() == "1\n"


def test_logout_by_target_and_waiting(srp, host):
    rport = host / "sys/devices/platform/host2/port-2:1"
    delete = rport / "srp_remote_ports/port-2:1/delete"

    def kernel():  # ib_srp removes the remote port once delete is written
        while delete.read_text() == "":
            time.sleep(0.05)
        (host / "sys/class/srp_remote_ports/port-2:1").unlink()

    thread = threading.Thread(target=kernel, daemon=True)
    thread.start()
    assert srp.logout(LOGIN_LINE, timeout=5) == {"changed": True, "removed": ["port-2:1"]}
    thread.join(5)


def test_logout_by_login_entry(srp, host):
    (entry,) = srp.list_logins()
    assert srp.logout(entry, timeout=0) == {"changed": True, "removed": ["port-2:1"]}
    assert srp.logout(srp.login(LOGIN_LINE), timeout=0, test=True) == {"changed": True, "removed": ["port-2:1"]}


def test_logout_reports_a_remote_port_that_stays(srp, host):
    with pytest.raises(CommandExecutionError, match="port-2:1 still present"):
        srp.logout("host2", timeout=0.5)


def test_logout_nothing_to_do(srp, host):
    assert srp.logout("port-9:1") == {"changed": False, "removed": []}
    other = "id_ext=20030003BA27CC7A,ioc_guid=0005ad00000013e7,dest=10.0.2.15:5555"
    assert srp.logout(other) == {"changed": False, "removed": []}
    assert (host / "sys/class/srp_remote_ports/port-2:1/delete").read_text() == ""


# ---------------------------------------------------------------- discovery


def test_discover_runs_srp_daemon_per_port(srp, host, bin_dir):
    write_attrs(host / "sys/class/infiniband_mad/umad0", {"ibdev": "rxe0", "port": "1"})
    record = bin_dir / "srp_daemon.args"
    output = bin_dir / "srp_daemon.out"
    output.write_text(DOCUMENTED_SRP_DAEMON_OUTPUT)  # format from documentation
    script(bin_dir / "srp_daemon", f'echo "$@" > {record}\ncat {output}\n')
    found = srp.discover()
    assert record.read_text() == f"-o -a -c -d {host / 'dev/infiniband/umad0'}\n"
    assert list(found) == ["srp-rxe0-1"]
    assert [t["id_ext"] for t in found["srp-rxe0-1"]] == ["20030003ba27cc7a", "20030003ba27cf53"]
    assert srp.discover(port="srp-rxe0-1") == found


def test_discover_finding_nothing_explains_roce(srp, host, bin_dir):
    write_attrs(host / "sys/class/infiniband_mad/umad0", {"ibdev": "rxe0", "port": "1"})
    script(bin_dir / "srp_daemon", "exit 0\n")
    with pytest.raises(CommandExecutionError, match=r"found no SRP target through srp-rxe0-1.*RoCE.*dest=<ip>:<port>"):
        srp.discover()
    # The first cause on a pair being rolled out: the peer has not enabled its target yet.
    with pytest.raises(CommandExecutionError, match=r"shows only once its target is enabled"):
        srp.discover()


def test_discover_without_umad_or_binary(srp, host, bin_dir):
    with pytest.raises(CommandExecutionError, match="not found: install srp_daemon"):
        srp.discover()
    script(bin_dir / "srp_daemon", "exit 0\n")
    with pytest.raises(CommandExecutionError, match=r"srp-rxe0-1: no umad device \(load ib_umad\)"):
        srp.discover()


# ---------------------------------------------------------------- persistence


def test_persist_module_options(srp, host):
    conf = host / "etc/modprobe.d/ib_srp.conf"
    # pathloss.txt's timers: fast_io_fail_tmo 5, dev_loss_tmo 30, reconnect_delay 3.
    timers = {"fast_io_fail_tmo": 5, "dev_loss_tmo": 30, "reconnect_delay": 3}
    assert srp.persist_module_options(timers, test=True) is True
    assert not conf.exists()
    assert srp.persist_module_options(timers) is True
    line = "options ib_srp dev_loss_tmo=30 fast_io_fail_tmo=5 reconnect_delay=3"
    assert conf.read_text().splitlines()[1:] == [line]
    assert srp.persist_module_options(timers) is False
    conf.write_text(
        "# admin\nblacklist foo\noptions ib_srp ch_count=2 \\\n  dev_loss_tmo=60\noptions ib_srp ch_count=4\n"
    )
    assert srp.persist_module_options(dict(timers, ch_count=1, allow_ext_sg=True)) is True
    assert conf.read_text() == (
        "# admin\nblacklist foo\n"
        "options ib_srp allow_ext_sg=Y ch_count=1 dev_loss_tmo=30 fast_io_fail_tmo=5 reconnect_delay=3\n"
    )
    # Running values: login.txt's remote port timers are the module defaults.
    write_attrs(
        host / "sys/module/ib_srp/parameters",
        {"dev_loss_tmo": "600", "fast_io_fail_tmo": "15", "reconnect_delay": "10"},
    )
    options = srp.module_options()
    assert options["persisted"]["dev_loss_tmo"] == "30"
    assert options["running"] == {"dev_loss_tmo": "600", "fast_io_fail_tmo": "15", "reconnect_delay": "10"}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"fast_io_fail_tmo": 30, "dev_loss_tmo": 30}, "fast_io_fail_tmo must be smaller than dev_loss_tmo"),
        ({"fast_io_fail_tmo": "off", "dev_loss_tmo": 3600}, "dev_loss_tmo must be at most 600"),
        ({"reconnect_delay": 0}, "reconnect_delay 0"),
        ({"reconnect_delay": "off", "fast_io_fail_tmo": "off", "dev_loss_tmo": "off"}, "all three timers are off"),
        ({"bogus": 1}, "unknown ib_srp module option 'bogus'"),
        ({"cmd_sg_entries": 300}, r"cmd_sg_entries=300.*1\.\.255"),
        ({"srp_sg_tablesize": 12}, "deprecated name of cmd_sg_entries"),
    ],
)
def test_persist_module_options_refuses_what_the_kernel_refuses(srp, host, options, message):
    with pytest.raises(SaltInvocationError, match=message):
        srp.persist_module_options(options)
    assert not (host / "etc/modprobe.d/ib_srp.conf").exists()


def test_persist_daemon_conf(srp, host):
    conf = host / "etc/srp_daemon.conf"
    targets = DOCUMENTED_SRP_DAEMON_OUTPUT.splitlines()[:1]
    assert srp.persist_daemon_conf(targets, test=True) is True and not conf.exists()
    assert srp.persist_daemon_conf(targets) is True
    assert conf.read_text().splitlines()[2:] == [
        "a id_ext=20030003ba27cc7a,ioc_guid=0005ad00000013e7,dgid=fe800000000000000005ad00000013e9,"
        "service_id=0000000000000066,pkey=ffff",
        "d",
    ]
    assert srp.persist_daemon_conf(targets) is False


def test_rdma_conf_srp_load(srp, host):
    conf = host / "etc/rdma/rdma.conf"
    assert srp.rdma_conf_srp_load() is False
    assert not conf.exists()  # systems without the file do not read it
    conf.parent.mkdir(parents=True)
    conf.write_text("# Load SRP module\nSRP_LOAD=no\nISER_LOAD=yes\nSRP_LOAD=no\n")
    assert srp.rdma_conf_srp_load(test=True) is True
    assert "SRP_LOAD=no" in conf.read_text()
    assert srp.rdma_conf_srp_load() is True
    assert conf.read_text() == "# Load SRP module\nSRP_LOAD=yes\nISER_LOAD=yes\n"
    assert srp.rdma_conf_srp_load() is False
    conf.write_text("ISER_LOAD=yes")
    assert srp.rdma_conf_srp_load() is True
    assert conf.read_text() == "ISER_LOAD=yes\nSRP_LOAD=yes\n"


def test_validate_target(srp, host):
    assert srp.validate_target(
        LOGIN_LINE.upper().replace("ID_EXT", "id_ext").replace("IOC_GUID", "ioc_guid").replace("DEST", "dest")
    ) == {
        "target": {"id_ext": "005400fffe123456", "ioc_guid": "005400fffe123456", "dest": "10.0.2.15:5555"},
        "line": LOGIN_LINE,
    }


def test_salt_exposes_only_the_cli_functions(srp):
    from tests.loadermods import load

    module = load("_modules", "srp")
    for name in module.__all__:
        assert "CLI Example:" in getattr(module, name).__doc__, name
        assert callable(getattr(srp, name))
    with pytest.raises((AttributeError, KeyError)):
        srp.parse_login_spec  # noqa: B018  (pure helpers stay out of the CLI)


def test_paths_follow_sysroot_and_overrides(tmp_path, salt_loaders):
    build_port(tmp_path)
    other = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "sys/devices/virtual/infiniband_srp", other)
    loaders = salt_loaders(mdtmirror={"sysroot": str(tmp_path / "nothing"), "paths": {"infiniband_srp": str(other)}})
    (port,) = loaders.modules.srp.ports()
    assert port["add_target"] == str(Path(other) / "srp-rxe0-1/add_target")
    assert port["gid"] is None  # /sys/class/infiniband is under the (empty) sysroot
