"""The formula's target side with ``target:backend: lio``, rendered by a real
``salt-call --local state.show_sls`` (formula mode: the repository's
``_modules``/``_states`` and ``salt/``): the lio states with the pillar's
values, no SCST state, and the backend-specific IDs the other SLS require.
What those states do to a real kernel is the real-kernel tier's job
(tests/realkernel/test_mirror_lio.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.captures import REPO
from tests.emul import zfsemu
from tests.loadermods import load

pytestmark = pytest.mark.slow

PEER_GID = "fe80:0000:0000:0000:0002:c903:0003:cca7"


def _show_sls(tmp_path, sls, pillar):
    host = tmp_path / "host"
    (host / "dev").mkdir(parents=True)
    (host / "dev" / "sdb").write_text("")
    (host / "sys" / "class" / "block" / "sdb").mkdir(parents=True)
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "minion").write_text(
        json.dumps(
            {
                "id": "mds01",
                "root_dir": str(tmp_path / "root"),
                "file_client": "local",
                "file_roots": {"base": [str(REPO / "salt")]},
                "module_dirs": [str(REPO)],
                "grains": {"os_family": "Debian", "init": "systemd"},
            }
        )
    )
    # The plan asks zpool where the pool is (the node's role): the host's emulated zpool.
    pillar = {"mdtmirror": {"sysroot": str(host), "bin": zfsemu.install(host), **pillar}}
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "salt-call"),
            "--local",
            "-c",
            str(conf),
            "--out=json",
            "--log-level=quiet",
            "state.show_sls",
            sls,
            f"pillar={json.dumps(pillar)}",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout)["local"]


def _states(rendered):
    """``{id: (state.function, {arg: value})}``."""
    out = {}
    for sid, body in rendered.items():
        for key, value in body.items():
            if key.startswith("__") or not isinstance(value, list):
                continue
            fun = next(v for v in value if isinstance(v, str))
            args = {k: v for item in value if isinstance(item, dict) for k, v in item.items() if k != "order"}
            out[sid] = (f"{key}.{fun}", args)
    return out


def test_target_sls_with_the_lio_backend(tmp_path):
    pillar = {
        "target": {"backend": "lio", "device": "MDT3", "lun": 2, "lio": {"rdma_cm_port": 5555}},
        "node": {"lun_path": "/dev/sdb", "initiators": [PEER_GID]},
    }
    states = _states(_show_sls(tmp_path, "mdtmirror.target", pillar))
    assert not [sid for sid, (fun, _) in states.items() if fun.startswith("scst.")], states
    assert states["mdtmirror-lio-kernel-modules"] == (
        "kmod.present",
        {"mods": ["target_core_mod", "target_core_file", "ib_srpt"]},
    )
    assert states["mdtmirror-lio-fabric"][0] == "lio.fabric_ready"
    assert states["mdtmirror-lio-fabric"][1]["rdma_cm_port"] == 5555
    fun, args = states["mdtmirror-lio-backstore"]
    assert (fun, args["name"], args["dev"]) == ("lio.backstore_present", "MDT3", "/dev/sdb")
    assert args["serial"] == load("_modules", "lio").default_serial("mds01", "MDT3")
    fun, args = states["mdtmirror-lio-lun"]
    assert (fun, args["backstore"], args["lun"], args["initiators"]) == ("lio.lun_exported", "MDT3", 2, [PEER_GID])
    assert states["mdtmirror-lio-target"][0] == "lio.target_enabled"
    assert states["mdtmirror-lio-config"] == (
        "lio.config_saved",
        {"path": "/etc/rtslib-fb-target/saveconfig.json", "require": [{"lio": "mdtmirror-lio-target"}]},
    )
    # rtslib does not keep the RDMA/CM port: the tmpfiles line and the restore service's drop-in.
    conf = states["mdtmirror-lio-rdma-cm-port-conf"][1]
    assert conf["contents"] == "w /sys/kernel/config/target/srpt/discovery_auth/rdma_cm_port - - - - 5555\n"
    dropin = states["mdtmirror-lio-rdma-cm-port-dropin"][1]
    assert dropin["name"] == "/etc/systemd/system/rtslib-fb-targetctl.service.d/mdtmirror-rdma-cm-port.conf"
    assert "ExecStartPost=systemd-tmpfiles --create /etc/mdtmirror/lio-rdma-cm-port.conf" in dropin["contents"]
    assert states["mdtmirror-lio-service"] == (
        "service.enabled",
        {"name": "rtslib-fb-targetctl", "require": [{"lio": "mdtmirror-lio-config"}]},
    )


def test_target_sls_with_the_default_scst_backend_has_no_lio_state(tmp_path):
    pillar = {"node": {"lun_path": "/dev/sdb", "initiators": [PEER_GID]}}
    states = _states(_show_sls(tmp_path, "mdtmirror.target", pillar))
    assert not [sid for sid, (fun, _) in states.items() if fun.startswith("lio.") or fun == "kmod.present"], states
    assert states["mdtmirror-scst-device"][0] == "scst.device_present"
    assert states["mdtmirror-scst-modules"][0] == "scst.modules_loaded"


def test_a_bad_pillar_renders_only_its_errors_even_under_test_true(tmp_path):
    """Salt ignores failhard under test=True: every stage of the formula must stop by itself at a
    pillar error, and no stage may ask the host anything (here: a zpool that logs each call)."""
    calls = tmp_path / "zpool-calls"
    zpool = tmp_path / "zpool"
    zpool.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    zpool.chmod(0o755)
    pillar = {
        "node": {"lun_path": "/dev/sdb", "initiators": [PEER_GID]},
        "target": {"attributes": {"blocksize": 131072}},
        "bin": {"zpool": str(zpool)},
    }
    rendered = _states(_show_sls(tmp_path, "mdtmirror", pillar))
    assert rendered and all(sid.endswith("-pillar-error-1") for sid in rendered), sorted(rendered)
    stages = {sid.split("-")[1] for sid in rendered}
    assert stages == {"modules", "target", "initiator", "mirror", "snapshots", "watch"}, stages
    (message,) = {args["name"] for _, args in rendered.values()}
    assert message.startswith("pillar key mdtmirror:target:attributes:blocksize must be one of 512, 4096"), message
    assert not calls.exists(), calls.read_text()


@pytest.mark.parametrize("backend", ["scst", "lio"])
def test_the_whole_formula_renders_what_its_stages_render(tmp_path, backend):
    """init.sls renders the stages as one file (Jinja include): the same states, with the same
    arguments, as each stage SLS rendered on its own (which includes mdtmirror.modules itself)."""
    pillar = {
        "target": {"backend": backend, "lio": {"rdma_cm_port": 5555}},
        "node": {"lun_path": "/dev/sdb", "initiators": [PEER_GID]},
    }
    whole = _states(_show_sls(tmp_path / "whole", "mdtmirror", pillar))
    modules = _states(_show_sls(tmp_path / "modules", "mdtmirror.modules", pillar))
    stages = dict(modules)
    for stage in ("target", "initiator", "mirror", "snapshots", "watch"):
        rendered = _states(_show_sls(tmp_path / stage, f"mdtmirror.{stage}", pillar))
        if stage in ("target", "initiator"):  # on its own, each includes the modules stage
            assert set(modules) <= set(rendered), (stage, sorted(rendered))
        stages.update(rendered)
    assert whole == stages
    assert len(whole) >= 8, sorted(whole)
