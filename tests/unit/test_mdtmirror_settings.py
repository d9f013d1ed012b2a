"""The formula's pillar rules (_modules/mdtmirror.py): pillar.example resolves
clean for both of its nodes, and each kind of mistake the issue names ends in
one error that names the pillar key. The host checks (block device, LUN
number already used) run through the real Salt loader on a directory that
stands for the host."""

import copy
import os
import re

import pytest
import yaml

from tests.captures import REPO
from tests.loadermods import load

settings_mod = load("_modules", "mdtmirror")
DEFAULTS = yaml.safe_load((REPO / "salt/mdtmirror/defaults.yaml").read_text())["mdtmirror"]
EXAMPLE = yaml.safe_load((REPO / "pillar.example").read_text())["mdtmirror"]
SCHEMA = yaml.safe_load((REPO / "salt/mdtmirror/schema.yaml").read_text())["mdtmirror"]


def resolve(pillar, minion="mds01"):
    return settings_mod.resolve(DEFAULTS, pillar, minion, SCHEMA)


def example():
    pillar = copy.deepcopy(EXAMPLE)
    pillar.pop("node")  # per-minion facts: the pair's node entries carry them
    pillar["mirror"].pop("owner")  # the pair names its owner
    return pillar


def test_pillar_example_resolves_clean_for_both_nodes():
    for minion, peer, lun in (("mds01", "mds02", "c3d4"), ("mds02", "mds01", "c3d5")):
        cfg = resolve(example(), minion)
        assert cfg["errors"] == [], minion
        assert (cfg["pair"], cfg["peer"]) == ("fs1-mdt0", peer)
        assert cfg["node"]["lun_path"].endswith(lun)
        assert cfg["mirror"]["owner"] == "mds01" and cfg["mirror"]["pool"] == "mdtpool"
        assert cfg["target"]["module_options"] == {"ib_srpt": {"rdma_cm_port": 5555}}
    # pillar.example as written (node + owner at the top level too) is valid as well.
    assert resolve(copy.deepcopy(EXAMPLE))["errors"] == []


def test_a_pair_may_use_the_lio_backend():
    pillar = example()
    pillar["pairs"]["fs1-mdt0"]["target"] = {"backend": "lio", "lio": {"rdma_cm_port": 5555}}
    cfg = resolve(pillar)
    assert cfg["errors"] == []
    assert cfg["target"]["backend"] == "lio"
    # The pair's lio keys merge over the defaults' (modules, config file, service stay).
    assert cfg["target"]["lio"]["rdma_cm_port"] == 5555
    assert cfg["target"]["lio"]["modules"] == ["target_core_mod", "target_core_file", "ib_srpt"]
    assert cfg["target"]["lio"]["config_file"] == "/etc/rtslib-fb-target/saveconfig.json"


def test_a_pair_overrides_sections_for_its_nodes_only():
    pillar = example()
    pillar["pairs"]["fs1-mdt0"]["target"] = {"device": "MDT7", "attributes": {"rotational": 0}}
    pillar["pairs"]["fs1-mdt1"] = {
        "nodes": {"mds03": {"lun_path": "/dev/sdb"}, "mds04": {"lun_path": "/dev/sdb"}},
        "owner": "mds04",
        "pool": "mdt1pool",
    }
    cfg = resolve(pillar)
    assert cfg["target"]["device"] == "MDT7"
    assert cfg["target"]["attributes"] == {"blocksize": 4096, "rotational": 0}
    other = resolve(pillar, "mds03")
    assert other["errors"] == []
    assert (other["target"]["device"], other["mirror"]["pool"], other["mirror"]["owner"]) == (
        "MDT0",
        "mdt1pool",
        "mds04",
    )
    assert other["peer"] == "mds04"


def error_of(pillar, minion="mds01"):
    errors = resolve(pillar, minion)["errors"]
    assert len(errors) == 1, errors
    return errors[0]


def test_node_named_in_two_pairs():
    pillar = example()
    pillar["pairs"]["fs1-mdt1"] = {
        "nodes": {"mds02": {"lun_path": "/dev/sdb"}, "mds03": {"lun_path": "/dev/sdb"}},
        "owner": "mds03",
    }
    assert error_of(pillar, "mds02") == (
        "minion mds02 is a node of two pairs: mdtmirror:pairs:fs1-mdt0 and mdtmirror:pairs:fs1-mdt1"
    )
    assert resolve(pillar, "mds01")["errors"] == []  # mds01's own pillar is fine


