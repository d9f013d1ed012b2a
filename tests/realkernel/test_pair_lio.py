"""
Scenario 3 on real kernels: two guests (mds01, mds02) on one L2 segment
(``-netdev socket``), a salt-master on the host and a salt-minion in each
guest (guest/pair_node.sh). ``state.orchestrate mdtmirror.orch`` rolls the
pair out with the lio backend, in roles: the standby (mds02) exports its LUN
(a virtio disk) through an iblock backstore (exclusive) and LIO's ib_srpt
over soft-RoCE; the active (owner, mds01) exports nothing, logs in to it and
mirrors its own LUN with it. A known data set is written and fsync'ed; then
``state.orchestrate mdtmirror.switchover``: mds02 active (its own LUN local,
mds01's over SRP), both sides ONLINE, every file identical; a second import
on the old active is refused by the kernel's multihost check, a takeover by
the runner (the active is alive), and a second holder of either disk by the
kernel (EBUSY).

Assertions are on what the kernels say (``zpool status -j``, sysfs and
configfs read by guest/sysfs_facts.py, the refusal of ``zpool import``),
fetched through the minions with ``cmd.run``.
"""

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest
from pytestshellutils.exceptions import FactoryTimeout

from tests.captures import REPO

pytestmark = [pytest.mark.realkernel, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
NAMES = ("mds01", "mds02")
SEGMENT = {"mds01": ("52:54:00:00:01:01", "192.168.100.1"), "mds02": ("52:54:00:00:01:02", "192.168.100.2")}
LUN_BYTES = 256 * 1024**2
POOL = "mdtpool"


def pillar():
    return {
        "mine_functions": {
            "mdtmirror_targets": [{"mine_function": "mdtmirror.local_targets"}],
            "mdtmirror_srp_ports": [{"mine_function": "srp.ports"}],
            # The RDMA/CM address is on the segment; both guests are 10.0.2.15 on their own user-mode network.
            "mdtmirror_ips": [{"mine_function": "network.ip_addrs"}, {"cidr": "192.168.100.0/24"}],
            "mdtmirror_node": [{"mine_function": "mdtmirror.node_facts"}],
        },
        "mdtmirror": {
            "pairs": {
                "mdt0": {
                    "nodes": {name: {"lun_path": f"/dev/disk/by-id/virtio-mdt-{name}"} for name in NAMES},
                    "owner": "mds01",
                    "pool": POOL,
                }
            },
            # No init system in the guests: the restore/srp_daemon services and snapshot timers stay off.
            "target": {"backend": "lio", "enable_service": False, "lio": {"rdma_cm_port": 5555}},
            "initiator": {"enable_daemon": False},
            "snapshots": {"enabled": False},
        },
    }


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    return {"root_dir": tmp_path_factory.mktemp("sf")}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Pair:
    def __init__(self, master, guests):
        self.master = master
        self.guests = guests  # name -> (StartedGuest, share)
        self.cli = master.salt_cli(timeout=900)
        self.run_cli = master.salt_run_cli(timeout=3000)

    def salt(self, tgt, *args, **kwargs):
        return self.cli.run(*args, minion_tgt=tgt, **kwargs)

    def where(self):
        return "; ".join(f"{name}: {guest.results_dir}" for name, (guest, _) in self.guests.items())

    def kernel(self, name, *argv):
        """Run a command in a guest through its minion: (retcode, stdout + stderr)."""
        ret = self.salt(name, "cmd.run_all", json.dumps(list(argv)), "python_shell=False")
        # salt exits 1 when the command did: the command's own exit code is in the data.
        assert isinstance(ret.data, dict) and "retcode" in ret.data, ret
        return ret.data["retcode"], ret.data["stdout"] + ret.data["stderr"]

    def status(self, name):
        rc, out = self.kernel(name, "zpool", "status", "-j", "--json-int", POOL)
        assert rc == 0, out
        pool = json.loads(out)["pools"][POOL]
        (mirror,) = pool["vdevs"][POOL]["vdevs"].values()
        return pool["state"], mirror["vdevs"]

    def facts(self, name):
        rc, out = self.kernel(name, "python3", "/realkernel/sysfs_facts.py", "")
        assert rc == 0, out
        return json.loads(out)


@pytest.fixture(scope="module")
def pair(realkernel, salt_factories, tmp_path_factory):
    harness = realkernel.get()
    zfs = realkernel.get_zfs()
    salt_minion = str(Path(sys.executable).parent / "salt-minion")
    assert os.access(salt_minion, os.X_OK), salt_minion
    pillar_dir = tmp_path_factory.mktemp("pillar")
    (pillar_dir / "top.sls").write_text("base:\n  'mds0*':\n    - mdtmirror\n")
    (pillar_dir / "mdtmirror.sls").write_text(json.dumps(pillar(), indent=1) + "\n")
    master = salt_factories.salt_master_daemon(
        "mdtmirror-rk-master",
        overrides={
            # Formula mode: salt/ holds the SLS tree and links to _modules/_states.
            "file_roots": {"base": [str(REPO / "salt")]},
            "pillar_roots": {"base": [str(pillar_dir)]},
            "auto_accept": True,
            # Minions under TCG answer a job-status query (find_job) in tens of seconds: with the defaults
            # (5 s, 10 s) the orchestration's steps give up on minions that are still working.
            "timeout": 120,
            "gather_job_timeout": 180,
            "interface": "127.0.0.1",  # the guests reach it as 10.0.2.2 (user-mode networking)
            "log_level_logfile": "info",
        },
    )
    disks = tmp_path_factory.mktemp("luns")
    segment_port = _free_port()
    with master.started():
        guests = {}
        try:
            for name in NAMES:
                mac, ip = SEGMENT[name]
                lun = disks / f"{name}.img"
                with open(lun, "wb") as handle:
                    handle.truncate(LUN_BYTES)
                netdev = f"socket,id=seg,{'listen' if name == 'mds01' else 'connect'}=127.0.0.1:{segment_port}"
                params = (
                    f"NAME={name}\nSEGMENT_MAC={mac}\nSEGMENT_IP={ip}\nLUN_SERIAL=mdt-{name}\n"
                    f"MASTER_PUBLISH_PORT={master.config['publish_port']}\n"
                    f"MASTER_RET_PORT={master.config['ret_port']}\nSALT_MINION={salt_minion}\n"
                ) + zfs.guest_env()
                guest = harness.start(
                    (HERE / "guest" / "pair_node.sh").read_text(),
                    snapshots=[realkernel.python],
                    files={"params.env": params, "sysfs_facts.py": (HERE / "guest" / "sysfs_facts.py").read_text()},
                    qemu_args=[
                        "-netdev",
                        netdev,
                        "-device",
                        f"virtio-net-pci,netdev=seg,mac={mac},romfile=",
                        "-drive",
                        f"file={lun},format=raw,if=none,id=lun,cache=none",
                        "-device",
                        f"virtio-blk-pci,drive=lun,serial=mdt-{name}",
                    ],  # fmt: skip
                )
                guests[name] = (guest, guest.results_dir / "share")
                time.sleep(1)  # the listening side first
            rig = Pair(master, guests)
            _wait_for_minions(rig)
            yield rig
        finally:
            for _guest, share in guests.values():
                (share / "stop").write_text("stop\n")
            for guest, _share in guests.values():
                try:
                    harness.wait(guest, timeout=300)
                except Exception:  # noqa: BLE001  (a hung guest must not hide the test's own failure)
                    guest.kill()


def _wait_for_minions(rig, timeout=900):
    ping = rig.master.salt_cli(timeout=20)  # salt -t 20: a minion still starting just misses one round
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ret = ping.run("test.ping", minion_tgt="mds0*", _timeout=300)
        except FactoryTimeout:  # the CLI also waits for find_job answers (gather_job_timeout)
            continue
        if isinstance(ret.data, dict) and all(ret.data.get(name) is True for name in NAMES):
            return
        time.sleep(5)
    pytest.fail(f"the guests' minions did not answer within {timeout}s; {rig.where()}", pytrace=False)


def _failed_steps(orchestration):
    """{step: its comment, and the failed states of each minion} of a failed state.orchestrate."""
    data = orchestration.data or {}
    data = data.get("data", data)
    failed = {}
    for steps in data.values():
        for key, step in (steps if isinstance(steps, dict) else {}).items():
            if isinstance(step, dict) and step.get("result") is False:
                minions = (step.get("changes") or {}).get("ret") or {}
                failed[key.split("_|-")[1]] = {
                    "comment": step.get("comment"),
                    "minions": {
                        minion: {
                            sid: state.get("comment")
                            for sid, state in (ret.items() if isinstance(ret, dict) else [])
                            if isinstance(state, dict) and state.get("result") is False
                        }
                        or ret
                        for minion, ret in minions.items()
                    },
                }
    return json.dumps(failed, indent=1)[-6000:] if failed else orchestration.stdout[-4000:]


def _changed_states(ret):
    states = ret.values() if isinstance(ret, dict) else []
    return sum(1 for state in states if isinstance(state, dict) and state.get("changes"))


def _changes(orchestration):
    """{step: {minion: number of states with changes}} of a state.orchestrate return."""
    data = orchestration.data
    data = data.get("data", data)
    (steps,) = data.values() if len(data) == 1 else (data,)
    out = {}
    for key, step in steps.items():
        name = key.split("_|-")[1]
        minions = (step.get("changes") or {}).get("ret") or {}
        out[name] = {minion: _changed_states(ret) for minion, ret in minions.items()}
        assert step["result"] is True, (name, step.get("comment"), json.dumps(step.get("changes"))[-3000:])
    return out


DATA_SCRIPT = """
set -e
zfs create -o mountpoint=/mnt/mdtdata mdtpool/data
for i in $(seq 1 20); do dd if=/dev/urandom of=/mnt/mdtdata/f$i bs=64k count=4 conv=fsync status=none; done
sync
cd /mnt/mdtdata && sha256sum f* > /run/mdtdata.sha256 && cat /run/mdtdata.sha256
"""


def _roles(pair, facts, active, standby):
    """The standby exports its LUN (iblock) to the active's port ID and is logged in nowhere; the active
    exports nothing, is logged in to the standby's LUN and has the pool: its own LUN + that one, ONLINE."""
    lio = facts[standby]["lio"]
    (backstore,) = lio["backstores"].values()
    assert backstore["udev_path"] == f"/dev/disk/by-id/virtio-mdt-{standby}", backstore
    assert backstore["hba"].startswith("iblock_"), backstore
    (tpg,) = lio["targets"].values()
    active_gid = facts[active]["infiniband"]["rxe0"]["gid0"].replace(":", "")
    assert list(tpg["acls"]) == ["0x" + "0" * 16 + active_gid[16:]], (standby, tpg)
    assert tpg["enable"] == "1" and lio["rdma_cm_port"] == "5555", tpg
    assert facts[standby]["srp_remote_ports"] == {}, facts[standby]["srp_remote_ports"]
    assert facts[active]["lio"]["backstores"] == {}, facts[active]["lio"]
    ports = facts[active]["srp_remote_ports"]
    assert [p["state"] for p in ports.values()] == ["running"], (active, ports)
    lio_disks = [d for d in facts[active]["disks"].values() if d["vendor"] == "LIO-ORG"]
    assert len(lio_disks) == 1 and lio_disks[0]["size_bytes"] == LUN_BYTES, (active, facts[active]["disks"])
    state, leaves = pair.status(active)
    assert state == "ONLINE" and all(v["state"] == "ONLINE" for v in leaves.values()), leaves
    assert any(n.startswith(f"virtio-mdt-{active}") for n in leaves), leaves
    assert any(n.startswith("scsi-36001405") for n in leaves), leaves
    rc, out = pair.kernel(standby, "zpool", "list", "-H", "-o", "name")
    assert rc == 0 and out.strip() == "", out


def test_scenario3_orchestrated_pair_in_roles_then_switchover(pair):
    first = pair.run_cli.run("state.orchestrate", "mdtmirror.orch", pillar={"tgt": "mds0*"})
    assert first.returncode == 0, f"orchestration failed: {_failed_steps(first)}; {pair.where()}"
    steps = _changes(first)
    assert steps["mdtmirror-targets"] and all(steps["mdtmirror-targets"][n] for n in NAMES), steps
    _roles(pair, {name: pair.facts(name) for name in NAMES}, "mds01", "mds02")

    # A known data set, fsync'ed on the active.
    ret = pair.salt("mds01", "cmd.run_all", DATA_SCRIPT, "python_shell=True")
    assert ret.data["retcode"] == 0, ret.data
    sums = ret.data["stdout"]
    assert len(sums.splitlines()) == 20, sums

    # The kernel refuses a second holder of the active's pool disk (iblock is exclusive).
    rc, out = pair.kernel("mds02", "zpool", "import", "-f", "-d", "/dev/disk/by-id", POOL)
    assert rc != 0, out

    # A takeover while the active answers: refused by the runner, nothing moves.
    ret = pair.run_cli.run("saltutil.sync_runners")
    assert ret.returncode == 0, ret
    refused = pair.run_cli.run("state.orchestrate", "mdtmirror.takeover", pillar={"pair": "mdt0", "tgt": "mds0*"})
    assert refused.returncode != 0 and "mds01 is alive and holds the pool" in refused.stdout, refused.stdout[-3000:]

    # Switchover: mds02 active over its own LUN + mds01's over SRP, both ONLINE, every file identical.
    switch = pair.run_cli.run("state.orchestrate", "mdtmirror.switchover", pillar={"pair": "mdt0", "tgt": "mds0*"})
    assert switch.returncode == 0, f"switchover failed: {_failed_steps(switch)}; {pair.where()}"
    _roles(pair, {name: pair.facts(name) for name in NAMES}, "mds02", "mds01")
    rc, out = pair.kernel("mds02", "zfs", "mount", "-a")
    ret = pair.salt("mds02", "cmd.run_all", "cd /mnt/mdtdata && sha256sum f*", "python_shell=True")
    assert ret.data["retcode"] == 0 and ret.data["stdout"] == sums, ret.data

    # A second import on the old active is refused by the kernel (multihost: the pool is active on mds02).
    rc, out = pair.kernel("mds01", "zpool", "import", "-f", "-d", "/dev/disk/by-id", POOL)
    assert rc != 0, out
    assert "pool is imported on host 'mds02'" in out, out
    rc, out = pair.kernel("mds01", "zpool", "list", "-H", "-o", "name")
    assert out.strip() == "", out
    # ... and by zfsmirror.import_pool, even asked to force.
    ret = pair.salt("mds01", "zfsmirror.import_pool", POOL, "force=True")
    assert ret.returncode != 0, ret
    assert "pool mdtpool is imported on mds02" in str(ret.data) and "multihost sees it active" in str(ret.data), ret
