"""
In-memory model of SCST's sysfs ABI (``/sys/kernel/scst_tgt``), no FUSE.

Written from the SCST notes (shared/notes/scst.md), the captures of a real SCST
3.11.0-pre on Linux 6.1 (shared/captures/scst-3.11-pre-linux-6.1/) and the SCST
source at the captured commit (aa5cc2dd: scst_sysfs.c, scst_lib.c, scst_vdisk.c,
scst_copy_mgr.c, ib_srpt.c). Store functions mirror the kernel's parsing order so
that errnos, ``last_sysfs_mgmt_res`` and ``[key]`` markers match the real thing,
not the code under test.

Paths are relative to the scst_tgt root ('' = root), '/'-separated.

Proven against the captures (tests/emulator/): tree-0 byte for byte; ops.txt,
forms.txt and reapply.txt replayed with the same errnos, last_sysfs_mgmt_res,
listings and read-backs; tree-1..4 equal except I/O counters, SG-allocator
statistics and thread PIDs.

Where the kernel differs from a simple reading of the notes (source + captures win):
  * copy manager auto-LUNs come from a rolling counter (scst_cm_next_lun: the next
    free LUN after the last one handed out), not the first free LUN: after a
    clear, re-opened devices got LUNs 3 and 4 (tree-4).
  * "one command per write" is the parsers': create/del (groups), add/del
    (initiators) ignore trailing tokens, so a second line is dropped; add_device
    and LUN add read later lines as more parameters, del_device / LUN del / clear
    reject extra tokens: those writes fail with EINVAL.
  * sessions are re-assigned to groups whenever initiator names are added,
    removed or moved (scst_check_reassign_sessions), not only at login.
  * ``enabled`` only looks at the first character ("10" enables).
Simplified / not emulated: I/O and latency statistics (static zeros), thread
PIDs (fake, right count), ALUA device_groups (create/del only), DIF (parameters
parsed, no integrity files), DLM cluster_mode (accepted), pass-through handlers
(pass-through devices are listed and can be LUNs), vcdrom media changes (plain).
EAGAIN injection applies to writes that SCST runs in its sysfs work thread (every
mgmt file, enabled, rel_tgt_id, active, filename, size, size_mb, resync_size,
cluster_mode, cpu_mask, io_grouping_type, threads, threads_num,
threads_pool_type, pr_file_name), never to reads other than last_sysfs_mgmt_res.
blockio ``blocksize`` is validated as HEAD does on kernels < 6.15 (<= 4096,
checked when the device is first opened; backends have 512-byte sectors).
vdisk_blockio opens its backing device exclusively (FMODE_EXCL, holder
``scst:<device>``) in the host's holder registry (holders.py), shared with
the zpool emulator: a device another holder has (another blockio device, a
pool; a partition of it or its whole disk) gives EBUSY when the device is
opened -- at add_device, through the copy manager's LUN
(scst-3.11-pre-linux-6.1-zfs/exclusive-holders.txt: write fails EBUSY,
last_sysfs_mgmt_res -16, "attach_tgt() failed: -16", no device). Closing
(last LUN gone, active=0, del_device) releases it; vdisk_fileio never claims.
A new ScstKernel (module load) drops stale ``scst:`` claims of its host.
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from collections import OrderedDict
from typing import Callable

from . import holders
from .host import HostConfig

PAGE_SIZE = 4096
HOLDER_PREFIX = "scst:"
SCST_MAX_LUN = 16383
KEY = "[key]"
SCST_VERSION = "3.11.0-pre"
SCST_ROOT = "/sys/kernel/scst_tgt"
VDISK_NULLIO_SIZE = 5 * 1024 * 1024 * 1024 * 1024 // 2
DEF_OPT_TRANS_LEN = 524288
DEF_NUM_THREADS = 8  # scst_vdisk module param num_threads
MAX_INQ_VEND_SPECIFIC_LEN = 256 - 96
SRPT_DEFAULT_PORT_ID = "SCST SRP target"
IB_SERVICE_ID_AGN_MASK = 0xFF00000000000000

TYPE_NAMES = {
    0: "Direct-access device (e.g., magnetic disk)",
    1: "Sequential-access device (e.g., magnetic tape)",
    5: "CD-ROM device",
}

_TRACE_TOKENS = "function, line, pid, out_of_mem, special, scsi, mgmt, minor, scsi_serializing, retry, pr"


def _trace_level_text(extra: str = "") -> str:
    return (
        "out_of_mem | pid | special | mgmt\n\n\nUsage:\n"
        '\techo "all|none|default" >trace_level\n'
        '\techo "value DEC|0xHEX|0OCT" >trace_level\n'
        '\techo "add|del TOKEN" >trace_level\n\n'
        "where TOKEN is one of [" + _TRACE_TOKENS + extra + "]\n"
    )


LUNS_MGMT_HELP = (
    'Usage: echo "add H:C:I:L lun [parameters]" >mgmt\n'
    '       echo "add VNAME lun [parameters]" >mgmt\n'
    '       echo "del lun" >mgmt\n'
    '       echo "replace H:C:I:L lun [parameters]" >mgmt\n'
    '       echo "replace VNAME lun [parameters]" >mgmt\n'
    '       echo "replace_no_ua H:C:I:L lun [parameters]" >mgmt\n'
    '       echo "replace_no_ua VNAME lun [parameters]" >mgmt\n'
    '       echo "clear" >mgmt\n'
    "\n"
    "where parameters are one or more param_name=value pairs separated by ';'\n"
    "\n"
    "The following parameters available: read_only\n"
)
INI_GROUPS_MGMT_HELP = 'Usage: echo "create GROUP_NAME" >mgmt\n       echo "del GROUP_NAME" >mgmt\n'
INITIATORS_MGMT_HELP = (
    'Usage: echo "add INITIATOR_NAME" >mgmt\n'
    '       echo "del INITIATOR_NAME" >mgmt\n'
    '       echo "move INITIATOR_NAME DEST_GROUP_NAME" >mgmt\n'
    '       echo "clear" >mgmt\n'
)
DEVICE_GROUPS_MGMT_HELP = 'Usage: echo "create group_name" >mgmt\n       echo "del group_name" >mgmt\n'
DG_DEVICES_MGMT_HELP = 'Usage: echo "add device" >mgmt\n       echo "del device" >mgmt\n'
DG_TG_MGMT_HELP = 'Usage: echo "create group_name" >mgmt\n       echo "del group_name" >mgmt\n'

# add_device parameters accepted per handler (scst_vdisk.c *_add_dev_params); the
# mgmt help text lists them in this order.
ADD_DEV_PARAMS = {
    "vdisk_fileio": [
        "active", "async", "bind_alua_state", "blocksize", "cluster_mode", "dif_filename", "dif_mode",
        "dif_static_app_tag", "dif_type", "filename", "numa_node_id", "nv_cache", "o_direct", "read_only",
        "removable", "rotational", "thin_provisioned", "tst", "t10_dev_id", "write_through",
    ],
    "vdisk_blockio": [
        "active", "bind_alua_state", "blocksize", "cluster_mode", "dif_filename", "dif_mode",
        "dif_static_app_tag", "dif_type", "filename", "numa_node_id", "nv_cache", "read_only", "removable",
        "rotational", "thin_provisioned", "tst", "t10_dev_id", "write_through",
    ],
    "vdisk_nullio": [
        "blocksize", "cluster_mode", "dif_mode", "dif_static_app_tag", "dif_type", "dummy", "numa_node_id",
        "read_only", "removable", "rotational", "size", "size_mb", "tst", "t10_dev_id",
    ],
    "vcdrom": ["tst"],
}  # fmt: skip


def devt_mgmt_help(handler: str) -> str:
    return (
        'Usage: echo "add_device device_name [parameters]" >mgmt\n'
        '       echo "del_device device_name" >mgmt\n'
        "\n"
        "where parameters are one or more param_name=value pairs separated by ';'\n\n"
        "The following parameters available: " + ", ".join(ADD_DEV_PARAMS[handler]) + "\n\n"
    )


def _err(code: int, what: str = "") -> OSError:
    if what:
        return OSError(code, os.strerror(code), what)
    return OSError(code, os.strerror(code))


# --------------------------------------------------------------------------
# Kernel library functions, ported for exact behaviour
# --------------------------------------------------------------------------


def crc32c(crc: int, data: bytes) -> int:
    """Linux crc32c(): raw CRC32C (Castagnoli), no pre/post inversion."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc & 0xFFFFFFFF


_WS = " \t\n\v\f\r"
_HEX = "0123456789abcdefABCDEF"


def next_lexem(s: str, pos: int) -> tuple:
    """scst_get_next_lexem(): tokens split on whitespace and '='. -> (token, new_pos)."""
    n = len(s)
    p = pos
    while p < n and (s[p] in _WS or s[p] == "="):
        p += 1
    q = p
    while q < n and s[q] not in _WS and s[q] != "=":
        q += 1
    tok = s[p:q]
    if q < n:
        q += 1  # the delimiter is overwritten by '\0' and skipped
    return tok, q


def next_token_str(s: str, pos: int) -> tuple:
    """scst_get_next_token_str(): split on '\\n' or ';'; an empty token ends the list."""
    n = len(s)
    i = pos
    while i < n and s[i] not in "\n;":
        i += 1
    if i == pos:
        return None, pos
    return s[pos:i], (i + 1 if i < n else i)


def _cstr(s: str) -> str:
    return s.split("\0", 1)[0]


def _kstrtoull_raw(s: str, base: int = 0) -> int:
    if base == 0:
        if s[:1] == "0":
            if s[1:2].lower() == "x" and s[2:3] != "" and s[2] in _HEX:
                base, s = 16, s[2:]
            else:
                base = 8
        else:
            base = 10
    elif base == 16 and s[:2].lower() == "0x":
        s = s[2:]
    val, i, overflow = 0, 0, False
    while i < len(s):
        c = s[i].lower()
        if "0" <= c <= "9":
            d = ord(c) - 48
        elif "a" <= c <= "f":
            d = ord(c) - 87
        else:
            break
        if d >= base:
            break
        val = val * base + d
        if val > 0xFFFFFFFFFFFFFFFF:
            overflow = True
        i += 1
    if i == 0:
        raise _err(errno.EINVAL)
    if overflow:
        raise _err(errno.ERANGE)
    rest = s[i:]
    if rest[:1] == "\n":
        rest = rest[1:]
    if rest:
        raise _err(errno.EINVAL)
    return val


def kstrtoull(s: str, base: int = 0) -> int:
    s = _cstr(s)
    if s[:1] == "+":
        s = s[1:]
    return _kstrtoull_raw(s, base)


kstrtoul = kstrtoull


def kstrtoll(s: str, base: int = 0) -> int:
    s = _cstr(s)
    if s[:1] == "-":
        v = _kstrtoull_raw(s[1:], base)
        if v > 1 << 63:
            raise _err(errno.ERANGE)
        return -v
    v = kstrtoull(s, base)
    if v > (1 << 63) - 1:
        raise _err(errno.ERANGE)
    return v


kstrtol = kstrtoll


def kstrtoint(s: str, base: int = 0) -> int:
    v = kstrtoll(s, base)
    if not -(1 << 31) <= v < (1 << 31):
        raise _err(errno.ERANGE)
    return v


def ilog2(v: int) -> int:
    return v.bit_length() - 1


