"""The mdtmirror beacon's pure part: what it observes of a pool (from real
``zpool status`` captures through zfsmirror's parser and side
classification) and the events between two observations."""

from mdtmirror_lib import zfs_parse, zfs_policy
from tests.captures import captures_dir
from tests.loadermods import load

beacon = load("_beacons", "mdtmirror")


def observed(rel, paths=None, export=None):
    """An observation of the captured pool (OpenZFS 2.3.2, loop0 local, sda the SRP LUN)."""
    lines = (captures_dir() / "linux-6.1-openzfs-2.3.2" / rel).read_text().splitlines()
    status = zfs_parse.parse_status_text("\n".join(lines[1:-1]) + "\n")["mdtpool"]
    pool = beacon.observe_pool(zfs_policy.classify_sides(status, local=["loop0"]))
    return {"pool": pool, "paths": paths or {}, "export": export}


def whats(previous, current):
    return [what for what, _ in beacon.events(previous, current)]


def test_a_remote_side_lost_and_back_in_captured_statuses():
    online = observed("zfs/zpool_status_online.txt", paths={"port-7:1": "running"})
    assert online["pool"]["sides"] == {
        "loop0": {"side": "local", "state": "ONLINE", "errors": 0},
        "sda": {"side": "remote", "state": "ONLINE", "errors": 0},
    }
    offline = observed("zfs/zpool_status_degraded_offline.txt", paths={"port-7:1": "lost"})
    got = beacon.events(online, offline)
    assert [w for w, _ in got] == ["pool/state", "side/remote/lost", "path/lost"], got
    assert got[1][1] == {"device": "sda", "old": "ONLINE", "new": "OFFLINE"}
    assert whats(offline, online) == ["pool/state", "side/remote/back", "path/running"]
    # The steady state fires nothing, in either state.
    assert whats(online, online) == [] and whats(offline, offline) == []


def test_the_first_look_is_a_baseline_that_reports_only_what_is_wrong():
    assert whats(None, observed("zfs/zpool_status_online.txt")) == []
    assert whats(None, observed("zfs/zpool_status_degraded_offline.txt")) == ["pool/state", "side/remote/lost"]
    assert whats(None, {"pool": None, "paths": {}, "export": {"ready": True, "sessions": []}}) == []


def test_pool_moves_resilver_scrub_errors_paths_and_export():
    online = observed("zfs/zpool_status_online.txt")
    standby = {"pool": None, "paths": {}, "export": {"ready": True, "sessions": ["fe80::2"]}}
    assert whats(online, {**online, "pool": None}) == ["pool/exported"]
    assert whats({**online, "pool": None}, online) == ["pool/imported"]
    resilvering = {**online, "pool": {**online["pool"], "resilvering": True}}
    assert whats(online, resilvering) == ["resilver/started"] and whats(resilvering, online) == ["resilver/finished"]
    errors = {**online, "pool": {**online["pool"], "scrub_errors": 3}}
    assert whats(online, errors) == ["scrub/errors"] and whats(errors, online) == []
    assert whats({**online, "paths": {"port-7:1": "running"}}, online) == ["path/gone"]
    assert whats(online, {**online, "paths": {"port-8:1": "running"}}) == ["path/new"]
    down = {**standby, "export": {"ready": False, "sessions": []}}
    assert whats(standby, down) == ["export/down", "session/down"]
    assert whats(down, standby) == ["export/ready", "session/up"]


def test_validate_names_the_bad_key():
    good = [{"interval": 10}, {"disable_during_state_run": True}, {"pair": "mdt0"}, {"pool": "mdtpool"}]
    assert beacon.validate(good)[0] is True
    ok, why = beacon.validate([*good, {"pools": ["x"]}])
    assert not ok and "pools" in why
    ok, why = beacon.validate([{"interval": 10}])
    assert not ok and "pair, pool missing" in why
    assert beacon.validate({"interval": 10})[0] is False
