"""The real-kernel tier: one qemu guest per test, prepared once per session (see harness.py, README.md)."""

import pytest

from tests.realkernel.harness import BENCH_LINES, RealKernel, RealKernelError


class PreparedHarness:
    """The session's harness, or why it could not be prepared (tests fail with that reason, never skip)."""

    def __init__(self):
        self.harness = None
        self.python = None  # snapshot of the venv running these tests (salt-call in the guest runs from it)
        self.error = None
        self._zfs = None

    def get_zfs(self):
        """The OpenZFS build for the guest kernel (built on first use: minutes), or the test fails with why not."""
        harness = self.get()
        if self._zfs is None:
            try:
                self._zfs = harness.ensure_zfs()
            except RealKernelError as exc:
                self._zfs = exc
        if isinstance(self._zfs, Exception):
            pytest.fail(f"OpenZFS for the real-kernel tier cannot be built here: {self._zfs}", pytrace=False)
        return self._zfs

    def get(self):
        if self.error is not None:
            pytest.fail(f"the real-kernel tier cannot run here: {self.error}", pytrace=False)
        return self.harness


@pytest.fixture(scope="session")
def realkernel():
    """
    ``realkernel.get()`` -> a prepared :class:`RealKernel` (packages, kernel and initramfs cached);
    ``realkernel.python``: the venv's snapshot to pass to ``run(snapshots=...)``.
    """
    prepared = PreparedHarness()
    try:
        prepared.harness = RealKernel().prepare()
        prepared.python = prepared.harness.python_snapshot()
    except RealKernelError as exc:
        prepared.error = exc
    return prepared


# The tier's run time in the CI output: setup + call + teardown of every realkernel test,
# which includes preparing the harness and building OpenZFS when the cache is cold.
_TIER_SECONDS = {}


def pytest_runtest_logreport(report):
    if "realkernel" in report.keywords:
        _TIER_SECONDS[report.nodeid] = _TIER_SECONDS.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _TIER_SECONDS:
        return
    total = sum(_TIER_SECONDS.values())
    terminalreporter.write_sep("-", f"real-kernel tier: {len(_TIER_SECONDS)} tests in {total / 60:.1f} min")
    for nodeid, seconds in sorted(_TIER_SECONDS.items()):
        terminalreporter.write_line(f"{seconds:8.1f} s  {nodeid}")
    for line in BENCH_LINES:
        terminalreporter.write_line(line)
