"""SRP path loss in the initiator emulator, against pathloss.txt.

The capture disabled the target under a live login with fast_io_fail_tmo 5,
dev_loss_tmo 30, reconnect_delay 3: the remote port went running -> blocked ->
fail-fast (opening the disk: ENXIO) -> running when the target came back, and,
the second time, past dev_loss_tmo the remote port and the disk were removed
for good. The same timers run here with the fabric's time scale at 0.06 (a
kernel second lasts 60 ms), so the whole capture replays in about 3 s.
"""

import errno
import os
import re
import time

import pytest

from tests.captures import scst_capture
from tests.emul.rig import make_pair, scst_export

LINE = "id_ext=005400fffe000002,ioc_guid=005400fffe000002,dest=10.0.0.2:5555,ch_count=1"
SCALE = 0.06


def add_target(host, line):
    fd = os.open(host.root / "sys/class/infiniband_srp/srp-rxe0-1/add_target", os.O_WRONLY)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def rport_state(host):
    try:
        return (host.root / "sys/class/srp_remote_ports/port-2:1/state").read_text().strip()
    except FileNotFoundError:
        return "gone"


def open_errno(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return e.errno
    try:
        os.pread(fd, 4096, 0)
    finally:
        os.close(fd)
    return 0


def dedup(seq):
    out = []
    for item in seq:
        if not out or out[-1] != item:
            out.append(item)
    return out


def enable(host, value):
    host.kernel.write("targets/ib_srpt/%s/enabled" % host.target, b"%d\n" % value)


def watch(host, seconds, until=None, t0=None):
    """[(elapsed, state)] polled through the mount for ``seconds`` (or until ``until`` is seen), elapsed
    since ``t0``: taken just before the write that starts the kernel's timers, so a test process slow
    to start polling (a loaded machine) never sees a timer fire early."""
    t0, seen = time.monotonic() if t0 is None else t0, []
    while time.monotonic() - t0 < seconds:
        seen.append((time.monotonic() - t0, rport_state(host)))
        if until and seen[-1][1] == until:
            break
        time.sleep(0.01)
    return seen


def first(seen, state):
    return next(t for t, s in seen if s == state)


@pytest.fixture
def pair(tmp_path):
    p = make_pair(tmp_path, fabric_kwargs={"time_scale": SCALE})
    a, b = p.hosts["mds01"], p.hosts["mds02"]
    scst_export(b, [a.ip])
    yield a, b, p.fabric
    p.stop()


def test_pathloss_txt_timeline(pair):
    a, b, _ = pair
    text = scst_capture("pathloss.txt").read_text()
    captured = dedup(
        "gone" if m.group(1) == "*" else m.group(2)
        for m in re.finditer(r"^\d\d:\d\d:\d\d (\S+) state=(\S+)", text, re.M)
    )
    assert captured == ["running", "blocked", "fail-fast", "running", "blocked", "fail-fast", "gone"]
    add_target(a, LINE)
    rport = a.root / "sys/class/srp_remote_ports/port-2:1"
    # the capture's timers, in the order srp_tmo_valid() accepts them
    for attr, value in (("dev_loss_tmo", 30), ("fast_io_fail_tmo", 5), ("reconnect_delay", 3)):
        write(rport / attr, "%d\n" % value)
    assert [(rport / n).read_text() for n in ("fast_io_fail_tmo", "dev_loss_tmo", "reconnect_delay")] == [
        "5\n",
        "30\n",
        "3\n",
    ]
    states = [rport_state(a)]
    # 1. the target disabled, enabled again before dev_loss_tmo
    t0 = time.monotonic()
    enable(b, 0)
    seen = watch(a, 10 * SCALE, t0=t0)
    assert "blocked" in dict(seen).values() and seen[0][1] == "blocked"
    assert 5 * SCALE - 0.02 <= first(seen, "fail-fast") <= 5 * SCALE + 0.15
    assert open_errno(a.root / "dev/sda") == errno.ENXIO  # dd: failed to open '/dev/sda': No such device or address
    assert os.listdir(a.root / "sys/block/sda/device/block") == ["sda"]  # the disk stays
    assert (a.root / "sys/block/sda/device/state").read_text() == "transport-offline\n"
    assert int((rport / "failed_reconnects").read_text()) >= 2
    states += [s for _, s in seen]
    t0 = time.monotonic()
    enable(b, 1)
    seen = watch(a, 5 * SCALE, until="running", t0=t0)
    assert seen[-1][1] == "running" and seen[-1][0] <= 3 * SCALE + 0.15  # within reconnect_delay
    states += [s for _, s in seen]
    assert open_errno(a.root / "dev/sda") == 0
    assert (rport / "failed_reconnects").read_text() == "0\n"
    assert b.kernel.session_names(b.target) == ["10.0.0.1"]
    # 2. disabled past dev_loss_tmo: remote port, SCSI host and disk gone for good
    t0 = time.monotonic()
    enable(b, 0)
    seen = watch(a, 40 * SCALE, until="gone", t0=t0)
    assert 30 * SCALE - 0.02 <= first(seen, "gone") <= 30 * SCALE + 0.2
    states += [s for _, s in seen]
    enable(b, 1)
    states += [s for _, s in watch(a, 6 * SCALE)]
    assert dedup(states) == captured
    assert sorted(os.listdir(a.root / "sys/class/scsi_host")) == ["host0", "host1"]
    assert not os.path.lexists(a.root / "dev/sda") and os.listdir(a.root / "dev/disk/by-id") == []
    assert b.kernel.session_names(b.target) == []
    # the kernel's messages, as captured
    log = [re.sub(r"^\[ *[\d.]+\] ", "", line) for line in text.splitlines() if line.startswith("[")]
    for line in (
        "scsi host2: ib_srp: reconnect succeeded",
        "fast_io_fail_tmo expired for SRP port-2:1 / host2.",
        "dev_loss_tmo expired for SRP port-2:1 / host2.",
        "scsi host2: ib_srp: SRP LOGIN REJECTED, reason 0x00010001",
    ):
        assert line in log and line in a.srp.kernel.dmesg, line
    # only a new add_target brings the LUN back (the capture's relogin)
    add_target(a, LINE)
    assert rport_state(a) == "running" and os.readlink(a.root / "dev/sda") == str(b.root / "dev/mdt0")


def test_peer_down_then_up_and_delete(pair):
    a, b, fabric = pair
    add_target(a, LINE)
    rport = a.root / "sys/class/srp_remote_ports/port-2:1"
    write(rport / "reconnect_delay", "1")
    fabric.set_down("mds02")
    assert rport_state(a) == "blocked"
    assert int((a.root / "sys/class/srp_remote_ports/port-2:1/failed_reconnects").read_text()) == 0
    seen = watch(a, 4 * SCALE)
    assert {s for _, s in seen} == {"blocked"}
    assert int((rport / "failed_reconnects").read_text()) >= 2
    assert "scsi host2: reconnect attempt 1 failed (-6)" in a.srp.kernel.dmesg  # ENXIO: address unresolvable
    fabric.set_up("mds02")
    assert watch(a, 5 * SCALE, until="running")[-1][1] == "running"
    # the stale session the peer kept while down was replaced (SRP_MULTICHAN_SINGLE relogin)
    assert b.kernel.session_names(b.target) == ["10.0.0.1"]
    # delete: the login goes at once, with its SCST session
    write(rport / "delete", "1\n")
    assert rport_state(a) == "gone"
    assert sorted(os.listdir(a.root / "sys/class/scsi_host")) == ["host0", "host1"]
    assert not os.path.lexists(a.root / "dev/sda") and os.listdir(a.root / "dev/disk/by-id") == []
    assert b.kernel.session_names(b.target) == []


def test_timer_attributes_validation(pair):
    a, _, _ = pair
    add_target(a, LINE)
    rport = a.root / "sys/class/srp_remote_ports/port-2:1"

    def errno_of(attr, value):
        try:
            write(rport / attr, value)
        except OSError as e:
            return e.errno
        return 0

    assert errno_of("fast_io_fail_tmo", "600") == errno.EINVAL  # >= dev_loss_tmo (600)
    assert errno_of("fast_io_fail_tmo", "601") == errno.EINVAL  # > SCSI_DEVICE_BLOCK_MAX_TIMEOUT
    assert errno_of("dev_loss_tmo", "15") == errno.EINVAL  # <= fast_io_fail_tmo (15)
    assert errno_of("reconnect_delay", "0") == errno.EINVAL
    assert errno_of("reconnect_delay", "abc") == errno.EINVAL
    assert errno_of("dev_loss_tmo", "99999999999") == errno.ERANGE
    assert errno_of("fast_io_fail_tmo", "off") == 0
    assert errno_of("dev_loss_tmo", "601") == errno.EINVAL  # fast_io_fail off: dev_loss <= 600
    assert errno_of("dev_loss_tmo", "0x10") == 0
    assert errno_of("reconnect_delay", "-1\n") == 0
    assert [(rport / n).read_text() for n in ("fast_io_fail_tmo", "dev_loss_tmo", "reconnect_delay")] == [
        "off\n",
        "16\n",
        "off\n",
    ]
    assert errno_of("dev_loss_tmo", "off") == errno.EINVAL  # all three off
    assert errno_of("failed_reconnects", "1") == errno.EACCES
    assert errno_of("state", "running") == errno.EACCES
