"""plan_prune's promises, for any snapshot list and policy (hypothesis): what the destroy commands
destroy is exactly the plan's prune list (ranges included, read in createtxg order as zfs does);
nothing held, cloned or not ours is ever in it; the newest of ours and any dated after ``now``
stay; a count of N per period never leaves fewer than N such periods (or all there are); every
argument fits Linux's limit; and pruning what survives prunes nothing more (one rule, converged)."""

import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdtmirror_lib import zfs_policy as zm
from tests.unit.test_lib_zfs_prune import T0, expand

PERIODS = ["frequently", "hourly", "daily", "weekly", "monthly", "yearly"]


@st.composite
def snapshot_lists(draw):
    count = draw(st.integers(0, 60))
    step = draw(st.sampled_from([60, 900, 3600, 6 * 3600, 86400, 7 * 86400]))
    snaps, when = [], T0
    for i in range(count):
        when += draw(st.integers(1, 3)) * step
        dataset = draw(st.sampled_from(["mdtpool", "mdtpool", "mdtpool/mdt0"]))
        prefix = draw(st.sampled_from(["mdtmirror-", "mdtmirror-", "mdtmirror-", "manual-"]))
        snap = {
            "name": f"{dataset}@{prefix}{i:04d}",
            "creation": when,
            "userrefs": draw(st.sampled_from([0, 0, 0, 0, 1])),
            "createtxg": 100 + i,
        }
        if draw(st.integers(0, 19)) == 0:
            snap["clones"] = f"{dataset}/clone{i}"
        snaps.append(snap)
    return snaps


# An all-zero policy is refused (it would prune everything): tests/unit/test_lib_zfs_prune.py.
policies = st.dictionaries(st.sampled_from(PERIODS), st.integers(0, 8), min_size=1, max_size=4).filter(
    lambda policy: any(policy.values())
)


def _bucket(period, entry):
    when = datetime.datetime.fromtimestamp(entry["creation"], datetime.timezone.utc)
    return entry["name"] if period == "frequently" else zm._bucket(period, when)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snaps=snapshot_lists(), policy=policies, ranges=st.booleans(), later=st.integers(-86400, 30 * 86400))
def test_prune_keeps_its_promises(snaps, policy, ranges, later):
    now = (snaps[-1]["creation"] if snaps else T0) + later
    plan = zm.plan_prune(snaps, policy, now, ranges=ranges, max_arg_bytes=600)
    pruned = set(plan["prune"])
    destroyed = expand(plan, snaps)
    assert sorted(destroyed) == sorted(pruned) and len(destroyed) == len(set(destroyed))
    assert all(len(arg.encode()) < 600 for _, arg in plan["commands"])
    by_name = {s["name"]: s for s in snaps}
    for name in pruned:
        snap = by_name[name]
        assert snap["name"].split("@")[1].startswith("mdtmirror-"), name
        assert snap["userrefs"] == 0 and not snap.get("clones"), name
        assert snap["creation"] <= now, name
    for dataset in {s["name"].split("@")[0] for s in snaps}:
        ours = [s for s in snaps if s["name"].startswith(dataset + "@mdtmirror-")]
        if not ours:
            continue
        assert ours[-1]["name"] not in pruned, "the newest of ours was pruned"
        left = [s for s in ours if s["name"] not in pruned]
        for period, count in policy.items():
            there = {_bucket(period, s) for s in ours}
            kept = {_bucket(period, s) for s in left}
            assert len(kept) >= min(count, len(there)), (period, count)
    survivors = [s for s in snaps if s["name"] not in pruned]
    assert zm.plan_prune(survivors, policy, now, ranges=ranges)["prune"] == []
