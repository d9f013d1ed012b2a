"""
FUSE adapter: serves a ``ScstKernel`` model as a real file system, so that code
under test does real open/read/write/readlink syscalls on an emulated
``/sys/kernel/scst_tgt``.

``mount(kernel, mountpoint)`` runs libfuse in a daemon thread of the calling
process (the returned handle exposes ``.kernel`` for hooks such as
``sessions_login``); ``handle.stop()`` unmounts. The CLI mounts in the
foreground until SIGTERM/SIGINT::

    python -m tests.emul.scstfs --host-config host.json --mount ROOT/sys/kernel/scst_tgt

Mapping to sysfs (kernfs) semantics: every write(2) is one store() call (offsets
ignored, errno passed through), reads take a snapshot of show() on the first read
of an open file, opening for write a file without store() (or for read a file
without show()) gives EACCES, creating a missing name gives EACCES, O_TRUNC /
truncate is accepted and ignored. Files report size 4096 like sysfs attributes;
``direct_io`` and zero cache timeouts make every read reach the model.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import mfusepy

from .host import HostConfig
from .scstkernel import ScstKernel

log = logging.getLogger(__name__)


class ScstFS(mfusepy.Operations):
    use_ns = True

    def __init__(self, kernel: ScstKernel):
        self.kernel = kernel
        self._fh_lock = threading.Lock()
        self._next_fh = 1
        self._snapshots: dict = {}
        self._t0 = time.time_ns()

    @staticmethod
    def _rel(path: str) -> str:
        return path.lstrip("/")

    def _new_fh(self) -> int:
        with self._fh_lock:
            fh = self._next_fh
            self._next_fh += 1
            return fh

    # ---- metadata ------------------------------------------------------
    def getattr(self, path, fh=None):
        node = self.kernel.lookup(self._rel(path))
        st = {
            "st_uid": 0,
            "st_gid": 0,
            "st_atime": self._t0,
            "st_mtime": self._t0,
            "st_ctime": self._t0,
        }
        if node.kind == "dir":
            st.update(st_mode=stat.S_IFDIR | node.mode, st_nlink=2, st_size=0)
        elif node.kind == "link":
            st.update(st_mode=stat.S_IFLNK | 0o777, st_nlink=1, st_size=0)  # sysfs links report 0
        else:
            st.update(st_mode=stat.S_IFREG | node.mode, st_nlink=1, st_size=4096)
        return st

    def readdir(self, path, fh):
        return [".", ".."] + self.kernel.listdir(self._rel(path))

    def readlink(self, path):
        return self.kernel.readlink(self._rel(path))

    def access(self, path, amode):
        self.kernel.lookup(self._rel(path))
        return 0

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    # ---- files ---------------------------------------------------------
    def open(self, path, flags):
        acc = flags & os.O_ACCMODE
        self.kernel.check_open(
            self._rel(path),
            read=acc in (os.O_RDONLY, os.O_RDWR),
            write=acc in (os.O_WRONLY, os.O_RDWR),
        )
        return self._new_fh()

    def create(self, path, mode, fi=None):
        # kernfs directories have no create(): EACCES for an absent name.
        self.kernel.check_open(self._rel(path), write=True, create=True)
        return self._new_fh()

    def truncate(self, path, length, fh=None):
        node = self.kernel.lookup(self._rel(path))
        if node.kind == "dir":
            raise mfusepy.FuseOSError(errno.EISDIR)
        return 0  # sysfs accepts O_TRUNC and ignores it

    def read(self, path, size, offset, fh):
        if offset == 0 or fh not in self._snapshots:
            self._snapshots[fh] = self.kernel.read(self._rel(path))
        return self._snapshots[fh][offset : offset + size]

    def write(self, path, data, offset, fh):
        return self.kernel.write(self._rel(path), bytes(data))

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        self._snapshots.pop(fh, None)
        return 0

    def utimens(self, path, times=None):
        return 0

    # sysfs refuses structural changes
    def mkdir(self, path, mode):
        raise mfusepy.FuseOSError(errno.EPERM)

    def rmdir(self, path):
        raise mfusepy.FuseOSError(errno.EPERM)

    def unlink(self, path):
        raise mfusepy.FuseOSError(errno.EPERM)

    def rename(self, old, new):
        raise mfusepy.FuseOSError(errno.EPERM)

    def symlink(self, target, source):
        raise mfusepy.FuseOSError(errno.EPERM)

    def chmod(self, path, mode):
        return 0

    def chown(self, path, uid, gid):
        return 0


FUSE_OPTIONS = dict(
    foreground=True,
    nothreads=True,
    fsname="scst_tgt",
    subtype="scstemu",
    direct_io=True,
    attr_timeout=0,
    entry_timeout=0,
    negative_timeout=0,
)


def _fusermount_u(mountpoint: str, lazy: bool = False) -> int:
    for prog in ("fusermount3", "fusermount"):
        try:
            args = [prog, "-u"] + (["-z"] if lazy else []) + [mountpoint]
            return subprocess.run(args, capture_output=True).returncode
        except FileNotFoundError:
            continue
    return subprocess.run(["umount"] + (["-l"] if lazy else []) + [mountpoint], capture_output=True).returncode


FUSECTL = "/sys/fs/fuse/connections"
_live_handles: set = set()


def _abort_connection(conn: str) -> bool:
    """Abort a FUSE connection (fusectl): every pending and future request fails."""
    if not os.path.isdir(os.path.join(FUSECTL, conn)) and os.path.isdir(FUSECTL) and not os.listdir(FUSECTL):
        subprocess.run(["mount", "-t", "fusectl", "none", FUSECTL], capture_output=True)  # not mounted yet
    try:
        with open(os.path.join(FUSECTL, conn, "abort"), "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


@atexit.register
def _stop_all() -> None:
    # The FUSE server is a thread of this process: a descriptor still open on the
    # mount at exit would make the exiting process wait for itself. Abort instead.
    for handle in list(_live_handles):
        try:
            handle.stop(timeout=2.0)
        except Exception:  # best effort at interpreter exit
            pass


class MountHandle:
    """A mounted emulator: ``.kernel`` (the model), ``.mountpoint``, ``.stop()``."""

    def __init__(self, kernel: ScstKernel, mountpoint: str, allow_other: bool = False):
        self.kernel = kernel
        self.mountpoint = os.path.abspath(mountpoint)
        self._error: BaseException | None = None
        self._conn: str | None = None
        opts = dict(FUSE_OPTIONS)
        if allow_other:
            opts["allow_other"] = True
        self._thread = threading.Thread(target=self._run, args=(opts,), name="scstfs", daemon=True)

    def _run(self, opts: dict) -> None:
        try:
            mfusepy.FUSE(ScstFS(self.kernel), self.mountpoint, **opts)
        except BaseException as e:  # reported by start()/stop()
            self._error = e

    def start(self, timeout: float = 10.0) -> MountHandle:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.ismount(self.mountpoint):
                self._conn = str(os.stat(self.mountpoint).st_dev)  # fusectl connection name
                _live_handles.add(self)
                return self
            if not self._thread.is_alive():
                break
            time.sleep(0.01)
        raise RuntimeError("scst_tgt FUSE mount at %s failed: %r" % (self.mountpoint, self._error))

    @property
    def mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def stop(self, timeout: float = 10.0) -> None:
        """Unmount. If something still holds the mount (an open descriptor), detach it
        lazily and abort the FUSE connection so that nothing can hang on it."""
        if self._thread.is_alive() or self.mounted:
            if _fusermount_u(self.mountpoint) != 0:
                _fusermount_u(self.mountpoint, lazy=True)
                self._thread.join(min(timeout, 1.0))
                if self._thread.is_alive() and self._conn:
                    _abort_connection(self._conn)
            self._thread.join(timeout)
        _live_handles.discard(self)
        if self._thread.is_alive():
            raise RuntimeError("scst_tgt FUSE thread did not stop (%s)" % self.mountpoint)

    def __enter__(self) -> MountHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def mount(kernel: ScstKernel, mountpoint: str, allow_other: bool = False) -> MountHandle:
    """Mount ``kernel`` at ``mountpoint`` (an existing directory); returns the handle."""
    os.makedirs(mountpoint, exist_ok=True)
    return MountHandle(kernel, mountpoint, allow_other=allow_other).start()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.emul.scstfs", description=__doc__.split("\n\n")[0])
    ap.add_argument("--host-config", required=True, help="HostConfig JSON file")
    ap.add_argument("--mount", required=True, help="mount point, e.g. ROOT/sys/kernel/scst_tgt")
    ap.add_argument("--no-sysfs-class", action="store_true", help="do not create ROOT/sys/class/infiniband etc.")
    ap.add_argument("--allow-other", action="store_true", help="let other users use the mount")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    host = HostConfig.load(args.host_config)
    if not args.no_sysfs_class:
        host.write_sysfs_class()
    kernel = ScstKernel(host)
    os.makedirs(args.mount, exist_ok=True)
    opts = dict(FUSE_OPTIONS)
    if args.allow_other:
        opts["allow_other"] = True
    # libfuse handles SIGTERM/SIGINT/SIGHUP in the foreground loop: it leaves the
    # loop and unmounts. SIGTERM's default action would kill us before that.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        mfusepy.FUSE(ScstFS(kernel), args.mount, **opts)
    except RuntimeError:
        # fuse_main() returns non-zero when a signal ended the loop; that is our
        # normal way out. Anything else leaves the mount point mounted.
        if os.path.ismount(args.mount):
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
