"""The scst module's readers on a real SCST tree (captured, materialized as files).

tree-1-configured.txt is /sys/kernel/scst_tgt of a running SCST after the
operations of ops.txt; scst.conf.written is what scstadmin -write_config wrote
from that same state.
"""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import scst_parse
from tests.captures import materialize, parse_tree, scst_capture

TGT = "fe80:0000:0000:0000:5054:00ff:fe12:3456"


@pytest.fixture(scope="module")
def scst(tmp_path_factory, module_salt_loaders):
    tree = materialize(
        parse_tree(scst_capture("tree-1-configured.txt").read_text()), tmp_path_factory.mktemp("t") / "scst_tgt"
    )
    loaders = module_salt_loaders(mdtmirror={"paths": {"scst_tgt": str(tree)}})
    return loaders.modules


def test_version(scst):
    assert scst.scst.version() == "3.11.0-pre"


def test_list_devices_reads_real_tree(scst):
    devices = scst.scst.list_devices()
    # The host's own CD-ROM appears as a pass-through device with no handler.
    assert set(devices) == {"1:0:0:0", "F1", "MDT1"}
    assert devices["1:0:0:0"]["handler"] is None and devices["1:0:0:0"]["pass_through"] is True
    assert devices["MDT1"]["pass_through"] is False and devices["F1"]["pass_through"] is False
    mdt = devices["MDT1"]
    assert mdt["handler"] == "vdisk_blockio"
    assert mdt["filename"] == "/dev/loop0"
    assert mdt["attributes"]["blocksize"] == "4096"
    assert mdt["attributes"]["nv_cache"] == "0"
    assert mdt["attributes"]["pr_state"] == "version 1\ngeneration 0"
    assert {"blocksize", "filename", "prod_id", "size", "t10_vend_id"} <= set(mdt["key_attributes"])
    assert "usn" not in mdt["key_attributes"]
    assert "size" in mdt["writable"] and "blocksize" not in mdt["writable"]
    assert mdt["exported"] == [
        {"driver": "copy_manager", "target": "copy_manager_tgt", "group": None, "lun": 0},
        {"driver": "ib_srpt", "target": TGT, "group": "MDS", "lun": 0},
    ]
    assert devices["F1"]["exported"][1] == {"driver": "ib_srpt", "target": TGT, "group": None, "lun": 0}


def test_list_targets_reads_groups_luns_initiators(scst):
    targets = scst.scst.list_targets()
    assert set(targets) == {"copy_manager", "ib_srpt"}
    srpt = targets["ib_srpt"][TGT]
    assert srpt["enabled"] is True
    assert srpt["luns"] == {0: {"device": "F1", "read_only": False}}
    assert srpt["groups"] == {"MDS": {"luns": {0: {"device": "MDT1", "read_only": False}}, "initiators": ["10.0.2.15"]}}
    assert srpt["attributes"]["rel_tgt_id"] == "1"
    assert "rel_tgt_id" in srpt["key_attributes"]
    assert scst.scst.list_groups(TGT) == srpt["groups"]
    assert scst.scst.show_target(TGT) == srpt


@pytest.mark.parametrize(
    ("parts", "keys"),
    [
        (["enabled"], ["enabled"]),
        (["groups"], ["groups"]),
        ("luns,enabled", ["enabled", "luns"]),  # as the CLI passes it
        (["attributes"], ["attributes", "key_attributes", "writable"]),
        (["sessions"], ["session_info", "sessions"]),
    ],
)
def test_show_target_reads_the_parts_asked_as_list_targets_shows_them(scst, parts, keys):
    whole = scst.scst.list_targets("ib_srpt")["ib_srpt"][TGT]
    part = scst.scst.show_target(TGT, parts=parts)
    assert sorted(part) == sorted(["driver", "name", *keys])
    assert part == {k: whole[k] for k in part}


def test_show_target_names_a_bad_part_and_a_missing_target(scst):
    with pytest.raises(SaltInvocationError, match="unknown target info part\\(s\\) lun: use enabled"):
        scst.scst.show_target(TGT, parts=["lun"])
    with pytest.raises(
        CommandExecutionError, match=f"SCST target ib_srpt/nosuch does not exist; targets of ib_srpt: {TGT}"
    ):
        scst.scst.show_target("nosuch")


