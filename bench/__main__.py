"""``python -m bench``: the benchmarks, measured in one run, each next to its goal.

(1) no-op re-apply of the whole formula / a no-op apply of as many trivial states   goal <= 1.2x
(2) programs a no-op apply runs, 1 vs 100 LUNs and 10 vs 10,000 snapshots          goal <= 5, flat
(3) scst.list_devices with 1,000 devices / reading those sysfs files raw            goal <= 2x
(4) zfs calls to prune 10,000 snapshots                                            goal <= 2
(5) target back -> both sides ONLINE, unattended / (reconnect_delay + beacon interval) goal <= 1.0x
    and programs per beacon look                                                   goal <= 1
(6) a switchover through the formula / the same kernel moves made bare            goal <= 1.5x

Exit status 0 whatever the numbers; ``--strict``: 1 when a goal is not met
or a number could not be measured. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.common import REPO, Result, say

KEYS = ("1", "2", "3", "4", "5", "6")


def default_workdir_parent():
    # tmpfs: the emulated trees (40,000 small files for (3)) and the emulators' state
    # files are written often; on a busy disk that alone takes minutes.
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met or not measured")
    ap.add_argument("--only", default=",".join(KEYS), help="which benchmarks, e.g. 3,4 (default: all)")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds of (1) (default 3)")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions of (3) (default 5)")
    ap.add_argument("--workdir", default=default_workdir_parent(), help="where the temporary tree goes")
    ap.add_argument("--keep", action="store_true", help="leave the temporary tree (daemon logs, spawn log)")
    args = ap.parse_args(argv)
    args.only = [k.strip() for k in args.only.split(",") if k.strip()]
    unknown = set(args.only) - set(KEYS)
    if unknown:
        ap.error("unknown benchmark(s) %s: use %s" % (", ".join(sorted(unknown)), ",".join(KEYS)))
    return args


def silence_logging():
    """Records logged in this process -- among them the daemons' own, which saltfactories'
    log server re-logs here -- go nowhere: Salt's temporary stderr handler would queue them
    and print them all at exit. The daemons' log files are kept with --keep."""
    import logging

    import salt._logging.impl

    salt._logging.impl.shutdown_temp_handler()  # its queued records go to the handlers left: none
    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def failed(key, title, exc):
    lines = traceback.format_exception_only(type(exc), exc)
    return Result(key, title, "error", "-", None, [line.rstrip() for line in lines][-3:])


def run_all(args, work):
    from bench import prune, rollout, scst_list

    results = {}
    if "4" in args.only:
        say("(4) pruning 10,000 snapshots ...")
        try:
            results["4"] = prune.run(work / "prune")
        except Exception as exc:  # noqa: BLE001
            results["4"] = failed("4", "zfs calls to prune 10,000 snapshots", exc)
    if "3" in args.only:
        say("(3) scst.list_devices over 1,000 devices ...")
        try:
            results["3"] = scst_list.run(work / "scst", reps=args.reps)
        except Exception as exc:  # noqa: BLE001
            results["3"] = failed("3", "scst.list_devices, 1,000 devices / raw reads", exc)
    if "1" in args.only or "2" in args.only or "6" in args.only or "5" in args.only:
        say("(1)(2)(6)(5) master + two minions on an emulated pair ...")
        try:
            keys = [k for k in ("1", "2", "6", "5") if k in args.only]
            for result in rollout.run(work / "rollout", rounds=args.rounds, keys=keys):
                results[result.key] = result
        except Exception as exc:  # noqa: BLE001
            for key, title in (
                ("1", "no-op re-apply of the formula"),
                ("2", "programs a no-op apply runs"),
                ("6", "switchover through the formula / bare"),
                ("5", "watch and heal"),
            ):
                results.setdefault(key, failed(key, title, exc))
        for key in ("1", "2", "6", "5"):
            if key not in args.only:
                results.pop(key, None)  # an error result set for both
    return [results[k] for k in KEYS if k in results]


def report(results, took):
    import salt.version

    say()
    say("=" * 100)
    load = " ".join("%.1f" % x for x in os.getloadavg())
    say(
        "mdtmirror benchmarks: one run, %s, Salt %s, Python %s, %d CPUs, load average %s, %.0f s"
        % (
            time.strftime("%Y-%m-%d %H:%M"),
            salt.version.__version__,
            platform.python_version(),
            os.cpu_count(),
            load,
            took,
        )
    )
    say("=" * 100)
    for r in results:
        say("(%s) %s" % (r.key, r.title))
        say("    measured: %-38s goal: %-14s %s" % (r.value, r.goal, r.verdict))
        for line in r.details:
            say("      " + line)
    met = sum(1 for r in results if r.met)
    say("-" * 100)
    say("goals met: %d of %d" % (met, len(results)))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.chdir(REPO)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    work = Path(tempfile.mkdtemp(prefix="mdtmirror-bench-", dir=args.workdir))
    silence_logging()
    t0 = time.perf_counter()
    try:
        results = run_all(args, work)
    finally:
        silence_logging()
        if args.keep:
            say("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results, time.perf_counter() - t0)
    if args.strict and not all(r.met for r in results):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
