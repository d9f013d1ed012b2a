"""
Scenario 3 on real kernels: two guests (mds01, mds02) on one L2 segment
(``-netdev socket``, UDP), a salt-master on the host and a salt-minion in each
guest (guest/pair_node.sh). ``state.orchestrate mdtmirror.orch`` rolls the
pair out with the lio backend, in roles: the standby (mds02) exports its LUN
(a virtio disk) through an iblock backstore (exclusive) and LIO's ib_srpt
over soft-RoCE; the active (owner, mds01) exports nothing, logs in to it and
mirrors its own LUN with it. A known data set is written and fsync'ed; then
``state.orchestrate mdtmirror.switchover``: mds02 active (its own LUN local,
mds01's over SRP), both sides ONLINE, every file identical; no second import
anywhere (each disk has one holder), a takeover refused by the runner while
the active answers. The way back is made by hand (the kernel moves only,
bench 6), and the formula then agrees with it. Then the active (mds01, the
pillar's owner) is killed: takeover on the survivor, DEGRADED, every
fsync-acknowledged file identical; the crashed owner boots again,
``state.apply`` makes it the standby (the peer holds the pool), the active
heals it (the disk came back under another name: detach + attach,
resilver), scrub clean, every file identical. Last, unattended heal and
reboots: the beacons turned on (they stay off until then, so no reactor acts
during the operations above) and each node given the minion's start-up
state; the standby rebooted for real while the active writes fsync'ed files
(the SRP side is lost), and with no command typed (its start-up state
exports its LUN again; the active's beacon and the master's heal reactor,
state.apply on the active, bring the SRP side back) the pool is ONLINE on
both sides, every file identical; then the active rebooted: its boot imports
nothing, its start-up state imports the pool with both sides, scrub clean.

Assertions are on what the kernels say (``zpool status -j``, sysfs and
configfs read by guest/sysfs_facts.py, the refusal of ``zpool import``),
fetched through the minions with ``cmd.run``.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytestshellutils.exceptions import FactoryTimeout

from tests.captures import REPO
from tests.realkernel.harness import BENCH_LINES

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
            # Off until the reboots: a beacon event during the operations would start the reactor.
            "watch": {"enabled": False},
        },
    }


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    return {"root_dir": tmp_path_factory.mktemp("sf")}


def _free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A kernel message on the serial console: "[ 1186.767751] scsi host0: SRP abort called".
KERNEL_LINE = re.compile(r"^\[ *\d+\.\d+\] ")


class Timed:
    """
    Where the scenario's time goes: each salt/salt-run call and each wait for both minions (a boot's
    time: qemu starts at once) with its wall time, printed in the tier's summary (the CI's 60-minute
    budget is mostly this test's).
    """

    def __init__(self):
        self.steps = []  # (what, seconds)
        self.started = time.monotonic()

    def call(self, what, func, *args, **kwargs):
        started = time.monotonic()
        try:
            return func(*args, **kwargs)
        finally:
            self.steps.append((what, time.monotonic() - started))

    def summary(self):
        total = time.monotonic() - self.started
        by_kind = {}
        for what, seconds in self.steps:
            kind = what.split(" ", 1)[1] if " " in what else what
            count, summed = by_kind.get(kind, (0, 0.0))
            by_kind[kind] = (count + 1, summed + seconds)
        top = sorted(by_kind.items(), key=lambda item: -item[1][1])
        return (
            f"real kernel pair, where the time went ({total:.0f} s from the master's start; calls and waits "
            f"{sum(s for _, s in self.steps):.0f} s): "
            + ", ".join(f"{kind} {count}x {summed:.0f} s" for kind, (count, summed) in top)
        )


class _TimedRunner:
    def __init__(self, cli, timed):
        self._cli, self._timed = cli, timed

    def run(self, *args, **kwargs):
        return self._timed.call(f"master {args[0]}", self._cli.run, *args, **kwargs)


class Pair:
    def __init__(self, master, guests, timed):
        self.master = master
        self.guests = guests  # name -> (StartedGuest, share)
        self.timed = timed
        self.cli = master.salt_cli(timeout=900)
        self.run_cli = _TimedRunner(master.salt_run_cli(timeout=3000), timed)

    def salt(self, tgt, *args, **kwargs):
        what = args[0]
        if what in ("state.apply", "cmd.run_all") and len(args) > 1:
            # the command's first word or the SLS: "cmd.run_all zpool", "state.apply mdtmirror.watch"
            what += " " + (json.loads(args[1])[0] if args[1].startswith("[") else args[1].split()[0])
        return self.timed.call(f"{tgt} {what}", self.cli.run, *args, minion_tgt=tgt, **kwargs)

    def where(self):
        """Each guest's results, and the kernel's last words on its console (CI shows only the test's output)."""
        parts = []
        for name, (guest, _) in self.guests.items():
            console = guest.results_dir / "console.log"
            try:
                text = console.read_text(errors="replace")
            except OSError:
                text = ""
            kernel = [line.rstrip() for line in text.splitlines() if KERNEL_LINE.match(line)][-12:]
            parts.append(f"{name}: {guest.results_dir}" + "".join(f"\n  {name} console: {line}" for line in kernel))
        return "; ".join(parts)

    def kernel(self, name, *argv):
        """Run a command in a guest through its minion: (retcode, stdout + stderr)."""
        ret = self.salt(name, "cmd.run_all", json.dumps(list(argv)), "python_shell=False")
        # salt exits 1 when the command did: the command's own exit code is in the data.
        assert isinstance(ret.data, dict) and "retcode" in ret.data, ret
        return ret.data["retcode"], ret.data["stdout"] + ret.data["stderr"]

    def status(self, name):
        rc, out = self.kernel(name, "zpool", "status", "-j", "--json-int", POOL)
        assert rc == 0, out
        return _pool_state(json.loads(out)["pools"])

    def facts(self):
        """What each guest's kernel says (guest/sysfs_facts.py: sysfs, configfs, the pools), both in one call."""
        argv = json.dumps(["python3", "/realkernel/sysfs_facts.py", ""])
        ret = self.salt("mds0*", "cmd.run_all", argv, "python_shell=False")
        assert isinstance(ret.data, dict) and set(ret.data) == set(NAMES), ret
        for name, answer in ret.data.items():
            assert isinstance(answer, dict) and answer.get("retcode") == 0, (name, answer)
        return {name: json.loads(answer["stdout"]) for name, answer in ret.data.items()}


def _pool_state(pools):
    """(state, {leaf: vdev}) of the pool's mirror in ``zpool status -j``'s ``pools``."""
    pool = pools[POOL]
    (mirror,) = pool["vdevs"][POOL]["vdevs"].values()
    return pool["state"], mirror["vdevs"]


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
            # The heal reactor as README tells admins to enable it (no beacon runs before the last phase).
            "reactor": [
                {"salt/beacon/*/mdtmirror/*/export/ready": ["salt://mdtmirror/reactor/heal.sls"]},
                {"salt/beacon/*/mdtmirror/*/path/running": ["salt://mdtmirror/reactor/heal.sls"]},
            ],
        },
    )
    disks = tmp_path_factory.mktemp("luns")
    rig_pillar_dir = pillar_dir
    # The segment: UDP between fixed ports, stateless, so either guest can reboot (a listening stream
    # socket would leave its peer's qemu disconnected for good).
    segment_ports = {name: _free_port(socket.SOCK_DGRAM) for name in NAMES}

    def start_guest(name):
        """Boot (or boot again, on the same LUN image) the guest of ``name``."""
        mac, ip = SEGMENT[name]
        lun = disks / f"{name}.img"
        if not lun.exists():
            with open(lun, "wb") as handle:
                handle.truncate(LUN_BYTES)
        state = disks / f"{name}-state.img"  # the node's /etc and minion files: they survive its reboots
        if not state.exists():
            subprocess.run(["mkfs.ext4", "-q", "-F", str(state), "256M"], check=True, capture_output=True)
        (peer,) = set(NAMES) - {name}
        netdev = f"socket,id=seg,udp=127.0.0.1:{segment_ports[peer]},localaddr=127.0.0.1:{segment_ports[name]}"
        params = (
            f"NAME={name}\nSEGMENT_MAC={mac}\nSEGMENT_IP={ip}\nLUN_SERIAL=mdt-{name}\n"
            f"MASTER_PUBLISH_PORT={master.config['publish_port']}\n"
            f"MASTER_RET_PORT={master.config['ret_port']}\nSALT_MINION={salt_minion}\n"
        ) + zfs.guest_env()
        guest = harness.start(
            (HERE / "guest" / "pair_node.sh").read_text(),
            snapshots=[realkernel.python],
            files={
                "params.env": params,
                **{f: (HERE / "guest" / f).read_text() for f in ("sysfs_facts.py", "bare_switch.sh")},
            },
            qemu_args=[
                "-netdev",
                netdev,
                "-device",
                f"virtio-net-pci,netdev=seg,mac={mac},romfile=",
                "-drive",
                f"file={lun},format=raw,if=none,id=lun,cache=none",
                "-device",
                f"virtio-blk-pci,drive=lun,serial=mdt-{name}",
                "-drive",
                f"file={state},format=raw,if=none,id=state,cache=unsafe",
                "-device",
                f"virtio-blk-pci,drive=state,serial=rkstate-{name}",
            ],  # fmt: skip
        )
        return guest, guest.results_dir / "share"

    timed = Timed()
    with master.started():
        guests = {}
        try:
            for name in NAMES:
                guests[name] = start_guest(name)
            rig = Pair(master, guests, timed)
            rig.start_guest = start_guest
            rig.pillar_dir = rig_pillar_dir
            _wait_for_minions(rig)
            yield rig
        finally:
            for _guest, share in guests.values():
                (share / "stop").write_text("stop\n")
            # Each guest writes its last facts, logs and exit code, then its qemu is killed: the disks are
            # scratch, and a clean power-off of an active whose SRP side just went away waits for ib_srp to
            # fail the I/O of its sync (seen: 75 s).
            deadline = time.monotonic() + 120
            for guest, share in guests.values():
                while not (share / "rc").exists() and guest.proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(1)
                guest.kill()
            BENCH_LINES.append(timed.summary())


