"""Roles and the pair operations on a real salt-master and two minions over
emulated MDS hosts (SCST backend): the rollout makes the owner active and the
other node standby (one exclusive holder per disk, the emulators refuse a
second), a switchover moves the pool with both sides ONLINE and no resilver,
refusals say why and change nothing, an interrupted switchover is completed
by a re-run, a crash of the active is taken over by the standby (pool
DEGRADED, data there), and the crashed node comes back as standby by
``state.apply`` and the mirror heals; an active that goes down with no
takeover comes back as the active by ``state.apply`` (its label names it),
the standby meanwhile staying standby."""

import time

import pytest

from tests.emul import zfsemu
from tests.integration.conftest import NAMES, TGT, host_state
from tests.integration.test_rollout import (
    STAGES,
    apply_states,
    assert_mirrored,
    changes_of,
    logged_in_to,
    lose_standby_target,
    not_ok,
    orch_changes,
    orch_failures,
    orch_steps,
    pools,
    zpool,
)

pytestmark = pytest.mark.slow

PAIR = "mdt0"
# Written on the active before an operation, looked for after it (the emulated pool keeps datasets).
DATA = ["mdtpool/mdt0", "mdtpool/mdt0@before-switchover"]


def operate(salt, operation, **pillar):
    return salt.run("state.orchestrate", f"mdtmirror.{operation}", pillar={"pair": PAIR, "tgt": TGT, **pillar})


def fleet_status(salt):
    """``salt-run mdtmirror.status --out=json`` over the pair."""
    return salt.run("mdtmirror.status", f"tgt={TGT}", "timeout=20")


def refused(ret):
    """The refusal sentence of an orchestration that refused, or None."""
    steps = orch_steps(ret)
    for sid, step in steps:
        if sid.endswith("-refused"):
            assert step["result"] is False, step
            return step["name"]
    return None


def datasets(host):
    rc, out, err = zfsemu.run(host.root, "zfs", ["list", "-H", "-t", "all", "-o", "name"])
    assert rc == 0, err
    return out.decode().split()


def write_data(host):
    for cmd in (["create", DATA[0]], ["snapshot", DATA[1]]):
        rc, _, err = zfsemu.run(host.root, "zfs", cmd)
        assert rc == 0, err


def scan_line(status):
    """The pool's ``scan:`` line (the last resilver or scrub), or None."""
    return next((line.strip() for line in status.splitlines() if line.strip().startswith("scan:")), None)


