"""mdtmirror's peer facts (``_mine_facts``): in a state run on Salt >= 3008, one ``_mine_get``
request over the channel the run's file client holds (the load ``mine.get`` sends); anywhere else,
or when that request fails, ``mine.get`` itself. Both give the same answer shape."""

import pytest

from tests.loadermods import load

PEER = "mds02"
PUBLISHED = {
    "mdtmirror_targets": {PEER: [{"name": "t"}]},
    "mdtmirror_srp_ports": {PEER: [{"gid": "g"}]},
    "mdtmirror_ips": {PEER: ["10.0.0.2"]},
    "mdtmirror_node": {PEER: {"pools": []}},
}


class Channel:
    def __init__(self, answer):
        self.answer = answer
        self.loads = []

    def send(self, load):
        self.loads.append(load)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FileClient:
    def __init__(self, channel):
        self.channel = channel


class Dunder:
    def __init__(self, client):
        self.client = client

    def value(self):
        return self.client


def _module(monkeypatch, channel=None, file_client="remote", masked=True):
    module = load("_modules", "mdtmirror")
    asked = []

    def mine_get(tgt, fun):
        asked.append((tgt, fun))
        return PUBLISHED

    module.__salt__ = {"mine.get": mine_get}
    module.__opts__ = {"id": "mds01", "file_client": file_client}
    monkeypatch.setattr(module, "MASKED_PILLAR", masked)
    monkeypatch.setattr(module, "STATE_RUN_FILE_CLIENT", Dunder(FileClient(channel) if channel else None))
    return module, asked


def _expected():
    return {fun: PUBLISHED[fun][PEER] for fun in PUBLISHED}


def test_state_run_channel_carries_mine_gets_load(monkeypatch):
    channel = Channel(PUBLISHED)
    module, asked = _module(monkeypatch, channel)
    assert module._mine_facts(PEER) == _expected()
    assert asked == []
    assert channel.loads == [
        {"cmd": "_mine_get", "id": "mds01", "tgt": PEER, "fun": list(module.MINE_FACTS), "tgt_type": "glob"}
    ]


def test_an_empty_answer_is_an_answer(monkeypatch):
    """The peer has published nothing yet: no second request."""
    module, asked = _module(monkeypatch, Channel({}))
    assert module._mine_facts(PEER) == {fun: None for fun in module.MINE_FACTS}
    assert asked == []


@pytest.mark.parametrize(
    "situation",
    [
        {"channel": Channel(OSError("connection lost"))},
        {"channel": Channel("not a mine answer")},
        {"channel": None},
        {"channel": Channel(PUBLISHED), "file_client": "local"},
        {"channel": Channel(PUBLISHED), "masked": False},
    ],
    ids=["request-fails", "odd-answer", "no-state-run", "masterless", "salt-3006"],
)
def test_mine_get_otherwise(monkeypatch, situation):
    module, asked = _module(monkeypatch, **situation)
    assert module._mine_facts(PEER) == _expected()
    assert asked == [(PEER, list(module.MINE_FACTS))]
    channel = situation["channel"]
    if channel is not None and (situation.get("file_client") == "local" or situation.get("masked") is False):
        assert channel.loads == []


def test_a_salt_without_the_dunder(monkeypatch):
    module, asked = _module(monkeypatch)
    monkeypatch.setattr(module, "STATE_RUN_FILE_CLIENT", None)
    assert module._mine_facts(PEER) == _expected() and len(asked) == 1
