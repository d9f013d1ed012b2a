"""The real-kernel tier: one qemu guest per test, prepared once per session (see harness.py, README.md)."""

import pytest

from tests.realkernel.harness import RealKernel, RealKernelError


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
