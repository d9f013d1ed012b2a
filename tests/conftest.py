"""Shared fixtures: Salt's real loader over the repository's modules.

``salt_loaders(...)`` builds minion options whose file_roots are the
repository (so ``saltutil.sync_all`` syncs ``_modules``/``_states`` exactly as
formula mode does) and whose ``mdtmirror:`` settings point every kernel path
at an emulated host.
"""

import logging
import os
import shutil
import sys

import pytest

from tests.captures import REPO

# The library as formula mode ships it (salt://_utils/mdtmirror_lib), ahead of any pip-installed copy:
# tests import the repository's code.
sys.path.insert(0, str(REPO / "_utils"))


def minion_opts(tmp_path, minion_id="mds01", mdtmirror=None, pillar=None, extra=None):
    import salt.config

    root = tmp_path / f"salt-{minion_id}"
    for sub in ("cache", "pki", "sock", "log", "pillar"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    opts = salt.config.minion_config(None)
    opts.update(
        id=minion_id,
        root_dir=str(root),
        cachedir=str(root / "cache"),
        # Outside cachedir: Loaders.reset_state() wipes cachedir after syncing.
        extension_modules=str(root / "extmods"),
        pki_dir=str(root / "pki"),
        sock_dir=str(root / "sock"),
        log_file=str(root / "log" / "minion"),
        file_client="local",
        # Formula mode: salt/ holds the SLS tree and links to _modules/, _states/.
        file_roots={"base": [str(REPO / "salt")]},
        pillar_roots={"base": [str(root / "pillar")]},
        grains_cache=False,
        mdtmirror=mdtmirror or {},
    )
    if pillar is not None:
        opts["pillar"] = pillar
    opts.update(extra or {})
    return opts


def _loaders_factory(tmp_path_factory):
    from saltfactories.utils.functional import Loaders

    made = []

    def make(**kwargs):
        opts = minion_opts(tmp_path_factory.mktemp("salt"), **kwargs)
        # One namespace per minion: two emulated hosts in one process must not
        # share loaded module objects.
        loaders = Loaders(opts, loaded_base_name=f"salt.loaded.{opts['id']}")
        made.append(loaders)
        return loaders

    return make, made


@pytest.fixture
def salt_loaders(tmp_path_factory):
    """Factory: ``salt_loaders(mdtmirror={...}, pillar=..., minion_id=...)`` -> Loaders."""
    make, made = _loaders_factory(tmp_path_factory)
    yield make
    for loaders in made:
        loaders.reset_state()


@pytest.fixture(scope="module")
def module_salt_loaders(tmp_path_factory):
    """Like ``salt_loaders``, shared by the tests of one module (loading costs seconds)."""
    make, made = _loaders_factory(tmp_path_factory)
    yield make
    for loaders in made:
        loaders.reset_state()


def salt_bin(name):
    """Path of a Salt console script of the running interpreter's environment."""
    cand = os.path.join(os.path.dirname(sys.executable), name)
    return cand if os.path.exists(cand) else shutil.which(name)


def host_tool(name):
    """Path of a host tool (PATH, then /usr/sbin and /sbin), or None."""
    for cand in (shutil.which(name), f"/usr/sbin/{name}", f"/sbin/{name}"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_tool(*names): host tools the test runs; a missing one fails the test (scripts/setup.sh installs them)",
    )


def pytest_runtest_setup(item):
    # Never a skip: a tier that silently stops running would read as passing.
    for mark in item.iter_markers("needs_tool"):
        missing = [name for name in mark.args if host_tool(name) is None]
        if missing:
            pytest.fail(f"needs {', '.join(missing)}, not installed here (scripts/setup.sh installs it)", pytrace=False)


# Each tier's time in the run's summary (setup + call + teardown of its tests, by the folder they live in).
_TIER_TIMES = {}


def pytest_runtest_logreport(report):
    parts = report.nodeid.split("/")
    tier = parts[1] if len(parts) > 2 and parts[0] == "tests" else "other"
    count, seconds = _TIER_TIMES.get(tier, (0, 0.0))
    _TIER_TIMES[tier] = (count + (report.when == "call"), seconds + report.duration)


def pytest_terminal_summary(terminalreporter, config):
    if not _TIER_TIMES:
        return
    workers = config.getoption("numprocesses", None)
    # Under pytest-xdist the tests' times add up across workers: more than the run's wall time.
    terminalreporter.write_sep("-", f"time per tier (summed over {workers} workers)" if workers else "time per tier")
    for tier, (count, seconds) in sorted(_TIER_TIMES.items(), key=lambda item: -item[1][1]):
        terminalreporter.write_line(f"{seconds / 60:6.1f} min  {count:4d} tests  tests/{tier}")


def pytest_unconfigure(config):
    # Salt's log handlers flush once more at interpreter exit, into the capture streams pytest has
    # closed by then: each record would print a "--- Logging error ---" traceback after the summary
    # and bury it (CI shows a run's last lines). The records are the tests' own, already reported.
    logging.raiseExceptions = False