def bitmap_str(mask: int, nbits: int) -> str:
    """The kernel's "%*pb": 32-bit hex chunks, comma separated, first chunk trimmed."""
    nbits = max(nbits, 1)
    chunks = (nbits + 31) // 32
    out = []
    for c in range(chunks - 1, -1, -1):
        val = (mask >> (32 * c)) & 0xFFFFFFFF
        if c == chunks - 1:
            width = ((nbits - 32 * c) + 3) // 4
        else:
            width = 8
        out.append("%0*x" % (width, val))
    return ",".join(out)


def cpumask_parse(buf: str, nbits: int) -> int:
    s = _cstr(buf)
    if s.endswith("\n"):
        s = s[:-1]
    if not s:
        raise _err(errno.EINVAL)
    val = 0
    for chunk in s.split(","):
        if not chunk or len(chunk) > 8 or any(c not in _HEX for c in chunk):
            raise _err(errno.EINVAL)
        val = (val << 32) | int(chunk, 16)
    if val >> nbits:
        raise _err(errno.EOVERFLOW)
    return val


def wildcmp(wild: str, string: str, level: int = 0) -> bool:
    """SCST's __wildcmp(): DOS wildcards * and ?, a first '!' negates, case-insensitive."""
    w, s = 0, 0
    mp, cp = None, None
    while s < len(string) and (w >= len(wild) or wild[w] != "*"):
        if w < len(wild) and wild[w] == "!" and level == 0:
            return not wildcmp(wild[w + 1 :], string[s:], level + 1)
        if w >= len(wild) or (wild[w].lower() != string[s].lower() and wild[w] != "?"):
            return False
        w += 1
        s += 1
    while s < len(string):
        if w < len(wild) and wild[w] == "!" and level == 0:
            return not wildcmp(wild[w + 1 :], string[s:], level + 1)
        if w < len(wild) and wild[w] == "*":
            w += 1
            if w >= len(wild):
                return True
            mp = w
            cp = s + 1
        elif w < len(wild) and (wild[w].lower() == string[s].lower() or wild[w] == "?"):
            w += 1
            s += 1
        else:
            if mp is None:
                return False
            w = mp
            s = cp
            cp += 1
    while w < len(wild) and wild[w] == "*":
        w += 1
    return w >= len(wild)


def shell_quote_path(path: str) -> str:
    """How GNU coreutils quotes a file name in an error message (quotef)."""
    special = set(" !\"$&'()*;<=>?[\\^`|:\t\n")
    if any(c in special for c in path):
        return "'" + path.replace("'", "'\\''") + "'"
    return path


# --------------------------------------------------------------------------
# sysfs nodes
# --------------------------------------------------------------------------


class Dir:
    kind = "dir"
    mode = 0o755
    target = None
    show = None
    store = None

    def __init__(self, children):
        self._children = children

    def children(self) -> dict:
        c = self._children
        return c() if callable(c) else c


class Attr:
    """A sysfs attribute. show() -> str; store(buf, count) -> None, or a callable
    that runs in SCST's sysfs work thread (updates last_sysfs_mgmt_res)."""

    kind = "file"
    target = None

    def __init__(self, mode: int, show: Callable | None = None, store: Callable | None = None):
        self.mode = mode
        self.show = show
        self.store = store


class Link:
    kind = "link"
    mode = 0o777
    show = None
    store = None

    def __init__(self, target: str):
        self.target = target


def RO(show):
    return Attr(0o444, show)


def RW(show, store):
    return Attr(0o644, show, store)


def WO(store):
    return Attr(0o200, None, store)


def kv(value, key: bool = False) -> str:
    return "%s\n%s" % (value, KEY + "\n" if key else "")


def _const(text: str):
    return lambda: text


# --------------------------------------------------------------------------
# Model objects
# --------------------------------------------------------------------------


class Handler:
    def __init__(self, name: str, dtype: int, threads_num: int):
        self.name = name
        self.type = dtype
        self.threads_num = threads_num


class Device:
    """scst_device (+ scst_vdisk_dev for vdisk devices)."""

    passthrough = False

    def __init__(self, name: str, handler: Handler | None):
        self.name = name
        self.handler = handler
        self.type = handler.type if handler else 0
        self.exported = OrderedDict()  # link name -> AcgDev
        self.exported_lun_num = 0
        self.max_tgt_dev_commands = 64
        self.numa_node_id = -1
        self.pr_file_name = "/var/lib/scst/pr/" + name
        self.threads_num = handler.threads_num if handler else -1
        self.threads_pool_type = "per_initiator"
        self.cluster_mode = 0
        self.expl_alua = 0
        self.dev_rd_only = False
        self.tgt_dev_cnt = 0
        self.tgt_dev_list: list = []  # dev_tgt_dev_list


class PassDevice(Device):
    passthrough = True

    def __init__(self, name: str, dtype: int, scsi_device: str):
        super().__init__(name, None)
        self.type = dtype
        self.scsi_device = scsi_device
        self.max_tgt_dev_commands = 0


class VDev(Device):
    def __init__(self, name: str, handler: Handler):
        super().__init__(name, handler)
        h = handler.name
        self.blockio = h == "vdisk_blockio"
        self.nullio = h == "vdisk_nullio"
        self.fileio = h == "vdisk_fileio"
        self.cdrom = h == "vcdrom"
        self.cdrom_empty = False
        self.filename: str | None = None
        self.file_size = 0
        self.blk_shift = 9
        self.rd_only = 0
        self.wt_flag = 0
        self.nv_cache = 0
        self.o_direct = 0
        self.dummy = 0
        self.read_zero = 0
        self.removable = 0
        self.rotational = 1
        self.thin_provisioned = 0
        self.thin_manually_set = False
        self.tp_attr = False
        self.tst = 1
        self.opt_trans_len = DEF_OPT_TRANS_LEN
        self.opt_trans_len_set = False
        self.dev_active = 1
        self.bind_alua_state = 1
        self.lb_per_pb_exp = 1
        self.async_ = 0
        self.initial_cluster_mode = 0
        self.dif_mode = 0
        self.dif_type = 0
        self.dif_filename: str | None = None
        self.dif_static_app_tag = 0
        self.reexam_pending = False
        self.is_open = False
        self.claim: str | None = None  # holder registry key while blockio holds its device
        self.t10_dev_id = ""
        self.t10_dev_id_set = False
        self.t10_vend_id = "SCST_FIO"
        self.t10_vend_id_set = False
        self.vend_specific_id = ""
        self.vend_specific_id_set = False
        self.prod_id = name[:16]
        self.prod_id_set = False
        self.prod_rev_lvl = "3110"
        self.prod_rev_lvl_set = False
        self.scsi_device_name = ""
        self.scsi_device_name_set = False
        self.usn = ""
        self.usn_set = False
        self.naa_id = b""
        self.eui64_id = b""
        self.inq_vend_specific = ""

    @property
    def block_size(self) -> int:
        return 1 << self.blk_shift


class AcgDev:
    def __init__(self, acg: Acg, dev: Device, lun: int, rd_only: bool):
        self.acg = acg
        self.dev = dev
        self.lun = lun
        self.rd_only = rd_only
        self.link_name = ""


class Acg:
    def __init__(self, tgt: Target, name: str, default: bool = False):
        self.tgt = tgt
        self.name = name
        self.default = default
        self.luns = OrderedDict()  # lun -> AcgDev (insertion order)
        self.acns: list = []
        self.sessions: list = []
        self.addr_method = "PERIPHERAL"
        self.io_grouping_type = "auto"
        self.black_hole = 0
        self.cpu_mask = None  # None = default (all CPUs)

    def luns_path(self) -> str:
        base = "targets/%s/%s" % (self.tgt.driver, self.tgt.name)
        if self.default:
            return base + "/luns"
        return base + "/ini_groups/%s/luns" % self.sysfs_name()

    def sysfs_name(self) -> str:
        return self.name.replace("/", "!")


class TgtDev:
    def __init__(self, sess: Session, acg_dev: AcgDev, thread_index: int, pids: list):
        self.sess = sess
        self.acg_dev = acg_dev
        self.thread_index = thread_index
        self.pids = pids  # fake PIDs of the I/O threads serving this LUN for this session


class Session:
    def __init__(self, tgt: Target, name: str, initiator_name: str):
        self.tgt = tgt
        self.name = name
        self.initiator_name = initiator_name
        self.acg: Acg | None = None
        self.tgt_devs = OrderedDict()  # lun -> TgtDev
        self.comp_vector = 0


class Target:
    def __init__(self, driver: str, name: str, sg_tablesize: int, has_enable: bool, dif: bool):
        self.driver = driver
        self.name = name
        self.sg_tablesize = sg_tablesize
        self.has_enable = has_enable
        self.dif = dif
        self.enabled = False
        self.rel_tgt_id = 0
        self.comment: str | None = None
        self.forward_src = 0
        self.forward_dst = 0
        self.aen_disabled = 0
        self.default_acg = Acg(self, name, default=True)
        self.acgs = OrderedDict()  # name -> Acg, creation order
        self.sessions = OrderedDict()  # sysfs name -> Session
        # ib_srpt port data
        self.port: dict | None = None
        self.comp_v_mask = 0
        self.comp_vector = 0
        self.port_id = SRPT_DEFAULT_PORT_ID


# --------------------------------------------------------------------------
# The kernel
# --------------------------------------------------------------------------


