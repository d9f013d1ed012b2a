"""A real salt-master and two real salt-minions, ``mds01`` and ``mds02``, on two
emulated MDS hosts (tests/emul/rig.py's ``make_pair``: SCST and ib_srp
emulators on one InfiniBand fabric, zpool/zfs from tests/emul/zfsemu.py).
A test module's ``FLEET`` (pair -> nodes) gives it more pairs: a minion per
node, a fabric per pair (``fleet`` fixture; ``pair`` is the only one's).

The emulators run in this pytest process (FUSE threads); the minions are
separate processes that reach them through the mount points and the hosts'
fake binaries. Starting the daemons costs seconds, so they are shared by the
tests of a module; every test gets a fresh pair (``pair``) at the same paths,
so the minions' ``mdtmirror:`` config (sysroot and binaries) stays valid.
"""

import contextlib
import json
import os
import shutil
import sys
import types
from pathlib import Path

import pytest

from tests.emul import zfsemu
from tests.emul.rig import make_pair

REPO = Path(__file__).resolve().parents[2]
NAMES = ("mds01", "mds02")
FLEET = {"mdt0": NAMES}
TGT = "mds0*"
LOCAL_BY_ID = {
    "mds01": "/dev/disk/by-id/scsi-35000c500a1b2c3d4",
    "mds02": "/dev/disk/by-id/scsi-35000c500a1b2c3d5",
    "mds03": "/dev/disk/by-id/scsi-35000c500a1b2c3d6",
    "mds04": "/dev/disk/by-id/scsi-35000c500a1b2c3d7",
}

# The pillar of the rollout (pillar.example's shape). No init system on an
# emulated host: the scst/srp_daemon services stay off; systemctl (snapshot
# timers) is a fake that records its argv.
MINE_FUNCTIONS = {
    "mdtmirror_targets": [{"mine_function": "mdtmirror.local_targets"}],
    "mdtmirror_srp_ports": [{"mine_function": "srp.ports"}],
    "mdtmirror_ips": [{"mine_function": "network.ip_addrs"}],
    "mdtmirror_node": [{"mine_function": "mdtmirror.node_facts"}],
}


def base_pillar(fleet=FLEET):
    """One pair per entry of ``fleet``, its first node the owner, pool ``mdtpool`` on every pair."""
    pairs = {
        name: {"nodes": {node: {"lun_path": "/dev/mdt0"} for node in nodes}, "owner": nodes[0], "pool": "mdtpool"}
        for name, nodes in fleet.items()
    }
    return {
        "mine_functions": MINE_FUNCTIONS,
        "mdtmirror": {
            "pairs": pairs,
            "target": {"enable_service": False, "module_options": {"ib_srpt": {"rdma_cm_port": 5555}}},
            "initiator": {"enable_daemon": False},
            "snapshots": {"enabled": True, "policy": {"hourly": 24, "daily": 7}, "interval": 60},
        },
    }


