"""(1) and (2): the whole formula on a real salt-master and two salt-minions.

The pair and the daemons are those of the integration tier
(tests/integration/conftest.py: ``build_pair``, ``base_pillar``): two
emulated MDS (SCST and ib_srp emulators on one InfiniBand fabric, zpool/zfs
emulator), a master serving salt/ and two minions ``mds01``/``mds02``
pointed at them, started with saltfactories outside pytest. One
``salt-run state.orchestrate mdtmirror.orch`` converges the pair; then:

(1) ``state.apply mdtmirror`` on both minions (a no-op: checked) against
    ``state.apply`` of an SLS of as many ``test.succeed_without_changes``
    states as the formula rendered on each minion, through the same master
    and client (salt.client.LocalClient in this process, so no CLI start-up
    is timed). Both alternate ``--rounds`` times after a warm-up; the
    medians are compared.

(2) The programs a no-op ``state.apply mdtmirror`` runs, per minion, with
    1 LUN and 10 snapshots, 1 LUN and 10,000 snapshots, 100 LUNs and 10
    snapshots. udevadm, which the emulated hosts leave unset, is a no-op
    script here, so what a real host runs is counted. Counted by an audit
    hook (bench/spawnhook/sitecustomize.py) in every Python process of the
    daemons: ``subprocess.Popen``,
    ``os.posix_spawn`` and ``os.system`` in the minion's processes are
    "programs run"; ``os.fork`` (Salt's job process) is shown apart, and
    so are the processes the emulated tools start themselves. The LUNs are
    the pool owner's (mds01): 99 more vdisk_blockio devices exported by its
    SRP target in a second group; the snapshots are of its pool. A change to
    what the formula manages (``/etc/scst.conf`` lists every LUN) is applied
    once before the counted run.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import json
import logging
import os
import re
import statistics
import time
from pathlib import Path

from bench.common import REPO, Result, fmt_times, quiet_stderr, say

NAMES = ("mds01", "mds02")
TGT = "mds0*"
FLOOR_SLS = "mdtmirror_bench_floor"
GOAL_RATIO = 1.2
GOAL_SPAWNS = 5
SPAWNHOOK = REPO / "bench" / "spawnhook"

FLOOR_TEMPLATE = """{%%- set counts = %s %%}
{%%- for i in range(counts.get(grains["id"], 0)) %%}
mdtmirror-bench-floor-{{ i }}:
  test.succeed_without_changes
{%%- endfor %%}
"""


# Diagnostics of (1): what importing map.jinja costs, and its mine.get calls alone.
PROBES = {
    "mdtmirror_bench_map": """{%- set tpldir = "mdtmirror" %}
{%- from "mdtmirror/map.jinja" import mdtmirror with context %}
mdtmirror-bench-map:
  test.succeed_without_changes
""",
    "mdtmirror_bench_mine": """{%- set peer = {"mds01": "mds02", "mds02": "mds01"}[grains["id"]] %}
{%- for fun in ("mdtmirror_targets", "mdtmirror_srp_ports", "mdtmirror_ips") %}
{%-   do salt["mine.get"](peer, fun) %}
{%- endfor %}
mdtmirror-bench-mine:
  test.succeed_without_changes
