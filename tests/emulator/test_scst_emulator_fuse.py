"""The SCST emulator through its FUSE mount: real open/read/write/readlink syscalls.

The same captured sessions as test_scst_emulator_replay.py are replayed through
the mount (Python's os.open/os.write, bash's ``echo > path`` for some writes, and
``ls -la`` for the listings), and the whole mounted tree, walked with plain
syscalls, must equal the model's dump: the FUSE layer adds nothing and hides
nothing.
"""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.captures import REPO, scst_capture
from tests.emul import scstfs
from tests.emul.replay import (
    CAPTURE_GID,
    FuseBackend,
    capture_host,
    fs_dump,
    replay_capture,
    replay_forms,
    tree_diff,
)
from tests.emul.scstkernel import ScstKernel

# FUSE is required (scripts/setup.sh installs fuse3): missing is a failure, not a skip.
pytestmark = pytest.mark.needs_tool("fusermount3")

TGT = "targets/ib_srpt/" + CAPTURE_GID


def capture(name):
    return scst_capture(name).read_text()


@pytest.fixture
def mounted(tmp_path):
    def make(**host_kwargs):
        kernel = ScstKernel(capture_host(tmp_path, loops=3, **host_kwargs))
        handle = scstfs.mount(kernel, str(tmp_path / "sys" / "kernel" / "scst_tgt"))
        handles.append(handle)
        return handle

    handles = []
    yield make
    for h in handles:
        h.stop()
        assert not h.mounted


def test_ops_replay_through_fuse(mounted):
    h = mounted()
    # bash runs every third write and the two that fail at open (like the capture's shell)
    be = FuseBackend(h.mountpoint, shell=lambda n, path, data: n % 3 == 0 or path.endswith(("blocksize", "nosuchattr")))
    checks, problems = replay_capture(capture("ops.txt"), be)
    assert problems == []
    assert checks >= 120
    errs = "".join(stderr for _, _, stderr in be.shell_runs)
    assert "echo: write error: File exists" in errs or "echo: write error: Invalid argument" in errs
    assert "devices/MDT1/blocksize: Permission denied" in errs
    assert "devices/MDT1/nosuchattr: Permission denied" in errs
    # the mounted tree, walked with plain syscalls, is the model's tree...
    walked = fs_dump(h.mountpoint)
    assert walked == h.kernel.dump()
    # ...and the captured one
    assert tree_diff(scst_capture("tree-1-configured.txt").read_text().splitlines(), walked) == []


def test_forms_through_fuse(mounted):
    h = mounted()
    checks, problems = replay_forms(capture("forms.txt"), FuseBackend(h.mountpoint), TGT)
    assert problems == []
    assert checks >= 30


def test_sysfs_file_semantics(mounted):
    h = mounted()
    mp = h.mountpoint
    ig = os.path.join(mp, TGT, "ini_groups", "mgmt")
    # every write(2) is one store: two writes on one descriptor are two commands
    fd = os.open(ig, os.O_WRONLY)
    os.write(fd, b"create G1")
    os.write(fd, b"create G2\n")
    os.close(fd)
    assert sorted(os.listdir(os.path.dirname(ig))) == ["G1", "G2", "mgmt"]
    # O_TRUNC (shell '>', open('w')) is accepted and ignored
    with open(ig, "w") as f:
        f.write("create G3\n")
    assert "G3" in os.listdir(os.path.dirname(ig))
    # more than a page in one write: E2BIG, nothing done
    with pytest.raises(OSError) as e:
        fd = os.open(ig, os.O_WRONLY)
        try:
            os.write(fd, b"create G4" + b" " * 4096)
        finally:
            os.close(fd)
    assert e.value.errno == errno.E2BIG
    # attributes look like sysfs attributes
    st = os.stat(os.path.join(mp, "version"))
    assert (st.st_mode & 0o777, st.st_size) == (0o444, 4096)
    assert os.stat(os.path.join(mp, "devices")).st_mode & 0o777 == 0o755
    # the capture's write-only files, read-only files and links
    with open(os.path.join(mp, "handlers/vdisk_fileio/mgmt"), "w") as f:
        f.write("add_device F1 filename=/tmp/d1\n")
    for name, err in (("sync", errno.EACCES), ("resync_size", errno.EACCES)):
        with pytest.raises(OSError) as e:
            open(os.path.join(mp, "devices/F1", name)).read()
        assert e.value.errno == err
    assert os.readlink(os.path.join(mp, "devices/F1/handler")) == "../../handlers/vdisk_fileio"
    assert open(os.path.join(mp, "handlers/vdisk_fileio/F1/filename")).read() == "/tmp/d1\n[key]\n\n"
    # no structural changes in sysfs
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(mp, "devices", "X"))
    assert e.value.errno == errno.EPERM
    # a read is one snapshot even when done in small pieces
    with open(os.path.join(mp, "handlers/vdisk_fileio/mgmt"), "rb", buffering=0) as f:
        pieces = [f.read(7) for _ in range(200)]
    assert b"".join(pieces) == h.kernel.read("handlers/vdisk_fileio/mgmt")


def sysread(path):
    """One read(2), as a sysfs reader must do it: Python's buffered open().read()
    turns EAGAIN into a None chunk and fails with TypeError (on real sysfs too)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096).decode()
    finally:
        os.close(fd)


def test_eagain_through_fuse(mounted):
    h = mounted(eagain_every=1, eagain_delay=0.3)
    mp = h.mountpoint
    res_path = os.path.join(mp, "last_sysfs_mgmt_res")
    # One write(2). (Python's buffered open().write() retries a failed flush when
    # the file is closed: on EAGAIN the command is written twice.)
    fd = os.open(os.path.join(mp, TGT, "ini_groups", "mgmt"), os.O_WRONLY)
    try:
        with pytest.raises(OSError) as e:
            os.write(fd, b"create MDS\n")
    finally:
        os.close(fd)
    assert e.value.errno == errno.EAGAIN
    with pytest.raises(OSError) as e:
        sysread(res_path)
    assert e.value.errno == errno.EAGAIN
    with pytest.raises(TypeError):
        open(res_path).read()
    assert "MDS" not in os.listdir(os.path.join(mp, TGT, "ini_groups"))
    deadline = time.monotonic() + 5
    while True:  # README's scst_sysfs_write protocol: poll last_sysfs_mgmt_res
        try:
            res = sysread(res_path)
            break
        except BlockingIOError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert res == "0\n"
    assert "MDS" in os.listdir(os.path.join(mp, TGT, "ini_groups"))


def test_cli_mounts_until_sigterm(tmp_path):
    host = capture_host(tmp_path, loops=1)
    conf = tmp_path / "host.json"
    host.save(conf)
    mp = tmp_path / "sys" / "kernel" / "scst_tgt"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emul.scstfs", "--host-config", str(conf), "--mount", str(mp)],
        cwd=str(REPO),
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while not os.path.ismount(mp):
            assert proc.poll() is None, "scstfs exited early"
            assert time.monotonic() < deadline, "scstfs did not mount"
            time.sleep(0.05)
        assert open(mp / "version").readline() == "SCST version: 3.11.0-pre\n"
        assert os.listdir(mp / "targets" / "ib_srpt") == [CAPTURE_GID]
        # the static files of a real host are there too
        assert (tmp_path / "sys/class/infiniband/rxe0/ports/1/gids/0").read_text() == CAPTURE_GID + "\n"
        assert (tmp_path / "sys/module/ib_srpt").is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert not os.path.ismount(mp)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            subprocess.run(["fusermount3", "-u", "-z", str(mp)], capture_output=True)
