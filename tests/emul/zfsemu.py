"""A ``zpool``/``zfs``/``zgenhostid`` stand-in for emulated hosts (OpenZFS 2.3.2 output).

``install(root)`` writes executable scripts into ``<root>/sbin/`` that run
``python -m tests.emul.zfsemu --root <root> <tool> <args...>``. Every call is a
separate process; nothing is kept in memory between calls.

State
-----
- ``<root>/var/lib/zfsemu/state.json`` (per host): the pools imported on this
  host, whole (vdev tree, properties, datasets, snapshots, holds, scan).
- ``<dirname(root)>/.zfsemu-labels.json`` (shared by the hosts of one test,
  which live side by side in one directory): the "on-disk labels". ``disks``
  is keyed by the real path of each backing file (``os.path.realpath`` of what
  the device path resolves to) and records pool name, pool guid, vdev guid,
  hostid/hostname/root of the last importer and the label state (``active``,
  ``exported``, ``destroyed``). A disk listed there as active or exported is
  "in use". ``pools`` (keyed by pool guid) holds the pool's configuration
  and datasets as written to the disks: kept current on every change, it is
  what another host's ``zpool import`` reads.
- Both files are read and written under one ``fcntl`` lock
  (``<dirname(root)>/.zfsemu.lock``). ``zfs send`` builds its stream under the
  lock and writes it after releasing it, ``zfs recv`` reads its stream before
  taking it, so ``zfs send | zfs recv`` between two hosts cannot deadlock.
- ``ZFSEMU_TIME`` (epoch seconds) in the environment fixes the clock.

Device paths
------------
Paths given to zpool are host-absolute (``/dev/disk/by-id/x``). They are
resolved inside the host root: a relative symlink target (``../../sdb``) is
relative to the link's directory, an absolute one is host-absolute (root
prefixed) unless it lies in the tests' shared directory (``dirname(root)``):
the SRP emulator points ``/dev/sdX`` at the peer's backing file by its real
path, and such a target is taken as it is. Nothing outside that directory is
ever opened. A device can be opened when ``os.open(path, O_RDONLY)`` works on
what it resolves to and that is not a directory (the SRP emulator's
transport-offline socket gives ENXIO). Whole disks get a partition like ZFS
partitions them (``/dev/sda`` -> ``/dev/sda1``, by-id names ``-part1``, names
ending in a digit ``p1``), except ``/dev/loop*`` which the captures show
unpartitioned (zfs/zpool_status_P.txt). Without ``-P`` vdevs are named by the
basename of the given path (zfs/zpool_status_online.txt).

Device health model
-------------------
Real ZFS notices a lost device when it does I/O to it, not when ``zpool
status`` looks: zfs/zpool_status_srp_gone.txt and zpool_status_x_srp_gone.txt
show the pool ONLINE and "all pools are healthy" right after the SRP path to
the peer went away. So ``zpool status``/``list``/``get`` only report; all
leaf paths are probed by ``zpool scrub``, ``zpool reopen`` and every write
(``zfs snapshot``/``create``/``destroy``/``set``/``inherit``/``rollback``/
``recv``/``hold``/``release``, ``zpool set``); ``zpool import`` looks for
every leaf's disk; ``zpool online``/``clear`` check the leaves they name.
A probe turns an ONLINE leaf that cannot be opened -- or that opens a disk
without this vdev's label (vdev_validate) -- into ``REMOVED``, its mirror
and the pool ``DEGRADED``; status then prints zpool_main.c's REMOVED_DEV
status/action ("One or more devices have been removed.", "Online the device
using zpool online' ...", the missing quote is ZFS's), laid out like
zfs/zpool_status_degraded_offline.txt. ``zpool online`` (or ``reopen``,
``clear``) of a REMOVED/UNAVAIL/OFFLINE leaf whose path opens again makes it
ONLINE and starts a resilver: the next status call shows ``resilver in
progress since ...`` (print_scan_status wording, 50% done) with the leaf
``(resilvering)`` and the RESILVERING status lines, the call after that
``resilvered 72K in 00:00:00 with 0 errors on ...``
(zfs/zpool_status_after_resilver.txt). ``zpool online`` of a leaf that still
cannot be opened prints ZFS's "onlined, but remains in faulted state"
warning (exit 0) and leaves it as it is. Leaves not found at import are
``UNAVAIL`` ("cannot open"; status "One or more devices could not be
opened", ZFS-8000-2Q; JSON state CANT_OPEN, aux OPEN_FAILED). Scrubs
complete at once (``scrub repaired 0B in 00:00:00 with 0 errors``);
``zpool scrub -w``, ``attach -w``, ``replace -w``, ``zpool wait`` and
``export`` finish a running resilver. ``replace`` swaps the leaf at once
(no ``replacing-0`` vdev). Pool state: a mirror is DEGRADED with at least
one ONLINE leaf, UNAVAIL with none; the pool takes the worst top-level
state. Status reason order follows libzfs_status.c: resilvering, missing,
offline, removed.

Sizes
-----
A leaf is its file's size (minus 10 MiB when partitioned); a top-level vdev
gets ``min(leaf) - 4.5 MiB`` rounded down to 16 MiB metaslabs, which gives
the captured 251658240 for both 256M and 246M leaves. Dataset space: 96K per
filesystem (``zfs_list_all.txt``), 56K per volume (plus its refreservation
unless sparse), 336K pool metadata at the root, pool ``allocated`` = 1.5 x
root ``used``, ``available`` = size - slop (min(max(size/32, 128M), size/2))
- root used; so a pool with one filesystem lists exactly like
zfs/zpool_list_Hp.txt and zfs_list_all.txt.

Zvols (``zfs create -V``) get ``/dev/zdN`` (a regular file under the host's
``/dev``, i.e. a block device for the SCST emulator) and a relative
``/dev/zvol/<name>`` link; on export or ``crash`` the file moves to
``<dirname(root)>/.zfsemu-zvols/`` and back under the importer's ``/dev``.
Streams carry no zvol contents (a received volume starts zeroed).

Multihost
---------
``zpool import`` of a pool whose labels say active on another hostid:
multihost=on and the other host alive -> refused even with ``-f`` ("pool is
imported on host ..."); multihost=off -> refused without ``-f`` ("pool was
previously in use from another system"). ``crash(root)`` models a host dying
(its imports vanish, its labels stay active with its hostid, its exclusive
claims go): then ``-f`` imports a multihost pool on the other host (the
activity check sees no MMP writes).
multihost=on needs a hostid (``<root>/etc/hostid``): create refuses with
libzfs' "requires a non-zero system hostid", import with the wording of
zfs-json/zpool_import_no_hostid.txt.

Exclusive holders
-----------------
ZFS opens its leaves exclusively (FMODE_EXCL), and so does SCST's
vdisk_blockio: both use the host's holder registry (holders.py, keyed by the
device on that host: an initiator's SRP ``/dev/sdX`` is not the peer's disk).
A pool imported here holds its ONLINE leaves as ``zfs:<pool>`` -- a whole disk
by the partition ZFS made on it (``part=1``), a loop device itself -- from
create, import, attach, replace and online/reopen/clear of a leaf until the
leaf stops being ONLINE (offline, removed, detached, replaced) or the pool is
exported or destroyed; ``crash`` drops every claim of the host. A device
another holder has (scst-3.11-pre-linux-6.1-zfs/exclusive-holders.txt):

- ``zpool create``/``attach``/``replace`` on an unpartitioned device (loop):
  zero_label()'s ``cannot open '<path>': Device or resource busy`` goes to
  stderr and the kernel refuses with EBUSY: ``cannot create '<pool>': one or
  more vdevs refer to the same device, or one of`` / ``the devices is part of
  an active md or lvm device`` (two lines, captured), ``cannot attach <new>
  to <old>: <new> is busy`` / ``cannot replace <old> with <new>: <new> is
  busy`` (libzfs
  zpool_vdev_attach(), not captured); a missing hostid for multihost=on is
  reported after the zero_label() lines, as captured;
- on a whole disk (partitioned): check_disk()'s exclusive open fails first:
  ``<path> is in use and contains a unknown filesystem.`` (as for a disk of a
  pool imported here, zfs/zpool_create_inuse.txt);
- ``zpool import``: the held leaf cannot be opened: ``UNAVAIL`` like a missing
  one (a mirror imports DEGRADED); with no replica left the try-import fails
  and the pool is not offered: ``cannot import '<pool>': no such pool
  available`` (captured, case E); ``zpool online``/``reopen``/``clear`` of a
  held leaf: it remains faulted.
``zpool create -f`` on a disk of a pool imported here is refused under "the
following errors must be manually repaired:" (check_file_generic(): an ACTIVE
pool cannot be forced; role-aware-switchover.txt).

``zfs send`` writes ``MAGIC`` followed by a JSON payload (snapshot, guids,
properties, dataset contents as kept here); ``zfs recv`` refuses anything
else with "invalid stream (bad magic number)". ``zstream dump`` is provided
too (``Total DRR_BEGIN/DRR_END records`` lines).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getopt
import json
import os
import random
import re
import shutil
import stat
import sys
import time

from tests.emul import holders

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAGIC = b"ZFSEMU-SEND-STREAM\x00v1\n"
VERSION = ("zfs-2.3.2-2~bpo12+2", "zfs-kmod-2.3.2-2~bpo12+2")
TOOLS = ("zpool", "zfs", "zgenhostid", "zstream", "zdb")
# The zfs module's kstat tree, and the entries the module keeps there whatever the pools: files, never a
# pool's directory (tests/golden/realkernel-probes/kstat-pools.txt).
KSTAT_ZFS = "/proc/spl/kstat/zfs"
KSTAT_MODULE_FILES = (
    "abdstats arcstats brtstats chksum_bench dbgmsg dbufs dbufstats dmu_tx dnodestats fletcher_4_bench fm "
    "import_progress metaslab_stats simd vdev_mirror_stats vdev_raidz_bench zfetchstats zil zio_stats zstd"
).split()
MIB = 1 << 20
MINDEVSIZE = 64 * MIB
LABEL_OVERHEAD = 12058624  # phys 268435456 -> rep_dev_size 256376832 (zfs-json/zpool_status_j_degraded.json)
# vdev labels + boot area (4 MiB + 512 KiB): 256M and 246M leaves both give 15 16-MiB metaslabs = 240M
# (zfs/zpool_list_Hp.txt, zfs-json/zpool_status_j.json)
LABEL_SIZE = 4718592
FS_REFER = 98304  # zfs/zfs_list_all.txt
VOL_REFER = 57344
POOL_META = 344064  # root used 540672 = 2 x 98304 + this (zfs/zfs_list_all.txt)
RESILVER_BYTES = 73728  # "resilvered 72K" in the captures
RESILVER_CALLS = 1  # status calls that see a resilver in progress
HOLDER_PREFIX = "zfs:"  # holder name of a pool's exclusive claims (holders.py)
EBUSY_CREATE = (
    "cannot %s '%s': one or more vdevs refer to the same device, or one of\n"
    "the devices is part of an active md or lvm device"
)

# The emulator is a few thousand lines of Python compiled at every call unless its bytecode is kept:
# Salt's test daemons run with PYTHONDONTWRITEBYTECODE=1, which would make each zpool call cost
# ~60 ms more than the real tool's whole run. The bytecode goes next to the hosts (PYCACHE_DIR).
SCRIPT = """#!/bin/sh
PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX={pycache} \\
PYTHONPATH={repo}${{PYTHONPATH:+:$PYTHONPATH}} exec {python} -m {runner} --root {root} {tool} "$@"
"""
PYCACHE_DIR = ".pycache"


def script(root, tool, runner="tests.emul.zfsemu"):
    """The wrapper ``<root>/sbin/<tool>`` runs: ``runner`` (a module with this one's ``main``) for host ``root``."""
    pycache = os.path.join(os.path.dirname(root), PYCACHE_DIR)
    quoted = {
        k: _sh(v) for k, v in {"repo": REPO_ROOT, "python": sys.executable, "root": root, "pycache": pycache}.items()
    }
    return SCRIPT.format(runner=runner, tool=tool, **quoted)


BLKID_SCRIPT = """#!{python}
# blkid of an emulated host: a disk with an emulated ZFS label answers as the
# real blkid does for it (zfsemu.blkid_label); anything else goes to the real
# blkid, with device paths resolved in the host's root.
import os, shutil, sys
sys.path.insert(0, {repo!r})
root = {root!r}
from tests.emul import zfsemu
answer = zfsemu.blkid_label(root, sys.argv[1:])
if answer is not None:
    sys.stdout.write(answer)
    sys.exit(0)
args = [root + a if a.startswith("/") else a for a in sys.argv[1:]]
real = shutil.which("blkid", path="/sbin:/usr/sbin:/bin:/usr/bin")
os.execv(real, [real] + args)
"""


def install(root) -> dict:
    """Write ``<root>/sbin/{zpool,zfs,zgenhostid,zstream,zdb,blkid}`` and the zfs module's kstat tree
    (the module is loaded: its statistics' files, no pool); return ``{tool: path}``."""
    root = os.path.abspath(str(root))
    kstat = os.path.join(root, KSTAT_ZFS.lstrip("/"))
    os.makedirs(kstat, exist_ok=True)
    for name in KSTAT_MODULE_FILES:
        open(os.path.join(kstat, name), "a").close()
    sbin = os.path.join(root, "sbin")
    os.makedirs(sbin, exist_ok=True)
    paths = {}
    for tool in TOOLS:
        path = os.path.join(sbin, tool)
        with open(path, "w") as handle:
            handle.write(script(root, tool))
        os.chmod(path, 0o755)
        paths[tool] = path
    path = os.path.join(sbin, "blkid")
    with open(path, "w") as handle:
        handle.write(BLKID_SCRIPT.format(python=sys.executable, root=root, repo=str(REPO_ROOT)))
    os.chmod(path, 0o755)
    paths["blkid"] = path
    return paths


def _sh(text):
    return "'" + str(text).replace("'", "'\\''") + "'"


class ZError(Exception):
    def __init__(self, message, code=1):
        super().__init__(message)
        self.message = message
        self.code = code


def _now():
    fixed = os.environ.get("ZFSEMU_TIME")
    return int(fixed) if fixed else int(time.time())


def _guid():
    return random.getrandbits(64) or 1


def ctime(epoch):
    """``Tue Nov 24 12:18:47 2026`` (ctime(3), the day space-padded)."""
    t = time.localtime(epoch)
    return time.strftime("%a %b ", t) + "%2d" % t.tm_mday + time.strftime(" %H:%M:%S %Y", t)


def nicenum(num, unit="B"):
    """zfs_nicenum_format(): ``0B``, ``72K``, ``1.23G``, ``240M`` (unit "" for plain counts)."""
    units = [unit, "K", "M", "G", "T", "P", "E"]
    num = int(num)
    n, index = num, 0
    while n >= 1024 and index < 6:
        n //= 1024
        index += 1
    if index == 0 or num % (1024**index) == 0:
        return "%d%s" % (n, units[index])
    for prec in (2, 1, 0):
        text = "%.*f%s" % (prec, num / (1024**index), units[index])
        if len(text) <= 5:
            break
    return text


def parse_size(text):
    text = str(text).strip()
    mult = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
    upper = text.upper()
    if upper.endswith("B") and len(upper) > 1 and upper[-2] in "KMGTPE":
        upper = upper[:-1]
    num, suffix = upper, ""
    if upper and upper[-1] in mult and upper[-1] != "":
        num, suffix = upper[:-1], upper[-1]
    try:
        return int(float(num) * mult[suffix])
    except ValueError:
        raise ZError("bad numeric value '%s'" % text) from None


# --------------------------------------------------------------------------
# host: root, paths, state
# --------------------------------------------------------------------------


class Host:
    def __init__(self, root):
        self.root = os.path.abspath(str(root))
        self.base = os.path.dirname(self.root)
        self.state_dir = os.path.join(self.root, "var", "lib", "zfsemu")
        self.state_path = os.path.join(self.state_dir, "state.json")
        self.labels_path = os.path.join(self.base, ".zfsemu-labels.json")
        self.lock_path = os.path.join(self.base, ".zfsemu.lock")
        self.state = None
        self.labels = None

    # ---- locking and persistence ------------------------------------
    @contextlib.contextmanager
    def locked(self):
        os.makedirs(self.state_dir, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.state = _load(self.state_path, {"pools": {}})
            self.labels = _load(self.labels_path, {"disks": {}, "pools": {}})
            yield self
        finally:
            os.close(fd)

    def save(self):
        for pool in self.state["pools"].values():
            self.labels["pools"][str(pool["guid"])] = pool
        _store(self.state_path, self.state)
        _store(self.labels_path, self.labels)
        self.save_kstat()

    def save_kstat(self):
        """
        ``<root>/proc/spl/kstat/zfs/<pool>/state`` for each pool imported here, none for any other:
        the zfs module keeps a directory per imported pool in its kstat tree, from import to export
        (tests/golden/realkernel-probes/kstat-pools.txt), with the pool's state word in ``state``.
        Written on each change this emulator saves; the kernel rewrites the word itself when a
        device fails, here it is the state as of the last saved change.
        """
        base = self.hp(KSTAT_ZFS)
        os.makedirs(base, exist_ok=True)
        for name in os.listdir(base):
            path = os.path.join(base, name)
            if name not in self.state["pools"] and os.path.isdir(path):
                shutil.rmtree(path)
        for name, pool in self.state["pools"].items():
            os.makedirs(os.path.join(base, name), exist_ok=True)
            with open(os.path.join(base, name, "state"), "w") as handle:
                handle.write(pool_state(pool) + "\n")

    # ---- identity ---------------------------------------------------
    def hostid(self):
        try:
            with open(self.hp("/etc/hostid"), "rb") as handle:
                data = handle.read(4)
        except OSError:
            return 0
        return int.from_bytes(data, "little") if len(data) == 4 else 0

    def hostname(self):
        try:
            with open(self.hp("/etc/hostname")) as handle:
                name = handle.read().strip()
                if name:
                    return name
        except OSError:
            pass
        return os.path.basename(self.root)

    # ---- paths -------------------------------------------------------
    def hp(self, path):
        """Where a host-absolute path lives on this machine (no symlink resolution)."""
        return os.path.join(self.root, path.lstrip("/"))

    def resolve(self, path, hops=40):
        """Real path ``path`` of this host lands on, following symlinks inside the root (see module doc)."""
        parts = [p for p in path.split("/") if p not in ("", ".")]
        cur = self.root
        while parts:
            part = parts.pop(0)
            if part == "..":
                if cur != self.root:
                    cur = os.path.dirname(cur)
                continue
            nxt = os.path.join(cur, part)
            if os.path.islink(nxt):
                hops -= 1
                if hops < 0:
                    return None
                target = os.readlink(nxt)
                if target.startswith("/"):
                    if target.startswith(self.base + os.sep) and not target.startswith(self.root + os.sep):
                        return os.path.realpath(os.path.join(target, *parts))
                    if target.startswith(self.root + os.sep):
                        target = target[len(self.root) :]
                    cur = self.root
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            cur = nxt
        return cur

    def exists(self, path):
        real = self.resolve(path)
        return real is not None and os.path.exists(real)

    def can_open(self, path):
        """(ok, errno): os.open(O_RDONLY) of what the device path resolves to."""
        real = self.resolve(path)
        if real is None:
            return False, errno.ELOOP
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            return False, exc.errno
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                return False, errno.EISDIR
        finally:
            os.close(fd)
        return True, 0

    def key(self, path):
        """The label registry key of a device: real path of its backing file."""
        real = self.resolve(path)
        return os.path.realpath(real) if real else None

    def size(self, path):
        real = self.resolve(path)
        with open(real, "rb") as handle:
            return handle.seek(0, os.SEEK_END)

    def dev_entries(self, dirs=None):
        """Host paths under the search dirs (``zpool import -d``), in ZFS's default order."""
        dirs = dirs or [
            "/dev/disk/by-vdev",
            "/dev/mapper",
            "/dev/disk/by-partlabel",
            "/dev/disk/by-partuuid",
            "/dev/disk/by-label",
            "/dev/disk/by-uuid",
            "/dev/disk/by-id",
            "/dev/disk/by-path",
            "/dev",
        ]
        seen = []
        for d in dirs:
            real_dir = self.hp(d)
            try:
                names = sorted(os.listdir(real_dir))
            except OSError:
                continue
            for name in names:
                hpath = d.rstrip("/") + "/" + name
                full = os.path.join(real_dir, name)
                if os.path.isdir(full) and not os.path.islink(full):
                    continue
                seen.append(hpath)
        return seen


def _load(path, default):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def _store(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# vdevs
# --------------------------------------------------------------------------


def partitioned(path):
    """The partition ZFS makes on a whole disk (zpool_vdev.c zfs_append_partition)."""
    base = os.path.basename(path)
    if base.startswith("loop"):
        return path
    if "/disk/by-" in path:
        return path + "-part1"
    if base[-1:].isdigit():
        return path + "p1"
    return path + "1"


def short_name(leaf):
    return os.path.basename(leaf["dev"])


def leaves(pool):
    for top in pool["vdevs"]:
        if top["type"] == "mirror":
            yield from top["children"]
        else:
            yield top


def top_state(top):
    if top["type"] != "mirror":
        return top["state"]
    states = [c["state"] for c in top["children"]]
    if all(s == "ONLINE" for s in states):
        return "ONLINE"
    if any(s == "ONLINE" for s in states):
        return "DEGRADED"
    return "UNAVAIL"


def pool_state(pool):
    states = [top_state(t) for t in pool["vdevs"]]
    if any(s != "ONLINE" and s != "DEGRADED" for s in states):
        return "UNAVAIL"
    if any(s == "DEGRADED" for s in states):
        return "DEGRADED"
    return "ONLINE"


def find_leaf(pool, name, host=None):
    key = host.key(name) if host is not None and name.startswith("/") else None
    for leaf in leaves(pool):
        names = {leaf["dev"], leaf["path"], short_name(leaf), os.path.basename(leaf["path"]), str(leaf["guid"])}
        if name in names:
            return leaf
    if key:
        for leaf in leaves(pool):
            if leaf.get("key") == key and os.path.exists(key):
                return leaf
    return None


def parent_of(pool, leaf):
    for top in pool["vdevs"]:
        if top is leaf:
            return None
        if top["type"] == "mirror" and any(c is leaf for c in top["children"]):
            return top
    return None


def pool_size(pool):
    total = 0
    for top in pool["vdevs"]:
        sizes = [c["size"] for c in top["children"]] if top["type"] == "mirror" else [top["size"]]
        usable = min(sizes) - LABEL_SIZE
        unit = 16 * MIB if usable >= 16 * MIB else MIB
        total += max(usable // unit * unit, 0)
    return total


# --------------------------------------------------------------------------
# space
# --------------------------------------------------------------------------


def children_of(pool, name):
    prefix = name + "/"
    found = [d for n, d in pool["datasets"].items() if n.startswith(prefix) and "@" not in n]
    return sorted((d for d in found if "/" not in d["name"][len(prefix) :]), key=lambda d: d["name"])


def snapshots_of(pool, name):
    snaps = [d for n, d in pool["datasets"].items() if n.startswith(name + "@")]
    return sorted(snaps, key=lambda d: d["createtxg"])


def ds_refer(ds):
    if ds["type"] == "volume":
        return VOL_REFER
    return FS_REFER


def ds_used(pool, ds):
    if ds["type"] == "snapshot":
        return 0
    used = ds_refer(ds)
    if ds["type"] == "volume" and not ds.get("sparse"):
        used = max(used, int(ds["props"].get("refreservation", 0)))
    used += sum(ds_used(pool, c) for c in children_of(pool, ds["name"]))
    if "/" not in ds["name"]:
        used += POOL_META
    return used


def slop(size):
    return min(max(size >> 5, 128 * MIB), size // 2)


def pool_alloc(pool):
    root = pool["datasets"].get(pool["name"])
    return ds_used(pool, root) * 3 // 2 if root else 0


def pool_avail(pool):
    root = pool["datasets"].get(pool["name"])
    return max(pool_size(pool) - slop(pool_size(pool)) - (ds_used(pool, root) if root else 0), 0)


# --------------------------------------------------------------------------
# zpool status
# --------------------------------------------------------------------------

STATUS_TEXT = {
    "missing": (
        "One or more devices could not be opened.  Sufficient replicas exist for\n"
        "\tthe pool to continue functioning in a degraded state.\n",
        "Attach the missing device and online it using 'zpool online'.\n",
        "ZFS-8000-2Q",
    ),
    "resilvering": (
        "One or more devices is currently being resilvered.  The pool will\n"
        "\tcontinue to function, possibly in a degraded state.\n",
        "Wait for the resilver to complete.\n",
        None,
    ),
    "offline": (
        "One or more devices has been taken offline by the administrator.\n"
        "\tSufficient replicas exist for the pool to continue functioning in a\n\tdegraded state.\n",
        "Online the device using 'zpool online' or replace the device with\n\t'zpool replace'.\n",
        None,
    ),
    "removed": (
        "One or more devices have been removed.\n"
        "\tSufficient replicas exist for the pool to continue functioning in a\n\tdegraded state.\n",
        "Online the device using zpool online' or replace the device with\n\t'zpool replace'.\n",
        None,
    ),
}


def pool_status_reason(pool):
    """libzfs_status.c check_status() order: resilvering, missing (replicated), offline, removed."""
    states = [leaf["state"] for leaf in leaves(pool)]
    scan = pool.get("scan")
    if scan and scan["function"] == "resilver" and scan["state"] == "scanning":
        return "resilvering"
    if "UNAVAIL" in states:
        return "missing"
    if "OFFLINE" in states:
        return "offline"
    if "REMOVED" in states:
        return "removed"
    return None


def secs_to_dhms(secs):
    days, rest = divmod(int(secs), 86400)
    text = "%02d:%02d:%02d" % (rest // 3600, rest // 60 % 60, rest % 60)
    return ("%d days " % days + text) if days else text


def scan_text(pool, parsable=False):
    """The ``scan:`` block (zpool_main.c print_scan_status)."""
    scan = pool.get("scan")
    if not scan:
        return None
    resilver = scan["function"] == "resilver"
    processed = scan["bytes"] if resilver else 0
    if scan["state"] == "scanning":
        total = max(pool_alloc(pool), 2)
        half = total // 2
        head = "%s in progress since %s" % (scan["function"], ctime(scan["start"]))
        return (
            "%s\n\t%s / %s scanned at %s/s, %s / %s issued at %s/s\n\t%s %s, 50.00%% done, no estimated completion time"
            % (
                head,
                nicenum(total),
                nicenum(total),
                nicenum(total),
                nicenum(half),
                nicenum(total),
                nicenum(half),
                nicenum(processed // 2),
                "resilvered" if resilver else "repaired",
            )
        )
    span = secs_to_dhms(max(scan["end"] - scan["start"], 0))
    if resilver:
        return "resilvered %s in %s with 0 errors on %s" % (nicenum(processed), span, ctime(scan["end"]))
    return "scrub repaired %s in %s with 0 errors on %s" % (nicenum(0), span, ctime(scan["end"]))


def vdev_rows(pool, full_paths):
    """(indent, name, state, note, node) rows of the config tree."""
    rows = [(0, pool["name"], pool_state(pool), "", None)]
    for top in pool["vdevs"]:
        if top["type"] == "mirror":
            rows.append((2, "mirror-%d" % top["id"], top_state(top), "", top))
            for leaf in top["children"]:
                rows.append((4,) + leaf_row(pool, leaf, full_paths))
        else:
            rows.append((2,) + leaf_row(pool, top, full_paths))
    return rows


def leaf_row(pool, leaf, full_paths):
    name = leaf["path"] if full_paths else short_name(leaf)
    note = ""
    scan = pool.get("scan")
    if leaf["state"] == "UNAVAIL":
        note = "  cannot open"
    elif leaf.get("resilvering") and scan and scan["state"] == "scanning":
        note = "  (resilvering)"
    return name, leaf["state"], note, leaf


def status_text(pool, full_paths, parsable=False):
    out = ["  pool: %s" % pool["name"], " state: %s" % pool_state(pool)]
    reason = pool_status_reason(pool)
    if reason:
        status, action, msgid = STATUS_TEXT[reason]
        out.append("status: " + status.rstrip("\n"))
        out.append("action: " + action.rstrip("\n"))
        if msgid:
            out.append("   see: https://openzfs.github.io/openzfs-docs/msg/%s" % msgid)
    scan = scan_text(pool, parsable)
    if scan:
        out.append("  scan: " + scan)
    out.append("config:")
    out.append("")
    rows = vdev_rows(pool, full_paths)
    width = max([10] + [indent + len(name) for indent, name, _, _, _ in rows])
    out.append("\t%-*s  %-8s %5s %5s %5s" % (width, "NAME", "STATE", "READ", "WRITE", "CKSUM"))
    for indent, name, state, note, _ in rows:
        line = "\t%s%s%s  %-8s %5s %5s %5s" % (" " * indent, name, " " * (width - indent - len(name)), state, 0, 0, 0)
        out.append(line + note)
    out.append("")
    out.append("errors: No known data errors")
    return "\n".join(out) + "\n"


def pool_healthy(pool):
    return pool_state(pool) == "ONLINE" and pool_status_reason(pool) in (None,)


def _jnum(value, as_int, nice=False):
    if as_int:
        return value
    return nicenum(value) if nice else str(value)


def status_json(pool, full_paths, as_int):
    n = lambda v, nice=False: _jnum(v, as_int, nice)  # noqa: E731
    size = pool_size(pool)
    alloc = pool_alloc(pool)
    entry = {
        "name": pool["name"],
        "state": pool_state(pool),
        "pool_guid": n(pool["guid"]),
        "txg": n(pool["txg"]),
        "spa_version": n(5000),
        "zpl_version": n(5),
    }
    reason = pool_status_reason(pool)
    if reason:
        status, action, msgid = STATUS_TEXT[reason]
        entry["status"] = status
        entry["action"] = action
        if msgid:
            entry["msgid"] = msgid
            entry["moreinfo"] = "https://openzfs.github.io/openzfs-docs/msg/%s" % msgid
    scan = pool.get("scan")
    if scan:
        done = scan["bytes"] if scan["function"] == "resilver" else 0
        entry["scan_stats"] = {
            "function": scan["function"].upper(),
            "state": "SCANNING" if scan["state"] == "scanning" else "FINISHED",
            "start_time": n(scan["start"]),
            "end_time": n(scan["end"] if scan["state"] != "scanning" else 0),
            "to_examine": n(alloc, True),
            "examined": n(alloc, True),
            "skipped": n(0, True),
            "processed": n(done, True),
            "errors": n(0),
            "bytes_per_scan": n(0, True),
            "pass_start": n(scan["start"]),
            "scrub_pause": n(0),
            "scrub_spent_paused": n(0),
            "issued_bytes_per_scan": n(alloc, True),
            "issued": n(alloc, True),
        }
    root = {
        "name": pool["name"],
        "vdev_type": "root",
        "guid": n(pool["guid"]),
        "class": "normal",
        "state": pool_state(pool),
        "alloc_space": n(alloc, True),
        "total_space": n(size, True),
        "def_space": n(size, True),
        "read_errors": n(0),
        "write_errors": n(0),
        "checksum_errors": n(0),
        "vdevs": {},
    }
    scanning = bool(scan and scan["state"] == "scanning")
    for top in pool["vdevs"]:
        if top["type"] == "mirror":
            name = "mirror-%d" % top["id"]
            tsize = min(c["size"] for c in top["children"]) - LABEL_OVERHEAD
            node = {
                "name": name,
                "vdev_type": "mirror",
                "guid": n(top["guid"]),
                "class": "normal",
                "state": top_state(top),
                "alloc_space": n(alloc, True),
                "total_space": n(size, True),
                "def_space": n(size, True),
                "rep_dev_size": n(pool_size({"vdevs": [top]}), True),
                "read_errors": n(0),
                "write_errors": n(0),
                "checksum_errors": n(0),
            }
            if scanning and any(c.get("resilvering") for c in top["children"]):
                node["scan_processed"] = n(scan["bytes"], True)
            node["vdevs"] = {}
            for leaf in top["children"]:
                lname, lnode = leaf_json(leaf, full_paths, n, scanning, scan, tsize)
                node["vdevs"][lname] = lnode
            root["vdevs"][name] = node
        else:
            lname, lnode = leaf_json(top, full_paths, n, scanning, scan, top["size"] - LABEL_OVERHEAD)
            root["vdevs"][lname] = lnode
    entry["vdevs"] = {pool["name"]: root}
    entry["error_count"] = n(0)
    return entry


def leaf_json(leaf, full_paths, n, scanning, scan, rep_size):
    name = leaf["path"] if full_paths else short_name(leaf)
    state = leaf["state"]
    node = {"name": name, "vdev_type": "disk", "guid": n(leaf["guid"]), "path": leaf["path"], "class": "normal"}
    if state == "UNAVAIL":
        node["state"] = "CANT_OPEN"
        node["aux"] = "OPEN_FAILED"
    else:
        node["state"] = state
    node["rep_dev_size"] = n(rep_size, True)
    node["phys_space"] = n(leaf["size"], True)
    node["read_errors"] = n(0)
    node["write_errors"] = n(0)
    node["checksum_errors"] = n(0)
    if scanning and leaf.get("resilvering"):
        node["scan_processed"] = n(scan["bytes"], True)
    node["slow_ios"] = n(0)
    return name, node


def _output_version(command):
    return {"command": command, "vers_major": 0, "vers_minor": 1}


# --------------------------------------------------------------------------
# pool properties
# --------------------------------------------------------------------------

POOL_DEFAULTS = {
    "altroot": "-",
    "version": "-",
    "bootfs": "-",
    "delegation": "on",
    "autoreplace": "off",
    "cachefile": "-",
    "failmode": "wait",
    "listsnapshots": "off",
    "autoexpand": "off",
    "ashift": "0",
    "comment": "-",
    "multihost": "off",
    "autotrim": "off",
    "compatibility": "off",
    "dedup_table_quota": "auto",
}
POOL_CREATE_ONLY = {"ashift", "altroot"}
FEATURES = (
    "async_destroy:enabled empty_bpobj:active lz4_compress:active multi_vdev_crash_dump:enabled "
    "spacemap_histogram:active enabled_txg:active hole_birth:active extensible_dataset:active "
    "embedded_data:active bookmarks:enabled filesystem_limits:enabled large_blocks:enabled "
    "large_dnode:enabled sha512:enabled skein:enabled edonr:enabled userobj_accounting:active "
    "encryption:enabled project_quota:active device_removal:enabled obsolete_counts:enabled "
    "zpool_checkpoint:enabled spacemap_v2:active allocation_classes:enabled resilver_defer:enabled "
    "bookmark_v2:enabled redaction_bookmarks:enabled redacted_datasets:enabled bookmark_written:enabled "
    "log_spacemap:active livelist:enabled device_rebuild:enabled zstd_compress:enabled draid:enabled "
    "zilsaxattr:enabled head_errlog:active blake3:enabled block_cloning:enabled vdev_zaps_v2:active "
    "redaction_list_spill:enabled raidz_expansion:enabled fast_dedup:enabled longname:enabled "
    "large_microzap:enabled"
).split()
POOL_ALIASES = {"alloc": "allocated", "cap": "capacity", "dedup": "dedupratio", "expandsz": "expandsize"}
POOL_ALIASES.update({"frag": "fragmentation", "ckpoint": "checkpoint", "rdonly": "readonly"})


def pool_props(pool):
    """[(name, parsable value, human value, source)] in ``zpool get all`` order (zfs/zpool_get_all.txt)."""
    size, alloc = pool_size(pool), pool_alloc(pool)
    local = pool["props"]

    def prop(name):
        if name in local:
            return local[name], "local"
        return POOL_DEFAULTS[name], "default"

    rows = []

    def add(name, value, human=None, source="-"):
        rows.append((name, str(value), str(human if human is not None else value), source))

    cap = alloc * 100 // size if size else 0
    add("size", size, nicenum(size))
    add("capacity", cap, "%d%%" % cap)
    add("altroot", *_dup(prop("altroot")))
    add("health", pool_state(pool))
    add("guid", pool["guid"])
    for name in ("version", "bootfs", "delegation", "autoreplace", "cachefile", "failmode", "listsnapshots"):
        add(name, *_dup(prop(name)))
    add("autoexpand", *_dup(prop("autoexpand")))
    add("dedupratio", "1.00", "1.00x")
    add("free", size - alloc, nicenum(size - alloc))
    add("allocated", alloc, nicenum(alloc))
    add("readonly", "off")
    add("ashift", *_dup(prop("ashift")))
    add("comment", *_dup(prop("comment")))
    add("expandsize", "-")
    add("freeing", 0)
    add("fragmentation", 4, "4%")
    add("leaked", 0)
    add("multihost", *_dup(prop("multihost")))
    add("checkpoint", "-")
    add("load_guid", pool["load_guid"])
    for name in ("autotrim", "compatibility"):
        add(name, *_dup(prop(name)))
    add("bcloneused", 0)
    add("bclonesaved", 0)
    add("bcloneratio", "1.00", "1.00x")
    add("dedup_table_size", 0)
    add("dedup_table_quota", *_dup(prop("dedup_table_quota")))
    add("last_scrubbed_txg", pool.get("last_scrubbed_txg", 0))
    for feature in FEATURES:
        name, value = feature.split(":")
        add("feature@" + name, value, value, "local")
    for name, value in sorted(local.items()):
        if ":" in name:
            add(name, value, value, "local")
    return rows


def _dup(pair):
    value, source = pair
    return value, value, source


def pool_prop_value(pool, name, parsable):
    name = POOL_ALIASES.get(name, name)
    if name == "name":
        return pool["name"]
    for prop, pval, hval, _ in pool_props(pool):
        if prop == name:
            return pval if parsable else hval
    if ":" in name:
        return "-"
    raise ZError("bad property list: invalid property '%s'" % name, 2)


def check_pool_prop(host, name, value, creating, pool_name):
    what = "cannot create '%s'" % pool_name if creating else "cannot set property for '%s'" % pool_name
    if ":" in name:
        return
    if name.startswith("feature@"):
        return
    if name not in POOL_DEFAULTS:
        raise ZError("property '%s' is not a valid pool or vdev property" % name, 2)
    if name in POOL_CREATE_ONLY and not creating:
        raise ZError("%s: property '%s' can only be set during pool creation" % (what, name))
    onoff = {"delegation", "autoreplace", "listsnapshots", "autoexpand", "multihost", "autotrim"}
    if name in onoff and value not in ("on", "off"):
        raise ZError("%s: '%s' must be 'on' or 'off'" % (what, name))
    if name == "multihost" and value == "on" and host.hostid() == 0:
        raise ZError("%s: requires a non-zero system hostid" % what)
    if name == "ashift" and value not in [str(i) for i in [0] + list(range(9, 17))]:
        raise ZError(
            "%s: property 'ashift' number %s is invalid, only values between 9 and 16 are allowed" % (what, value)
        )
    if name == "failmode" and value not in ("wait", "continue", "panic"):
        raise ZError("%s: property 'failmode'(16) must be one of 'wait | continue | panic'" % what)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


class Cli:
    def __init__(self, host):
        self.host = host
        self.out = []
        self.err = []

    def print(self, text=""):
        self.out.append(text + "\n")

    def eprint(self, text=""):
        self.err.append(text + "\n")

    @property
    def pools(self):
        return self.host.state["pools"]

    def pool(self, name):
        pool = self.pools.get(name)
        if pool is None:
            raise ZError("cannot open '%s': no such pool" % name)
        return pool

    def dataset_pool(self, name, what="dataset"):
        pool = self.pools.get(name.split("/")[0].split("@")[0])
        if pool is None or name not in pool["datasets"]:
            raise ZError("cannot open '%s': %s does not exist" % (name, what))
        return pool, pool["datasets"][name]


def opts(args, short, long=(), usage=""):
    try:
        found, rest = getopt.gnu_getopt(args, short, list(long))
    except getopt.GetoptError as exc:
        opt = exc.opt or "?"
        if exc.msg.startswith("option -%s requires" % opt) or "requires argument" in exc.msg:
            raise ZError("missing argument for '-%s' option\nusage:\n%s" % (opt, usage), 2) from None
        raise ZError("invalid option '%s'\nusage:\n%s" % (opt, usage), 2) from None
    flags = {}
    for key, value in found:
        flags.setdefault(key.lstrip("-"), []).append(value)
    return flags, rest


def split_prop(text):
    if "=" not in text:
        raise ZError("missing '=' for property=value argument", 2)
    key, _, value = text.partition("=")
    return key, value


# --------------------------------------------------------------------------
# probing (the health model)
# --------------------------------------------------------------------------


def holder_of(name):
    return HOLDER_PREFIX + name


def leaf_part(leaf):
    """ZFS holds the partition it made on a whole disk (partition 1), an unpartitioned device itself."""
    return 1 if leaf["path"] != leaf["dev"] else None


def held_elsewhere(cli, dev, holder, part=None):
    """The other exclusive holder of ``dev`` (or of its partition ``part``) on this host, or None."""
    try:
        return holders.conflict(cli.host.root, dev, holder, part)
    except OSError:
        return None


def claim_leaf(cli, pool_name, leaf):
    """Open the leaf exclusively for the pool; False if another holder has it."""
    try:
        leaf["claim"] = holders.claim(cli.host.root, leaf["dev"], holder_of(pool_name), leaf_part(leaf))
    except OSError:
        return False
    return True


def sync_claims(cli):
    """Claims of this host's pools: exactly their ONLINE leaves (a closed vdev lets go of its disk)."""
    keep = set()
    for pool in cli.pools.values():
        for leaf in leaves(pool):
            if leaf["state"] == "ONLINE" and leaf.get("claim"):
                keep.add((leaf["claim"], holder_of(pool["name"])))
            else:
                leaf.pop("claim", None)
    holders.release_holders(cli.host.root, keep, prefix=HOLDER_PREFIX)


def leaf_opens(cli, leaf, pool=None):
    """The leaf's path opens (exclusively, for ``pool``), and on the disk that carries this vdev's label."""
    if not cli.host.can_open(leaf["dev"])[0]:
        return False
    if pool is not None and held_elsewhere(cli, leaf["dev"], holder_of(pool["name"]), leaf_part(leaf)):
        return False
    key = cli.host.key(leaf["dev"])
    if key == leaf.get("key"):
        return True
    label = cli.host.labels["disks"].get(key)
    return bool(label and label.get("vdev_guid") == leaf["guid"])


def probe(cli, pool):
    """I/O to every leaf: ONLINE leaves that cannot be opened become REMOVED."""
    changed = False
    for leaf in leaves(pool):
        if leaf["state"] == "ONLINE" and not leaf_opens(cli, leaf, pool):
            leaf["state"] = "REMOVED"
            leaf["resilvering"] = False
            changed = True
    if changed:
        pool["txg"] += 1
    return changed


def advance_scan(pool, finish=False):
    scan = pool.get("scan")
    if scan and scan["state"] == "scanning" and (finish or scan.get("calls", 0) <= 0):
        scan["state"] = "finished"
        scan["end"] = max(_now(), scan["start"])
        for leaf in leaves(pool):
            leaf["resilvering"] = False
        pool["txg"] += 1


def start_resilver(pool, leaf):
    leaf["resilvering"] = True
    now = _now()
    pool["scan"] = {"function": "resilver", "state": "scanning", "start": now, "end": now, "bytes": RESILVER_BYTES}
    pool["scan"]["calls"] = RESILVER_CALLS


def write_op(cli, pool):
    """A write: probes the leaves, bumps the txg."""
    advance_scan(pool)
    probe(cli, pool)
    if pool_state(pool) == "UNAVAIL":
        raise ZError("cannot write to pool '%s': pool I/O is currently suspended" % pool["name"])
    pool["txg"] += 1
    return pool["txg"]


# --------------------------------------------------------------------------
# zpool: version, create, status, list, get, set
# --------------------------------------------------------------------------

SHORTHAND_DIRS = ("/dev", "/dev/disk/by-vdev", "/dev/disk/by-id", "/dev/disk/by-path", "/dev/mapper")


def zpool_version(cli, args):
    opts(args, "j", ["json-int"])
    for line in VERSION:
        cli.print(line)


def device_path(cli, arg):
    """make_leaf_vdev(): a full path, or a name found in the shorthand directories."""
    if arg.startswith("/"):
        if not cli.host.exists(arg) and not os.path.islink(cli.host.hp(arg)):
            raise ZError("cannot resolve path '%s'" % arg)
        return arg
    for d in SHORTHAND_DIRS:
        path = d + "/" + arg
        if cli.host.exists(path):
            return path
    raise ZError("cannot open '%s': no such device in /dev\nmust be a full path or shorthand device name" % arg)


def check_device(cli, path):
    ok, err = cli.host.can_open(path)
    if not ok:
        raise ZError("cannot open '%s': %s" % (path, os.strerror(err)))


def label_of(cli, path):
    key = cli.host.key(path)
    label = cli.host.labels["disks"].get(key) if key else None
    if label and label.get("state") in ("active", "exported"):
        return label
    return None


def in_use_problem(cli, path):
    """(busy, message) if the disk carries a live ZFS label, else None.

    A disk of a pool imported here is held open: a whole disk (ZFS partitioned
    it) reads as "in use and contains a unknown filesystem" (zfs/zpool_create_inuse.txt),
    an unpartitioned one by its label, "part of active pool"
    (zfs-json/zpool_create_foreign_label.txt), which -f cannot override (EBUSY).
    Labels of pools not imported here are overridable with -f.
    """
    label = label_of(cli, path)
    if label is None:
        return None
    here = cli.pools.get(label["pool"])
    busy = here is not None and here["guid"] == label["pool_guid"] and label["state"] == "active"
    if busy and label.get("partitioned"):
        return True, "%s is in use and contains a unknown filesystem." % path
    return busy, "%s is part of %s pool '%s'" % (path, label["state"], label["pool"])


def parse_vdev_spec(cli, tokens, pool_name):
    tops, cur = [], None
    for tok in tokens:
        if tok == "mirror":
            cur = []
            tops.append(("mirror", cur))
            continue
        if tok in ("raidz", "raidz1", "raidz2", "raidz3", "draid", "spare", "log", "cache", "special", "dedup"):
            raise ZError("zfsemu: vdev type '%s' is not emulated" % tok, 2)
        path = device_path(cli, tok)
        if cur is None:
            tops.append(("disk", [path]))
        else:
            cur.append(path)
    for kind, devs in tops:
        if kind == "mirror" and len(devs) < 2:
            raise ZError("invalid vdev specification: mirror requires at least 2 devices", 2)
        if kind == "mirror":
            cur = None
    if not tops:
        raise ZError("invalid vdev specification: at least one toplevel vdev must be specified", 2)
    return tops


def vet_devices(cli, tops, force, pool_name, what="create"):
    """The open, in-use, size and replication checks of zpool create/attach/replace."""
    devs = [d for _, ds in tops for d in ds]
    keys = []
    problems = []
    for dev in devs:
        check_device(cli, dev)
        problem = in_use_problem(cli, dev)
        if problem and problem[0] and problem[1].endswith("filesystem."):
            raise ZError(problem[1])
        if partitioned(dev) != dev and held_elsewhere(cli, dev, holder_of(pool_name)):
            # check_disk(): the whole disk's O_EXCL open fails (zfs/zpool_create_inuse.txt wording)
            raise ZError("%s is in use and contains a unknown filesystem." % dev)
        # check_file_generic(): a pool ACTIVE here cannot be forced
        if problem and (problem[0] or not force):
            problems.append(problem[1])
        keys.append(cli.host.key(dev))
    if problems:
        header = "use '-f' to override the following errors:"
        if force:
            header = "the following errors must be manually repaired:"
        raise ZError("invalid vdev specification\n%s\n" % header + "\n".join(problems))
    if len(set(keys)) != len(keys):
        raise ZError(EBUSY_CREATE % (what, pool_name))
    sizes = {}
    for dev in devs:
        sizes[dev] = cli.host.size(dev)
        if sizes[dev] < MINDEVSIZE:
            raise ZError("cannot %s '%s': one or more devices is less than the minimum size (64M)" % (what, pool_name))
    for kind, ds in tops:
        if kind == "mirror" and not force:
            if max(sizes[d] for d in ds) - min(sizes[d] for d in ds) > 64 * MIB:
                problems.append("mirror contains devices of different sizes")
    if problems:
        raise ZError("invalid vdev specification\nuse '-f' to override the following errors:\n" + "\n".join(problems))
    return sizes


def zero_labels(cli, devs, pool_name):
    """make_disks(): zero_label() opens each unpartitioned device O_EXCL; a held one prints and stays busy."""
    busy = []
    for dev in devs:
        if partitioned(dev) == dev and held_elsewhere(cli, dev, holder_of(pool_name)):
            cli.eprint("cannot open '%s': %s" % (dev, os.strerror(errno.EBUSY)))
            busy.append(dev)
    return busy


def new_leaf(cli, dev, size):
    path = partitioned(dev)
    part = path != dev
    return {
        "type": "disk",
        "guid": _guid(),
        "dev": dev,
        "path": path,
        "key": cli.host.key(dev),
        "size": size - (10 * MIB if part else 0),
        "state": "ONLINE",
        "resilvering": False,
    }


def partition_of(path):
    """``(whole disk, partition number)`` when ``path`` names partition 1 the way ZFS makes it, else None."""
    for suffix in ("-part1", "p1"):
        if path.endswith(suffix) and (suffix == "-part1") == ("/disk/by-" in path):
            return path[: -len(suffix)], 1
    if "/disk/by-" not in path and re.search(r"[a-z]1$", path):
        return path[:-1], 1
    return None


def make_partition_node(root, dev):
    """
    What the kernel and udev do once ZFS wrote a partition table on whole disk
    ``dev`` (a host path): the kernel's node of partition 1 appears next to
    the disk's (``sdb1``, ``mdt0p1``; here a symlink to where the disk's node
    leads: the emulated partition is the disk's own file), whatever name ZFS
    was given, and a by-id link gets its ``-part1`` link to that node.
    """
    here = os.path.join(root, dev.lstrip("/"))
    if not os.path.lexists(here):
        return
    kernel_dev = dev
    if "/disk/by-" in dev and os.path.islink(here):
        # by-id/X -> ../../mdt0: the kernel's own name of the disk
        kernel_dev = os.path.normpath(os.path.join(os.path.dirname(dev), os.readlink(here)))
    kernel_here = os.path.join(root, kernel_dev.lstrip("/"))
    kernel_part = partitioned(kernel_dev)
    if kernel_part != kernel_dev and os.path.lexists(kernel_here):
        node = os.path.join(root, kernel_part.lstrip("/"))
        target = os.readlink(kernel_here) if os.path.islink(kernel_here) else os.path.basename(kernel_here)
        if not os.path.lexists(node):
            try:
                os.symlink(target, node)
            except OSError:
                pass
    if kernel_dev != dev:
        link = os.path.join(root, partitioned(dev).lstrip("/"))
        if not os.path.lexists(link):
            try:
                os.symlink(os.path.relpath(kernel_part, os.path.dirname(dev)), link)
            except OSError:
                pass


BLKID_ZFS = (
    "DEVNAME={dev}\nVERSION=5000\nLABEL={pool}\nUUID={pool_guid}\nUUID_SUB={vdev_guid}\n"
    "BLOCK_SIZE=512\nTYPE=zfs_member\nUSAGE=filesystem\n"
)


def blkid_label(root, args):
    """
    ``blkid -p -o export <dev>`` of a disk with an emulated ZFS label, as the
    real blkid prints it (tests/golden/realkernel-probes/
    zfs-returned-under-new-name.txt: LABEL = pool, UUID = pool guid, UUID_SUB =
    vdev guid); a whole disk ZFS partitioned shows its partition table
    (``PTTYPE=gpt``), its partition 1 the label. None: not a labelled disk.
    """
    if len(args) != 4 or args[:3] != ["-p", "-o", "export"]:
        return None
    dev = args[3]
    host = Host(root)
    with host.locked():
        label = host.labels["disks"].get(host.key(dev) or "")
    if not label or label.get("state") not in ("active", "exported"):
        return None
    is_part = partition_of(dev) is not None
    if label.get("partitioned") and not is_part:
        return "DEVNAME=%s\nPTUUID=%08x-emul\nPTTYPE=gpt\n" % (dev, label["pool_guid"] & 0xFFFFFFFF)
    return BLKID_ZFS.format(dev=dev, pool=label["pool"], pool_guid=label["pool_guid"], vdev_guid=label["vdev_guid"])


# zdb -l of a labelled disk, laid out as tests/golden/realkernel-probes/zdb-label.txt (the vdev tree cut
# to the keys a reader of the top level needs; state is pool_state_t's number, hostid in decimal).
ZDB_LABEL = """------------------------------------
LABEL 0{sp}
------------------------------------
    version: 5000
    name: '{pool}'
    state: {state}
    txg: {txg}
    pool_guid: {pool_guid}
    errata: 0
    hostid: {hostid}
    hostname: '{hostname}'
    top_guid: {top_guid}
    guid: {vdev_guid}
    vdev_children: 1
    vdev_tree:
        type: 'mirror'
        id: 0
        guid: {top_guid}
    features_for_read:
        com.delphix:hole_birth
        com.delphix:embedded_data
        com.klarasystems:vdev_zaps_v2
    labels = 0 1 2 3{sp}
"""  # zdb ends both lines with a blank
ZDB_STATES = {"active": 0, "exported": 1, "destroyed": 2}


def zdb(host, args):
    """
    ``zdb -l <dev>`` (the only form emulated): the label the registry has for
    the disk, as zdb prints it; a whole disk ZFS partitioned carries its
    label in partition 1 ("failed to unpack label N" on the disk itself, exit
    2, as for a blank disk); a missing path exits 1. Opens without O_EXCL:
    answers for a disk another holder has open.
    """
    if len(args) != 2 or args[0] != "-l":
        return 2, b"", "zfsemu: only 'zdb -l <device>' is emulated\n"
    dev = args[1]
    if not host.exists(dev):
        return 1, b"", "cannot open '%s': No such file or directory\n" % dev
    with host.locked():
        label = host.labels["disks"].get(host.key(dev) or "")
        pool = host.labels["pools"].get(str(label["pool_guid"])) if label else None
    whole_of_partitioned = label and label.get("partitioned") and partition_of(dev) is None
    if not label or label.get("state") not in ZDB_STATES or whole_of_partitioned:
        return 2, b"".join(b"failed to unpack label %d\n" % n for n in range(4)), ""
    top = (pool or {}).get("vdevs") or [{}]
    text = ZDB_LABEL.format(
        pool=label["pool"],
        state=ZDB_STATES[label["state"]],
        txg=label.get("txg") or 4,
        pool_guid=label["pool_guid"],
        hostid=label.get("hostid") or 0,
        hostname=label.get("hostname") or "(none)",
        top_guid=(top[0] or {}).get("guid", 0),
        vdev_guid=label["vdev_guid"],
        sp=" ",
    )
    return 0, text.encode(), ""


def write_label(cli, pool, leaf, state="active"):
    if not leaf.get("key"):
        return
    if leaf["path"] != leaf["dev"]:
        make_partition_node(cli.host.root, leaf["dev"])
    cli.host.labels["disks"][leaf["key"]] = {
        "pool": pool["name"],
        "pool_guid": pool["guid"],
        "vdev_guid": leaf["guid"],
        "state": state,
        "hostid": cli.host.hostid(),
        "hostname": cli.host.hostname(),
        "root": cli.host.root,
        "multihost": pool["props"].get("multihost") == "on",
        "partitioned": leaf["path"] != leaf["dev"],
        "alive": True,
        "txg": pool["txg"],
    }


def write_labels(cli, pool, state="active"):
    for leaf in leaves(pool):
        if leaf["state"] != "UNAVAIL":
            write_label(cli, pool, leaf, state)


def new_dataset(name, kind, txg, props=None):
    return {
        "name": name,
        "type": kind,
        "guid": _guid(),
        "createtxg": txg,
        "creation": _now(),
        "props": dict(props or {}),
        "received": {},
        "holds": {},
        "data": {},
    }


USAGE_CREATE = (
    "\tcreate [-fnd] [-o property=value] ... \n\t    [-O file-system-property=value] ... \n"
    "\t    [-m mountpoint] [-R root] [-t tempname] <pool> <vdev> ..."
)


def zpool_create(cli, args):
    flags, rest = opts(args, "fndo:O:m:R:t:", usage=USAGE_CREATE)
    if not rest:
        raise ZError("missing pool name argument\nusage:\n" + USAGE_CREATE, 2)
    name = rest[0]
    if len(rest) < 2:
        raise ZError("invalid vdev specification: at least one toplevel vdev must be specified", 2)
    check_name(name, "pool")
    props = dict(split_prop(p) for p in flags.get("o", []))
    fs_props = dict(split_prop(p) for p in flags.get("O", []))
    if "m" in flags:
        fs_props["mountpoint"] = flags["m"][0]
    no_hostid = False
    for key, value in props.items():
        if key == "multihost" and value == "on" and cli.host.hostid() == 0:
            no_hostid = True  # zpool_valid_proplist(): after make_disks (exclusive-holders.txt, case A)
            continue
        check_pool_prop(cli.host, key, value, True, name)
    for key, value in fs_props.items():
        check_ds_prop(key, value, "filesystem", "cannot create '%s'" % name)
    tops = parse_vdev_spec(cli, rest[1:], name)
    sizes = vet_devices(cli, tops, "f" in flags, name)
    if name in cli.pools and "n" not in flags:
        raise ZError("cannot create '%s': pool already exists" % name)
    if no_hostid and "n" in flags:
        raise ZError("cannot create '%s': requires a non-zero system hostid" % name)
    if "n" in flags:
        cli.print("would create '%s' with the following layout:\n" % name)
        cli.print("\t%s" % name)
        for kind, ds in tops:
            if kind == "mirror":
                cli.print("\t  mirror")
                for d in ds:
                    cli.print("\t    %s" % os.path.basename(d))
            else:
                cli.print("\t  %s" % os.path.basename(ds[0]))
        return
    busy = zero_labels(cli, [d for _, ds in tops for d in ds], name)
    if no_hostid:
        raise ZError("cannot create '%s': requires a non-zero system hostid" % name)
    if busy:
        raise ZError(EBUSY_CREATE % ("create", name))
    pool = {
        "name": name,
        "guid": _guid(),
        "load_guid": _guid(),
        "txg": 4,
        "props": props,
        "vdevs": [],
        "scan": None,
        "datasets": {},
        "created": _now(),
    }
    mirror_id = 0
    for kind, ds in tops:
        if kind == "mirror":
            top = {"type": "mirror", "id": len(pool["vdevs"]), "guid": _guid(), "children": []}
            top["children"] = [new_leaf(cli, d, sizes[d]) for d in ds]
            mirror_id += 1
            pool["vdevs"].append(top)
        else:
            pool["vdevs"].append(new_leaf(cli, ds[0], sizes[ds[0]]))
    pool["datasets"][name] = new_dataset(name, "filesystem", 1, fs_props)
    if not all(claim_leaf(cli, name, leaf) for leaf in leaves(pool)):
        for leaf in leaves(pool):
            if leaf.get("claim"):
                holders.release(cli.host.root, leaf["claim"], holder_of(name))
        raise ZError(EBUSY_CREATE % ("create", name))
    cli.pools[name] = pool
    write_labels(cli, pool)


def status_pools(cli, names):
    if names:
        return [cli.pool(n) for n in names]
    return [cli.pools[n] for n in sorted(cli.pools)]


def zpool_status(cli, args):
    flags, rest = opts(args, "c:DegiLpPstT:vxj", ["json-int", "json-flat-vdevs", "json-pool-key-guid"])
    rest = [r for r in rest if not r.isdigit()]
    full = "P" in flags
    parsable = "p" in flags
    if "j" in flags:
        result = {"output_version": _output_version("zpool status"), "pools": {}}
        for pool in status_pools(cli, rest):
            if "x" in flags and pool_healthy(pool):
                continue
            entry = status_json(pool, full, "json-int" in flags)
            result["pools"][str(pool["guid"]) if "json-pool-key-guid" in flags else pool["name"]] = entry
            seen_scan(pool)
        cli.print(json.dumps(result, separators=(",", ":")))
        return
    if not cli.pools and not rest:
        cli.print("no pools available")
        return
    pools = status_pools(cli, rest)
    texts = []
    for pool in pools:
        if "x" in flags and pool_healthy(pool):
            continue
        texts.append(status_text(pool, full, parsable))
        seen_scan(pool)
    if "x" in flags and not texts:
        if rest:
            for pool in pools:
                cli.print("pool '%s' is healthy" % pool["name"])
        else:
            cli.print("all pools are healthy")
        return
    cli.out.append("\n".join(texts))


def seen_scan(pool):
    scan = pool.get("scan")
    if scan and scan["state"] == "scanning":
        scan["calls"] = scan.get("calls", 0) - 1


LIST_DEFAULT = "name,size,allocated,free,checkpoint,expandsize,fragmentation,capacity,dedupratio,health,altroot"
LIST_HEADERS = {"allocated": "ALLOC", "checkpoint": "CKPOINT", "expandsize": "EXPANDSZ", "fragmentation": "FRAG"}
LIST_HEADERS.update({"capacity": "CAP", "dedupratio": "DEDUP"})


def table(cli, header, rows, scripted, right=()):
    if scripted:
        for row in rows:
            cli.print("\t".join(row))
        return
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]

    def fmt(row):
        cells = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            if i in right:
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell if last else cell.ljust(widths[i]))
        return "  ".join(cells).rstrip()

    cli.print(fmt(header))
    for row in rows:
        cli.print(fmt(row))


def json_prop(value, as_int, source="NONE"):
    if as_int and isinstance(value, str) and value.isdigit():
        value = int(value)
    return {"value": value, "source": {"type": source, "data": "-"}}


def pool_json_head(pool, as_int):
    n = lambda v: _jnum(v, as_int)  # noqa: E731
    return {
        "name": pool["name"],
        "type": "POOL",
        "state": pool_state(pool),
        "pool_guid": n(pool["guid"]),
        "txg": n(pool["txg"]),
        "spa_version": n(5000),
        "zpl_version": n(5),
    }


def zpool_list(cli, args):
    flags, rest = opts(args, "gHLpPvo:T:j", ["json-int"])
    rest = [r for r in rest if not r.isdigit()]
    cols = [POOL_ALIASES.get(c, c) for c in ",".join(flags.get("o", [LIST_DEFAULT])).split(",") if c]
    parsable = "p" in flags
    pools = status_pools(cli, rest)
    if "j" in flags:
        as_int = "json-int" in flags
        result = {"output_version": _output_version("zpool list"), "pools": {}}
        for pool in pools:
            entry = pool_json_head(pool, as_int)
            entry["properties"] = {}
            sources = {p: s for p, _, _, s in pool_props(pool)}
            for col in cols:
                if col == "name":
                    continue
                value = pool_prop_value(pool, col, as_int)
                src = {"-": "NONE", "default": "DEFAULT", "local": "LOCAL"}.get(sources.get(col, "-"), "NONE")
                entry["properties"][col] = json_prop(value, as_int, src)
            result["pools"][pool["name"]] = entry
        cli.print(json.dumps(result, separators=(",", ":")))
        return
    if not pools:
        # zpool_do_list: only `argc == 0 && !cb.cb_scripted` prints this; -H prints nothing.
        if "H" not in flags and not rest:
            cli.print("no pools available")
        return
    rows = [[pool_prop_value(pool, c, parsable) for c in cols] for pool in pools]
    header = [LIST_HEADERS.get(c, c.upper()) for c in cols]
    right = {i for i, c in enumerate(cols) if c in ("size", "allocated", "free", "fragmentation", "capacity")}
    table(cli, header, rows, "H" in flags, right)


def zpool_get(cli, args):
    flags, rest = opts(args, "Hpo:j", ["json-int"])
    if not rest:
        raise ZError(
            'missing property argument\nusage:\n\tget [-Hp] [-o "all" | field[,...]] '
            '<"all" | property[,...]> [<pool> ...]',
            2,
        )
    names = rest[0].split(",")
    pools = status_pools(cli, rest[1:])
    fields = ",".join(flags.get("o", ["name,property,value,source"])).split(",")
    if fields == ["all"]:
        fields = ["name", "property", "value", "source"]
    parsable = "p" in flags
    if "j" in flags:
        as_int = "json-int" in flags
        result = {"output_version": _output_version("zpool get"), "pools": {}}
        for pool in pools:
            entry = pool_json_head(pool, as_int)
            entry["properties"] = {}
            for prop, pval, hval, src in pool_rows(pool, names):
                source = {"-": "NONE", "default": "DEFAULT", "local": "LOCAL"}.get(src, "NONE")
                entry["properties"][prop] = json_prop(pval if as_int else hval, as_int, source)
            result["pools"][pool["name"]] = entry
        cli.print(json.dumps(result, separators=(",", ":")))
        return
    rows = []
    for pool in pools:
        for prop, pval, hval, src in pool_rows(pool, names):
            cells = {"name": pool["name"], "property": prop, "value": pval if parsable else hval, "source": src}
            rows.append([cells[f] for f in fields])
    table(cli, [f.upper() for f in fields], rows, "H" in flags)


def pool_rows(pool, names):
    allrows = pool_props(pool)
    if names == ["all"]:
        return allrows
    by_name = {r[0]: r for r in allrows}
    rows = []
    for name in names:
        name = POOL_ALIASES.get(name, name)
        if name in by_name:
            rows.append(by_name[name])
        elif name == "name":
            rows.append(("name", pool["name"], pool["name"], "-"))
        elif ":" in name:
            rows.append((name, "-", "-", "-"))
        else:
            raise ZError("bad property list: invalid property '%s'" % name, 2)
    return rows


def zpool_set(cli, args):
    _, rest = opts(args, "")
    if len(rest) != 2:
        raise ZError("usage:\n\tset <property=value> <pool>", 2)
    key, value = split_prop(rest[0])
    pool = cli.pool(rest[1])
    check_pool_prop(cli.host, key, value, False, pool["name"])
    if key in POOL_DEFAULTS and key not in ("multihost",) and value == POOL_DEFAULTS[key] and key != "cachefile":
        pool["props"][key] = value
    else:
        pool["props"][key] = value
    if key == "cachefile" and value in ("none", ""):
        pool["props"][key] = value
    write_op(cli, pool)
    write_labels(cli, pool)


# --------------------------------------------------------------------------
# dataset properties
# --------------------------------------------------------------------------

# name, default, kind (ro: computed, inh: settable+inherited, set: settable, once: creation only),
# applies to (f: filesystem, v: volume, s: snapshot). Order of ``zfs get all`` (zfs/zfs_get_all.txt).
DS_PROPS = """
type - ro fvs
creation - ro fvs
used - ro fvs
available - ro fv
referenced - ro fvs
compressratio - ro fvs
mounted - ro f
quota 0 set f
reservation 0 set fv
recordsize 131072 inh f
volsize - set v
volblocksize 16384 once v
mountpoint - inh f
sharenfs off inh f
checksum on inh fv
compression on inh fv
atime on inh f
devices on inh fs
exec on inh fs
setuid on inh fs
readonly off inh fv
zoned off inh f
snapdir hidden inh f
aclmode discard inh f
aclinherit restricted inh f
createtxg - ro fvs
canmount on set f
xattr on inh fs
copies 1 inh fv
version 5 ro fs
utf8only off once fs
normalization none once fs
casesensitivity sensitive once fs
vscan off inh f
nbmand off inh fs
sharesmb off inh f
refquota 0 set f
refreservation 0 set fv
guid - ro fvs
primarycache all inh fvs
secondarycache all inh fvs
usedbysnapshots - ro fv
usedbydataset - ro fv
usedbychildren - ro fv
usedbyrefreservation - ro fv
logbias latency inh fv
objsetid - ro fvs
dedup off inh fv
mlslabel none inh fvs
sync standard inh fv
dnodesize legacy inh f
refcompressratio - ro fvs
written - ro fvs
logicalused - ro fv
logicalreferenced - ro fvs
volmode default inh fv
filesystem_limit none set f
snapshot_limit none set fv
filesystem_count none set f
snapshot_count none set fv
snapdev hidden inh fv
acltype off inh fs
context none set fvs
fscontext none set fvs
defcontext none set fvs
rootcontext none set fvs
relatime on inh f
redundant_metadata all inh fv
overlay on inh f
encryption off once fvs
keylocation none set fv
keyformat none once fv
pbkdf2iters 0 once fv
special_small_blocks 0 inh f
snapshots_changed - ro fv
prefetch all inh fvs
direct standard inh fv
longname off inh f
defer_destroy - ro s
userrefs - ro s
clones - ro s
"""
DS_TABLE = {}
DS_ORDER = []
for _line in DS_PROPS.strip().splitlines():
    _name, _default, _kind, _applies = _line.split()
    DS_TABLE[_name] = (_default, _kind, _applies)
    DS_ORDER.append(_name)
DS_ALIASES = {"avail": "available", "refer": "referenced", "ratio": "compressratio", "reserv": "reservation"}
DS_ALIASES.update({"refreserv": "refreservation", "recsize": "recordsize", "compress": "compression"})
DS_ALIASES.update({"volblock": "volblocksize", "lused": "logicalused", "lrefer": "logicalreferenced"})
SIZE_PROPS = {"quota", "reservation", "refquota", "refreservation", "recordsize", "volsize", "volblocksize"}
SIZE_PROPS |= {"used", "available", "referenced", "usedbysnapshots", "usedbydataset", "usedbychildren"}
SIZE_PROPS |= {"usedbyrefreservation", "written", "logicalused", "logicalreferenced", "special_small_blocks"}
NONE_IF_ZERO = {"quota", "reservation", "refquota", "refreservation"}
ON_OFF = {"atime", "devices", "exec", "setuid", "readonly", "zoned", "xattr", "vscan", "nbmand", "relatime"}
ON_OFF |= {"overlay", "utf8only", "longname"}
CHOICES = {
    "canmount": ("on", "off", "noauto"),
    "snapdir": ("hidden", "visible", "disabled"),
    "sync": ("standard", "always", "disabled"),
    "logbias": ("latency", "throughput"),
    "primarycache": ("all", "none", "metadata"),
    "secondarycache": ("all", "none", "metadata"),
    "volmode": ("default", "full", "geom", "dev", "none"),
    "snapdev": ("hidden", "visible"),
    "acltype": ("off", "noacl", "posix", "posixacl", "nfsv4"),
    "compression": ("on", "off", "lz4", "gzip", "zle", "lzjb", "zstd") + tuple("gzip-%d" % i for i in range(1, 10)),
    "checksum": ("on", "off", "fletcher2", "fletcher4", "sha256", "sha512", "skein", "edonr", "blake3", "noparity"),
    "copies": ("1", "2", "3"),
    "redundant_metadata": ("all", "most", "some", "none"),
}
TYPE_NAMES = {"filesystem": "f", "volume": "v", "snapshot": "s"}


def kind_letter(ds):
    return TYPE_NAMES[ds["type"]]


def ds_prop_name(name):
    return DS_ALIASES.get(name, name)


def check_ds_prop(key, value, kind, what, creating=True):
    """Validate ``key=value`` for a dataset of ``kind``; raise ZError like libzfs."""
    if ":" in key:
        return
    key = ds_prop_name(key)
    if key not in DS_TABLE:
        raise ZError("%s: invalid property '%s'" % (what, key))
    default, pkind, applies = DS_TABLE[key]
    if TYPE_NAMES.get(kind, "f") not in applies:
        raise ZError("%s: '%s' does not apply to datasets of this type" % (what, key))
    if pkind == "ro" or (pkind == "once" and not creating):
        raise ZError("%s: '%s' is readonly" % (what, key))
    if key in ON_OFF and value not in ("on", "off"):
        raise ZError("%s: '%s' must be one of 'on | off'" % (what, key))
    if key in CHOICES and value not in CHOICES[key]:
        raise ZError("%s: '%s' must be one of '%s'" % (what, key, " | ".join(CHOICES[key])))
    if key in SIZE_PROPS and value != "none":
        parse_size(value)
    if key == "mountpoint" and value not in ("none", "legacy") and not value.startswith("/"):
        raise ZError("%s: '%s' must be an absolute path, 'none', or 'legacy'" % (what, key))


def norm_ds_value(key, value):
    if key in SIZE_PROPS:
        return "0" if value == "none" else str(parse_size(value))
    return value


def find_inherited(pool, ds, key):
    """(value, source) of an inheritable property looked up through the ancestors."""
    name = ds["name"].split("@")[0]
    first = True
    while True:
        cur = pool["datasets"].get(name)
        if cur is not None:
            if key in cur["props"]:
                src = "local" if first and "@" not in ds["name"] else "inherited from %s" % name
                return cur["props"][key], src, name
            if key in cur.get("received", {}):
                src = "received" if first and "@" not in ds["name"] else "inherited from %s" % name
                return cur["received"][key], src, name
        if "/" not in name:
            return None, "default", None
        name = name.rsplit("/", 1)[0]
        first = False


def ds_prop(pool, ds, key):
    """(parsable value, human value, source) of one dataset property, or None if it does not apply."""
    key = ds_prop_name(key)
    kind = kind_letter(ds)
    if ":" in key:
        value, src, _ = find_inherited(pool, ds, key)
        return ("-", "-", "-") if value is None else (value, value, src)
    if key == "name":
        return ds["name"], ds["name"], "-"
    if key not in DS_TABLE:
        raise ZError("bad property list: invalid property '%s'" % key, 2)
    default, pkind, applies = DS_TABLE[key]
    if kind not in applies:
        return None
    if pkind == "ro":
        value = ro_value(pool, ds, key)
        return value + ("-",)
    if pkind == "inh":
        value, src, where = find_inherited(pool, ds, key)
        if key == "mountpoint":
            if value is None:
                value = "/" + ds["name"]
            elif value not in ("none", "legacy") and where != ds["name"]:
                value = value.rstrip("/") + ds["name"][len(where) :]
        if value is None:
            value = default
        return human(key, value) + (src,)
    if key in ds["props"]:
        return human(key, ds["props"][key]) + ("local",)
    if key in ds.get("received", {}):
        return human(key, ds["received"][key]) + ("received",)
    if key == "volsize":
        return human(key, str(ds["volsize"])) + ("local",)
    if key == "refreservation" and ds["type"] == "volume" and not ds.get("sparse"):
        return human(key, str(ds["volsize"])) + ("local",)
    return human(key, default) + ("-" if key in ("utf8only", "normalization", "casesensitivity") else "default",)


def human(key, value):
    value = str(value)
    if key in SIZE_PROPS and value.isdigit():
        if key in NONE_IF_ZERO and value == "0":
            return value, "none"
        return value, nicenum(int(value))
    return value, value


def ro_value(pool, ds, key):
    used = ds_used(pool, ds)
    refer = ds["refer"] if ds["type"] == "snapshot" else ds_refer(ds)
    snaps = 0
    children = used - refer - snaps if ds["type"] != "snapshot" else 0
    if "/" not in ds["name"] and "@" not in ds["name"]:
        children -= POOL_META
    values = {
        "type": ds["type"],
        "creation": ds["creation"],
        "used": used,
        "available": pool_avail(pool),
        "referenced": refer,
        "compressratio": "1.00",
        "mounted": "no",
        "createtxg": ds["createtxg"],
        "version": 5,
        "guid": ds["guid"],
        "usedbysnapshots": snaps,
        "usedbydataset": refer,
        "usedbychildren": max(children, 0),
        "usedbyrefreservation": max(used - refer - max(children, 0), 0) if ds["type"] == "volume" else 0,
        "objsetid": ds.get("objsetid", 54),
        "refcompressratio": "1.00",
        "written": 0 if ds["type"] == "snapshot" or snapshots_of(pool, ds["name"]) else refer,
        "logicalused": used * 7 // 16,
        "logicalreferenced": refer * 7 // 16,
        "snapshots_changed": ds.get("snapshots_changed", "-"),
        "defer_destroy": "off",
        "userrefs": len(ds.get("holds", {})),
        "clones": "",
    }
    value = str(values[key])
    if key == "creation":
        return value, time.strftime("%a %b %e %H:%M %Y", time.localtime(int(value)))
    if key in ("compressratio", "refcompressratio"):
        return value, value + "x"
    if key == "snapshots_changed" and value != "-":
        return value, time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(int(value)))
    return human(key, value)


def all_ds_props(pool, ds):
    rows = []
    for key in DS_ORDER:
        got = ds_prop(pool, ds, key)
        if got is not None:
            rows.append((key,) + got)
    users = set()
    name = ds["name"].split("@")[0]
    while True:
        cur = pool["datasets"].get(name)
        if cur is not None:
            users.update(k for k in list(cur["props"]) + list(cur.get("received", {})) if ":" in k)
        if "/" not in name:
            break
        name = name.rsplit("/", 1)[0]
    users.update(k for k in ds["props"] if ":" in k)
    for key in sorted(users):
        rows.append((key,) + ds_prop(pool, ds, key))
    return rows


# --------------------------------------------------------------------------
# zfs: create, set, get, inherit, list
# --------------------------------------------------------------------------


def zfs_version(cli, args):
    opts(args, "j", ["json-int"])
    for line in VERSION:
        cli.print(line)


def zvol_link(cli, ds):
    return cli.host.hp("/dev/zvol/" + ds["name"])


def zvol_attach(cli, pool, ds, size=None):
    """Make ``/dev/zdN`` (a regular file under the host's /dev: a block device) and ``/dev/zvol/<name>``."""
    used = {d.get("zd") for p in cli.pools.values() for d in p["datasets"].values() if d.get("zd") is not None}
    minor = 0
    while minor in used:
        minor += 16
    dev = cli.host.hp("/dev/zd%d" % minor)
    os.makedirs(os.path.dirname(dev), exist_ok=True)
    src = ds.get("zvol_real")
    if src and os.path.exists(src) and os.path.realpath(src) != os.path.realpath(dev):
        os.replace(src, dev)
    elif not os.path.exists(dev):
        with open(dev, "wb") as handle:
            handle.truncate(size if size is not None else ds["volsize"])
    ds["zd"] = minor
    ds["zvol_real"] = dev
    # The kernel lists the zvol's block device like any other (zd<minor> in /sys/class/block).
    block = cli.host.hp("/sys/class/block/zd%d" % minor)
    os.makedirs(block, exist_ok=True)
    with open(os.path.join(block, "size"), "w") as handle:
        handle.write("%d\n" % ((size if size is not None else ds["volsize"]) // 512))
    link = zvol_link(cli, ds)
    os.makedirs(os.path.dirname(link), exist_ok=True)
    depth = ds["name"].count("/") + 1
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink("../" * depth + "zd%d" % minor, link)


def zvol_detach(cli, ds, keep=True):
    """Remove the device nodes; keep the data (moved to the shared dir) for another import."""
    link = zvol_link(cli, ds)
    if os.path.lexists(link):
        os.unlink(link)
    real = ds.get("zvol_real")
    if ds.get("zd") is not None:
        shutil.rmtree(cli.host.hp("/sys/class/block/zd%d" % ds["zd"]), ignore_errors=True)
    ds["zd"] = None
    if not real or not os.path.exists(real):
        return
    if keep:
        store = os.path.join(cli.host.base, ".zfsemu-zvols")
        os.makedirs(store, exist_ok=True)
        dest = os.path.join(store, "%d" % ds["guid"])
        os.replace(real, dest)
        ds["zvol_real"] = dest
    else:
        os.unlink(real)
        ds["zvol_real"] = None


def zfs_create(cli, args):
    flags, rest = opts(args, "psuV:b:o:")
    if len(rest) != 1:
        raise ZError(
            "usage:\n\tcreate [-Pnpuv] [-o property=value] ... <filesystem>\n"
            "\tcreate [-Pnpsv] [-b blocksize] [-o property=value] ... -V <size> <volume>",
            2,
        )
    name = rest[0]
    if "@" in name:
        raise ZError("cannot create '%s': snapshot delimiter '@' is not expected here" % name, 2)
    check_name(name, "dataset")
    kind = "volume" if "V" in flags else "filesystem"
    what = "cannot create '%s'" % name
    props = {}
    for text in flags.get("o", []):
        key, value = split_prop(text)
        check_ds_prop(key, value, kind, what)
        props[ds_prop_name(key)] = norm_ds_value(ds_prop_name(key), value)
    if "b" in flags:
        props["volblocksize"] = str(parse_size(flags["b"][0]))
    pool_name = name.split("/")[0]
    pool = cli.pools.get(pool_name)
    if pool is None or "/" not in name:
        raise ZError("cannot create '%s': no such pool '%s'" % (name, pool_name))
    if name in pool["datasets"]:
        raise ZError("cannot create '%s': dataset already exists" % name)
    parent = name.rsplit("/", 1)[0]
    missing = []
    while parent not in pool["datasets"]:
        missing.insert(0, parent)
        parent = parent.rsplit("/", 1)[0]
    if missing and "p" not in flags:
        raise ZError("cannot create '%s': parent does not exist" % name)
    if pool["datasets"][parent]["type"] != "filesystem":
        raise ZError("cannot create '%s': parent is not a filesystem" % name)
    volsize = None
    if kind == "volume":
        volsize = parse_size(flags["V"][0])
        block = int(props.pop("volblocksize", DS_TABLE["volblocksize"][0]))
        if volsize == 0:
            raise ZError("%s: volume size cannot be zero" % what)
        if volsize % block:
            raise ZError("%s: volume size must be a multiple of volume block size" % what)
        if block != int(DS_TABLE["volblocksize"][0]):
            props["volblocksize"] = str(block)
        if "s" not in flags and volsize > pool_avail(pool):
            raise ZError("%s: out of space" % what)
    txg = write_op(cli, pool)
    for missing_name in missing:
        pool["datasets"][missing_name] = new_dataset(missing_name, "filesystem", txg)
    ds = new_dataset(name, kind, txg, props)
    if kind == "volume":
        ds["volsize"] = volsize
        ds["sparse"] = "s" in flags
        zvol_attach(cli, pool, ds, volsize)
    pool["datasets"][name] = ds


def zfs_set(cli, args):
    _, rest = opts(args, "u")
    if len(rest) < 2:
        raise ZError("missing dataset name\nusage:\n\tset <property=value> ... <filesystem|volume|snapshot> ...", 2)
    pairs = [split_prop(t) for t in rest[:-1]]
    targets = rest[-1:]
    for name in targets:
        pool, ds = cli.dataset_pool(name)
        what = "cannot set property for '%s'" % name
        for key, value in pairs:
            check_ds_prop(key, value, ds["type"], what, creating=False)
        write_op(cli, pool)
        for key, value in pairs:
            key = ds_prop_name(key)
            value = norm_ds_value(key, value)
            if key == "volsize":
                size = int(value)
                block = int(ds["props"].get("volblocksize", DS_TABLE["volblocksize"][0]))
                if size % block:
                    raise ZError("%s: volume size must be a multiple of volume block size" % what)
                ds["volsize"] = size
                if ds.get("zvol_real") and os.path.exists(ds["zvol_real"]):
                    os.truncate(ds["zvol_real"], size)
                continue
            ds["props"][key] = value


def zfs_inherit(cli, args):
    flags, rest = opts(args, "rS")
    if len(rest) < 2:
        raise ZError("missing dataset argument\nusage:\n\tinherit [-rS] <property> <filesystem|volume|snapshot> ...", 2)
    key = ds_prop_name(rest[0])
    for name in rest[1:]:
        pool, ds = cli.dataset_pool(name)
        if ":" not in key and (key not in DS_TABLE or DS_TABLE[key][1] == "ro"):
            raise ZError("'%s' property is read-only" % key if key in DS_TABLE else "invalid property '%s'" % key)
        write_op(cli, pool)
        targets = [ds] + (descendants(pool, name) if "r" in flags else [])
        for cur in targets:
            cur["props"].pop(key, None)


def descendants(pool, name, snapshots=True):
    out = []
    for n in sorted(pool["datasets"]):
        if n.startswith(name + "/") or (snapshots and n.startswith(name + "@")):
            if "@" in n and not snapshots:
                continue
            out.append(pool["datasets"][n])
    return out


def expand_types(text):
    types = set()
    for word in text.split(","):
        word = {"fs": "filesystem", "vol": "volume", "snap": "snapshot", "all": "all"}.get(word, word)
        if word == "all":
            types |= {"filesystem", "volume", "snapshot"}
        elif word in ("filesystem", "volume", "snapshot", "bookmark"):
            types.add(word)
        else:
            raise ZError(
                "invalid type '%s'\nusage:\n\tlist [-Hp] [-r|-d max] [-o property[,...]] [-s property]...\n"
                "\t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ..." % word,
                2,
            )
    return types


def walk(cli, names, recurse, depth, types):
    """The datasets ``zfs list``/``get`` visit, in traversal order (dataset, its snapshots, children)."""
    out = []

    def visit(pool, ds, level):
        if ds["type"] in types:
            out.append((pool, ds))
        if depth is not None and level >= depth:
            return
        if "snapshot" in types:
            for snap in snapshots_of(pool, ds["name"]):
                out.append((pool, snap))
        for child in children_of(pool, ds["name"]):
            visit(pool, child, level + 1)

    if not names:
        for pool_name in sorted(cli.pools):
            pool = cli.pools[pool_name]
            visit(pool, pool["datasets"][pool_name], 0)
        return out
    for name in names:
        pool, ds = cli.dataset_pool(name)
        if ds["type"] == "snapshot":
            out.append((pool, ds))
        elif recurse or depth is not None:
            visit(pool, ds, 0)
        else:
            if ds["type"] in types:
                out.append((pool, ds))
            if types == {"snapshot"}:
                out.extend((pool, s) for s in snapshots_of(pool, ds["name"]))
    return out


LIST_COLS = "name,used,avail,refer,mountpoint"


def ds_value(pool, ds, col, parsable):
    got = ds_prop(pool, ds, col)
    if got is None:
        return "-"
    return got[0] if parsable else got[1]


def sort_key(pool, ds, col):
    got = ds_prop(pool, ds, col)
    value = "-" if got is None else got[0]
    if value.isdigit():
        return (0, int(value), "")
    return (1, 0, value)


def zfs_list(cli, args):
    flags, rest = opts(args, "HprPd:o:s:S:t:j", ["json-int"])
    cols = [ds_prop_name(c) for c in ",".join(flags.get("o", [LIST_COLS])).split(",") if c]
    types = expand_types(",".join(flags["t"])) if "t" in flags else {"filesystem", "volume"}
    depth = int(flags["d"][0]) if "d" in flags else None
    found = walk(cli, rest, "r" in flags, depth, types)
    sorts = [(c, False) for c in flags.get("s", [])] + [(c, True) for c in flags.get("S", [])]
    for col, desc in reversed(sorts):
        prop = ds_prop_name(col)
        found.sort(key=lambda item, c=prop: sort_key(item[0], item[1], c), reverse=desc)
    if "j" in flags:
        as_int = "json-int" in flags
        result = {"output_version": _output_version("zfs list"), "datasets": {}}
        for pool, ds in found:
            entry = {"name": ds["name"], "type": ds["type"].upper(), "pool": pool["name"]}
            entry["createtxg"] = ds["createtxg"] if as_int else str(ds["createtxg"])
            if ds["type"] == "snapshot":
                entry["dataset"], _, entry["snapshot_name"] = ds["name"].partition("@")
            entry["properties"] = {}
            for col in cols:
                if col == "name":
                    continue
                got = ds_prop(pool, ds, col)
                value, src = ("-", "-") if got is None else ((got[0] if as_int else got[1]), got[2])
                entry["properties"][col] = json_prop(value, as_int, json_source(src))
            result["datasets"][ds["name"]] = entry
        cli.print(json.dumps(result, separators=(",", ":")))
        return
    if not found:
        cli.eprint("no datasets available")
        return
    rows = [[ds_value(pool, ds, c, "p" in flags) for c in cols] for pool, ds in found]
    header = [{"available": "AVAIL", "referenced": "REFER"}.get(c, c.upper()) for c in cols]
    right = {i for i, c in enumerate(cols) if c in SIZE_PROPS or c in ("creation", "createtxg", "userrefs")}
    table(cli, header, rows, "H" in flags, right)


def json_source(src):
    if src.startswith("inherited from "):
        return {"type": "INHERITED", "data": src[len("inherited from ") :]}
    return {"-": "NONE", "default": "DEFAULT", "local": "LOCAL", "received": "RECEIVED"}.get(src, "NONE")


def zfs_get(cli, args):
    flags, rest = opts(args, "rHpd:o:s:t:j", ["json-int"])
    if not rest:
        raise ZError(
            'missing property argument\nusage:\n\tget [-rHp] [-d max] [-o "all" | field[,...]]\n'
            "\t    [-t type[,...]] [-s source[,...]]\n"
            '\t    <"all" | property[,...]> [filesystem|volume|snapshot|bookmark] ...',
            2,
        )
    names = [ds_prop_name(n) for n in rest[0].split(",")]
    for name in names:
        if name not in DS_TABLE and name not in ("all", "name") and ":" not in name:
            raise ZError("bad property list: invalid property '%s'" % name, 2)
    fields = ",".join(flags.get("o", ["name,property,value,source"])).split(",")
    if fields == ["all"]:
        fields = ["name", "property", "value", "received", "source"]
    types = expand_types(",".join(flags["t"])) if "t" in flags else {"filesystem", "volume", "snapshot"}
    depth = int(flags["d"][0]) if "d" in flags else None
    sources = set(",".join(flags["s"]).split(",")) if "s" in flags else None
    found = walk(cli, rest[1:], "r" in flags, depth, types)
    parsable = "p" in flags
    rows = []
    jsonout = {"output_version": _output_version("zfs get"), "datasets": {}}
    as_int = "json-int" in flags
    for pool, ds in found:
        if names == ["all"]:
            props = all_ds_props(pool, ds)
        else:
            props = []
            for name in names:
                got = ds_prop(pool, ds, name)
                props.append((name,) + (got if got is not None else ("-", "-", "-")))
        for key, pval, hval, src in props:
            kind = "inherited" if src.startswith("inherited") else {"-": "none"}.get(src, src)
            if sources is not None and kind not in sources:
                continue
            cells = {"name": ds["name"], "property": key, "value": pval if parsable else hval, "source": src}
            cells["received"] = "-"
            rows.append([cells[f] for f in fields])
            if "j" in flags:
                entry = jsonout["datasets"].setdefault(
                    ds["name"],
                    {
                        "name": ds["name"],
                        "type": ds["type"].upper(),
                        "pool": pool["name"],
                        "createtxg": ds["createtxg"] if as_int else str(ds["createtxg"]),
                        "properties": {},
                    },
                )
                entry["properties"][key] = json_prop(pval if as_int else hval, as_int, json_source(src))
    if "j" in flags:
        cli.print(json.dumps(jsonout, separators=(",", ":")))
        return
    table(cli, [f.upper() for f in fields], rows, "H" in flags)


# --------------------------------------------------------------------------
# zfs: snapshots, holds, destroy, rollback
# --------------------------------------------------------------------------


def make_snapshot(pool, ds, snap_name, txg, props=None, guid=None, creation=None):
    name = ds["name"] + "@" + snap_name
    snap = new_dataset(name, "snapshot", txg, props)
    snap["refer"] = ds_refer(ds)
    if guid is not None:
        snap["guid"] = guid
    if creation is not None:
        snap["creation"] = creation
    snap["data"] = json.loads(json.dumps(ds.get("data", {})))
    pool["datasets"][name] = snap
    ds["snapshots_changed"] = _now()
    return snap


def zfs_snapshot(cli, args):
    flags, rest = opts(args, "ro:")
    if not rest:
        raise ZError(
            "missing snapshot argument\nusage:\n\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...",
            2,
        )
    props = dict(split_prop(t) for t in flags.get("o", []))
    todo = []
    for name in rest:
        if "@" not in name:
            raise ZError("cannot create snapshot '%s': missing '@' delimiter in snapshot name" % name, 2)
        check_name(name, "snapshot")
        base, _, snap = name.partition("@")
        pool = cli.pools.get(base.split("/")[0])
        if pool is None or base not in pool["datasets"]:
            raise ZError(
                "cannot open '%s': dataset does not exist\nusage:\n\tsnapshot [-r] [-o property=value] ... "
                "<filesystem|volume>@<snap> ..." % base,
                2,
            )
        targets = [pool["datasets"][base]]
        if "r" in flags:
            targets += [d for d in descendants(pool, base, snapshots=False)]
        for ds in targets:
            full = ds["name"] + "@" + snap
            if full in pool["datasets"]:
                raise ZError("cannot create snapshot '%s': dataset already exists" % full)
            todo.append((pool, ds, snap))
    txgs = {}
    for pool, ds, snap in todo:
        if pool["name"] not in txgs:
            txgs[pool["name"]] = write_op(cli, pool)
        make_snapshot(pool, ds, snap, txgs[pool["name"]], props)


def snapshot_pool(cli, name, what):
    base, _, _ = name.partition("@")
    pool = cli.pools.get(base.split("/")[0])
    if pool is None or name not in pool["datasets"]:
        raise ZError("cannot %s '%s': dataset does not exist" % (what, name))
    return pool, pool["datasets"][name]


def zfs_hold(cli, args):
    flags, rest = opts(args, "r")
    if len(rest) < 2:
        raise ZError("wrong number of arguments\nusage:\n\thold [-r] <tag> <snapshot> ...", 2)
    tag = rest[0]
    todo = []
    for name in rest[1:]:
        if "@" not in name:
            raise ZError("'%s' is not a snapshot" % name)
        pool, snap = snapshot_pool(cli, name, "hold snapshot")
        snaps = [snap]
        if "r" in flags:
            base, _, short = name.partition("@")
            snaps += [
                pool["datasets"][d["name"] + "@" + short]
                for d in descendants(pool, base, False)
                if d["name"] + "@" + short in pool["datasets"]
            ]
        for cur in snaps:
            if tag in cur["holds"]:
                raise ZError("cannot hold snapshot '%s': tag already exists on this dataset" % cur["name"])
            todo.append((pool, cur))
    for pool, cur in todo:
        write_op(cli, pool)
        cur["holds"][tag] = _now()


def zfs_release(cli, args):
    flags, rest = opts(args, "r")
    if len(rest) < 2:
        raise ZError("wrong number of arguments\nusage:\n\trelease [-r] <tag> <snapshot> ...", 2)
    tag = rest[0]
    for name in rest[1:]:
        pool, snap = snapshot_pool(cli, name, "release hold from snapshot")
        snaps = [snap]
        if "r" in flags:
            base, _, short = name.partition("@")
            snaps += [
                pool["datasets"][d["name"] + "@" + short]
                for d in descendants(pool, base, False)
                if d["name"] + "@" + short in pool["datasets"]
            ]
        for cur in snaps:
            if tag not in cur["holds"]:
                raise ZError("cannot release hold from snapshot '%s': no such tag on this dataset" % cur["name"])
        write_op(cli, pool)
        for cur in snaps:
            del cur["holds"][tag]


def zfs_holds(cli, args):
    flags, rest = opts(args, "rHp")
    if not rest:
        raise ZError("missing snapshot argument\nusage:\n\tholds [-rHp] <snapshot> ...", 2)
    rows = []
    for name in rest:
        if "@" not in name:
            raise ZError("'%s' is not a snapshot" % name)
        pool, snap = snapshot_pool(cli, name, "open")
        snaps = [snap]
        if "r" in flags:
            base, _, short = name.partition("@")
            snaps += [
                pool["datasets"][d["name"] + "@" + short]
                for d in descendants(pool, base, False)
                if d["name"] + "@" + short in pool["datasets"]
            ]
        for cur in snaps:
            for tag, when in sorted(cur["holds"].items()):
                shown = str(when) if "p" in flags else time.strftime("%a %b %e %H:%M %Y", time.localtime(when))
                rows.append([cur["name"], tag, shown])
    if rows or "H" in flags:
        table(cli, ["NAME", "TAG", "TIMESTAMP"], rows, "H" in flags)


def expand_snapspec(pool, base, spec):
    """``a,b%c,%d`` -> (snapshots in createtxg order, missing names)."""
    snaps = snapshots_of(pool, base)
    order = [s["name"].partition("@")[2] for s in snaps]
    chosen, missing = [], []
    for part in spec.split(","):
        if "%" in part:
            first, _, last = part.partition("%")
            if (first and first not in order) or (last and last not in order):
                missing.append(part)
                continue
            lo = order.index(first) if first else 0
            hi = order.index(last) if last else len(order) - 1
            chosen.extend(order[lo : hi + 1])
        elif part in order:
            chosen.append(part)
        else:
            missing.append(part)
    seen = []
    for name in order:
        if name in chosen and name not in seen:
            seen.append(name)
    return [pool["datasets"][base + "@" + n] for n in seen], missing


def zfs_destroy(cli, args):
    flags, rest = opts(args, "dfnpRrv")
    if len(rest) != 1:
        raise ZError(
            "usage:\n\tdestroy [-fnpRrv] <filesystem|volume>\n"
            "\tdestroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]\n"
            "\tdestroy <filesystem|volume>#<bookmark>",
            2,
        )
    name = rest[0]
    verbose, dry = "v" in flags, "n" in flags
    if "@" in name:
        base, _, spec = name.partition("@")
        pool = cli.pools.get(base.split("/")[0])
        if pool is None or base not in pool["datasets"]:
            raise ZError("could not find any snapshots to destroy; check snapshot names.")
        doomed, _ = expand_snapspec(pool, base, spec)
        if "r" in flags:
            for child in descendants(pool, base, snapshots=False):
                more, _ = expand_snapspec(pool, child["name"], spec)
                doomed.extend(more)
        if not doomed:
            raise ZError("could not find any snapshots to destroy; check snapshot names.")
        for snap in doomed:
            if verbose or dry:
                cli.print("%s %s" % ("would destroy" if dry else "will destroy", snap["name"]))
        if verbose or dry:
            cli.print("%s %s" % ("would reclaim" if dry else "will reclaim", nicenum(0)))
        if dry:
            return
        held = [s for s in doomed if s["holds"]]
        if held and "d" not in flags:
            raise ZError(
                "\n".join(
                    "cannot destroy snapshot %s: it's being held. Run 'zfs holds -r %s' to see holders."
                    % (s["name"], s["name"])
                    for s in held
                )
            )
        write_op(cli, pool)
        for snap in doomed:
            if snap["holds"]:
                snap["defer_destroy"] = True
                continue
            del pool["datasets"][snap["name"]]
        pool["datasets"][base]["snapshots_changed"] = _now()
        return
    pool, ds = cli.dataset_pool(name)
    if "/" not in name:
        raise ZError(
            "cannot destroy '%s': operation does not apply to pools\n"
            "use 'zfs destroy -r %s' to destroy all datasets in the pool\n"
            "use 'zpool destroy %s' to destroy the pool itself" % (name, name, name)
        )
    below = descendants(pool, name)
    if below and not ("r" in flags or "R" in flags):
        raise ZError(
            "cannot destroy '%s': filesystem has children\nuse '-r' to destroy the following datasets:\n%s"
            % (name, "\n".join(d["name"] for d in below))
        )
    held = [d for d in below if d["holds"]]
    if held:
        raise ZError("cannot destroy '%s': dataset is busy" % held[0]["name"])
    doomed = below + [ds]
    for cur in doomed:
        if verbose or dry:
            cli.print("%s %s" % ("would destroy" if dry else "will destroy", cur["name"]))
    if dry:
        return
    write_op(cli, pool)
    for cur in doomed:
        if cur["type"] == "volume":
            zvol_detach(cli, cur, keep=False)
        del pool["datasets"][cur["name"]]


def zfs_rollback(cli, args):
    flags, rest = opts(args, "rRf")
    if len(rest) != 1 or "@" not in rest[0]:
        raise ZError("usage:\n\trollback [-rRf] <snapshot>", 2)
    pool, snap = snapshot_pool(cli, rest[0], "open")
    base = rest[0].partition("@")[0]
    later = [s for s in snapshots_of(pool, base) if s["createtxg"] > snap["createtxg"]]
    if later and "r" not in flags and "R" not in flags:
        raise ZError(
            "cannot rollback to '%s': more recent snapshots or bookmarks exist\n"
            "use '-r' to force deletion of the following snapshots and bookmarks:\n%s"
            % (rest[0], "\n".join(s["name"] for s in later))
        )
    write_op(cli, pool)
    for s in later:
        if s["holds"]:
            raise ZError(
                "cannot destroy snapshot %s: it's being held. Run 'zfs holds -r %s' to see holders."
                % (s["name"], s["name"])
            )
    for s in later:
        del pool["datasets"][s["name"]]
    pool["datasets"][base]["data"] = json.loads(json.dumps(snap.get("data", {})))


# --------------------------------------------------------------------------
# zfs: send, recv
# --------------------------------------------------------------------------


def resolve_from(base, text):
    if text.startswith("@"):
        return base + text
    if "@" in text:
        return text
    return base + "@" + text


def zfs_send(cli, args):
    flags, rest = opts(args, "DLPbcehnpsvwRi:I:t:", ["raw", "props", "replicate", "parsable", "verbose", "dryrun"])
    if len(rest) != 1:
        raise ZError("missing snapshot argument\nusage:\n\tsend [-DLPbcehnpsvw] [-i|-I snapshot] <snapshot>", 2)
    name = rest[0]
    if "@" not in name:
        raise ZError("Error: Unsupported flag with filesystem or bookmark.")
    pool, snap = snapshot_pool(cli, name, "open")
    base = name.partition("@")[0]
    ds = pool["datasets"][base]
    incremental = flags.get("i") or flags.get("I")
    chain = [snap]
    from_snap = None
    if incremental:
        from_name = resolve_from(base, incremental[0])
        if from_name.partition("@")[0] != base or from_name not in pool["datasets"]:
            raise ZError(
                "cannot send '%s': incremental source must be in same filesystem" % name
                if from_name.partition("@")[0] != base
                else "cannot open '%s': dataset does not exist" % from_name
            )
        from_snap = pool["datasets"][from_name]
        if from_snap["createtxg"] >= snap["createtxg"]:
            raise ZError("cannot send '%s': incremental source (%s) is not earlier than it" % (name, from_name))
        if "I" in flags:
            chain = [
                s for s in snapshots_of(pool, base) if from_snap["createtxg"] < s["createtxg"] <= snap["createtxg"]
            ]
    props = {}
    if "p" in flags or "R" in flags or "props" in flags or "replicate" in flags:
        props = {k: v for k, v in ds["props"].items()}
    stream = {
        "version": 1,
        "pool": pool["name"],
        "toname": name,
        "type": ds["type"],
        "volsize": ds.get("volsize"),
        "fromguid": from_snap["guid"] if from_snap else None,
        "fromname": from_snap["name"] if from_snap else None,
        "props": props,
        "snapshots": [
            {
                "name": s["name"].partition("@")[2],
                "guid": s["guid"],
                "creation": s["creation"],
                "data": s.get("data", {}),
            }
            for s in chain
        ],
    }
    payload = MAGIC + json.dumps(stream, sort_keys=True).encode() + b"\n"
    size = len(payload)
    if "v" in flags or "n" in flags or "P" in flags:
        kind = "incremental" if from_snap else "full"
        if "P" in flags:
            line = (
                "%s\t%s\t%d" % (kind, name, size)
                if not from_snap
                else "%s\t%s\t%s\t%d" % (kind, from_snap["name"], name, size)
            )
            cli.eprint(line) if "n" not in flags else cli.print(line)
            (cli.eprint if "n" not in flags else cli.print)("size\t%d" % size)
        else:
            what = (
                ("incremental send of %s from %s" % (name, from_snap["name"])) if from_snap else "full send of " + name
            )
            say = cli.eprint if "n" not in flags else cli.print
            say("%s estimated size is %s" % (what, nicenum(size)))
            say("total estimated size is %s" % nicenum(size))
    if "n" in flags:
        return
    if getattr(cli, "tty", False):
        raise ZError("Error: Stream can not be written to a terminal.\nYou must redirect standard output.")
    cli.binary = payload


def zfs_recv(cli, args):
    flags, rest = opts(args, "AdeFhMno:suvx:")
    if len(rest) != 1:
        raise ZError(
            "missing snapshot argument\nusage:\n\treceive [-vMnsFhu] [-o <property>=<value>] ... "
            "[-x <property>] ...\n\t    <filesystem|volume|snapshot>",
            2,
        )
    data = cli.stdin_data or b""
    if not data:
        raise ZError("cannot receive: failed to read from stream")
    if not data.startswith(MAGIC):
        raise ZError("cannot receive: invalid stream (bad magic number)")
    try:
        stream = json.loads(data[len(MAGIC) :].decode())
        stream["snapshots"][-1]["guid"]
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
        raise ZError("cannot receive: invalid stream (checksum mismatch or incomplete stream)") from None
    target = rest[0]
    sent_base, _, sent_snap = stream["toname"].partition("@")
    if "e" in flags:
        target = target + "/" + sent_base.rsplit("/", 1)[-1]
    elif "d" in flags:
        target = target + ("/" + sent_base.split("/", 1)[1] if "/" in sent_base else "")
    target_base, _, target_snap = target.partition("@")
    pool = cli.pools.get(target_base.split("/")[0])
    if pool is None:
        raise ZError("cannot open '%s': dataset does not exist" % target_base)
    if "/" not in target_base and stream["fromguid"] is None and "F" not in flags:
        raise ZError(
            "cannot receive new filesystem stream: destination '%s' exists\n"
            "must specify -F to overwrite it" % target_base
        )
    extra = {}
    for text in flags.get("o", []):
        key, value = split_prop(text)
        extra[ds_prop_name(key)] = value
    excluded = set(flags.get("x", []))
    verbose = "v" in flags
    if verbose:
        cli.print(
            "receiving %s stream of %s into %s@%s"
            % (
                "incremental" if stream["fromguid"] else "full",
                stream["toname"],
                target_base,
                target_snap or stream["snapshots"][-1]["name"],
            )
        )
    ds = pool["datasets"].get(target_base)
    if stream["fromguid"] is None:
        if ds is not None and "F" not in flags:
            raise ZError(
                "cannot receive new filesystem stream: destination '%s' exists\n"
                "must specify -F to overwrite it" % target_base
            )
        if ds is not None and (
            children_of(pool, target_base) or any(s["holds"] for s in snapshots_of(pool, target_base))
        ):
            raise ZError(
                "cannot receive new filesystem stream: destination has snapshots (eg. %s)\n"
                "must destroy them to overwrite it" % (snapshots_of(pool, target_base) or [ds])[0]["name"]
            )
        parent = target_base.rsplit("/", 1)[0]
        if "/" in target_base and parent not in pool["datasets"]:
            raise ZError("cannot open '%s': dataset does not exist" % parent)
        if "n" in flags:
            return
        txg = write_op(cli, pool)
        if ds is not None:
            for snap in snapshots_of(pool, target_base):
                del pool["datasets"][snap["name"]]
            if ds["type"] == "volume":
                zvol_detach(cli, ds, keep=False)
        ds = new_dataset(target_base, stream["type"], txg)
        pool["datasets"][target_base] = ds
        if stream["type"] == "volume":
            ds["volsize"] = stream["volsize"]
            zvol_attach(cli, pool, ds, stream["volsize"])
    else:
        if ds is None:
            raise ZError("cannot receive incremental stream: destination '%s' does not exist" % target_base)
        snaps = snapshots_of(pool, target_base)
        match = [s for s in snaps if s["guid"] == stream["fromguid"]]
        if not match:
            raise ZError(
                "cannot receive incremental stream: most recent snapshot of %s does not\n"
                "match incremental source" % target_base
            )
        newer = [s for s in snaps if s["createtxg"] > match[0]["createtxg"]]
        if newer and "F" not in flags:
            raise ZError(
                "cannot receive incremental stream: destination %s has been modified\n"
                "since most recent snapshot" % target_base
            )
        if "n" in flags:
            return
        txg = write_op(cli, pool)
        for s in newer:
            del pool["datasets"][s["name"]]
    for key, value in stream.get("props", {}).items():
        if key not in excluded:
            ds["received"][key] = value
    for key, value in extra.items():
        ds["props"][key] = value
    entries = stream["snapshots"]
    for i, entry in enumerate(entries):
        short = target_snap if (target_snap and i == len(entries) - 1) else entry["name"]
        full = target_base + "@" + short
        if full in pool["datasets"]:
            raise ZError(
                "cannot receive %s stream: destination snapshot %s already exists"
                % ("incremental" if stream["fromguid"] else "new filesystem", full)
            )
        ds["data"] = entry.get("data", {})
        make_snapshot(pool, ds, short, txg, guid=entry["guid"], creation=entry["creation"])
        txg += 1
        pool["txg"] = max(pool["txg"], txg)
    if verbose:
        cli.print("received %s stream in 0.01 seconds (%s/sec)" % (nicenum(len(data)), nicenum(len(data) * 100)))


# --------------------------------------------------------------------------
# zpool: device operations
# --------------------------------------------------------------------------


def zpool_online(cli, args):
    flags, rest = opts(args, "et")
    if len(rest) < 2:
        raise ZError("missing device name\nusage:\n\tonline [--power] [-e] <pool> <device> ...", 2)
    pool = cli.pool(rest[0])
    advance_scan(pool)
    errors = []
    for name in rest[1:]:
        leaf = find_leaf(pool, name, cli.host)
        if leaf is None:
            errors.append("cannot online %s: no such device in pool" % name)
            continue
        if leaf["state"] == "ONLINE":
            continue
        if not leaf_opens(cli, leaf, pool):
            cli.print("warning: device '%s' onlined, but remains in faulted state" % name)
            cli.print("use 'zpool replace' to replace devices that are no longer present")
            if leaf["state"] == "OFFLINE":
                leaf["state"] = "UNAVAIL"
            continue
        bring_back(cli, pool, leaf)
    pool["txg"] += 1
    if errors:
        raise ZError("\n".join(errors))


def bring_back(cli, pool, leaf):
    if not claim_leaf(cli, pool["name"], leaf):
        return
    leaf["state"] = "ONLINE"
    key = cli.host.key(leaf["dev"])
    if key:
        leaf["key"] = key
    write_label(cli, pool, leaf)
    start_resilver(pool, leaf)


def zpool_offline(cli, args):
    flags, rest = opts(args, "ft")
    if len(rest) < 2:
        raise ZError("missing device name\nusage:\n\toffline [--power]|[[-f][-t]] <pool> <device> ...", 2)
    pool = cli.pool(rest[0])
    for name in rest[1:]:
        leaf = find_leaf(pool, name, cli.host)
        if leaf is None:
            raise ZError("cannot offline %s: no such device in pool" % name)
        parent = parent_of(pool, leaf)
        others = [c for c in (parent["children"] if parent else []) if c is not leaf and c["state"] == "ONLINE"]
        if not others:
            raise ZError("cannot offline %s: no valid replicas" % name)
        leaf["state"] = "OFFLINE"
        leaf["resilvering"] = False
    pool["txg"] += 1


def zpool_replace(cli, args):
    flags, rest = opts(args, "fswo:")
    if len(rest) < 2:
        raise ZError(
            "missing <device> specification\nusage:\n\treplace [-fsw] [-o property=value] <pool> <device> [new-device]",
            2,
        )
    pool = cli.pool(rest[0])
    old_name = rest[1]
    new_name = rest[2] if len(rest) > 2 else old_name
    new_path = device_path(cli, new_name)
    old = find_leaf(pool, old_name, cli.host)
    if old is None:
        raise ZError("cannot replace %s with %s: no such device in pool" % (old_name, new_name))
    same = cli.host.key(new_path) == old.get("key") and os.path.exists(old.get("key") or "")
    if not same:
        vet_devices(cli, [("disk", [new_path])], "f" in flags, pool["name"], "replace")
    else:
        check_device(cli, new_path)
    busy = "cannot replace %s with %s: %s is busy" % (old_name, new_name, new_name)
    if zero_labels(cli, [new_path], pool["name"]):
        raise ZError(busy)
    size = cli.host.size(new_path)
    leaf = new_leaf(cli, new_path, size)
    if leaf["size"] < old["size"] - MIB:
        raise ZError("cannot replace %s with %s: device is too small" % (old_name, new_name))
    if not claim_leaf(cli, pool["name"], leaf):
        raise ZError(busy)
    if not same:
        cli.host.labels["disks"].pop(old.get("key"), None)
    parent = parent_of(pool, old)
    container = parent["children"] if parent else pool["vdevs"]
    container[container.index(old)] = leaf
    if same:
        leaf["guid"] = old["guid"]
    write_label(cli, pool, leaf)
    start_resilver(pool, leaf)
    pool["txg"] += 1
    if "w" in flags:
        advance_scan(pool, finish=True)


def zpool_attach(cli, args):
    flags, rest = opts(args, "fswo:")
    if len(rest) < 3:
        raise ZError(
            "missing <new_device> specification\nusage:\n\tattach [-fsw] [-o property=value] <pool> "
            "<vdev> <new-device>",
            2,
        )
    pool = cli.pool(rest[0])
    old_name, new_name = rest[1], rest[2]
    old = find_leaf(pool, old_name, cli.host)
    if old is None:
        raise ZError("cannot attach %s to %s: no such device in pool" % (new_name, old_name), 255)
    new_path = device_path(cli, new_name)
    vet_devices(cli, [("disk", [new_path])], "f" in flags, pool["name"], "attach")
    busy = "cannot attach %s to %s: %s is busy" % (new_name, old_name, new_name)
    if zero_labels(cli, [new_path], pool["name"]):
        raise ZError(busy)
    leaf = new_leaf(cli, new_path, cli.host.size(new_path))
    if leaf["size"] < old["size"] - MIB:
        raise ZError("cannot attach %s to %s: device is too small" % (new_name, old_name))
    if not claim_leaf(cli, pool["name"], leaf):
        raise ZError(busy)
    parent = parent_of(pool, old)
    if parent is None:
        index = pool["vdevs"].index(old)
        parent = {"type": "mirror", "id": index, "guid": _guid(), "children": [old]}
        pool["vdevs"][index] = parent
    parent["children"].append(leaf)
    write_label(cli, pool, leaf)
    start_resilver(pool, leaf)
    pool["txg"] += 1
    if "w" in flags:
        advance_scan(pool, finish=True)


def zpool_detach(cli, args):
    _, rest = opts(args, "")
    if len(rest) != 2:
        raise ZError("missing <device> specification\nusage:\n\tdetach <pool> <device>", 2)
    pool = cli.pool(rest[0])
    leaf = find_leaf(pool, rest[1], cli.host)
    if leaf is None:
        raise ZError("cannot detach %s: no such device in pool" % rest[1])
    parent = parent_of(pool, leaf)
    if parent is None:
        raise ZError("cannot detach %s: only applicable to mirror and replacing vdevs" % rest[1])
    others = [c for c in parent["children"] if c is not leaf]
    if not any(c["state"] == "ONLINE" and not c.get("resilvering") for c in others):
        raise ZError("cannot detach %s: no valid replicas" % rest[1])
    parent["children"].remove(leaf)
    cli.host.labels["disks"].pop(leaf.get("key"), None)
    if len(parent["children"]) == 1:
        pool["vdevs"][pool["vdevs"].index(parent)] = parent["children"][0]
    pool["txg"] += 1


def zpool_scrub(cli, args):
    flags, rest = opts(args, "spweC")
    if not rest:
        raise ZError("missing pool name argument\nusage:\n\tscrub [-e | -s | -p | -C] [-w] <pool> ...", 2)
    for name in rest:
        pool = cli.pool(name)
        advance_scan(pool, finish="w" in flags)
        scan = pool.get("scan")
        if "s" in flags or "p" in flags:
            if not scan or scan["state"] != "scanning" or scan["function"] != "scrub":
                raise ZError(
                    "cannot %s scrubbing %s: there is no active scrub" % ("cancel" if "s" in flags else "pause", name)
                )
            scan["state"] = "canceled"
            continue
        if scan and scan["state"] == "scanning" and scan["function"] == "resilver":
            raise ZError("cannot scrub %s: currently resilvering" % name)
        probe(cli, pool)
        if pool_state(pool) == "UNAVAIL":
            raise ZError("cannot scrub %s: pool I/O is currently suspended" % name)
        now = _now()
        pool["scan"] = {"function": "scrub", "state": "finished", "start": now, "end": now, "bytes": 0}
        pool["txg"] += 1
        pool["last_scrubbed_txg"] = pool["txg"]


def zpool_reopen(cli, args):
    _, rest = opts(args, "n")
    for pool in status_pools(cli, rest):
        probe(cli, pool)
        for leaf in leaves(pool):
            if leaf["state"] in ("REMOVED", "UNAVAIL") and leaf_opens(cli, leaf, pool):
                bring_back(cli, pool, leaf)
        pool["txg"] += 1


def zpool_clear(cli, args):
    _, rest = opts(args, "nFX", ["power"])
    if not rest:
        raise ZError("missing pool name\nusage:\n\tclear [[--power]|[-nF]] <pool> [device]", 2)
    pool = cli.pool(rest[0])
    targets = [find_leaf(pool, n, cli.host) for n in rest[1:]] or list(leaves(pool))
    for leaf in targets:
        if leaf is None:
            raise ZError("cannot clear errors for %s: no such device in pool" % rest[1])
        if leaf["state"] in ("REMOVED", "UNAVAIL") and leaf_opens(cli, leaf, pool):
            bring_back(cli, pool, leaf)


def zpool_wait(cli, args):
    _, rest = opts(args, "Hpt:T:")
    for pool in status_pools(cli, rest[:1]):
        advance_scan(pool, finish=True)


def zpool_labelclear(cli, args):
    flags, rest = opts(args, "f")
    if len(rest) != 1:
        raise ZError("usage:\n\tlabelclear [-f] <vdev>", 2)
    path = device_path(cli, rest[0])
    check_device(cli, path)
    key = cli.host.key(path)
    label = cli.host.labels["disks"].get(key)
    if label is None or label["state"] == "destroyed":
        cli.host.labels["disks"].pop(key, None)
        return
    here = cli.pools.get(label["pool"])
    if label["state"] == "active" and here is not None and here["guid"] == label["pool_guid"]:
        raise ZError('%s is a member (ACTIVE) of pool "%s"' % (rest[0], label["pool"]))
    if "f" not in flags:
        what = "exported" if label["state"] == "exported" else "potentially active"
        raise ZError(
            "use '-f' to override the following error:\n%s is a member of %s pool \"%s\""
            % (rest[0], what, label["pool"])
        )
    del cli.host.labels["disks"][key]


# --------------------------------------------------------------------------
# zpool: export, import, destroy
# --------------------------------------------------------------------------


def zpool_export(cli, args):
    flags, rest = opts(args, "af")
    if not rest and "a" not in flags:
        raise ZError("missing pool argument\nusage:\n\texport [-af] <pool> ...", 2)
    names = sorted(cli.pools) if "a" in flags else rest
    for name in names:
        pool = cli.pool(name)
        advance_scan(pool, finish=True)
        pool["txg"] += 1
        for ds in pool["datasets"].values():
            if ds["type"] == "volume":
                zvol_detach(cli, ds, keep=True)
        write_labels(cli, pool, "exported")
        cli.host.labels["pools"][str(pool["guid"])] = pool
        del cli.pools[name]


def zpool_destroy(cli, args):
    flags, rest = opts(args, "f")
    if len(rest) != 1:
        raise ZError("missing pool argument\nusage:\n\tdestroy [-f] <pool>", 2)
    pool = cli.pool(rest[0])
    for ds in pool["datasets"].values():
        if ds["type"] == "volume":
            zvol_detach(cli, ds, keep=False)
    for leaf in leaves(pool):
        label = cli.host.labels["disks"].get(leaf.get("key"))
        if label and label["pool_guid"] == pool["guid"]:
            label["state"] = "destroyed"
    cli.host.labels["pools"].pop(str(pool["guid"]), None)
    del cli.pools[rest[0]]


def candidates(cli, dirs, destroyed=False):
    """Pools whose labels are on disks this host sees: {guid: (config copy, label)}, not imported here."""
    found = {}
    here = {p["guid"] for p in cli.pools.values()}
    for hpath in cli.host.dev_entries(dirs):
        key = cli.host.key(hpath)
        if not key or not os.path.exists(key) or not cli.host.can_open(hpath)[0]:
            continue
        label = cli.host.labels["disks"].get(key)
        if not label or label["pool_guid"] in here:
            continue
        if label["state"] == "destroyed" and not destroyed:
            continue
        if label["state"] != "destroyed" and destroyed:
            continue
        config = cli.host.labels["pools"].get(str(label["pool_guid"]))
        if config is None:
            continue
        entry = found.get(label["pool_guid"])
        if entry is None:
            entry = found[label["pool_guid"]] = (json.loads(json.dumps(config)), label, {})
        entry[2].setdefault(label["vdev_guid"], (hpath, key))
    result = {}
    for guid, (config, label, seen) in found.items():
        held = False
        for leaf in leaves(config):
            leaf.pop("claim", None)
            if leaf["guid"] in seen:
                hpath, key = seen[leaf["guid"]]
                if cli.host.key(leaf["dev"]) != key:
                    was_partitioned = leaf["path"] != leaf["dev"]
                    leaf["dev"] = hpath
                    leaf["path"] = partitioned(hpath) if was_partitioned else hpath
                leaf["key"] = key
                if leaf["state"] != "OFFLINE":
                    leaf["state"] = "ONLINE"
                    # the label reads (a plain open), the vdev does not open: another holder has it
                    if held_elsewhere(cli, leaf["dev"], holder_of(config["name"]), leaf_part(leaf)):
                        leaf["state"] = "UNAVAIL"
                        held = True
            elif leaf["state"] != "OFFLINE":
                leaf["state"] = "UNAVAIL"
            leaf["resilvering"] = False
        if held and pool_state(config) == "UNAVAIL":
            continue  # the try-import fails: the pool is not offered (exclusive-holders.txt, case E)
        result[guid] = (config, label)
    return result


def import_status(cli, config, label):
    """(reason, state) of a pool seen by zpool import (libzfs_status.c, import side)."""
    mine = cli.host.hostid()
    multihost = config["props"].get("multihost") == "on"
    active_elsewhere = label["state"] == "active" and label.get("hostid") != mine
    if multihost and mine == 0 and label["state"] == "active":
        return "hostid_required", "UNAVAIL"
    if active_elsewhere and multihost and label.get("alive", True):
        return "hostid_active", "UNAVAIL"
    if active_elsewhere:
        return "hostid_mismatch", pool_state(config)
    if multihost and mine == 0:
        return "hostid_required", "UNAVAIL"
    if pool_state(config) != "ONLINE":
        return "missing", pool_state(config)
    return "ok", "ONLINE"


def print_import_entry(cli, config, label):
    reason, state = import_status(cli, config, label)
    cli.print("  pool: %s" % config["name"])
    cli.print("    id: %d" % config["guid"])
    cli.print(" state: %s%s" % (state, " (DESTROYED)" if label["state"] == "destroyed" else ""))
    msgid = None
    if reason == "hostid_active":
        cli.print("status: The pool is currently imported by another system.")
        cli.print(
            "action: The pool must be exported from %s (hostid=%x)\n\tbefore it can be safely imported."
            % (label.get("hostname", "<unknown>"), label.get("hostid", 0))
        )
        msgid = "ZFS-8000-EY"
    elif reason == "hostid_required":
        cli.print(
            "status: The pool has the multihost property on.  It cannot\n"
            "\tbe safely imported when the system hostid is not set."
        )
        cli.print("action: Set a unique system hostid with the zgenhostid(8) command.")
        msgid = "ZFS-8000-EY"
    elif reason == "hostid_mismatch":
        cli.print("status: The pool was last accessed by another system.")
        cli.print("action: The pool can be imported using its name or numeric identifier and\n\tthe '-f' flag.")
        msgid = "ZFS-8000-EY"
    elif reason == "missing" and state == "DEGRADED":
        cli.print("status: One or more devices are missing from the system.")
        cli.print(
            "action: The pool can be imported despite missing or damaged devices.  The\n"
            "\tfault tolerance of the pool may be compromised if imported."
        )
        msgid = "ZFS-8000-2Q"
    elif reason == "missing":
        cli.print("status: One or more devices are missing from the system.")
        cli.print("action: The pool cannot be imported. Attach the missing\n\tdevices and try again.")
        msgid = "ZFS-8000-3C"
    else:
        cli.print("action: The pool can be imported using its name or numeric identifier.")
    if msgid:
        cli.print("   see: https://openzfs.github.io/openzfs-docs/msg/%s" % msgid)
    cli.print("config:")
    cli.print("")
    rows = vdev_rows(config, False)
    width = max([10] + [indent + len(name) for indent, name, _, _, _ in rows])
    for indent, name, vstate, note, _ in rows:
        if indent == 0:
            vstate = state
        cli.print("\t%s%-*s  %s%s" % (" " * indent, width - indent, name, vstate, note))


def zpool_import(cli, args):
    flags, rest = opts(args, "ac:d:DfFlmnNo:O:R:stTX", ["rewind-to-checkpoint"])
    dirs = flags.get("d")
    found = candidates(cli, dirs, destroyed="D" in flags)
    if not rest and "a" not in flags:
        if not found:
            cli.print("no pools available to import")
            return
        entries = sorted(found.values(), key=lambda e: e[0]["name"])
        for i, (config, label) in enumerate(entries):
            if i:
                cli.print("")
            print_import_entry(cli, config, label)
        return
    if "a" in flags:
        targets = [(c, lab, c["name"]) for c, lab in found.values()]
    else:
        wanted = rest[0]
        matches = [(c, lab) for c, lab in found.values() if c["name"] == wanted or str(c["guid"]) == wanted]
        if not matches:
            raise ZError("cannot import '%s': no such pool available" % wanted)
        if len(matches) > 1:
            raise ZError("cannot import '%s': more than one matching pool\nimport by numeric ID instead" % wanted)
        targets = [(matches[0][0], matches[0][1], rest[1] if len(rest) > 1 else matches[0][0]["name"])]
    props = dict(split_prop(p) for p in flags.get("o", []))
    for config, label, newname in targets:
        do_import(cli, config, label, newname, props, "f" in flags)


def do_import(cli, config, label, newname, props, force):
    name = config["name"]
    reason, state = import_status(cli, config, label)
    if reason == "hostid_required":
        raise ZError(
            "Cannot import '%s': pool has the multihost property on and the\n"
            "system's hostid is not set. Set a unique hostid with the zgenhostid(8) command." % name
        )
    if reason == "hostid_active":
        if force:
            raise ZError(
                "cannot import '%s': pool is imported on host '%s' (hostid=%x).\n"
                "Export the pool on the other system, then run 'zpool import'."
                % (name, label.get("hostname", "<unknown>"), label.get("hostid", 0))
            )
        raise ZError(
            "cannot import '%s': pool is imported on %s (hostid: 0x%x)\n"
            "Export the pool on the other system, then run 'zpool import'."
            % (name, label.get("hostname", "<unknown>"), label.get("hostid", 0))
        )
    if reason == "hostid_mismatch" and not force:
        raise ZError(
            "cannot import '%s': pool was previously in use from another system.\n"
            "Last accessed by %s (hostid=%x) at %s\n"
            "The pool can be imported, use 'zpool import -f' to import the pool."
            % (name, label.get("hostname", "<unknown>"), label.get("hostid", 0), ctime(config.get("timestamp", _now())))
        )
    if state == "UNAVAIL":
        raise ZError("cannot import '%s': one or more devices is currently unavailable" % name)
    if newname in cli.pools:
        raise ZError(
            "cannot import '%s': a pool with that name already exists\n"
            "use the form 'zpool import <pool | id> <newpool>' to give it a new name" % name
        )
    for key, value in props.items():
        if key in ("cachefile", "altroot", "readonly"):
            continue
        check_pool_prop(cli.host, key, value, False, name)
    pool = config
    if newname != name:
        renamed = {}
        for ds_name, ds in pool["datasets"].items():
            new = newname + ds_name[len(name) :]
            ds["name"] = new
            renamed[new] = ds
        pool["datasets"] = renamed
        pool["name"] = newname
    for key, value in props.items():
        if key not in ("readonly",):
            pool["props"][key] = value
    for leaf in leaves(pool):
        if leaf["state"] == "ONLINE" and not claim_leaf(cli, newname, leaf):
            leaf["state"] = "UNAVAIL"
    if pool_state(pool) == "UNAVAIL":
        for leaf in leaves(pool):
            if leaf.get("claim"):
                holders.release(cli.host.root, leaf.pop("claim"), holder_of(newname))
        raise ZError("cannot import '%s': no such pool available" % name)
    pool["load_guid"] = _guid()
    pool["txg"] += 1
    pool["timestamp"] = _now()
    cli.pools[newname] = pool
    write_labels(cli, pool)
    for ds in pool["datasets"].values():
        if ds["type"] == "volume":
            zvol_attach(cli, pool, ds)


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.: ")


def check_name(name, what):
    if what == "pool":
        bad = not name or not name[0].isalpha() or any(c not in NAME_CHARS or c == " " for c in name)
        if bad or name in ("mirror", "raidz", "draid", "spare", "log") or name.startswith(("c0", "mirror", "raidz")):
            raise ZError(
                "cannot create '%s': invalid character in pool name" % name if name else "missing pool name", 2
            )
        return
    base, _, snap = name.partition("@")
    parts = base.split("/") + ([snap] if "@" in name else [])
    if not all(parts) or any(c not in NAME_CHARS or c == " " for part in parts for c in part):
        raise ZError("cannot open '%s': invalid character in %s name" % (name, what), 2)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

ZPOOL = {
    "version": zpool_version,
    "create": zpool_create,
    "status": zpool_status,
    "list": zpool_list,
    "get": zpool_get,
    "set": zpool_set,
    "online": zpool_online,
    "offline": zpool_offline,
    "replace": zpool_replace,
    "attach": zpool_attach,
    "detach": zpool_detach,
    "scrub": zpool_scrub,
    "reopen": zpool_reopen,
    "clear": zpool_clear,
    "wait": zpool_wait,
    "labelclear": zpool_labelclear,
    "export": zpool_export,
    "import": zpool_import,
    "destroy": zpool_destroy,
}
ZFS = {
    "version": zfs_version,
    "create": zfs_create,
    "set": zfs_set,
    "get": zfs_get,
    "inherit": zfs_inherit,
    "list": zfs_list,
    "snapshot": zfs_snapshot,
    "snap": zfs_snapshot,
    "destroy": zfs_destroy,
    "rollback": zfs_rollback,
    "hold": zfs_hold,
    "release": zfs_release,
    "holds": zfs_holds,
    "send": zfs_send,
    "recv": zfs_recv,
    "receive": zfs_recv,
}
READ_ONLY = {("zpool", "version"), ("zfs", "version"), ("zpool", "status"), ("zpool", "list"), ("zpool", "get")}


def run(root, tool, args, stdin=None, tty=False):
    """Run one command; return (exit code, stdout bytes, stderr text). ``stdin``: a binary file."""
    host = Host(root)
    table_ = {"zpool": ZPOOL, "zfs": ZFS}.get(tool)
    try:
        if tool == "zgenhostid":
            return zgenhostid(host, args)
        if tool == "zstream":
            return zstream(args, stdin)
        if tool == "zdb":
            return zdb(host, args)
        if table_ is None:
            raise ZError("zfsemu: unknown tool %s" % tool, 2)
        if not args:
            raise ZError("usage: %s command args ..." % tool, 2)
        cmd = args[0]
        if cmd not in table_:
            raise ZError("unrecognized command '%s'" % cmd, 2)
        payload = None
        if tool == "zfs" and cmd in ("recv", "receive"):
            payload = (stdin or sys.stdin.buffer).read()
        with host.locked():
            cli = Cli(host)
            cli.stdin_data = payload
            cli.tty = tty
            for pool in host.state["pools"].values():
                advance_scan(pool)
            code = 0
            try:
                table_[cmd](cli, args[1:])
            except ZError as exc:
                code = exc.code
                cli.eprint(exc.message)
            sync_claims(cli)
            host.save()
        out = "".join(cli.out).encode()
        if getattr(cli, "binary", None) is not None:
            out = cli.binary
        return code, out, "".join(cli.err)
    except ZError as exc:
        return exc.code, b"", exc.message + "\n"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 3 or argv[0] != "--root":
        sys.stderr.write("usage: python -m tests.emul.zfsemu --root ROOT TOOL ARGS...\n")
        return 2
    root, tool, args = argv[1], argv[2], argv[3:]
    tty = tool == "zfs" and args[:1] == ["send"] and os.isatty(1)
    code, out, err = run(root, tool, args, tty=tty)
    if out:
        try:
            sys.stdout.buffer.write(out)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            pass
    if err:
        sys.stderr.write(err)
    return code


ZGENHOSTID_USAGE = (
    "usage: zgenhostid [-fh] [-o path] [value]\n\n"
    "  -f\t\t force hostid file write\n"
    "  -h\t\t print this usage and exit\n"
    "  -o <filename>\t write hostid to this file\n\n"
    "If hostid file is not present, store a hostid in it.\n"
    "The optional value should be an 8-digit hex number between 1 and 2^32-1.\n"
    "If the value is 0 or no value is provided, a random one will be generated.\n"
    "The value must be unique among your systems.\n"
)


def zgenhostid(host, args):
    """cmd/zgenhostid.c: 4 bytes, little endian (x86), to /etc/hostid (host-absolute) or -o path."""
    try:
        found, rest = getopt.getopt(args, "fo:h?")
    except getopt.GetoptError:
        return 1, b"", ZGENHOSTID_USAGE
    flags = dict(found)
    if "-h" in flags or "-?" in flags:
        return 1, b"", ZGENHOSTID_USAGE
    path = flags.get("-o", "/etc/hostid")
    value = 0
    if rest:
        text = rest[0][2:] if rest[0].lower().startswith("0x") else rest[0]
        if len(text) != 8 or any(c not in "0123456789abcdefABCDEF" for c in text):
            return 1, b"", os.strerror(errno.ERANGE) + "\n" + ZGENHOSTID_USAGE
        value = int(text, 16)
    real = host.hp(path) if path.startswith("/") else os.path.join(host.root, path)
    if "-f" not in flags and os.path.isfile(real):
        return 1, b"", "%s: %s\n" % (path, os.strerror(errno.EEXIST))
    while value == 0:
        value = random.getrandbits(31)
    os.makedirs(os.path.dirname(real), exist_ok=True)
    with open(real, "wb") as handle:
        handle.write(value.to_bytes(4, "little"))
    return 0, b"", ""


def zstream(args, stdin):
    """``zstream dump``: the record counts mdtmirror checks (cmd/zstream/zstream_dump.c SUMMARY)."""
    if not args or args[0] != "dump":
        return 2, b"", "usage: zstream command args ...\n"
    data = (stdin or sys.stdin.buffer).read()
    try:
        stream = json.loads(data[len(MAGIC) :].decode()) if data.startswith(MAGIC) else None
        count = len(stream["snapshots"]) if stream else 0
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        stream, count = None, 0
    if not data.startswith(MAGIC):
        return 1, b"", "Invalid stream (bad magic number)\n"
    if stream is None:
        out = (
            "BEGIN record\nINVALID record type\nSUMMARY:\n\tTotal DRR_BEGIN records = 1\n\tTotal DRR_END records = 0\n"
        )
        return 0, out.encode(), ""
    out = ["BEGIN record", "\ttoname = %s" % stream["toname"], "END checksum = 0/0/0/0", "SUMMARY:"]
    out.append("\tTotal DRR_BEGIN records = %d" % count)
    out.append("\tTotal DRR_END records = %d" % count)
    out.append("\tTotal records = %d" % (2 * count))
    out.append("\tTotal payload size = %d (0x%x)" % (len(data), len(data)))
    return 0, ("\n".join(out) + "\n").encode(), ""


def crash(root):
    """The host dies: its imports vanish, its pools' labels stay active (its hostid) but MMP stops, and
    every exclusive claim of the host (pools' and SCST's, kernel memory) is gone (see module doc)."""
    host = Host(root)
    with host.locked():
        cli = Cli(host)
        for pool in list(host.state["pools"].values()):
            for ds in pool["datasets"].values():
                if ds["type"] == "volume":
                    zvol_detach(cli, ds, keep=True)
            for leaf in leaves(pool):
                label = host.labels["disks"].get(leaf.get("key"))
                if label and label["pool_guid"] == pool["guid"]:
                    label["alive"] = False
            host.labels["pools"][str(pool["guid"])] = pool
        host.state["pools"] = {}
        host.save()
        holders.clear(host.root)


if __name__ == "__main__":
    sys.exit(main())
