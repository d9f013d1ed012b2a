"""plan_prune: sanoid-like retention, holds, and as few `zfs destroy` calls as Linux allows."""

import datetime

import pytest
from salt.exceptions import SaltInvocationError

from mdtmirror_lib import zfs_parse
from mdtmirror_lib import zfs_policy as zm
from tests.unit.test_lib_zfs_parse import body, capture

HOUR = 3600
# Linux MAX_ARG_STRLEN: the longest single argument execve accepts (incl. NUL)
MAX_ARG_STRLEN = 131072
T0 = int(datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp())


def expand(plan, snapshots):
    """What the destroy commands would destroy: names, with a%b ranges in createtxg order."""
    order = {}
    for snap in sorted(snapshots, key=lambda s: s["createtxg"] if s.get("createtxg") is not None else s["creation"]):
        dataset, short = snap["name"].split("@")
        order.setdefault(dataset, []).append(short)
    destroyed = []
    for verb, arg in plan["commands"]:
        assert verb == "destroy"
        dataset, spec = arg.split("@", 1)
        shorts = order[dataset]
        index = {short: i for i, short in enumerate(shorts)}
        for token in spec.split(","):
            if "%" in token:
                first, last = token.split("%")
                i, j = index[first], index[last]
                assert i < j
                destroyed += [f"{dataset}@{s}" for s in shorts[i : j + 1]]
            else:
                assert token in index
                destroyed.append(f"{dataset}@{token}")
    return destroyed


def hourly(count, dataset="mdtpool/mdt0", txg=True, start=T0):
    snaps = []
    for i in range(count):
        when = start + i * HOUR
        name = datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("mdtmirror-%Y%m%dT%H%MZ")
        snap = {"name": f"{dataset}@{name}", "creation": when, "userrefs": 0}
        if txg:
            snap["createtxg"] = 100 + 10 * i
        snaps.append(snap)
    return snaps


# --------------------------------------------------------------------------
# golden: the captured snapshot list and the captured batch destroy
# --------------------------------------------------------------------------


def test_golden_list_gives_the_captured_batch_destroy():
    snaps = zfs_parse.parse_list_hp(body("zfs/zfs_list_snap.txt"), "name,creation,used,userrefs")
    plan = zm.plan_prune(snaps, {"daily": 1}, now=1795522800)
    # the three mdtmirror snapshots were created in the same two seconds: one day, keep the newest
    assert plan["keep"] == ["mdtpool/mdt0@mdtmirror-20261123T0000Z"]
    assert plan["foreign"] == ["mdtpool/mdt0@manual-keep"]
    cmd = capture("zfs/zfs_destroy_batch.txt")[0]  # zfs destroy -v <arg>
    assert plan["commands"] == [["destroy", cmd.split()[-1]]]
    assert plan["prune"] == [
        "mdtpool/mdt0@mdtmirror-20261121T0000Z",
        "mdtpool/mdt0@mdtmirror-20261122T0000Z",
    ]


def test_golden_json_list_held_snapshot_is_never_pruned():
    datasets = zfs_parse.parse_zfs_list_json(body("zfs-json/zfs_list_j.json"))
    snaps = dict(datasets)
    # a newer snapshot makes the held one prunable by policy
    snaps["mdtpool/mdt0@mdtmirror-20261125T0000Z"] = {
        "name": "mdtpool/mdt0@mdtmirror-20261125T0000Z",
        "createtxg": 50,
        "properties": {"creation": 1795525759 + 86400, "userrefs": 0},
    }
    plan = zm.plan_prune(snaps, {"frequently": 1}, now=1795525759 + 90000)
    assert plan["held"] == ["mdtpool/mdt0@mdtmirror-20261124T0000Z"]
    assert plan["prune"] == [] and plan["commands"] == []
    # without the hold it would go
    datasets["mdtpool/mdt0@mdtmirror-20261124T0000Z"]["properties"]["userrefs"] = 0
    plan = zm.plan_prune(snaps, {"frequently": 1}, now=1795525759 + 90000)
    assert plan["commands"] == [["destroy", "mdtpool/mdt0@mdtmirror-20261124T0000Z"]]