""",
}


FAKE_UDEVADM = """#!/bin/sh
# udevadm of an emulated host: nothing to settle.
exit 0
"""


class RolloutError(Exception):
    pass


# --------------------------------------------------------------------------
# the daemons
# --------------------------------------------------------------------------


@contextlib.contextmanager
def daemons(workdir):
    """The pair and the daemons; yields a namespace with ``pair``, ``client``, ``master``,
    ``spawn_log``, ``floor_sls``."""
    import types

    import salt.client
    from saltfactories.manager import FactoriesManager
    from saltfactories.plugins.event_listener import EventListener
    from saltfactories.plugins.log_server import LogServer

    from bench import zfsfast
    from tests.integration.conftest import base_pillar, build_pair

    spawn_log = workdir / "spawns.jsonl"
    pillar_dir = workdir / "pillar"
    floor_dir = workdir / "floor"
    for d in (pillar_dir, floor_dir):
        d.mkdir(parents=True)
    (pillar_dir / "top.sls").write_text("base:\n  'mds0*':\n    - mdtmirror\n")
    pillar = base_pillar()
    # The watch stays off until (5) turns it on: (1), (2) and (6) time no beacon and no reactor run.
    pillar["mdtmirror"]["watch"] = {"enabled": False}
    (pillar_dir / "mdtmirror.sls").write_text(json.dumps(pillar, indent=1) + "\n")
    floor_sls = floor_dir / f"{FLOOR_SLS}.sls"
    floor_sls.write_text(FLOOR_TEMPLATE % "{}")
    for name, text in PROBES.items():
        (floor_dir / f"{name}.sls").write_text(text)

    environ = os.environ.copy()
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SPAWNHOOK), environ.get("PYTHONPATH")]))
    environ["MDTMIRROR_BENCH_SPAWN_LOG"] = str(spawn_log)

    with contextlib.ExitStack() as stack:
        pair = build_pair(workdir / "hosts")

        def stop_pair():
            with quiet_stderr():
                pair.stop()

        stack.callback(stop_pair)
        for host in pair.hosts.values():
            zfsfast.install(host.root)  # same emulator, listings O(n) (see bench/zfsfast.py)
            # tests/emul/rig.py leaves udevadm unset (never run) on emulated hosts; a real MDS has
            # one and srp.disks runs "udevadm settle": a no-op stand-in, so it is counted in (2).
            udevadm = host.root / "sbin" / "udevadm"
            udevadm.write_text(FAKE_UDEVADM)
            os.chmod(udevadm, 0o755)
            host.mdtmirror["bin"]["udevadm"] = str(udevadm)

        # The daemons forward their log records here (bench/__main__.py prints none of them).
        logging.getLogger("saltfactories").setLevel(logging.ERROR)
        log_server = LogServer(log_level="error")
        log_server.start()
        stack.callback(log_server.stop)
        listener = EventListener()
        listener.start()
        stack.callback(listener.stop)
        manager = FactoriesManager(
            root_dir=workdir / "sf",
            log_server_host=log_server.log_host,
            log_server_port=log_server.log_port,
            log_server_level=log_server.log_level,
            event_listener=listener,
            environ=environ,
            start_timeout=120,
        )
        master = manager.salt_master_daemon(
            "bench-master",
            overrides={
                "file_roots": {"base": [str(REPO / "salt"), str(floor_dir)]},
                "pillar_roots": {"base": [str(pillar_dir)]},
                "log_level_logfile": "warning",
                # (5): the reactor as README enables it.
                "reactor": [
                    {"salt/beacon/*/mdtmirror/*/export/ready": ["salt://mdtmirror/reactor/heal.sls"]},
                    {"salt/beacon/*/mdtmirror/*/path/running": ["salt://mdtmirror/reactor/heal.sls"]},
                ],
            },
        )
        minions = {
            name: master.salt_minion_daemon(
                name,
                overrides={
                    "mdtmirror": json.loads(json.dumps(host.mdtmirror)),
                    # "profile": Salt logs each SLS file's render time (read for (1)).
                    "log_level_logfile": "profile",
                    # Salt's default; beacon intervals count loop_interval steps (saltfactories sets 0.05).
                    "loop_interval": 1,
                },
            )
            for name, host in pair.hosts.items()
        }
        stack.enter_context(master.started())
        for minion in minions.values():
            stack.enter_context(minion.started())
        client = salt.client.get_local_client(mopts=master.config.copy())
        stack.callback(client.destroy)
        yield types.SimpleNamespace(
            pair=pair,
            client=client,
            master=master,
            spawn_log=spawn_log,
            floor_sls=floor_sls,
            pillar_dir=pillar_dir,
            minion_logs={name: Path(minion.config["log_file"]) for name, minion in minions.items()},
        )


def orchestrate(rig):
    run_cli = rig.master.salt_run_cli(timeout=600)
    ret = run_cli.run("state.orchestrate", "mdtmirror.orch", pillar={"tgt": TGT})
    data = ret.data
    if isinstance(data, dict) and "outputter" in data and "data" in data:
        data = data["data"]
    if not isinstance(data, dict) or len(data) != 1:
        raise RolloutError("orchestration did not run: %s" % (ret.stdout or ret.stderr)[-2000:])
    (steps,) = data.values()
    if not isinstance(steps, dict):
        raise RolloutError("orchestration did not render: %s" % steps)
    failed = {step["__id__"]: step.get("comment") for step in steps.values() if step.get("result") is not True}
    if failed or ret.returncode != 0:
        raise RolloutError("orchestration failed: %s" % json.dumps(failed, default=str)[:2000])


def apply(rig, sls):
    """``state.apply sls`` on both minions: (seconds, {minion: [state returns]})."""
    t0 = time.perf_counter()
    ret = rig.client.cmd(TGT, "state.apply", [sls], tgt_type="glob", timeout=600)
    took = time.perf_counter() - t0
    out = {}
    for name in NAMES:
        got = ret.get(name)
        if not isinstance(got, dict):
            raise RolloutError("state.apply %s on %s returned %r" % (sls, name, got))
        out[name] = list(got.values())
    return took, out


def not_noop(states):
    """``{minion: [state id: why]}`` of states that changed something or did not succeed."""
    bad = {}
    for name, rets in states.items():
        problems = [
            "%s: %s" % (s.get("__id__"), "changed %s" % sorted(s["changes"]) if s.get("changes") else s.get("comment"))
            for s in rets
            if s.get("changes") or s.get("result") is not True
        ]
        if problems:
            bad[name] = problems
    return bad


# --------------------------------------------------------------------------
# (1) formula no-op vs Salt's floor
# --------------------------------------------------------------------------


def bench_floor_ratio(rig, rounds):
    took, states = apply(rig, "mdtmirror")  # warm-up; the first no-op re-apply after the orchestration
    bad = not_noop(states)
    counts = {name: len(rets) for name, rets in states.items()}
    rig.floor_sls.write_text(FLOOR_TEMPLATE % json.dumps(counts))
    _, floor_states = apply(rig, FLOOR_SLS)  # warm-up, and the floor SLS has what it should
    got = {name: len(rets) for name, rets in floor_states.items()}
    if got != counts or not_noop(floor_states):
        raise RolloutError("floor SLS rendered %s, wanted %s: %s" % (got, counts, not_noop(floor_states)))
    formula_times, floor_times = [], []
    last = states
    for _ in range(rounds):
        t, last = apply(rig, "mdtmirror")
        formula_times.append(t)
        for name, problems in not_noop(last).items():
            bad.setdefault(name, problems)
        t, _ = apply(rig, FLOOR_SLS)
        floor_times.append(t)
    formula = statistics.median(formula_times)
    floor = statistics.median(floor_times)
    ratio = formula / floor
    durations = {name: sum(s.get("duration") or 0 for s in rets) / 1000 for name, rets in last.items()}
    offsets = {name: log_size(path) for name, path in rig.minion_logs.items()}
    t0 = time.perf_counter()
    rig.client.cmd(TGT, "state.show_sls", ["mdtmirror"], tgt_type="glob", timeout=600)
    render = time.perf_counter() - t0
    renders = {name: render_times(path, offsets[name]) for name, path in rig.minion_logs.items()}
    t0 = time.perf_counter()
    rig.client.cmd(TGT, "state.show_sls", [FLOOR_SLS], tgt_type="glob", timeout=600)
    render_floor = time.perf_counter() - t0
    probes = {}
    for probe in PROBES:
        offsets = {name: log_size(path) for name, path in rig.minion_logs.items()}
        rig.client.cmd(TGT, "state.show_sls", [probe], tgt_type="glob", timeout=600)
        probes[probe] = {n: sum(render_times(p, offsets[n]).values()) for n, p in rig.minion_logs.items()}
    importers = [f for f in renders["mds01"] if _imports_map(f)]
    slowest = sorted(
        ((s.get("duration") or 0, name, s.get("__id__")) for name, rets in last.items() for s in rets), reverse=True
    )[:4]
    details = [
        "state.apply mdtmirror (both minions): median %.2f s (%s)" % (formula, fmt_times(formula_times)),
        "state.apply of %s test.succeed_without_changes: median %.2f s (%s)"
        % (" / ".join("%d on %s" % (counts[n], n) for n in NAMES), floor, fmt_times(floor_times)),
        "where the formula's time goes: running its states takes %s (sum of the minion-side durations); "
        "state.show_sls mdtmirror (rendering only) takes %.2f s, of the trivial SLS %.2f s"
        % (", ".join("%.2f s on %s" % (durations[n], n) for n in NAMES), render, render_floor),
        *(
            "rendering on %s (Salt's profile log, jinja+yaml per file): %s"
            % (name, ", ".join("%s %.2f s" % kv for kv in renders[name].items()) or "no profile lines")
            for name in NAMES
        ),
        "%d of those files import map.jinja; importing it alone renders in %s, its 3 mine.get calls alone in %s"
        % (
            len(importers),
            ", ".join("%.2f s on %s" % (probes["mdtmirror_bench_map"][n], n) for n in NAMES),
            ", ".join("%.2f s on %s" % (probes["mdtmirror_bench_mine"][n], n) for n in NAMES),
        ),
        "slowest formula states (minion-side duration): "
        + ", ".join("%s %s %.0f ms" % (name, sid, ms) for ms, name, sid in slowest),
    ]
    if bad:
        details.append("NOT a no-op: %s" % json.dumps(bad)[:1500])
    met = ratio <= GOAL_RATIO and not bad
    return Result(
        "1",
        "no-op re-apply of the formula / same number of trivial states",
        "%.2fx" % ratio,
        "<= %.1fx" % GOAL_RATIO,
        met,
        details,
    )


# --------------------------------------------------------------------------
# (2) processes of a no-op apply
# --------------------------------------------------------------------------


RENDER_RE = re.compile(r"Time \(in seconds\) to render '([^']+)' using '(\w+)' renderer: ([0-9.e+-]+)")


def _imports_map(name, seen=()):
    """Whether the formula file ``name`` imports map.jinja, itself or through a template it imports."""
    text = _read(REPO / "salt" / "mdtmirror" / name)
    if "map.jinja" in text:
        return True
    found = re.findall(r'tpldir ~ "/([\w.]+)"', text)
    return any(_imports_map(f, seen + (name,)) for f in found if f not in seen and f != name)


def render_times(path, offset):
    """{sls file: seconds} from the profile lines a minion logged after ``offset``."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        text = handle.read().decode(errors="replace")
    out = collections.OrderedDict()
    for match in RENDER_RE.finditer(text):
        name = os.path.basename(match.group(1))
        out[name] = out.get(name, 0.0) + float(match.group(3))
    return out


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def read_spawns(path, offset):
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def log_size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def describe(spawn):
    """``zpool get  <- zfsmirror.pool_properties < zfsmirror.pool_mirrored  [state]``."""
    argv = spawn["argv"]
    prog = os.path.basename(argv[0]) if argv else "?"
    words = [prog] + [a for a in argv[1:3] if not a.startswith("/")][:1]
    fns = spawn.get("fns") or []
    public = [f for f in fns if not f.split(".", 1)[-1].startswith("_")] or fns[:1]
    ctx = spawn.get("state") or ("rendering %s" % spawn["sls"] if spawn.get("sls") else None)
    return "%s  <- %s%s" % (" ".join(words), " < ".join(public) or "salt", "  [%s]" % ctx if ctx else "")


