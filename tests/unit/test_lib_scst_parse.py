"""SCST's texts as the library parses and renders them (mdtmirror_lib.scst_parse, and the modprobe.d
options of mdtmirror_lib.modprobe), on real SCST texts (tests/golden/scst-3.11-pre-linux-6.1)."""

from mdtmirror_lib import modprobe
from mdtmirror_lib import scst_parse as scst
from tests.captures import parse_tree, scst_capture


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
    assert modprobe.options(text, "ib_srpt") == {
        "rdma_cm_port": "5555",
        "use_srq": "1",
        "srp_max_req_size": "8296",
    }
    assert modprobe.options(text, "scst") == {"scst_threads": "4"}
    assert modprobe.options(None, "scst") == {}


def test_parse_default_scst():
    text = 'SCST_TARGET_MODULES="ib_srpt"\nib_srpt_parameters="rdma_cm_port=5555 use_srq=1"\n# comment\n'
    assert scst.parse_default_scst(text) == {
        "SCST_TARGET_MODULES": "ib_srpt",
        "ib_srpt_parameters": "rdma_cm_port=5555 use_srq=1",
    }


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