def test_holds_argument_and_clones_protect():
    snaps = hourly(5)
    held = snaps[1]["name"]
    snaps[2]["clones"] = "mdtpool/clone"
    plan = zm.plan_prune(snaps, {"frequently": 1}, now=T0 + 10 * HOUR, holds=[held])
    assert plan["held"] == [held, snaps[2]["name"]]
    assert plan["prune"] == [snaps[0]["name"], snaps[3]["name"]]


# --------------------------------------------------------------------------
# retention semantics
# --------------------------------------------------------------------------


def test_sanoid_defaults_over_ten_thousand_hourly_snapshots():
    snaps = hourly(10_000)
    policy = {"hourly": 48, "daily": 90, "monthly": 6}
    plan = zm.plan_prune(snaps, policy, now=T0 + 10_000 * HOUR)
    newest = snaps[-1]["creation"]
    kept = {s["name"]: s["creation"] for s in snaps if s["name"] in plan["keep"]}
    # 48 newest hours
    assert all(s["name"] in kept for s in snaps[-48:])
    # the last snapshot of each of the 90 most recent days
    days = {}
    for snap in snaps:
        days[datetime.datetime.fromtimestamp(snap["creation"], datetime.timezone.utc).date()] = snap["name"]
    assert all(days[d] in kept for d in sorted(days)[-90:])
    assert sum(1 for d in sorted(days)[:-90] if days[d] in kept) <= 6  # older days kept only as monthlies
    # 6 monthlies, one per month
    months = {}
    for snap in snaps:
        months[datetime.datetime.fromtimestamp(snap["creation"], datetime.timezone.utc).strftime("%Y-%m")] = snap
    assert all(months[m]["name"] in kept for m in sorted(months)[-6:])
    assert not any(months[m]["name"] in kept for m in sorted(months)[:-6])
    assert len(plan["keep"]) + len(plan["prune"]) == 10_000
    # the monthlies reach back furthest: the oldest kept is the last of the 6th month back
    assert min(kept.values()) == months[sorted(months)[-6]]["creation"] < newest - 140 * 86400
    assert sorted(expand(plan, snaps)) == sorted(plan["prune"])


def test_ten_thousand_snapshots_need_at_most_two_destroy_calls():
    snaps = hourly(10_000)
    # manual snapshots and held ones in between must break the ranges
    manual = {"name": "mdtpool/mdt0@before-upgrade", "creation": T0 + 5000 * HOUR + 1, "createtxg": 100 + 10 * 5000 + 5}
    snaps[3000]["userrefs"] = 1
    plan = zm.plan_prune(snaps + [manual], {"hourly": 24, "daily": 30}, now=T0 + 10_000 * HOUR)
    assert 1 <= len(plan["commands"]) <= 2
    for _, arg in plan["commands"]:
        assert len(arg.encode()) <= zm.MAX_ARG_BYTES < MAX_ARG_STRLEN
    destroyed = expand(plan, snaps + [manual])
    assert sorted(destroyed) == sorted(plan["prune"]) and len(destroyed) == len(set(destroyed))
    assert manual["name"] not in destroyed and snaps[3000]["name"] not in destroyed
    assert plan["held"] == [snaps[3000]["name"]] and plan["foreign"] == [manual["name"]]
    assert len(plan["prune"]) == 10_000 - 1 - len(plan["keep"])


