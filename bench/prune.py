"""(4) The number of ``zfs`` calls ``zfsmirror.prune`` makes to prune 10,000 snapshots.

A pool on the zpool/zfs emulator (tests/emul/zfsemu.py, run through
bench/zfsfast.py), 10,000 hourly ``mdtmirror-`` snapshots of its root
dataset written straight into the emulator's state (the same
``make_snapshot`` its ``zfs snapshot`` uses: one call each would take
hours), then ``zfsmirror.prune`` through Salt's loader with the formula's
default policy (salt/mdtmirror/defaults.yaml). ``mdtmirror:bin:zfs`` and
``zpool`` point at wrappers that log their argv before running the
emulator, so every call the module makes is counted.
"""

from __future__ import annotations

import datetime
import os
import shlex
import time

import yaml

from bench.common import REPO, Result, loaders, say

GOAL = 2

WRAPPER = """#!/bin/sh
printf '%s\\n' "{tool} $*" >> {log}
exec {real} "$@"
"""


def default_policy():
    with open(REPO / "salt" / "mdtmirror" / "defaults.yaml") as handle:
        defaults = yaml.safe_load(handle)
    snaps = defaults["mdtmirror"]["snapshots"]
    return snaps["policy"], snaps["prefix"]


def make_pool(base, name="mdtpool"):
    from bench import zfsfast
    from tests.emul import zfsemu

    root = base / "mds01"
    (root / "dev").mkdir(parents=True)
    with open(root / "dev" / "mdt0", "wb") as handle:
        handle.truncate(256 << 20)
    bins = zfsemu.install(root)
    zfsfast.install(root)
    rc, _, err = zfsemu.run(root, "zpool", ["create", name, "/dev/mdt0"])
    if rc != 0:
        raise RuntimeError("zpool create: %s" % err)
    return root, bins


def add_snapshots(root, pool_name, dataset, count, prefix, start, step=3600):
    """``count`` snapshots ``<prefix><UTC stamp>`` of ``dataset``, ``step`` seconds apart, in one
    locked update of the emulator's state. Returns the creation time of the newest."""
    from tests.emul import zfsemu

    host = zfsemu.Host(root)
    with host.locked():
        pool = host.state["pools"][pool_name]
        ds = pool["datasets"][dataset]
        txg = pool["txg"]
        when = start
        for i in range(count):
            when = int(start + step * i)
            stamp = datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            zfsemu.make_snapshot(pool, ds, prefix + stamp, txg + 1 + i, creation=when)
        pool["txg"] = txg + count + 1
        host.save()
    return when


def count_snapshots(root, dataset):
    from tests.emul import zfsemu

    host = zfsemu.Host(root)
    with host.locked():
        pool = host.state["pools"][dataset.split("/")[0]]
        return sum(1 for name in pool["datasets"] if name.startswith(dataset + "@"))


def wrap(root, bins, log):
    """Counting wrappers of zfs and zpool; returns {tool: wrapper path}."""
    wrapped = {}
    for tool in ("zfs", "zpool"):
        path = root / "bench-bin" / tool
        path.parent.mkdir(exist_ok=True)
        path.write_text(WRAPPER.format(tool=tool, log=shlex.quote(str(log)), real=shlex.quote(bins[tool])))
        os.chmod(path, 0o755)
        wrapped[tool] = str(path)
    return wrapped


def run(workdir, snapshots=10000):
    policy, prefix = default_policy()
    root, bins = make_pool(workdir / "hosts")
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    newest = add_snapshots(root, "mdtpool", "mdtpool", snapshots, prefix, start)
    before = count_snapshots(root, "mdtpool")
    log = workdir / "zfs-calls.log"
    log.write_text("")
    mdtmirror = {"sysroot": str(root), "bin": wrap(root, bins, log)}
    ld = loaders(workdir / "salt", "mds01", mdtmirror)
    try:
        say("  (4) zfsmirror.prune over %d snapshots ..." % before)
        t0 = time.perf_counter()
        result = ld.modules.zfsmirror.prune("mdtpool", policy, prefix=prefix, now=newest + 1800)
        took = time.perf_counter() - t0
    finally:
        ld.reset_state()
    calls = [line for line in log.read_text().splitlines() if line.strip()]
    zfs_calls = [line for line in calls if line.startswith("zfs ")]
    after = count_snapshots(root, "mdtpool")
    destroyed = len(result["destroyed"])
    problems = []
    if before - after != destroyed:
        problems.append("the pool lost %d snapshots, prune reports %d destroyed" % (before - after, destroyed))
    if after != len(result["kept"]):
        problems.append("%d snapshots left, prune reports %d kept" % (after, len(result["kept"])))

    def short(line):
        return line if len(line) <= 110 else line[:107] + "..."

    details = [
        "%d snapshots before, %d destroyed, %d kept (policy %s), %.1f s"
        % (before, destroyed, after, ",".join("%s=%s" % kv for kv in policy.items()), took),
        *("call: " + short(line) for line in calls),
        *problems,
    ]
    met = len(zfs_calls) <= GOAL and not problems and destroyed > 0
    return Result("4", "zfs calls to prune 10,000 snapshots", str(len(zfs_calls)), "<= %d" % GOAL, met, details)
