"""Demo: the two-node rollout, by a real salt-master and two real
salt-minions ``mds01``/``mds02`` on emulated MDS hosts.

Two emulated hosts (tests/emul/rig.py's ``make_pair``: SCST and ib_srp sysfs
emulators over FUSE on one InfiniBand fabric, zpool/zfs from
tests/emul/zfsemu.py) run in this process; the daemons are started with
pytest-salt-factories, the master serving the formula from ``salt/`` and
``pillar.example``'s values (adapted only where an emulated host needs it).
Then: ``saltutil.sync_all``, ``salt-run state.orchestrate mdtmirror.orch``,
the pool's health on the owner (both sides ONLINE), the same orchestration
again (0 changes). Everything lives in one temporary folder, removed at the
end with the daemons and emulators stopped. Exits non-zero if a step fails,
a side is not ONLINE or the second run changes something.
"""

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from tests.emul import zfsemu
from tests.emul.rig import make_pair

REPO = Path(__file__).resolve().parents[1]
NAMES = ("mds01", "mds02")
TGT = "mds0*"

# systemctl of an emulated host (the snapshot timers): records its argv, succeeds.
FAKE_SYSTEMCTL = """#!{python}
import json, sys
with open({log!r}, "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
"""


class DemoFailed(Exception):
    pass


def say(text=""):
    print(text, flush=True)


# --------------------------------------------------------------------------
# the pillar: pillar.example, adapted to emulated hosts
# --------------------------------------------------------------------------


def demo_pillar():
    """``pillar.example``'s values, with the keys an emulated host cannot honour changed;
    returns ``(pillar, [(key, old, new, why)])``."""
    pillar = yaml.safe_load((REPO / "pillar.example").read_text())
    cfg = pillar["mdtmirror"]
    adapted = []

    def adapt(section, key, value, why):
        adapted.append((f"mdtmirror:{section}:{key}", cfg[section].get(key), value, why))
        cfg[section][key] = value

    real_init = "an emulated host has no init system (service.enabled would act on this machine's own)"
    adapt("target", "enable_service", False, real_init + "; /etc/scst.conf is still written")
    adapt("initiator", "enable_daemon", False, real_init + "; /etc/srp_daemon.conf is still written")
    return pillar, adapted


def the_pair(pillar):
    """``(pair name, pair)``: pillar.example names one pair, of mds01 and mds02."""
    (name, pair), *others = pillar["mdtmirror"]["pairs"].items()
    if others or set(pair["nodes"]) != set(NAMES):
        raise DemoFailed(f"pillar.example should name one pair of {NAMES}: {pillar['mdtmirror']['pairs']}")
    return name, pair


# --------------------------------------------------------------------------
# the emulated hosts
# --------------------------------------------------------------------------


def build_hosts(base, pair):
    """Two fresh emulated MDS (modules not loaded, no pool) whose local LUN
    ``/dev/mdt0`` also has the pillar's ``lun_path`` (a udev by-id link)."""
    hosts = make_pair(
        base,
        link_layer="InfiniBand",
        fabric_kwargs={"time_scale": 0.06},  # SRP timers compressed in time
        srp_kwargs={"ib_srp_loaded": False},
        scst_loaded=False,
    )
    try:
        for host in hosts.hosts.values():
            host.mdtmirror["bin"].update(zfsemu.install(host.root))
            systemctl = host.root / "sbin" / "systemctl"
            log = host.root / "var" / "log" / "systemctl.jsonl"
            log.parent.mkdir(parents=True, exist_ok=True)
            systemctl.write_text(FAKE_SYSTEMCTL.format(python=sys.executable, log=str(log)))
            os.chmod(systemctl, 0o755)
            host.mdtmirror["bin"]["systemctl"] = str(systemctl)
            lun_path = pair["nodes"][host.name]["lun_path"]
            if lun_path != "/dev/mdt0":
                link = host.root / lun_path.lstrip("/")
                link.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.path.relpath(host.root / "dev" / "mdt0", link.parent), link)
    except BaseException:
        hosts.stop()
        raise
    return hosts


# --------------------------------------------------------------------------
# the salt daemons (pytest-salt-factories, outside pytest)
# --------------------------------------------------------------------------