@pytest.mark.parametrize(
    "breakage, key",
    [
        (
            lambda p: p["pairs"]["fs1-mdt0"]["nodes"].update(mds03={"lun_path": "/dev/sdc"}),
            "mdtmirror:pairs:fs1-mdt0:nodes",
        ),
        (lambda p: p["pairs"]["fs1-mdt0"]["nodes"].update(mds01={}), "mdtmirror:pairs:fs1-mdt0:nodes:mds01:lun_path"),
        (lambda p: p["pairs"]["fs1-mdt0"]["nodes"].update(mds01=None), "mdtmirror:pairs:fs1-mdt0:nodes:mds01:lun_path"),
        (
            lambda p: p["pairs"]["fs1-mdt0"]["nodes"]["mds01"].update(lun_path="sdb"),
            "mdtmirror:pairs:fs1-mdt0:nodes:mds01:lun_path",
        ),
        (
            lambda p: p["pairs"]["fs1-mdt0"]["nodes"]["mds01"].update(lunpath="/dev/sdb"),
            "mdtmirror:pairs:fs1-mdt0:nodes:mds01:lunpath",
        ),
        (
            lambda p: p["pairs"]["fs1-mdt0"]["nodes"]["mds01"].update(zvol={"name": "t/v", "size": "1G"}),
            "mdtmirror:pairs:fs1-mdt0:nodes:mds01:lun_path",
        ),
        (lambda p: p["pairs"]["fs1-mdt0"].update(owner="mds09"), "mdtmirror:pairs:fs1-mdt0:owner"),
        (lambda p: p["pairs"]["fs1-mdt0"].pop("owner"), "mdtmirror:pairs:fs1-mdt0:owner"),
        (lambda p: p["pairs"]["fs1-mdt0"].update(pool="1pool"), "mdtmirror:pairs:fs1-mdt0:pool"),
        (lambda p: p["pairs"]["fs1-mdt0"].update(target={"lun": 16384}), "mdtmirror:pairs:fs1-mdt0:target:lun"),
        (lambda p: p["target"].update(lun="zero"), "mdtmirror:target:lun"),
        (lambda p: p["target"].update(group="MDS servers"), "mdtmirror:target:group"),
        (lambda p: p["target"].update(devcie="MDT1"), "mdtmirror:target:devcie"),
        (lambda p: p.update(snapshot={"enabled": False}), "mdtmirror:snapshot"),
        (lambda p: p["snapshots"].update(policy={"hourly": 48, "dayly": 7}), "mdtmirror:snapshots:policy:dayly"),
        (lambda p: p["snapshots"].update(interval=0), "mdtmirror:snapshots:interval"),
        (lambda p: p["snapshots"].update(enabled="no"), "mdtmirror:snapshots:enabled"),
        (lambda p: p["mirror"].update(force="yes"), "mdtmirror:mirror:force"),
        (lambda p: p["backup"].update(destination="/backup"), "mdtmirror:backup:destination"),
        (lambda p: p["initiator"].update(match="0002c903"), "mdtmirror:initiator:match"),
        (lambda p: p["pairs"]["fs1-mdt0"].update(mirorr={"force": True}), "mdtmirror:pairs:fs1-mdt0:mirorr"),
        (lambda p: p.update(node={"initiator": ["10.0.0.2"]}), "mdtmirror:node:initiator"),
        (
            lambda p: p["pairs"]["fs1-mdt0"].update(target={"modules": ["scst"], "grup": "X"}),
            "mdtmirror:pairs:fs1-mdt0:target:grup",
        ),
        (lambda p: p["target"].update(backend="iet"), "mdtmirror:target:backend"),
        (lambda p: p["target"].update(backend="lio", lio={"rdma_cm_port": 70000}), "mdtmirror:target:lio:rdma_cm_port"),
        (lambda p: p["target"].update(backend="lio", lio={"rdma_cm_prot": 5555}), "mdtmirror:target:lio:rdma_cm_prot"),
        (lambda p: p["target"].update(lio={"config_file": "saveconfig.json"}), "mdtmirror:target:lio:config_file"),
        (lambda p: p["target"].update(lio={"modules": []}), "mdtmirror:target:lio:modules"),
        (lambda p: p["failover"].update(auto="yes"), "mdtmirror:failover:auto"),
        (lambda p: p["failover"].update(automatic=True), "mdtmirror:failover:automatic"),
    ],
)
def test_each_mistake_is_one_error_naming_its_key(breakage, key):
    pillar = example()
    breakage(pillar)
    error = error_of(pillar)
    assert re.search(rf"(?:^|\s){re.escape(key)}(?:\s|:|$)", error), error


