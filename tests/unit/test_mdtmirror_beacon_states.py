"""The formula's beacon states: a beacon this job's options show as wanted is not asked of the
minion process (``beacons.list`` is an event round trip); anything else is."""

import pytest

from tests.loadermods import load

CONFIG = [{"interval": 10}, {"pair": "mdt0"}, {"pool": "mdtpool"}]


@pytest.fixture
def states():
    module = load("_states", "mdtmirror")
    asked = []

    def beacons_list(**kwargs):
        asked.append(("list", kwargs))
        return module.running

    def beacons_modify(name, config):
        asked.append(("modify", name))
        module.running[name] = config
        return {"result": True}

    def beacon_absent(name, save=True):
        asked.append(("beacon.absent", name, save))
        return {"name": name, "changes": {"removed": name}, "result": True, "comment": ""}

    module.running = {}
    module.asked = asked
    module.__opts__ = {"test": False}
    module.__salt__ = {
        "beacons.list": beacons_list,
        "beacons.modify": beacons_modify,
        "beacons.save": lambda: {"result": True},
    }
    module.__states__ = {"beacon.absent": beacon_absent}
    return module


def test_a_beacon_the_job_started_with_as_wanted_asks_nothing(states):
    states.__opts__["beacons"] = {"mdtmirror": [dict(i) for i in CONFIG]}
    ret = states.beacon_present("mdtmirror", CONFIG)
    assert ret["result"] is True and ret["changes"] == {} and states.asked == []


def test_a_beacon_that_differs_in_the_options_is_asked_of_the_minion_process(states):
    """The options are the job's copy: what they lack or hold differently is decided by beacons.list."""
    states.__opts__["beacons"] = {"mdtmirror": [{"interval": 30}, {"pair": "mdt0"}, {"pool": "mdtpool"}]}
    states.running["mdtmirror"] = [dict(i) for i in CONFIG]  # changed since the job started: nothing to do
    ret = states.beacon_present("mdtmirror", CONFIG)
    assert ret["changes"] == {} and [a[0] for a in states.asked] == ["list"]

    states.asked.clear()
    states.running["mdtmirror"] = [{"interval": 30}]
    ret = states.beacon_present("mdtmirror", CONFIG)
    assert ret["result"] is True and ret["changes"] == {"old": [{"interval": 30}], "new": CONFIG}
    assert [a[0] for a in states.asked] == ["list", "modify"]


def test_absent_asks_salts_state_only_when_the_options_list_the_beacon(states):
    ret = states.beacon_absent("mdtmirror")
    assert ret["result"] is True and ret["changes"] == {} and states.asked == []
    states.__opts__["beacons"] = {"mdtmirror": CONFIG}
    ret = states.beacon_absent("mdtmirror")
    assert ret["changes"] == {"removed": "mdtmirror"} and states.asked == [("beacon.absent", "mdtmirror", True)]
