"""The library's LIO names and texts (mdtmirror_lib.lio_parse), on texts Linux 6.1's LIO printed (captures)."""

import uuid

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import lio_parse
from tests.captures import captures_dir

LIO_CAPTURE = captures_dir() / "linux-6.1-openzfs-2.3.2" / "lio"


def _captured_attrs():
    values = {}
    for line in (LIO_CAPTURE / "fileio_attrs.txt").read_text().splitlines():
        path, _, value = line.partition(": ")
        values[path.rsplit("/disk0/", 1)[-1]] = value.rstrip()
    return values


def test_parse_info_on_the_captured_fileio_backstore():
    info = lio_parse.parse_info(_captured_attrs()["info"])
    assert info["Status"] == "ACTIVATED"
    assert info["File"] == "/tmp/disk0"
    assert info["Size"] == "268435456"
    assert info["SectorSize"] == "512"


def test_parse_info_on_an_iblock_backstore_as_6_1_prints_it():
    # cat core/iblock_0/mdt0/info in the real-kernel guest (Linux 6.1.0-56), before enable.
    text = (
        "Status: DEACTIVATED  Max Queue Depth: 0  SectorSize: 512  HwMaxSectors: 2560\n"
        "        iBlock device: loop0  UDEV PATH: /dev/loop0  readonly: 0\n"
        "        Major: 7 Minor: 0  CLAIMED: IBLOCK"
    )
    info = lio_parse.parse_info(text)
    assert info["Status"] == "DEACTIVATED"
    assert info["UDEV PATH"] == "/dev/loop0"
    assert info["readonly"] == "0"
    assert info["iBlock device"] == "loop0"


def test_parse_unit_serial_empty_and_set():
    assert lio_parse.parse_unit_serial(_captured_attrs()["wwn/vpd_unit_serial"]) == ""
    assert lio_parse.parse_unit_serial("T10 VPD Unit Serial Number: abc-123") == "abc-123"
    assert lio_parse.parse_unit_serial("") == ""


def test_saveconfig_value_keeps_integers_as_integers():
    attrs = _captured_attrs()
    assert lio_parse.saveconfig_value(attrs["attrib/queue_depth"]) == 128
    assert lio_parse.saveconfig_value("-1") == -1
    assert lio_parse.saveconfig_value(attrs["wwn/company_id"]) == "0x001405"


@pytest.mark.parametrize(
    ("initiator", "expected"),
    [
        # The port GID of the guest's rxe0: ib_srp sends initiator_ext 0 + the GID's interface ID, and
        # the kernel's log line reads "i_port_id 0000:0000:0000:0000:5054:00ff:fe12:3456".
        ("fe80:0000:0000:0000:5054:00ff:fe12:3456", "0x0000000000000000505400fffe123456"),
        ("FE80:0000:0000:0000:0002:C903:0003:CCA7", "0x00000000000000000002c9030003cca7"),
        ("0x0000000000000000505400fffe123456", "0x0000000000000000505400fffe123456"),
        ("ib.0000000000000000505400fffe123456", "0x0000000000000000505400fffe123456"),
    ],
)
def test_acl_name(initiator, expected):
    assert lio_parse.acl_name(initiator) == expected


def test_acl_name_with_an_initiator_ext():
    assert lio_parse.acl_name("fe80:0000:0000:0000:5054:00ff:fe12:3456", initiator_ext=1) == (
        "0x0000000000000001505400fffe123456"
    )


@pytest.mark.parametrize("bad", ["10.0.2.15", "fe80::1", "0x1234", "", "fe80:0000:0000:0000:5054:00ff:fe12:zzzz"])
def test_acl_name_refuses_what_ib_srpt_would_never_match(bad):
    with pytest.raises(SaltInvocationError, match="invalid SRP initiator"):
        lio_parse.acl_name(bad)


def test_target_name_is_the_gid_form_rtslib_uses():
    assert lio_parse.target_name("fe80:0000:0000:0000:5054:00ff:fe12:3456") == "0xfe80000000000000505400fffe123456"
    with pytest.raises(CommandExecutionError, match="not a port GID: 'fe80::1'"):
        lio_parse.target_name("fe80::1")


def test_default_serial_is_stable_and_per_node():
    first = lio_parse.default_serial("mds01", "MDT0")
    assert first == lio_parse.default_serial("mds01", "MDT0")
    assert first != lio_parse.default_serial("mds02", "MDT0")
    assert uuid.UUID(first).version == 5


