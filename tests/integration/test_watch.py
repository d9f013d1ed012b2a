"""Watch and heal with no command typed, on a real salt-master and two
minions over emulated MDS hosts: the formula installs the mdtmirror beacon
on both nodes; the standby's target going away is seen as events (the
active's remote side lost, the standby's export down) and nothing else
happens; the target back is an ``export/ready`` event, the reactor of
``salt/mdtmirror/reactor/heal.sls`` applies the formula on the active, which
logs in again and heals: both sides ONLINE.

Automatic takeover (``reactor/failover.sls`` -> runner ``mdtmirror.failover``):
off by default (the standby's session going is an event and a refusal that
says so, nothing else); on, it never takes over a node that still answers,
and takes a powered-off active's pool over with no command typed."""

import contextlib
import time

import pytest

from tests.emul import zfsemu
from tests.integration.conftest import NAMES, base_pillar
from tests.integration.test_operations import DATA, datasets, rolled_out_with_data, wait_online
from tests.integration.test_rollout import assert_mirrored, logged_in_to, pools, zpool

pytestmark = pytest.mark.slow

# The reactor as README tells admins to enable it.
MASTER_OVERRIDES = {
    "reactor": [
        {"salt/beacon/*/mdtmirror/*/export/ready": ["salt://mdtmirror/reactor/heal.sls"]},
        {"salt/beacon/*/mdtmirror/*/path/running": ["salt://mdtmirror/reactor/heal.sls"]},
        {"salt/beacon/*/mdtmirror/*/session/down": ["salt://mdtmirror/reactor/failover.sls"]},
    ],
}
BEACON = "salt/beacon/{node}/mdtmirror/mdt0/{what}"
# The failover runner's questions (and Salt's own "is that job still running?" for a silent node).
QUESTIONS = {"mdtmirror.node_status", "saltutil.find_job"}


def test_lost_side_is_only_an_event_and_the_target_back_heals_unattended(rig, event_listener):
    pair, salt = rig.pair, rig.salt
    pillar = base_pillar()
    pillar["mdtmirror"]["watch"] = {"interval": 1}
    salt.set_pillar(pillar)
    mds01, mds02 = rolled_out_with_data(rig)
    listed = salt.salt("beacons.list", "return_yaml=False")
    for name in NAMES:
        assert "mdtmirror" in (listed.data[name] or {}), listed.data
    master = salt.master.id
    time.sleep(3)  # the beacons' first look: the baseline, no event

    # The standby's target goes away: the active's path is lost, then its remote side. Events only.
    lost_at = time.time()
    ((_, login),) = logged_in_to(pair, "mds01")
    rport_dir = mds01.root / "sys/class/srp_remote_ports" / login.rport
    for attr, value in (("fast_io_fail_tmo", "2"), ("dev_loss_tmo", "6"), ("reconnect_delay", "2")):
        (rport_dir / attr).write_text(value + "\n")
    enabled = mds02.root / "sys/kernel/scst_tgt/targets/ib_srpt" / mds02.target / "enabled"
    enabled.write_text("0\n")
    deadline = time.monotonic() + 60
    while logged_in_to(pair, "mds01") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert zpool(mds01, "scrub", "mdtpool")[0] == 0  # I/O: ZFS notices the missing side
    seen = event_listener.wait_for_events(
        [
            (master, BEACON.format(node="mds02", what="export/down")),
            (master, BEACON.format(node="mds01", what="path/gone")),
            (master, BEACON.format(node="mds01", what="side/remote/lost")),
        ],
        timeout=60,
        after_time=lost_at,
    )
    beacons = event_listener.get_events([(master, "salt/beacon/*")], after_time=lost_at - 10)
    assert seen.found_all_events, f"missed {seen.missed}; seen: {[(e.tag, e.data) for e in beacons]}"
    lost = [e for e in seen.matches if e.tag.endswith("side/remote/lost")][0]
    assert {k: lost.data[k] for k in ("pair", "node", "peer", "role", "pool")} == {
        "pair": "mdt0",
        "node": "mds01",
        "peer": "mds02",
        "role": "active",
        "pool": "mdtpool",
    }, lost.data
    # Nothing destructive: the only jobs are the failover runner's questions (the standby's session
    # went down), and its answer is no (off by default, and the active answers anyway). Its verdict
    # is waited for, not slept for: on a loaded host the runner answered later than a fixed 3 s.
    answered = event_listener.wait_for_events([(master, "mdtmirror/mdt0/failover/*")], timeout=60, after_time=lost_at)
    assert answered.found_all_events, f"no failover verdict; seen: {[(e.tag, e.data) for e in beacons]}"
    jobs = event_listener.get_events([(master, "salt/job/*/new")], after_time=lost_at)
    assert {e.data.get("fun") for e in jobs} <= QUESTIONS, "a lost side must change nothing"
    refused = event_listener.get_events([(master, "mdtmirror/mdt0/failover/*")], after_time=lost_at)
    assert [e.tag for e in refused] == ["mdtmirror/mdt0/failover/refused"], [(e.tag, e.data) for e in refused]
    # Automatic takeover is off by default: the first reason the runner gives.
    (verdict,) = refused
    assert "off (mdtmirror:failover:auto is not true" in verdict.data["comment"], verdict.data
    assert "DEGRADED" in zpool(mds01, "status", "mdtpool")[1]

    # The target back: export/ready -> the reactor applies the formula on the active -> ONLINE.
    back_at = time.time()
    enabled.write_text("1\n")
    seen = event_listener.wait_for_events(
        [
            (master, BEACON.format(node="mds02", what="export/ready")),
            (master, BEACON.format(node="mds01", what="side/remote/back")),
        ],
        timeout=120,
        after_time=back_at,
    )
    assert seen.found_all_events, f"missed {seen.missed}"
    out = wait_online(mds01, timeout=60)
    assert "state: ONLINE" in out, out
    # Read once the pool is whole: the reactor's job made it so, so its job event is in by then.
    jobs = event_listener.get_events([(master, "salt/job/*/new")], after_time=back_at)
    assert [(e.data.get("fun"), e.data.get("tgt")) for e in jobs] == [("state.apply", "mds01")], [e.data for e in jobs]
    assert_mirrored(pair, active="mds01")


