"""classify_sides: which side of the MDT mirror is local, which is the peer's, and what is wrong.

Inputs are parsed real captures; the REMOVED/UNAVAIL/resilvering cases (no capture
yet) change one row of a capture to what zpool_main.c 2.3.2 prints.
"""

import pytest
from salt.exceptions import SaltInvocationError

from mdtmirror_lib import zfs_parse
from mdtmirror_lib import zfs_policy as zm
from tests.unit.test_lib_zfs_parse import body


def pool_json(rel):
    return zfs_parse.parse_status_json(body(rel))["mdtpool"]


def pool_text(text):
    return zfs_parse.parse_status_text(text)["mdtpool"]


def test_healthy_mirror_is_redundant():
    result = zm.classify_sides(pool_json("zfs-json/zpool_status_j.json"), ["/dev/loop0"], ["/dev/loop1"])
    assert result["layout"] == "mirror" and result["state"] == "ONLINE"
    assert [(s["path"], s["side"], s["ok"], s["why"]) for s in result["sides"]] == [
        ("/dev/loop0", "local", True, None),
        ("/dev/loop1", "remote", True, None),
    ]
    assert result["redundant"] is True and result["problems"] == [] and result["unknown"] == []


def test_offline_remote_side():
    result = zm.classify_sides(pool_json("zfs-json/zpool_status_j_degraded.json"), "/dev/loop0", "/dev/loop1")
    (remote,) = result["remote"]
    assert (remote["path"], remote["state"], remote["ok"]) == ("/dev/loop1", "OFFLINE", False)
    assert remote["why"].startswith("OFFLINE: taken offline")
    assert result["redundant"] is False
    assert result["problems"] == [f"remote side /dev/loop1: {remote['why']}"]


def test_text_and_json_classify_the_same():
    text = zm.classify_sides(pool_text(body("zfs-json/zpool_status_text_degraded.txt")), "/dev/loop0", "/dev/loop1")
    js = zm.classify_sides(pool_json("zfs-json/zpool_status_j_degraded.json"), "/dev/loop0", "/dev/loop1")
    # The text output has neither the short names' paths nor vdev guids (only -g gives those).
    strip = lambda res: [{k: v for k, v in s.items() if k not in ("name", "guid")} for s in res["sides"]]  # noqa: E731
    assert strip(text) == strip(js)
    assert all(s["guid"] is None for s in text["sides"]) and all(s["guid"].isdigit() for s in js["sides"])
    assert text["redundant"] == js["redundant"] and text["problems"] == js["problems"]


def test_prefix_without_slash_matches_basename():
    # plain `zpool status` shows short names; a by-id style prefix without '/' matches them
    result = zm.classify_sides(pool_text(body("zfs/zpool_status_degraded_offline.txt")), ["loop"], ["sd"])
    assert [(s["name"], s["side"], s["state"]) for s in result["sides"]] == [
        ("loop0", "local", "ONLINE"),
        ("sda", "remote", "OFFLINE"),
    ]


def test_single_disk_pool_misses_remote_side():
    result = zm.classify_sides(pool_text(body("zfs/zpool_status_single.txt")), ["/dev/sda"], ["/dev/disk/by-id/srp-"])
    assert result["layout"] == "single"
    assert [s["side"] for s in result["sides"]] == ["local"]
    assert result["redundant"] is False
    assert result["problems"] == ["no remote side in pool mdtpool (prefixes: /dev/disk/by-id/srp-)"]


def test_unmapped_sides_are_unknown():
    result = zm.classify_sides(pool_json("zfs-json/zpool_status_j.json"))
    assert [s["side"] for s in result["sides"]] == ["unknown", "unknown"]
    assert result["redundant"] is False and result["problems"] == []


def test_device_matching_both_prefixes_raises():
    with pytest.raises(SaltInvocationError, match="device /dev/loop0 of pool mdtpool matches both"):
        zm.classify_sides(pool_json("zfs-json/zpool_status_j.json"), ["/dev/loop"], ["/dev/loop0"])


def _row(text, old, new):
    assert old in text
    return text.replace(old, new)


def test_constructed_removed_and_unavail_remote():
    base = body("zfs/zpool_status_P.txt")
    row = "\t    /dev/sda1   ONLINE       0     0     0"
    removed = pool_text(_row(base, row, "\t    /dev/sda1   REMOVED      0     0     0"))
    result = zm.classify_sides(removed, "/dev/loop0", "/dev/sda")
    assert result["remote"][0]["why"] == "REMOVED: device removed (SRP path lost?)"
    unavail = pool_text(_row(base, row, "\t    4417782731123322110  UNAVAIL  0  0  0  was /dev/sda1"))
    result = zm.classify_sides(unavail, "/dev/loop0", "/dev/sda")
    (remote,) = result["remote"]
    assert remote["path"] == "/dev/sda1"
    assert remote["why"] == "UNAVAIL: was /dev/sda1 (SRP session down or LUN no longer exported?)"
    # the same state on the local side gets no SRP hint
    result = zm.classify_sides(removed, "/dev/sda", "/dev/loop0")
    assert result["local"][0]["why"] == "REMOVED: device removed"


def test_constructed_resilvering_and_errors():
    text = _row(
        body("zfs/zpool_status_P.txt"),
        " state: ONLINE\n",
        " state: ONLINE\n  scan: resilver in progress since Tue Nov 24 12:18:47 2026\n"
        "\t1.50G / 3.00G scanned at 100M/s, 1.20G / 2.65G issued at 80.0M/s\n"
        "\t1.19G resilvered, 45.23% done, 00:00:18 to go\n",
    )
    text = _row(
        text,
        "\t    /dev/sda1   ONLINE       0     0     0",
        "\t    /dev/sda1   ONLINE       0     0     0  (resilvering)",
    )
    text = _row(text, "\t    /dev/loop0  ONLINE       0     0     0", "\t    /dev/loop0  ONLINE       0     0     3")
    result = zm.classify_sides(pool_text(text), "/dev/loop0", "/dev/sda")
    local, remote = result["local"][0], result["remote"][0]
    assert remote["why"] == "resilvering 45.2%" and remote["ok"] is False
    assert local["why"] == "ONLINE with 0 read, 0 write, 3 checksum errors" and local["cksum"] == 3
    assert result["resilvering"] is True and result["redundant"] is False
    assert "resilver running (45.2% done)" in result["problems"]
