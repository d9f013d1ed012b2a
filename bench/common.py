"""What every benchmark shares: results with their goals, timing, Salt's loader."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Result:
    """One measured number and its goal. ``met`` is None when it could not be measured."""

    key: str  # "1".."4"
    title: str
    value: str  # the measurement as printed
    goal: str
    met: bool | None
    details: list = dataclasses.field(default_factory=list)  # lines printed under it

    @property
    def verdict(self):
        return {True: "met", False: "NOT MET", None: "not measured"}[self.met]


def median_time(fn, reps):
    """Median and all wall times (seconds) of ``reps`` calls of ``fn``; also its last return value."""
    times, value = [], None
    for _ in range(reps):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, value


def fmt_times(times):
    return ", ".join("%.3f" % t for t in times)


def loaders(workdir: Path, minion_id: str, mdtmirror: dict):
    """Salt's real loader over the repository's modules (tests/conftest.py's minion options),
    with ``mdtmirror:`` pointing at an emulated host. Returns saltfactories' ``Loaders``."""
    from saltfactories.utils.functional import Loaders

    from tests.conftest import minion_opts

    opts = minion_opts(workdir, minion_id=minion_id, mdtmirror=mdtmirror)
    return Loaders(opts, loaded_base_name=f"salt.loaded.bench_{minion_id}")


def say(text=""):
    print(text, flush=True)


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 (libfuse prints "fuse_remove_signal_handlers: unknown
    session" when a mount served by a thread is stopped)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
