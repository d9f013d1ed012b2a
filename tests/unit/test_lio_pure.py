"""Pure functions of the lio module, on texts the real kernel printed (captures of Linux 6.1's LIO)."""

import uuid

import pytest
from salt.exceptions import SaltInvocationError

from tests.captures import captures_dir
from tests.loadermods import load

lio = load("_modules", "lio")

LIO_CAPTURE = captures_dir() / "linux-6.1-openzfs-2.3.2" / "lio"


def _captured_attrs():
    values = {}
    for line in (LIO_CAPTURE / "fileio_attrs.txt").read_text().splitlines():
        path, _, value = line.partition(": ")
        values[path.rsplit("/disk0/", 1)[-1]] = value.rstrip()
    return values


def test_parse_info_on_the_captured_fileio_backstore():
    info = lio.parse_info(_captured_attrs()["info"])
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
    info = lio.parse_info(text)
    assert info["Status"] == "DEACTIVATED"
    assert info["UDEV PATH"] == "/dev/loop0"
    assert info["readonly"] == "0"
    assert info["iBlock device"] == "loop0"


def test_parse_unit_serial_empty_and_set():
    assert lio.parse_unit_serial(_captured_attrs()["wwn/vpd_unit_serial"]) == ""
    assert lio.parse_unit_serial("T10 VPD Unit Serial Number: abc-123") == "abc-123"
    assert lio.parse_unit_serial("") == ""


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
    assert lio.acl_name(initiator) == expected


def test_acl_name_with_an_initiator_ext():
    assert lio.acl_name("fe80:0000:0000:0000:5054:00ff:fe12:3456", initiator_ext=1) == (
        "0x0000000000000001505400fffe123456"
    )


@pytest.mark.parametrize("bad", ["10.0.2.15", "fe80::1", "0x1234", "", "fe80:0000:0000:0000:5054:00ff:fe12:zzzz"])
def test_acl_name_refuses_what_ib_srpt_would_never_match(bad):
    with pytest.raises(SaltInvocationError, match="invalid SRP initiator"):
        lio.acl_name(bad)


def test_target_name_is_the_gid_form_rtslib_uses():
    assert lio.target_name("fe80:0000:0000:0000:5054:00ff:fe12:3456") == "0xfe80000000000000505400fffe123456"


def test_default_serial_is_stable_and_per_node():
    first = lio.default_serial("mds01", "MDT0")
    assert first == lio.default_serial("mds01", "MDT0")
    assert first != lio.default_serial("mds02", "MDT0")
    assert uuid.UUID(first).version == 5


def test_naa_designator_takes_the_serials_hex_digits():
    # 6 + LIO's company_id 001405 + the first 25 hex digits of the serial (others skipped), padded.
    assert lio.naa_designator("abc-123") == "6001405abc1230000000000000000000"
    serial = "6f1b7ad2-5e0c-4c3e-9a52-0123456789ab"
    assert lio.naa_designator(serial) == "6001405" + "6f1b7ad25e0c4c3e9a5201234"
    assert lio.initiator_by_id(serial) == "/dev/disk/by-id/scsi-36001405" + "6f1b7ad25e0c4c3e9a5201234"


def test_rdma_cm_port_conf_is_one_tmpfiles_write_line():
    assert lio.rdma_cm_port_conf(5555) == "w /sys/kernel/config/target/srpt/discovery_auth/rdma_cm_port - - - - 5555\n"


def test_validate_backstore_names_the_bad_device_or_name(tmp_path):
    regular = tmp_path / "disk.img"
    regular.write_text("")
    with pytest.raises(SaltInvocationError, match=rf"backstore MDT0: {regular} is not a block device"):
        lio.validate_backstore("MDT0", str(regular))
    with pytest.raises(SaltInvocationError, match="backstore MDT0: device 'sdb' must be an absolute path"):
        lio.validate_backstore("MDT0", "sdb")
    with pytest.raises(SaltInvocationError, match="invalid LIO backstore name 'MDT 0'"):
        lio.validate_backstore("MDT 0", "/dev/sdb")
    # Not there yet (a zvol the same run makes): allowed, the real run's create names it if still missing.
    assert lio.validate_backstore("MDT0", str(tmp_path / "zvol-to-be")) is True
