"""The node's plan (mdtmirror.plan_node) and the pair operations' decision
(the mdtmirror runner's decide): pure functions, every role x backend x
fresh / degraded / after-takeover / returning case. The peer's login_info is
the one a real SCST 3.11 wrote (captures), read by the library's SCST parser."""

import copy
import re

import pytest

from mdtmirror_lib import fleet, nodefacts, nodeplan
from mdtmirror_lib.scst_parse import parse_login_info
from tests.captures import scst_capture
from tests.loadermods import load
from tests.unit.test_mdtmirror_settings import DEFAULTS, SCHEMA, example

mdtmirror = load("_modules", "mdtmirror")

CAPTURE = scst_capture("tree-1-configured.txt")
_LOGIN_LINE = re.compile(r"/login_info = (.*)$", re.M)
LOGIN_INFO = parse_login_info(_LOGIN_LINE.search(CAPTURE.read_text()).group(1))
PREDICTED = "/dev/disk/by-id/scsi-2xxxx-predicted"
LOGIN_DISK = "/dev/disk/by-id/scsi-2xxxx-seen"


def settings(minion="mds01", backend="scst", link_layer="Ethernet", **pair_extra):
    pillar = {
        "pairs": {
            "mdt0": {
                "nodes": {"mds01": {"lun_path": "/dev/sdb"}, "mds02": {"lun_path": "/dev/sdc"}},
                "owner": "mds01",
                "pool": "mdtpool",
                **pair_extra,
            }
        },
        "target": {"backend": backend, "module_options": {"ib_srpt": {"rdma_cm_port": 5555}}},
    }
    if backend == "lio":
        pillar["target"]["lio"] = {"rdma_cm_port": 4444}
    cfg = mdtmirror.resolve(copy.deepcopy(DEFAULTS), pillar, minion, SCHEMA)
    assert cfg["errors"] == []
    return cfg


def peer_facts(link_layer="Ethernet", pools=(), enabled=True):
    gid = "fe80:0000:0000:0000:5054:00ff:fe12:3456"
    return {
        "mdtmirror_targets": [
            {"name": gid, "enabled": enabled, "link_layer": link_layer, "login_info": dict(LOGIN_INFO)}
        ],
        "mdtmirror_srp_ports": [{"name": "srp-rxe0-1", "gid": gid, "link_layer": link_layer}],
        "mdtmirror_ips": ["10.0.0.2"],
        "mdtmirror_node": {"pools": list(pools)},
    }


def local(pools=(), on_disks=False, login_disk=None, last_here=False):
    return {
        "pools": list(pools),
        "pool_on_disks": on_disks,
        "login_disk": login_disk,
        "predicted_remote": PREDICTED,
        "last_importer_here": last_here,
    }


# --------------------------------------------------------------------------
# roles from the world
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minion, world, peer_pools, role, why",
    [
        ("mds01", local(), (), "active", "pillar's owner and pool mdtpool does not exist yet"),
        ("mds02", local(), (), "standby", "not imported here"),
        ("mds02", local(pools=["mdtpool"]), (), "active", "imported here"),  # after a takeover or switchover
        ("mds01", local(on_disks=True), ["mdtpool"], "standby", "imported on the peer mds02"),  # the owner returns
        ("mds01", local(on_disks=True), (), "standby", "state.apply does not import it"),  # both rebooted
        ("mds01", local(), ["mdtpool"], "standby", "imported on the peer"),  # owner with a blank new disk
        # The active went down (reboot, crash) and nothing imported the pool since: it imports it again.
        ("mds02", local(on_disks=True, last_here=True), (), "active", "was imported here when this node went"),
        # ... but never while the peer has it (a takeover happened: the peer's mine says so).
        ("mds01", local(on_disks=True, last_here=True), ["mdtpool"], "standby", "imported on the peer"),
    ],
    ids=[
        "fresh-owner",
        "fresh-other",
        "after-takeover",
        "owner-returns",
        "nobody-active",
        "owner-new-disk",
        "active-back",
        "active-back-after-takeover",
    ],
)
def test_role_comes_from_where_the_pool_is(minion, world, peer_pools, role, why):
    cfg = settings(minion)
    got, said = nodeplan.decide_role(cfg, minion, world, {"pools": list(peer_pools)})
    assert got == role and why in said, said