def _wait_for_minions(rig, timeout=900):
    rig.timed.call("both minions-up", _await_minions, rig, timeout)


def _await_minions(rig, timeout):
    ping = rig.master.salt_cli(timeout=20)  # salt -t 20: a minion still starting just misses one round
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # A minion not connected yet makes the CLI wait for find_job answers up to the master's
            # gather_job_timeout (180 s here, for busy TCG guests): seen costing 300 s per wait. An up
            # minion answers in seconds, so a CLI still waiting after 60 s is stopped and asked again.
            ret = ping.run("test.ping", minion_tgt="mds0*", _timeout=60)
        except FactoryTimeout:
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


MORE_DATA_SCRIPT = """
set -e
for i in $(seq 1 10); do dd if=/dev/urandom of=/mnt/mdtdata/g$i bs=64k count=4 conv=fsync status=none; done
sync
cd /mnt/mdtdata && sha256sum g*
"""


def _roles(facts, active, standby):
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
    assert facts[active]["zpool"]["pools"] == [POOL], facts[active]["zpool"]
    state, leaves = _pool_state(facts[active]["zpool"]["status"])
    # The message names each leaf with its state and device id: pytest cuts a long repr in the middle.
    brief = {name: (v["state"], v.get("devid"), v.get("path")) for name, v in leaves.items()}
    assert state == "ONLINE" and all(v["state"] == "ONLINE" for v in leaves.values()), (active, state, brief)
    assert any(n.startswith(f"virtio-mdt-{active}") for n in leaves), leaves
    # The LUN over SRP: LIO's NAA id, by whichever by-id name zpool met first (an import picks wwn-).
    assert any(n.startswith(("scsi-36001405", "wwn-0x6001405")) for n in leaves), leaves
    assert facts[standby]["zpool"]["pools"] == [], facts[standby]["zpool"]


