"""The node's plan (mdtmirror.plan_node) and the pair operations' decision
(the mdtmirror runner's decide): pure functions, every role x backend x
fresh / degraded / after-takeover / returning case. The peer's login_info is
the one a real SCST 3.11 wrote (captures), read by the scst module's parser."""

import copy
import re

import pytest

from tests.captures import scst_capture
from tests.loadermods import load
from tests.unit.test_mdtmirror_settings import DEFAULTS

mdtmirror = load("_modules", "mdtmirror")
scst = load("_modules", "scst")
runner = load("_runners", "mdtmirror")

CAPTURE = scst_capture("tree-1-configured.txt")
_LOGIN_LINE = re.compile(r"/login_info = (.*)$", re.M)
LOGIN_INFO = scst.parse_login_info(_LOGIN_LINE.search(CAPTURE.read_text()).group(1))
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
    cfg = mdtmirror.resolve(copy.deepcopy(DEFAULTS), pillar, minion)
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


def local(pools=(), on_disks=False, login_disk=None):
    return {"pools": list(pools), "pool_on_disks": on_disks, "login_disk": login_disk, "predicted_remote": PREDICTED}


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
        ("mds01", local(on_disks=True), (), "standby", "state.apply never imports"),  # both rebooted
        ("mds01", local(), ["mdtpool"], "standby", "imported on the peer"),  # owner with a blank new disk
    ],
    ids=["fresh-owner", "fresh-other", "after-takeover", "owner-returns", "nobody-active", "owner-new-disk"],
)
def test_role_comes_from_where_the_pool_is(minion, world, peer_pools, role, why):
    cfg = settings(minion)
    got, said = mdtmirror.decide_role(cfg, minion, world, {"pools": list(peer_pools)})
    assert got == role and why in said, said


# --------------------------------------------------------------------------
# what each role does, per backend
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["scst", "lio"])
def test_standby_exports_its_disk_and_logs_in_nowhere(backend):
    cfg = settings("mds02", backend=backend)
    plan = mdtmirror.plan_node(cfg, "mds02", peer_facts(pools=["mdtpool"]), local(on_disks=True))
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
    plan = mdtmirror.plan_node(cfg, "mds01", peer_facts(), local())
    assert plan["role"] == "active" and plan["export"] is None
    assert plan["unexport"] == {"device": "MDT0", "lun": 0, "group": "MDS"}
    assert plan["login"]["target"]["dest"].startswith("10.0.0.2:")
    assert plan["pool"] == {"name": "mdtpool", "local": "/dev/sdb", "remote": PREDICTED, "remote_pending": True}
    assert plan["problems"] == [] and plan["missing"] == []


def test_active_uses_the_disk_its_login_brought():
    plan = mdtmirror.plan_node(settings(), "mds01", peer_facts(), local(pools=["mdtpool"], login_disk=LOGIN_DISK))
    assert plan["pool"]["remote"] == LOGIN_DISK and plan["pool"]["remote_pending"] is False


def test_degraded_active_without_login_heals_on_the_predicted_name():
    plan = mdtmirror.plan_node(settings(), "mds01", peer_facts(), local(pools=["mdtpool"]))
    assert plan["role"] == "active" and plan["pool"]["remote"] == PREDICTED


def test_infiniband_peer_logs_in_by_its_login_info():
    plan = mdtmirror.plan_node(settings(), "mds01", peer_facts(link_layer="InfiniBand"), local())
    assert plan["login"]["target"] == {
        "id_ext": LOGIN_INFO["tid_ext"],
        "ioc_guid": LOGIN_INFO["ioc_guid"],
        "dgid": LOGIN_INFO["dgid"],
        "pkey": LOGIN_INFO["pkey"],
        "service_id": LOGIN_INFO["service_id"],
    }


def test_missing_peer_facts_are_named_and_nothing_is_guessed():
    plan = mdtmirror.plan_node(settings("mds02"), "mds02", {}, local())
    assert plan["missing"] == ["mdtmirror_targets", "mdtmirror_srp_ports", "mdtmirror_ips"]
    assert plan["export"]["initiators"] is None and plan["logout"] is None
    active = mdtmirror.plan_node(settings(), "mds01", {}, local())
    assert active["login"] == {"discover": True, "match": {}}


def test_zvol_backed_lun_is_exported_by_its_dev_path():
    cfg = settings("mds02")
    cfg["node"] = {"zvol": {"name": "local/MDT", "size": "10G"}}
    plan = mdtmirror.plan_node(cfg, "mds02", peer_facts(pools=["mdtpool"]), local())
    assert plan["export"]["lun_path"] == "/dev/zvol/local/MDT"


def test_forced_role_and_bad_role():
    plan = mdtmirror.plan_node(settings("mds02"), "mds02", peer_facts(), local(on_disks=True), role="active")
    assert plan["role"] == "active" and plan["login"] and plan["export"] is None
    with pytest.raises(Exception, match="role must be active or standby"):
        mdtmirror.plan_node(settings(), "mds01", {}, local(), role="primary")


# --------------------------------------------------------------------------
# the pair operations (master side)
# --------------------------------------------------------------------------


def status(node, imported=False, redundant=True, problems=()):
    peer = "mds02" if node == "mds01" else "mds01"
    health = {"redundant": redundant, "problems": list(problems), "resilver": None} if imported else None
    return {"node": node, "pair": "mdt0", "peer": peer, "imported": imported, "health": health, "errors": []}


def test_switchover_moves_the_pool_to_the_standby():
    got = runner.decide("switchover", "mdt0", {"mds01": status("mds01", True), "mds02": status("mds02")})
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
    got = runner.decide("switchover", "mdt0", statuses, **kwargs)
    assert got["refusal"] and words in got["refusal"], got


def test_switchover_forced_on_a_degraded_mirror_and_completed_with_to():
    degraded = {"mds01": status("mds01", True, False, ["x"]), "mds02": status("mds02")}
    assert runner.decide("switchover", "mdt0", degraded, force=True)["refusal"] is None
    nobody = {"mds01": status("mds01"), "mds02": status("mds02")}
    got = runner.decide("switchover", "mdt0", nobody, to="mds02")
    assert got["refusal"] is None and (got["old"], got["new"]) == ("mds01", "mds02")


def test_takeover_only_when_nobody_alive_holds_the_pool():
    alive = runner.decide("takeover", "mdt0", {"mds01": status("mds01", True), "mds02": status("mds02")})
    assert "mds01 is alive and holds the pool" in alive["refusal"]
    lost = runner.decide("takeover", "mdt0", {"mds02": status("mds02")})
    assert lost["refusal"] is None and lost["new"] == "mds02" and lost["old"] is None
    both = runner.decide("takeover", "mdt0", {"mds01": status("mds01"), "mds02": status("mds02")})
    assert "say which one takes over" in both["refusal"]
    silent_to = runner.decide("takeover", "mdt0", {"mds02": status("mds02")}, to="mds01")
    assert "mds01 did not answer" in silent_to["refusal"]