def _reading_salt(pools=(), last_here=False, on_disks=False):
    """A ``salt`` for nodefacts.local_facts that records which host reads it made."""
    reads = []

    def read(name, answer):
        def call(*args, **kwargs):
            reads.append(name)
            return answer

        return call

    return reads, {
        "zfsmirror.pool_names": read("pools here", sorted(pools)),
        "zfsmirror.last_importer_here": read("zdb -l", last_here),
        "zfsmirror.import_listing": read("zpool import", {"mdtpool": {}} if on_disks else {}),
        "zfsmirror.disk_label": read("blkid", {}),
        "srp.list_logins": read("srp logins", []),
        "scst.initiator_by_id": read("predicted remote", PREDICTED),
    }


@pytest.mark.parametrize(
    "minion, pools, peer_pools, forced, labels",
    [
        ("mds01", ["mdtpool"], (), False, []),  # active: the pool is here
        ("mds02", [], ["mdtpool"], False, []),  # standby while the peer has the pool: every apply
        ("mds01", [], ["mdtpool"], False, []),  # the owner as standby
        ("mds01", [], (), True, []),  # a switchover or takeover forces the role
        ("mds02", [], (), False, ["zdb -l"]),  # was it the active one when it went down?
        ("mds01", [], (), False, ["zdb -l", "zpool import", "blkid"]),  # ... and is the pool fresh?
    ],
    ids=["active", "standby", "owner-standby", "forced", "nobody-has-it", "owner-nobody-has-it"],
)
def test_labels_are_read_only_when_they_decide_the_role(minion, pools, peer_pools, forced, labels):
    reads, salt = _reading_salt(pools=pools)
    nodefacts.local_facts(settings(minion), minion, salt, peer_node={"pools": list(peer_pools)}, forced=forced)
    assert [r for r in reads if r in ("zdb -l", "zpool import", "blkid")] == labels


@pytest.mark.parametrize(
    "minion, pools, peer_pools, forced, remote, srp",
    [
        ("mds01", ["mdtpool"], (), False, None, ["srp logins"]),  # active: its login's disk is the remote side
        ("mds02", [], ["mdtpool"], False, None, []),  # standby for sure (the peer has the pool): every apply
        ("mds02", [], ["mdtpool"], True, None, ["srp logins"]),  # a forced role may be active
        ("mds02", [], (), False, None, ["srp logins"]),  # nobody has it: the role comes from the labels
        ("mds01", ["mdtpool"], (), False, "/dev/disk/by-id/scsi-2remote", []),  # the pillar names the side
    ],
    ids=["active", "standby", "forced", "nobody-has-it", "remote-in-pillar"],
)
def test_the_login_is_read_only_where_its_disk_can_be_the_pools_remote_side(
    minion, pools, peer_pools, forced, remote, srp
):
    reads, salt = _reading_salt(pools=pools)
    calls = []
    salt["srp.list_logins"] = lambda **kwargs: calls.append(kwargs) or reads.append("srp logins") or []
    cfg = settings(minion)
    cfg["mirror"]["remote"] = remote
    nodefacts.local_facts(cfg, minion, salt, peer_node={"pools": list(peer_pools)}, forced=forced)
    assert [r for r in reads if r == "srp logins"] == srp
    assert all(kwargs == {"brief": True} for kwargs in calls), calls


# --------------------------------------------------------------------------
# what each role does, per backend
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["scst", "lio"])
def test_standby_exports_its_disk_and_logs_in_nowhere(backend):
    cfg = settings("mds02", backend=backend)
    plan = nodeplan.plan_node(cfg, "mds02", peer_facts(pools=["mdtpool"]), local(on_disks=True))
    assert plan["role"] == "standby" and plan["pool"] is None and plan["login"] is None
    assert plan["unexport"] is None
    assert plan["export"]["device"] == "MDT0" and plan["export"]["lun_path"] == "/dev/sdc"
    gid = "fe80:0000:0000:0000:5054:00ff:fe12:3456"
    # SCST names a RoCE initiator by address (and the GID); LIO by port ID, from the GID.
    assert plan["export"]["initiators"] == ([gid] if backend == "lio" else ["10.0.0.2"])
    cm_port = 4444 if backend == "lio" else 5555
    assert plan["logout"] == {
        "target": {"id_ext": LOGIN_INFO["tid_ext"], "ioc_guid": LOGIN_INFO["ioc_guid"], "dest": f"10.0.0.2:{cm_port}"}
    }


