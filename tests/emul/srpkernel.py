"""
In-memory model of the Linux SRP initiator (``ib_srp`` + ``scsi_transport_srp``
+ the SCSI/block layers it feeds) on one emulated host, as the sysfs under
``/sys/class``, ``/sys/devices`` and ``/sys/block`` shows it, plus the ``/dev``
nodes udev would make. tests/emul/srpfs.py serves it with FUSE.

Written from Linux 6.1's drivers/infiniband/ulp/srp/ib_srp.c and
drivers/scsi/scsi_transport_srp.c, and checked against the captures
(tests/golden/scst-3.11-pre-linux-6.1/login.txt, pathloss.txt;
tests/golden/linux-6.1-openzfs-2.3.2/srp/*).

``add_target`` (one write = one login), in the kernel's order:

1. a SCSI host number is taken (lowest free one: hosts.c uses an IDA, so a
   failed attempt's number is given again, as in the captures where two failed
   attempts both printed ``scsi host3``);
2. ``srp_parse_options()``: ``strsep`` on ``,`` and newline, ``match_token()``
   against the option table, the kernel's conversions (``kstrtoull(.., 16)``,
   ``match_int``, ``hex2bin``, ``srp_parse_in``) and range checks; an unknown
   key or a key without a value: EINVAL ("unknown parameter or missing value").
   The mandatory-option check only fails when no option was parsed (``ret`` is
   left at 0 by the last successful conversion, as in every kernel since the
   kstrtoull() conversion): ``id_ext=..,ioc_guid=..`` alone goes on as an IB/CM
   login with P_Key 0 and fails creating the QP (ENOENT);
3. ``srp_conn_unique()``: same id_ext, ioc_guid and initiator_ext on this local
   port: EEXIST ("Already connected to target port ...");
4. per channel (``ch_count``, default ``min(max(4, comp vectors), CPUs)``):
   RDMA/CM address resolution (unknown or unreachable address: ENXIO), QP
   creation (P_Key not in the port's table: ENOENT), IB/CM path query (RoCE
   port: ENODEV; no SM: ETIMEDOUT; unknown/unreachable dgid: EINVAL), the CM
   request (no listener: REJ 0x8 -> ECONNRESET) and the SRP login at the target
   (rejected: ECONNRESET). A failing first channel fails the write; a later one
   only lowers ``ch_count``;
5. the SCSI host, remote port ``port-H:1`` and one SCSI device per LUN the
   target's scan shows (LUN order); disks get ``sdX`` (lowest free index).

Path loss (the target disables its port, closes the sessions, or a host is
``Fabric.set_down``): ``srp_start_tl_fail_timers()``: state ``blocked``,
reconnect attempts every ``reconnect_delay``, ``fail-fast`` after
``fast_io_fail_tmo`` (SCSI devices ``transport-offline``; opening ``/dev/sdX``
gives ENXIO), back to ``running`` on a successful reconnect, and after
``dev_loss_tmo`` the remote port, the SCSI host and its disks are removed.
Writing ``delete`` removes the login at once (and closes its SCST sessions).

``/dev/sdX`` is a symlink to the peer's backing file (the path the LUN's device
resolves to inside the peer's root), so I/O through it reaches the peer's
data; while the remote port is ``fail-fast`` it points to a UNIX socket
(``ROOT/run/srpemu/enxio``): open(2) of a socket gives ENXIO, like sd_open() on
a transport-offline device. ``/dev/disk/by-id/scsi-<ID_SERIAL>`` links (and
``wwn-`` for NAA identifiers) are what udev's scsi_id makes of SCST's VPD page
0x83: SCST with neither ``eui64_id`` nor ``naa_id`` set exports the first 8
bytes of ``t10_dev_id`` as an EUI-64 designator, so ``t10_dev_id``
``80130d8a-MDT1`` gives ``scsi-23830313330643861`` (login.txt). They appear
``udev_delay`` seconds after the disk.

Not emulated: I/O queueing while ``blocked`` (I/O through the symlink just
works), LUN rescans (like Linux: a LUN added at the target later is not seen),
``sg`` devices, partitions, ``/dev/disk/by-path`` and ``by-diskseq``, SCSI
devices of non-disk LUNs get no block device.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import re
import socket
from collections import OrderedDict
from pathlib import Path

from .fabric import IB_CM_REJ_INVALID_SERVICE_ID, SRPT_RQ_SIZE, Fabric, FabricPort, pi6, read_param
from .scstkernel import Attr, Dir, Link

PAGE_SIZE = 4096
INT_MAX = (1 << 31) - 1
INT_MIN = -(1 << 31)
U64_MAX = (1 << 64) - 1
SRP_DEF_SG_TABLESIZE = 12
SRP_DEFAULT_QUEUE_SIZE = 64
SRP_RSP_SQ_SIZE = 1
SRP_TSK_MGMT_SQ_SIZE = 1
SRP_DEFAULT_CMD_SQ_SIZE = SRP_DEFAULT_QUEUE_SIZE - SRP_RSP_SQ_SIZE - SRP_TSK_MGMT_SQ_SIZE
SRP_REV10_IB_IO_CLASS = 0xFF00
SRP_REV16A_IB_IO_CLASS = 0x0100
SG_MAX_SEGMENTS = 2048
SCSI_DEVICE_BLOCK_MAX_TIMEOUT = 600
SRP_IMM_DATA_OFFSET = 48 + 16 + 4  # sizeof(srp_cmd) + SRP_MAX_ADD_CDB_LEN + sizeof(srp_imm_buf)
SRP_MAX_SECTORS = 1024  # scsi host template default max_sectors (SCSI_DEFAULT_MAX_SECTORS)
PORT_PKEYS = (0xFFFF,)  # the P_Key table of an HCA port with no partitions configured

# Option table (srp_opt_tokens), in the kernel's order: (key, conversion).
OPT_TOKENS = [
    ("id_ext", "s"),
    ("ioc_guid", "s"),
    ("dgid", "s"),
    ("pkey", "x"),
    ("service_id", "s"),
    ("max_sect", "d"),
    ("max_cmd_per_lun", "d"),
    ("target_can_queue", "d"),
    ("io_class", "x"),
    ("initiator_ext", "s"),
    ("cmd_sg_entries", "u"),
    ("allow_ext_sg", "u"),
    ("sg_tablesize", "u"),
    ("comp_vector", "u"),
    ("tl_retry_count", "u"),
    ("queue_size", "d"),
    ("src", "s"),
    ("dest", "s"),
    ("max_it_iu_size", "d"),
    ("ch_count", "u"),
]
OPT_IB_CM = {"id_ext", "ioc_guid", "dgid", "pkey", "service_id"}
OPT_RDMA_CM = {"id_ext", "ioc_guid", "dest"}

# ib_srp module parameters: name -> (default as /sys/module shows it)
MODULE_PARAMS = {
    "srp_sg_tablesize": "0",
    "cmd_sg_entries": "12",
    "indirect_sg_entries": "12",
    "allow_ext_sg": "N",
    "topspin_workarounds": "1",
    "register_always": "Y",
    "never_register": "N",
    "reconnect_delay": "10",
    "fast_io_fail_tmo": "15",
    "dev_loss_tmo": "600",
    "use_imm_data": "Y",
    "max_imm_data": "8192",
    "ch_count": "0",
}

SCSI_TYPES = {0: "Direct-Access    ", 5: "CD-ROM           ", 12: "RAID             ", 14: "RBC              "}
SD_MAJORS = [8, 65, 66, 67, 68, 69, 70, 71, 128, 129, 130, 131, 132, 133, 134, 135]

RUNNING, BLOCKED, FAIL_FAST, LOST = "running", "blocked", "fail-fast", "lost"


def _err(code: int, what: str = "") -> OSError:
    return OSError(code, os.strerror(code), what) if what else OSError(code, os.strerror(code))


# --------------------------------------------------------------------------
# Kernel string conversions
# --------------------------------------------------------------------------
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _fixup_radix(s: str, base: int) -> tuple:
    if base == 0:
        if s[:1] == "0":
            if s[1:2].lower() == "x" and s[2:3] != "" and s[2].lower() in _DIGITS[:16]:
                return s[2:], 16, 2
            return s, 8, 0
        return s, 10, 0
    if base == 16 and s[:1] == "0" and s[1:2].lower() == "x":
        return s[2:], 16, 2
    return s, base, 0


def simple_strtoull(s: str, base: int) -> tuple:
    """-> (value, characters consumed); the kernel's simple_strtoull() (wraps on overflow)."""
    rest, base, skipped = _fixup_radix(s, base)
    value, n = 0, 0
    for ch in rest:
        d = _DIGITS.find(ch.lower())
        if d < 0 or d >= base:
            break
        value = (value * base + d) & U64_MAX
        n += 1
    return value, skipped + n


