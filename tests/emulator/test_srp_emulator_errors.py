"""add_target errors of the SRP initiator emulator: errno, kernel log, nothing left behind.

Errnos follow Linux 6.1's ib_srp.c (the captures' shell, dash, reports every
write error as "I/O error"; bash's pathloss.txt shows EEXIST for a duplicate):
unknown key EINVAL, duplicate EEXIST (before any connection), target refusing
the login ECONNRESET (SRP_LOGIN_REJ), address not resolvable ENXIO. The log
lines are compared with the captures where they exist.
"""

import errno
import os
import re

import pytest

from tests.captures import captures_dir, scst_capture
from tests.emul.rig import make_pair, scst_export

IDS = "id_ext=005400fffe000002,ioc_guid=005400fffe000002"
LINE = IDS + ",dest=10.0.0.2:5555"


def srp_capture(name):
    return (captures_dir() / "linux-6.1-openzfs-2.3.2" / "srp" / name).read_text()


def kernel_lines(text):
    return [re.sub(r"^\[ *[\d.]+\] (\[\d+\]: )?", "", line) for line in text.splitlines() if line.startswith("[")]


def add_target(host, line):
    fd = os.open(host.root / "sys/class/infiniband_srp/srp-rxe0-1/add_target", os.O_WRONLY)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def add_target_errno(host, line):
    with pytest.raises(OSError) as exc:
        add_target(host, line)
    return exc.value.errno


def state(host, peer):
    """What a login leaves: SCSI hosts, remote ports, disks, by-id links, SCST sessions."""
    cls = host.root / "sys/class"
    return (
        sorted(os.listdir(cls / "scsi_host")),
        sorted(os.listdir(cls / "srp_remote_ports")),
        sorted(n for n in os.listdir(host.root / "dev") if n.startswith("sd")),
        sorted(os.listdir(host.root / "dev/disk/by-id")),
        peer.kernel.session_names(peer.target),
    )


NOTHING = (["host0", "host1"], [], [], [], [])


@pytest.fixture
def pair(tmp_path):
    p = make_pair(tmp_path, fabric_kwargs={"time_scale": 0.01})
    yield p.hosts["mds01"], p.hosts["mds02"], p.fabric
    p.stop()


def test_unknown_key_is_einval_with_the_captured_message(pair):
    a, b, _ = pair
    scst_export(b, [a.ip])
    assert add_target_errno(a, LINE + ",bogus_key=1\n") == errno.EINVAL
    want = [line for line in kernel_lines(srp_capture("bad_key_login.txt")) if "unknown parameter" in line]
    assert want == ["ib_srp: unknown parameter or missing value 'bogus_key=1' in target creation request"]
    assert a.srp.kernel.dmesg[-1] == want[0]
    assert state(a, b) == NOTHING
    # a key without value, a number with trailing garbage: no match in the option table either
    for bad in ("ch_count=", "ch_count=2x", "max_sect"):
        assert add_target_errno(a, LINE + "," + bad) == errno.EINVAL
        assert a.srp.kernel.dmesg[-1] == (
            "ib_srp: unknown parameter or missing value '%s' in target creation request" % bad
        )
    # range checks of known keys
    assert add_target_errno(a, LINE + ",tl_retry_count=9") == errno.EINVAL
    assert a.srp.kernel.dmesg[-1].endswith("'tl_retry_count=9' (must be a number between 2 and 7)")
    assert add_target_errno(a, IDS + ",dest=10.0.0.2") == errno.EINVAL
    assert a.srp.kernel.dmesg[-1] == "ib_srp: bad dest parameter '10.0.0.2'"
    assert add_target_errno(a, LINE + ",queue_size=99999999999") == errno.ERANGE
    assert state(a, b) == NOTHING


def test_duplicate_is_eexist_and_reuses_the_failed_host_number(pair):
    a, b, _ = pair
    scst_export(b, [a.ip])
    add_target(a, LINE)
    before = state(a, b)
    assert before[1] == ["port-2:1"] and before[4] == ["10.0.0.1", "10.0.0.1_1"]
    # same target port again, then with another TCP port: both "Already connected" (the
    # uniqueness key is id_ext, ioc_guid, initiator_ext), both on host3 (the number is freed)
    assert add_target_errno(a, LINE) == errno.EEXIST
    assert add_target_errno(a, IDS + ",dest=10.0.0.2:5556") == errno.EEXIST
    captured = [
        line for line in kernel_lines(srp_capture("bad_port_login.txt")) if "Already connected" in line
    ]  # two attempts in the LIO guest: scsi host3 both times
    assert len(captured) == 2 and captured[0] == captured[1]
    want = captured[0].replace("505400fffe123456", "005400fffe000002").replace("10.0.2.15", "10.0.0.2")
    assert a.srp.kernel.dmesg[-2:] == [want, want]
    assert state(a, b) == before
    # another initiator_ext is another I_T nexus: allowed
    add_target(a, LINE + ",initiator_ext=2,ch_count=1")
    assert state(a, b)[1] == ["port-2:1", "port-3:1"]


