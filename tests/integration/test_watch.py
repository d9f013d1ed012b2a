"""Watch and heal with no command typed, on a real salt-master and two
minions over emulated MDS hosts: the formula installs the mdtmirror beacon
on both nodes; the standby's target going away is seen as events (the
active's remote side lost, the standby's export down) and nothing else
happens; the target back is an ``export/ready`` event, the reactor of
``salt/mdtmirror/reactor/heal.sls`` applies the formula on the active, which
logs in again and heals: both sides ONLINE."""

import time

import pytest

from tests.integration.conftest import NAMES, base_pillar
from tests.integration.test_operations import rolled_out_with_data, wait_online
from tests.integration.test_rollout import assert_mirrored, logged_in_to, zpool

pytestmark = pytest.mark.slow

# The reactor as README tells admins to enable it.
MASTER_OVERRIDES = {
    "reactor": [
        {"salt/beacon/*/mdtmirror/*/export/ready": ["salt://mdtmirror/reactor/heal.sls"]},
        {"salt/beacon/*/mdtmirror/*/path/running": ["salt://mdtmirror/reactor/heal.sls"]},
    ],
}
BEACON = "salt/beacon/{node}/mdtmirror/mdt0/{what}"


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
    deadline = time.monotonic() + 20
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
    time.sleep(3)
    # Nothing destructive, nothing at all: no job was started for those events.
    jobs = event_listener.get_events([(master, "salt/job/*/new")], after_time=lost_at)
    assert [e.data.get("fun") for e in jobs] == [], "a lost side must start nothing"
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
    jobs = event_listener.get_events([(master, "salt/job/*/new")], after_time=back_at)
    assert [(e.data.get("fun"), e.data.get("tgt")) for e in jobs] == [("state.apply", "mds01")], [e.data for e in jobs]
    out = wait_online(mds01, timeout=60)
    assert "state: ONLINE" in out, out
    assert_mirrored(pair, active="mds01")
