"""Pure parsing/rendering functions of the scst module, on real SCST texts."""

import re

import pytest

from tests.captures import parse_tree, scst_capture
from tests.loadermods import load

scst = load("_modules", "scst")


def _tree(name):
    return {path: payload for kind, _mode, path, payload in parse_tree(scst_capture(name).read_text()) if kind != "D"}


def test_parse_attr_key_marker_and_multiline():
    tree = _tree("tree-1-configured.txt")
    assert scst.parse_attr(tree["devices/MDT1/filename"]) == ("/dev/loop0", True)
    assert scst.parse_attr(tree["devices/MDT1/usn"]) == ("80130d8a", False)
    assert scst.parse_attr(tree["devices/MDT1/blocksize"]) == ("4096", True)
    assert scst.parse_attr(tree["devices/MDT1/pr_state"]) == ("version 1\ngeneration 0", False)
    assert scst.parse_attr(tree["cluster_name"]) == ("", False)
    assert scst.parse_attr(b"1\n[key]\n") == ("1", True)


def test_parse_create_params_from_real_help_texts():
    tree = _tree("tree-0-loaded.txt")
    blockio = scst.parse_create_params(tree["handlers/vdisk_blockio/mgmt"])
    assert blockio[0] == "active" and blockio[-1] == "write_through" and len(blockio) == 18
    assert "o_direct" in scst.parse_create_params(tree["handlers/vdisk_fileio/mgmt"])
    assert scst.parse_create_params(tree["handlers/vcdrom/mgmt"]) == ["tst"]
    assert scst.parse_create_params("no such line") == []


def test_parse_export_link_real_links():
    tree = _tree("tree-1-configured.txt")
    grp = scst.parse_export_link(tree["devices/MDT1/exported/export1"])
    assert grp == {
        "driver": "ib_srpt",
        "target": "fe80:0000:0000:0000:5054:00ff:fe12:3456",
        "group": "MDS",
        "lun": 0,
    }
    default = scst.parse_export_link(tree["devices/F1/exported/export0"])
    assert default == {"driver": "copy_manager", "target": "copy_manager_tgt", "group": None, "lun": 2}


def test_split_create_attrs_moves_non_create_params_after_creation():
    params = scst.parse_create_params(_tree("tree-0-loaded.txt")["handlers/vdisk_blockio/mgmt"])
    create, later = scst.split_create_attrs(
        params, {"cluster_mode": "0", "filename": "/dev/x", "t10_vend_id": "MDTM", "blocksize": "4096"}
    )
    # ops.txt: t10_vend_id in add_device is EINVAL; cluster_mode must come last (SCST PR #135).
    assert list(create) == ["filename", "blocksize", "cluster_mode"]
    assert later == {"t10_vend_id": "MDTM"}


def test_parse_modprobe_options():
    text = (
        "# comment\noptions ib_srpt rdma_cm_port=5555 \\\n  use_srq=1  # why\n"
        "options ib-srpt srp_max_req_size=8296\noptions scst scst_threads=4\ninstall ib_srpt /bin/true\n"
    )
    assert scst.parse_modprobe_options(text, "ib_srpt") == {
        "rdma_cm_port": "5555",
        "use_srq": "1",
        "srp_max_req_size": "8296",
    }
    assert scst.parse_modprobe_options(text, "scst") == {"scst_threads": "4"}
    assert scst.parse_modprobe_options(None, "scst") == {}


def test_parse_default_scst():
    text = 'SCST_TARGET_MODULES="ib_srpt"\nib_srpt_parameters="rdma_cm_port=5555 use_srq=1"\n# comment\n'
    assert scst.parse_default_scst(text) == {
        "SCST_TARGET_MODULES": "ib_srpt",
        "ib_srpt_parameters": "rdma_cm_port=5555 use_srq=1",
    }


@pytest.mark.parametrize(
    "value",
    ["/dev/a b", "x;blocksize=512", "a=b", "x\ny", ""],
)
def test_mgmt_values_cannot_smuggle_tokens(value):
    with pytest.raises(scst.SaltInvocationError, match="invalid value"):
        scst._check_value("filename", value)


@pytest.mark.parametrize("name", ["MDT 1", "MDT;1", "a=b", "", "x" * 65, "a/b"])
def test_invalid_names_refused(name):
    with pytest.raises(scst.SaltInvocationError, match="invalid device name"):
        scst._check_name("device", name)


@pytest.mark.parametrize("blocksize", [131072, 2048, 8192, "0x20000"])
def test_blocksize_other_than_512_or_4096_refused(blocksize):
    with pytest.raises(scst.CommandExecutionError, match="not 512 or 4096"):
        scst._check_metadata_attrs("MDT1", {"blocksize": str(blocksize)})


def test_nv_cache_refused_unless_allowed():
    with pytest.raises(scst.CommandExecutionError, match="nv_cache=1"):
        scst._check_metadata_attrs("MDT1", {"nv_cache": "1"})
    scst._check_metadata_attrs("MDT1", {"nv_cache": "1"}, allow_nv_cache=True)


def test_render_config_quotes_and_read_only_luns():
    config = {
        "handlers": {"vdisk_blockio": {"M": {"filename": "/dev/x y", "t10_vend_id": "A#B"}}},
        "drivers": {
            "ib_srpt": {
                "T": {
                    "attributes": {"rel_tgt_id": "1"},
                    "enabled": False,
                    "luns": {},
                    "groups": {"G": {"luns": {0: {"device": "M", "read_only": True}}, "initiators": ["10.0.0.1"]}},
                }
            }
        },
    }
    text = scst.render_config(config)
    assert '\t\tfilename "/dev/x y"' in text
    assert "\t\tt10_vend_id A\\#B" in text
    assert "\t\tenabled 0" in text
    assert "\t\t\tLUN 0 M {\n\t\t\t\tread_only 1\n\t\t\t}" in text


def test_initiator_by_id_is_the_name_udev_gave_the_captured_lun():
    """The captured SCST named device MDT1 ``80130d8a-MDT1`` (setup_id 0), and
    the initiator's udev linked its disk as ``scsi-23830313330643861``."""
    tree = _tree("tree-1-configured.txt")
    t10, _ = scst.parse_attr(tree["devices/MDT1/t10_dev_id"])
    assert scst.default_t10_dev_id("MDT1") == t10 == "80130d8a-MDT1"
    login = scst_capture("login.txt").read_text()
    (link,) = re.findall(r" (scsi-2[0-9a-f]+) -> \.\./\.\./sda$", login, re.M)
    assert scst.initiator_by_id("MDT1") == "/dev/disk/by-id/" + link
    # Another name, another id; identifiers given in the pillar win.
    assert scst.initiator_by_id("MDT0") != scst.initiator_by_id("MDT1")
    assert scst.initiator_by_id("MDT1", {"t10_dev_id": "mdt0-mds01"}) == "/dev/disk/by-id/scsi-2" + b"mdt0-mds".hex()
    assert scst.initiator_by_id("MDT1", {"eui64_id": "0x0011223344556677"}) == "/dev/disk/by-id/scsi-20011223344556677"
    assert scst.initiator_by_id("MDT1", {"naa_id": "6001405abcdef012"}) == "/dev/disk/by-id/scsi-36001405abcdef012"
    with pytest.raises(Exception, match="invalid device name"):
        scst.initiator_by_id("MDT 1")