def watched(rig, **failover):
    """The rollout with the beacon looking every second (and ``mdtmirror:failover`` if given)."""
    pillar = base_pillar()
    pillar["mdtmirror"]["watch"] = {"interval": 1}
    if failover:
        pillar["mdtmirror"]["failover"] = failover
    rig.salt.set_pillar(pillar)
    hosts = rolled_out_with_data(rig)
    time.sleep(3)  # the beacons' first look: the baseline, no event
    return hosts


@contextlib.contextmanager
def powered_off(rig, name):
    """``name`` goes down the way a shutdown, a reboot or a watchdog reset takes it: its minion stops,
    ib_srp goes with a DREQ on each channel (the peer's target closes the session), then it is off the
    fabric and its kernel state is gone (the pool never exported). A hung kernel would send no DREQ:
    its session stays on the peer and nothing fires (README). Minion started again at the end."""
    host, minion = rig.pair.hosts[name], rig.salt.minions[name]
    minion.terminate()
    try:
        host.srp.kernel.remove_all()
        rig.pair.fabric.set_down(name)
        zfsemu.crash(host.root)
        yield host
    finally:
        rig.pair.fabric.set_up(name)
        minion.start()


def failover_verdict(rig, event_listener, since, timeout=120):
    """The failover runner's event after ``since``: ``(tag suffix, comment)``."""
    master = rig.salt.master.id
    seen = event_listener.wait_for_events(
        [(master, BEACON.format(node="mds02", what="session/down")), (master, "mdtmirror/mdt0/failover/*")],
        timeout=timeout,
        after_time=since,
    )
    around = event_listener.get_events([(master, "salt/beacon/*"), (master, "mdtmirror/*")], after_time=since - 30)
    around = [(str(e.stamp)[11:22], e.tag, e.data.get("comment")) for e in around]
    assert seen.found_all_events, f"missed {seen.missed}; around: {around}"
    verdict = [e for e in seen.matches if e.tag.startswith("mdtmirror/")][0]
    return verdict.tag.rsplit("/", 1)[1], verdict.data["comment"]


def test_auto_takeover_never_while_the_active_answers_then_takes_a_lost_ones_pool(rig, event_listener):
    pair, salt = rig.pair, rig.salt
    mds01, mds02 = watched(rig, auto=True)

    # The active loses its login (its session on the standby goes) but its minion answers: refused.
    since = time.time()
    mds01.srp.kernel.remove_all()
    verdict, comment = failover_verdict(rig, event_listener, since)
    assert verdict == "refused" and "a node seen alive is never taken over" in comment, comment
    assert pools(mds02) == [] and pools(mds01) == ["mdtpool"]
    relogin = time.time()
    ret = salt.salt_cli.run("state.apply", "mdtmirror", minion_tgt="mds01")  # logs in again, heals
    assert ret.returncode == 0, ret
    wait_online(mds01)
    assert_mirrored(pair, active="mds01")
    # The standby's beacon must see the session back before the active goes, or it sees no session go
    # down: waited for, not slept for (a loaded host runs the beacon's looks late).
    up = event_listener.wait_for_events(
        [(salt.master.id, BEACON.format(node="mds02", what="session/up"))], timeout=60, after_time=relogin
    )
    assert up.found_all_events, "the standby's beacon never saw the active's session back"

    # The active goes down: the standby takes the pool over by itself, DEGRADED and serving, data there.
    since = time.time()
    with powered_off(rig, "mds01"):
        verdict, comment = failover_verdict(rig, event_listener, since, timeout=240)
        assert verdict == "done", comment
        assert pools(mds02) == ["mdtpool"]
        out = zpool(mds02, "status", "mdtpool")[1]
        assert "DEGRADED" in out, out
        assert set(DATA) <= set(datasets(mds02))
        assert "MDT0" not in mds02.kernel.devices, "the new active must not export its pool's disk"