def _switchover(pair, **pillar):
    """``state.orchestrate mdtmirror.switchover``, checked; its wall time from the master's side (s)."""
    started = time.monotonic()
    ret = pair.run_cli.run(
        "state.orchestrate", "mdtmirror.switchover", pillar={"pair": "mdt0", "tgt": "mds0*", **pillar}
    )
    assert ret.returncode == 0, f"switchover failed: {_failed_steps(ret)}; {pair.where()}"
    return time.monotonic() - started


def _bare_switch(pair, old, new, export, login):
    """
    The kernel moves of a switchover from ``old`` to ``new`` made bare (guest/bare_switch.sh: pool
    exported, SRP logout, ``new``'s export closed, ``old``'s disk exported as ``export`` says, login,
    import), each step timed in its guest: the sum of those times (s), Salt's round trips excluded.
    """
    steps = (
        (old, ["release", POOL]),
        (new, ["close"]),
        (old, ["export", *export]),
        (new, ["take", POOL, login, f"/dev/disk/by-id/virtio-mdt-{new}"]),
    )
    elapsed = 0.0
    for name, argv in steps:
        rc, out = pair.kernel(name, "sh", "/realkernel/bare_switch.sh", *argv)
        found = re.findall(r"^elapsed ([0-9.]+)$", out, re.M)
        assert rc == 0 and found, (name, argv, out)
        elapsed += float(found[-1])
    return elapsed


