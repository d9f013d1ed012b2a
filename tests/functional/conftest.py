"""Fixtures for emulated MDS hosts (see tests/emul/rig.py)."""

import pytest

from tests.emul.rig import make_host


@pytest.fixture
def emulated_host(tmp_path):
    """Factory of emulated hosts, unmounted at teardown."""
    hosts = []

    def make(name="mds01", **kwargs):
        host = make_host(tmp_path, name, **kwargs)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.handle.stop()