def test_sessions_name_their_initiator_and_luns(module_salt_loaders, tmp_path):
    """tree-2-session: one initiator (10.0.2.15) logged in on two channels; SCST names the second
    session's directory 10.0.2.15_1, its initiator_name says who it is, its luns link the group's set."""
    # tree-2 is the captured targets/ subtree; the rest of the tree (devices, version) as in tree-1.
    rest = [e for e in parse_tree(scst_capture("tree-1-configured.txt").read_text()) if not e[2].startswith("targets")]
    tree = materialize(rest + parse_tree(scst_capture("tree-2-session.txt").read_text()), tmp_path / "scst_tgt")
    scst = module_salt_loaders(mdtmirror={"paths": {"scst_tgt": str(tree)}}).modules.scst
    srpt = scst.list_targets("ib_srpt")["ib_srpt"][TGT]
    assert srpt["sessions"] == ["10.0.2.15", "10.0.2.15_1"]
    assert srpt["session_info"] == {
        "10.0.2.15": {"initiator_name": "10.0.2.15", "luns": {0: "MDT1"}},
        "10.0.2.15_1": {"initiator_name": "10.0.2.15", "luns": {0: "MDT1"}},
    }


def test_list_handlers_parses_create_params(scst):
    handlers = scst.scst.list_handlers()
    assert handlers["vdisk_blockio"]["devices"] == ["MDT1"]
    assert "t10_dev_id" in handlers["vdisk_blockio"]["create_params"]
    assert "t10_vend_id" not in handlers["vdisk_blockio"]["create_params"]
    assert handlers["vcdrom"]["create_params"] == ["tst"]


def test_old_target_name_error_points_to_port_gid_scheme(scst):
    with pytest.raises(Exception, match="since SCST 3.1 ib_srpt names one target per HCA port"):
        scst.scst.list_groups("ib_srpt_target_0")


def _expected_conf():
    """scstadmin's file, minus the differences mdtmirror makes on purpose."""
    lines = scst_capture("scst.conf.written").read_text().splitlines()
    out, skip = [], False
    for line in lines[1:]:  # header names the writer
        if line.startswith("TARGET_DRIVER copy_manager"):
            skip = True  # SCST re-creates copy_manager LUNs itself
        if not skip and not line.strip().startswith("size "):  # never pin a LUN's size
            out.append(line)
        if skip and line == "}":
            skip = False
    return "\n".join(out).strip("\n")


def test_write_config_matches_scstadmin_except_size_and_copy_manager(scst, tmp_path):
    result = scst.scst.write_config(path=str(tmp_path / "scst.conf"))
    assert result["changed"] is True
    written = (tmp_path / "scst.conf").read_text()
    body = "\n".join(written.splitlines()[1:]).strip("\n")
    # Collapse blank-line runs: scstadmin separates blocks with two blank lines.
    norm = lambda text: "\n".join(line for line in text.splitlines() if line.strip())  # noqa: E731
    assert norm(body) == norm(_expected_conf())
    assert "\t\tenabled 1" in written
    again = scst.scst.write_config(path=str(tmp_path / "scst.conf"))
    assert again["changed"] is False


@pytest.mark.parametrize("targets_tree", ["tree-1-configured.txt", "tree-2-session.txt"])
def test_running_config_reads_less_and_gives_what_the_full_listings_give(module_salt_loaders, tmp_path, targets_tree):
    """scst.running_config reads only what scst.conf needs; the same data from the whole listings
    (handlers, every device, every target with sessions) must give the same configuration."""
    rest = [e for e in parse_tree(scst_capture("tree-1-configured.txt").read_text()) if not e[2].startswith("targets")]
    targets = [e for e in parse_tree(scst_capture(targets_tree).read_text()) if e[2].startswith("targets")]
    tree = materialize(rest + targets, tmp_path / "scst_tgt")
    scst = module_salt_loaders(mdtmirror={"paths": {"scst_tgt": str(tree)}}).modules.scst
    whole = scst_parse.running_config(scst.list_handlers(), scst.list_devices(), scst.list_targets())
    assert scst.running_config() == whole
    assert whole["handlers"]["vdisk_blockio"]["MDT1"] and whole["drivers"]["ib_srpt"][TGT]["groups"]["MDS"]