def counted_apply(rig, caches, sls="mdtmirror"):
    """One ``state.apply`` with the spawns it caused: (seconds, states, {minion: {kind: [spawns]}})."""
    for cache in caches:
        cache.invalidate()
    offset = log_size(rig.spawn_log)
    took, states = apply(rig, sls)
    time.sleep(0.2)  # lines of the last tool processes
    spawns = read_spawns(rig.spawn_log, offset)
    per = {name: {"programs": [], "forks": [], "tools": []} for name in NAMES}
    for spawn in spawns:
        if spawn["daemon"] not in per:
            continue
        if spawn["origin"] == "tool":
            per[spawn["daemon"]]["tools"].append(spawn)
        elif spawn["kind"] == "exec":
            per[spawn["daemon"]]["programs"].append(spawn)
        else:
            per[spawn["daemon"]]["forks"].append(spawn)
    return took, states, per


def add_luns(host, count, group="BENCH"):
    """``count`` more vdisk_blockio devices, LUNs 0..count-1 of another group of the host's target."""
    kernel = host.kernel
    tgt = "targets/ib_srpt/" + host.target
    kernel.write(tgt + "/ini_groups/mgmt", "create %s\n" % group)
    for i in range(count):
        name = "BENCHLUN%02d" % i
        with open(host.root / "dev" / name, "wb") as handle:
            handle.truncate(1 << 20)
        kernel.write("handlers/vdisk_blockio/mgmt", "add_device %s filename=/dev/%s\n" % (name, name))
        kernel.write(tgt + "/ini_groups/%s/luns/mgmt" % group, "add %s %d\n" % (name, i))


