"""What SCST and a metadata target accept (mdtmirror_lib.scst_rules): names and values SCST's mgmt
tokenizer would split, the metadata-safety rules, a device declaration checked before any write,
udev's name for an exported device, the choice of a port's target."""

import re

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import scst_parse
from mdtmirror_lib import scst_rules as rules
from tests.captures import parse_tree, scst_capture


def _tree(name):
    return {path: payload for kind, _mode, path, payload in parse_tree(scst_capture(name).read_text()) if kind != "D"}


@pytest.mark.parametrize(
    "value",
    ["/dev/a b", "x;blocksize=512", "a=b", "x\ny", ""],
)
def test_mgmt_values_cannot_smuggle_tokens(value):
    with pytest.raises(SaltInvocationError, match="invalid value"):
        rules.check_value("filename", value)


@pytest.mark.parametrize("name", ["MDT 1", "MDT;1", "a=b", "", "x" * 65, "a/b"])
def test_invalid_names_refused(name):
    with pytest.raises(SaltInvocationError, match="invalid device name"):
        rules.check_name("device", name)


@pytest.mark.parametrize("blocksize", [131072, 2048, 8192, "0x20000"])
def test_blocksize_other_than_512_or_4096_refused(blocksize):
    with pytest.raises(CommandExecutionError, match="not 512 or 4096"):
        rules.check_metadata_attrs("MDT1", {"blocksize": str(blocksize)})


def test_nv_cache_refused_unless_allowed():
    with pytest.raises(CommandExecutionError, match="nv_cache=1"):
        rules.check_metadata_attrs("MDT1", {"nv_cache": "1"})
    rules.check_metadata_attrs("MDT1", {"nv_cache": "1"}, allow_nv_cache=True)


def test_initiator_by_id_is_the_name_udev_gave_the_captured_lun():
    """The captured SCST named device MDT1 ``80130d8a-MDT1`` (setup_id 0), and
    the initiator's udev linked its disk as ``scsi-23830313330643861``."""
    tree = _tree("tree-1-configured.txt")
    t10, _ = scst_parse.parse_attr(tree["devices/MDT1/t10_dev_id"])
    assert scst_parse.default_t10_dev_id("MDT1") == t10 == "80130d8a-MDT1"
    login = scst_capture("login.txt").read_text()
    (link,) = re.findall(r" (scsi-2[0-9a-f]+) -> \.\./\.\./sda$", login, re.M)
    assert rules.initiator_by_id("MDT1") == "/dev/disk/by-id/" + link
    # Another name, another id; identifiers given in the pillar win.
    assert rules.initiator_by_id("MDT0") != rules.initiator_by_id("MDT1")
    assert rules.initiator_by_id("MDT1", {"t10_dev_id": "mdt0-mds01"}) == "/dev/disk/by-id/scsi-2" + b"mdt0-mds".hex()
    assert rules.initiator_by_id("MDT1", {"eui64_id": "0x0011223344556677"}) == "/dev/disk/by-id/scsi-20011223344556677"
    assert rules.initiator_by_id("MDT1", {"naa_id": "6001405abcdef012"}) == "/dev/disk/by-id/scsi-36001405abcdef012"
    with pytest.raises(Exception, match="invalid device name"):
        rules.initiator_by_id("MDT 1")


BLOCKIO_PARAMS = list(rules.VDISK_CREATE_PARAMS["vdisk_blockio"])


def test_validate_device_splits_create_params_from_later_attrs():
    create, later = rules.validate_device(
        "MDT1",
        "vdisk_blockio",
        {"filename": "/dev/x", "blocksize": 4096, "t10_vend_id": "MDTM", "cluster_mode": 0},
        create_params=lambda: BLOCKIO_PARAMS,
    )
    assert create == {"filename": "/dev/x", "blocksize": "4096", "cluster_mode": "0"}
    assert later == {"t10_vend_id": "MDTM"}


def test_validate_device_without_scst_loaded_checks_against_scst_3_11():
    attrs = {"filename": "/dev/x", "t10_vend_id": "MDTM"}
    assert rules.validate_device("MDT1", "vdisk_blockio", attrs, create_params=lambda: None) == (attrs, {})
    with pytest.raises(CommandExecutionError, match="vdisk_blockio has no attribute nosuch"):
        rules.validate_device("MDT1", "vdisk_blockio", {"filename": "/dev/x", "nosuch": 1}, create_params=lambda: None)


def test_validate_device_checks_values_before_the_backing_path_and_the_handler():
    asked = []

    def backing(handler, filename):
        asked.append((handler, filename))
        return "is held exclusively by zfs"

    with pytest.raises(SaltInvocationError, match="needs a filename"):
        rules.validate_device("MDT1", "vdisk_blockio", {}, backing_problem=backing)
    with pytest.raises(SaltInvocationError, match="must be an absolute path"):
        rules.validate_device("MDT1", "vdisk_blockio", {"filename": "dev/x"}, backing_problem=backing)
    with pytest.raises(CommandExecutionError, match="not 512 or 4096"):
        rules.validate_device(
            "MDT1", "vdisk_blockio", {"filename": "/dev/x", "blocksize": 8192}, backing_problem=backing
        )
    assert asked == []
    with pytest.raises(CommandExecutionError, match="filename /dev/x is held exclusively by zfs"):
        rules.validate_device(
            "MDT1", "vdisk_blockio", {"filename": "/dev/x"}, backing_problem=backing, create_params=asked.pop
        )
    assert asked == [("vdisk_blockio", "/dev/x")]


def test_format_options_sorted_and_checked():
    assert rules.format_options({"use_srq": True, "rdma_cm_port": 5555}) == ["rdma_cm_port=5555", "use_srq=1"]
    with pytest.raises(SaltInvocationError, match="invalid value"):
        rules.format_options({"x": "a b"})


def _port_target(name, hca, port, scheme="port_gid"):
    return {"target": name, "hca": hca, "port": port, "scheme": scheme}


def test_choose_port_target_narrows_to_the_active_port_only_when_asked_nothing():
    targets = [_port_target("gid1", "mlx5_0", 1), _port_target("gid2", "mlx5_0", 2)]
    ports = [{"hca": "mlx5_0", "port": 1, "state": "1: DOWN"}, {"hca": "mlx5_0", "port": 2, "state": "4: ACTIVE"}]
    assert rules.choose_port_target(targets, lambda: ports) == "gid2"
    assert rules.choose_port_target(targets, None, hca="mlx5_0", port=1) == "gid1"
    with pytest.raises(CommandExecutionError, match="cannot choose one ib_srpt target for no hca/port given: 2 match"):
        rules.choose_port_target(targets, lambda: [])
    # A pre-3.1 per-HCA target has no port: any port of its HCA matches.
    assert rules.choose_port_target([_port_target("ib_srpt_target_0", "mlx4_0", None, "per_hca")], None, port=1) == (
        "ib_srpt_target_0"
    )
