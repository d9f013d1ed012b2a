"""Exclusive holders of the block devices of one emulated host (FMODE_EXCL claims).

On Linux both SCST's vdisk_blockio and ZFS open their block devices
exclusively, with a holder (``blkdev_get_by_path(path, mode | FMODE_EXCL,
holder)``); a second exclusive open by another holder fails with EBUSY.
Measured on 6.1 with SCST 3.11-pre and OpenZFS 2.3.2
(``scst-3.11-pre-linux-6.1-zfs/exclusive-holders.txt``): a pool cannot be
created on a disk vdisk_blockio holds, vdisk_blockio cannot open a pool's
disk, vdisk_fileio can (a plain open never conflicts), and after ``zpool
export`` vdisk_blockio opens the disk.

This module is that kernel bookkeeping for the emulators: the SCST emulator
(in the pytest process) and zfsemu (one process per command) both use it, so
it lives in a file under the host's root, ``<root>/var/lib/emul-holders.json``,
read and written under ``fcntl.flock`` on ``<root>/var/lib/emul-holders.lock``
(product code reads /sys, /dev and /etc only). A root of ``/`` (a bare
``HostConfig()``) keeps its claims in this process's memory instead.

Keys
----
A claim is keyed by the block device's identity on that host, a host path:

- the path is resolved inside the host root: relative symlink targets are
  relative to the link, absolute ones host-absolute (a target under the root's
  real path has the root stripped);
- a symlink whose target leaves the host -- an absolute path in the tests'
  shared directory outside the root, which is how the SRP emulator points an
  initiator's ``/dev/sdX`` at the peer's backing file, or the SRP emulator's
  transport-offline socket ``<root>/run/srpemu/`` -- is itself the device node:
  the key is that node (``/dev/sdb``). The initiator's ``/dev/sdb`` and the
  target's ``/dev/mdt0`` are two block devices on two hosts even though the
  emulator's data path shares one file;
- anything else is keyed by where it lands (``/dev/disk/by-id/x`` ->
  ``../../mdt0`` -> ``/dev/mdt0``).

Partitions: a key whose name is a partition of an existing node of the same
directory (``sda1`` of ``sda``, ``mdt0p1``/``loop0p1`` of a name ending in a
digit, ``x-part1`` of a by-id ``x``) belongs to that whole disk; such a node
stays that partition even when it is a symlink to the disk's own file (how
the emulators give a partition its data); ``claim(...,
part=N)`` claims partition N of the given whole disk (ZFS holds the partition
it made on a whole disk, which need not exist as a node here). As in the
kernel's bd_may_claim(): a claim conflicts with another holder's claim of the
same device, of its whole disk (when it is a partition) or of any of its
partitions (when it is a whole disk); two partitions of one disk are
independent. A holder may claim what it already holds.

Holders are names: ``scst:<device>`` (vdisk_blockio), ``zfs:<pool>``.
``clear(root)`` drops every claim of the host (a crash or reboot: the claims
were kernel memory).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import threading

REGISTRY = "var/lib/emul-holders.json"
LOCK = "var/lib/emul-holders.lock"
SRP_OFFLINE_DIR = "run/srpemu"

_MEMORY: dict = {}  # root "/" only: {key: {"holder", "disk"}}
_MEMORY_LOCK = threading.Lock()


def _root(root) -> str:
    return os.path.abspath(str(root))


def _in_memory(root: str) -> bool:
    return os.path.realpath(root) == "/"


def _split(path: str) -> list:
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve(root, path: str, hops: int = 40) -> str:
    """The host path of the block device node ``path`` names on the host whose ``/`` is ``root``."""
    root = _root(root)
    real_root = os.path.realpath(root)
    base = os.path.dirname(root)
    parts = _split(path)
    cur = "/"
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = os.path.dirname(cur)
            continue
        nxt = os.path.join(cur, part)
        full = root + nxt
        if not os.path.islink(full):
            cur = nxt
            continue
        if not parts and _whole_disk_of(root, nxt, hops) is not None:
            return nxt  # a partition node (the emulators link it to its disk's file): still that partition
        hops -= 1
        if hops < 0:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        target = os.readlink(full)
        if target.startswith("/"):
            inside = None
            for prefix in (root, real_root):
                if target == prefix or target.startswith(prefix + "/"):
                    inside = target[len(prefix) :] or "/"
                    break
            if inside is None and (target.startswith(base + "/") or target.startswith(os.path.realpath(base) + "/")):
                return nxt  # leaves this host: an SRP disk's node is the device
            if inside is not None and (inside + "/").startswith("/" + SRP_OFFLINE_DIR + "/"):
                return nxt  # the SRP emulator's transport-offline stand-in: still that disk
            target = inside if inside is not None else target
            cur = "/"
        parts = _split(target) + parts
    return cur


def partition_name(disk: str, part: int) -> str:
    """The kernel's (and udev's by-id) name of partition ``part`` of ``disk``."""
    if "/disk/by-" in disk:
        return "%s-part%d" % (disk, part)
    return "%s%s%d" % (disk, "p" if disk[-1:].isdigit() else "", part)


_PART_PATTERNS = (
    re.compile(r"^(?P<disk>.+)-part(?P<n>\d+)$"),
    re.compile(r"^(?P<disk>.*\d)p(?P<n>\d+)$"),
    re.compile(r"^(?P<disk>.*[^\d/])(?P<n>\d+)$"),
)


def _whole_disk_of(root: str, key: str, hops: int = 40):
    """(disk key, partition number) if ``key`` names a partition of an existing disk node, else None."""
    directory, name = os.path.split(key)
    for pattern in _PART_PATTERNS:
        match = pattern.match(name)
        if not match:
            continue
        disk_path = os.path.join(directory, match.group("disk"))
        full = root + disk_path
        if os.path.lexists(full) and not (os.path.isdir(full) and not os.path.islink(full)):
            return resolve(root, disk_path, hops - 1), int(match.group("n"))
    return None


def device(root, path: str, part: int | None = None) -> tuple:
    """``(key, disk)``: the device ``path`` (or its partition ``part``) is on this host, and its whole disk."""
    root = _root(root)
    key = resolve(root, path)
    if part is not None:
        return partition_name(key, part), key
    whole = _whole_disk_of(root, key)
    if whole is not None:
        disk, n = whole
        return partition_name(disk, n), disk
    return key, key


# ---------------------------------------------------------------------------
# the registry file
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _registry(root: str, write: bool):
    """Yield the claims dict under the lock; stored back when ``write``."""
    if _in_memory(root):
        with _MEMORY_LOCK:
            yield _MEMORY
        return
    path = os.path.join(root, REGISTRY)
    lock = os.path.join(root, LOCK)
    if not write and not os.path.exists(path):
        yield {}
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with open(path) as handle:
                claims = json.load(handle).get("claims", {})
        except FileNotFoundError:
            claims = {}
        yield claims
        if write:
            tmp = "%s.tmp%d.%d" % (path, os.getpid(), threading.get_ident())
            with open(tmp, "w") as handle:
                json.dump({"claims": claims}, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
    finally:
        os.close(fd)


def _conflict(claims: dict, key: str, disk: str, holder: str):
    for other_key, rec in claims.items():
        if rec["holder"] == holder:
            continue
        if other_key == key:
            return rec["holder"]
        if key == disk and rec["disk"] == key:
            return rec["holder"]  # a partition of this whole disk is held
        if other_key == rec["disk"] and other_key == disk:
            return rec["holder"]  # this partition's whole disk is held
    return None


def _busy(path: str) -> OSError:
    return OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)


def claim(root, path: str, holder: str, part: int | None = None) -> str:
    """Claim ``path`` (or its partition ``part``) for ``holder``; return the key. OSError(EBUSY) if held."""
    root = _root(root)
    key, disk = device(root, path, part)
    with _registry(root, write=True) as claims:
        if _conflict(claims, key, disk, holder) is not None:
            raise _busy(path)
        claims[key] = {"holder": holder, "disk": disk}
    return key


def conflict(root, path: str, holder: str, part: int | None = None):
    """The other holder a claim of ``path`` by ``holder`` would collide with, or None (claims nothing)."""
    root = _root(root)
    key, disk = device(root, path, part)
    with _registry(root, write=False) as claims:
        return _conflict(claims, key, disk, holder)


def release(root, key: str, holder: str) -> bool:
    """Drop ``holder``'s claim of ``key`` (as claim() returned it); False if it held nothing there."""
    root = _root(root)
    with _registry(root, write=True) as claims:
        rec = claims.get(key)
        if rec is None or rec["holder"] != holder:
            return False
        del claims[key]
        return True


def release_holders(root, keep=None, prefix: str = "") -> list:
    """Drop every claim whose holder starts with ``prefix`` and whose (key, holder) is not in ``keep``."""
    root = _root(root)
    keep = set(keep or ())
    if not _in_memory(root) and not os.path.exists(os.path.join(root, REGISTRY)):
        return []
    dropped = []
    with _registry(root, write=True) as claims:
        for key, rec in list(claims.items()):
            if rec["holder"].startswith(prefix) and (key, rec["holder"]) not in keep:
                del claims[key]
                dropped.append((key, rec["holder"]))
    return dropped


def holders(root) -> dict:
    """``{key: holder}`` of every claim on the host."""
    with _registry(_root(root), write=False) as claims:
        return {key: rec["holder"] for key, rec in sorted(claims.items())}


def clear(root) -> None:
    """The host crashed or rebooted: its claims are gone."""
    release_holders(root)