@pytest.mark.parametrize("backend", ["scst", "lio"])
def test_fresh_active_plans_the_pool_on_the_predicted_remote(backend):
    cfg = settings("mds01", backend=backend)
    plan = nodeplan.plan_node(cfg, "mds01", peer_facts(), local())
    assert plan["role"] == "active" and plan["export"] is None
    assert plan["unexport"] == {"device": "MDT0", "lun": 0, "group": "MDS"}
    assert plan["login"]["target"]["dest"].startswith("10.0.0.2:")
    assert plan["pool"] == {
        "name": "mdtpool",
        "local": "/dev/sdb",
        "remote": PREDICTED,
        "remote_pending": True,
        "import": False,
    }
    assert plan["problems"] == [] and plan["missing"] == []


@pytest.mark.parametrize("backend", ["scst", "lio"])
def test_active_back_from_a_reboot_logs_in_then_imports_again(backend):
    """The label names this node (it was active when it went down): no export, a login, the import first."""
    cfg = settings("mds02", backend=backend)
    plan = nodeplan.plan_node(cfg, "mds02", peer_facts(), local(on_disks=True, last_here=True))
    assert plan["role"] == "active" and plan["export"] is None and plan["unexport"]["device"] == "MDT0"
    assert plan["login"]["target"]["dest"].startswith("10.0.0.2:")
    assert plan["pool"]["import"] is True and plan["pool"]["remote"] == PREDICTED and plan["pool"]["remote_pending"]
    # A role the operation in progress forces has its own import (mdtmirror.activate): none here.
    forced = nodeplan.plan_node(cfg, "mds02", peer_facts(), local(on_disks=True, last_here=True), role="active")
    assert forced["pool"]["import"] is False
    # Imported already: nothing to import.
    here = nodeplan.plan_node(cfg, "mds02", peer_facts(), local(pools=["mdtpool"], last_here=True))
    assert here["pool"]["import"] is False


def test_active_uses_the_disk_its_login_brought():
    plan = nodeplan.plan_node(settings(), "mds01", peer_facts(), local(pools=["mdtpool"], login_disk=LOGIN_DISK))
    assert plan["pool"]["remote"] == LOGIN_DISK and plan["pool"]["remote_pending"] is False


def test_degraded_active_without_login_heals_on_the_predicted_name():
    plan = nodeplan.plan_node(settings(), "mds01", peer_facts(), local(pools=["mdtpool"]))
    assert plan["role"] == "active" and plan["pool"]["remote"] == PREDICTED


def test_infiniband_peer_logs_in_by_its_login_info():
    plan = nodeplan.plan_node(settings(), "mds01", peer_facts(link_layer="InfiniBand"), local())
    assert plan["login"]["target"] == {
        "id_ext": LOGIN_INFO["tid_ext"],
        "ioc_guid": LOGIN_INFO["ioc_guid"],
        "dgid": LOGIN_INFO["dgid"],
        "pkey": LOGIN_INFO["pkey"],
        "service_id": LOGIN_INFO["service_id"],
    }


def test_missing_peer_facts_are_named_and_nothing_is_guessed():
    plan = nodeplan.plan_node(settings("mds02"), "mds02", {}, local())
    assert plan["missing"] == ["mdtmirror_targets", "mdtmirror_srp_ports", "mdtmirror_ips"]
    assert plan["export"]["initiators"] is None and plan["logout"] is None
    active = nodeplan.plan_node(settings(), "mds01", {}, local())
    assert active["login"] == {"discover": True, "match": {}}


def test_zvol_backed_lun_is_exported_by_its_dev_path():
    cfg = settings("mds02")
    cfg["node"] = {"zvol": {"name": "local/MDT", "size": "10G"}}
    plan = nodeplan.plan_node(cfg, "mds02", peer_facts(pools=["mdtpool"]), local())
    assert plan["export"]["lun_path"] == "/dev/zvol/local/MDT"


def test_forced_role_and_bad_role():
    plan = nodeplan.plan_node(settings("mds02"), "mds02", peer_facts(), local(on_disks=True), role="active")
    assert plan["role"] == "active" and plan["login"] and plan["export"] is None
    with pytest.raises(Exception, match="role must be active or standby"):
        nodeplan.plan_node(settings(), "mds01", {}, local(), role="primary")


# --------------------------------------------------------------------------
# the pair operations (master side)
# --------------------------------------------------------------------------


def status(node, imported=False, redundant=True, problems=()):
    peer = "mds02" if node == "mds01" else "mds01"
    health = {"redundant": redundant, "problems": list(problems), "resilver": None} if imported else None
    return {"node": node, "pair": "mdt0", "peer": peer, "imported": imported, "health": health, "errors": []}


