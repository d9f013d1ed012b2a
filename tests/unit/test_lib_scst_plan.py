"""The SCST states' planning (mdtmirror_lib.scst_plan): values compared as sysfs reads them back, the
initiator list a group may declare, and the edits from which scst.config_saved predicts, under
test=True, the running configuration (and so the scst.conf) the pending changes will give."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import scst_plan as sp


def _config():
    return {
        "handlers": {"vdisk_blockio": {"MDT1": {"filename": "/dev/x"}}},
        "drivers": {
            "ib_srpt": {
                "T": {
                    "attributes": {},
                    "enabled": False,
                    "luns": {},
                    "groups": {"MDS": {"luns": {}, "initiators": ["b"]}},
                }
            }
        },
    }


def test_values_compare_as_sysfs_reads_them():
    assert sp.norm(True) == "1" and sp.norm(" 4096 ") == "4096"
    assert sp.same("0x1000", "4096") and not sp.same("abc", "4096")


@pytest.mark.parametrize(
    ("initiators", "match"),
    [("10.0.0.1", "must be a list"), (["10.0.0.*"], "is a pattern"), (["a", "a"], "has duplicates")],
)
def test_initiator_lists_refused(initiators, match):
    with pytest.raises(SaltInvocationError, match=match):
        sp.check_initiators(initiators, allow_wildcard=False)


def test_wildcards_only_when_meant():
    sp.check_initiators(["10.0.0.*"], allow_wildcard=True)


def test_edits_predict_the_running_configuration():
    config = _config()
    pending = [
        ("MDT1", [sp.attr_edit(sp.device_attrs("MDT1"), "t10_vend_id", "MDTM")]),
        ("MDS", [sp.edit(lambda c: sp.initiators_edit(c, "ib_srpt", "T", "MDS", add="a", remove="b"))]),
        ("lun0", [sp.edit(lambda c: sp.lun_edit(c, "ib_srpt", "T", "MDS", 0, "MDT1", False))]),
        ("options", [sp.unchanged]),
    ]
    configs = sp.repaired_configs(config, pending)
    assert config == _config()  # edits work on copies
    # t10_vend_id written back: SCST may or may not mark it [key], so both results are possible.
    assert [c["handlers"]["vdisk_blockio"]["MDT1"].get("t10_vend_id") for c in configs] == ["MDTM", None]
    group = configs[0]["drivers"]["ib_srpt"]["T"]["groups"]["MDS"]
    assert group == {"luns": {0: {"device": "MDT1", "read_only": False}}, "initiators": ["a"]}


def test_an_effect_that_cannot_be_told_predicts_nothing():
    # The first enable assigns rel_tgt_id; a change without an edit; an object that does not exist.
    assert (
        sp.repaired_configs(_config(), [("t", [sp.edit(lambda c: sp.enabled_edit(c, "ib_srpt", "T", True))])]) is None
    )
    assert sp.repaired_configs(_config(), [("x", [None])]) is None
    assert sp.repaired_configs(_config(), [("y", [sp.edit(lambda c: sp.target_conf("ib_srpt", "U")(c))])]) is None


def test_too_many_possible_results_predict_nothing():
    edits = [sp.attr_edit(sp.device_attrs("MDT1"), f"a{i}", "1") for i in range(7)]  # 2**7 > 64
    assert sp.repaired_configs(_config(), [("MDT1", edits)]) is None
    assert len(sp.repaired_configs(_config(), [("MDT1", edits[:6])])) == 64


def test_lun_sets_of_a_group_not_made_yet_are_empty():
    info = sp.empty_target()
    assert sp.lun_set(info, "MDS") == {} and sp.lun_set(info, None) is info["luns"]


class FakeScst(dict):
    """A ``__salt__`` with the scst functions the planner reads; actions are recorded, not made."""

    def __init__(self, targets, loaded=True):
        super().__init__()
        self.calls = []
        self["scst.is_loaded"] = lambda: loaded
        self["scst.validate_name"] = lambda kind, name: name
        self["scst.validate_initiator"] = lambda name: name
        self["scst.validate_lun"] = int
        self["scst.port_target"] = lambda hca=None, port=None, driver="ib_srpt": "T"
        self["scst.local_ports"] = lambda: [{"hca": "mlx5_0", "port": 1, "gid": "fe80:gid"}]
        self.parts_read = []

        def show_target(target, driver="ib_srpt", parts=None):
            if target not in targets:
                raise CommandExecutionError(f"SCST target {driver}/{target} does not exist")
            self.parts_read.append(list(parts))
            return {k: v for k, v in targets[target].items() if k in parts}

        self["scst.show_target"] = show_target
        for fun in ("add_group", "add_init", "del_init", "add_lun", "enable_target"):
            self[f"scst.{fun}"] = lambda *args, fun=fun, **kwargs: self.calls.append((fun, args, kwargs))


def test_planner_group_present_plans_exactly_the_missing_changes():
    salt = FakeScst({"T": {"groups": {"MDS": {"luns": {}, "initiators": ["old"]}}, "luns": {}}})
    plan = sp.Planner(salt, test=False).group_present("MDS", ["new"], None, "ib_srpt", None, None, False)
    assert [key for key, _, _ in plan.steps] == ["T:MDS:initiator:new", "T:MDS:initiator:old"]
    for _, _, action in plan.steps:
        action()
    assert salt.calls == [
        ("add_init", ("T", "MDS", "new"), {"driver": "ib_srpt"}),
        ("del_init", ("T", "MDS", "old"), {"driver": "ib_srpt"}),
    ]


def test_planner_refuses_an_initiator_of_another_group_before_any_change():
    salt = FakeScst({"T": {"groups": {"OSS": {"luns": {}, "initiators": ["a"]}}, "luns": {}}})
    with pytest.raises(CommandExecutionError, match="initiator\\(s\\) a already belong to group OSS of ib_srpt/T"):
        sp.Planner(salt, test=False).group_present("MDS", ["a"], None, "ib_srpt", None, None, False)


def test_planner_reads_only_the_parts_of_the_target_each_state_decides_on():
    # A target's ~30 attribute files are most of the cost of reading it; groups and LUNs are not.
    target = {"groups": {"MDS": {"luns": {0: {"device": "MDT1", "read_only": False}}, "initiators": ["a"]}}}
    target.update(luns={}, enabled=True, attributes={"rel_tgt_id": "1"}, writable=["rel_tgt_id"])
    salt = FakeScst({"T": target})
    planner = sp.Planner(salt, test=True)
    assert planner.group_present("MDS", ["a"], None, "ib_srpt", None, None, False).steps == []
    assert planner.lun_present("l", 0, "MDT1", "MDS", None, "ib_srpt", None, None, False).steps == []
    assert [k for k, _, _ in planner.lun_present("l", 0, "MDT1", None, None, "ib_srpt", None, None, False).steps] == [
        "T:-:lun0"
    ]
    assert planner.target_enabled(True, None, "ib_srpt", None, None).steps == []
    assert planner.target_attributes({"rel_tgt_id": 1}, None, "ib_srpt", None, None).steps == []
    assert salt.parts_read == [["groups"], ["groups"], ["luns"], ["enabled"], ["attributes"]]
    # a target that is not there: the error of scst.show_target, before any plan
    with pytest.raises(CommandExecutionError, match="SCST target ib_srpt/U does not exist"):
        planner.group_present("MDS", ["a"], "U", "ib_srpt", None, None, False)


def test_planner_before_scst_is_loaded_plans_against_an_empty_scst():
    salt = FakeScst({}, loaded=False)
    planner = sp.Planner(salt, test=True)
    plan = planner.lun_present("lun0", 0, "MDT1", "MDS", None, "ib_srpt", None, None, False)
    assert [key for key, _, _ in plan.steps] == ["fe80:gid:MDS:lun0"]
    assert planner.device("MDT1") is None
    assert salt.calls == []