class Salt:
    """A salt-master serving the repository's formula and ``pillar_dir``, and
    one minion per emulated host (configured here, started by ``start()``);
    ``stop()`` stops whatever was started."""

    def __init__(self, root, pillar_dir, hosts):
        from saltfactories.manager import FactoriesManager
        from saltfactories.plugins.event_listener import EventListener

        self.started = []
        # The daemons report their start through saltfactories' event listener.
        self.events = EventListener()
        no_log_server = {"log": {"disabled": True}}  # the daemons log to their files only
        factories = FactoriesManager(
            root_dir=root,
            event_listener=self.events,
            log_server_host="127.0.0.1",
            log_server_port=0,
            log_server_level="error",
            inject_sitecustomize=False,
            start_timeout=180,
        )
        self.master = factories.salt_master_daemon(
            "mdt-master",
            overrides={
                "file_roots": {"base": [str(REPO / "salt")]},
                "pillar_roots": {"base": [str(pillar_dir)]},
                "pytest-master": no_log_server,
            },
        )
        self.minions = {
            name: self.master.salt_minion_daemon(
                name, overrides={"mdtmirror": host.mdtmirror, "pytest-minion": no_log_server}
            )
            for name, host in hosts.items()
        }
        self.salt_cli = self.master.salt_cli(timeout=300)
        self.run_cli = self.master.salt_run_cli(timeout=600)

    def start(self):
        self.started.append(self.events)
        self.events.start()
        for daemon in (self.master, *self.minions.values()):
            self.started.append(daemon)
            daemon.start()

    def stop(self):
        while self.started:
            daemon = self.started.pop()
            try:
                if daemon is self.events:
                    daemon.stop()
                else:
                    daemon.terminate()
            except Exception as exc:  # keep stopping the others
                say(f"  (stopping {daemon!r}: {exc})")

    def salt(self, *args, tgt=TGT, **kwargs):
        return self.salt_cli.run(*args, minion_tgt=tgt, **kwargs)

    def orchestrate(self):
        return self.run_cli.run("state.orchestrate", "mdtmirror.orch", pillar={"tgt": TGT})


# --------------------------------------------------------------------------
# reading the orchestration's return
# --------------------------------------------------------------------------


def orch_steps(ret):
    """``state.orchestrate``'s return as ``[(step id, state function, step)]`` in run order."""
    data = ret.data
    if isinstance(data, dict) and "outputter" in data and "data" in data:
        data = data["data"]
    if not (isinstance(data, dict) and len(data) == 1):
        raise DemoFailed(f"the orchestration did not run (exit {ret.returncode}):\n{ret.stdout}\n{ret.stderr}")
    (states,) = data.values()
    if not isinstance(states, dict):
        raise DemoFailed(f"the orchestration did not render: {states}")
    steps = sorted(states.items(), key=lambda item: item[1]["__run_num__"])
    return [(step["__id__"], key.split("_|-")[-1], step) for key, step in steps]


def minion_states(step):
    """A salt.state step's ``{minion: {state id: state}}``: only the minions
    with changes or failures (Salt leaves the others out)."""
    changes = step.get("changes") or {}
    if changes.get("out") != "highstate":
        return {}
    return {m: {s["__id__"]: s for s in states.values()} for m, states in (changes.get("ret") or {}).items()}


def report_orchestration(ret):
    """Print one line per step; return ``({minion: [changed state ids]}, [failures])``."""
    changed = {name: [] for name in NAMES}
    failures = []
    for sid, fun, step in orch_steps(ret):
        if step["result"] is not True and str(step["comment"]).startswith("One or more requisite failed"):
            say(f"  {'skip':6} {sid:25} not run: {step['comment']}")
            failures.append(f"{sid} (not run)")
            continue
        per = minion_states(step)
        if fun == "state":
            counts = []
            for minion in NAMES:
                ids = [state_id for state_id, state in per.get(minion, {}).items() if state["changes"]]
                changed[minion].extend(ids)
                counts.append(f"{minion} {len(ids)} changed")
            detail = ", ".join(counts)
        else:
            ran_on = sorted((step.get("changes") or {}).get("ret") or {})
            detail = f"{step['name']} on {', '.join(ran_on) or 'no minion'}"
        ok = step["result"] is True
        say(f"  {'ok' if ok else 'FAILED':6} {sid:25} {detail}")
        if not ok:
            failures.append(sid)
            bad = [
                (minion, state_id, state["comment"])
                for minion, states in sorted(per.items())
                for state_id, state in states.items()
                if state["result"] is not True
            ]
            for minion, state_id, comment in bad:
                say(f"         {minion}:{state_id}: {comment}")
            if not bad:
                say("         " + str(step["comment"]).replace("\n", "\n         "))
    if ret.returncode != 0 and not failures:
        failures.append(f"salt-run exited {ret.returncode}")
    return changed, failures


# --------------------------------------------------------------------------
# the demo
# --------------------------------------------------------------------------


def check(ret, what):
    """The data of a ``salt`` CLI result, or DemoFailed."""
    if ret.returncode != 0 or ret.data is None:
        raise DemoFailed(f"{what} failed (exit {ret.returncode}):\n{ret.stdout}\n{ret.stderr}")
    return ret.data


def sync_all(salt):
    say(f"\n$ salt '{TGT}' saltutil.sync_all")
    got = check(salt.salt("saltutil.sync_all"), "saltutil.sync_all")
    if set(got) != set(NAMES):
        raise DemoFailed(f"saltutil.sync_all: answers from {sorted(got)}, not {NAMES}")
    for minion, synced in sorted(got.items()):
        kinds = "; ".join(f"{', '.join(mods)}" for _, mods in sorted(synced.items()) if mods)
        say(f"  {minion}: {kinds or 'already in sync'}")


