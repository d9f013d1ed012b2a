"""
The OpenZFS the harness builds (zfs-dkms from bookworm-backports, against the
guest kernel's headers) loads into the real kernel and makes a mirrored pool:
the base the ZFS tests of this tier stand on.
"""

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.realkernel, pytest.mark.slow]

HERE = Path(__file__).resolve().parent


def _output(share, name):
    path = share / f"{name}.txt"
    assert path.exists(), f"{name}.txt missing in {share}"
    lines = path.read_text().splitlines()
    assert lines and lines[-1] == "[exit 0]", "\n".join(lines[-40:])
    return "\n".join(lines[1:-1])


def test_openzfs_module_loads_and_makes_a_mirror(realkernel):
    harness = realkernel.get()
    zfs = realkernel.get_zfs()
    run = harness.run(
        (HERE / "guest" / "zfs_smoke.sh").read_text(),
        timeout=300,
        files={"params.env": zfs.guest_env()},
    )
    where = f"guest results in {run.results_dir}"
    assert run.rc == 0, f"guest script exited {run.rc}; {where}\nstderr:\n{run.stderr[-3000:]}"
    share = run.share
    upstream = zfs.version.split("-")[0]
    version = _output(share, "version")
    assert f"zfs-kmod-{upstream}" in version and f"zfs-{upstream}" in version, version
    _output(share, "create")
    name, health, size = _output(share, "list").split("\t")
    assert (name, health) == ("rkpool", "ONLINE"), (name, health)
    assert 200 * 1024**2 < int(size) <= 256 * 1024**2, size
    status = json.loads(_output(share, "status"))
    pool = status["pools"]["rkpool"]
    assert pool["state"] == "ONLINE", pool
    (mirror,) = pool["vdevs"]["rkpool"]["vdevs"].values()
    assert mirror["vdev_type"] == "mirror" and len(mirror["vdevs"]) == 2, mirror
    # The kstat tree zfsmirror.pool_names reads instead of running zpool: the pool's directory while it
    # is imported (its state word in it), no directory of any other kind, none once it is destroyed.
    assert [e for e in _output(share, "kstat").split() if e.endswith("/")] == ["rkpool/"]
    assert _output(share, "kstat_state") == "ONLINE"
    _output(share, "destroy")
    assert [e for e in _output(share, "kstat_after").split() if e.endswith("/")] == []