def test_a_minion_in_no_pair_uses_its_own_node_facts():
    pillar = example()
    pillar["node"] = {"lun_path": "/dev/sdb"}
    cfg = resolve(pillar, "mds07")
    assert (cfg["errors"], cfg["pair"], cfg["peer"], cfg["node"]["lun_path"]) == ([], None, None, "/dev/sdb")
    pillar.pop("node")
    assert "mdtmirror:node:lun_path is missing" in error_of(pillar, "mds07")


# --------------------------------------------------------------------------
# host checks through the loader: the local LUN must be a block device, the
# LUN number free in the SCST group
# --------------------------------------------------------------------------


def _host(root, entries):
    """A host root: ``/dev`` entries and the block devices the kernel lists."""
    for name, kind in entries.items():
        path = root / "dev" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "disk":
            path.write_bytes(b"\0" * 4096)
            block = root / "sys/class/block" / name
            block.mkdir(parents=True)
            (block / "size").write_text("8\n")
        elif kind == "file":
            path.write_bytes(b"not a disk")
        elif kind == "dir":
            path.mkdir()
        elif kind.startswith("->"):
            os.symlink(kind[2:].strip(), path)
    return root


@pytest.mark.parametrize(
    "lun_path, problem",
    [
        ("/dev/mdt0", None),
        ("/dev/disk/by-id/scsi-35000c500a1b2c3d4", None),
        ("/dev/notes", "resolves to /dev/notes, which is not a block device (not in /sys/class/block: ENOTBLK)"),
        ("/dev/vg", "is a directory"),
        ("/dev/sdz", "does not exist (ENOENT)"),
    ],
)
def test_lun_path_must_be_a_block_device(salt_loaders, tmp_path, lun_path, problem):
    root = _host(
        tmp_path / "host",
        {"mdt0": "disk", "notes": "file", "vg": "dir", "disk/by-id/scsi-35000c500a1b2c3d4": "-> ../../mdt0"},
    )
    pillar = {"mdtmirror": example()}
    pillar["mdtmirror"]["pairs"]["fs1-mdt0"]["nodes"]["mds01"]["lun_path"] = lun_path
    loaders = salt_loaders(mdtmirror={"sysroot": str(root)}, pillar=pillar, minion_id="mds01")
    errors = loaders.modules.mdtmirror.errors()  # defaults read from salt://mdtmirror/defaults.yaml
    if problem is None:
        assert errors == []
    else:
        assert errors == [f"pillar key mdtmirror:pairs:fs1-mdt0:nodes:mds01:lun_path: {lun_path} {problem}"]


def test_os_family_defaults_come_before_the_pillar(salt_loaders, tmp_path):
    """osfamilymap.yaml's entry for this minion's OS family (Debian here)
    is merged over defaults.yaml; the pillar still wins."""
    root = _host(tmp_path / "host", {"mdt0": "disk"})
    pillar = {"mdtmirror": example()}
    pillar["mdtmirror"]["pairs"]["fs1-mdt0"]["nodes"]["mds01"]["lun_path"] = "/dev/mdt0"
    pillar["mdtmirror"]["mirror"] = {"packages": ["zfs-custom"]}
    loaders = salt_loaders(mdtmirror={"sysroot": str(root)}, pillar=pillar, minion_id="mds01")
    families = yaml.safe_load((REPO / "salt/mdtmirror/osfamilymap.yaml").read_text())
    family = loaders.grains["os_family"]
    assert family in families, f"this machine's OS family {family} has no osfamilymap.yaml entry"
    cfg = loaders.modules.mdtmirror.settings()
    assert cfg["errors"] == []
    assert cfg["initiator"]["packages"] == families[family]["initiator"]["packages"]
    assert cfg["mirror"]["packages"] == ["zfs-custom"]
    assert cfg["manage_packages"] is False


def test_a_zvol_as_the_nodes_lun_is_valid_with_a_warning():
    """The seed's layout (a zvol of a local pool exported as the LUN) puts the active's pool on a zvol of
    another pool of the same host, a nested pool OpenZFS does not support: allowed, said plainly."""
    pillar = example()
    del pillar["pairs"]["fs1-mdt0"]["nodes"]["mds01"]["lun_path"]
    pillar["pairs"]["fs1-mdt0"]["nodes"]["mds01"]["zvol"] = {"name": "local/mdt0", "size": "100G"}
    cfg = resolve(pillar)
    assert cfg["errors"] == []
    (warning,) = cfg["warnings"]
    assert warning.startswith("pillar key mdtmirror:pairs:fs1-mdt0:nodes:mds01:zvol: while this node is active")
    assert "nested pool" in warning and "openzfs/zfs#11253" in warning
    assert resolve(pillar, "mds02")["warnings"] == []  # mds02 exports a disk
    assert resolve(example())["warnings"] == []
