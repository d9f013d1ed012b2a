"""The library's OpenZFS parsers (mdtmirror_lib.zfs_parse) on real OpenZFS 2.3.2 outputs (tests/golden/...).

Every capture starts with ``$ command`` and ends with ``[exit N]``; ``capture()``
returns the command line, the body in between and N. Tests marked "constructed"
feed text that no capture holds yet (UNAVAIL/REMOVED/resilvering rows, the
multihost messages of the import listing): it is a real capture with one row or
line changed to what zpool_main.c (2.3.2) prints for that case, named as such.
"""

import json
import time

import pytest
from salt.exceptions import CommandExecutionError

from mdtmirror_lib import zfs_parse as zm
from tests.captures import REPO, captures_dir


def golden(rel):
    return captures_dir() / "linux-6.1-openzfs-2.3.2" / rel


def capture(rel):
    """``(command line, body, exit status)`` of one capture."""
    lines = golden(rel).read_text().splitlines()
    assert lines[0].startswith("$ ") and lines[-1].startswith("[exit "), rel
    body = "\n".join(lines[1:-1])
    return lines[0][2:], body + "\n" if body else "", int(lines[-1][len("[exit ") : -1])


def body(rel):
    return capture(rel)[1]


@pytest.fixture
def utc(monkeypatch):
    """Text status prints ctime in the server's zone; the capture guest ran in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def leaves(pool):
    return [(v["name"], v["path"], v["state"], v["read"], v["write"], v["cksum"]) for v in pool["vdevs"] if v["leaf"]]


# --------------------------------------------------------------------------
# version
# --------------------------------------------------------------------------


def test_parse_version_golden():
    info = zm.parse_version(body("zfs/version.txt"))
    assert info["userland"] == {"version": "2.3.2", "full": "2.3.2-2~bpo12+2", "tuple": [2, 3, 2]}
    assert info["kmod"]["version"] == "2.3.2"
    assert info["json"] is True


@pytest.mark.parametrize(
    "text, json_ok",
    [
        # Debian/Ubuntu package strings (the userland line decides: -j is a tool option)
        ("zfs-2.1.5-1ubuntu6~22.04.4\nzfs-kmod-2.1.5-1ubuntu6~22.04.1\n", False),
        ("zfs-2.2.7-1\nzfs-kmod-2.3.2-1\n", False),
        ("zfs-2.3.0-1\n", True),
    ],
)
def test_parse_version_json_threshold(text, json_ok):
    assert zm.parse_version(text)["json"] is json_ok


def test_parse_version_without_version_raises():
    with pytest.raises(CommandExecutionError, match="cannot find the OpenZFS version"):
        zm.parse_version("zfs_version_kernel() failed: No such file or directory\n")


def test_parse_version_kmod_missing():
    info = zm.parse_version("zfs-2.3.2-2~bpo12+2\n")
    assert info["kmod"] is None and info["json"] is True


# --------------------------------------------------------------------------
# zpool status, text
# --------------------------------------------------------------------------

MIRROR_P = [
    ("/dev/loop0", "/dev/loop0", "ONLINE", 0, 0, 0),
    ("/dev/sda1", "/dev/sda1", "ONLINE", 0, 0, 0),
]

# capture -> (pool state, leaves, (scan function, scan state, processed bytes) or None, mirror leaf names)
TEXT_CASES = {
    "zfs/zpool_status_P.txt": ("ONLINE", MIRROR_P, None, ["/dev/loop0", "/dev/sda1"]),
    "zfs/zpool_status_online.txt": (
        "ONLINE",
        [("loop0", None, "ONLINE", 0, 0, 0), ("sda", None, "ONLINE", 0, 0, 0)],
        None,
        ["loop0", "sda"],
    ),
    "zfs/zpool_status_degraded_offline.txt": (
        "DEGRADED",
        [("loop0", None, "ONLINE", 0, 0, 0), ("sda", None, "OFFLINE", 0, 0, 0)],
        None,
        ["loop0", "sda"],
    ),
    "zfs/zpool_status_after_relogin.txt": ("ONLINE", MIRROR_P, ("resilver", "finished", 72 * 1024), None),
    "zfs/zpool_status_after_resilver.txt": ("ONLINE", MIRROR_P, ("resilver", "finished", 72 * 1024), None),
    "zfs/zpool_status_resilver.txt": ("ONLINE", MIRROR_P, ("resilver", "finished", 72 * 1024), None),
    # SRP path gone but no I/O yet: ZFS still says ONLINE (health cannot see it).
    "zfs/zpool_status_srp_gone.txt": ("ONLINE", MIRROR_P, ("resilver", "finished", 72 * 1024), None),
    "zfs/zpool_status_scrubbed.txt": ("ONLINE", MIRROR_P, ("scrub", "finished", 0), None),
    "zfs/zpool_status_single.txt": ("ONLINE", [MIRROR_P[1]], ("scrub", "finished", 0), []),
    "zfs/zpool_status_reattached.txt": ("ONLINE", [MIRROR_P[1]], ("scrub", "finished", 0), []),
    "zfs-json/zpool_status_after_other_hostid.txt": (
        "ONLINE",
        [("loop0", None, "ONLINE", 0, 0, 0), ("loop1", None, "ONLINE", 0, 0, 0)],
        ("resilver", "finished", 294 * 1024),
        ["loop0", "loop1"],
    ),
    "zfs-json/zpool_status_text_attach.txt": (
        "ONLINE",
        [("/dev/loop0", "/dev/loop0", "ONLINE", 0, 0, 0), ("/dev/loop1", "/dev/loop1", "ONLINE", 0, 0, 0)],
        ("resilver", "finished", 294 * 1024),
        None,
    ),
    "zfs-json/zpool_status_text_degraded.txt": (
        "DEGRADED",
        [("/dev/loop0", "/dev/loop0", "ONLINE", 0, 0, 0), ("/dev/loop1", "/dev/loop1", "OFFLINE", 0, 0, 0)],
        None,
        None,
    ),
}


@pytest.mark.parametrize("rel", sorted(TEXT_CASES))
def test_parse_status_text_golden(rel, utc):
    state, want_leaves, want_scan, want_mirror = TEXT_CASES[rel]
    pools = zm.parse_status_text(body(rel))
    assert list(pools) == ["mdtpool"]
    pool = pools["mdtpool"]
    assert pool["state"] == state
    assert leaves(pool) == want_leaves
    assert pool["errors"] == "No known data errors" and pool["error_count"] == 0
    root = pool["vdevs"][0]
    assert (root["name"], root["type"], root["depth"], root["parent"]) == ("mdtpool", "root", 0, None)
    for vdev in pool["vdevs"]:
        assert vdev["class"] == "normal" and vdev["note"] is None
    if want_scan is None:
        assert pool["scan"] is None
    else:
        scan = pool["scan"]
        assert (scan["function"], scan["state"], scan["processed"]) == want_scan
        assert scan["percent"] is None and scan["errors"] == 0
    if want_mirror is not None:
        assert [v["name"] for v in pool["mirror"]] == want_mirror
    if len(want_leaves) == 2:
        assert pool["vdevs"][1]["type"] == "mirror"
        assert all(v["parent"] == "mirror-0" for v in pool["vdevs"] if v["leaf"])


def test_parse_status_text_degraded_messages():
    pool = zm.parse_status_text(body("zfs/zpool_status_degraded_offline.txt"))["mdtpool"]
    assert pool["status"] == (
        "One or more devices has been taken offline by the administrator. Sufficient replicas exist "
        "for the pool to continue functioning in a degraded state."
    )
    assert pool["action"] == "Online the device using 'zpool online' or replace the device with 'zpool replace'."


def test_parse_status_text_scan_end_time(utc):
    scan = zm.parse_status_text(body("zfs/zpool_status_scrubbed.txt"))["mdtpool"]["scan"]
    assert scan["end_time"] == 1795522757  # Tue Nov 24 12:19:17 2026 UTC


@pytest.mark.parametrize("rel", ["zfs/zpool_status_x_healthy.txt", "zfs/zpool_status_x_srp_gone.txt"])
def test_parse_status_text_x_healthy_is_empty(rel):
    # like zpool status -j -x: healthy pools are not reported
    assert zm.parse_status_text(body(rel)) == {}


def test_parse_status_text_two_pools():
    one = body("zfs/zpool_status_P.txt")
    other = one.replace("mdtpool", "otherpool")
    pools = zm.parse_status_text(one + "\n" + other)
    assert list(pools) == ["mdtpool", "otherpool"]
    assert pools["otherpool"]["vdevs"][0]["name"] == "otherpool"


# --------------------------------------------------------------------------
# zpool status, text: rows no capture has yet (constructed, see module doc)
# --------------------------------------------------------------------------


def _replace_row(text, old, new):
    assert old in text
    return text.replace(old, new)


def test_parse_status_text_constructed_notes():
    text = body("zfs/zpool_status_P.txt")
    text = _replace_row(
        text,
        "\t    /dev/sda1   ONLINE       0     0     0",
        "\t    7834562120938471123  UNAVAIL      0     0     0  was /dev/sda1",
    )
    text = _replace_row(
        text,
        "\t    /dev/loop0  ONLINE       0     0     0",
        "\t    /dev/loop0  FAULTED     12  1.2K     0  too many errors",
    )
    pool = zm.parse_status_text(text)["mdtpool"]
    loop0, sda = [v for v in pool["vdevs"] if v["leaf"]]
    assert (loop0["state"], loop0["read"], loop0["write"], loop0["note"]) == ("FAULTED", 12, 1229, "too many errors")
    # a missing device is shown by guid; its path is the "was" path
    assert (sda["name"], sda["path"], sda["state"], sda["note"]) == (
        "7834562120938471123",
        "/dev/sda1",
        "UNAVAIL",
        "was /dev/sda1",
    )


def test_parse_status_text_constructed_resilver_in_progress_22():
    # print_scan_scrub_resilver_status() of 2.2/2.3 while resilvering
    text = body("zfs/zpool_status_P.txt")
    text = _replace_row(
        text,
        " state: ONLINE\n",
        " state: ONLINE\n  scan: resilver in progress since Tue Nov 24 12:18:47 2026\n"
        "\t1.50G / 3.00G scanned at 100M/s, 1.20G / 2.65G issued at 80.0M/s\n"
        "\t1.19G resilvered, 45.28% done, 00:00:18 to go\n",
    )
    text = _replace_row(
        text,
        "\t    /dev/sda1   ONLINE       0     0     0",
        "\t    /dev/sda1   ONLINE       0     0     0  (resilvering)",
    )
    pool = zm.parse_status_text(text)["mdtpool"]
    scan = pool["scan"]
    assert (scan["function"], scan["state"], scan["paused"], scan["percent"]) == ("resilver", "scanning", False, 45.28)
    assert scan["examined"] == int(1.5 * 2**30) and scan["to_examine"] == 3 * 2**30
    assert scan["issued"] == int(round(1.2 * 2**30)) and scan["total"] == int(round(2.65 * 2**30))
    assert [v["note"] for v in pool["vdevs"] if v["leaf"]] == [None, "resilvering"]


def test_parse_status_text_constructed_scrub_in_progress_21():
    # the 2.1 wording: "X scanned at R/s, Y issued at R/s, Z total"
    text = body("zfs/zpool_status_P.txt").replace(
        " state: ONLINE\n",
        " state: ONLINE\n  scan: scrub in progress since Tue Nov 24 12:18:47 2026\n"
        "\t100M scanned at 50.0M/s, 40.0M issued at 20.0M/s, 240M total\n"
        "\t0B repaired, 16.67% done, 00:00:10 to go\n",
    )
    scan = zm.parse_status_text(text)["mdtpool"]["scan"]
    assert (scan["function"], scan["state"], scan["percent"]) == ("scrub", "scanning", 16.67)
    assert scan["to_examine"] == scan["total"] == 240 * 2**20 and scan["issued"] == 40 * 2**20


def test_parse_status_text_constructed_classes():
    text = body("zfs/zpool_status_P.txt").replace(
        "\t    /dev/sda1   ONLINE       0     0     0\n",
        "\t    /dev/sda1   ONLINE       0     0     0\n\tlogs\t\n\t  /dev/sdc    ONLINE       0     0     0\n"
        "\tspares\n\t  /dev/sdd    AVAIL\n",
    )
    pool = zm.parse_status_text(text)["mdtpool"]
    sdc, sdd = pool["vdevs"][-2:]
    assert (sdc["class"], sdc["parent"], sdc["depth"], sdc["leaf"]) == ("log", None, 1, True)
    assert (sdd["class"], sdd["state"], sdd["read"], sdd["parent"]) == ("spare", "AVAIL", None, None)
    assert [v["name"] for v in pool["mirror"]] == ["/dev/loop0", "/dev/sda1"]


# --------------------------------------------------------------------------
# zpool status, JSON
# --------------------------------------------------------------------------

JSON_CASES = {
    "zfs-json/zpool_status_j.json": ("ONLINE", ["ONLINE", "ONLINE"], None),
    "zfs-json/zpool_status_j_flat.json": ("ONLINE", ["ONLINE", "ONLINE"], None),
    "zfs-json/zpool_status_j_degraded.json": ("DEGRADED", ["ONLINE", "OFFLINE"], None),
    "zfs-json/zpool_status_j_attach.json": ("ONLINE", ["ONLINE", "ONLINE"], ("resilver", "finished", 301056)),
}


@pytest.mark.parametrize("rel", sorted(JSON_CASES))
def test_parse_status_json_golden(rel):
    state, leaf_states, want_scan = JSON_CASES[rel]
    pools = zm.parse_status_json(body(rel))
    pool = pools["mdtpool"]
    assert list(pools) == ["mdtpool"] and pool["state"] == state
    assert [(v["name"], v["type"], v["depth"], v["parent"]) for v in pool["vdevs"]] == [
        ("mdtpool", "root", 0, None),
        ("mirror-0", "mirror", 1, "mdtpool"),
        ("loop0", "disk", 2, "mirror-0"),
        ("loop1", "disk", 2, "mirror-0"),
    ]
    assert [(v["path"], v["state"], v["read"], v["write"], v["cksum"]) for v in pool["mirror"]] == [
        ("/dev/loop0", leaf_states[0], 0, 0, 0),
        ("/dev/loop1", leaf_states[1], 0, 0, 0),
    ]
    assert pool["error_count"] == 0 and pool["errors"] == "No known data errors"
    if want_scan is None:
        assert pool["scan"] is None
    else:
        scan = pool["scan"]
        assert (scan["function"], scan["state"], scan["processed"]) == want_scan
        assert (scan["to_examine"], scan["issued"], scan["total"], scan["errors"]) == (173568, 116736, 116736, 0)
        assert scan["end_time"] == 1795525764 and scan["percent"] is None


def test_parse_status_json_flat_equals_nested():
    # --json-flat-vdevs (without --json-int) taken at the same moment as the nested one
    nested = zm.parse_status_json(body("zfs-json/zpool_status_j.json"))
    flat = zm.parse_status_json(body("zfs-json/zpool_status_j_flat.json"))
    assert flat == nested


def test_parse_status_json_not_json_raises():
    with pytest.raises(CommandExecutionError, match="did not print JSON: cannot open 'x': no such pool"):
        zm.parse_status_json("cannot open 'x': no such pool\n")


def test_parse_status_json_unknown_output_version_raises():
    data = json.loads(body("zfs-json/zpool_status_j.json"))
    data["output_version"]["vers_major"] = 1
    with pytest.raises(CommandExecutionError, match="output version 1.1"):
        zm.parse_status_json(json.dumps(data))


def test_parse_status_json_constructed_faults():
    # vdev_stats_nvlist() of 2.3.2: state from vdev_state_str, "aux"/"was", scan_processed
    data = json.loads(body("zfs-json/zpool_status_j_attach.json"))
    pool = data["pools"]["mdtpool"]
    pool["scan_stats"].update(state="SCANNING", to_examine=4000, skipped=1000, issued=1356, end_time=0)
    kids = pool["vdevs"]["mdtpool"]["vdevs"]["mirror-0"]["vdevs"]
    kids["loop0"].update(state="CANT_OPEN", aux="OPEN_FAILED", read_errors=3)
    kids["loop1"]["scan_processed"] = 4096
    parsed = zm.parse_status_json(json.dumps(data))["mdtpool"]
    loop0, loop1 = parsed["mirror"]
    assert (loop0["state"], loop0["note"], loop0["read"]) == ("UNAVAIL", "cannot open", 3)
    assert (loop1["state"], loop1["note"]) == ("ONLINE", "resilvering")
    assert parsed["scan"]["state"] == "scanning" and parsed["scan"]["percent"] == 45.2


# --------------------------------------------------------------------------
# text and JSON agree on captures of the same moment
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text_rel, json_rel",
    [
        ("zfs-json/zpool_status_text_degraded.txt", "zfs-json/zpool_status_j_degraded.json"),
        ("zfs-json/zpool_status_text_attach.txt", "zfs-json/zpool_status_j_attach.json"),
    ],
)
def test_text_and_json_agree(text_rel, json_rel, utc):
    text = zm.parse_status_text(body(text_rel))["mdtpool"]
    js = zm.parse_status_json(body(json_rel))["mdtpool"]
    for key in ("name", "state", "status", "action", "see", "errors", "error_count"):
        assert text[key] == js[key], key

    def view(pool):
        return [
            (v["path"], v["state"], v["read"], v["write"], v["cksum"], v["note"], v["type"], v["class"], v["depth"])
            for v in pool["vdevs"]
        ]

    assert view(text) == view(js)
    assert [v["path"] for v in text["mirror"]] == [v["path"] for v in js["mirror"]] == ["/dev/loop0", "/dev/loop1"]
    if js["scan"] is None:
        assert text["scan"] is None
    else:
        for key in ("function", "state", "paused", "percent", "errors", "end_time"):
            assert text["scan"][key] == js["scan"][key], key
        # text rounds bytes to zpool's 3 significant digits
        assert abs(text["scan"]["processed"] - js["scan"]["processed"]) <= js["scan"]["processed"] / 100


# --------------------------------------------------------------------------
# list / get / holds
# --------------------------------------------------------------------------


def test_parse_list_hp_zpool_list():
    cmd, text, _ = capture("zfs/zpool_list_Hp.txt")
    columns = cmd.split(" -o ")[1].split()[0]
    assert zm.parse_list_hp(text, columns) == [
        {
            "name": "mdtpool",
            "size": 251658240,
            "alloc": 811008,
            "free": 250847232,
            "health": "ONLINE",
            "guid": 268159777216571432,
        }
    ]


def test_parse_list_hp_zfs_list_all():
    rows = zm.parse_list_hp(body("zfs/zfs_list_all.txt"), "name,type,used,avail,refer,mountpoint")
    assert [r["name"] for r in rows] == [
        "mdtpool",
        "mdtpool/mdt0",
        "mdtpool/mdt0@mdtmirror-20261121T0000Z",
        "mdtpool/mdt0@mdtmirror-20261122T0000Z",
        "mdtpool/mdt0@mdtmirror-20261123T0000Z",
        "mdtpool/mdt0@manual-keep",
    ]
    assert rows[1] == {
        "name": "mdtpool/mdt0",
        "type": "filesystem",
        "used": 98304,
        "avail": 125288448,
        "refer": 98304,
        "mountpoint": "none",
    }
    assert rows[2]["avail"] is None and rows[2]["mountpoint"] is None


def test_parse_list_hp_zfs_list_snap():
    rows = zm.parse_list_hp(body("zfs/zfs_list_snap.txt"), ["name", "creation", "used", "userrefs"])
    assert [(r["name"].split("@")[1], r["creation"], r["userrefs"]) for r in rows] == [
        ("mdtmirror-20261121T0000Z", 1795522722, 0),
        ("mdtmirror-20261122T0000Z", 1795522723, 0),
        ("mdtmirror-20261123T0000Z", 1795522723, 0),
        ("manual-keep", 1795522723, 1),
    ]


def test_parse_list_hp_without_columns_and_wrong_columns():
    assert zm.parse_list_hp(body("zfs/zpool_list_Hp.txt"))[0][:2] == ["mdtpool", 251658240]
    with pytest.raises(CommandExecutionError, match=r"unexpected line 'mdtpool\\t251658240.*6 fields where -o a,b"):
        zm.parse_list_hp(body("zfs/zpool_list_Hp.txt"), "a,b")


def test_parse_get_hp_zfs_and_zpool():
    zfs_props = zm.parse_get_hp(body("zfs/zfs_get_all.txt"))["mdtpool/mdt0"]
    assert zfs_props["mountpoint"] == {"value": "none", "source": "local"}
    assert zfs_props["creation"] == {"value": 1795522722, "source": None}
    assert zfs_props["compressratio"] == {"value": "1.00", "source": None}
    assert len(zfs_props) == len(body("zfs/zfs_get_all.txt").splitlines()) == 76
    pool_props = zm.parse_get_hp(body("zfs/zpool_get_all.txt"))["mdtpool"]
    assert pool_props["multihost"] == {"value": "on", "source": "local"}
    assert pool_props["altroot"] == {"value": None, "source": "default"}
    assert pool_props["feature@encryption"] == {"value": "enabled", "source": "local"}


def test_parse_get_json_zpool_matches_text_vocabulary():
    props = zm.parse_get_json(body("zfs-json/zpool_get_j.json"))["mdtpool"]
    assert props == {
        "multihost": {"value": "on", "source": "local"},
        "health": {"value": "ONLINE", "source": None},
        "guid": {"value": 690440236890928685, "source": None},
    }
    # same property, same shape as the -H -p text of the other guest
    text = zm.parse_get_hp(body("zfs/zpool_get_all.txt"))["mdtpool"]
    assert text["multihost"] == props["multihost"] and text["health"] == props["health"]


def test_parse_get_json_error_names_property():
    # zfs get -j of a pool property: zfs prints its error and usage, no JSON
    cmd, text, code = capture("zfs-json/zfs_get_j.json")
    assert code == 2
    with pytest.raises(CommandExecutionError, match="bad property list: invalid property 'multihost'"):
        zm.parse_get_json(text)


def test_parse_zfs_list_json():
    datasets = zm.parse_zfs_list_json(body("zfs-json/zfs_list_j.json"))
    assert list(datasets) == ["mdtpool", "mdtpool/mdt0", "mdtpool/mdt0@mdtmirror-20261124T0000Z"]
    snap = datasets["mdtpool/mdt0@mdtmirror-20261124T0000Z"]
    assert snap == {
        "name": "mdtpool/mdt0@mdtmirror-20261124T0000Z",
        "type": "snapshot",
        "pool": "mdtpool",
        "createtxg": 8,
        "dataset": "mdtpool/mdt0",
        "snapshot": "mdtmirror-20261124T0000Z",
        "properties": {"type": "snapshot", "used": 0, "creation": 1795525759, "userrefs": 1},
    }
    assert datasets["mdtpool/mdt0"]["properties"]["userrefs"] is None
    assert datasets["mdtpool/mdt0"]["dataset"] is None and datasets["mdtpool"]["type"] == "filesystem"


def test_parse_holds():
    assert zm.parse_holds(body("zfs/zfs_holds.txt")) == {"mdtpool/mdt0@manual-keep": {"keep": "Tue Nov 24 12:18 2026"}}
    assert zm.parse_holds("a/b@s\tt1\t1795522722\na/b@s\tt2\t1795522723\n") == {
        "a/b@s": {"t1": 1795522722, "t2": 1795522723}
    }
    with pytest.raises(CommandExecutionError, match="unexpected zfs holds line"):
        zm.parse_holds("garbage\n")


# --------------------------------------------------------------------------
# zpool import
# --------------------------------------------------------------------------


def test_parse_import_list_single_disk():
    pools = zm.parse_import_list(body("zfs/zpool_import_list.txt"))
    pool = pools["mdtpool"]
    assert (pool["id"], pool["state"], pool["reason"], pool["importable"], pool["force_required"]) == (
        268159777216571432,
        "ONLINE",
        "ok",
        True,
        False,
    )
    assert pool["action"] == "The pool can be imported using its name or numeric identifier."
    assert [(v["name"], v["state"], v["depth"], v["parent"]) for v in pool["vdevs"]] == [
        ("mdtpool", "ONLINE", 0, None),
        ("sda", "ONLINE", 1, "mdtpool"),
    ]


def test_parse_import_list_mirror():
    pool = zm.parse_import_list(body("zfs-json/zpool_import_scan.txt"))["mdtpool"]
    assert pool["id"] == 690440236890928685 and pool["importable"] is True
    assert [(v["name"], v["parent"]) for v in pool["vdevs"]] == [
        ("mdtpool", None),
        ("mirror-0", "mdtpool"),
        ("loop0", "mirror-0"),
        ("loop1", "mirror-0"),
    ]


@pytest.mark.parametrize(
    "rel",
    [
        "zfs/zpool_import_list_foreign.txt",  # no pools available to import
        "zfs/zpool_import.txt",  # silent import
        "zfs-json/zpool_import_other_hostid.txt",  # cleanly exported, imported under another hostid
    ],
)
def test_parse_import_list_nothing(rel):
    assert zm.parse_import_list(body(rel)) == {}


def test_parse_import_refused_without_hostid():
    cmd, text, code = capture("zfs-json/zpool_import_no_hostid.txt")
    assert code == 1
    pool = zm.parse_import_list(text)["mdtpool"]
    assert (pool["reason"], pool["importable"], pool["force_required"]) == ("hostid_required", False, False)
    assert pool["message"] == (
        "pool has the multihost property on and the system's hostid is not set. "
        "Set a unique hostid with the zgenhostid(8) command."
    )


def test_import_under_other_hostid_after_export():
    # export clears the pool's host: another host imports it without -f, and it is healthy
    assert capture("zfs-json/zpool_import_other_hostid.txt")[2] == 0
    pool = zm.parse_status_text(body("zfs-json/zpool_status_after_other_hostid.txt"))["mdtpool"]
    assert pool["state"] == "ONLINE" and [v["state"] for v in pool["mirror"]] == ["ONLINE", "ONLINE"]


def _import_listing_with(status, action):
    text = body("zfs-json/zpool_import_scan.txt")
    old = "action: The pool can be imported using its name or numeric identifier.\n"
    assert old in text
    return text.replace(old, status + action)


def test_parse_import_list_constructed_multihost_messages():
    # show_import() of 2.3.2 for the three hostid situations
    required = zm.parse_import_list(
        _import_listing_with(
            "status: The pool has the multihost property on.  It cannot\n"
            "\tbe safely imported when the system hostid is not set.\n",
            "action: Set a unique system hostid with the zgenhostid(8) command.\n",
        )
    )["mdtpool"]
    assert required["status"] == (
        "The pool has the multihost property on. It cannot be safely imported when the system hostid is not set."
    )
    assert (required["reason"], required["importable"]) == ("hostid_required", False)

    active = zm.parse_import_list(
        _import_listing_with(
            "status: The pool is currently imported by another system.\n",
            "action: The pool must be exported from mds02 (hostid=1a2b3c4d)\n\tbefore it can be safely imported.\n",
        )
    )["mdtpool"]
    assert (active["reason"], active["host"], active["hostid"], active["importable"]) == (
        "hostid_active",
        "mds02",
        "0x1a2b3c4d",
        False,
    )

    mismatch = zm.parse_import_list(
        _import_listing_with(
            "status: The pool was last accessed by another system.\n",
            "action: The pool can be imported using its name or numeric identifier and\n\tthe '-f' flag.\n",
        )
    )["mdtpool"]
    assert (mismatch["reason"], mismatch["importable"], mismatch["force_required"]) == (
        "hostid_mismatch",
        False,
        True,
    )


def test_parse_import_refusals_constructed():
    # do_import() of 2.3.2
    active = zm.parse_import_list(
        "cannot import 'mdtpool': pool is imported on mds02 (hostid: 0x1a2b3c4d)\n"
        "Export the pool on the other system, then run 'zpool import'.\n"
    )["mdtpool"]
    assert (active["reason"], active["host"], active["hostid"]) == ("hostid_active", "mds02", "0x1a2b3c4d")
    last = zm.parse_import_list(
        "cannot import 'mdtpool': pool was previously in use from another system.\n"
        "Last accessed by mds02 (hostid=1a2b3c4d) at Tue Nov 24 12:18:47 2026\n"
        "The pool can be imported, use 'zpool import -f' to import the pool.\n"
    )["mdtpool"]
    assert (last["reason"], last["host"], last["force_required"], last["importable"]) == (
        "hostid_mismatch",
        "mds02",
        True,
        False,
    )
    missing = zm.parse_import_list("cannot import 'nopool': no such pool available\n")["nopool"]
    assert missing["reason"] == "not_found"


# --------------------------------------------------------------------------
# labels: zpool create / labelclear messages
# --------------------------------------------------------------------------


def _only_problem(rel):
    result = zm.parse_label_check(body(rel))
    assert result["ok"] is False and len(result["problems"]) == 1
    return result["problems"][0]


@pytest.mark.parametrize("rel", ["zfs/zpool_create_inuse.txt", "zfs/zpool_create_again.txt"])
def test_parse_label_check_busy(rel):
    problem = _only_problem(rel)
    assert (problem["device"], problem["kind"], problem["fstype"], problem["forceable"]) == (
        "/dev/sda",
        "busy",
        None,
        False,
    )


def test_parse_label_check_active_pool_member():
    problem = _only_problem("zfs-json/zpool_create_foreign_label.txt")
    assert (problem["device"], problem["kind"], problem["pool"], problem["pool_state"], problem["forceable"]) == (
        "/dev/loop1",
        "pool_member",
        "mdtpool",
        "active",
        False,
    )
    assert problem["message"] == "/dev/loop1 is part of active pool 'mdtpool'"


def test_parse_label_check_labelclear_busy():
    problem = _only_problem("zfs-json/zpool_labelclear_busy.txt")
    assert (problem["device"], problem["kind"], problem["pool"], problem["pool_state"]) == (
        "/dev/loop1",
        "pool_member",
        "mdtpool",
        "active",
    )


def test_parse_label_check_missing_device():
    problem = _only_problem("zfs/zpool_replace.txt")
    assert (problem["device"], problem["kind"]) == ("/dev/sdb", "missing")


def test_parse_label_check_dry_run_ok():
    assert zm.parse_label_check(body("zfs-json/zpool_create_label_check.txt")) == {
        "ok": True,
        "would_create": "testpool",
        "layout": ["loop2"],
        "problems": [],
    }
    assert zm.parse_label_check(body("zfs/zpool_create.txt"))["ok"] is True


def test_parse_label_check_constructed_forceable():
    # check_slice()/check_file_generic() wording for an exported pool and a filesystem
    result = zm.parse_label_check(
        "invalid vdev specification\nuse '-f' to override the following errors:\n"
        "/dev/sdb1 is part of exported pool 'oldpool'\n/dev/sdc contains a filesystem of type 'ext4'\n"
    )
    assert [(p["device"], p["kind"], p["forceable"]) for p in result["problems"]] == [
        ("/dev/sdb1", "pool_member", True),
        ("/dev/sdc", "filesystem", True),
    ]
    assert result["problems"][1]["fstype"] == "ext4"


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [("0", 0), ("12", 12), ("72K", 73728), ("294K", 301056), ("1.2K", 1229), ("0B", 0), ("-", None), (None, None)],
)
def test_parse_nice(text, value):
    assert zm.parse_nice(text) == value


def test_parse_nice_rejects_garbage():
    with pytest.raises(CommandExecutionError, match="cannot read 'abc' as a number"):
        zm.parse_nice("abc")


def test_parse_hostid():
    import sys

    assert zm.parse_hostid((0x1A2B3C4D).to_bytes(4, sys.byteorder)) == 0x1A2B3C4D
    assert zm.parse_hostid(b"\0\0\0\0") is None
    assert zm.parse_hostid(b"") is None
    assert zm.parse_hostid(b"12345") is None


def _probe_outputs(name):
    """``{command: (output, exit status)}`` of a realkernel-probes capture (``$ cmd`` ... ``[exit N]``)."""
    path = REPO / "tests" / "golden" / "realkernel-probes" / name  # the project's own captures, in the repository
    outputs, command, lines = [], None, []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("$ "):
            command, lines = line[2:], []
        elif line.startswith("[exit "):
            outputs.append((command, "\n".join(lines) + "\n", int(line[len("[exit ") : -1])))
        else:
            lines.append(line)
    return outputs


def test_parse_zdb_label_golden():
    outputs = _probe_outputs("zdb-label.txt")
    labels = [(cmd, zm.parse_zdb_label(out), rc) for cmd, out, rc in outputs if cmd.startswith("zdb -l")]
    assert [(cmd, rc) for cmd, _, rc in labels] == [
        ("zdb -l /dev/loop0", 0),
        ("zdb -l /dev/loop0", 0),
        ("zdb -l /dev/loop0", 0),
        ("zdb -l /tmp/rkzfs/none", 1),
        ("zdb -l /dev/loop2", 2),
    ]
    active, exported, again, missing, blank = (label for _, label, _ in labels)
    assert active == {
        "pool": "mdtpool",
        "pool_guid": "14596875336121998583",
        "vdev_guid": "9104717107407932257",
        "state": "active",
        "txg": 4,
        "hostid": "0x00c0ffee",  # zgenhostid -f 0x00c0ffee; zdb prints 12648430
        "hostname": "(none)",
        "labels": [0, 1, 2, 3],
    }
    assert exported["state"] == "exported" and exported["txg"] == 18 and exported["hostid"] == "0x00c0ffee"
    # Imported again, then the host's hostid changed: the label still names the importer, not this host.
    assert again["state"] == "active" and again["hostid"] == "0x00c0ffee" and again["txg"] == 25
    assert missing is None and blank is None
    # The guest's own hostid, as zfsmirror.hostid prints it, is what a label is compared with.
    (hostid_out,) = [out for cmd, out, _ in outputs if cmd == "hostid"]
    assert f"0x{hostid_out.strip()}" == active["hostid"]


def test_parse_zdb_label_vdev_tree_does_not_override_top_level_keys():
    text = "\n".join(
        [
            "------------------------------------",
            "LABEL 0 ",
            "------------------------------------",
            "    version: 5000",
            "    name: 'p'",
            "    state: 1",
            "    txg: 9",
            "    pool_guid: 7",
            "    guid: 8",
            "    vdev_tree:",
            "        type: 'mirror'",
            "        guid: 99",
            "        children[0]:",
            "            guid: 8",
            "    labels = 0 1 ",
            "",
        ]
    )
    label = zm.parse_zdb_label(text)
    assert label["vdev_guid"] == "8" and label["state"] == "exported" and label["hostid"] is None
    assert label["labels"] == [0, 1] and label["hostname"] is None
    assert zm.parse_zdb_label("failed to unpack label 0\n") is None


def test_parse_zstream_dump_constructed():
    # constructed: the SUMMARY lines zstream_dump.c (2.3) prints; no capture of zstream yet
    whole = "BEGIN record\n\ttoname = p/m@a\nEND checksum = 1/2/3/4\nSUMMARY:\n"
    whole += "\tTotal DRR_BEGIN records = 1 (0 bytes)\n\tTotal DRR_END records = 1 (0 bytes)\n"
    assert zm.parse_zstream_dump(whole) == {"ok": True, "begin": 1, "end": 1, "problems": []}
    truncated = whole.replace("DRR_END records = 1", "DRR_END records = 0")
    assert zm.parse_zstream_dump(truncated)["problems"] == ["1 BEGIN and 0 END records: the stream is incomplete"]
    bad = "Expected checksum differs from checksum in stream.\n" + whole
    assert zm.parse_zstream_dump(bad)["ok"] is False