def _export_of(lio):
    """bare_switch.sh's ``export`` arguments for the disk a standby exports now (its LIO facts)."""
    ((name, backstore),) = lio["backstores"].items()
    ((target, tpg),) = lio["targets"].items()
    (acl,) = tpg["acls"]
    # configfs prints "T10 VPD Unit Serial Number: <serial>"; the serial alone is written back.
    serial = backstore["vpd_unit_serial"].split("Unit Serial Number:", 1)[-1].strip()
    return [name, backstore["udev_path"], serial, target, acl]


def test_scenario3_orchestrated_pair_in_roles_then_switchover(pair):
    first = pair.run_cli.run("state.orchestrate", "mdtmirror.orch", pillar={"tgt": "mds0*"})
    assert first.returncode == 0, f"orchestration failed: {_failed_steps(first)}; {pair.where()}"
    steps = _changes(first)
    assert steps["mdtmirror-targets"] and all(steps["mdtmirror-targets"][n] for n in NAMES), steps
    facts = pair.facts()
    _roles(facts, "mds01", "mds02")
    owner_export = _export_of(facts["mds02"]["lio"])  # mds02's export while mds01 is active: the bare switch's

    # A known data set, fsync'ed on the active.
    ret = pair.salt("mds01", "cmd.run_all", DATA_SCRIPT, "python_shell=True")
    assert ret.data["retcode"] == 0, ret.data
    sums = ret.data["stdout"]
    assert len(sums.splitlines()) == 20, sums

    # The kernel refuses a second holder of the active's pool disk (iblock is exclusive).
    rc, out = pair.kernel("mds02", "zpool", "import", "-f", "-d", "/dev/disk/by-id", POOL)
    assert rc != 0, out

    # A takeover while the active answers: refused by the runner, nothing moves.
    ret = pair.run_cli.run("saltutil.sync_all")
    assert ret.returncode == 0, ret
    refused = pair.run_cli.run("state.orchestrate", "mdtmirror.takeover", pillar={"pair": "mdt0", "tgt": "mds0*"})
    assert refused.returncode != 0 and "mds01 is alive and holds the pool" in refused.stdout, refused.stdout[-3000:]

    # Switchover: mds02 active over its own LUN + mds01's over SRP, both ONLINE, every file identical.
    formula_seconds = _switchover(pair)
    _roles(pair.facts(), "mds02", "mds01")
    pair.kernel("mds02", "zfs", "mount", "-a")
    ret = pair.salt("mds02", "cmd.run_all", "cd /mnt/mdtdata && sha256sum f*", "python_shell=True")
    assert ret.data["retcode"] == 0 and ret.data["stdout"] == sums, ret.data

    # No second import on the old active: its own disk is held by its export (iblock) and it sees the pool
    # through nothing else (seen: "no such pool available"); zfsmirror.import_pool, even forced, says so.
    rc, out = pair.kernel("mds01", "zpool", "import", "-f", "-d", "/dev/disk/by-id", POOL)
    assert rc != 0 and "no such pool available" in out, out
    rc, out = pair.kernel("mds01", "zpool", "list", "-H", "-o", "name")
    assert out.strip() == "", out
    ret = pair.salt("mds01", "zfsmirror.import_pool", POOL, "force=True")
    assert ret.returncode != 0 and "is not among the pools on the disks" in str(ret.data), ret

    # Bench (6) on real kernels: the way back (mds02 -> mds01) made bare, the kernel moves only (the formula
    # makes the other direction the same way: the integration tier switches both ways). The formula then
    # agrees with a pair switched by hand: state.apply on both changes nothing but the saved LIO
    # configuration (the running one changed behind it).
    login = pair.salt("mds01", "mdtmirror.plan", "role=active").data["login"]["target"]
    login = ",".join(f"{key}={value}" for key, value in login.items())
    bare_seconds = _bare_switch(pair, "mds02", "mds01", owner_export, login)
    _roles(pair.facts(), "mds01", "mds02")
    pair.kernel("mds01", "zfs", "mount", "-a")
    ret = pair.salt("mds01", "cmd.run_all", "cd /mnt/mdtdata && sha256sum f*", "python_shell=True")
    assert ret.data["retcode"] == 0 and ret.data["stdout"] == sums, ret.data
    assert pair.salt("mds0*", "mine.update").returncode == 0
    for name in ("mds01", "mds02"):
        ret = pair.salt(name, "state.apply", "mdtmirror")
        assert ret.returncode == 0, ret.stdout[-4000:]
        changed = sorted(s["__id__"] for s in ret.data.values() if s["changes"])
        assert set(changed) <= {"mdtmirror-lio-config"}, (name, changed)
    _roles(pair.facts(), "mds01", "mds02")
    BENCH_LINES.append(
        f"bench (6) real kernel: switchover through the formula / the same moves made bare: "
        f"{formula_seconds / bare_seconds:.1f}x ({formula_seconds:.1f} s / {bare_seconds:.1f} s; goal <= 1.5x; "
        "the formula's time includes salt-run and the master's round trips to TCG guests)"
    )

    # More data, fsync'ed on the active, the pillar's owner; then it crashes (its qemu killed, not shut down).
    ret = pair.salt("mds01", "cmd.run_all", MORE_DATA_SCRIPT, "python_shell=True")
    assert ret.data["retcode"] == 0, ret.data
    sums += "\n" + ret.data["stdout"]  # Salt strips each output's last newline
    crashed, _ = pair.guests["mds01"]
    crashed.kill()

    # Takeover on the survivor: the pool DEGRADED and serving, every fsync-acknowledged file identical.
    take = pair.run_cli.run(
        "state.orchestrate", "mdtmirror.takeover", pillar={"pair": "mdt0", "tgt": "mds0*", "timeout": 30}
    )
    assert take.returncode == 0, f"takeover failed: {_failed_steps(take)}; {pair.where()}"
    state, leaves = pair.status("mds02")
    assert state == "DEGRADED", leaves
    assert any(n.startswith("virtio-mdt-mds02") and v["state"] == "ONLINE" for n, v in leaves.items()), leaves
    pair.kernel("mds02", "zfs", "mount", "-a")
    ret = pair.salt("mds02", "cmd.run_all", "cd /mnt/mdtdata && sha256sum f* g*", "python_shell=True")
    assert ret.data["retcode"] == 0 and ret.data["stdout"] == sums, ret.data

    # The crashed owner boots again (a new minion key: the old one goes). Its own disk's label still names
    # it as the pool's last importer (the takeover could not write there), yet it never imports by itself,
    # and state.apply makes it the standby (the peer holds the pool); the active logs in to it and heals:
    # resilver, scrub clean.
    assert pair.master.salt_key_cli().run("-d", "mds01", "-y").returncode == 0
    pair.guests["mds01"] = pair.start_guest("mds01")
    _wait_for_minions(pair)
    assert pair.salt("mds01", "saltutil.sync_all").returncode == 0
    rc, out = pair.kernel("mds01", "zpool", "list", "-H", "-o", "name")
    assert rc == 0 and out.strip() == "", "a returning node must not import the pool: " + out
    back = pair.salt("mds01", "state.apply", "mdtmirror")
    assert back.returncode == 0, back.stdout[-4000:]
    assert pair.salt("mds0*", "mine.update").returncode == 0
    heal = pair.salt("mds02", "state.apply", "mdtmirror")
    assert heal.returncode == 0, heal.stdout[-4000:]
    rc, out = pair.kernel("mds02", "zpool", "wait", "-t", "resilver", POOL)
    assert rc == 0, out
    rc, out = pair.kernel("mds02", "zpool", "scrub", "-w", POOL)
    assert rc == 0, out
    _roles(pair.facts(), "mds02", "mds01")
    rc, out = pair.kernel("mds02", "zpool", "status", "-x", POOL)
    assert "is healthy" in out, out
    ret = pair.salt("mds02", "cmd.run_all", "cd /mnt/mdtdata && sha256sum f* g*", "python_shell=True")
    assert ret.data["retcode"] == 0 and ret.data["stdout"] == sums, ret.data

    _watch_on(pair)
    _reboots(pair, sums, active="mds02", standby="mds01")