def test_switchover_moves_the_pool_to_the_standby():
    got = fleet.decide("switchover", "mdt0", {"mds01": status("mds01", True), "mds02": status("mds02")})
    assert got["refusal"] is None and (got["old"], got["new"]) == ("mds01", "mds02")


@pytest.mark.parametrize(
    "statuses, kwargs, words",
    [
        ({"mds01": status("mds01", True, False, ["remote side REMOVED"])}, {}, "did not answer"),
        (
            {"mds01": status("mds01", True, False, ["remote side REMOVED"]), "mds02": status("mds02")},
            {},
            "not whole (remote side REMOVED)",
        ),
        ({"mds01": status("mds01", True), "mds02": status("mds02")}, {"to": "mds07"}, "to='mds07' is not a node"),
        ({"mds01": status("mds01"), "mds02": status("mds02")}, {}, "no node has the pool imported"),
        ({"mds01": status("mds01", True), "mds02": status("mds02", True)}, {}, "imported on mds01 and mds02"),
        ({"mds03": {**status("mds01"), "pair": "other"}}, {}, "no minion that answered is a node of it"),
    ],
    ids=["peer-silent", "degraded", "bad-to", "nobody-active", "double-import", "unknown-pair"],
)
def test_switchover_refusals(statuses, kwargs, words):
    got = fleet.decide("switchover", "mdt0", statuses, **kwargs)
    assert got["refusal"] and words in got["refusal"], got


def test_switchover_forced_on_a_degraded_mirror_and_completed_with_to():
    degraded = {"mds01": status("mds01", True, False, ["x"]), "mds02": status("mds02")}
    assert fleet.decide("switchover", "mdt0", degraded, force=True)["refusal"] is None
    nobody = {"mds01": status("mds01"), "mds02": status("mds02")}
    got = fleet.decide("switchover", "mdt0", nobody, to="mds02")
    assert got["refusal"] is None and (got["old"], got["new"]) == ("mds01", "mds02")


def test_takeover_only_when_nobody_alive_holds_the_pool():
    alive = fleet.decide("takeover", "mdt0", {"mds01": status("mds01", True), "mds02": status("mds02")})
    assert "mds01 is alive and holds the pool" in alive["refusal"]
    lost = fleet.decide("takeover", "mdt0", {"mds02": status("mds02")})
    assert lost["refusal"] is None and lost["new"] == "mds02" and lost["old"] is None
    both = fleet.decide("takeover", "mdt0", {"mds01": status("mds01"), "mds02": status("mds02")})
    assert "say which one takes over" in both["refusal"]
    silent_to = fleet.decide("takeover", "mdt0", {"mds02": status("mds02")}, to="mds01")
    assert "mds01 did not answer" in silent_to["refusal"]


def auto(node, on=True, **kwargs):
    return {**status(node, **kwargs), "failover": {"auto": on}}


@pytest.mark.parametrize(
    "answers, words",
    [
        ({"mds02": auto("mds02", on=False)}, "off (mdtmirror:failover:auto is not true"),
        ({"mds02": {k: v for k, v in status("mds02").items()}}, "off (mdtmirror:failover:auto"),
        ({"mds02": auto("mds02"), "mds01": auto("mds01", imported=True)}, "mds01 answered"),
        # Alive without its pool, or answering only with an error (module not synced): still alive.
        ({"mds02": auto("mds02"), "mds01": auto("mds01")}, "mds01 answered"),
        ({"mds02": auto("mds02"), "mds01": "'mdtmirror.node_status' is not available."}, "mds01 answered"),
        ({"mds01": auto("mds01", imported=True)}, "mds02 did not answer"),
        ({"mds02": {**auto("mds02"), "pair": "mdt1"}}, "is a node of pair 'mdt1'"),
        ({"mds02": auto("mds02", imported=True)}, "is alive and holds the pool"),
        ({"mds02": {**auto("mds02"), "errors": ["pillar key x"]}}, "pillar errors"),
    ],
    ids=[
        "off",
        "off-by-default",
        "peer-active",
        "peer-alive",
        "peer-error",
        "to-silent",
        "other-pair",
        "to-active",
        "pillar-errors",
    ],  # fmt: skip
)
def test_automatic_takeover_refusals(answers, words):
    got = fleet.decide_failover("mdt0", "mds02", answers)
    assert got["refusal"] and words in got["refusal"], got