def wait_online(host, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = zpool(host, "status", "mdtpool")[1]
        if "state: ONLINE" in out and "resilver in progress" not in out:
            return out
        zpool(host, "status", "mdtpool")
        time.sleep(0.3)
    return zpool(host, "status", "mdtpool")[1]


def assert_stages_predict_nothing(salt):
    """In whatever roles the pair is in now: every stage's test=True predicts no change and no failure."""
    for stage in STAGES:
        predicted = apply_states(salt.salt("state.apply", f"mdtmirror.{stage}", test=True))
        assert not_ok(predicted) == {}, stage
        assert changes_of(predicted) == {name: {} for name in NAMES}, stage


def rolled_out_with_data(rig):
    """The orchestrated rollout (mds01 active), a data set written on the pool; the two hosts."""
    assert orch_failures(orch_steps(rig.salt.orchestrate())) == {}
    assert_mirrored(rig.pair, active="mds01")
    write_data(rig.pair.hosts["mds01"])
    return rig.pair.hosts["mds01"], rig.pair.hosts["mds02"]


def test_switchover_refusals_and_interrupted_rerun(rig):
    pair, salt = rig.pair, rig.salt
    mds01, mds02 = rolled_out_with_data(rig)

    # Restorable backups are the active's to list: this rig's pillar names no backup destination,
    # and the runner says so by the pillar key (the listing itself: tests/functional/test_zfs_pair.py).
    points = salt.run("mdtmirror.restore_points", f"tgt={TGT}", "timeout=20").data
    assert points[PAIR]["node"] == "mds01", points
    assert "mdtmirror:backup:destination is not set" in str(points[PAIR]["error"]), points

    # The fleet view of a whole pair: one row, salt-run exits 0.
    view = fleet_status(salt)
    assert view.returncode == 0 and view.data["whole"] is True, view.stdout
    row = view.data["pairs"][PAIR]
    assert (row["active"], row["standby"], row["state"], row["problems"]) == ("mds01", "mds02", "ONLINE", [])
    assert set(row["sides"]) == {"local", "remote"} and all(v.startswith("ONLINE") for v in row["sides"].values())
    assert list(row["paths"].values()) == ["running"], row

    # A takeover while the active is alive and holds the pool: refused, nothing moves.
    before = {name: host_state(host) for name, host in pair.hosts.items()}
    why = refused(operate(salt, "takeover"))
    assert why and "mds01 is alive and holds the pool" in why, why
    # A switchover to a node outside the pair: refused naming it.
    why = refused(operate(salt, "switchover", to="mds07"))
    assert why and "to='mds07' is not a node of the pair" in why, why
    assert {name: host_state(host) for name, host in pair.hosts.items()} == before

    # A degraded mirror (the standby's target lost): the switchover is refused with the pool's problem.
    enabled = lose_standby_target(pair)
    assert "DEGRADED" in zpool(mds01, "status", "mdtpool")[1]
    before = {name: host_state(host) for name, host in pair.hosts.items()}
    why = refused(operate(salt, "switchover"))
    assert why and "the mirror on mds01 is not whole" in why, why
    # The fleet view says so in words, and salt-run exits non-zero.
    view = fleet_status(salt)
    assert view.returncode == 1 and view.data["whole"] is False, view.stdout
    row = view.data["pairs"][PAIR]
    assert row["state"] == "DEGRADED" and not row["whole"], row
    assert any(p.startswith("mds01: remote side") for p in row["problems"]), row["problems"]
    assert {name: host_state(host) for name, host in pair.hosts.items()} == before
    enabled.write_text("1\n")
    assert orch_failures(orch_steps(salt.orchestrate(pillar={"degraded": True}))) == {}
    wait_online(mds01)
    assert_mirrored(pair, active="mds01")

    scan_before = scan_line(zpool(mds01, "status", "mdtpool")[1])
    # Interrupted: only the first step ran (mds01 gave the pool up and logged out of mds02's LUN).
    ret = salt.salt_cli.run(
        "state.apply", "mdtmirror.release", pillar={"mdtmirror_role": "standby"}, minion_tgt="mds01"
    )
    assert ret.returncode == 0, ret
    assert pools(mds01) == [] and pools(mds02) == [] and logged_in_to(pair, "mds01") == []
    assert "MDT0" not in mds01.kernel.devices and "MDT0" in mds02.kernel.devices, "one export at a time"
    # Without `to` nobody is active: refused, say which node.
    why = refused(operate(salt, "switchover"))
    assert why and "no node has the pool imported" in why, why
    # The re-run with `to` completes it.
    ret = operate(salt, "switchover", to="mds02")
    assert orch_failures(orch_steps(ret)) == {}, orch_steps(ret)
    out = wait_online(mds02)
    assert scan_line(out) == scan_before, f"the switchover should resilver nothing: {out}"
    assert_mirrored(pair, active="mds02")
    assert set(DATA) <= set(datasets(mds02))
    assert_stages_predict_nothing(salt)


def test_switchover_takeover_and_return(rig):
    pair, salt = rig.pair, rig.salt
    mds01, mds02 = rolled_out_with_data(rig)

    # Restorable backups are the active's to list: this rig's pillar names no backup destination,
    # and the runner says so by the pillar key (the listing itself: tests/functional/test_zfs_pair.py).
    points = salt.run("mdtmirror.restore_points", f"tgt={TGT}", "timeout=20").data
    assert points[PAIR]["node"] == "mds01", points
    assert "mdtmirror:backup:destination is not set" in str(points[PAIR]["error"]), points

    # Planned switchover: both sides ONLINE after import, no resilver, data there.
    ret = operate(salt, "switchover")
    steps = orch_steps(ret)
    assert orch_failures(steps) == {}
    changes = orch_changes(steps)
    assert {"mdtmirror-pool-export", "mdtmirror-srp-logout", "mdtmirror-scst-device"} <= set(changes["mds01"])
    assert {"mdtmirror-scst-unexport-device", "mdtmirror-srp-login", "mdtmirror-pool-import"} <= set(
        changes["mds02"]
    ), changes["mds02"]
    out = zpool(mds02, "status", "mdtpool")[1]
    assert "state: ONLINE" in out and "resilver" not in out, out
    assert_mirrored(pair, active="mds02")
    assert set(DATA) <= set(datasets(mds02))
    # Converged in the new roles: the formula changes nothing on either node.
    assert_stages_predict_nothing(salt)

    # The owner, now standby, with the active's mine facts gone (flushed, a rebuilt master): its own
    # disk is held by its export, so the import scan sees no pool there; it must still not take that
    # live mirror side for a fresh disk (unexport it, create the pool), neither predicted nor done.
    assert salt.salt_cli.run("mine.flush", minion_tgt="mds02").returncode == 0
    before = {name: host_state(host) for name, host in pair.hosts.items()}
    for test in (True, False):
        ret = salt.salt_cli.run("state.apply", "mdtmirror", test=test, minion_tgt="mds01")
        assert isinstance(ret.data, dict), ret
        changed = {s["__id__"]: s["changes"] for s in ret.data.values() if s["changes"]}
        assert changed == {}, (test, changed)
    plan = salt.salt_cli.run("mdtmirror.plan", minion_tgt="mds01").data
    assert plan["role"] == "standby" and "exists on the disks" in plan["why"], plan["why"]
    assert {name: host_state(host) for name, host in pair.hosts.items()} == before
    assert_mirrored(pair, active="mds02")
    assert salt.salt("mine.update").returncode == 0

    # The active (mds02) crashes: no minion, off the fabric, its kernel state gone.
    minion = salt.minions["mds02"]
    minion.terminate()
    try:
        pair.fabric.set_down("mds02")
        mds02.srp.kernel.remove_all()
        zfsemu.crash(mds02.root)
        ret = operate(salt, "takeover", timeout=5)
        steps = orch_steps(ret)
        assert orch_failures(steps) == {}, steps
        assert pools(mds01) == ["mdtpool"]
        out = zpool(mds01, "status", "mdtpool")[1]
        assert "DEGRADED" in out, out
        assert set(DATA) <= set(datasets(mds01))
        assert "MDT0" not in mds01.kernel.devices, "the new active must not export its pool's disk"
    finally:
        pair.fabric.set_up("mds02")
        minion.start()

    # mds02 returns: state.apply makes it the standby (it never imports), then the active heals;
    # test=True first predicts the standby's changes exactly, and the active's without a false failure.
    before = {name: host_state(host) for name, host in pair.hosts.items()}
    predicted = salt.salt_cli.run("state.apply", "mdtmirror", test=True, minion_tgt="mds02")
    assert {name: host_state(host) for name, host in pair.hosts.items()} == before
    ret = salt.salt_cli.run("state.apply", "mdtmirror", minion_tgt="mds02")
    assert ret.returncode == 0, ret
    changed = {s["__id__"]: s["changes"] for s in ret.data.values() if s["changes"]}
    assert {s["__id__"]: s["changes"] for s in predicted.data.values() if s["changes"]} == changed
    assert "mdtmirror-scst-device" in changed, sorted(changed)
    assert pools(mds02) == [], "a returning node must not import the pool"
    assert "MDT0" in mds02.kernel.devices
    assert salt.salt("mine.update").returncode == 0
    # The active logs in to the returned LUN and heals: the disk is back under a name the pool never recorded
    # (it was mds02's local disk, it is an SRP disk on mds01) but its label is this pool's, same vdev guid:
    # the dead vdev is detached and the disk attached again, a resilver follows.
    predicted = salt.salt_cli.run("state.apply", "mdtmirror", test=True, minion_tgt="mds01")
    wrong = {s["__id__"]: s["comment"] for s in predicted.data.values() if s["result"] is False}
    assert wrong == {}, wrong
    ret = salt.salt_cli.run("state.apply", "mdtmirror", minion_tgt="mds01")
    failed = {s["__id__"]: s["comment"] for s in ret.data.values() if s["result"] is not True}
    assert failed == {}, failed
    assert {s["__id__"] for s in predicted.data.values() if s["changes"]} == {
        s["__id__"] for s in ret.data.values() if s["changes"]
    }
    pool_changes = next(s["changes"] for s in ret.data.values() if s["__id__"] == "mdtmirror-pool")
    assert any(c["new"].startswith("detached (back as") for c in pool_changes.values()), pool_changes
    assert [p for p, _ in logged_in_to(pair, "mds01")] == ["mds02"]
    wait_online(mds01)
    assert zpool(mds01, "scrub", "mdtpool")[0] == 0
    out = wait_online(mds01)
    assert "state: ONLINE" in out and "errors: No known data errors" in out, out
    assert set(DATA) <= set(datasets(mds01))
    assert_mirrored(pair, active="mds01")
    assert_stages_predict_nothing(salt)

    # The active (mds01) goes down and nothing takes over (auto failover off): the pool is imported nowhere.
    assert salt.salt("mine.update").returncode == 0
    minion = salt.minions["mds01"]
    minion.terminate()
    try:
        pair.fabric.set_down("mds01")
        mds01.srp.kernel.remove_all()
        zfsemu.crash(mds01.root)
        # The standby stays standby: the label on its disk names mds01 (written over SRP), not it.
        ret = salt.salt_cli.run("state.apply", "mdtmirror", minion_tgt="mds02")
        assert ret.returncode == 0, ret
        assert pools(mds02) == [] and "MDT0" in mds02.kernel.devices
    finally:
        pair.fabric.set_up("mds01")
        minion.start()

    # mds01 comes back: its disk's label says it had the pool imported and never exported it, and the peer
    # has not imported it since: state.apply makes it the active again. test=True predicts the login and the
    # import (the peer's side comes with that login) and moves nothing; the real run imports with both sides.
    before = {name: host_state(host) for name, host in pair.hosts.items()}
    plan = salt.salt_cli.run("mdtmirror.plan", minion_tgt="mds01").data
    assert plan["role"] == "active" and plan["pool"]["import"] is True, plan
    predicted = salt.salt_cli.run("state.apply", "mdtmirror", test=True, minion_tgt="mds01")
    assert {name: host_state(host) for name, host in pair.hosts.items()} == before
    wrong = {s["__id__"]: s["comment"] for s in predicted.data.values() if s["result"] is False}
    assert wrong == {}, wrong
    ret = salt.salt_cli.run("state.apply", "mdtmirror", minion_tgt="mds01")
    failed = {s["__id__"]: s["comment"] for s in ret.data.values() if s["result"] is not True}
    assert failed == {}, failed
    changed = {s["__id__"]: s["changes"] for s in ret.data.values() if s["changes"]}
    assert {s["__id__"] for s in predicted.data.values() if s["changes"]} == set(changed)
    assert {"mdtmirror-srp-login", "mdtmirror-pool-reimport"} <= set(changed), sorted(changed)
    assert changed["mdtmirror-pool-reimport"] == {"mdtpool": {"old": "exported", "new": "imported"}}
    out = wait_online(mds01)
    assert "state: ONLINE" in out, out
    assert set(DATA) <= set(datasets(mds01))
    assert salt.salt("mine.update").returncode == 0
    assert_mirrored(pair, active="mds01")
    assert_stages_predict_nothing(salt)