def simple_strtol(s: str, base: int) -> tuple:
    if s[:1] == "-":
        v, n = simple_strtoull(s[1:], base)
        return -v, n + 1 if n else 0
    return simple_strtoull(s, base)


def kstrtoull(s: str, base: int) -> int:
    """kstrtoull(): the whole string (one trailing newline allowed), else EINVAL; ERANGE on overflow."""
    if s[:1] == "+":
        s = s[1:]
    rest, base, _ = _fixup_radix(s, base)
    if rest.endswith("\n"):
        rest = rest[:-1]
    if not rest:
        raise _err(errno.EINVAL)
    value = 0
    for ch in rest:
        d = _DIGITS.find(ch.lower())
        if d < 0 or d >= base:
            raise _err(errno.EINVAL)
        value = value * base + d
        if value > U64_MAX:
            raise _err(errno.ERANGE)
    return value


def kstrtoint(s: str, base: int = 0) -> int:
    neg = s[:1] == "-"
    value = kstrtoull(s[1:] if neg else s, base)
    value = -value if neg else value
    if value > INT_MAX or value < INT_MIN:
        raise _err(errno.ERANGE)
    return value


def match_token(p: str):
    """lib/parser.c match_token() on srp_opt_tokens -> (key, value text) or (None, None)."""
    for key, conv in OPT_TOKENS:
        prefix = key + "="
        if not p.startswith(prefix):
            continue
        s = p[len(prefix) :]
        if conv == "s":
            if s:
                return key, s
            continue
        if conv == "d":
            _, n = simple_strtol(s, 0)
        elif conv == "u":
            _, n = simple_strtoull(s, 0)
        else:  # x
            _, n = simple_strtoull(s, 16)
        if n and n == len(s):
            return key, s
    return None, None


def match_number(s: str, base: int) -> int:
    """match_int()/match_hex(): simple_strtol, EINVAL if nothing parsed, ERANGE outside int."""
    value, n = simple_strtol(s, base)
    if n == 0:
        raise _err(errno.EINVAL)
    if value > INT_MAX or value < INT_MIN:
        raise _err(errno.ERANGE)
    return value


def srp_parse_in(text: str, want_port: bool) -> tuple:
    """srp_parse_in(): ``<ipv4>[:<port>]`` or ``[<ipv6>[%scope]][:<port>]`` -> (address, port or None)."""
    addr, port = text, None
    idx = text.rfind(":")
    if idx >= 0 and "]" not in text[idx:]:
        addr, port = text[:idx], text[idx + 1 :]
    if port is not None:
        try:
            num = kstrtoull(port, 0)
        except OSError:
            raise _err(errno.EINVAL) from None
        if num > 0xFFFF:
            raise _err(errno.EINVAL)
        port = num
    try:
        return str(ipaddress.IPv4Address(addr)), port
    except ValueError:
        pass
    if addr.startswith("[") and addr.endswith("]"):
        inner = addr[1:-1].split("%", 1)[0]
        try:
            return str(ipaddress.IPv6Address(inner)), port
        except ValueError:
            pass
    raise _err(errno.EINVAL)


def parse_tmo(buf: str) -> int:
    """srp_parse_tmo(): ``off...`` -> -1, else kstrtoint(buf, 0)."""
    if buf.startswith("off"):
        return -1
    return kstrtoint(buf, 0)


def tmo_valid(reconnect_delay: int, fast_io_fail_tmo: int, dev_loss_tmo: int) -> bool:
    """srp_tmo_valid() of scsi_transport_srp.c."""
    if reconnect_delay < 0 and fast_io_fail_tmo < 0 and dev_loss_tmo < 0:
        return False
    if reconnect_delay == 0:
        return False
    if fast_io_fail_tmo > SCSI_DEVICE_BLOCK_MAX_TIMEOUT:
        return False
    if fast_io_fail_tmo < 0 and dev_loss_tmo > SCSI_DEVICE_BLOCK_MAX_TIMEOUT:
        return False
    if fast_io_fail_tmo >= 0 and dev_loss_tmo >= 0 and fast_io_fail_tmo >= dev_loss_tmo:
        return False
    return True


def show_tmo(value: int) -> str:
    return "%d\n" % value if value >= 0 else "off\n"


def sd_name(index: int) -> str:
    """sd_format_disk_name(): sda..sdz, sdaa..."""
    s, i = "", index + 1
    while i > 0:
        i -= 1
        s = chr(97 + i % 26) + s
        i //= 26
    return "sd" + s


def udev_ids(info: dict) -> tuple:
    """(by-id link names, wwid) udev's scsi_id and the kernel make of SCST's VPD 0x83."""
    naa = info.get("naa_id") or b""
    eui = info.get("eui64_id") or b""
    if not naa and not eui:
        # scst_vdisk: "Compatibility mode: export the first eight bytes of the t10_dev_id as an EUI-64 ID"
        eui = (info.get("t10_dev_id", "").encode("latin-1") + b"\0" * 8)[:8]
    if naa:
        hexid = naa.hex()
        links = ["scsi-3" + hexid, "wwn-0x" + hexid[:16] + ("0x" + hexid[16:] if len(hexid) > 16 else "")]
        return links, "naa." + hexid
    return ["scsi-2" + eui.hex()], "eui." + eui.hex()


def _pad(text: str, width: int) -> str:
    return (text or "")[:width].ljust(width)