def test_without_createtxg_no_ranges_and_arguments_stay_below_the_limit():
    snaps = hourly(10_000, txg=False)
    plan = zm.plan_prune(snaps, {"hourly": 24}, now=T0 + 10_000 * HOUR)
    assert all("%" not in arg for _, arg in plan["commands"])
    sizes = [len(arg.encode()) for _, arg in plan["commands"]]
    assert all(size <= zm.MAX_ARG_BYTES for size in sizes)
    # greedy packing: as few calls as the limit allows
    total = sum(len(name.split("@")[1]) + 1 for name in plan["prune"])
    assert len(sizes) == -(-total // (zm.MAX_ARG_BYTES - len("mdtpool/mdt0@")))
    assert sorted(expand(plan, snaps)) == sorted(plan["prune"])


def test_small_argument_limit_splits():
    snaps = hourly(10, txg=False)
    plan = zm.plan_prune(snaps, {"frequently": 1}, now=T0 + 20 * HOUR, max_arg_bytes=80)
    shorts = [s["name"].split("@")[1] for s in snaps[:9]]
    assert plan["commands"] == [
        ["destroy", "mdtpool/mdt0@" + ",".join(shorts[0:2])],
        ["destroy", "mdtpool/mdt0@" + ",".join(shorts[2:4])],
        ["destroy", "mdtpool/mdt0@" + ",".join(shorts[4:6])],
        ["destroy", "mdtpool/mdt0@" + ",".join(shorts[6:8])],
        ["destroy", "mdtpool/mdt0@" + shorts[8]],
    ]


def test_ranges_need_three_and_two_stay_a_list():
    snaps = hourly(6)
    plan = zm.plan_prune(snaps, {"frequently": 3}, now=T0 + 10 * HOUR)
    shorts = [s["name"].split("@")[1] for s in snaps]
    assert plan["commands"] == [["destroy", f"mdtpool/mdt0@{shorts[0]}%{shorts[2]}"]]
    plan = zm.plan_prune(snaps, {"frequently": 4}, now=T0 + 10 * HOUR)
    assert plan["commands"] == [["destroy", f"mdtpool/mdt0@{shorts[0]},{shorts[1]}"]]
    plan = zm.plan_prune(snaps, {"frequently": 3}, now=T0 + 10 * HOUR, ranges=False)
    assert plan["commands"] == [["destroy", "mdtpool/mdt0@" + ",".join(shorts[:3])]]


def test_weekly_buckets_are_iso_weeks_and_datasets_are_separate():
    # 2025-01-05 is a Sunday (ISO week 1), 2025-01-06 a Monday (week 2)
    a = [{"name": f"p/a@mdtmirror-{d}", "creation": T0 + d * 86400, "createtxg": d + 1} for d in range(3, 7)]
    b = [{"name": f"p/b@mdtmirror-{d}", "creation": T0 + d * 86400, "createtxg": d + 1} for d in range(3, 5)]
    plan = zm.plan_prune(a + b, {"weekly": 2}, now=T0 + 10 * 86400)
    assert plan["keep"] == ["p/a@mdtmirror-4", "p/a@mdtmirror-6", "p/b@mdtmirror-4"]
    assert plan["commands"] == [["destroy", "p/a@mdtmirror-3,mdtmirror-5"], ["destroy", "p/b@mdtmirror-3"]]
    assert plan["kept_by"]["p/a@mdtmirror-6"] == ["weekly", "newest"]


def test_newest_and_future_snapshots_are_kept():
    snaps = hourly(4)
    snaps[0]["creation"] = T0 + 100 * HOUR  # clock was ahead when it was taken
    plan = zm.plan_prune(snaps, {"frequently": 1}, now=T0 + 10 * HOUR)
    assert "future" in plan["kept_by"][snaps[0]["name"]]
    assert plan["prune"] == [snaps[1]["name"], snaps[2]["name"]]


@pytest.mark.parametrize(
    "policy, message",
    [
        ({"daily": 0, "hourly": 0}, "keeps no snapshot"),
        ({}, "keeps no snapshot"),
        ({"minutely": 5}, "unknown retention period 'minutely'"),
        ({"daily": -1}, "invalid count -1 for daily"),
        ({"daily": True}, "invalid count True for daily"),
        ({"daily": "x"}, "invalid count 'x' for daily"),
        ([("daily", 1)], "invalid retention policy"),
    ],
)
def test_bad_policies(policy, message):
    with pytest.raises(SaltInvocationError, match=message):
        zm.plan_prune(hourly(3), policy, now=T0)


def test_bad_prefix_and_now():
    with pytest.raises(SaltInvocationError, match="invalid snapshot prefix"):
        zm.plan_prune(hourly(3), {"daily": 1}, now=T0, prefix="a@b")
    with pytest.raises(SaltInvocationError, match="invalid time 'soon'"):
        zm.plan_prune(hourly(3), {"daily": 1}, now="soon")
    assert zm.plan_prune(hourly(3), {"daily": 1}, now=datetime.datetime(2030, 1, 1))["keep"]