def _wait_pool(pair, name, done, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state, leaves = pair.status(name)
        if done(state, leaves):
            return state, leaves
        time.sleep(5)
    pytest.fail(f"{what} not seen within {timeout} s: {state} {json.dumps(leaves)[:2000]}; {pair.where()}")


def _watch_on(pair):
    """The heal beacons on, on both nodes (pillar watch:enabled, ``state.apply mdtmirror.watch``)."""
    settings = pillar()
    settings["mdtmirror"]["watch"] = {"enabled": True, "interval": 2}
    (pair.pillar_dir / "mdtmirror.sls").write_text(json.dumps(settings, indent=1) + "\n")
    assert pair.salt("mds0*", "saltutil.refresh_pillar", "wait=True").returncode == 0
    watch = pair.salt("mds0*", "state.apply", "mdtmirror.watch")
    assert watch.returncode == 0, watch.stdout[-3000:]
    time.sleep(10)  # the beacons' first look: the baseline


STARTUP_STATE = "startup_states: sls\nsls_list:\n  - mdtmirror\n"


def _reboot(pair, name):
    """A real reboot of ``name``'s guest (guest/pair_node.sh: minion stopped, sync, reboot(2)), booted again."""
    guest, share = pair.guests[name]
    (share / "reboot").write_text("reboot\n")
    try:
        guest.proc.wait(timeout=300)
    finally:
        guest.kill()
    pair.guests[name] = pair.start_guest(name)


def _whole(state, leaves):
    return state == "ONLINE" and len(leaves) == 2 and all(v["state"] == "ONLINE" for v in leaves.values())


def _reboots(pair, sums, active, standby):
    """
    ``active`` has the pool, ``standby`` exports its disk, whole, the heal beacons on. Each node gets the
    minion's start-up state as README tells admins (``startup_states: sls`` + ``sls_list: [mdtmirror]`` in
    the minion's config), then is rebooted for real, with no command typed after the reboot: the standby
    comes back exporting its disk, the active's SRP path comes back and the mirror heals; the active comes
    back with no pool imported by the boot, and its start-up state imports the pool again (its disk's label
    names it) with both sides.
    """
    for name in NAMES:
        rc, out = pair.kernel(
            name,
            "sh",
            "-c",
            f"mkdir -p /persist/salt/etc/minion.d && printf '{STARTUP_STATE}' > "
            "/persist/salt/etc/minion.d/mdtmirror-startup.conf",
        )
        assert rc == 0, out

    # The standby reboots while the active writes: the SRP side is lost, then back with no command typed.
    _reboot(pair, standby)
    ret = pair.salt(
        active, "cmd.run_all", MORE_DATA_SCRIPT.replace("g$i", "r$i").replace("g*", "r*"), "python_shell=True"
    )
    assert ret.data["retcode"] == 0, ret.data
    sums += "\n" + ret.data["stdout"]
    _wait_for_minions(pair)
    back = time.monotonic()
    assert (pair.guests[standby][1] / "boot.pools").read_text().strip() == ""
    _wait_pool(pair, active, _whole, 900, "the pool whole again after the standby's reboot, no command typed")
    healed = time.monotonic() - back
    rc, out = pair.kernel(active, "zpool", "wait", "-t", "resilver", POOL)
    assert rc == 0, out
    _roles(pair.facts(), active, standby)
    ret = pair.salt(active, "cmd.run_all", "cd /mnt/mdtdata && sha256sum f* g* r*", "python_shell=True")
    assert ret.data["retcode"] == 0 and ret.data["stdout"] == sums, ret.data
    BENCH_LINES.append(
        f"real kernel: the rebooted standby's minion up -> the pool whole again, unattended: {healed:.0f} s "
        "(its start-up state exports the LUN, ib_srp reconnects, beacon interval 2 s, the reactor's state.apply "
        "on a TCG guest; resilver included)"
    )

    # The active reboots (no takeover: auto failover is off). The boot imports nothing; the standby stays
    # standby; the active's start-up state logs in to the standby's LUN and imports the pool with both sides.
    _reboot(pair, active)
    _wait_for_minions(pair)
    assert (pair.guests[active][1] / "boot.pools").read_text().strip() == ""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        rc, out = pair.kernel(active, "zpool", "list", "-H", "-o", "name")
        if out.strip() == POOL:
            break
        time.sleep(5)
    else:
        pytest.fail(f"{active}'s start-up state did not import {POOL} within 900 s: {out}; {pair.where()}")
    _wait_pool(pair, active, _whole, 600, "the pool whole after the active's reboot")
    rc, out = pair.kernel(active, "zpool", "scrub", "-w", POOL)
    assert rc == 0, out
    _roles(pair.facts(), active, standby)
    pair.kernel(active, "zfs", "mount", "-a")
    ret = pair.salt(active, "cmd.run_all", "cd /mnt/mdtdata && sha256sum f* g* r*", "python_shell=True")
    assert ret.data["retcode"] == 0 and ret.data["stdout"] == sums, ret.data