# --------------------------------------------------------------------------
# Model objects
# --------------------------------------------------------------------------
class Disk:
    def __init__(self, login, info: dict, index: int | None):
        self.login = login
        self.lun = info["lun"]
        self.info = info
        self.type = info["type"]
        self.index = index  # sd index, None for non-disk LUNs
        self.name = sd_name(index) if index is not None else None
        self.links, self.wwid = udev_ids(info) if info.get("vendor") is not None else ([], "")
        self.links_made = False
        self.links_due = 0.0
        self.backing: str | None = None

    @property
    def hctl(self) -> str:
        return "%d:0:0:%d" % (self.login.host_no, self.lun)

    @property
    def devt(self) -> str:
        return "%d:%d" % (SD_MAJORS[self.index // 16 % 16], (self.index % 16) * 16)


class Login:
    """An ``srp_target_port`` with its SCSI host and remote port."""

    def __init__(self, host_no: int, port: FabricPort):
        self.host_no = host_no
        self.port = port
        self.rdma_cm = False
        self.id_ext = 0
        self.ioc_guid = 0
        self.initiator_ext = 0
        self.orig_dgid = bytes(16)
        self.pkey = 0
        self.service_id = 0
        self.dest = None  # (ip, tcp port)
        self.src = None
        self.io_class = SRP_REV16A_IB_IO_CLASS
        self.cmd_sg_cnt = SRP_DEF_SG_TABLESIZE
        self.sg_tablesize = SRP_DEF_SG_TABLESIZE
        self.allow_ext_sg = False
        self.tl_retry_count = 7
        self.queue_size = SRP_DEFAULT_QUEUE_SIZE
        self.can_queue = SRP_DEFAULT_CMD_SQ_SIZE
        self.cmd_per_lun = SRP_DEFAULT_CMD_SQ_SIZE
        self.max_sectors = SRP_MAX_SECTORS
        self.target_can_queue = 0
        self.comp_vector = 0
        self.max_it_iu_size = 0
        self.ch_count = 0
        self.sgid = ""
        # target side
        self.peer = None  # FabricHost
        self.peer_port: FabricPort | None = None
        self.target_name = ""
        self.ini_name = ""
        self.sessions: list = []
        # remote port
        self.rport = "port-%d:1" % host_no
        self.state = RUNNING
        self.reconnect_delay = 10
        self.fast_io_fail_tmo = 15
        self.dev_loss_tmo = 600
        self.failed_reconnects = 0
        self.connected = False
        self.t_reconnect = None
        self.t_fast = None
        self.t_loss = None
        self.disks: list = []
        self.removed = False

    @property
    def sdev_state(self) -> str:
        return {RUNNING: "running", BLOCKED: "blocked"}.get(self.state, "transport-offline")

    @property
    def dest_text(self) -> str:
        ip = self.dest[0] if self.dest else ""
        return "[%s]" % ip if ":" in ip else ip


class LocalHost:
    """One of the host's own SCSI hosts (the ATA controllers of the captured guest)."""

    def __init__(self, host_no: int, devpath: str, devices: list):
        self.host_no = host_no
        self.devpath = devpath  # under /sys/devices
        self.devices = devices  # [(hctl, type, name)]


# --------------------------------------------------------------------------
# The kernel
# --------------------------------------------------------------------------
class SrpKernel:
    def __init__(
        self,
        fabric: Fabric,
        name: str,
        host,
        *,
        udev_delay: float = 0.0,
        ib_srp_loaded: bool = True,
        umad: bool = True,
    ):
        """
        ``host``: the HostConfig (root, ports, passthrough, nr_cpus,
        num_comp_vectors). The host must be registered in ``fabric`` under ``name``.
        ``ib_srp_loaded=False``: ``infiniband_srp`` and ``srp_remote_ports`` only
        show once ``ROOT/sys/module/ib_srp`` exists (the fake modprobe makes it).
        """
        self.fabric = fabric
        self.lock = fabric.lock
        self.name = name
        self.host = host
        self.root = Path(host.root)
        self.fh = fabric.hosts[name]
        self.udev_delay = udev_delay
        self.umad = umad
        self.dmesg: list = []
        self.logins: OrderedDict = OrderedDict()  # host_no -> Login
        self.local_hosts = self._local_hosts()
        self._sd_used: set = set()
        self._pending_hosts: set = set()
        self.module_dir = self.root / "sys" / "module" / "ib_srp"
        if ib_srp_loaded:
            params = self.module_dir / "parameters"
            params.mkdir(parents=True, exist_ok=True)
            for key, value in MODULE_PARAMS.items():
                if not (params / key).exists():
                    (params / key).write_text(value + "\n")
            (self.root / "sys" / "module" / "scsi_transport_srp").mkdir(parents=True, exist_ok=True)
        self.enxio = self._make_enxio()
        self.dev = self.root / "dev"
        self.by_id = self.dev / "disk" / "by-id"
        self.by_id.mkdir(parents=True, exist_ok=True)
        if umad:
            (self.dev / "infiniband").mkdir(parents=True, exist_ok=True)
            for i, _ in enumerate(self.fh.ports):
                for kind in ("umad", "issm"):
                    node = self.dev / "infiniband" / ("%s%d" % (kind, i))
                    if not node.exists():
                        node.touch()
        self._trees = {
            "class": Dir(self._class_children),
            "devices": Dir(self._devices_children),
            "block": Dir(self._block_children),
        }

    # ------------------------------------------------------------------
    # setup helpers
    # ------------------------------------------------------------------
    def _local_hosts(self) -> dict:
        hosts = {}
        for pt in getattr(self.host, "passthrough", []) or []:
            h = int(pt["hctl"].split(":")[0])
            m = re.search(r"devices/(.*?/host%d)/" % h, pt.get("scsi_device", ""))
            devpath = m.group(1) if m else "pci0000:00/0000:00:01.1/ata%d/host%d" % (h + 1, h)
            name = "sr%d" % sum(1 for hh in hosts.values() for d in hh.devices if d[1] == 5)
            hosts.setdefault(h, LocalHost(h, devpath, [])).devices.append((pt["hctl"], int(pt.get("type", 5)), name))
        if hosts:
            top = max(hosts)
            base = hosts[top].devpath.rsplit("/", 2)[0]
            for h in range(top):
                hosts.setdefault(h, LocalHost(h, "%s/ata%d/host%d" % (base, h + 1, h), []))
        return dict(sorted(hosts.items()))

    def _make_enxio(self) -> Path:
        """A UNIX socket file: open(2) on it fails with ENXIO."""
        d = self.root / "run" / "srpemu"
        d.mkdir(parents=True, exist_ok=True)
        path = d / "enxio"
        if not path.exists():
            fd = os.open(d, os.O_PATH)
            try:
                sock = socket.socket(socket.AF_UNIX)
                sock.bind("/proc/self/fd/%d/enxio" % fd)  # short path whatever the root's length
                sock.close()
            finally:
                os.close(fd)
        return path

    @property
    def loaded(self) -> bool:
        return self.module_dir.is_dir()

    def param(self, name: str):
        value = read_param(self.root, "ib_srp", name)
        return MODULE_PARAMS[name] if value is None else value

    def _param_int(self, name: str) -> int:
        text = self.param(name)
        if text.startswith("off"):
            return -1
        try:
            return int(text, 0)
        except ValueError:
            return int(MODULE_PARAMS[name])

    def _param_bool(self, name: str) -> bool:
        return self.param(name)[:1] in ("Y", "y", "1")

    @property
    def nr_cpus(self) -> int:
        return int(getattr(self.host, "nr_cpus", 2) or 2)

    @property
    def num_comp_vectors(self) -> int:
        return int(getattr(self.host, "num_comp_vectors", 2) or 2)

    def _kmsg(self, text: str) -> None:
        self.dmesg.append(text)

    def _shost(self, login_or_no, text: str) -> None:
        no = login_or_no if isinstance(login_or_no, int) else login_or_no.host_no
        self.dmesg.append("scsi host%d: %s" % (no, text))

    # ------------------------------------------------------------------
    # host numbers, sd indexes (IDAs: lowest free)
    # ------------------------------------------------------------------
    def _used_host_numbers(self) -> set:
        return set(self.local_hosts) | set(self.logins) | self._pending_hosts

    def _alloc_host(self) -> int:
        used = self._used_host_numbers()
        n = 0
        while n in used:
            n += 1
        self._pending_hosts.add(n)
        return n

    def _free_host(self, n: int) -> None:
        self._pending_hosts.discard(n)

    def _alloc_sd(self) -> int:
        n = 0
        while n in self._sd_used:
            n += 1
        self._sd_used.add(n)
        return n

    # ------------------------------------------------------------------
    # add_target
    # ------------------------------------------------------------------
    def add_target(self, port: FabricPort, buf: str) -> None:
        host_no = self._alloc_host()
        login = Login(host_no, port)
        login.cmd_sg_cnt = self._param_int("cmd_sg_entries")
        login.sg_tablesize = self._param_int("indirect_sg_entries") or login.cmd_sg_cnt
        login.allow_ext_sg = self._param_bool("allow_ext_sg")
        try:
            self._parse_options(login, buf)
            self._conn_unique(login)
            self._create_target(login)
        finally:
            self._free_host(host_no)

    def _parse_options(self, t: Login, buf: str) -> None:
        """srp_parse_options(), ``ret`` handling included."""
        ret = -errno.EINVAL
        mask = set()
        for p in re.split(r"[,\n]", buf):
            if not p:
                continue
            key, val = match_token(p)
            if key is None:
                self._kmsg("ib_srp: unknown parameter or missing value '%s' in target creation request" % p)
                raise _err(errno.EINVAL)
            mask.add(key)
            try:
                ret = self._parse_one(t, key, val, p, ret)
            except _StopParse:
                # "goto out" without setting ret: a previous option's 0 makes the write go on
                if ret:
                    raise _err(-ret) from None
                return
        if any(m <= mask for m in (OPT_IB_CM, OPT_RDMA_CM)):
            ret = 0
        if ret:
            self._kmsg("ib_srp: target creation request is missing one or more parameters")
            raise _err(-ret)
        if t.cmd_per_lun > t.can_queue and "max_cmd_per_lun" in mask:
            self._kmsg("ib_srp: cmd_per_lun = %d > queue_size = %d" % (t.cmd_per_lun, t.can_queue))

    def _parse_one(self, t: Login, key: str, val: str, p: str, ret: int) -> int:
        def fail(code, msg):
            self._kmsg("ib_srp: " + msg)
            raise _err(code)

        def hex64(what):
            try:
                return kstrtoull(val, 16)
            except OSError as e:
                fail(e.errno, "%s '%s'" % (what, val))

        def number(base=0):
            try:
                return match_number(val, base)
            except OSError as e:
                return e

        if key == "id_ext":
            t.id_ext = hex64("invalid id_ext parameter")
            return 0
        if key == "ioc_guid":
            t.ioc_guid = hex64("invalid ioc_guid parameter")
            return 0
        if key == "service_id":
            t.service_id = hex64("bad service_id parameter")
            return 0
        if key == "initiator_ext":
            t.initiator_ext = hex64("bad initiator_ext value")
            return 0
        if key == "dgid":
            if len(val) != 32:
                self._kmsg("ib_srp: bad dest GID parameter '%s'" % val)
                raise _StopParse()
            try:
                t.orig_dgid = bytes.fromhex(val)
            except ValueError:
                raise _err(errno.EINVAL) from None
            return 0
        if key in ("src", "dest"):
            try:
                addr, port = srp_parse_in(val, key == "dest")
                if key == "dest" and port is None:
                    raise _err(errno.EINVAL)
            except OSError as e:
                fail(e.errno, "bad %s parameter '%s'" % ("source" if key == "src" else "dest", val))
            if key == "src":
                t.src = addr
            else:
                t.dest = (addr, port)
                t.rdma_cm = True
            return 0
        if key in ("pkey", "io_class"):
            v = number(16)
            if isinstance(v, OSError):
                fail(v.errno, ("bad P_Key parameter '%s'" if key == "pkey" else "bad IO class parameter '%s'") % p)
            if key == "pkey":
                t.pkey = v & 0xFFFF
            else:
                if v not in (SRP_REV10_IB_IO_CLASS, SRP_REV16A_IB_IO_CLASS):
                    fail(
                        errno.EINVAL,
                        "unknown IO class parameter value %x specified (use %x or %x)."
                        % (v, SRP_REV10_IB_IO_CLASS, SRP_REV16A_IB_IO_CLASS),
                    )
                t.io_class = v
            return 0
        v = number()
        if key == "max_sect":
            if isinstance(v, OSError):
                fail(v.errno, "bad max sect parameter '%s'" % p)
            t.max_sectors = v
            return 0
        if key == "allow_ext_sg":
            if isinstance(v, OSError):
                fail(v.errno, "bad allow_ext_sg parameter '%s'" % p)
            t.allow_ext_sg = bool(v)
            return 0
        names = {
            "queue_size": ("queue_size", "bad queue_size parameter '%s'", 1, None),
            "max_cmd_per_lun": ("max cmd_per_lun", "bad max cmd_per_lun parameter '%s'", 1, None),
            "target_can_queue": ("max target_can_queue", "bad max target_can_queue parameter '%s'", 1, None),
            "cmd_sg_entries": ("max cmd_sg_entries", "bad max cmd_sg_entries parameter '%s'", 1, 255),
            "sg_tablesize": ("max sg_tablesize", "bad max sg_tablesize parameter '%s'", 1, SG_MAX_SEGMENTS),
            "comp_vector": ("comp_vector", "bad comp_vector parameter '%s'", 0, None),
            "tl_retry_count": (
                "tl_retry_count",
                "bad tl_retry_count parameter '%s' (must be a number between 2 and 7)",
                2,
                7,
            ),
            "max_it_iu_size": ("max it_iu_size", "bad maximum initiator to target IU size '%s'", 0, None),
            "ch_count": ("channel count", "bad channel count %s", 1, None),
        }
        what, bad, low, high = names[key]
        if isinstance(v, OSError):
            fail(v.errno, "match_int() failed for %s parameter '%s', Error %d" % (what, p, -v.errno))
        if v < low or (high is not None and v > high):
            fail(errno.EINVAL, bad % p)
        if key == "queue_size":
            t.can_queue = v
            t.queue_size = v + SRP_RSP_SQ_SIZE + SRP_TSK_MGMT_SQ_SIZE
            if not getattr(t, "_cmd_per_lun_set", False):
                t.cmd_per_lun = v
        elif key == "max_cmd_per_lun":
            t.cmd_per_lun = v
            t._cmd_per_lun_set = True
        elif key == "target_can_queue":
            t.target_can_queue = v
        elif key == "cmd_sg_entries":
            t.cmd_sg_cnt = v
        elif key == "sg_tablesize":
            t.sg_tablesize = v
        elif key == "comp_vector":
            t.comp_vector = v
        elif key == "tl_retry_count":
            t.tl_retry_count = v
        elif key == "max_it_iu_size":
            t.max_it_iu_size = v
        elif key == "ch_count":
            t.ch_count = v
        return 0

    def _conn_unique(self, t: Login) -> None:
        for other in self.logins.values():
            if other.removed or other.port is not t.port:
                continue
            if (other.id_ext, other.ioc_guid, other.initiator_ext) == (t.id_ext, t.ioc_guid, t.initiator_ext):
                if t.rdma_cm:
                    tail = "dest=%s" % t.dest_text
                else:
                    tail = "initiator_ext=%016x" % t.initiator_ext
                self._shost(
                    t,
                    "ib_srp: Already connected to target port with id_ext=%016x;ioc_guid=%016x;%s"
                    % (t.id_ext, t.ioc_guid, tail),
                )
                raise _err(errno.EEXIST)

    def _it_iu_len(self, t: Login) -> int:
        n = 48 + 16 + 20 + t.cmd_sg_cnt * 16
        if self._param_bool("use_imm_data"):
            n = max(n, SRP_IMM_DATA_OFFSET + self._param_int("max_imm_data"))
        if t.max_it_iu_size:
            n = min(n, t.max_it_iu_size)
        return n

    def _create_target(self, t: Login) -> None:
        t.sgid = t.port.gid
        if t.ch_count == 0:
            param = self._param_int("ch_count")
            t.ch_count = min(param or max(4, self.num_comp_vectors), self.nr_cpus)
        connected = 0
        for ch_idx in range(t.ch_count):
            ret = self._new_cm_id(t)
            if ret == 0:
                ret = self._create_ch_ib(t)
            if ret:
                self._disconnect(t)
                raise _err(-ret)
            ret = self._connect_ch(t, multich=ch_idx > 0)
            if ret:
                dst = t.dest_text if t.rdma_cm else pi6(t.orig_dgid)
                self._shost(t, "ib_srp: Connection %d/%d to %s failed" % (ch_idx, t.ch_count, dst))
                if ch_idx == 0:
                    self._disconnect(t)
                    raise _err(-ret)
                t.ch_count = ch_idx
                break
            connected += 1
        t.connected = True
        self._add_target(t)

    # ---- connection steps ------------------------------------------------
    def _peer(self, t: Login):
        """The target port a login reaches now: (FabricHost, FabricPort) or (None, None)."""
        if self.fh.down:
            return None, None
        if t.rdma_cm:
            fh, p = self.fabric.port_by_ip(t.dest[0])
        else:
            fh, p = self.fabric.port_by_gid(t.orig_dgid)
        if fh is None or fh.down or not p.active:
            return None, None
        return fh, p

    def _new_cm_id(self, t: Login) -> int:
        """srp_new_cm_id(): RDMA/CM resolves the destination address."""
        if not t.rdma_cm:
            return 0
        if t.src is not None:
            if not any(p.ip == t.src for p in self.fh.ports):
                self._kmsg("ib_srp: No route available from %s to %s:%d (%d)" % (t.src, *t.dest, -errno.EADDRNOTAVAIL))
                return -errno.EADDRNOTAVAIL
        if not t.port.ip:
            self._kmsg("ib_srp: No route available from 0.0.0.0 to %s:%d (%d)" % (*t.dest, -errno.ENETUNREACH))
            return -errno.ENETUNREACH
        fh, _ = self._peer(t)
        if fh is None:
            self._kmsg("ib_srp: Resolving address %s:%d failed (%d)" % (t.dest_text, t.dest[1], -errno.ENXIO))
            return -errno.ENXIO
        return 0

    def _create_ch_ib(self, t: Login) -> int:
        """srp_create_ch_ib(): IB/CM QPs need the P_Key in the port's table."""
        if not t.rdma_cm and t.pkey not in PORT_PKEYS:
            self._kmsg("ib_srp: QP creation failed for dev %s: %d" % (t.port.hca, -errno.ENOENT))
            return -errno.ENOENT
        return 0

    def _connect_ch(self, t: Login, multich: bool) -> int:
        """srp_connect_ch(): path lookup, CM request, SRP login. 0 or -errno."""
        if not t.rdma_cm:
            if t.port.link_layer != "InfiniBand":
                return -errno.ENODEV  # no SA on RoCE: ib_sa_path_rec_get() -> -ENODEV
            fh, p = self._peer(t)
            status = 0
            if not self.fabric.sm_running:
                status = -errno.ETIMEDOUT
            elif fh is None or p.link_layer != "InfiniBand" or t.pkey not in PORT_PKEYS:
                status = -errno.EINVAL
            if status:
                self._shost(t, "ib_srp: Got failed path rec status %d" % status)
                self._shost(
                    t,
                    "ib_srp: Path record query failed: sgid %s, dgid %s, pkey %#04x, service_id %#16x"
                    % (t.sgid, pi6(t.orig_dgid), t.pkey, t.service_id),
                )
                return status
        else:
            fh, p = self._peer(t)
            if fh is None:
                self._shost(t, "ib_srp: Path resolution failed")
                return -errno.EHOSTUNREACH
        # the CM request reaches the peer: is anybody listening?
        if t.rdma_cm:
            listening = fh.srpt_loaded and self.fabric.rdma_cm_listen_port(fh) not in (0, None)
            listening = listening and self.fabric.rdma_cm_listen_port(fh) == t.dest[1]
        else:
            listening = fh.srpt_loaded and t.service_id == fh.scst.srpt_service_guid
        if not listening:
            self._shost(t, "ib_srp: REJ received")
            self._shost(t, "  REJ reason 0x%x" % IB_CM_REJ_INVALID_SERVICE_ID)
            return -errno.ECONNRESET
        if t.io_class == SRP_REV10_IB_IO_CLASS:
            ipi = t.port.gid_raw[8:] + t.initiator_ext.to_bytes(8, "big")
            tpi = t.ioc_guid.to_bytes(8, "big") + t.id_ext.to_bytes(8, "big")
        else:
            ipi = t.initiator_ext.to_bytes(8, "big") + t.port.gid_raw[8:]
            tpi = t.id_ext.to_bytes(8, "big") + t.ioc_guid.to_bytes(8, "big")
        ini_name = t.port.ip if t.rdma_cm else pi6(t.port.gid_raw)
        reason, sess = self.fabric.srpt_login(
            fh,
            p,
            ini_name=ini_name,
            i_port_id=ipi,
            t_port_id=tpi,
            it_iu_len=self._it_iu_len(t),
            pkey=0xFFFF if t.rdma_cm else t.pkey,
            multichannel=multich,
        )
        if reason:
            self._shost(t, "ib_srp: REJ received")
            if reason == 0x00010002:
                self._shost(t, "ib_srp: SRP_LOGIN_REJ: requested max_it_iu_len too large")
            elif t.rdma_cm:
                self._shost(t, "ib_srp: SRP LOGIN REJECTED, reason 0x%08x" % reason)
            else:
                self._shost(
                    t,
                    "ib_srp: SRP LOGIN from %s to %s REJECTED, reason 0x%08x" % (t.sgid, pi6(t.orig_dgid), reason),
                )
            return -errno.ECONNRESET
        t.peer, t.peer_port, t.target_name, t.ini_name = fh, p, sess.tgt.name, ini_name
        t.sessions.append(sess)
        if self._param_bool("use_imm_data"):
            self._shost(t, "ib_srp: using immediate data")
        return 0

    def _disconnect(self, t: Login) -> None:
        """srp_disconnect_target(): DREQ on every channel (the target closes its sessions)."""
        if t.sessions and t.peer is not None and not t.peer.down and not self.fh.down:
            self.fabric.srpt_close(t.peer, t.target_name, t.sessions)
        t.sessions = []
        t.connected = False

    # ---- srp_add_target --------------------------------------------------
    def _add_target(self, t: Login) -> None:
        now = self.fabric.now()
        self.logins[t.host_no] = t
        t.reconnect_delay = self._param_int("reconnect_delay")
        t.fast_io_fail_tmo = self._param_int("fast_io_fail_tmo")
        t.dev_loss_tmo = self._param_int("dev_loss_tmo")
        self._shost(t, "SRP.T10:%016X" % t.id_ext)
        for info in self.fabric.lun_table(t.peer, t.target_name, t.sessions[0]):
            disk_like = info["type"] in (0, 14) and info.get("vendor") is not None
            d = Disk(t, info, self._alloc_sd() if disk_like else None)
            t.disks.append(d)
            if info.get("vendor") is not None:
                self.dmesg.append(
                    "scsi %s: %s %s %s %s PQ: 0 ANSI: 6"
                    % (
                        d.hctl,
                        SCSI_TYPES.get(d.type, "Unknown          "),
                        _pad(info["vendor"], 8),
                        _pad(info["model"], 16),
                        _pad(info["rev"], 4),
                    )  # fmt: skip
                )
            if d.name:
                d.backing = self._backing(t, info)
                d.links_due = now + self.udev_delay
                self._dev_link(d)
        if t.rdma_cm:
            self._shost(
                t,
                "ib_srp: new target: id_ext %016x ioc_guid %016x sgid %s dest %s"
                % (t.id_ext, t.ioc_guid, t.sgid, t.dest_text),
            )
        else:
            self._shost(
                t,
                "ib_srp: new target: id_ext %016x ioc_guid %016x pkey %04x service_id %016x sgid %s dgid %s"
                % (t.id_ext, t.ioc_guid, t.pkey, t.service_id, t.sgid, pi6(t.orig_dgid)),
            )
        for d in t.disks:
            if d.name:
                self.dmesg.append("sd %s: [%s] Attached SCSI disk" % (d.hctl, d.name))
        self._udev(now)

    @staticmethod
    def _backing(t: Login, info: dict) -> str:
        if info.get("nullio") or not info.get("filename"):
            return "/dev/zero"
        return str(resolve_in_root(t.peer.root, info["filename"]))

    # ------------------------------------------------------------------
    # /dev
    # ------------------------------------------------------------------
    def _dev_link(self, d: Disk) -> None:
        target = str(self.enxio) if d.login.state in (FAIL_FAST, LOST) else d.backing
        node = self.dev / d.name
        if os.path.islink(node) and os.readlink(node) == target:
            return
        tmp = self.dev / (".%s.srpemu" % d.name)
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, node)

    def _zfs_partitioned(self, d: Disk) -> bool:
        """The disk carries a partition table ZFS wrote (a whole-disk vdev, seen in the shared label
        registry of the zpool emulator): the kernel reads it when it discovers the disk."""
        labels = self.root.parent / ".zfsemu-labels.json"
        try:
            disks = json.loads(labels.read_text()).get("disks", {})
        except (OSError, ValueError):
            return False
        label = disks.get(os.path.realpath(d.backing)) or {}
        return bool(label.get("partitioned")) and label.get("state") in ("active", "exported")

    def _partition_links(self, d: Disk) -> None:
        node = self.dev / (d.name + "1")
        if not os.path.lexists(node):
            os.symlink(d.backing, node)
        for link in d.links:
            path = self.by_id / (link + "-part1")
            if not os.path.lexists(path):
                os.symlink("../../" + d.name + "1", path)

    def _udev(self, now: float) -> None:
        for t in self.logins.values():
            for d in t.disks:
                if d.name and not d.links_made and now >= d.links_due:
                    for link in d.links:
                        path = self.by_id / link
                        if os.path.lexists(path):
                            os.unlink(path)
                        os.symlink("../../" + d.name, path)
                    if self._zfs_partitioned(d):
                        self._partition_links(d)
                    d.links_made = True
                elif d.name and d.links_made:
                    # another path to the same LUN went away with the link: udev points it here
                    for link in d.links:
                        if not os.path.lexists(self.by_id / link):
                            os.symlink("../../" + d.name, self.by_id / link)

    def _remove_disk(self, d: Disk) -> None:
        if d.name is None:
            return
        for link in d.links:
            for path, name in ((self.by_id / link, d.name), (self.by_id / (link + "-part1"), d.name + "1")):
                try:
                    if os.readlink(path) == "../../" + name:
                        os.unlink(path)
                except OSError:
                    pass
        part = self.dev / (d.name + "1")
        if os.path.islink(part):
            os.unlink(part)
        node = self.dev / d.name
        if os.path.islink(node):
            os.unlink(node)
        self._sd_used.discard(d.index)

    # ------------------------------------------------------------------
    # remote port state machine (scsi_transport_srp.c)
    # ------------------------------------------------------------------
    def tick(self, now: float) -> None:
        for t in list(self.logins.values()):
            if t.removed:
                continue
            if t.connected and not self._alive(t):
                self._connection_lost(t, now)
            while not t.removed:
                due = [
                    (when, kind)
                    for when, kind in ((t.t_reconnect, "reconnect"), (t.t_fast, "fast"), (t.t_loss, "loss"))
                    if when is not None and when <= now
                ]
                if not due:
                    break
                when, kind = min(due)
                if kind == "reconnect":
                    t.t_reconnect = None
                    self._reconnect_work(t, when)
                elif kind == "fast":
                    t.t_fast = None
                    self._fast_io_fail_timedout(t)
                else:
                    t.t_loss = None
                    self._dev_loss_timedout(t)
        self._udev(now)

    def _alive(self, t: Login) -> bool:
        if self.fh.down or t.peer is None or t.peer.down or not t.peer_port.active or not t.port.active:
            return False
        return self.fabric.sessions_alive(t.peer, t.target_name, t.sessions)

    def _connection_lost(self, t: Login, now: float) -> None:
        if not self.fh.down and t.peer is not None and not t.peer.down:
            self._shost(t, "ib_srp: received DREQ")
        self._shost(t, "ib_srp: connection closed")
        t.connected = False
        self._start_tl_fail_timers(t, now)

    def _set_state(self, t: Login, new: str) -> bool:
        old = t.state
        if new == RUNNING and old == LOST:
            return False
        if new == BLOCKED and old != RUNNING:
            return False
        if new == FAIL_FAST and old == LOST:
            return False
        t.state = new
        return True

    def _start_tl_fail_timers(self, t: Login, now: float) -> None:
        if t.state == LOST:
            return
        if t.reconnect_delay > 0 and t.t_reconnect is None:
            t.t_reconnect = self.fabric.after(now, t.reconnect_delay)
        if (t.fast_io_fail_tmo >= 0 or t.dev_loss_tmo >= 0) and self._set_state(t, BLOCKED):
            if t.fast_io_fail_tmo >= 0 and t.t_fast is None:
                t.t_fast = self.fabric.after(now, t.fast_io_fail_tmo)
            if t.dev_loss_tmo >= 0 and t.t_loss is None:
                t.t_loss = self.fabric.after(now, t.dev_loss_tmo)

    def _fail_io_fast(self, t: Login) -> None:
        if self._set_state(t, FAIL_FAST):
            for d in t.disks:
                if d.name:
                    self._dev_link(d)

    def _fast_io_fail_timedout(self, t: Login) -> None:
        self._kmsg("fast_io_fail_tmo expired for SRP %s / host%d." % (t.rport, t.host_no))
        if t.state == BLOCKED:
            self._fail_io_fast(t)

    def _dev_loss_timedout(self, t: Login) -> None:
        self._kmsg("dev_loss_tmo expired for SRP %s / host%d." % (t.rport, t.host_no))
        t.state = LOST
        self._remove_target(t)

    def _reconnect_work(self, t: Login, when: float) -> None:
        res = self._reconnect_rport(t, when)
        if res:
            t.failed_reconnects += 1
            self._shost(t, "reconnect attempt %d failed (%d)" % (t.failed_reconnects, res))
            delay = t.reconnect_delay * min(100, max(1, t.failed_reconnects - 10))
            if delay > 0:
                t.t_reconnect = self.fabric.after(when, delay)

    def _reconnect_rport(self, t: Login, when: float) -> int:
        """srp_reconnect_rport() + ib_srp's srp_rport_reconnect()."""
        if t.state == LOST:
            return -errno.ENODEV
        self._disconnect(t)
        ret = 0
        for _ in range(t.ch_count):
            ret += self._new_cm_id(t)  # the kernel adds up the channels' errors
        for ch_idx in range(t.ch_count):
            if ret:
                break
            ret = self._connect_ch(t, multich=ch_idx > 0)
        if ret == 0:
            self._shost(t, "ib_srp: reconnect succeeded")
            t.connected = True
            t.t_fast = t.t_loss = None
            t.failed_reconnects = 0
            self._set_state(t, RUNNING)
            for d in t.disks:
                if d.name:
                    self._dev_link(d)
            return 0
        self._disconnect(t)
        if t.state == RUNNING:
            # reconnect with fast_io_fail and dev_loss off: mark failed, start the timers
            self._fail_io_fast(t)
            self._start_tl_fail_timers(t, when)
        return ret

    def _remove_target(self, t: Login) -> None:
        """srp_remove_target(): SCSI devices, remote port and SCSI host go."""
        if t.removed:
            return
        t.removed = True
        t.state = LOST
        t.t_reconnect = t.t_fast = t.t_loss = None
        self._disconnect(t)
        for d in t.disks:
            self._remove_disk(d)
        self.logins.pop(t.host_no, None)

    def remove_all(self) -> None:
        """rmmod ib_srp: every login goes."""
        with self.lock:
            for t in list(self.logins.values()):
                self._remove_target(t)

    # ------------------------------------------------------------------
    # public helpers for tests
    # ------------------------------------------------------------------
    def login_for(self, rport: str) -> Login | None:
        for t in self.logins.values():
            if t.rport == rport:
                return t
        return None

    # ------------------------------------------------------------------
    # sysfs: stores
    # ------------------------------------------------------------------
    def _add_target_store(self, port: FabricPort):
        def store(buf: str) -> None:
            self.add_target(port, buf)

        return store

    def _tmo_store(self, t: Login, which: str):
        def store(buf: str) -> None:
            value = parse_tmo(buf)
            delay, fast, loss = t.reconnect_delay, t.fast_io_fail_tmo, t.dev_loss_tmo
            if which == "reconnect_delay":
                delay = value
            elif which == "fast_io_fail_tmo":
                fast = value
            else:
                loss = value
            if not tmo_valid(delay, fast, loss):
                raise _err(errno.EINVAL)
            if which == "reconnect_delay":
                if t.reconnect_delay <= 0 < value and t.state != RUNNING:
                    t.t_reconnect = self.fabric.after(self.fabric.now(), value)
                elif value <= 0:
                    t.t_reconnect = None
            setattr(t, which, value)

        return store

    def _delete_store(self, t: Login):
        def store(buf: str) -> None:
            self._remove_target(t)

        return store

    # ------------------------------------------------------------------
    # sysfs: trees (relative links as the kernel makes them)
    # ------------------------------------------------------------------
    def _login_devpath(self, t: Login) -> str:
        return "platform/host%d" % t.host_no

    def _hostpath(self, host_no: int) -> str:
        if host_no in self.local_hosts:
            return self.local_hosts[host_no].devpath
        return "platform/host%d" % host_no

    def _class_children(self) -> dict:
        c = OrderedDict()
        c["infiniband"] = Dir(lambda: {p.hca: Link("../../devices/virtual/infiniband/" + p.hca) for p in self.fh.ports})
        if self.umad:
            c["infiniband_mad"] = Dir(self._class_umad)
        if self.loaded:
            c["infiniband_srp"] = Dir(
                lambda: {
                    "srp-%s-%d" % (p.hca, p.port): Link(
                        "../../devices/virtual/infiniband_srp/srp-%s-%d" % (p.hca, p.port)
                    )
                    for p in self.fh.ports
                }
            )
            c["srp_host"] = Dir(
                lambda: {
                    "host%d" % n: Link("../../devices/platform/host%d/srp_host/host%d" % (n, n)) for n in self.logins
                }
            )
            c["srp_remote_ports"] = Dir(
                lambda: {
                    t.rport: Link("../../devices/platform/host%d/%s/srp_remote_ports/%s" % (n, t.rport, t.rport))
                    for n, t in self.logins.items()
                }
            )
        c["scsi_host"] = Dir(
            lambda: {
                "host%d" % n: Link("../../devices/%s/scsi_host/host%d" % (self._hostpath(n), n))
                for n in sorted(set(self.local_hosts) | set(self.logins))
            }
        )
        c["scsi_device"] = Dir(lambda: self._class_scsi("scsi_device"))
        c["scsi_disk"] = Dir(lambda: self._class_scsi("scsi_disk", disks_only=True))
        c["block"] = Dir(lambda: self._block_links("../../devices/"))
        return c

    def _class_umad(self) -> dict:
        c = {"abi_version": Attr(0o444, lambda: "5\n")}
        for i, _ in enumerate(self.fh.ports):
            for kind in ("umad", "issm"):
                c["%s%d" % (kind, i)] = Link("../../devices/virtual/infiniband_mad/%s%d" % (kind, i))
        return c

    def _scsi_devices(self) -> list:
        """[(hctl, devpath of the device, type, block name)]"""
        out = []
        for h in self.local_hosts.values():
            for hctl, dtype, name in h.devices:
                tgt = "target%s" % hctl.rsplit(":", 1)[0]
                out.append((hctl, "%s/%s/%s" % (h.devpath, tgt, hctl), dtype, name))
        for t in self.logins.values():
            for d in t.disks:
                out.append((d.hctl, "platform/host%d/target%d:0:0/%s" % (t.host_no, t.host_no, d.hctl), d.type, d.name))
        return out

    def _class_scsi(self, cls: str, disks_only: bool = False) -> dict:
        return {
            hctl: Link("../../devices/%s/%s/%s" % (path, cls, hctl))
            for hctl, path, dtype, name in self._scsi_devices()
            if not disks_only or (dtype in (0, 14) and name)
        }

    def _block_links(self, prefix: str) -> dict:
        scsi = self._scsi_devices()
        links = {name: Link("%s%s/block/%s" % (prefix, path, name)) for _, path, _, name in scsi if name}
        for name in self._other_block_devices(set(links)):
            links[name] = Link("%svirtual/block/%s" % (prefix, name))
        return links

    def _other_block_devices(self, scsi: set) -> list:
        """The host's block devices that are no SCSI disk of ours (its local
        LUN, zvols): regular files directly under ROOT/dev (host.py's rule).
        Listed under /sys/devices/virtual/block, as loop and zd devices are."""
        try:
            entries = list(os.scandir(self.dev))
        except FileNotFoundError:
            return []
        return sorted(e.name for e in entries if e.is_file(follow_symlinks=False) and e.name not in scsi)

    def _virtual_block_fn(self, name: str):
        def size() -> str:
            try:
                return "%d\n" % (os.stat(self.dev / name).st_size // 512)
            except FileNotFoundError:
                return "0\n"

        return lambda: {
            "size": Attr(0o444, size),
            "ro": Attr(0o444, lambda: "0\n"),
            "uevent": Attr(0o644, lambda: "DEVNAME=%s\nDEVTYPE=disk\n" % name, lambda buf: None),
        }

    def _block_children(self) -> dict:
        return self._block_links("../devices/")

    def _devices_children(self) -> dict:
        c = OrderedDict()
        virtual = OrderedDict()
        virtual["infiniband"] = Dir(lambda: {p.hca: Dir(self._ib_device_fn(p.hca)) for p in self.fh.ports})
        if self.umad:
            virtual["infiniband_mad"] = Dir(self._umad_devices)
        if self.loaded:
            virtual["infiniband_srp"] = Dir(
                lambda: {"srp-%s-%d" % (p.hca, p.port): Dir(self._srp_port_fn(p)) for p in self.fh.ports}
            )
        virtual["block"] = Dir(
            lambda: {
                name: Dir(self._virtual_block_fn(name))
                for name in self._other_block_devices({name for *_, name in self._scsi_devices() if name})
            }
        )
        c["virtual"] = Dir(virtual)
        c["platform"] = Dir(lambda: {"host%d" % n: Dir(self._login_host_fn(t)) for n, t in self.logins.items()})
        tree: dict = {}
        for h in self.local_hosts.values():
            parts = h.devpath.split("/")
            node = tree
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = h
        for top, sub in tree.items():
            c[top] = self._local_tree(sub)
        return c

    def _local_tree(self, sub) -> Dir:
        if isinstance(sub, LocalHost):
            return Dir(self._local_host_fn(sub))
        return Dir(lambda: {k: self._local_tree(v) for k, v in sub.items()})

    # ---- infiniband ------------------------------------------------------
    def _ib_device_fn(self, hca: str):
        def children():
            ports = [p for p in self.fh.ports if p.hca == hca]
            first = ports[0]
            return {
                "node_guid": Attr(0o444, lambda: first.node_guid + "\n"),
                "node_type": Attr(0o444, lambda: "1: CA\n"),
                "node_desc": Attr(0o644, lambda: "%s %s\n" % (self.name, hca), lambda buf: None),
                "sys_image_guid": Attr(0o444, lambda: first.node_guid + "\n"),
                "ports": Dir(lambda: {str(p.port): Dir(self._ib_port_fn(p)) for p in ports}),
                "uevent": Attr(0o644, lambda: "NAME=%s\n" % hca, lambda buf: None),
            }

        return children

    def _ib_port_fn(self, p: FabricPort):
        def children():
            ib = p.link_layer == "InfiniBand"
            idx = self.fh.ports.index(p)
            gids = {"0": Attr(0o444, lambda: p.gid + "\n")}
            if not ib and p.ip:
                mapped = b"\0" * 10 + b"\xff\xff" + ipaddress.IPv4Address(p.ip).packed
                gids["1"] = Attr(0o444, lambda: pi6(mapped) + "\n")
            return {
                "gids": Dir(gids),
                "link_layer": Attr(0o444, lambda: p.link_layer + "\n"),
                "state": Attr(0o444, lambda: p.cfg.get("state", "4: ACTIVE") + "\n"),
                "phys_state": Attr(0o444, lambda: "5: LinkUp\n" if p.active else "3: Disabled\n"),
                "lid": Attr(0o444, lambda: "0x%x\n" % (idx + 1 if ib else 0)),
                "sm_lid": Attr(0o444, lambda: "0x%x\n" % (1 if ib and self.fabric.sm_running else 0)),
                "lid_mask_count": Attr(0o444, lambda: "0\n"),
                "rate": Attr(0o444, lambda: "100 Gb/sec (4X EDR)\n" if ib else "10 Gb/sec (1X QDR)\n"),
                "pkeys": Dir({"0": Attr(0o444, lambda: "0xffff\n")}),
            }

        return children

    def _umad_devices(self) -> dict:
        c = {}
        for i, p in enumerate(self.fh.ports):
            for kind, minor in (("umad", i), ("issm", 64 + i)):
                c["%s%d" % (kind, i)] = Dir(
                    {
                        "ibdev": Attr(0o444, (lambda p=p: p.hca + "\n")),
                        "port": Attr(0o444, (lambda p=p: "%d\n" % p.port)),
                        "dev": Attr(0o444, (lambda minor=minor: "231:%d\n" % minor)),
                        "uevent": Attr(0o644, (lambda: ""), lambda buf: None),
                    }
                )
        return c

    def _srp_port_fn(self, p: FabricPort):
        def children():
            return {
                "add_target": Attr(0o200, None, self._add_target_store(p)),
                "ibdev": Attr(0o444, lambda: p.hca + "\n"),
                "port": Attr(0o444, lambda: "%d\n" % p.port),
                "uevent": Attr(0o644, lambda: "", lambda buf: None),
                "subsystem": Link("../../../../class/infiniband_srp"),
            }

        return children

    # ---- SCSI hosts ------------------------------------------------------
    def _scsi_host_common(self, host_no: int, proc_name: str, t: Login | None) -> dict:
        can_queue = t.can_queue if t else 1
        c = {
            "proc_name": Attr(0o444, lambda: proc_name + "\n"),
            "unique_id": Attr(0o444, lambda: "%d\n" % (0 if t else host_no + 1)),
            "host_busy": Attr(0o444, lambda: "0\n"),
            "cmd_per_lun": Attr(0o444, lambda: "%d\n" % (t.cmd_per_lun if t else 0)),
            "can_queue": Attr(0o644 if t is None else 0o444, lambda: "%d\n" % can_queue, lambda buf: None),
            "sg_tablesize": Attr(0o444, lambda: "%d\n" % (t.sg_tablesize if t else 128)),
            "nr_hw_queues": Attr(0o444, lambda: "%d\n" % (t.ch_count if t else 1)),
            "state": Attr(0o644, lambda: "running\n", lambda buf: None),
            "scan": Attr(0o200, None, lambda buf: None),
            "host_reset": Attr(0o200, None, lambda buf: None),
            "eh_deadline": Attr(0o644, lambda: "off\n", lambda buf: None),
            "uevent": Attr(0o644, lambda: "", lambda buf: None),
            "device": Link("../../../host%d" % host_no),
            "subsystem": Link("../../../../../class/scsi_host" if t else "../../../../../../../class/scsi_host"),
        }
        return c

    def _srp_host_attrs(self, t: Login) -> dict:
        def ib_only(fn):
            def show():
                if t.rdma_cm:
                    raise _err(errno.ENOENT)
                return fn()

            return show

        return {
            "id_ext": Attr(0o444, lambda: "0x%016x\n" % t.id_ext),
            "ioc_guid": Attr(0o444, lambda: "0x%016x\n" % t.ioc_guid),
            "service_id": Attr(0o444, ib_only(lambda: "0x%016x\n" % t.service_id)),
            "pkey": Attr(0o444, ib_only(lambda: "0x%04x\n" % t.pkey)),
            "sgid": Attr(0o444, lambda: t.sgid + "\n"),
            "dgid": Attr(0o444, ib_only(lambda: pi6(t.orig_dgid) + "\n")),
            "orig_dgid": Attr(0o444, ib_only(lambda: pi6(t.orig_dgid) + "\n")),
            "req_lim": Attr(0o444, lambda: "%d\n" % SRPT_RQ_SIZE),
            "zero_req_lim": Attr(0o444, lambda: "0\n"),
            "local_ib_port": Attr(0o444, lambda: "%d\n" % t.port.port),
            "local_ib_device": Attr(0o444, lambda: t.port.hca + "\n"),
            "ch_count": Attr(0o444, lambda: "%d\n" % t.ch_count),
            "comp_vector": Attr(0o444, lambda: "%d\n" % t.comp_vector),
            "tl_retry_count": Attr(0o444, lambda: "%d\n" % t.tl_retry_count),
            "cmd_sg_entries": Attr(0o444, lambda: "%u\n" % t.cmd_sg_cnt),
            "allow_ext_sg": Attr(0o444, lambda: "true\n" if t.allow_ext_sg else "false\n"),
        }

    def _login_host_fn(self, t: Login):
        def children():
            n = t.host_no
            shost = self._scsi_host_common(n, "ib_srp", t)
            shost.update(self._srp_host_attrs(t))
            c = OrderedDict()
            c["uevent"] = Attr(0o644, lambda: "DEVTYPE=scsi_host\n", lambda buf: None)
            c["scsi_host"] = Dir({"host%d" % n: Dir(shost)})
            c["srp_host"] = Dir(
                {
                    "host%d" % n: Dir(
                        {
                            "uevent": Attr(0o644, lambda: "", lambda buf: None),
                            "device": Link("../../../host%d" % n),
                            "subsystem": Link("../../../../../class/srp_host"),
                        }
                    )
                }
            )
            c[t.rport] = Dir(
                {
                    "uevent": Attr(0o644, lambda: "", lambda buf: None),
                    "srp_remote_ports": Dir({t.rport: Dir(self._rport_attrs(t))}),
                }
            )
            c["target%d:0:0" % n] = Dir(self._target_fn(t))
            return c

        return children

    def _rport_attrs(self, t: Login) -> dict:
        return {
            "port_id": Attr(
                0o444,
                lambda: (
                    ":".join("%02x" % b for b in t.id_ext.to_bytes(8, "big") + t.ioc_guid.to_bytes(8, "big")) + "\n"
                ),
            ),
            "roles": Attr(0o444, lambda: "SRP Target\n"),
            "state": Attr(0o444, lambda: t.state + "\n"),
            "fast_io_fail_tmo": Attr(
                0o644, lambda: show_tmo(t.fast_io_fail_tmo), self._tmo_store(t, "fast_io_fail_tmo")
            ),
            "dev_loss_tmo": Attr(0o644, lambda: show_tmo(t.dev_loss_tmo), self._tmo_store(t, "dev_loss_tmo")),
            "reconnect_delay": Attr(0o644, lambda: show_tmo(t.reconnect_delay), self._tmo_store(t, "reconnect_delay")),
            "failed_reconnects": Attr(0o444, lambda: "%d\n" % t.failed_reconnects),
            "delete": Attr(0o200, None, self._delete_store(t)),
            "uevent": Attr(0o644, lambda: "", lambda buf: None),
            "device": Link("../../../%s" % t.rport),
            "subsystem": Link("../../../../../../class/srp_remote_ports"),
        }

    def _target_fn(self, t: Login):
        def children():
            c = {"uevent": Attr(0o644, lambda: "DEVTYPE=scsi_target\n", lambda buf: None)}
            for d in t.disks:
                c[d.hctl] = Dir(self._sdev_fn(d))
            return c

        return children

    def _sdev_fn(self, d: Disk):
        def children():
            info = d.info
            t = d.login
            vendor = info.get("vendor")
            c = OrderedDict()
            c["type"] = Attr(0o444, lambda: "%d\n" % d.type)
            c["state"] = Attr(0o644, lambda: t.sdev_state + "\n", lambda buf: None)
            c["scsi_level"] = Attr(0o444, lambda: "7\n")
            c["queue_depth"] = Attr(0o644, lambda: "%d\n" % t.cmd_per_lun, lambda buf: None)
            c["device_blocked"] = Attr(0o444, lambda: "0\n")
            c["timeout"] = Attr(0o644, lambda: "30\n", lambda buf: None)
            c["delete"] = Attr(0o200, None, lambda buf: None)
            c["rescan"] = Attr(0o200, None, lambda buf: None)
            c["uevent"] = Attr(0o644, lambda: "DEVTYPE=scsi_device\n", lambda buf: None)
            c["scsi_device"] = Dir({d.hctl: Dir({"device": Link("../../../%s" % d.hctl)})})
            if vendor is not None:
                c["vendor"] = Attr(0o444, lambda: _pad(vendor, 8) + "\n")
                c["model"] = Attr(0o444, lambda: _pad(info["model"], 16) + "\n")
                c["rev"] = Attr(0o444, lambda: _pad(info["rev"], 4) + "\n")
                c["wwid"] = Attr(0o444, lambda: d.wwid + "\n")
            if d.name:
                c["scsi_disk"] = Dir({d.hctl: Dir({"device": Link("../../../%s" % d.hctl)})})
                c["block"] = Dir({d.name: Dir(self._block_fn(d))})
            return c

        return children

    def _block_fn(self, d: Disk):
        def children():
            info = d.info
            lbs = info["block_size"]
            queue = {
                "logical_block_size": Attr(0o444, lambda: "%d\n" % lbs),
                "physical_block_size": Attr(0o444, lambda: "%d\n" % lbs),
                "hw_sector_size": Attr(0o444, lambda: "%d\n" % lbs),
                "minimum_io_size": Attr(0o444, lambda: "%d\n" % lbs),
                "optimal_io_size": Attr(0o444, lambda: "0\n"),
                "rotational": Attr(0o644, lambda: "%d\n" % info["rotational"], lambda buf: None),
                "max_sectors_kb": Attr(0o644, lambda: "%d\n" % (d.login.max_sectors // 2), lambda buf: None),
            }
            return {
                "dev": Attr(0o444, lambda: d.devt + "\n"),
                "size": Attr(0o444, lambda: "%d\n" % info["sectors"]),
                "ro": Attr(0o444, lambda: "%d\n" % int(info["ro"])),
                "removable": Attr(0o444, lambda: "0\n"),
                "uevent": Attr(
                    0o644,
                    lambda: "MAJOR=%s\nMINOR=%s\nDEVNAME=%s\nDEVTYPE=disk\n" % (*d.devt.split(":"), d.name),
                    lambda buf: None,
                ),
                "queue": Dir(queue),
                "device": Link("../../../%s" % d.hctl),
                "subsystem": Link("../../../../../../../class/block"),
            }

        return children

    def _local_host_fn(self, h: LocalHost):
        def children():
            n = h.host_no
            c = OrderedDict()
            c["uevent"] = Attr(0o644, lambda: "DEVTYPE=scsi_host\n", lambda buf: None)
            c["scsi_host"] = Dir({"host%d" % n: Dir(self._scsi_host_common(n, "ata_piix", None))})
            targets: dict = {}
            for hctl, dtype, name in h.devices:
                targets.setdefault("target%s" % hctl.rsplit(":", 1)[0], {})[hctl] = Dir(
                    self._local_sdev(hctl, dtype, name)
                )
            for tname, devs in targets.items():
                c[tname] = Dir(devs)
            return c

        return children

    @staticmethod
    def _local_sdev(hctl: str, dtype: int, name: str) -> dict:
        return {
            "type": Attr(0o444, lambda: "%d\n" % dtype),
            "vendor": Attr(0o444, lambda: "QEMU    \n"),
            "model": Attr(0o444, lambda: "QEMU DVD-ROM    \n"),
            "rev": Attr(0o444, lambda: "2.5+\n"),
            "state": Attr(0o644, lambda: "running\n", lambda buf: None),
            "block": Dir({name: Dir({"dev": Attr(0o444, lambda: "11:0\n"), "size": Attr(0o444, lambda: "2097151\n")})}),
        }

    # ------------------------------------------------------------------
    # FS interface (one per mounted subtree), like ScstKernel's
    # ------------------------------------------------------------------
    def view(self, top: str) -> SysfsView:
        return SysfsView(self, top)


class _StopParse(Exception):
    pass


def resolve_in_root(root: Path, path: str, hops: int = 40) -> Path:
    """Where ``path`` of a host whose ``/`` is ``root`` lands, following symlinks inside the root."""
    root = Path(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    cur = root
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = cur.parent if cur != root else root
            continue
        nxt = cur / part
        if os.path.islink(nxt):
            hops -= 1
            if hops < 0:
                raise _err(errno.ELOOP, path)
            target = os.readlink(nxt)
            if target.startswith("/"):
                if not str(Path(target)).startswith(str(root)):
                    cur = root
                    parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                    continue
                cur = Path("/")
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        cur = nxt
    return cur


class SysfsView:
    """One mounted subtree (``class``, ``devices`` or ``block``) with the methods
    scstfs.ScstFS calls: lookup, listdir, readlink, check_open, read, write."""

    def __init__(self, kernel: SrpKernel, top: str):
        self.kernel = kernel
        self.top = top

    def _walk(self, path: str):
        node = self.kernel._trees[self.top]
        for part in [p for p in path.split("/") if p]:
            if node.kind != "dir":
                raise _err(errno.ENOTDIR, path)
            child = node.children().get(part)
            if child is None:
                raise _err(errno.ENOENT, path)
            node = child
        return node

    def _enter(self):
        self.kernel.fabric.tick()

    def lookup(self, path: str):
        with self.kernel.lock:
            self._enter()
            return self._walk(path)

    def exists(self, path: str) -> bool:
        try:
            self.lookup(path)
            return True
        except OSError:
            return False

    def listdir(self, path: str = "") -> list:
        with self.kernel.lock:
            self._enter()
            node = self._walk(path)
            if node.kind != "dir":
                raise _err(errno.ENOTDIR, path)
            return list(node.children())

    def readlink(self, path: str) -> str:
        node = self.lookup(path)
        if node.kind != "link":
            raise _err(errno.EINVAL, path)
        return node.target

    def check_open(self, path: str, read: bool = False, write: bool = False, create: bool = False):
        with self.kernel.lock:
            self._enter()
            try:
                node = self._walk(path)
            except OSError as e:
                if e.errno != errno.ENOENT or not create:
                    raise
                parent = path.strip("/").rsplit("/", 1)[0] if "/" in path.strip("/") else ""
                try:
                    pnode = self._walk(parent)
                except OSError:
                    raise e from None
                if pnode.kind == "dir":
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
        with self.kernel.lock:
            node = self.check_open(path, read=True)
            if node.kind == "dir":
                raise _err(errno.EISDIR, path)
            return node.show().encode("latin-1")

    def write(self, path: str, data, create: bool = False) -> int:
        if isinstance(data, str):
            data = data.encode()
        with self.kernel.lock:
            node = self.check_open(path, write=True, create=create)
            if len(data) > PAGE_SIZE:
                raise _err(errno.E2BIG)
            if data:
                node.store(data.decode("latin-1"))
            return len(data)