def test_automatic_takeover_when_on_and_the_peer_silent():
    # LocalClient.cmd's silent minion: absent, False, or {} (a "failed" return without "ret").
    for answers in (
        {"mds02": auto("mds02")},
        {"mds02": auto("mds02"), "mds01": False},
        {"mds02": auto("mds02"), "mds01": {}},
    ):
        got = fleet.decide_failover("mdt0", "mds02", answers)
        assert got["refusal"] is None and got["new"] == "mds02" and got["nodes"] == ["mds01", "mds02"], got


# --------------------------------------------------------------------------
# the fleet status view (master side)
# --------------------------------------------------------------------------


def fleet_node(node, pair="mdt0", peer=None, imported=False, degraded=False, path="running"):
    """A node_status answer: an active's with its pool's sides, SRP path and snapshot ages."""
    st = status(node, imported=imported)
    st.update(pair=pair, peer=peer or st["peer"], pool="mdtpool", paths=[])
    if imported:
        remote = {"side": "remote", "name": "scsi-2393", "state": "UNAVAIL" if degraded else "ONLINE"}
        st["health"] = {
            "redundant": not degraded,
            "resilver": None,
            "problems": ["remote side scsi-2393: UNAVAIL"] if degraded else [],
            "state": "DEGRADED" if degraded else "ONLINE",
            "sides": [{"side": "local", "name": "scsi-3500", "state": "ONLINE", "cksum": 0}, remote],
        }
        st["paths"] = [{"remote_port": "port-7:1", "state": path, "id_ext": "0002c903000f1366"}]
        st["snapshots"] = {"dataset": "mdtpool", "last": 600, "backup": 86000}
    return st


def test_fleet_status_two_pairs_one_whole_one_not():
    answers = {
        "mds01": fleet_node("mds01", imported=True),
        "mds02": fleet_node("mds02"),
        "mds03": fleet_node("mds03", pair="mdt1", peer="mds04", imported=True, degraded=True, path="lost"),
        "mds04": fleet_node("mds04", pair="mdt1", peer="mds03"),
    }
    rows = fleet.fleet_status(answers, expected=sorted(answers))
    assert set(rows) == {"mdt0", "mdt1"}
    whole = rows["mdt0"]
    assert whole["whole"] and whole["problems"] == [], whole
    assert (whole["active"], whole["standby"], whole["state"]) == ("mds01", "mds02", "ONLINE")
    assert whole["sides"]["remote"].startswith("ONLINE scsi-2393 (errors r/w/c 0/0/0)")
    assert whole["paths"] == {"port-7:1": "running"}
    assert (whole["last_snapshot_age_s"], whole["last_backup_age_s"]) == (600, 86000)
    broken = rows["mdt1"]
    assert not broken["whole"] and broken["state"] == "DEGRADED"
    assert "mds03: remote side scsi-2393: UNAVAIL" in broken["problems"]
    assert "mds03: SRP path port-7:1 is lost" in broken["problems"]


def test_fleet_status_silent_nodes_double_import_and_nobody_active():
    lost_active = fleet.fleet_status({"mds02": fleet_node("mds02")}, expected=["mds01", "mds02"])["mdt0"]
    assert not lost_active["whole"] and lost_active["active"] is None
    assert lost_active["problems"] == ["mds01 did not answer", "the pool is imported on no node that answered"]
    both = fleet.fleet_status({n: fleet_node(n, imported=True) for n in ("mds01", "mds02")})["mdt0"]
    assert "pool imported on mds01 and mds02 at once" in both["problems"] and not both["whole"]
    # A pair whose two nodes are silent is named by no one: listed under "?".
    rows = fleet.fleet_status({"mds01": fleet_node("mds01", imported=True), "mds02": fleet_node("mds02")},
                               expected=["mds01", "mds02", "mds05", "mds06"])  # fmt: skip
    assert rows["mdt0"]["whole"] and rows["?"]["problems"] == ["mds05 did not answer", "mds06 did not answer"]


