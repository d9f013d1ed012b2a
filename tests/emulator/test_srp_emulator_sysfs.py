"""The SRP initiator emulator's sysfs after a login, against the captured kernel.

The captured guest (login.txt) logged in to its own SCST target over RDMA/CM:
one host, node GUID 5054:00ff:fe12:3456, 10.0.2.15, the target configured by
ops.txt. Here the same host is rebuilt (ops.txt replayed on the SCST model),
put on a fabric alone and logged in to itself with the captured add_target
line, through the FUSE mount; every attribute the capture printed must read
the same (values, and ENOENT where the capture has "No such file or
directory"), and the SCST side must show the captured sessions.
"""

import errno
import os
import re
import types

import pytest

from tests.captures import captures_dir, scst_capture
from tests.emul.fabric import Fabric
from tests.emul.replay import CAPTURE_GID, ModelBackend, capture_host, replay_capture
from tests.emul.rig import make_pair, scst_export
from tests.emul.scstkernel import ScstKernel
from tests.emul.srpfs import attach_srp

LOGIN = "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555"


def srp_capture(name):
    return (captures_dir() / "linux-6.1-openzfs-2.3.2" / "srp" / name).read_text()


def blocks(text):
    """``== <path>[ -> <link>]`` headers followed by ``attr=value`` / ``attr: value`` lines."""
    out, cur = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            head = line[3:].split(" -> ")
            cur = out.setdefault(head[0].strip(), {"_link": head[1].strip() if len(head) > 1 else None})
            continue
        m = re.match(r"^([a-z_]+)(?:=|: )(.*?) ?$", line) if cur is not None else None
        if m:
            cur[m.group(1)] = m.group(2)
        elif cur is not None and not re.match(r"^[a-z_]+:? ?$", line):
            cur = None
    return out


