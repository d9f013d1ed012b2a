"""A lookup cache in front of the SCST emulator's model, for FUSE mounts with many devices.

tests/emul/scstkernel.py resolves every path from the root and rebuilds each
directory it passes through (``devices/`` builds one node per device, a
device builds all its attributes), so one FUSE request costs O(number of
devices): with 100 devices a no-op apply of the target stage takes minutes.
``CachedKernel`` serves the same nodes, building each directory's entries
once until something is written (every write through the mount, or
``invalidate()`` after changing the model directly). Attribute contents
are still read live from the model (``show()`` on each read).
"""

from __future__ import annotations

import errno
import os


def _err(code, path):
    return OSError(code, os.strerror(code), path)


class CachedKernel:
    def __init__(self, kernel):
        self._kernel = kernel
        self._lock = kernel._lock
        self._children = {}

    def __getattr__(self, name):
        return getattr(self._kernel, name)

    def invalidate(self):
        with self._lock:
            self._children.clear()

    def _kids(self, node):
        got = self._children.get(id(node))
        if got is None:
            got = self._children[id(node)] = (node, node.children())  # the node kept alive: ids stay unique
        return got[1]

    def _settle(self):
        if self._kernel._pending:  # works delayed by an injected EAGAIN change the tree
            self._kernel._run_due()
            self._children.clear()

    def _resolve(self, path, follow_last):
        """ScstKernel._resolve over the cached directories."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        hops = 0
        root = self._kernel._root
        while True:
            stack, names, restart = [root], [], None
            for i, p in enumerate(parts):
                if p == "..":
                    if not names:
                        raise _err(errno.ENOENT, path)
                    stack.pop()
                    names.pop()
                    continue
                node = stack[-1]
                if node.kind != "dir":
                    raise _err(errno.ENOTDIR, path)
                child = self._kids(node).get(p)
                if child is None:
                    raise _err(errno.ENOENT, path)
                if child.kind == "link" and (i < len(parts) - 1 or follow_last):
                    hops += 1
                    if hops > 40:
                        raise _err(errno.ELOOP, path)
                    restart = names + [x for x in child.target.split("/") if x not in ("", ".")] + parts[i + 1 :]
                    break
                stack.append(child)
                names.append(p)
            if restart is None:
                return stack[-1]
            parts = restart

    # ---- what tests/emul/scstfs.py calls ----------------------------------
    def lookup(self, path):
        with self._lock:
            self._settle()
            return self._resolve(path, follow_last=False)

    def listdir(self, path=""):
        with self._lock:
            self._settle()
            node = self._resolve(path, follow_last=True)
            if node.kind != "dir":
                raise _err(errno.ENOTDIR, path)
            return list(self._kids(node))

    def readlink(self, path):
        node = self.lookup(path)
        if node.kind != "link":
            raise _err(errno.EINVAL, path)
        return node.target

    def check_open(self, path, read=False, write=False, create=False):
        with self._lock:
            self._settle()
            try:
                node = self._resolve(path, follow_last=True)
            except OSError:
                if create:  # the model's own answer (EACCES for a name kernfs cannot create)
                    return self._kernel.check_open(path, read=read, write=write, create=create)
                raise
            if node.kind == "dir":
                if write:
                    raise _err(errno.EISDIR, path)
                return node
            if write and node.store is None:
                raise _err(errno.EACCES, path)
            if read and node.show is None:
                raise _err(errno.EACCES, path)
            return node

    def read(self, path):
        with self._lock:
            node = self.check_open(path, read=True)
            if node.kind == "dir":
                raise _err(errno.EISDIR, path)
            return node.show().encode("latin-1")

    def write(self, path, data, create=False):
        with self._lock:
            self._children.clear()
            try:
                return self._kernel.write(path, data, create=create)
            finally:
                self._children.clear()


def remount(host):
    """Serve ``host``'s SCST model through a CachedKernel at the same mount point; returns it."""
    from bench.common import quiet_stderr
    from tests.emul import scstfs

    mountpoint = host.handle.mountpoint
    with quiet_stderr():
        host.handle.stop()
    cached = CachedKernel(host.kernel)
    host.handle = scstfs.mount(cached, mountpoint)
    return cached