def orchestrate(salt, note=""):
    say(f'\n$ salt-run state.orchestrate mdtmirror.orch pillar=\'{{"tgt": "{TGT}"}}\'{note}')
    started = time.monotonic()
    changed, failures = report_orchestration(salt.orchestrate())
    total = {minion: len(ids) for minion, ids in changed.items()}
    say(f"  ({time.monotonic() - started:.0f}s) " + ", ".join(f"{m}: {n} changes" for m, n in total.items()))
    if failures:
        more = f" and {len(failures) - 1} more step(s)" if len(failures) > 1 else ""
        raise DemoFailed(f"the orchestration failed: {failures[0]}{more} (see above)")
    return changed


def show_health(salt, hosts, owner, pool, local):
    """``zfsmirror.health`` on the owner, its local LUN and the disk of its
    SRP login told apart; fails unless both sides are ONLINE."""
    logins = check(salt.salt("srp.list_logins", tgt=owner), "srp.list_logins")
    if len(logins) != 1:
        raise DemoFailed(f"{owner} should have one SRP login, not {len(logins)}: {logins}")
    disks = check(salt.salt("srp.disks", logins[0]["host"], tgt=owner), "srp.disks")
    if len(disks) != 1 or not disks[0]["by_id"]:
        raise DemoFailed(f"{owner}'s SRP login should bring one disk with a by-id name: {disks}")
    remote = disks[0]["by_id"][0]
    say(f"\n$ salt {owner} zfsmirror.health {pool} local={local} remote={remote}")
    say(f"  (remote: the disk of {owner}'s SRP login {logins[0]['host']}, from srp.list_logins + srp.disks)")
    health = check(salt.salt("zfsmirror.health", pool, local=local, remote=remote, tgt=owner), "zfsmirror.health")
    say(f"  pool {health['pool']}: {health['state']}, {health['layout']}, redundant: {health['redundant']}")
    for side in health["sides"]:
        errors = "/".join(str(side.get(k) or 0) for k in ("read", "write", "cksum"))
        say(f"    {side['side']:7} {side['state']:8} errors r/w/c {errors}  {side['path'] or side['name']}")
    for problem in health["problems"]:
        say(f"    problem: {problem}")
    rc, out, err = zfsemu.run(hosts[owner].root, "zpool", ["status", pool])
    say(f"\n  zpool status {pool} (the emulated zpool of {owner}):")
    lines = (out.decode() or str(err)).expandtabs(4).splitlines()
    say("\n".join("    " + line for line in lines if line.strip()))
    sides = sorted((side["side"], side["state"]) for side in health["sides"])
    if health["state"] != "ONLINE" or sides != [("local", "ONLINE"), ("remote", "ONLINE")] or not health["redundant"]:
        raise DemoFailed(f"the pool should be a redundant mirror with both sides ONLINE: {sides}")


@contextlib.contextmanager
def quiet_stderr():
    """Mute the C level stderr (libfuse's unmount chatter) for a moment."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_demo(tmp):
    pillar, adapted = demo_pillar()
    pair_name, pair = the_pair(pillar)
    owner, pool = pair["owner"], pair["pool"]
    say(f"pillar: pillar.example's values (pair {pair_name}: nodes {', '.join(pair['nodes'])}, owner {owner})")
    for key, old, new, why in adapted:
        say(f"  adapted {key}: {old} -> {new}: {why}")
    pillar_dir = tmp / "pillar"
    pillar_dir.mkdir()
    (pillar_dir / "top.sls").write_text(f"base:\n  '{TGT}':\n    - mdtmirror\n")
    (pillar_dir / "mdtmirror.sls").write_text(json.dumps(pillar, indent=1) + "\n")

    hosts = build_hosts(tmp / "hosts", pair)
    salt = None
    try:
        for name, host in hosts.hosts.items():
            lun = pair["nodes"][name]["lun_path"]
            say(f"emulated host {name}: / at {host.root}, LUN {lun} -> /dev/mdt0, SRP target {host.target}")
        say(f"\nstarting a salt-master (file_roots {REPO / 'salt'}) and minions {', '.join(NAMES)} ...")
        started = time.monotonic()
        salt = Salt(tmp / "sf", pillar_dir, hosts.hosts)  # sf/: the daemons' root_dir
        salt.start()
        say(f"  up in {time.monotonic() - started:.0f}s")

        sync_all(salt)
        orchestrate(salt)
        show_health(salt, hosts.hosts, owner, pool, pair["nodes"][owner]["lun_path"])
        changed = orchestrate(salt, "   # again")
        if any(changed.values()):
            raise DemoFailed(f"the second orchestration changed something: {changed}")
        say("  converged: the second run changed nothing")
    finally:
        say(f"\ncleaning up: stopping the salt daemons and the emulated hosts, removing {tmp}")
        try:
            if salt is not None:
                salt.stop()
        finally:
            with quiet_stderr():
                hosts.stop()


def main():
    logging.basicConfig(level=logging.CRITICAL)  # saltfactories and the emulators: quiet
    started = time.monotonic()
    # Short: the daemons' unix sockets live under it (~100 characters at most).
    tmp = Path(tempfile.mkdtemp(prefix="mdtdemo-"))
    try:
        run_demo(tmp)
    except DemoFailed as exc:
        say(f"\ndemo: FAILED: {exc}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"\ndemo: ok in {time.monotonic() - started:.0f}s (daemons stopped, emulated hosts removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
