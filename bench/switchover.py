"""(6) A switchover through the formula against the same moves made bare.

On the emulated pair of (1) (same daemons, after the rollout: mds01 active,
mds02 standby): ``salt-run state.orchestrate mdtmirror.switchover`` moves the
pool to mds02 (timed from the runner client in this process: the master
renders, asks both nodes who is active, runs mdtmirror.release,
mdtmirror.target, mdtmirror.standby and mdtmirror.activate, updates the
mine). Then the same moves back to mds01 made
bare, with no Salt: ``zpool export`` on mds02, its SRP logout (the remote
port's ``delete``), mds01's SCST export closed (the LUN, then the device),
mds02's disk exported (``add_device``, the LUN), mds01's ``add_target`` with
mds02's login_info, the by-id link of the disk waited for, ``zpool import``.
The ratio of the two wall times is the price of the formula's checks and
Salt's round trips on top of the kernel work. Goal: <= 1.5x.
"""

from __future__ import annotations

import time

from bench.common import Result, say

GOAL = 1.5
POOL = "mdtpool"


def _mgmt(host, path, command):
    host.kernel.write(path, (command + "\n").encode())


def _login_info(host):
    text = host.kernel.read(f"targets/ib_srpt/{host.target}/login_info").decode().strip()
    return dict(item.split("=", 1) for item in text.split(","))


def bare_switch(pair, old, new):
    """The kernel moves of a switchover from ``old`` to ``new``, with no Salt."""
    from tests.emul import zfsemu

    a, b = pair.hosts[old], pair.hosts[new]
    rc, _, err = zfsemu.run(a.root, "zpool", ["export", POOL])
    if rc:
        raise RuntimeError(f"zpool export on {old}: {err}")
    for rport in (a.root / "sys/class/srp_remote_ports").iterdir():
        (rport / "delete").write_text("1\n")
    group = f"targets/ib_srpt/{b.target}/ini_groups/MDS"
    _mgmt(b, f"{group}/luns/mgmt", "del 0")
    _mgmt(b, "handlers/vdisk_blockio/mgmt", "del_device MDT0")
    _mgmt(a, "handlers/vdisk_blockio/mgmt", "add_device MDT0 filename=/dev/mdt0;blocksize=4096")
    _mgmt(a, f"targets/ib_srpt/{a.target}/ini_groups/MDS/luns/mgmt", "add MDT0 0")
    info = _login_info(a)
    spec = "id_ext={tid_ext},ioc_guid={ioc_guid},dgid={dgid},pkey={pkey},service_id={service_id}".format(**info)
    (srp_port,) = (b.root / "sys/class/infiniband_srp").iterdir()
    (srp_port / "add_target").write_text(spec + "\n")
    by_id = b.root / "dev/disk/by-id"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(p.name.startswith("scsi-2") for p in by_id.iterdir()):
            break
        time.sleep(0.01)
    rc, _, err = zfsemu.run(b.root, "zpool", ["import", "-d", "/dev/disk/by-id", "-o", "cachefile=none", POOL])
    if rc:
        raise RuntimeError(f"zpool import on {new}: {err}")
    rc, out, err = zfsemu.run(b.root, "zpool", ["list", "-H", "-o", "name,health", POOL])
    if rc or out.decode().split() != [POOL, "ONLINE"]:
        raise RuntimeError(f"after the bare switch, {new} has {out.decode().strip() or err}")


def bench_switchover(rig):
    run_cli = rig.master.salt_run_cli(timeout=600)
    if run_cli.run("saltutil.sync_all").returncode != 0:  # formula mode: the master's runner
        raise RuntimeError("salt-run saltutil.sync_all failed")
    t0 = time.perf_counter()
    ret = run_cli.run("state.orchestrate", "mdtmirror.switchover", pillar={"pair": "mdt0", "tgt": "mds0*"})
    formula = time.perf_counter() - t0
    if ret.returncode != 0:
        raise RuntimeError("switchover failed: %s" % (ret.stdout or ret.stderr)[-1500:])
    say("  (6) switchover through the formula: %.1f s; the same moves back, bare ..." % formula)
    t0 = time.perf_counter()
    bare_switch(rig.pair, "mds02", "mds01")
    bare = time.perf_counter() - t0
    ratio = formula / bare
    return Result(
        "6",
        "switchover through the formula / the same kernel moves made bare",
        "%.1fx (%.1f s / %.2f s)" % (ratio, formula, bare),
        "<= %.1fx" % GOAL,
        ratio <= GOAL,
        [
            "formula: salt-run state.orchestrate mdtmirror.switchover (mds01 -> mds02)",
            "bare: zpool export, SRP logout, SCST export moved, add_target, by-id link, zpool import (mds02 -> mds01)",
        ],
    )
