"""The fake srp_daemon of an emulated host: ``srp_daemon -o -a -c -d <umad>``.

Lines as rdma-core's srp_daemon prints them (add_non_exist_target():
``id_ext=%s,ioc_guid=%016llx,dgid=%016llx%016llx,pkey=%04x,service_id=%016llx``)
for the enabled SCST target ports of the InfiniBand fabric, parsed by the srp
module's parser and usable as add_target lines; on RoCE there is no subnet
manager and srp_daemon fails.
"""

import os
import subprocess

import pytest

from tests.emul.rig import make_pair, scst_export
from tests.loadermods import load

srp = load("_modules", "srp")

MDS02 = (
    "id_ext=005400fffe000002,ioc_guid=005400fffe000002,dgid=fe80000000000000505400fffe000002,"
    "pkey=ffff,service_id=005400fffe000002"
)
MDS01 = MDS02.replace("000002", "000001")


def daemon(host, *args):
    umad = "/dev/infiniband/umad0"
    cmd = [str(host.srp.srp_daemon), *(args or ("-o", "-a", "-c")), "-d", umad]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def enable(host, value):
    host.kernel.write("targets/ib_srpt/%s/enabled" % host.target, b"%d\n" % value)


@pytest.fixture
def ib(tmp_path):
    p = make_pair(tmp_path, link_layer="InfiniBand")
    yield p.hosts["mds01"], p.hosts["mds02"], p.fabric
    p.stop()


def test_enabled_targets_only(ib):
    a, b, fabric = ib
    # the umad device srp.ports() finds is the one srp_daemon is given
    assert (a.root / "sys/class/infiniband_mad/umad0/ibdev").read_text() == "rxe0\n"
    assert (a.root / "sys/class/infiniband_mad/umad0/port").read_text() == "1\n"
    assert (a.root / "dev/infiniband/umad0").exists()
    r = daemon(a)
    assert (r.returncode, r.stdout) == (0, "")  # no target enabled yet
    scst_export(b, [a.host.ports[0]["gid"]])
    r = daemon(a)
    assert (r.returncode, r.stdout, r.stderr) == (0, MDS02 + "\n", "")
    entry = srp.parse_srp_daemon(r.stdout)[0]
    assert entry == {
        "id_ext": "005400fffe000002",
        "ioc_guid": "005400fffe000002",
        "dgid": "fe80000000000000505400fffe000002",
        "pkey": "ffff",
        "service_id": "005400fffe000002",
    }
    # the line is what add_target takes: an IB/CM login
    fd = os.open(a.root / "sys/class/infiniband_srp/srp-rxe0-1/add_target", os.O_WRONLY)
    try:
        os.write(fd, r.stdout.strip().encode())
    finally:
        os.close(fd)
    assert os.listdir(a.root / "sys/class/srp_remote_ports") == ["port-2:1"]
    assert os.readlink(a.root / "dev/sda") == str(b.root / "dev/mdt0")
    # -a lists connected targets too; without it srp_daemon skips them
    assert daemon(a).stdout == MDS02 + "\n"
    assert daemon(a, "-o", "-c").stdout == ""
    # its own target port once enabled, in fabric order; a disabled one goes away again
    scst_export(a, [b.host.ports[0]["gid"]])
    assert daemon(a).stdout == MDS01 + "\n" + MDS02 + "\n"
    enable(b, 0)
    assert daemon(a).stdout == MDS01 + "\n"
    # a host off the fabric is not reported
    enable(b, 1)
    fabric.set_down("mds02")
    assert daemon(a).stdout == MDS01 + "\n"


def test_no_subnet_manager(ib, tmp_path):
    a, b, fabric = ib
    scst_export(b, [a.host.ports[0]["gid"]])
    fabric.set_sm(False)
    r = daemon(a)
    assert (r.returncode, r.stdout, r.stderr) == (1, "", "SM LID is 0, maybe no SM is running\n")
    assert (a.root / "sys/class/infiniband/rxe0/ports/1/sm_lid").read_text() == "0x0\n"


def test_roce_has_no_discovery(tmp_path):
    p = make_pair(tmp_path)
    try:
        a, b = p.hosts["mds01"], p.hosts["mds02"]
        scst_export(b, [a.ip])
        r = daemon(a)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", "SM LID is 0, maybe no SM is running\n")
        # the static port files rig.make_host writes are still there, served by the mount
        port = a.root / "sys/class/infiniband/rxe0/ports/1"
        assert (port / "link_layer").read_text() == "Ethernet\n"
        assert (port / "gids/0").read_text() == "fe80:0000:0000:0000:5054:00ff:fe00:0001\n"
        assert (port / "state").read_text() == "4: ACTIVE\n"
        assert (a.root / "sys/class/infiniband/rxe0/node_guid").read_text() == "5054:00ff:fe00:0001\n"
    finally:
        p.stop()
