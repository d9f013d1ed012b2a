"""The srp execution module (Salt's real loader) driving the SRP initiator emulator:
ports, discovery, login (and its idempotence), disks after udev, logout."""

import pytest
from salt.exceptions import CommandExecutionError

from tests.emul.rig import make_pair, scst_export


@pytest.fixture(scope="module")
def ib(tmp_path_factory, module_salt_loaders):
    p = make_pair(tmp_path_factory.mktemp("srpmod"), link_layer="InfiniBand", srp_kwargs={"udev_delay": 0.5})
    a, b = p.hosts["mds01"], p.hosts["mds02"]
    scst_export(b, [a.host.ports[0]["gid"], a.ip])
    opts = dict(a.mdtmirror, bin=dict(a.mdtmirror["bin"], udevadm=""), srp_login_wait=5)
    mod = module_salt_loaders(mdtmirror=opts).modules.srp
    yield a, b, p.fabric, mod
    p.stop()


def test_ports_discover_login_disks_logout(ib):
    a, b, fabric, srp = ib
    (port,) = srp.ports()
    assert {k: port[k] for k in ("name", "hca", "port", "gid", "link_layer", "active", "umad")} == {
        "name": "srp-rxe0-1",
        "hca": "rxe0",
        "port": 1,
        "gid": "fe80:0000:0000:0000:5054:00ff:fe00:0001",
        "link_layer": "InfiniBand",
        "active": True,
        "umad": str(a.root / "dev/infiniband/umad0"),
    }
    found = srp.discover()
    assert [t["dgid"] for t in found["srp-rxe0-1"]] == ["fe80000000000000505400fffe000002"]
    res = srp.login(found["srp-rxe0-1"][0], ch_count=1)
    assert (res["changed"], res["host"], res["remote_port"]) == (True, "host2", "port-2:1")
    assert res["login"]["transport"] == "ib_cm" and res["login"]["state"] == "running"
    again = srp.login(found["srp-rxe0-1"][0])
    assert (again["changed"], again["host"]) == (False, "host2")
    disks = srp.disks("host2", timeout=5)  # by-id links come 0.5 s after the disk
    assert [(d["dev"], d["scsi"], d["vendor"], d["model"]) for d in disks] == [
        ("/dev/sda", "2:0:0:0", "SCST_BIO", "MDT1")  # host paths, as zpool must be given them
    ]
    assert len(disks[0]["by_id"]) == 1 and disks[0]["by_id"][0].startswith("/dev/disk/by-id/scsi-2")
    assert disks[0]["size_bytes"] == (b.root / "dev/mdt0").stat().st_size
    assert srp.logout("port-2:1", timeout=5) == {"changed": True, "removed": ["port-2:1"]}
    assert srp.list_logins() == []
    assert b.kernel.session_names(b.target) == []


def test_refused_login_message(ib):
    a, b, fabric, srp = ib
    b.kernel.write("targets/ib_srpt/%s/enabled" % b.target, b"0\n")
    try:
        with pytest.raises(CommandExecutionError, match="target refused the login.*ECONNRESET"):
            srp.login("id_ext=005400fffe000002,ioc_guid=005400fffe000002,dest=10.0.0.2:5555")
    finally:
        b.kernel.write("targets/ib_srpt/%s/enabled" % b.target, b"1\n")
    assert srp.list_logins() == []
