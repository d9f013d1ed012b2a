"""mdtmirror.plan(per_run=True): one plan per state run, never kept past it, never for the CLI.

What it relies on from Salt (checked in tests/functional/test_state_run_context.py): the modules of one
state run share one ``__context__`` dict made for that run, and their opts hold no job id.
"""

import threading

from tests.loadermods import load


def _module(monkeypatch, context):
    module = load("_modules", "mdtmirror")
    computed = []

    def settings(defaults=None, schema=None, formula="mdtmirror"):
        computed.append(1)
        return {"errors": [], "peer": None, "n": len(computed)}

    monkeypatch.setattr(module, "settings", settings)
    monkeypatch.setattr(module.nodefacts, "local_facts", lambda cfg, minion_id, salt, **_: {})
    monkeypatch.setattr(module, "plan_node", lambda cfg, minion, peer, local, role=None: {"role": role, "n": cfg["n"]})
    module.__context__ = context
    module.__grains__ = {"id": "mds01"}
    module.__salt__ = {"pillar.get": lambda key, default=None, **_: default}
    return module, computed


def test_one_plan_per_run_and_a_copy_each_time(monkeypatch):
    run = {}
    module, computed = _module(monkeypatch, run)
    first = module.plan(per_run=True)
    first["role"] = "changed by a template"
    second = module.plan(per_run=True)
    assert computed == [1] and second["n"] == 1 and second["role"] is None
    # Another role is another plan.
    assert module.plan(role="active", per_run=True)["role"] == "active" and computed == [1, 1]


def test_a_new_run_reads_the_world_again_even_from_a_copied_context(monkeypatch):
    run = {}
    module, computed = _module(monkeypatch, run)
    module.plan(per_run=True)
    # state.apply gives the next run dict(__context__): whatever the old dict held is not this run's.
    module.__context__ = dict(run)
    assert module.plan(per_run=True)["n"] == 2 and computed == [1, 1]


def test_the_cli_never_uses_nor_keeps_a_plan(monkeypatch):
    context = {}
    module, computed = _module(monkeypatch, context)
    module.plan()
    module.plan()
    assert computed == [1, 1] and context == {}
    module.plan(per_run=True)
    assert module.plan()["n"] == 4 and computed == [1, 1, 1, 1]


def test_the_peers_facts_are_asked_while_the_settings_and_the_host_are_read(monkeypatch):
    """The mine's round trip overlaps the settings' and the host's reads (each waits here for the
    other's start: a plan that asked the mine after them would time out), its answer reaches the role
    decision and the plan, and it is asked once."""
    module = load("_modules", "mdtmirror")
    asked, settings_read, calls = threading.Event(), threading.Event(), []
    pillar = {"pairs": {"mdt0": {"nodes": {"mds01": {}, "mds02": {}}}}}

    def mine_get(tgt, funs):
        calls.append(tgt)
        asked.set()
        assert settings_read.wait(10), "the settings were not read while the mine was asked"
        return {"mdtmirror_node": {"mds02": {"pools": ["mdtpool"]}}}

    def settings(defaults=None, schema=None, formula="mdtmirror"):
        settings_read.set()
        assert asked.wait(10), "the mine was not asked before the settings were read"
        return {"errors": [], "peer": "mds02"}

    seen = {}

    def local_facts(cfg, minion_id, salt, peer_node=None, **_):
        seen["peer_node"] = peer_node()
        return {}

    monkeypatch.setattr(module, "settings", settings)
    monkeypatch.setattr(module.nodefacts, "local_facts", local_facts)
    monkeypatch.setattr(module, "plan_node", lambda cfg, minion, peer, local, role=None: {"peer": peer})
    module.__context__ = {}
    module.__grains__ = {"id": "mds01"}
    module.__salt__ = {"pillar.get": lambda key, default=None, **_: pillar, "mine.get": mine_get}
    got = module.plan()
    assert seen["peer_node"] == {"pools": ["mdtpool"]}
    assert got["peer"]["mdtmirror_node"] == {"pools": ["mdtpool"]} and calls == ["mds02"]
