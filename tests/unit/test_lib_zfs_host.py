"""zfs_host's pure helpers: backup destinations, the timers' calendar and the unit files' words."""

import pytest
from salt.exceptions import SaltInvocationError

from mdtmirror_lib import zfs_host


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