def test_missing_keys(pair):
    a, b, _ = pair
    scst_export(b, [a.ip])
    # nothing parsed: the mandatory-option check fires
    assert add_target_errno(a, "\n") == errno.EINVAL
    assert a.srp.kernel.dmesg[-1] == "ib_srp: target creation request is missing one or more parameters"
    # id_ext + ioc_guid only: the last conversion left ret at 0, so the kernel goes on as
    # IB/CM with P_Key 0, which no port has: the QP cannot be created
    assert add_target_errno(a, IDS) == errno.ENOENT
    assert a.srp.kernel.dmesg[-1] == "ib_srp: QP creation failed for dev rxe0: -2"
    # IB/CM needs the subnet administrator: none on RoCE
    assert add_target_errno(a, IDS + ",pkey=ffff") == errno.ENODEV
    zero_gid = ":".join(["0000"] * 8)
    assert a.srp.kernel.dmesg[-1] == "scsi host2: ib_srp: Connection 0/2 to %s failed" % zero_gid
    assert state(a, b) == NOTHING


def test_target_disabled_is_econnreset_and_nothing_is_created(pair):
    a, b, _ = pair
    scst_export(b, [a.ip], enable=False)
    assert add_target_errno(a, LINE) == errno.ECONNRESET
    # the initiator's and the target's lines of pathloss.txt's rejected reconnects
    lines = kernel_lines(scst_capture("pathloss.txt").read_text())
    rej = lines.index("scsi host2: ib_srp: REJ received")
    assert lines[rej + 1] == "scsi host2: ib_srp: SRP LOGIN REJECTED, reason 0x00010001"
    assert a.srp.kernel.dmesg[-3:] == [
        lines[rej],
        lines[rej + 1],
        "scsi host2: ib_srp: Connection 0/2 to 10.0.0.2 failed",
    ]
    target_lines = [line for line in lines[rej - 3 : rej] if not line.startswith("ib_srpt: Received")]
    assert [line.replace("fe80:0000:0000:0000:5054:00ff:fe12:3456", b.target) for line in target_lines] == (
        b.kernel.dmesg[-2:]
    )
    assert state(a, b) == NOTHING


def test_initiator_in_no_group(tmp_path):
    """SCST's ib_srpt lets in an initiator no group names: it gets the target's own LUN set
    (empty here), so the login succeeds without disks. With reject_no_luns the target refuses."""
    p = make_pair(tmp_path)
    try:
        a, b = p.hosts["mds01"], p.hosts["mds02"]
        scst_export(b, ["10.9.9.9"])
        add_target(a, LINE + ",ch_count=1")
        hosts, rports, disks, links, sessions = state(a, b)
        assert (rports, disks, links, sessions) == (["port-2:1"], [], [], ["10.0.0.1"])
        assert os.listdir(a.root / "sys/class/scsi_host/host2/device/target2:0:0") == ["uevent"]
        luns = "targets/ib_srpt/%s/sessions/10.0.0.1/luns" % b.target
        assert b.kernel.readlink(luns) == "../../luns"  # the target's own LUN set, not group MDS
    finally:
        p.stop()
    p = make_pair(tmp_path / "strict", fabric_kwargs={"reject_no_luns": True})
    try:
        a, b = p.hosts["mds01"], p.hosts["mds02"]
        scst_export(b, ["10.9.9.9"])
        assert add_target_errno(a, LINE) == errno.ECONNRESET
        assert a.srp.kernel.dmesg[-2] == "scsi host2: ib_srp: SRP LOGIN REJECTED, reason 0x00010006"
        assert state(a, b) == NOTHING
    finally:
        p.stop()


def test_unreachable_wrong_port_and_wrong_target_id(pair):
    a, b, fabric = pair
    scst_export(b, [a.ip])
    # no RDMA/CM listener on that port: the CM rejects (invalid service ID)
    assert add_target_errno(a, IDS + ",dest=10.0.0.2:5556") == errno.ECONNRESET
    assert a.srp.kernel.dmesg[-3:-1] == ["scsi host2: ib_srp: REJ received", "scsi host2:   REJ reason 0x8"]
    # t_port_id is not the target's service GUID: SRP_LOGIN_REJ_UNABLE_ASSOCIATE_CHANNEL
    assert add_target_errno(a, "id_ext=1,ioc_guid=005400fffe000002,dest=10.0.0.2:5555") == errno.ECONNRESET
    assert a.srp.kernel.dmesg[-2] == "scsi host2: ib_srp: SRP LOGIN REJECTED, reason 0x00010003"
    assert b.kernel.dmesg[-2] == "ib_srpt: rejected SRP_LOGIN_REQ because it has an invalid target port identifier."
    # the peer is down: address resolution fails
    fabric.set_down("mds02")
    assert add_target_errno(a, LINE) == errno.ENXIO
    assert a.srp.kernel.dmesg[-1] == "ib_srp: Resolving address 10.0.0.2:5555 failed (-6)"
    assert add_target_errno(a, IDS + ",dest=10.0.0.9:5555") == errno.ENXIO
    fabric.set_up("mds02")
    assert state(a, b) == NOTHING
    add_target(a, LINE)
    assert state(a, b)[1] == ["port-2:1"]
