"""Demo: the seed's target side, rolled out by real `salt-call` on an emulated MDS.

An emulated host `mds01` gets an SCST sysfs tree (FUSE emulator), an RDMA
port and a backing block device. `salt-call --local state.apply
mdtmirror.target` then runs with test=True, for real, and again; the result
is printed with `scst.list_devices`. Everything lives in a temporary folder
that is removed at the end.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.captures import REPO
from tests.emul.rig import make_host

PILLAR = {
    "mdtmirror": {
        "target": {
            "device": "MDT1",
            "group": "MDS",
            "lun": 0,
            "module_options": {"ib_srpt": {"rdma_cm_port": 5555}},
            "attributes": {"blocksize": 4096, "rotational": 0},
            "enable_service": False,
        },
        "node": {"lun_path": "/dev/mdt0", "initiators": ["10.0.0.2"]},
    }
}


def salt_call(conf, *args, out="highstate", show=True):
    cmd = [os.path.join(os.path.dirname(sys.executable), "salt-call"), "--local", "-c", str(conf), f"--out={out}"]
    cmd += ["--state-output=changes", "--retcode-passthrough", *args]
    print("\n$ salt-call --local " + " ".join(args), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if show:
        print(proc.stdout.rstrip())
    if proc.returncode != 0:
        print(proc.stderr.rstrip(), file=sys.stderr)
        raise SystemExit(f"demo: salt-call {args[0]} failed with {proc.returncode}")
    return proc.stdout


def main():
    with tempfile.TemporaryDirectory(prefix="mdtmirror-demo-") as tmp:
        tmp = Path(tmp)
        host = make_host(tmp, "mds01", scst_loaded=False)  # a fresh server: SCST not loaded yet
        try:
            conf = tmp / "conf"
            (conf / "pillar").mkdir(parents=True)
            (conf / "pillar" / "top.sls").write_text("base:\n  '*':\n    - mdtmirror\n")
            (conf / "pillar" / "mdtmirror.sls").write_text(yaml.safe_dump(PILLAR))
            (conf / "minion").write_text(
                yaml.safe_dump(
                    {
                        "id": "mds01",
                        "root_dir": str(tmp / "salt"),
                        "file_client": "local",
                        "file_roots": {"base": [str(REPO / "salt")]},
                        "pillar_roots": {"base": [str(conf / "pillar")]},
                        "mdtmirror": host.mdtmirror,
                    }
                )
            )
            print(f"emulated host mds01 at {host.root}; ib_srpt target {host.target}")
            salt_call(conf, "saltutil.sync_all", out="txt")
            salt_call(conf, "state.apply", "mdtmirror.target", "test=True")
            salt_call(conf, "state.apply", "mdtmirror.target")
            second = salt_call(conf, "state.apply", "mdtmirror.target", out="json", show=False)
            changed = [sid for sid, r in json.loads(second)["local"].items() if r["changes"]]
            print(f"second apply: {len(changed)} state(s) with changes {changed}")
            devices = json.loads(salt_call(conf, "scst.list_devices", out="json", show=False))["local"]
            mdt = devices["MDT1"]
            print(
                f"\nMDT1: handler {mdt['handler']}, filename {mdt['filename']}, "
                f"blocksize {mdt['attributes']['blocksize']}, nv_cache {mdt['attributes']['nv_cache']}, "
                f"exported {[e for e in mdt['exported'] if e['driver'] != 'copy_manager']}"
            )
            print("\n/etc/scst.conf:\n" + (host.root / "etc" / "scst.conf").read_text())
            if changed:
                raise SystemExit("demo: the second apply changed something")
        finally:
            host.handle.stop()
    print("demo: ok (emulated host removed)")


if __name__ == "__main__":
    main()
