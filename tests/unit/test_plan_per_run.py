"""mdtmirror.plan(per_run=True): one plan per state run, never kept past it, never for the CLI.

What it relies on from Salt (checked in tests/functional/test_state_run_context.py): the modules of one
state run share one ``__context__`` dict made for that run, and their opts hold no job id.
"""

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
    module.__salt__ = {}
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
