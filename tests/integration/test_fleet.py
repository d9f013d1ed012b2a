"""Two pairs under one salt-master (four minions on emulated MDS hosts, a
fabric per pair): the fleet-safe rollout and the fleet status view.

* a fresh fleet is rolled out stage by stage (nothing to disrupt yet);
* ``salt-run mdtmirror.status``: one row per pair, exit 0 when all are whole;
* rolled out again with ``batch: 2``: both pairs at once, but from the job
  timeline never both nodes of one pair inside the formula together (the
  standby's run returns before the active's starts);
* one pair broken (its standby's target gone): the status names it and exits
  1, the other pair's row stays whole; a rollout skips the broken pair with
  its reason and goes on with the other; ``degraded: true`` heals it.
"""

import time

import pytest

from tests.integration.conftest import TGT, host_state
from tests.integration.test_operations import wait_online
from tests.integration.test_rollout import (
    PEER,
    assert_mirrored,
    formula_runs,
    lose_standby_target,
    orch_changes,
    orch_failures,
    orch_steps,
)

pytestmark = pytest.mark.slow

FLEET = {"mdt0": ("mds01", "mds02"), "mdt1": ("mds03", "mds04")}
ACTIVE = {"mdt0": "mds01", "mdt1": "mds03"}  # the owners (first node)
MINIONS = {node for nodes in FLEET.values() for node in nodes}


def fleet_status(rollout):
    return rollout.run("mdtmirror.status", f"tgt={TGT}", "timeout=20")


def fleet_state(fleet):
    return {name: host_state(host) for pair in fleet.values() for name, host in pair.hosts.items()}


def assert_one_node_of_a_pair_at_a_time(spans, pairs):
    for pair in pairs:
        active = ACTIVE[pair]
        standby = PEER[active]
        assert len(spans[standby]) == len(spans[active]) == 1, spans
        assert spans[standby][0][1] <= spans[active][0][0], f"both nodes of {pair} ran at once: {spans}"


def test_two_pairs_rollout_status_and_a_broken_pair(rollout, fleet, event_listener):
    # A fresh fleet: stage by stage, both pairs.
    steps = orch_steps(rollout.orchestrate())
    assert orch_failures(steps) == {}
    for name, pair in fleet.items():
        assert_mirrored(pair, active=ACTIVE[name])

    view = fleet_status(rollout)
    assert view.returncode == 0 and view.data["whole"] is True, view.stdout
    rows = {p: (r["active"], r["standby"], r["state"], r["problems"]) for p, r in view.data["pairs"].items()}
    assert rows == {"mdt0": ("mds01", "mds02", "ONLINE", []), "mdt1": ("mds03", "mds04", "ONLINE", [])}, rows

    # Both pairs whole, batch 2: the standbys together, then the actives; nothing changes.
    before = fleet_state(fleet)
    since = time.time()
    steps = orch_steps(rollout.orchestrate(pillar={"batch": 2}))
    assert orch_failures(steps) == {}
    assert {m: c for m, c in orch_changes(steps).items() if c} == {}
    spans = formula_runs(event_listener, rollout.master.id, since)
    assert set(spans) == MINIONS, spans
    assert_one_node_of_a_pair_at_a_time(spans, FLEET)
    # The pairs proceed side by side: the two standbys' runs overlap.
    (two,), (four,) = spans["mds02"], spans["mds04"]
    assert two[0] < four[1] and four[0] < two[1], f"batch 2 should run both pairs at once: {spans}"
    assert fleet_state(fleet) == before

    # mdt0 broken: its standby's target gone, its active DEGRADED. The view names it, exit 1.
    mdt0 = fleet["mdt0"]
    enabled = lose_standby_target(mdt0)
    view = fleet_status(rollout)
    assert view.returncode == 1 and view.data["whole"] is False, view.stdout
    broken, whole = view.data["pairs"]["mdt0"], view.data["pairs"]["mdt1"]
    assert broken["whole"] is False and broken["state"] == "DEGRADED", broken
    assert any(p.startswith("mds01: remote side") for p in broken["problems"]), broken["problems"]
    assert whole["whole"] is True and whole["problems"] == [], whole

    # The rollout skips mdt0 with its reason and rolls mdt1 out node by node; mdt0 is not touched.
    enabled.write_text("1\n")
    before = fleet_state(fleet)
    since = time.time()
    steps = orch_steps(rollout.orchestrate())
    assert orch_failures(steps) == {}
    skipped = dict(steps)["mdtmirror-skipped-mdt0"]["comment"]
    assert "pair mdt0 skipped: not whole (mds01: remote side" in skipped, skipped
    spans = formula_runs(event_listener, rollout.master.id, since)
    assert set(spans) == {"mds03", "mds04"}, spans
    assert_one_node_of_a_pair_at_a_time(spans, ["mdt1"])
    assert fleet_state(fleet) == before

    # Asked to, the rollout heals it: the whole fleet is whole again.
    assert orch_failures(orch_steps(rollout.orchestrate(pillar={"degraded": True}))) == {}
    wait_online(mdt0.hosts["mds01"])
    view = fleet_status(rollout)
    assert view.returncode == 0 and view.data["whole"] is True, view.stdout
    for name, pair in fleet.items():
        assert_mirrored(pair, active=ACTIVE[name])
