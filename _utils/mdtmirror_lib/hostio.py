"""
The host as every loader module reaches it: where a path is (``mdtmirror:sysroot``,
``mdtmirror:paths:<key>``), which binary runs (``mdtmirror:bin:<name>``), and the
plain file and sysfs I/O they share. ``get`` is the caller's ``config.get``
(``__salt__["config.get"]``): this module never touches Salt's dunders.
"""

import contextlib
import errno
import os
import stat


def sysroot(get):
    return get("mdtmirror:sysroot", "/") or "/"


def under_sysroot(get, path):
    """Where a host path (``/dev/...``, ``/etc/...``) is looked up: under ``mdtmirror:sysroot``."""
    return os.path.join(sysroot(get), path.lstrip("/"))


def strip_sysroot(get, path):
    """The inverse of :py:func:`under_sysroot`: the path as tools on the host name it."""
    root = sysroot(get).rstrip("/")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def host_path(get, key, defaults):
    """``mdtmirror:paths:<key>`` if set, else the default path ``defaults[key]`` under the sysroot."""
    override = get("mdtmirror:paths:" + key, None)
    if override:
        return override
    return under_sysroot(get, defaults[key])


def binary(get, name):
    """``mdtmirror:bin:<name>`` if set (and not empty), else ``name`` (found on PATH)."""
    return get("mdtmirror:bin:" + name, name) or name


def errno_text(code):
    """``EBUSY (Device or resource busy)``: the errno's name and its words."""
    return f"{errno.errorcode.get(code, code)} ({os.strerror(code)})"


def listdir(path):
    """Sorted entries of a directory; none if it is missing (a module not loaded, an object gone)."""
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def read_attr(path, default=None, dir_fd=None):
    """One sysfs/configfs attribute without its trailing newline; ``default`` if it cannot be read."""
    try:
        return read_raw(path, dir_fd).rstrip("\n")
    except OSError:
        return default


# A sysfs or configfs attribute is produced whole by its show() (at most a page): the first read
# returns all of it, so a read shorter than asked is the end (no second read(2) to find EOF).
_READ_SIZE = 65536


def read_raw(path, dir_fd=None):
    """
    One read of a sysfs file with raw syscalls, OSError propagating with its
    errno. Python's buffered files turn an EAGAIN from read(2) into an empty
    ``None`` result; SCST answers EAGAIN while busy, so it must surface here.
    ``dir_fd``: ``path`` is a name in that open directory (see :py:func:`opendir`).
    """
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, _READ_SIZE)
            chunks.append(chunk)
            if len(chunk) < _READ_SIZE:
                break
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


@contextlib.contextmanager
def opendir(path):
    """
    An open directory (its fd), or None when it is missing: the attributes of one kernel object are
    then opened by name in it, each open resolving one name instead of walking the whole path again.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def write_attr(path, data):
    """One ``write(2)`` of ``data`` to a sysfs/configfs attribute; OSError propagates with its errno."""
    # O_WRONLY without O_CREAT: a missing attribute gives ENOENT, not EACCES.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def read_text(path):
    """A configuration file's text, or None if it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_text(path, text, mode=0o644):
    """
    Write a configuration file atomically (fsync'ed, ``mode``): a crash leaves the old or the new one.
    ``mode=None``: the mode the file has (0o644 for a new one), for a file the admin owns.
    """
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o644
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".mdtmirror.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def rdma_ports(base):
    """
    The local RDMA ports under ``base`` (``/sys/class/infiniband``): one
    ``{"hca", "port", "gid" (GID 0), "link_layer", "state", "node_guid"}`` per
    port, in HCA then port order; an attribute that cannot be read is None.
    """
    ports = []
    for hca in listdir(base):
        node_guid = read_attr(os.path.join(base, hca, "node_guid"))
        numbers = sorted((n for n in listdir(os.path.join(base, hca, "ports")) if n.isdigit()), key=int)
        for number in numbers:
            path = os.path.join(base, hca, "ports", number)
            ports.append(
                {
                    "hca": hca,
                    "port": int(number),
                    "gid": read_attr(os.path.join(path, "gids", "0")),
                    "link_layer": read_attr(os.path.join(path, "link_layer")),
                    "state": read_attr(os.path.join(path, "state")),
                    "node_guid": node_guid,
                }
            )
    return ports


def disk_problem(get, path, block=True, exclusive=False):
    """
    What the kernel will refuse about opening ``path`` (a /dev path, under
    the sysroot) as a disk, in words naming the errno, or None (the rules
    ``mdtmirror.disk_problem`` documents): missing (ENOENT); with ``block``,
    not a block device (ENOTBLK: not in ``/sys/class/block``); with
    ``exclusive``, held open exclusively by another holder (an ``O_EXCL``
    open answers EBUSY, as the exclusive open of SCST's and LIO's exports).
    """
    real = under_sysroot(get, path)
    if not os.path.exists(real):
        return "does not exist (ENOENT)"
    resolved = os.path.realpath(real)
    if block:
        if os.path.isdir(resolved):
            return "is a directory"
        relative = os.path.relpath(resolved, os.path.realpath(under_sysroot(get, "/")))
        parent, name = os.path.split(relative)
        if parent != "dev" or not os.path.exists(under_sysroot(get, f"/sys/class/block/{name}")):
            return f"resolves to /{relative}, which is not a block device (not in /sys/class/block: ENOTBLK)"
    if exclusive and stat.S_ISBLK(os.stat(resolved).st_mode):
        try:
            os.close(os.open(resolved, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC))
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                return (
                    "is held open exclusively by another holder (a mounted filesystem, an imported pool, an "
                    "SCST or LIO export, md/dm): opening it for an export would fail with EBUSY"
                )
    return None