def remove_snapshots(root, names):
    from tests.emul import zfsemu

    host = zfsemu.Host(root)
    with host.locked():
        pool = host.state["pools"]["mdtpool"]
        for name in names:
            pool["datasets"].pop(name, None)
        host.save()


def bench_spawns(rig):
    from bench import prune, scstcache

    owner = rig.pair.hosts["mds01"]
    caches = [scstcache.remount(host) for host in rig.pair.hosts.values()]
    _, prefix = prune.default_policy()
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    scenarios = []

    def measure(label):
        took, states, per = counted_apply(rig, caches)
        scenarios.append((label, took, per, not_noop(states)))

    # The floor's spawns, for reference (its SLS is written by (1)).
    try:
        _, _, floor = counted_apply(rig, caches, FLOOR_SLS)
    except RolloutError:
        floor = None

    last = prune.add_snapshots(owner.root, "mdtpool", "mdtpool", 10, prefix, start)
    measure("1 LUN, 10 snapshots")
    more = 9990
    first = last + 3600
    prune.add_snapshots(owner.root, "mdtpool", "mdtpool", more, prefix, first)
    if prune.count_snapshots(owner.root, "mdtpool") != 10000:
        raise RolloutError("the pool should hold 10,000 snapshots")
    measure("1 LUN, 10,000 snapshots")
    stamps = [
        datetime.datetime.fromtimestamp(int(first + 3600 * i), datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        for i in range(more)
    ]
    remove_snapshots(owner.root, ["mdtpool@%s%s" % (prefix, s) for s in stamps])
    say("  (2) 99 more LUNs on mds01's target, applied once ...")
    add_luns(owner, 99)
    for cache in caches:
        cache.invalidate()
    _, converge, _ = counted_apply(rig, caches)
    changed = {n: [s["__id__"] for s in rets if s.get("changes")] for n, rets in converge.items()}
    measure("100 LUNs, 10 snapshots")

    labels = [label for label, *_ in scenarios]
    counts = {name: [len(per[name]["programs"]) for _, _, per, _ in scenarios] for name in NAMES}
    width = max(len(label) for label in labels)
    details = [
        "programs run by each minion (its processes' subprocess.Popen/os.posix_spawn/os.system), per no-op apply:",
        "  %-*s  %s   time" % (width, "", "  ".join("%5s" % n for n in NAMES)),
    ]
    for label, took, per, _ in scenarios:
        details.append(
            "  %-*s  %s   %.1f s" % (width, label, "  ".join("%5d" % len(per[n]["programs"]) for n in NAMES), took)
        )
    if floor is not None:
        details.append(
            "  %-*s  %s   (the trivial SLS of (1))"
            % (width, "floor", "  ".join("%5d" % len(floor[n]["programs"]) for n in NAMES))
        )
    forks = {n: sorted({len(per[n]["forks"]) for _, _, per, _ in scenarios}) for n in NAMES}
    tools = {n: [len(per[n]["tools"]) for _, _, per, _ in scenarios] for n in NAMES}
    details.append(
        "also: Python forks (Salt's job process) %s; processes started by the emulated tools themselves %s"
        % (
            ", ".join("%s %s" % (n, "/".join(map(str, forks[n]))) for n in NAMES),
            ", ".join("%s %s" % (n, "/".join(map(str, tools[n]))) for n in NAMES),
        )
    )
    details.append("with the 99 LUNs added, the apply before the counted one changed: %s" % json.dumps(changed))
    first_label, _, first_per, _ = scenarios[0]
    for name in NAMES:
        programs = collections.Counter(describe(s) for s in first_per[name]["programs"])
        details.append("%s, %s:" % (name, first_label))
        details += ["  %dx %s" % (n, what) for what, n in sorted(programs.items())] or ["  (none)"]
    for label, _, per, _ in scenarios[1:]:
        for name in NAMES:
            base = collections.Counter(describe(s) for s in first_per[name]["programs"])
            now = collections.Counter(describe(s) for s in per[name]["programs"])
            diff = (now - base) + collections.Counter({k: -v for k, v in (base - now).items()})
            if diff:
                details.append("%s, %s, compared with the first:" % (name, label))
                details += ["  %+dx %s" % (n, what) for what, n in sorted(diff.items())]
    for label, _, _, bad in scenarios:
        if bad:
            details.append("%s: NOT a no-op: %s" % (label, json.dumps(bad)[:1500]))
    flat = all(len(set(c)) == 1 for c in counts.values())
    worst = max(max(c) for c in counts.values())
    value = "; ".join("%s %s" % (n, "/".join(map(str, counts[n]))) for n in NAMES)
    met = flat and worst <= GOAL_SPAWNS and not any(bad for *_, bad in scenarios)
    return Result(
        "2",
        "programs a no-op apply runs: %s" % " / ".join(labels),
        value + (" (flat)" if flat else " (not flat)"),
        "<= %d, flat" % GOAL_SPAWNS,
        met,
        details,
    )


def run(workdir, rounds=3, keys=("1", "2", "6", "5")):
    """The results of ``keys``, or the reason they could not be measured."""
    results = []
    t0 = time.perf_counter()
    with daemons(workdir) as rig:
        say("  (1)(2) daemons up in %.0f s; syncing and orchestrating the rollout ..." % (time.perf_counter() - t0))
        t0 = time.perf_counter()
        ret = rig.client.cmd(TGT, "saltutil.sync_all", tgt_type="glob", timeout=300)
        if set(ret) != set(NAMES):
            raise RolloutError("saltutil.sync_all answered by %s" % sorted(ret))
        orchestrate(rig)
        say("  (1) orchestrated in %.0f s; timing no-op applies ..." % (time.perf_counter() - t0))
        if "1" in keys:
            t0 = time.perf_counter()
            results.append(_guard("1", lambda: bench_floor_ratio(rig, rounds)))
            say("  (1) took %.0f s" % (time.perf_counter() - t0))
        if "2" in keys:
            say("  (2) counting processes ...")
            t0 = time.perf_counter()
            results.append(_guard("2", lambda: bench_spawns(rig)))
            say("  (2) took %.0f s" % (time.perf_counter() - t0))
        if "6" in keys:
            from bench.switchover import bench_switchover

            say("  (6) switchover ...")
            results.append(_guard("6", lambda: bench_switchover(rig)))
        if "5" in keys:
            from bench.watch import bench_watch

            results.append(_guard("5", lambda: bench_watch(rig, workdir / "watch")))
        say("  stopping the daemons ...")
    return results


def _guard(key, fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001  (one benchmark failing must not hide the others)
        why = "%s: %s" % (type(exc).__name__, exc)
        return Result(key, "(%s) could not be measured" % key, "error", "-", None, [why])