def test_naa_designator_takes_the_serials_hex_digits():
    # 6 + LIO's company_id 001405 + the first 25 hex digits of the serial (others skipped), padded.
    assert lio_parse.naa_designator("abc-123") == "6001405abc1230000000000000000000"
    serial = "6f1b7ad2-5e0c-4c3e-9a52-0123456789ab"
    assert lio_parse.naa_designator(serial) == "6001405" + "6f1b7ad25e0c4c3e9a5201234"
    assert lio_parse.initiator_by_id(serial) == "/dev/disk/by-id/scsi-36001405" + "6f1b7ad25e0c4c3e9a5201234"


def test_rdma_cm_port_conf_is_one_tmpfiles_write_line():
    assert lio_parse.rdma_cm_port_conf(5555) == (
        "w /sys/kernel/config/target/srpt/discovery_auth/rdma_cm_port - - - - 5555\n"
    )
    assert lio_parse.rdma_cm_port_conf("4444", "/x") == "w /x/srpt/discovery_auth/rdma_cm_port - - - - 4444\n"


@pytest.mark.parametrize("bad", ["MDT 0", "", None, "a/b"])
def test_check_name_refuses_what_configfs_would_misread(bad):
    with pytest.raises(SaltInvocationError, match="invalid LIO backstore name"):
        lio_parse.check_name("backstore", bad)


def test_check_lun():
    assert lio_parse.check_lun("7") == 7
    with pytest.raises(SaltInvocationError, match="invalid LUN 65536: an integer 0..65535"):
        lio_parse.check_lun(65536)
    with pytest.raises(SaltInvocationError, match="invalid LUN 'x': an integer 0..65535"):
        lio_parse.check_lun("x")


# The local RDMA ports as hostio.rdma_ports reads them: the guest's soft-RoCE port and a two-port HCA.
def _ports():
    return lio_parse.with_targets(
        [
            {
                "hca": "mlx5_0",
                "port": 1,
                "gid": "fe80:0000:0000:0000:0002:c903:00b7:7f41",
                "link_layer": "InfiniBand",
                "state": "1: DOWN",
                "node_guid": "0002:c903:00b7:7f40",
            },
            {"hca": "mlx5_0", "port": 2, "gid": None, "link_layer": None, "state": None, "node_guid": None},
            {
                "hca": "rxe0",
                "port": 1,
                "gid": "fe80:0000:0000:0000:5054:00ff:fe12:3456",
                "link_layer": "Ethernet",
                "state": "4: ACTIVE",
                "node_guid": "5054:00ff:fe12:3456",
            },
        ]
    )


def test_with_targets_names_each_ports_srpt_target():
    assert [p["target"] for p in _ports()] == [
        "0xfe800000000000000002c90300b77f41",
        None,
        "0xfe80000000000000505400fffe123456",
    ]


def test_local_targets_is_the_mines_shape():
    targets = {"0xfe80000000000000505400fffe123456": {"enabled": True}}
    (down, rxe) = lio_parse.local_targets(_ports(), targets)
    assert down["enabled"] is False and down["login_info"]["ioc_guid"] == "0002c90300b77f40"
    assert rxe == {
        "target": "0xfe80000000000000505400fffe123456",
        "enabled": True,
        "scheme": "port_gid",
        "hca": "rxe0",
        "port": 1,
        "link_layer": "Ethernet",
        "gid": "fe80:0000:0000:0000:5054:00ff:fe12:3456",
        "login_info": {
            "tid_ext": "505400fffe123456",
            "ioc_guid": "505400fffe123456",
            "pkey": "ffff",
            "dgid": "fe80000000000000505400fffe123456",
            "service_id": "505400fffe123456",
        },
    }


def test_port_target_takes_the_one_active_port_or_the_one_named():
    ports = _ports()
    assert lio_parse.port_target(ports) == "0xfe80000000000000505400fffe123456"
    assert lio_parse.port_target(ports, hca="mlx5_0") == "0xfe800000000000000002c90300b77f41"
    assert lio_parse.port_target(ports, hca="mlx5_0", port="1") == "0xfe800000000000000002c90300b77f41"
    with pytest.raises(CommandExecutionError) as exc:
        lio_parse.port_target(ports, hca="mlx5_0", port=2)
    assert str(exc.value) == (
        "cannot choose one local RDMA port for the LIO SRP target (hca=mlx5_0 port=2): 0 match; ports: "
        "mlx5_0 port 1 (1: DOWN), mlx5_0 port 2 (None), rxe0 port 1 (4: ACTIVE). Set hca and port."
    )
