"""``mdtmirror.plan`` of a pair's node through a real loader (``salt-call --local``, formula mode):
the peer's mine facts are asked in a thread while the settings and this host are read, and that
thread runs the loader's functions (``mine.get`` reads ``__opts__`` and calls ``__salt__``) in the
calling job's loader context. Masterless, the mine has no peer: the plan says which facts are
missing, as it does on a master whose mine has none yet."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.captures import REPO
from tests.emul import zfsemu

pytestmark = pytest.mark.slow


def test_plan_of_a_pair_node_asks_the_mine_in_the_loader_context(tmp_path):
    host = tmp_path / "host"
    (host / "dev").mkdir(parents=True)
    (host / "dev" / "sdb").write_text("")
    (host / "sys" / "class" / "block" / "sdb").mkdir(parents=True)
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "minion").write_text(
        json.dumps(
            {
                "id": "mds02",
                "root_dir": str(tmp_path / "root"),
                "file_client": "local",
                "file_roots": {"base": [str(REPO / "salt")]},
                "pillar_roots": {"base": [str(tmp_path / "pillar")]},
                "module_dirs": [str(REPO)],
                "grains": {"os_family": "Debian", "init": "systemd"},
            }
        )
    )
    pillar = {  # a pillar file (an execution module call takes no pillar= argument)
        "mdtmirror": {
            "sysroot": str(host),
            "bin": zfsemu.install(host),
            "target": {"backend": "lio"},
            "pairs": {
                "mdt0": {
                    "nodes": {"mds01": {"lun_path": "/dev/sdb"}, "mds02": {"lun_path": "/dev/sdb"}},
                    "owner": "mds01",
                    "pool": "mdtpool",
                }
            },
        }
    }
    (tmp_path / "pillar").mkdir()
    (tmp_path / "pillar" / "top.sls").write_text("base:\n  '*':\n    - mdtmirror\n")
    (tmp_path / "pillar" / "mdtmirror.sls").write_text(json.dumps(pillar))
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "salt-call"),
            "--local",
            "-c",
            str(conf),
            "--out=json",
            "--log-level=quiet",
            "mdtmirror.plan",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    plan = json.loads(proc.stdout)["local"]
    assert plan["settings"]["peer"] == "mds01" and plan["settings"]["errors"] == [], plan["settings"]
    # Nothing published by mds01 in a masterless mine: the plan names each fact it went without.
    assert plan["missing"] == ["mdtmirror_targets", "mdtmirror_srp_ports", "mdtmirror_ips"], plan["missing"]
    assert plan["role"] == "standby", plan
