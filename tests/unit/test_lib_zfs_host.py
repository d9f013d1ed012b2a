"""zfs_host without Salt: its pure helpers (backup destinations, the timers' calendar, the unit files'
words) and the ZfsHost object on a recording runner (real captures as the tools' replies)."""

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import zfs_host
from tests.unit.test_lib_zfs_parse import _probe_outputs, capture


def test_parse_destination():
    assert zfs_host.parse_destination("file:/backup/mdt0/") == {"kind": "file", "path": "/backup/mdt0"}
    assert zfs_host.parse_destination("ssh:bk01:tank/mdt0") == {"kind": "ssh", "host": "bk01", "dataset": "tank/mdt0"}
    assert zfs_host.parse_destination("ssh:root@[fd00::2]:tank/mdt0") == {
        "kind": "ssh",
        "host": "root@[fd00::2]",
        "dataset": "tank/mdt0",
    }


@pytest.mark.parametrize(
    "interval, calendar, expected",
    [
        (15, None, "*-*-* *:00/15:00"),
        ("5", None, "*-*-* *:00/5:00"),
        (60, None, "*-*-* 00/1:00:00"),
        (360, None, "*-*-* 00/6:00:00"),
        (1440, None, "*-*-* 00/24:00:00"),
        (None, "Mon,Thu 02:30", "Mon,Thu 02:30"),
    ],
)
def test_calendar_spec(interval, calendar, expected):
    assert zfs_host.calendar_spec(interval, calendar) == expected


@pytest.mark.parametrize("interval", [7, 0, 90, "soon", True, None])
def test_calendar_spec_refuses(interval):
    with pytest.raises(SaltInvocationError):
        zfs_host.calendar_spec(interval)


def test_unit_words_take_a_debian_version_path_and_refuse_what_systemd_would_reread():
    """Seen on the real-kernel tier: OpenZFS built from Debian's zfs-dkms lives under a path with the
    package version (2.3.2-2~bpo12+2); systemd reads '~' and '+' inside a word as they are. A blank
    splits the word and '%' is a specifier: those are refused, never written."""
    zfs = "/opt/zfs/2.3.2-2~bpo12+2+6.1.0-57-amd64/userland/sbin/zfs"
    units = zfs_host.render_units("u", "d", [[zfs, "snapshot", "p@s"]], "hourly", condition=[zfs, "list", "p"])
    assert f"ExecStart={zfs} snapshot p@s" in units["service"].splitlines()
    for word in ("/opt/my zfs/zfs", "/opt/%n/zfs"):
        with pytest.raises(SaltInvocationError, match="cannot go into a unit file unquoted"):
            zfs_host.render_units("u", "d", [[word, "list"]], "hourly")


def host_with(replies, config=None):
    """A ZfsHost over a recording runner: ``replies`` maps an argument list's first words to a capture."""
    calls = []

    def run_all(cmd, python_shell=True, ignore_retcode=False):
        calls.append((list(cmd), python_shell, ignore_retcode))
        for words, rel in replies.items():
            if tuple(cmd[: len(words)]) == words:
                _, out, status = capture(rel)
                return {"retcode": status, "stdout": out if status == 0 else "", "stderr": "" if status == 0 else out}
        raise AssertionError(f"unexpected command {cmd}")

    def get(key, default=None):
        return (config or {}).get(key, default)

    return zfs_host.ZfsHost(run_all, get, {}), calls


def test_the_host_object_runs_argument_lists_from_the_configured_binaries():
    host, calls = host_with({("/sbin/zpool", "list"): "zfs/zpool_list_Hp.txt"}, {"mdtmirror:bin:zpool": "/sbin/zpool"})
    pools = host.list_pools()
    assert sorted(pools) == ["mdtpool"] and pools["mdtpool"]["health"] == "ONLINE"
    assert calls == [(["/sbin/zpool", "list", "-H", "-p", "-o", "name,size,alloc,free,health,guid"], False, True)]


def test_auto_output_asks_for_json_without_a_version_call():
    """OpenZFS 2.3 answers ``zpool status -j``: one call per status, no ``zpool version`` before it."""
    host, calls = host_with({("zpool", "status"): "zfs-json/zpool_status_j.json"})
    for _ in range(2):
        assert host.status("mdtpool")["state"] == "ONLINE"
    assert [c[0] for c in calls] == [["zpool", "status", "-j", "--json-int", "-P", "mdtpool"]] * 2