class ScstKernel:
    def __init__(self, host: HostConfig | None = None):
        self.host = host or HostConfig()
        self._lock = threading.RLock()
        self.dmesg: list = []
        self.last_res = 0
        self._pending: list = []  # [(due, fn)] works completing after an injected EAGAIN
        self._work_seq = 0
        self.setup_id = self.host.setup_id & 0xFFFFFFFF
        self.nr_cpus = self.host.nr_cpus
        self.root_attrs = {
            "async_lun_replace": 0,
            "force_global_sgv_pool": 0,
            "max_tasklet_cmd": 10,
            "measure_latency": 0,
            "poll_us": 0,
            "suspend": 0,
            "threads": self.nr_cpus,
        }
        self.cluster_name: str | None = None
        self.cm_next_lun = 0
        self.rti_next = 1
        self.pid_seq = 1100
        self.handlers = OrderedDict(
            (h.name, h)
            for h in (
                Handler("vcdrom", 5, DEF_NUM_THREADS),
                Handler("vdisk_blockio", 0, 1),
                Handler("vdisk_fileio", 0, DEF_NUM_THREADS),
                Handler("vdisk_nullio", 0, 1),
            )
        )
        self.devices = OrderedDict()  # scst_dev_list
        self.vdevs: list = []  # vdisk's vdev_list
        self.device_groups = OrderedDict()
        for pt in self.host.passthrough:
            d = PassDevice(pt["hctl"], int(pt.get("type", 5)), pt.get("scsi_device", ""))
            self.devices[d.name] = d
        self.drivers = OrderedDict()
        cm = Target("copy_manager", "copy_manager_tgt", 65535, has_enable=False, dif=True)
        self.cm_tgt = cm
        self.allow_not_connected_copy = 0
        self.drivers["copy_manager"] = OrderedDict([(cm.name, cm)])
        cm_sess = Session(cm, "copy_manager_sess", "copy_manager_sess")
        cm.sessions[cm_sess.name] = cm_sess
        self._sess_assign(cm_sess)
        self.srpt_service_guid = 0
        self.drivers["ib_srpt"] = OrderedDict()
        self._make_srpt_targets()
        self._root = Dir(self._root_children)
        # module load: no SCST device holds anything on this host
        holders.release_holders(self.host.root, prefix=HOLDER_PREFIX)

    # ------------------------------------------------------------------
    # public API
    # ------------------------------------------------------------------
    def lookup(self, path: str):
        """The node at path (lstat semantics). Raises OSError(ENOENT) if absent."""
        with self._lock:
            self._run_due()
            node, _ = self._resolve(path, follow_last=False)
            return node

    def exists(self, path: str) -> bool:
        try:
            self.lookup(path)
            return True
        except OSError:
            return False

    def listdir(self, path: str = "") -> list:
        with self._lock:
            self._run_due()
            node, _ = self._resolve(path, follow_last=True)
            if node.kind != "dir":
                raise _err(errno.ENOTDIR, path)
            return list(node.children())

    def readlink(self, path: str) -> str:
        node = self.lookup(path)
        if node.kind != "link":
            raise _err(errno.EINVAL, path)
        return node.target

    def check_open(self, path: str, read: bool = False, write: bool = False, create: bool = False):
        """What open(2) on sysfs does before any read/write: returns the file node."""
        with self._lock:
            self._run_due()
            try:
                node, _ = self._resolve(path, follow_last=True)
            except OSError as e:
                if e.errno == errno.ENOENT and create and self._parent_is_dir(path):
                    raise _err(errno.EACCES, path) from None  # kernfs has no create()
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

    def read(self, path: str) -> bytes:
        with self._lock:
            node = self.check_open(path, read=True)
            if node.kind == "dir":
                raise _err(errno.EISDIR, path)
            return node.show().encode("latin-1")

    def write(self, path: str, data, create: bool = False) -> int:
        """One write(2) to a freshly opened sysfs file: one store call."""
        if isinstance(data, str):
            data = data.encode()
        with self._lock:
            node = self.check_open(path, write=True, create=create)
            return self._store(node, bytes(data))

    def settle(self) -> None:
        """Finish every work delayed by an injected EAGAIN now."""
        with self._lock:
            for _, fn in self._pending:
                self._exec_work(fn)
            self._pending = []

    def pending_works(self) -> int:
        with self._lock:
            self._run_due()
            return len(self._pending)

    def dump(self, base: str = "") -> list:
        """The tree in the capture format (tree-*.txt): first line names the root."""
        with self._lock:
            self._run_due()
            node, names = self._resolve(base, follow_last=True)
            prefix = "/".join(names)
            lines = []
            self._dump(node, prefix, lines)
            lines.sort(key=lambda t: t[0].encode())
            head = "D %s/" % (SCST_ROOT + ("/" + prefix if prefix else ""))
            return [head] + [line for _, line in lines]

    # ---- hooks for the SRP emulator -----------------------------------
    def find_target(self, target_name: str) -> Target:
        for tgts in self.drivers.values():
            if target_name in tgts:
                return tgts[target_name]
        raise _err(errno.ENOENT, target_name)

    def sessions_login(self, target_name: str, initiator_name: str, channels: int = 1) -> str | None:
        """
        An initiator logs in to an ib_srpt target with ``channels`` RDMA channels
        (one SCST session each: NAME, NAME_1, ...). Returns the name of the LUN set
        the sessions got (the group name, or the target name for the target's own
        LUNs), or None if the target refuses the login (not enabled).
        """
        with self._lock:
            self._run_due()
            tgt = self.find_target(target_name)
            if tgt.driver != "ib_srpt" or not tgt.enabled:
                self.dmesg.append("ib_srpt: rejected login from %s: target %s not enabled" % (initiator_name, tgt.name))
                return None
            acg = None
            for _ in range(channels):
                sess = Session(tgt, self._unique_sess_name(tgt, initiator_name), initiator_name)
                tgt.comp_vector = self._next_comp_vector(tgt)
                sess.comp_vector = tgt.comp_vector
                tgt.sessions[sess.name] = sess
                acg = self._sess_assign(sess)
                self.dmesg.append(
                    'scst: Using security group "%s" for initiator "%s" (target %s)'
                    % (acg.name, initiator_name, tgt.name)
                )
            return acg.name if acg else None

    def sessions_logout(self, target_name: str, initiator_name: str) -> int:
        """Close every session of that initiator on that target; returns how many."""
        with self._lock:
            self._run_due()
            tgt = self.find_target(target_name)
            gone = [s for s in tgt.sessions.values() if s.initiator_name == initiator_name]
            for s in gone:
                self._close_session(s)
            return len(gone)

    def session_names(self, target_name: str) -> list:
        with self._lock:
            return list(self.find_target(target_name).sessions)

    def group_for(self, target_name: str, initiator_name: str) -> str:
        """The LUN set (group name, or target name) a login would get now."""
        with self._lock:
            return self._find_acg(self.find_target(target_name), initiator_name).name

    def lun_device_for(self, target_name: str, initiator_name: str, lun: int) -> str | None:
        """Backing path of the device that initiator sees at that LUN, or None."""
        with self._lock:
            self._run_due()
            tgt = self.find_target(target_name)
            sess = next((s for s in tgt.sessions.values() if s.initiator_name == initiator_name), None)
            acg = sess.acg if sess else self._find_acg(tgt, initiator_name)
            ad = acg.luns.get(lun)
            if ad is None:
                return None
            dev = ad.dev
            if isinstance(dev, VDev):
                return dev.filename
            return None

    def luns_for(self, target_name: str, initiator_name: str) -> dict:
        """{lun: device name} as that initiator sees them."""
        with self._lock:
            tgt = self.find_target(target_name)
            sess = next((s for s in tgt.sessions.values() if s.initiator_name == initiator_name), None)
            acg = sess.acg if sess else self._find_acg(tgt, initiator_name)
            return {lun: ad.dev.name for lun, ad in acg.luns.items()}

    # ------------------------------------------------------------------
    # path resolution / dump
    # ------------------------------------------------------------------
    def _parent_is_dir(self, path: str) -> bool:
        parts = [p for p in path.split("/") if p]
        try:
            node, _ = self._resolve("/".join(parts[:-1]), follow_last=True)
        except OSError:
            return False
        return node.kind == "dir"

    def _resolve(self, path: str, follow_last: bool = True):
        parts = [p for p in path.split("/") if p not in ("", ".")]
        hops = 0
        while True:
            stack = [self._root]
            names: list = []
            restart = None
            for i, p in enumerate(parts):
                if p == "..":
                    if len(names) == 0:
                        raise _err(errno.ENOENT, path)  # leaves /sys/kernel/scst_tgt
                    stack.pop()
                    names.pop()
                    continue
                node = stack[-1]
                if node.kind != "dir":
                    raise _err(errno.ENOTDIR, path)
                child = node.children().get(p)
                if child is None:
                    raise _err(errno.ENOENT, path)
                if child.kind == "link" and (i < len(parts) - 1 or follow_last):
                    hops += 1
                    if hops > 40:
                        raise _err(errno.ELOOP, path)
                    tparts = [x for x in child.target.split("/") if x not in ("", ".")]
                    restart = names + tparts + parts[i + 1 :]
                    break
                stack.append(child)
                names.append(p)
            if restart is None:
                return stack[-1], names
            parts = restart

    def _dump(self, node, prefix: str, lines: list) -> None:
        for name, child in node.children().items():
            path = prefix + "/" + name if prefix else name
            if child.kind == "dir":
                lines.append((path, "D %s/" % path))
                self._dump(child, path, lines)
            elif child.kind == "link":
                lines.append((path, "L 777 %s -> %s" % (path, child.target)))
            else:
                if child.show is None:
                    content = "cat: %s: %s" % (shell_quote_path(SCST_ROOT + "/" + path), os.strerror(errno.EACCES))
                else:
                    try:
                        text = child.show()
                    except OSError as e:
                        text = "cat: %s: %s" % (shell_quote_path(SCST_ROOT + "/" + path), os.strerror(e.errno))
                    if text.endswith("\n"):
                        text = text[:-1]
                    content = text.replace("\n", "\\n")
                lines.append((path, "F %o %s = %s" % (child.mode, path, content)))

    # ------------------------------------------------------------------
    # sysfs store / work thread
    # ------------------------------------------------------------------
    def _store(self, node, data: bytes) -> int:
        if len(data) > PAGE_SIZE:
            raise _err(errno.E2BIG)  # sysfs: atomic_write_len = PAGE_SIZE
        if not data:
            return 0
        buf = data.decode("latin-1")
        res = node.store(buf, len(data))
        if callable(res):
            self._queue_work(res)
        return len(data)

    def _queue_work(self, fn: Callable) -> None:
        # A single worker runs works in order: a new write waits behind delayed ones.
        while self._pending:
            due, pfn = self._pending.pop(0)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._exec_work(pfn)
        self._work_seq += 1
        every = self.host.eagain_every
        if every and self._work_seq % every == 0:
            self._pending.append((time.monotonic() + self.host.eagain_delay, fn))
            raise _err(errno.EAGAIN)
        rc = self._exec_work(fn)
        if rc:
            raise _err(-rc)

    def _exec_work(self, fn: Callable) -> int:
        try:
            fn()
            rc = 0
        except OSError as e:
            rc = -(e.errno or errno.EINVAL)
        self.last_res = rc
        return rc

    def _run_due(self) -> None:
        now = time.monotonic()
        while self._pending and self._pending[0][0] <= now:
            _, fn = self._pending.pop(0)
            self._exec_work(fn)

    # ------------------------------------------------------------------
    # tree: root
    # ------------------------------------------------------------------
    def _root_children(self) -> dict:
        c = {}
        for name in ("async_lun_replace", "force_global_sgv_pool", "max_tasklet_cmd", "measure_latency", "poll_us"):
            c[name] = self._root_int_attr(name)
        c["suspend"] = self._root_int_attr("suspend", signed=True)
        c["cluster_name"] = RW(self._cluster_name_show, self._cluster_name_store)
        c["device_groups"] = Dir(self._device_groups_children)
        c["devices"] = Dir(lambda: OrderedDict((n, Dir(self._dev_children_fn(d))) for n, d in self.devices.items()))
        c["handlers"] = Dir(self._handlers_children)
        c["last_sysfs_mgmt_res"] = RO(self._last_res_show)
        c["setup_id"] = RW(self._setup_id_show, self._setup_id_store)
        c["sgv"] = Dir(self._sgv_children)
        c["targets"] = Dir(self._targets_children)
        c["threads"] = RW(
            lambda: kv(self.root_attrs["threads"], self.root_attrs["threads"] != self.nr_cpus), self._threads_store
        )
        c["trace_cmds"] = RO(_const(""))
        c["trace_mcmds"] = RO(_const(""))
        c["trace_level"] = RW(_const(_trace_level_text()), lambda buf, count: None)
        c["version"] = RO(self._version_show)
        return c

    def _root_int_attr(self, name: str, signed: bool = False) -> Attr:
        def store(buf, count):
            self.root_attrs[name] = (kstrtol if signed else kstrtoul)(buf)

        return RW(lambda: "%d\n" % self.root_attrs[name], store)

    def _version_show(self) -> str:
        return (
            "SCST version: %s\nSCST build date: \nSCST build number: \nSCST git commit sha1: \n"
            "SCST kver: %s\nSCST arch type: \nSCST config: TRACING\n" % (SCST_VERSION, self.host.kver)
        )

    def _last_res_show(self) -> str:
        self._run_due()
        if self._pending:
            raise _err(errno.EAGAIN)
        return "%d\n" % self.last_res

    def _cluster_name_show(self) -> str:
        if self.cluster_name:
            return kv(self.cluster_name, True)
        return ""

    def _cluster_name_store(self, buf, count):
        s = _cstr(buf[:count])
        if s.endswith("\n"):
            s = s[:-1]
        self.cluster_name = s or None

    def _setup_id_show(self) -> str:
        return kv("0x%x" % self.setup_id, self.setup_id != 0)

    def _setup_id_store(self, buf, count):
        self.setup_id = kstrtoul(buf) & 0xFFFFFFFF

    def _threads_store(self, buf, count):
        try:
            val = kstrtol(buf)
        except OSError:
            raise _err(errno.EINVAL) from None
        if val <= 0:
            raise _err(errno.EINVAL)

        def work():
            self.root_attrs["threads"] = val

        return work

    def _sgv_children(self) -> dict:
        c = {"global_stats": RW(_const("%-42s %d\n" % ("Inactive pages", 0)), lambda b, n: None)}
        names = ["sgv", "sgv-clust", "sgv-dma"]
        for cpu in range(self.nr_cpus):
            names += ["sgv-%d" % cpu, "sgv-clust-%d" % cpu, "sgv-dma-%d" % cpu]
        for n in names:
            c[n] = Dir({"stats": RW(_const(self._sgv_stats(n)), lambda b, k: None)})
        return c

    @staticmethod
    def _sgv_stats(name: str) -> str:
        out = "%-30s %-11s %-11s %-11s %-11s" % ("Name", "Hit", "Total", "% merged", "Cached (P/I/O)")
        out += "\n%-30s %-11d %-11d %-11d %d/%d/%d\n" % (name, 0, 0, 0, 0, 0, 0)
        for i in range(11):
            out += "  %-28s %-11d %-11d %d\n" % ("%s-%dK" % (name, 4 << i), 0, 0, 0)
        out += "  %-40s %d/%-9d %d/%d\n" % ("big/other", 0, 0, 0, 0)
        return out

    # ------------------------------------------------------------------
    # tree: handlers
    # ------------------------------------------------------------------
    def _handlers_children(self) -> dict:
        c = {}
        for h in self.handlers.values():
            c[h.name] = Dir(self._handler_children_fn(h))
        return c

    def _handler_children_fn(self, h: Handler):
        def children():
            c = {
                "mgmt": RW(_const(devt_mgmt_help(h.name)), lambda buf, count: self._devt_mgmt_store(h, buf)),
                "trace_level": RW(_const(_trace_level_text(", order")), lambda buf, count: None),
                "type": RO(_const("%d - %s\n" % (h.type, TYPE_NAMES[h.type]))),
            }
            for d in self.devices.values():
                if d.handler is h:
                    c[d.name] = Link("../../devices/" + d.name)
            return c

        return children

    def _devt_mgmt_store(self, h: Handler, buf: str):
        buffer = _cstr(buf)
        return lambda: self._devt_mgmt(h, buffer)

    def _devt_mgmt(self, h: Handler, buffer: str) -> None:
        p, pos = next_lexem(buffer, 0)
        if p.lower() == "add_device":
            name, pos = next_lexem(buffer, pos)
            if not name:
                raise _err(errno.EINVAL)
            self._add_device(h, name, buffer[pos:])
        elif p.lower() == "del_device":
            name, pos = next_lexem(buffer, pos)
            if not name:
                raise _err(errno.EINVAL)
            extra, pos = next_lexem(buffer, pos)
            if extra:
                self.dmesg.append('scst: ***ERROR***: Syntax error on "%s"' % extra)
                raise _err(errno.EINVAL)
            self._del_vdev(name)
        else:
            self.dmesg.append('scst: ***ERROR***: Unknown action "%s"' % p)
            raise _err(errno.EINVAL)

    # ------------------------------------------------------------------
    # vdisk devices: create / delete
    # ------------------------------------------------------------------
    def _vdev_find(self, name: str) -> VDev | None:
        return next((v for v in self.vdevs if v.name == name), None)

    def _add_device(self, h: Handler, name: str, params: str) -> None:
        # vdev_create_node()
        if self._vdev_find(name):
            raise _err(errno.EEXIST)
        v = VDev(name, h)
        if len(name) >= 65:
            raise _err(errno.EINVAL)
        dev_id_num = (self.setup_id << 32) | crc32c(0, name.encode("latin-1") + b"\0")
        v.t10_dev_id = ("%x-%s" % (dev_id_num, name))[:25]
        v.vend_specific_id = v.t10_dev_id
        v.usn = ("%x" % dev_id_num)[:20]
        if any(o.usn == v.usn for o in self.vdevs):
            raise _err(errno.EEXIST)
        if v.cdrom:
            v.rd_only = 1
            v.removable = 1
            v.cdrom_empty = True
            v.blk_shift = 11
            allowed = ADD_DEV_PARAMS["vcdrom"]
        elif v.fileio:
            v.bind_alua_state = 0
            allowed = None  # vdisk_fileio passes no allowed list: any parameter the parser knows
        elif v.blockio:
            v.t10_vend_id = "SCST_BIO"
            allowed = ADD_DEV_PARAMS["vdisk_blockio"]
        else:
            v.file_size = VDISK_NULLIO_SIZE
            allowed = ADD_DEV_PARAMS["vdisk_nullio"]
        self._parse_add_dev_params(v, params, allowed)
        if v.fileio and v.rd_only and (v.wt_flag or v.nv_cache):
            raise _err(errno.EINVAL)
        if (v.fileio or v.blockio) and not v.filename:
            raise _err(errno.EINVAL)
        # scst_register_virtual_device_node()
        if "/" in name or "." in name:
            raise _err(errno.EINVAL)
        self.vdevs.append(v)
        try:
            if name in self.devices:
                raise _err(errno.EEXIST)
            try:
                self._vdisk_attach(v)
            except OSError as e:
                self.dmesg.append("scst: ***ERROR***: New device handler's %s attach() failed: %d" % (h.name, -e.errno))
                raise
            self.devices[name] = v
            try:
                self._cm_dev_register(v)  # opens the device (attach_tgt of the copy manager's LUN)
            except OSError:
                del self.devices[name]
                self._vdisk_close(v)
                raise
        except OSError:
            self.vdevs.remove(v)
            raise
        self.dmesg.append("scst: Attached to virtual device %s" % name)

    def _parse_add_dev_params(self, v: VDev, params: str, allowed) -> None:
        pos = 0
        while True:
            param, pos = next_token_str(params, pos)
            if param is None:
                break
            p, ppos = next_lexem(param, 0)
            if not p:
                raise _err(errno.EINVAL)
            pl = p.lower()
            if allowed is not None and pl not in allowed:
                self.dmesg.append("scst: ***ERROR***: Unknown parameter %s (device %s)" % (p, v.name))
                raise _err(errno.EINVAL)
            pp, ppos = next_lexem(param, ppos)
            if not pp:
                raise _err(errno.EINVAL)
            extra, ppos = next_lexem(param, ppos)
            if extra:
                raise _err(errno.EINVAL)
            if pl == "filename":
                if v.filename is not None or pp[0] != "/":
                    raise _err(errno.EINVAL)
                v.filename = pp
                continue
            if pl == "dif_filename":
                if pp[0] != "/":
                    raise _err(errno.EINVAL)
                v.dif_filename = pp
                continue
            if pl == "dif_mode":
                for part in pp.split("|"):
                    part = part.strip().lower()
                    bit = {"tgt": 1, "scst": 2, "dev_check": 4, "dev_store": 8}.get(part)
                    if bit is None:
                        raise _err(errno.EINVAL)
                    v.dif_mode |= bit
                continue
            if pl == "t10_dev_id":
                if len(pp) > 25:
                    raise _err(errno.EINVAL)
                v.t10_dev_id = pp
                v.t10_dev_id_set = True
                continue
            ll_val = kstrtoll(pp)
            if pl == "numa_node_id":
                if ll_val < -1:
                    raise _err(errno.EINVAL)
                v.numa_node_id = ll_val
                continue
            val = kstrtoull(pp)
            if pl == "write_through":
                v.wt_flag = val & 0xFFFFFFFF
            elif pl == "nv_cache":
                v.nv_cache = val & 0xFFFFFFFF
            elif pl == "o_direct":
                v.o_direct = val & 0xFFFFFFFF
            elif pl == "read_only":
                v.rd_only = val & 0xFFFFFFFF
            elif pl == "dummy":
                if val > 1:
                    raise _err(errno.EINVAL)
                v.dummy = val
            elif pl == "removable":
                v.removable = val & 0xFFFFFFFF
            elif pl == "active":
                v.dev_active = val & 0xFFFFFFFF
            elif pl == "bind_alua_state":
                v.bind_alua_state = val & 0xFFFFFFFF
            elif pl == "rotational":
                v.rotational = val & 0xFFFFFFFF
            elif pl == "tst":
                if val not in (0, 1):
                    raise _err(errno.EINVAL)
                v.tst = val
            elif pl == "thin_provisioned":
                v.thin_provisioned = val & 0xFFFFFFFF
                v.thin_manually_set = True
            elif pl == "async":
                v.async_ = int(bool(val))
            elif pl == "size":
                v.file_size = val
            elif pl == "size_mb":
                v.file_size = val * 1024 * 1024
            elif pl == "cluster_mode":
                v.initial_cluster_mode = val
            elif pl == "blocksize":
                shift = ilog2(val if val else 512)
                if shift < 9:
                    raise _err(errno.EINVAL)
                v.blk_shift = shift
            elif pl == "dif_type":
                v.dif_type = val
            elif pl == "dif_static_app_tag":
                v.dif_static_app_tag = val
            elif pl == "lb_per_pb_exp":
                v.lb_per_pb_exp = val
            else:
                self.dmesg.append("scst: ***ERROR***: Unknown parameter %s (device %s)" % (p, v.name))
                raise _err(errno.EINVAL)
        if v.file_size & ((1 << v.blk_shift) - 1):
            raise _err(errno.EINVAL)

    def _vdisk_attach(self, v: VDev) -> None:
        v.cluster_mode = v.initial_cluster_mode
        if v.dif_type == 0 and (v.dif_mode or v.dif_filename):
            raise _err(errno.EINVAL)
        if not v.blockio and v.dif_mode & 4:
            raise _err(errno.EINVAL)
        if not v.async_ and v.o_direct:
            raise _err(errno.EINVAL)
        v.dev_rd_only = bool(v.rd_only)
        self._vdisk_reexamine(v)

    def _vdisk_reexamine(self, v: VDev) -> None:
        if not v.nullio and not v.cdrom_empty:
            if not v.dev_active:
                v.reexam_pending = True
                return
            v.file_size = self._file_or_bdev_size(v.filename)
            self._check_flush_support(v)
            self._check_tp_support(v)
        elif v.cdrom_empty:
            v.file_size = 0

    def _file_or_bdev_size(self, path: str) -> int:
        kind, size = self.host.backing(path)
        if kind in ("file", "block"):
            return size
        raise _err(errno.EINVAL)

    def _check_flush_support(self, v: VDev) -> None:
        if not v.blockio or v.rd_only or v.nv_cache or v.wt_flag or not v.dev_active:
            return
        try:
            kind, _ = self.host.backing(v.filename)
        except OSError:
            return
        if kind != "block":
            return
        if v.filename in self.host.no_flush:
            self.dmesg.append(
                "scst: ***WARNING***: Device %s doesn't support barriers, switching to NV_CACHE mode. "
                "Read README for more details." % v.filename
            )
            v.nv_cache = 1

    def _check_tp_support(self, v: VDev) -> None:
        dev_tp = False
        if not v.rd_only and v.filename and v.dev_active:
            try:
                kind, _ = self.host.backing(v.filename)
                if v.blockio:
                    dev_tp = kind == "block" and v.filename in self.host.thin
                else:
                    dev_tp = kind in ("file", "block")  # fileio: fallocate support
            except OSError:
                pass
        if v.thin_manually_set:
            if v.thin_provisioned and not dev_tp:
                v.thin_provisioned = 0
        elif v.blockio:
            v.thin_provisioned = int(dev_tp)
        if v.thin_provisioned:
            v.tp_attr = True

    def _vdisk_open_fd(self, v: VDev) -> None:
        if not v.dev_active:
            raise _err(errno.EMEDIUMTYPE)
        kind, _ = self.host.backing(v.filename)
        if v.blockio:
            if kind != "block":
                raise _err(errno.ENOTBLK)
            # blkdev_get_by_path(FMODE_EXCL, holder=virt_dev): EBUSY if another holder has it
            # (another blockio device on the same disk, a pool, a partition or the whole disk)
            if v.claim is None:
                v.claim = holders.claim(self.host.root, v.filename, HOLDER_PREFIX + v.name)
            if v.block_size > PAGE_SIZE:  # bdev_validate_blocksize() (HEAD, kernel < 6.15)
                self._vdisk_close(v)
                raise _err(errno.EINVAL)
            if not v.opt_trans_len_set:
                v.opt_trans_len = int(self.host.io_opt.get(v.filename, 0)) or v.opt_trans_len
        elif kind == "dir":
            raise _err(errno.EISDIR)
        v.is_open = True

    def _vdisk_close(self, v: VDev) -> None:
        """vdisk_close_fd(): the backing device is closed; blockio's exclusive claim goes."""
        v.is_open = False
        if v.claim is not None:
            holders.release(self.host.root, v.claim, HOLDER_PREFIX + v.name)
            v.claim = None

    def _attach_tgt(self, dev: Device) -> None:
        dev.tgt_dev_cnt += 1
        if not isinstance(dev, VDev) or dev.is_open:
            return
        if not dev.nullio and not dev.cdrom_empty:
            try:
                self._vdisk_open_fd(dev)
            except OSError as e:
                if e.errno != errno.EMEDIUMTYPE:
                    dev.tgt_dev_cnt -= 1
                    self.dmesg.append(
                        "scst: ***ERROR***: Device handler's %s attach_tgt() failed: %d" % (dev.handler.name, -e.errno)
                    )
                    raise

    def _tgt_dev_del(self, td: TgtDev) -> None:
        dev = td.acg_dev.dev
        if td in dev.tgt_dev_list:
            dev.tgt_dev_list.remove(td)
        self._detach_tgt(dev)

    def _detach_tgt(self, dev: Device) -> None:
        dev.tgt_dev_cnt -= 1
        if dev.tgt_dev_cnt == 0 and isinstance(dev, VDev):
            self._vdisk_close(dev)

    def _del_vdev(self, name: str) -> None:
        v = self._vdev_find(name)
        if v is None:
            self.dmesg.append("scst: ***ERROR***: Device %s not found" % name)
            raise _err(errno.EINVAL)
        # scst_unregister_virtual_device(): the device's LUNs go everywhere first
        for tgts in self.drivers.values():
            for tgt in tgts.values():
                for acg in [tgt.default_acg, *tgt.acgs.values()]:
                    for lun in [lun for lun, ad in acg.luns.items() if ad.dev is v]:
                        self._acg_del_lun(acg, lun)
        del self.devices[name]
        self.vdevs.remove(v)
        self._vdisk_close(v)
        self.dmesg.append("scst: Detached from virtual device %s" % name)

    # ------------------------------------------------------------------
    # copy manager
    # ------------------------------------------------------------------
    def _cm_dev_register(self, dev: Device) -> None:
        cm = self.cm_tgt.default_acg
        if any(ad.dev is dev for ad in cm.luns.values()):
            return
        while True:
            lun = self.cm_next_lun
            self.cm_next_lun += 1
            if lun == SCST_MAX_LUN:
                self.cm_next_lun = 0
                continue
            if lun not in cm.luns:
                break
        try:
            self._acg_add_lun(cm, dev, lun, rd_only=False, cm_auto=True)
        except OSError:
            self.cm_next_lun -= 1
            raise

    # ------------------------------------------------------------------
    # LUNs, groups, initiators, sessions
    # ------------------------------------------------------------------
    def _acg_add_lun(self, acg: Acg, dev: Device, lun: int, rd_only: bool, cm_auto: bool = False) -> AcgDev:
        ad = AcgDev(acg, dev, lun, rd_only)
        made = []
        try:
            for sess in acg.sessions:
                self._attach_tgt(dev)
                made.append(sess)
            if not cm_auto and acg is self.cm_tgt.default_acg and (rd_only or dev.dev_rd_only):
                raise _err(errno.EINVAL)  # Copy Manager does not support read only devices
        except OSError:
            for _ in made:
                self._detach_tgt(dev)
            raise
        acg.luns[lun] = ad
        for sess in acg.sessions:
            sess.tgt_devs[lun] = self._new_tgt_dev(sess, ad)
        ad.link_name = "export%d" % dev.exported_lun_num
        dev.exported_lun_num += 1
        dev.exported[ad.link_name] = ad
        self.dmesg.append(
            "scst: Added device %s to group %s (LUN %d) to target %s" % (dev.name, acg.name, lun, acg.tgt.name)
        )
        return ad

    def _acg_del_lun(self, acg: Acg, lun: int) -> AcgDev:
        ad = acg.luns.pop(lun, None)
        if ad is None:
            raise _err(errno.EINVAL)
        for sess in acg.sessions:
            td = sess.tgt_devs.pop(lun, None)
            if td is not None:
                self._tgt_dev_del(td)
        ad.dev.exported.pop(ad.link_name, None)
        self.dmesg.append("scst: Removed LUN %d from group %s (target %s)" % (lun, acg.name, acg.tgt.name))
        return ad

    def _find_acg(self, tgt: Target, initiator_name: str) -> Acg:
        for acg in tgt.acgs.values():
            for n in acg.acns:
                if wildcmp(n, initiator_name):
                    return acg
        return tgt.default_acg

    def _sess_assign(self, sess: Session) -> Acg:
        acg = self._find_acg(sess.tgt, sess.initiator_name)
        if acg is sess.acg:
            return acg
        if sess.acg is not None:
            for td in list(sess.tgt_devs.values()):
                self._tgt_dev_del(td)
            sess.tgt_devs.clear()
            sess.acg.sessions.remove(sess)
        sess.acg = acg
        acg.sessions.append(sess)
        for lun, ad in acg.luns.items():
            try:
                self._attach_tgt(ad.dev)
            except OSError:
                continue
            sess.tgt_devs[lun] = self._new_tgt_dev(sess, ad)
        return acg

    def _new_tgt_dev(self, sess: Session, ad: AcgDev) -> TgtDev:
        # scst_add_threads(): thread_index = position in the device's tgt_dev list;
        # per_initiator pools get threads_num fresh threads (fake PIDs here).
        dev = ad.dev
        n = max(dev.threads_num, 0)
        pids = list(range(self.pid_seq + n - 1, self.pid_seq - 1, -1))
        self.pid_seq += n
        td = TgtDev(sess, ad, len(dev.tgt_dev_list), pids)
        dev.tgt_dev_list.append(td)
        return td

    def _check_reassign_sessions(self) -> None:
        for tgts in self.drivers.values():
            for tgt in tgts.values():
                for sess in list(tgt.sessions.values()):
                    self._sess_assign(sess)

    def _close_session(self, sess: Session) -> None:
        for td in list(sess.tgt_devs.values()):
            self._tgt_dev_del(td)
        sess.tgt_devs.clear()
        if sess.acg is not None and sess in sess.acg.sessions:
            sess.acg.sessions.remove(sess)
        sess.tgt.sessions.pop(sess.name, None)

    def _unique_sess_name(self, tgt: Target, initiator_name: str) -> str:
        name, n = initiator_name, 1
        while name in tgt.sessions:
            name = "%s_%d" % (initiator_name, n)
            n += 1
        return name

    def _next_comp_vector(self, tgt: Target) -> int:
        mask = tgt.comp_v_mask
        for i in range(tgt.comp_vector + 1, self.nr_cpus):
            if mask >> i & 1:
                return i
        return (mask & -mask).bit_length() - 1

    def _luns_mgmt_store(self, acg: Acg, buf: str):
        buffer = _cstr(buf)
        return lambda: self._luns_mgmt(acg, buffer)

    def _luns_mgmt(self, acg: Acg, buffer: str) -> None:
        p, pos = next_lexem(buffer, 0)
        action = p.lower()
        if action not in ("add", "del", "replace", "replace_no_ua", "clear"):
            self.dmesg.append('scst: ***ERROR***: Unknown action "%s"' % p)
            raise _err(errno.EINVAL)
        dev = None
        if action not in ("clear", "del"):
            name, pos = next_lexem(buffer, pos)
            dev = self.devices.get(name)
            if dev is None:
                self.dmesg.append("scst: ***ERROR***: Device '%s' not found" % name)
                raise _err(errno.EINVAL)
        if action == "add":
            lun, rd_only = self._parse_add_repl_param(buffer, pos)
            if lun in acg.luns:
                self.dmesg.append("scst: ***ERROR***: virt lun %d already exists in group %s" % (lun, acg.name))
                raise _err(errno.EEXIST)
            self._acg_add_lun(acg, dev, lun, rd_only)
        elif action in ("replace", "replace_no_ua"):
            lun, rd_only = self._parse_add_repl_param(buffer, pos)
            if lun in acg.luns:
                self._acg_del_lun(acg, lun)
            self._acg_add_lun(acg, dev, lun, rd_only)
        elif action == "del":
            tok, pos = next_lexem(buffer, pos)
            lun = kstrtoul(tok)
            extra, pos = next_lexem(buffer, pos)
            if extra:
                raise _err(errno.EINVAL)
            if lun not in acg.luns:
                self.dmesg.append("scst: ***ERROR***: Device is not found in group %s" % acg.name)
            self._acg_del_lun(acg, lun)
        else:
            extra, pos = next_lexem(buffer, pos)
            if extra:
                raise _err(errno.EINVAL)
            for lun in list(acg.luns):
                self._acg_del_lun(acg, lun)

    def _parse_add_repl_param(self, buffer: str, pos: int) -> tuple:
        e, pos = next_lexem(buffer, pos)
        lun = kstrtoul(e)
        if lun > SCST_MAX_LUN:
            self.dmesg.append("scst: ***ERROR***: Too big LUN %d (max %d)" % (lun, SCST_MAX_LUN))
            raise _err(errno.EINVAL)
        rd_only = False
        while True:
            param, pos = next_token_str(buffer, pos)
            if param is None:
                break
            p, ppos = next_lexem(param, 0)
            if not p:
                raise _err(errno.EINVAL)
            pp, ppos = next_lexem(param, ppos)
            if not pp:
                raise _err(errno.EINVAL)
            extra, ppos = next_lexem(param, ppos)
            if extra:
                raise _err(errno.EINVAL)
            val = kstrtoul(pp)
            if p.lower() == "read_only":
                rd_only = bool(val)
            else:
                self.dmesg.append("scst: ***ERROR***: Unknown parameter %s" % p)
                raise _err(errno.EINVAL)
        return lun, rd_only

    def _ini_groups_mgmt_store(self, tgt: Target, buf: str):
        buffer = _cstr(buf)
        return lambda: self._ini_groups_mgmt(tgt, buffer)

    def _ini_groups_mgmt(self, tgt: Target, buffer: str) -> None:
        p, pos = next_lexem(buffer, 0)
        action = p.lower()
        if action not in ("create", "del"):
            raise _err(errno.EINVAL)
        name, pos = next_lexem(buffer, pos)
        if not name:
            raise _err(errno.EINVAL)
        acg = tgt.acgs.get(name)
        if action == "create":
            if acg is not None:
                self.dmesg.append("scst: ***ERROR***: acg name %s exist" % name)
                raise _err(errno.EEXIST)
            if tgt is self.cm_tgt:
                raise _err(errno.EINVAL)  # Copy Manager does not support security groups
            new = Acg(tgt, name)
            if new.sysfs_name() in ("mgmt",) or any(a.sysfs_name() == new.sysfs_name() for a in tgt.acgs.values()):
                raise _err(errno.EEXIST)  # kobject name clash in ini_groups/
            tgt.acgs[name] = new
        else:
            if acg is None:
                self.dmesg.append("scst: ***ERROR***: Group %s not found" % name)
                raise _err(errno.EINVAL)
            if acg.sessions:
                raise _err(errno.EBUSY)  # scst param forcibly_close_sessions=0
            for lun in list(acg.luns):
                self._acg_del_lun(acg, lun)
            del tgt.acgs[name]

    def _initiators_mgmt_store(self, acg: Acg, buf: str):
        buffer = _cstr(buf)
        return lambda: self._initiators_mgmt(acg, buffer)

    def _acn_add(self, acg: Acg, name: str) -> None:
        if name in acg.acns:
            self.dmesg.append("scst: ***ERROR***: Name %s already exists in group %s" % (name, acg.name))
            raise _err(errno.EEXIST)
        if name == "mgmt":
            raise _err(errno.EEXIST)  # sysfs_create_file() clashes with initiators/mgmt
        if "/" in name:
            raise _err(errno.EINVAL)
        acg.acns.append(name)
        self.dmesg.append("scst: Added name %s to group %s (target %s)" % (name, acg.name, acg.tgt.name))
        self._check_reassign_sessions()

    def _initiators_mgmt(self, acg: Acg, buffer: str) -> None:
        p, pos = next_lexem(buffer, 0)
        action = p.lower()
        if action not in ("add", "del", "clear", "move"):
            raise _err(errno.EINVAL)
        tgt = acg.tgt
        if action == "add":
            name, pos = next_lexem(buffer, pos)
            if not name:
                raise _err(errno.EINVAL)
            self._acn_add(acg, name)
        elif action == "del":
            name, pos = next_lexem(buffer, pos)
            if not name:
                raise _err(errno.EINVAL)
            if name not in acg.acns:
                self.dmesg.append("scst: ***ERROR***: Unable to find initiator '%s' in group '%s'" % (name, acg.name))
                raise _err(errno.EINVAL)
            acg.acns.remove(name)
            self._check_reassign_sessions()
        elif action == "clear":
            acg.acns.clear()
            self._check_reassign_sessions()
        else:
            name, pos = next_lexem(buffer, pos)
            if not name:
                raise _err(errno.EINVAL)
            group, pos = next_lexem(buffer, pos)
            if not group:
                raise _err(errno.EINVAL)
            if name not in acg.acns:
                raise _err(errno.EINVAL)
            dest = tgt.acgs.get(group)
            if dest is None:
                self.dmesg.append("scst: ***ERROR***: Unable to find group '%s' in target '%s'" % (group, tgt.name))
                raise _err(errno.EINVAL)
            if name in dest.acns:
                raise _err(errno.EEXIST)
            acg.acns.remove(name)
            self._acn_add(dest, name)

    # ------------------------------------------------------------------
    # tree: devices
    # ------------------------------------------------------------------
    def _dev_children_fn(self, d: Device):
        return lambda: self._dev_children(d)

    def _dev_children(self, d: Device) -> dict:
        c = {
            "type": RO(lambda: "%d - %s\n" % (d.type, TYPE_NAMES.get(d.type, "unknown"))),
            "max_tgt_dev_commands": RW(lambda: "%d\n" % d.max_tgt_dev_commands, self._dev_mtdc_store(d)),
            "numa_node_id": RW(lambda: "%d\n" % d.numa_node_id, lambda b, n: None),
            "block": RW(_const("0 0\n"), lambda b, n: None),
            "pr_state": RW(_const("version 1\ngeneration 0\n"), lambda b, n: None),
            "pr_file_name": RW(lambda: d.pr_file_name + "\n", self._dev_pr_file_name_store(d)),
            "dump_prs": WO(lambda b, n: None),
            "exported": Dir(lambda: OrderedDict((n, Link(self._export_target(ad))) for n, ad in d.exported.items())),
        }
        if d.passthrough:
            c["scsi_device"] = Link(d.scsi_device)
            return c
        c["handler"] = Link("../../handlers/" + d.handler.name)
        if d.threads_num >= 0:
            c["threads_num"] = RW(lambda: "%d\n" % d.threads_num, self._dev_threads_num_store(d))
            c["threads_pool_type"] = RW(lambda: d.threads_pool_type + "\n", self._dev_threads_pool_type_store(d))
        if isinstance(d, VDev):
            c.update(self._vdev_attrs(d))
        return c

    @staticmethod
    def _export_target(ad: AcgDev) -> str:
        return "../../../" + ad.acg.luns_path() + "/%d" % ad.lun

    def _dev_mtdc_store(self, d: Device):
        def store(buf, count):
            d.max_tgt_dev_commands = kstrtoint(buf)

        return store

    def _dev_pr_file_name_store(self, d: Device):
        def store(buf, count):
            s = _cstr(buf[:count]).strip()
            val = s or "/var/lib/scst/pr/" + d.name

            def work():
                d.pr_file_name = val

            return work

        return store

    def _dev_threads_num_store(self, d: Device):
        def store(buf, count):
            val = kstrtol(buf)
            if val < 0:
                raise _err(errno.EINVAL)

            def work():
                d.threads_num = val

            return work

        return store

    def _dev_threads_pool_type_store(self, d: Device):
        def store(buf, count):
            s = _cstr(buf[:count]).strip()
            if s not in ("per_initiator", "shared"):
                raise _err(errno.EINVAL)

            def work():
                d.threads_pool_type = s

            return work

        return store

    def _vdev_attrs(self, v: VDev) -> dict:
        a = {}
        rw_size = v.blockio or v.nullio

        def size_show(shift):
            key = not (v.nullio and v.file_size == VDISK_NULLIO_SIZE) and not shift
            return kv(v.file_size >> shift, key)

        if rw_size:
            a["size"] = RW(lambda: size_show(0), self._vdev_size_store(v, 0))
            a["size_mb"] = RW(lambda: size_show(20), self._vdev_size_store(v, 20))
        else:
            a["size"] = RO(lambda: size_show(0))
            a["size_mb"] = RO(lambda: size_show(20))
        a["tst"] = RO(lambda: kv(v.tst, v.tst != 1))
        for name in ("t10_vend_id", "vend_specific_id", "prod_id", "prod_rev_lvl", "scsi_device_name"):
            a[name] = RW(self._str_show(v, name), self._str_store(v, name))
        a["t10_dev_id"] = RW(lambda: kv(v.t10_dev_id, v.t10_dev_id_set), self._t10_dev_id_store(v))
        a["naa_id"] = RW(self._hexid_show(v, "naa_id"), self._naa_id_store(v))
        a["eui64_id"] = RW(self._hexid_show(v, "eui64_id"), self._eui64_id_store(v))
        a["usn"] = RW(lambda: kv(v.usn, v.usn_set), self._usn_store(v))
        a["inq_vend_specific"] = RW(
            lambda: kv(v.inq_vend_specific, bool(v.inq_vend_specific)), self._inq_vend_specific_store(v)
        )
        if v.cdrom:
            a["filename"] = RW(lambda: self._filename_show(v), self._vcdrom_filename_store(v))
            return a
        a["blocksize"] = RO(lambda: kv(v.block_size, v.block_size != 512))
        a["opt_trans_len"] = RW(lambda: kv(v.opt_trans_len, v.opt_trans_len_set), self._opt_trans_len_store(v))
        a["read_only"] = RO(lambda: kv(v.rd_only, v.rd_only != 0))
        a["removable"] = RO(lambda: kv(v.removable, v.removable != 0))
        a["rotational"] = RO(lambda: kv(v.rotational, v.rotational != 1))
        a["cluster_mode"] = RW(lambda: kv(v.cluster_mode, bool(v.cluster_mode)), self._cluster_mode_store(v))
        if v.nullio:
            a["dummy"] = RO(lambda: kv(v.dummy, v.dummy != 0))
            a["read_zero"] = RW(lambda: kv(v.read_zero, v.read_zero != 0), self._read_zero_store(v))
            return a
        a["active"] = RW(lambda: kv(v.dev_active, v.dev_active != 1), self._active_store(v))
        a["bind_alua_state"] = RW(
            lambda: kv(v.bind_alua_state, v.bind_alua_state != (1 if v.blockio else 0)),
            self._bind_alua_state_store(v),
        )
        a["write_through"] = RO(lambda: kv(v.wt_flag, v.wt_flag != 0))
        a["thin_provisioned"] = RO(lambda: kv(v.thin_provisioned, v.thin_manually_set))
        a["expl_alua"] = RW(lambda: kv(v.expl_alua, v.expl_alua != 0), self._expl_alua_store(v))
        a["nv_cache"] = RO(lambda: kv(v.nv_cache, v.nv_cache != 0))
        a["filename"] = RW(lambda: self._filename_show(v), self._filename_store(v))
        a["resync_size"] = WO(self._resync_size_store(v))
        a["sync"] = WO(self._sync_store(v))
        a["lb_per_pb_exp"] = RW(
            lambda: kv(v.lb_per_pb_exp, v.lb_per_pb_exp != 1), self._bool_long_store(v, "lb_per_pb_exp")
        )
        if v.fileio:
            a["o_direct"] = RO(lambda: kv(v.o_direct, v.o_direct != 0))
            a["async"] = RW(lambda: kv(v.async_, bool(v.async_)), self._bool_long_store(v, "async_"))
        if v.tp_attr:
            a["gen_tp_soft_threshold_reached_UA"] = WO(self._gen_tp_store(v))
        if v.dif_filename:
            a["dif_filename"] = RO(lambda: kv(v.dif_filename, True))
        return a

    # ---- vdisk attribute stores (scst_vdisk.c) --------------------------
    def _vdev_size_store(self, v: VDev, shift: int):
        def store(buf, count):
            text = _cstr(buf[:count])

            def work():
                m = re.match(r"\s*([+-]?\d+)", text)
                if not m:
                    raise _err(errno.EINVAL)
                new = int(m.group(1)) & 0xFFFFFFFFFFFFFFFF
                if new > (0xFFFFFFFFFFFFFFFF >> shift):
                    raise _err(errno.EINVAL)
                new <<= shift
                if new & ((1 << v.blk_shift) - 1):
                    raise _err(errno.EINVAL)
                v.file_size = new

            return work

        return store

    def _str_show(self, v: VDev, name: str):
        return lambda: kv(getattr(v, name), getattr(v, name + "_set"))

    def _str_store(self, v: VDev, name: str):
        limit = {
            "t10_vend_id": 9,
            "vend_specific_id": 129,
            "prod_id": 17,
            "prod_rev_lvl": 5,
            "scsi_device_name": 257,
        }[name]

        def store(buf, count):
            s = buf[:count]
            nl = s.find("\n")
            ln = nl if nl >= 0 else count
            if ln >= limit:
                raise _err(errno.EINVAL)
            val = _cstr(s[:ln])
            setattr(v, name, val)
            if name == "scsi_device_name":
                v.scsi_device_name_set = bool(val)
            else:
                setattr(v, name + "_set", True)

        return store

    @staticmethod
    def _set_fixed_id(buf: str, count: int, size: int) -> str:
        if count > size or (count == size and buf[count - 1] != "\n"):
            raise _err(errno.EINVAL)
        s = buf[:count]
        nl = s.find("\n")
        if nl >= 0:
            s = s[:nl]
        return _cstr(s)

    def _t10_dev_id_store(self, v: VDev):
        def store(buf, count):
            if v.cluster_mode:
                raise _err(errno.EPERM)
            v.t10_dev_id = self._set_fixed_id(buf, count, 26)
            v.t10_dev_id_set = True

        return store

    def _usn_store(self, v: VDev):
        def store(buf, count):
            v.usn = self._set_fixed_id(buf, count, 21)
            v.usn_set = True

        return store

    def _hexid_show(self, v: VDev, name: str):
        def show():
            raw = getattr(v, name)
            text = ("0x" + raw.hex()) if raw else ""
            return kv(text, bool(raw))

        return show

    @staticmethod
    def _trim_hex(buf: str, count: int) -> tuple:
        s = buf[:count]
        b, e = 0, len(s)
        while b < e and s[b] in _WS:
            b += 1
        while e > b and s[e - 1] in _WS:
            e -= 1
        if e - b >= 2 and s[b] == "0" and s[b + 1] == "x":
            b += 2
        first = buf[b] if b < len(buf) else "\0"
        return s[b:e], first

    @staticmethod
    def _hex2bin(s: str) -> bytes:
        if any(c not in _HEX for c in s):
            raise _err(errno.EINVAL)
        return bytes.fromhex(s)

    def _naa_id_store(self, v: VDev):
        def store(buf, count):
            s, first = self._trim_hex(buf, count)
            n = len(s)
            if n in (0, 16):
                if first != "\0" and first not in "235":
                    raise _err(errno.EINVAL)
            elif n == 32:
                if first != "6":
                    raise _err(errno.EINVAL)
            else:
                raise _err(errno.EINVAL)
            v.naa_id = self._hex2bin(s)

        return store

    def _eui64_id_store(self, v: VDev):
        def store(buf, count):
            s, _ = self._trim_hex(buf, count)
            if len(s) not in (0, 16, 24, 32):
                raise _err(errno.EINVAL)
            v.eui64_id = self._hex2bin(s)

        return store

    def _inq_vend_specific_store(self, v: VDev):
        def store(buf, count):
            s = buf[:count]
            nl = s.find("\n")
            ln = nl if nl >= 0 else count
            if ln > MAX_INQ_VEND_SPECIFIC_LEN:
                raise _err(errno.EINVAL)
            v.inq_vend_specific = s[:ln]

        return store

    def _opt_trans_len_store(self, v: VDev):
        def store(buf, count):
            val = kstrtoul(buf)
            if val & (v.block_size - 1):
                raise _err(errno.EINVAL)
            v.opt_trans_len = val & 0xFFFFFFFF
            v.opt_trans_len_set = True

        return store

    def _expl_alua_store(self, v: VDev):
        def store(buf, count):
            v.expl_alua = int(bool(kstrtoul(buf)))

        return store

    def _bind_alua_state_store(self, v: VDev):
        def store(buf, count):
            v.bind_alua_state = int(bool(kstrtoul(_cstr(buf)[:15])))

        return store

    def _bool_long_store(self, v: VDev, field: str):
        def store(buf, count):
            val = kstrtol(buf)
            if val not in (0, 1):
                raise _err(errno.EINVAL)
            setattr(v, field, val)

        return store

    def _read_zero_store(self, v: VDev):
        def store(buf, count):
            val = kstrtol(_cstr(buf)[: min(15, count)])
            if val not in (0, 1):
                raise _err(errno.EINVAL)
            v.read_zero = val

        return store

    def _gen_tp_store(self, v: VDev):
        def store(buf, count):
            if not v.thin_provisioned:
                raise _err(errno.EINVAL)

        return store

    def _filename_show(self, v: VDev) -> str:
        if v.filename:
            return "%s\n%s\n\n" % (v.filename, KEY)
        return "none\n\n"

    def _filename_store(self, v: VDev):
        def store(buf, count):
            text = _cstr(buf[:count])

            def work():
                if v.dev_active:
                    raise _err(errno.EINVAL)
                fn = text.strip(_WS)
                if not fn or fn[0] != "/":
                    raise _err(errno.EINVAL)
                v.filename = fn

            return work

        return store

    def _vcdrom_filename_store(self, v: VDev):
        def store(buf, count):
            text = _cstr(buf[:count]).strip(_WS)

            def work():
                if not text:
                    v.filename = None
                    v.cdrom_empty = True
                    v.file_size = 0
                    return
                if text[0] != "/":
                    raise _err(errno.EINVAL)
                size = self._file_or_bdev_size(text)
                v.filename = text
                v.cdrom_empty = False
                v.file_size = size

            return work

        return store

    def _active_store(self, v: VDev):
        def store(buf, count):
            text = _cstr(buf[:count])

            def work():
                val = kstrtol(text)
                if val not in (0, 1):
                    raise _err(errno.EINVAL)
                if val == v.dev_active:
                    return
                if val == 0:
                    self._vdisk_close(v)
                    v.dev_active = 0
                    return
                v.dev_active = 1
                if v.tgt_dev_cnt:
                    try:
                        self._vdisk_open_fd(v)
                    except OSError:
                        v.dev_active = 0
                        raise
                if v.reexam_pending:
                    self._vdisk_reexamine(v)
                    v.reexam_pending = False

            return work

        return store

    def _cluster_mode_store(self, v: VDev):
        def store(buf, count):
            text = _cstr(buf[:count])

            def work():
                val = kstrtol(text)
                if val not in (0, 1):
                    raise _err(errno.EINVAL)
                v.cluster_mode = val

            return work

        return store

    def _resync_size_store(self, v: VDev):
        def store(buf, count):
            def work():
                if not v.is_open or not v.dev_active:
                    raise _err(errno.EMEDIUMTYPE)
                v.file_size = self._file_or_bdev_size(v.filename)

            return work

        return store

    def _sync_store(self, v: VDev):
        def store(buf, count):
            if v.blockio and v.is_open and v.filename in self.host.no_flush:
                raise _err(errno.EOPNOTSUPP)

        return store

    # ------------------------------------------------------------------
    # tree: targets
    # ------------------------------------------------------------------
    def _make_srpt_targets(self) -> None:
        tgts = self.drivers["ib_srpt"]
        ports = self.host.ports
        if ports:
            guid = int(ports[0]["node_guid"].replace(":", ""), 16)
            self.srpt_service_guid = guid & ~IB_SERVICE_ID_AGN_MASK
        if self.host.target_scheme == "old":
            by_hca = OrderedDict()
            for p in ports:
                by_hca.setdefault(p["hca"], p)
            for n, p in enumerate(by_hca.values()):
                self._add_srpt_target(tgts, "ib_srpt_target_%d" % n, p)
        else:
            for p in ports:
                self._add_srpt_target(tgts, p["gid"], p)

    def _add_srpt_target(self, tgts, name: str, port: dict) -> None:
        t = Target("ib_srpt", name, 65536, has_enable=True, dif=False)
        t.port = port
        t.comp_v_mask = (1 << int(port.get("num_comp_vectors", self.host.num_comp_vectors))) - 1
        tgts[name] = t

    def _targets_children(self) -> dict:
        c = {}
        for drv, tgts in self.drivers.items():
            c[drv] = Dir(self._driver_children_fn(drv, tgts))
        return c

    def _driver_children_fn(self, drv: str, tgts):
        def children():
            c = OrderedDict((t.name, Dir(self._target_children_fn(t))) for t in tgts.values())
            if drv == "copy_manager":
                c["allow_not_connected_copy"] = RW(
                    lambda: kv(self.allow_not_connected_copy, bool(self.allow_not_connected_copy)),
                    self._allow_nc_copy_store,
                )
                c["dif_capabilities"] = RO(_const(self._dif_caps()))
            return c

        return children

    def _allow_nc_copy_store(self, buf, count):
        self.allow_not_connected_copy = int(bool(kstrtoul(buf)))

    @staticmethod
    def _dif_caps() -> str:
        return "dif_supported, hw_dif_type1_supported, hw_dif_type2_supported, hw_dif_type3_supported\n"

    def _target_children_fn(self, t: Target):
        return lambda: self._target_children(t)

    def _target_children(self, t: Target) -> dict:
        c = {}
        acg = t.default_acg
        c.update(self._acg_common_attrs(acg))
        c["rel_tgt_id"] = RW(lambda: kv(t.rel_tgt_id, t.rel_tgt_id != 0), self._rel_tgt_id_store(t))
        c["forward_src"] = RW(lambda: kv(t.forward_src, bool(t.forward_src)), self._forward_src_store(t))
        fwd = RW(lambda: kv(t.forward_dst, bool(t.forward_dst)), self._first_char_bool_store(t, "forward_dst"))
        c["forward_dst"] = fwd
        c["forwarding"] = fwd
        c["aen_disabled"] = RW(
            lambda: kv(t.aen_disabled, bool(t.aen_disabled)), self._first_char_bool_store(t, "aen_disabled")
        )
        c["comment"] = RW(lambda: kv(t.comment, True) if t.comment else "", self._comment_store(t))
        c["sg_tablesize"] = RO(lambda: "%d\n" % t.sg_tablesize)
        for d in ("unknown", "write", "read", "bidi", "none"):
            c["%s_cmd_count" % d] = RO(_const("0\n"))
            if d not in ("unknown", "none"):
                c["%s_io_count_kb" % d] = RO(_const("0\n"))
                c["%s_unaligned_cmd_count" % d] = RO(_const("0\n"))
        c["luns"] = Dir(self._luns_children_fn(acg))
        c["ini_groups"] = Dir(self._ini_groups_children_fn(t))
        c["sessions"] = Dir(lambda: OrderedDict((n, Dir(self._sess_children_fn(s))) for n, s in t.sessions.items()))
        if t.dif:
            c["dif_capabilities"] = RO(_const(self._dif_caps()))
            c["dif_checks_failed"] = RW(_const(self._dif_checks_text()), lambda b, n: None)
        if t.has_enable:
            c["enabled"] = RW(lambda: "%d\n" % int(t.enabled), self._enabled_store(t))
        if t.driver == "ib_srpt":
            c.update(self._srpt_attrs(t))
        return c

    @staticmethod
    def _dif_checks_text() -> str:
        return "\tapp\tref\tguard\ntgt\t0\t0\t0\nscst\t0\t0\t0\ndev\t0\t0\t0\n"

    def _acg_common_attrs(self, acg: Acg) -> dict:
        return {
            "addr_method": RW(
                lambda: kv(acg.addr_method, acg.addr_method != "PERIPHERAL"), self._addr_method_store(acg)
            ),
            "io_grouping_type": RW(
                lambda: kv(acg.io_grouping_type, acg.io_grouping_type != "auto"), self._io_grouping_store(acg)
            ),
            "black_hole": RW(lambda: "%d\n" % acg.black_hole, self._black_hole_store(acg)),
            "cpu_mask": RW(self._cpu_mask_show(acg), self._cpu_mask_store(acg)),
        }

    def _addr_method_store(self, acg: Acg):
        def store(buf, count):
            s = buf[:count].upper()
            for m in ("FLAT", "PERIPHERAL", "LUN"):
                if s[: min(len(m), count)] == m[: min(len(m), count)]:
                    acg.addr_method = m
                    return
            raise _err(errno.EINVAL)

        return store

    def _io_grouping_store(self, acg: Acg):
        def store(buf, count):
            s = buf[:count].lower()
            val = None
            for m in ("auto", "this_group_only", "never"):
                if s[: min(len(m), count)] == m[: min(len(m), count)]:
                    val = m
                    break
            if val is None:
                try:
                    n = kstrtol(buf)
                except OSError:
                    raise _err(errno.EINVAL) from None
                if n <= 0:
                    raise _err(errno.EINVAL)
                val = str(n)
            if val == acg.io_grouping_type:
                return None

            def work():
                acg.io_grouping_type = val

            return work

        return store

    def _black_hole_store(self, acg: Acg):
        def store(buf, count):
            val = kstrtoint(buf)
            if not 0 <= val <= 4:
                raise _err(errno.EINVAL)
            acg.black_hole = val

        return store

    def _cpu_mask_show(self, acg: Acg):
        def show():
            full = (1 << self.nr_cpus) - 1
            mask = full if acg.cpu_mask is None else acg.cpu_mask
            return kv(bitmap_str(mask, self.nr_cpus), mask != full)

        return show

    def _cpu_mask_store(self, acg: Acg):
        def store(buf, count):
            mask = cpumask_parse(buf[:count], self.nr_cpus)

            def work():
                acg.cpu_mask = mask

            return work

        return store

    def _rel_tgt_id_store(self, t: Target):
        def store(buf, count):
            try:
                val = kstrtoul(buf)
            except OSError:
                raise _err(errno.EINVAL) from None

            def work():
                enabled = t.enabled if t.has_enable else True
                if enabled and val != t.rel_tgt_id and not self._rel_tgt_id_unique(val, t):
                    raise _err(errno.EBADSLT)
                if not 1 <= val <= 65535 and not (val == 0 and not enabled):
                    raise _err(errno.EINVAL)
                t.rel_tgt_id = val & 0xFFFF

            return work

        return store

    def _rel_tgt_id_unique(self, rid: int, me: Target | None) -> bool:
        for tgts in self.drivers.values():
            for t in tgts.values():
                if t is me:
                    continue
                if t.has_enable and not t.enabled:
                    continue
                if t.rel_tgt_id == rid:
                    return False
        return True

    def _enabled_store(self, t: Target):
        def store(buf, count):
            if buf[0] == "0":
                enable = False
            elif buf[0] == "1":
                enable = True
            else:
                self.dmesg.append("scst: ***ERROR***: scst_tgt_enable_store: Requested action not understood: %s" % buf)
                raise _err(errno.EINVAL)

            def work():
                if enable:
                    if t.rel_tgt_id == 0:
                        rid = self._gen_rel_tgt_id()
                        t.rel_tgt_id = rid
                        self.dmesg.append(
                            "scst: Using autogenerated relative target id %d for target %s" % (rid, t.name)
                        )
                    elif not self._rel_tgt_id_unique(t.rel_tgt_id, t):
                        raise _err(errno.EBADSLT)
                self.dmesg.append("ib_srpt: %s target %s" % ("Enabling" if enable else "Disabling", t.name))
                t.enabled = enable
                if not enable:
                    for sess in list(t.sessions.values()):
                        self._close_session(sess)

            return work

        return store

    def _gen_rel_tgt_id(self) -> int:
        start = self.rti_next
        while True:
            rid = self.rti_next
            self.rti_next += 1
            if self.rti_next > 65535:
                self.rti_next = 1
            if self._rel_tgt_id_unique(rid, None):
                return rid
            if self.rti_next == start:
                raise _err(errno.EOVERFLOW)

    def _forward_src_store(self, t: Target):
        def store(buf, count):
            val = kstrtoint(buf)
            if val not in (0, 1):
                raise _err(errno.EINVAL)
            t.forward_src = val

        return store

    def _first_char_bool_store(self, t: Target, field: str):
        def store(buf, count):
            if buf[0] not in "01":
                raise _err(errno.EINVAL)
            setattr(t, field, int(buf[0]))

        return store

    def _comment_store(self, t: Target):
        def store(buf, count):
            s = _cstr(buf[:count])
            ln = len(s)
            if buf[count - 1] == "\n":
                ln -= 1
            t.comment = s[:ln] if ln > 0 else None

        return store

    def _srpt_attrs(self, t: Target) -> dict:
        port = t.port or {}
        gid_hex = port.get("gid", "").replace(":", "")
        guid = self.srpt_service_guid
        login_info = "tid_ext=%016x,ioc_guid=%016x,pkey=ffff,dgid=%s,service_id=%016x\n" % (guid, guid, gid_hex, guid)
        return {
            "comp_v_mask": RW(
                lambda: "%s\n%s\n" % (bitmap_str(t.comp_v_mask, self.nr_cpus), KEY), self._comp_v_store(t)
            ),
            "device": RO(_const(port.get("hca", "") + "\n")),
            "link_layer": RO(_const(port.get("link_layer", "Unknown") + "\n")),
            "port_id": RW(lambda: kv(t.port_id, t.port_id != SRPT_DEFAULT_PORT_ID), self._port_id_store(t)),
            "login_info": RO(_const(login_info)),
        }

    def _comp_v_store(self, t: Target):
        def store(buf, count):
            mask = cpumask_parse(buf[:count], self.nr_cpus)
            ncv = int((t.port or {}).get("num_comp_vectors", self.host.num_comp_vectors))
            if mask == 0 or mask >> ncv:
                raise _err(errno.EINVAL)
            t.comp_v_mask = mask

        return store

    def _port_id_store(self, t: Target):
        def store(buf, count):
            s = buf[:count].rstrip(_WS)
            if len(s) >= 64:
                raise _err(errno.E2BIG)
            t.port_id = _cstr(s)

        return store

    # ---- LUN sets, groups ----------------------------------------------
    def _luns_children_fn(self, acg: Acg):
        def children():
            c = OrderedDict()
            c["mgmt"] = RW(_const(LUNS_MGMT_HELP), lambda buf, count: self._luns_mgmt_store(acg, buf))
            depth = "../../../../../" if acg.default else "../../../../../../../"
            for lun, ad in acg.luns.items():
                c[str(lun)] = Dir(
                    {
                        "device": Link(depth + "devices/" + ad.dev.name),
                        "read_only": RO(self._lun_ro_show(ad)),
                    }
                )
            return c

        return children

    @staticmethod
    def _lun_ro_show(ad: AcgDev):
        return lambda: kv(1, True) if (ad.rd_only or ad.dev.dev_rd_only) else "0\n"

    def _ini_groups_children_fn(self, t: Target):
        def children():
            c = OrderedDict()
            c["mgmt"] = RW(_const(INI_GROUPS_MGMT_HELP), lambda buf, count: self._ini_groups_mgmt_store(t, buf))
            for acg in t.acgs.values():
                c[acg.sysfs_name()] = Dir(self._acg_children_fn(acg))
            return c

        return children

    def _acg_children_fn(self, acg: Acg):
        def children():
            c = self._acg_common_attrs(acg)
            c["luns"] = Dir(self._luns_children_fn(acg))
            c["initiators"] = Dir(self._initiators_children_fn(acg))
            return c

        return children

    def _initiators_children_fn(self, acg: Acg):
        def children():
            c = OrderedDict()
            c["mgmt"] = RW(_const(INITIATORS_MGMT_HELP), lambda buf, count: self._initiators_mgmt_store(acg, buf))
            for n in acg.acns:
                c[n] = RO(_const(n + "\n"))
            return c

        return children

    # ---- sessions ---------------------------------------------------------
    def _sess_children_fn(self, s: Session):
        return lambda: self._sess_children(s)

    def _sess_children(self, s: Session) -> dict:
        t = s.tgt
        c = {
            "active_commands": RO(_const("0\n")),
            "commands": RO(_const("0\n")),
            "initiator_name": RO(_const(s.initiator_name + "\n")),
        }
        for d in ("unknown", "write", "read", "bidi", "none"):
            c["%s_cmd_count" % d] = RW(_const("0\n"), lambda b, n: None)
            if d not in ("unknown", "none"):
                c["%s_io_count_kb" % d] = RW(_const("0\n"), lambda b, n: None)
                c["%s_unaligned_cmd_count" % d] = RW(_const("0\n"), lambda b, n: None)
        lat = {}
        for kind in "bnrw":
            for i in range(9, 20):
                lat["%s%d" % (kind, 1 << i)] = RW(_const("state count min max avg stddev\n"), lambda b, n: None)
        c["latency"] = Dir(lat)
        if s.acg is not None:
            c["luns"] = Link("../../luns" if s.acg.default else "../../ini_groups/%s/luns" % s.acg.sysfs_name())
        for lun, td in s.tgt_devs.items():
            c["lun%d" % lun] = Dir(
                {
                    "active_commands": RO(_const("0\n")),
                    "thread_index": RO(_const("%d\n" % td.thread_index)),
                    "thread_pid": RO(_const(" ".join(str(p) for p in td.pids) + "\n")),
                }
            )
        if t.dif:
            c["dif_checks_failed"] = RW(_const(self._dif_checks_text()), lambda b, n: None)
        if t.driver == "ib_srpt":
            c["req_lim"] = RO(_const("64\n"))
            c["req_lim_delta"] = RO(_const("0\n"))
            c["ch_state"] = RO(_const("live\n"))
            c["comp_vector"] = RO(_const("%d\n" % s.comp_vector))
            c["force_close"] = WO(lambda buf, count: self._close_session(s))
        return c

    # ------------------------------------------------------------------
    # tree: device_groups (ALUA: create/del only)
    # ------------------------------------------------------------------
    def _device_groups_children(self) -> dict:
        c = OrderedDict()
        c["mgmt"] = RW(_const(DEVICE_GROUPS_MGMT_HELP), self._dg_mgmt_store)
        for name in self.device_groups:
            c[name] = Dir(
                {
                    "devices": Dir({"mgmt": RW(_const(DG_DEVICES_MGMT_HELP), self._dg_unsupported)}),
                    "target_groups": Dir({"mgmt": RW(_const(DG_TG_MGMT_HELP), self._dg_unsupported)}),
                }
            )
        return c

    def _dg_mgmt_store(self, buf, count):
        buffer = _cstr(buf)
        p, pos = next_lexem(buffer, 0)
        name, pos = next_lexem(buffer, pos)
        if p.lower() == "create" and name:
            if name in self.device_groups:
                raise _err(errno.EEXIST)
            self.device_groups[name] = True
        elif p.lower() == "del" and name:
            if name not in self.device_groups:
                raise _err(errno.EINVAL)
            del self.device_groups[name]
        else:
            raise _err(errno.EINVAL)

    def _dg_unsupported(self, buf, count):
        raise _err(errno.EOPNOTSUPP)  # ALUA device/target groups are not emulated