FAKE_SYSTEMCTL = """#!{python}
# systemctl of an emulated host: records its argv (one JSON list a line), succeeds.
import json, sys
with open({log!r}, "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def build_pair(base, names=NAMES):
    """A fresh pair in ``base`` (emptied first): modules not loaded yet, no pool."""
    base = Path(base)
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    pair = make_pair(
        base,
        names=names,
        link_layer="InfiniBand",
        # SRP timers compressed in time (a second is 60 ms): path loss -> removed in ~2 s.
        fabric_kwargs={"time_scale": 0.06},
        srp_kwargs={"ib_srp_loaded": False},
        scst_loaded=False,
    )
    try:
        for host in pair.hosts.values():
            host.mdtmirror["bin"].update(zfsemu.install(host.root))
            log = host.root / "var" / "log" / "systemctl.jsonl"
            log.parent.mkdir(parents=True, exist_ok=True)
            systemctl = host.root / "sbin" / "systemctl"
            systemctl.write_text(FAKE_SYSTEMCTL.format(python=sys.executable, log=str(log)))
            os.chmod(systemctl, 0o755)
            host.mdtmirror["bin"]["systemctl"] = str(systemctl)
            # Written into the timer units: fixed, so predictions and runs match anywhere.
            host.mdtmirror["bin"]["salt_call"] = "/usr/bin/salt-call"
            host.systemctl_log = log
            # udev's stable name of the local disk (what a real LUN has); the
            # pillar gives /dev/mdt0 and zfsmirror records this link instead.
            link = host.root / LOCAL_BY_ID[host.name].lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink("../../mdt0", link)
    except BaseException:
        pair.stop()
        raise
    return pair


def build_fleet(base, fleet):
    """``{pair: build_pair(base/<pair>)}``, one fabric each."""
    pairs = {}
    try:
        for name, nodes in fleet.items():
            pairs[name] = build_pair(Path(base) / name, tuple(nodes))
    except BaseException:
        for pair in pairs.values():
            pair.stop()
        raise
    return pairs


def systemctl_calls(host):
    if not host.systemctl_log.exists():
        return []
    return [json.loads(line) for line in host.systemctl_log.read_text().splitlines()]


def _tree(path):
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):  # host-absolute targets (/etc/systemd/...): not followed
                out.append((os.path.relpath(full, path), "-> " + os.readlink(full)))
                continue
            with open(full, "rb") as handle:
                out.append((os.path.relpath(full, path), handle.read()))
    return out


def host_state(host):
    """Everything the formula may change on an emulated host, for "nothing changed" checks."""
    root = host.root
    rc, pools, _ = zfsemu.run(root, "zpool", ["list", "-H", "-o", "name"])
    return {
        "scst": host.kernel.dump(),
        "modules": sorted(os.listdir(root / "sys" / "module")),
        "logins": sorted(host.srp.kernel.logins),
        "pools": (rc, pools.decode()),
        "etc": _tree(root / "etc"),
        "systemctl": systemctl_calls(host),
    }


class Rollout:
    """The shared daemons and the pillar they serve; ``salt``/``run`` return the CLI results."""

    def __init__(self, master, minions, pillar_dir, hosts_base, fleet=FLEET):
        self.master = master
        self.minions = minions
        self.fleet = fleet
        self.names = tuple(minions)
        self.pillar_dir = pillar_dir
        self.hosts_base = hosts_base
        self.salt_cli = master.salt_cli(timeout=240)
        self.run_cli = master.salt_run_cli(timeout=480)

    def salt(self, *args, tgt=TGT, **kwargs):
        return self.salt_cli.run(*args, minion_tgt=tgt, **kwargs)

    def run(self, *args, **kwargs):
        return self.run_cli.run(*args, **kwargs)

    def set_pillar(self, pillar):
        (self.pillar_dir / "mdtmirror.sls").write_text(json.dumps(pillar, indent=1) + "\n")
        ret = self.salt("saltutil.refresh_pillar", wait=True)
        assert ret.returncode == 0, ret
        got = self.salt("pillar.get", "mdtmirror:pairs", unmask=True)  # 3008 masks pillar output
        assert got.returncode == 0, got
        assert set(got.data) == set(self.names), got.data
        for name in self.names:
            assert got.data[name] == pillar["mdtmirror"].get("pairs", ""), (name, got.data[name])

    def orchestrate(self, pillar=None, **kwargs):
        # timeout: the nodes' answers to the rollout plan; in CI this tier runs at nice 19 beside busy guests.
        pillar = {"tgt": TGT, "timeout": 120, **(pillar or {})}
        return self.run("state.orchestrate", "mdtmirror.orch", pillar=pillar, **kwargs)


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    """The daemons' directories in pytest's temporary tree, not ``$TMPDIR/<id>_<n>``
    (saltfactories' default, left behind after every run). Kept short: unix socket paths."""
    return {"root_dir": tmp_path_factory.mktemp("sf")}


@pytest.fixture(scope="module")
def rollout(request, salt_factories, tmp_path_factory):
    """A salt-master serving the formula from the repository and two minions
    pointed at the emulated hosts under one fixed directory. A test module's
    ``MASTER_OVERRIDES`` (e.g. a reactor) go into its master's configuration."""
    fleet = getattr(request.module, "FLEET", FLEET)
    hosts_base = tmp_path_factory.mktemp("hosts")
    pillar_dir = tmp_path_factory.mktemp("pillar")
    (pillar_dir / "top.sls").write_text("base:\n  'mds0*':\n    - mdtmirror\n")
    (pillar_dir / "mdtmirror.sls").write_text(json.dumps(base_pillar(fleet), indent=1) + "\n")

    # The hosts' paths (sysroot, fake binaries) depend only on hosts_base.
    probe = build_fleet(hosts_base, fleet)
    config = {name: json.loads(json.dumps(host.mdtmirror)) for p in probe.values() for name, host in p.hosts.items()}
    for pair in probe.values():
        pair.stop()
    shutil.rmtree(hosts_base)

    master = salt_factories.salt_master_daemon(
        "mdtmirror-master",
        overrides={
            "file_roots": {"base": [str(REPO / "salt")]},
            "pillar_roots": {"base": [str(pillar_dir)]},
            "log_level_logfile": "info",
            # Salt's "is that job still running?" round waits 10 s by default. In CI this tier runs at
            # nice 19 beside the real-kernel guests, which can leave a minion too little CPU to answer in
            # 10 s: the orchestration then took a busy node for a gone one ("did not return").
            "gather_job_timeout": 120,
            **getattr(request.module, "MASTER_OVERRIDES", {}),
        },
    )
    minions = {
        name: master.salt_minion_daemon(
            name,
            overrides={
                "mdtmirror": config[name],
                # mine_interval stays at its default (60 min): the orchestration
                # publishes the peers' facts itself (refresh_pillar + mine.update).
                "log_level_logfile": "info",
                # Salt's default (saltfactories sets 0.05): beacons run once a second whatever it is, but
                # their interval counts loop_interval steps, so 0.05 would make a 1 s beacon look every 20 s.
                "loop_interval": 1,
            },
        )
        for nodes in fleet.values()
        for name in nodes
    }
    with master.started(), contextlib.ExitStack() as started:
        for minion in minions.values():
            started.enter_context(minion.started())
        rollout = Rollout(master, minions, pillar_dir, hosts_base, fleet)
        rollout.config = config
        # Formula mode: the repository's modules, not a pip-installed
        # mdtmirror that may be older (state.apply does not sync by itself).
        ret = rollout.salt("saltutil.sync_all")
        assert ret.returncode == 0, ret
        # The master's side: the mdtmirror runner the pair operations ask.
        ret = rollout.run("saltutil.sync_all")
        assert ret.returncode == 0, ret
        yield rollout


def stop_beacons(rollout):
    """Remove the mdtmirror beacon from both minions (and their beacons.conf), if they run one."""
    rollout.salt("beacons.delete", "mdtmirror", "save=True")


@pytest.fixture
def fleet(rollout):
    """Fresh pairs (``{pair: namespace}``) at the minions' paths, the rollout pillar in place, no mine
    data left, no beacon (a previous test's rollout installs one; it would look into the hosts while
    they are rebuilt)."""
    stop_beacons(rollout)
    pairs = build_fleet(rollout.hosts_base, rollout.fleet)
    try:
        for pair in pairs.values():
            for name, host in pair.hosts.items():
                assert host.mdtmirror == rollout.config[name], "emulated host paths moved"
        rollout.set_pillar(base_pillar(rollout.fleet))
        ret = rollout.salt("mine.flush")
        assert ret.returncode == 0, ret
        yield pairs
    finally:
        stop_beacons(rollout)
        for pair in pairs.values():
            pair.stop()


@pytest.fixture
def pair(fleet):
    """The pair of a one-pair module."""
    (only,) = fleet.values()
    return only


@pytest.fixture
def rig(rollout, pair):
    return types.SimpleNamespace(salt=rollout, pair=pair)