def test_fleet_status_shows_pillar_problems_of_pairs_no_answering_node_belongs_to():
    """A pair whose entry names no minion (nodes: {}) or only minions that are not MDS is seen only by
    the other pairs' nodes, through their fleet errors (the pillar is the whole fleet's)."""
    pillar = example()
    pillar["pairs"]["mdt9"] = {"nodes": {}, "owner": "mds09"}
    pillar["pairs"]["mdt8"] = {"nodes": {"mds07": {"lun_path": "sdb"}, "mds08": {}}, "owner": "mds07"}
    answers = {}
    for node, imported in (("mds01", True), ("mds02", False)):
        st = fleet_node(node, pair="fs1-mdt0", imported=imported)
        cfg = mdtmirror.resolve(copy.deepcopy(DEFAULTS), copy.deepcopy(pillar), node, SCHEMA)
        assert cfg["errors"] == [], cfg["errors"]
        st["fleet_errors"] = cfg["fleet_errors"]
        answers[node] = st
    rows = fleet.fleet_status(answers, expected=sorted(answers))
    assert rows["fs1-mdt0"]["whole"], rows["fs1-mdt0"]
    assert not rows["mdt9"]["whole"] and rows["mdt9"]["problems"] == [
        "pillar: pillar key mdtmirror:pairs:mdt9:nodes must name exactly two minions, not 0",
        "pillar: pillar key mdtmirror:pairs:mdt9:owner is 'mds09', not one of the pair's nodes ()",
    ]
    assert [p for p in rows["mdt8"]["problems"] if "mds07:lun_path" in p], rows["mdt8"]


# --------------------------------------------------------------------------
# the fleet-safe rollout plan (master side)
# --------------------------------------------------------------------------


def test_rollout_plan_whole_pairs_node_by_node_in_batches():
    answers = {
        "mds01": fleet_node("mds01", imported=True),
        "mds02": fleet_node("mds02"),
        "mds03": fleet_node("mds03", pair="mdt1", peer="mds04"),
        "mds04": fleet_node("mds04", pair="mdt1", peer="mds03", imported=True),
        "mds05": fleet_node("mds05", pair="mdt2", peer="mds06", imported=True),
        "mds06": fleet_node("mds06", pair="mdt2", peer="mds05"),
    }
    plan = fleet.plan_rollout(answers, sorted(answers), batch=2)
    assert plan["stagewise"] == [] and plan["skipped"] == {}
    assert plan["batches"] == [
        {"pairs": ["mdt0", "mdt1"], "first": ["mds02", "mds03"], "second": ["mds01", "mds04"]},
        {"pairs": ["mdt2"], "first": ["mds06"], "second": ["mds05"]},
    ]
    one = fleet.plan_rollout(answers, sorted(answers))
    assert [b["pairs"] for b in one["batches"]] == [["mdt0"], ["mdt1"], ["mdt2"]]
    with pytest.raises(Exception, match="batch must be a number of pairs >= 1, not 0"):
        fleet.plan_rollout(answers, batch=0)


def test_rollout_plan_fresh_degraded_silent_and_unsynced():
    answers = {
        # fresh: nobody holds the pool
        "mds01": fleet_node("mds01"),
        "mds02": fleet_node("mds02"),
        # degraded
        "mds03": fleet_node("mds03", pair="mdt1", peer="mds04", imported=True, degraded=True),
        "mds04": fleet_node("mds04", pair="mdt1", peer="mds03"),
        # mds06 silent
        "mds05": fleet_node("mds05", pair="mdt2", peer="mds06", imported=True),
        # the formula's modules not synced yet: node_status unknown to it
        "mds07": "'mdtmirror.node_status' is not available.",
    }
    plan = fleet.plan_rollout(answers, [*answers, "mds06"])
    assert plan["stagewise"] == ["mds01", "mds02", "mds07"] and plan["batches"] == []
    assert plan["skipped"]["mdt2"] == "mds06 did not answer"
    assert plan["skipped"]["mdt1"].startswith("not whole (mds03: remote side scsi-2393: UNAVAIL")
    asked = fleet.plan_rollout(answers, [*answers, "mds06"], degraded=True)
    assert asked["stagewise"] == ["mds01", "mds02", "mds03", "mds04", "mds07"] and "mdt1" not in asked["skipped"]


@pytest.mark.parametrize("value", ["soon", 0, -5, None, True, "1.5x"])
def test_rollout_plan_refuses_a_bad_timeout_or_batch_naming_it(value):
    """The runner checks the numbers mdtmirror.orch passes from its pillar before asking any node."""
    from salt.exceptions import SaltInvocationError

    runner = load("_runners", "mdtmirror")
    for key in ("timeout", "batch"):
        with pytest.raises(SaltInvocationError, match=f"^{key}: {re.escape(repr(value))} is not a number above 0$"):
            runner.rollout_plan(**{key: value})
    assert runner._positive("timeout", "120", float) == 120.0 and runner._positive("batch", 2, int) == 2
