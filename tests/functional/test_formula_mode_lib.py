"""Formula mode on a host where mdtmirror is not pip-installed: the library comes with ``saltutil.sync_all``.

A child interpreter sees Salt's site-packages minus mdtmirror's own packages (what a host has that
gets mdtmirror from file_roots/gitfs only). In one process, as a minion's: before the sync the
library is not importable; ``saltutil.sync_all`` brings ``_utils/mdtmirror_lib`` and the modules, and
``zfsmirror.version`` runs on it; then the formula is upgraded (a library file changes),
``saltutil.sync_all`` again, and the reloaded module runs the new library, not the one this process
imported first.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

from tests.captures import REPO

MINION = textwrap.dedent(
    """
    import importlib.util, json, sys
    import salt.config, salt.loader
    formula, root, zpool = sys.argv[1:4]
    report = {"before": importlib.util.find_spec("mdtmirror_lib") is not None}
    opts = salt.config.minion_config(None)
    opts.update(
        id="mds01", root_dir=root, cachedir=root + "/cache", extension_modules=root + "/extmods",
        pki_dir=root + "/pki", sock_dir=root + "/sock", log_file=root + "/minion.log", file_client="local",
        file_roots={"base": [formula]}, pillar_roots={"base": [root + "/pillar"]}, grains_cache=False,
        mdtmirror={"bin": {"zpool": zpool}},
    )

    def load():
        utils = salt.loader.utils(opts)
        return salt.loader.minion_mods(opts, utils=utils)

    report["synced"] = load()["saltutil.sync_all"]()
    report["first"] = load()["zfsmirror.version"]()
    report["first_lib"] = sys.modules["mdtmirror_lib"].__file__
    print("ready", flush=True)
    sys.stdin.readline()  # the test upgrades the formula now
    report["resynced"] = load()["saltutil.sync_all"]()
    report["second"] = load()["zfsmirror.version"]()
    print(json.dumps(report))
    """
)

UPGRADE = """

_first_parse_version = parse_version


def parse_version(text):
    result = _first_parse_version(text)
    result["formula"] = "upgraded"
    return result
"""


def _formula_only_path(tmp_path):
    """Salt's site-packages as seen by a host without mdtmirror installed: every entry linked but ours."""
    site = sysconfig.get_paths()["purelib"]
    view = tmp_path / "site"
    view.mkdir()
    for name in os.listdir(site):
        if name.startswith(("mdtmirror", "__editable__")) or name.endswith(".pth"):
            continue
        os.symlink(os.path.join(site, name), view / name)
    return view


def test_formula_mode_syncs_the_library_and_a_running_minion_picks_up_its_upgrade(tmp_path):
    formula = tmp_path / "formula"
    shutil.copytree(REPO / "salt", formula, symlinks=False)
    zpool = tmp_path / "zpool"
    zpool.write_text("#!/bin/sh\nprintf 'zfs-2.3.2-1\\nzfs-kmod-2.3.2-1\\n'\n")
    zpool.chmod(0o755)
    (tmp_path / "root" / "pillar").mkdir(parents=True)
    minion = subprocess.Popen(
        [sys.executable, "-S", "-c", MINION, str(formula), str(tmp_path / "root"), str(zpool)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(_formula_only_path(tmp_path)), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    try:
        # After the first sync and call, the formula is upgraded.
        assert minion.stdout.readline().strip() == "ready", minion.stderr.read()[-3000:]
        with open(formula / "_utils" / "mdtmirror_lib" / "zfs_parse.py", "a") as handle:
            handle.write(UPGRADE)
        out, err = minion.communicate("go\n", timeout=300)
    finally:
        if minion.poll() is None:
            minion.kill()
    assert minion.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["before"] is False, "mdtmirror_lib must not be importable before the sync on this host"
    assert "utils.mdtmirror_lib.zfs_parse" in report["synced"]["utils"], report["synced"]
    assert "modules.zfsmirror" in report["synced"]["modules"], report["synced"]
    assert report["first_lib"].startswith(str(tmp_path / "root" / "extmods" / "utils")), report["first_lib"]
    assert report["first"]["userland"]["version"] == "2.3.2" and "formula" not in report["first"], report["first"]
    assert report["resynced"]["utils"] == ["utils.mdtmirror_lib.zfs_parse"], report["resynced"]
    assert report["second"]["formula"] == "upgraded", report["second"]


MASTER = textwrap.dedent(
    """
    import json, sys
    import salt.config, salt.loader
    formula, root = sys.argv[1:3]
    opts = salt.config.master_config(None)
    opts.update(
        root_dir=root, cachedir=root + "/cache", extension_modules=root + "/extmods", pki_dir=root + "/pki",
        sock_dir=root + "/sock", log_file=root + "/master.log", file_roots={"base": [formula]},
    )

    def runners():
        return salt.loader.runner(opts, utils=salt.loader.utils(opts))

    report = {"before": "mdtmirror.status" in runners()}
    report["runner_only"] = runners()["saltutil.sync_runners"]()
    only = runners()
    report["without_lib"] = "mdtmirror.status" in only
    report["why"] = only.missing_fun_string("mdtmirror.status")
    report["synced"] = only["saltutil.sync_all"]()
    after = runners()
    report["after"] = sorted(f for f in after if f.startswith("mdtmirror."))
    report["lib"] = sys.modules["mdtmirror_lib"].__file__
    print(json.dumps(report))
    """
)


def test_formula_mode_master_runner_stands_on_the_synced_library(tmp_path):
    """The runner (master side) imports the library: ``salt-run saltutil.sync_all`` brings both; the runner
    synced without it (``sync_runners`` only) is refused with a reason that says what to run."""
    formula = tmp_path / "formula"
    shutil.copytree(REPO / "salt", formula, symlinks=False)
    (tmp_path / "root").mkdir()
    master = subprocess.run(
        [sys.executable, "-S", "-c", MASTER, str(formula), str(tmp_path / "root")],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(_formula_only_path(tmp_path)), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    assert master.returncode == 0, master.stderr[-3000:]
    report = json.loads(master.stdout.strip().splitlines()[-1])
    assert report["before"] is False, report
    assert report["runner_only"] == ["runners.mdtmirror"], report
    assert report["without_lib"] is False and "salt-run saltutil.sync_all" in report["why"], report
    assert "utils.mdtmirror_lib.fleet" in report["synced"]["utils"], report["synced"]
    assert {"mdtmirror.status", "mdtmirror.operation_plan", "mdtmirror.rollout_plan"} <= set(report["after"]), report
    assert report["lib"].startswith(str(tmp_path / "root" / "extmods" / "utils")), report["lib"]