def test_auto_output_falls_back_to_text_once_when_zpool_has_no_json():
    """OpenZFS < 2.3 (what Lustre servers are often pinned to) has no -j: zpool's getopt prints
    "invalid option 'j'" and the usage and exits 2. The text output is asked then, and from then on
    in this process; a failure that is not that refusal is an error, not a fallback."""
    _, text, _ = capture("zfs-json/zpool_status_text_degraded.txt")
    calls = []

    def run_all(cmd, python_shell=True, ignore_retcode=False):
        calls.append(list(cmd))
        if "-j" in cmd:
            return {"retcode": 2, "stdout": "", "stderr": "invalid option 'j'\nusage:\n\tstatus [-c [script1,...]] ..."}
        return {"retcode": 0, "stdout": text, "stderr": ""}

    host = zfs_host.ZfsHost(run_all, lambda key, default=None: default, {})
    for _ in range(2):
        pool = host.status("mdtpool")
        assert [(v["path"], v["state"]) for v in pool["mirror"]] == [
            ("/dev/loop0", "ONLINE"),
            ("/dev/loop1", "OFFLINE"),
        ]
    assert calls == [
        ["zpool", "status", "-j", "--json-int", "-P", "mdtpool"],
        ["zpool", "status", "-p", "-P", "mdtpool"],
        ["zpool", "status", "-p", "-P", "mdtpool"],
    ]

    def no_such_pool(cmd, python_shell=True, ignore_retcode=False):
        return {"retcode": 1, "stdout": "", "stderr": "cannot open 'mdtpool': no such pool"}

    host = zfs_host.ZfsHost(no_such_pool, lambda key, default=None: default, {})
    with pytest.raises(CommandExecutionError, match="no such pool"):
        host.status("mdtpool")


# --------------------------------------------------------------------------
# pool_names: the kstat tree, zpool list only without it
# --------------------------------------------------------------------------


def _kstat_tree(base, listing):
    """A kstat tree from ``ls -p`` lines of the real one (a directory ends with ``/``; each holds ``state``)."""
    base.mkdir(parents=True)
    for entry in listing:
        if entry.endswith("/"):
            (base / entry.rstrip("/")).mkdir()
            (base / entry.rstrip("/") / "state").write_text("ONLINE\n")
        else:
            (base / entry).write_text("")
    return base


def test_pool_names_are_the_kstat_trees_pool_directories_and_run_nothing(tmp_path):
    """The plan's question (which pools are imported here) on every apply, answered without zpool:
    a pool's directory holds ``state``; the module's statistics are files; ``$import`` is the
    temporary pool of a ``zpool import`` listing, never a pool name; a directory without ``state``
    is not a pool's."""
    kstat = _kstat_tree(tmp_path / "kstat", ["arcstats", "dbufstats", "mdtpool/", "ost0/", "$import/", "zil"])
    (kstat / "stray").mkdir()
    host, calls = host_with({}, {"mdtmirror:paths:kstat_zfs": str(kstat)})
    assert host.pool_names() == ["mdtpool", "ost0"]
    assert calls == []


def test_pool_names_under_the_sysroot_and_zpool_list_without_the_tree(tmp_path):
    """No kstat tree: the zfs module is not loaded; ``zpool list`` answers (and loads it)."""
    _kstat_tree(tmp_path / "root" / "proc" / "spl" / "kstat" / "zfs", ["arcstats", "mdtpool/"])
    host, calls = host_with({}, {"mdtmirror:sysroot": str(tmp_path / "root")})
    assert host.pool_names() == ["mdtpool"] and calls == []
    host, calls = host_with(
        {("zpool", "list"): "zfs/zpool_list_Hp.txt"}, {"mdtmirror:sysroot": str(tmp_path / "elsewhere")}
    )
    assert host.pool_names() == ["mdtpool"]
    assert [c[0][:2] for c in calls] == [["zpool", "list"]]


def test_pool_names_of_the_real_kstat_trees(tmp_path):
    """Each ``ls -p /proc/spl/kstat/zfs`` of the real-kernel probe (OpenZFS 2.3.2: no pool, created,
    exported, imported, destroyed) as a tree: the pool is there exactly while it is imported."""
    listings = [out.split() for cmd, out, _ in _probe_outputs("kstat-pools.txt") if cmd == "ls -p /proc/spl/kstat/zfs"]
    got = []
    for number, listing in enumerate(listings):
        kstat = _kstat_tree(tmp_path / str(number), listing)
        host, calls = host_with({}, {"mdtmirror:paths:kstat_zfs": str(kstat)})
        got.append(host.pool_names())
        assert calls == [], number
    assert got == [[], ["mdtpool"], [], ["mdtpool"], []]