def add_target(root, line, port="srp-rxe0-1"):
    fd = os.open(os.path.join(root, "sys/class/infiniband_srp", port, "add_target"), os.O_WRONLY)
    try:
        return os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_or_errno(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return e.errno


@pytest.fixture
def captured(tmp_path):
    """The captured guest: SCST configured by ops.txt, ib_srp attached, alone on a fabric."""
    root = tmp_path / "guest"
    kernel = ScstKernel(capture_host(root, loops=3))
    checks, problems = replay_capture(scst_capture("ops.txt").read_text(), ModelBackend(kernel))
    assert problems == []
    (root / "sys" / "module" / "ib_srpt").mkdir(parents=True)
    fabric = Fabric(state_dir=tmp_path / "fabric")
    host = types.SimpleNamespace(name="guest", root=root, host=kernel.host, kernel=kernel)
    handle = attach_srp(host, fabric, ips=["10.0.2.15"])
    yield types.SimpleNamespace(root=root, kernel=kernel, srp=handle.kernel, fabric=fabric)
    handle.stop()


def test_login_txt_host_and_remote_port_attributes(captured):
    root = captured.root
    assert add_target(root, LOGIN + "\n") == len(LOGIN) + 1
    want = blocks(scst_capture("login.txt").read_text())
    for path in ("/sys/class/srp_remote_ports/port-2:1", "/sys/class/scsi_host/host2"):
        attrs = {k: v for k, v in want[path].items() if k != "_link"}
        assert len(attrs) >= 6
        for attr, value in attrs.items():
            got = read_or_errno(os.path.join(root, path.lstrip("/"), attr))
            if value.startswith("cat: "):
                assert got == errno.ENOENT, (path, attr, got)  # RDMA/CM: no dgid, pkey, service_id
            else:
                assert got == value + "\n", (path, attr, got)


def test_srp_remote_ports_txt_and_infiniband_srp_dir(captured):
    root = captured.root
    add_target(root, LOGIN)
    rport = root / "sys/class/srp_remote_ports/port-2:1"
    (head, attrs), *_ = blocks(srp_capture("srp_remote_ports.txt")).items()
    # the class entry is a link into the device tree, as captured
    assert "/" + os.path.relpath(os.path.realpath(rport), root) == attrs.pop("_link")
    files = sorted(e for e in os.listdir(rport) if os.path.isfile(rport / e) and not os.path.islink(rport / e))
    assert files == sorted(attrs)
    # port_id is id_ext + ioc_guid, 16 bytes: the LIO capture logged in with 505400fffe123456 twice
    # (bad_key_login.txt's "Already connected" line), the SCST one with SCST's 005400fffe123456.
    lio_ids = re.search(r"id_ext=(\w+);ioc_guid=(\w+)", srp_capture("bad_key_login.txt")).groups()
    assert attrs.pop("port_id") == ":".join(re.findall("..", "".join(lio_ids)))
    assert (rport / "port_id").read_text() == ":".join(re.findall("..", "005400fffe123456" * 2)) + "\n"
    for attr, value in attrs.items():
        got = read_or_errno(rport / attr)
        if "Permission denied" in value:
            assert got == errno.EACCES
        else:
            assert got == (value + "\n" if value else ""), (attr, got)
    # infiniband_srp_dir.txt: "name: value" for each file of srp-rxe0-1
    port_dir = root / "sys/class/infiniband_srp/srp-rxe0-1"
    for line in srp_capture("infiniband_srp_dir.txt").splitlines():
        name, _, value = line.partition(": ")
        got = read_or_errno(port_dir / name.rstrip(":"))
        if "Permission denied" in value:
            assert got == errno.EACCES
        else:
            assert got == (value.strip() + "\n" if value.strip() else "")


def test_login_txt_disk_by_id_sessions_and_dmesg(captured):
    root, kernel = captured.root, captured.kernel
    add_target(root, LOGIN)
    text = scst_capture("login.txt").read_text()
    # the disk: /sys/block/sda vendor=MDTM     model=MDT1             size=1048576 lbs=4096
    m = re.search(r"^/sys/block/(\w+) vendor=(.{8}) model=(.{16}) size=(\d+) lbs=(\d+)$", text, re.M)
    name, vendor, model, size, lbs = m.groups()
    blk = root / "sys/block" / name
    assert (blk / "device/vendor").read_text() == vendor + "\n"
    assert (blk / "device/model").read_text() == model + "\n"
    assert (blk / "size").read_text() == size + "\n"
    assert (blk / "queue/logical_block_size").read_text() == lbs + "\n"
    # the device path udev reported (udevadm_sda.txt)
    devpath = re.search(r"^E: DEVPATH=(.*)$", srp_capture("udevadm_sda.txt"), re.M).group(1)
    assert "/" + os.path.relpath(os.path.realpath(blk), root / "sys") == devpath
    assert os.listdir(root / "sys/class/scsi_host/host2/device/target2:0:0/2:0:0:0/block") == [name]
    # by-id name derived from t10_dev_id 80130d8a-MDT1 as udev did
    links = re.findall(r"(scsi-\w+) -> (\.\./\.\./\w+)", text)
    assert links == [("scsi-23830313330643861", "../../sda")]
    for link, target in links:
        assert os.readlink(root / "dev/disk/by-id" / link) == target
    assert os.listdir(root / "dev/disk/by-id") == [links[0][0]]
    # SCST side: one session per channel, named by the initiator's address
    tgt = "targets/ib_srpt/%s/sessions/" % CAPTURE_GID
    for sess in re.findall(r"^== /sys/kernel/scst_tgt/targets/ib_srpt/[^/]+/sessions/(\S+)$", text, re.M):
        want = dict(re.findall(r"^(initiator_name|req_lim|comp_vector)=(.*)$", text.split(sess, 2)[2], re.M)[:3])
        for attr, value in want.items():
            assert kernel.read(tgt + sess + "/" + attr).decode() == value + "\n", (sess, attr)
    assert kernel.session_names(CAPTURE_GID) == ["10.0.2.15", "10.0.2.15_1"]
    # the kernel log lines of the login, in order (timestamps and thread ids dropped)
    lines = [re.sub(r"^\[ *[\d.]+\] (\[\d+\]: )?", "", line) for line in text.splitlines() if line.startswith("[")]
    ini = [line for line in lines if re.match(r"(scsi host2: |scsi 2:0:0:0: |sd 2:0:0:0: \[sda\] Attached SCSI)", line)]
    assert len(ini) == 6
    it = iter(captured.srp.dmesg)
    assert all(any(line == got for got in it) for line in ini), (ini, captured.srp.dmesg)
    tgt_lines = [line for line in lines if line.startswith(("ib_srpt: Received", 'scst: Using security group "MDS"'))]
    it = iter(kernel.dmesg)
    assert all(any(line == got for got in it) for line in tgt_lines), (tgt_lines, kernel.dmesg[-6:])


def test_rdma_cm_and_ib_cm_attributes(tmp_path):
    """IB/CM logins have dgid, orig_dgid, pkey, service_id (kernel formats); RDMA/CM ones do not."""
    pair = make_pair(tmp_path, link_layer="InfiniBand")
    try:
        a, b = pair.hosts["mds01"], pair.hosts["mds02"]
        scst_export(b, [a.host.ports[0]["gid"], a.ip])
        login_info = b.kernel.read("targets/ib_srpt/%s/login_info" % b.target).decode()
        info = dict(kv.split("=") for kv in login_info.strip().split(","))
        ib = "id_ext={tid_ext},ioc_guid={ioc_guid},dgid={dgid},pkey=ffff,service_id={service_id}".format(**info)
        add_target(a.root, ib.strip())
        rdma = "id_ext=%s,ioc_guid=%s,dest=%s:5555,initiator_ext=1,ch_count=1" % (
            info["tid_ext"],
            info["ioc_guid"],
            b.ip,
        )
        add_target(a.root, rdma)
        h2, h3 = a.root / "sys/class/scsi_host/host2", a.root / "sys/class/scsi_host/host3"
        assert (h2 / "dgid").read_text() == "fe80:0000:0000:0000:5054:00ff:fe00:0002\n"
        assert (h2 / "orig_dgid").read_text() == "fe80:0000:0000:0000:5054:00ff:fe00:0002\n"
        assert (h2 / "pkey").read_text() == "0xffff\n"
        assert (h2 / "service_id").read_text() == "0x005400fffe000002\n"
        assert (h2 / "ch_count").read_text() == "2\n"
        for attr in ("dgid", "orig_dgid", "pkey", "service_id"):
            assert read_or_errno(h3 / attr) == errno.ENOENT
        assert (h3 / "ch_count").read_text() == "1\n"
        assert sorted(os.listdir(a.root / "sys/class/srp_remote_ports")) == ["port-2:1", "port-3:1"]
        # IB/CM sessions are named by the initiator port GID (%pI6), RDMA/CM ones by its IPv4 address
        assert b.kernel.session_names(b.target) == [
            "fe80:0000:0000:0000:5054:00ff:fe00:0001",
            "fe80:0000:0000:0000:5054:00ff:fe00:0001_1",
            "10.0.0.1",
        ]
        # two disks (one per login) on the same LUN: sda, sdb
        # sr0: the local CD-ROM; mdt0: the host's own LUN (a virtual block device)
        assert sorted(os.listdir(a.root / "sys/block")) == ["mdt0", "sda", "sdb", "sr0"]
        assert os.readlink(a.root / "sys/class/block/mdt0") == "../../devices/virtual/block/mdt0"
        assert int((a.root / "sys/class/block/mdt0/size").read_text()) * 512 == os.path.getsize(a.root / "dev/mdt0")
        assert os.readlink(a.root / "dev/sda") == os.readlink(a.root / "dev/sdb") == str(b.root / "dev/mdt0")
    finally:
        pair.stop()
