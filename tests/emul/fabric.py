"""
One emulated InfiniBand / RoCE segment shared by emulated hosts: the SCST target
side (each host's ``ScstKernel`` with SCST's ``ib_srpt``) and the ib_srp
initiator side (each host's ``SrpKernel``, tests/emul/srpkernel.py).

A ``Fabric`` knows, for every host, its root directory, its RDMA ports (GID,
node GUID, link layer, IPv4 address used by RDMA/CM) and its ``ScstKernel``.
An initiator's login resolves the target port by ``dgid`` (IB/CM) or by
``dest=<ip>:<port>`` (RDMA/CM) and then runs what SCST's ``srpt_cm_req_recv()``
does (srpt/src/ib_srpt.c at the captured commit aa5cc2dd):

* ``it_iu_len`` outside 64..srp_max_req_size: SRP_LOGIN_REJ 0x10002;
* target port not enabled: SRP_LOGIN_REJ 0x10001 ("has not yet been enabled");
* ``t_port_id`` (id_ext + ioc_guid) not the service GUID twice: 0x10003;
* otherwise one SCST session per RDMA channel (``ScstKernel.sessions_login``),
  named by the initiator's IPv4 address (RDMA/CM) or by its port GID in ``%pI6``
  form (IB/CM); a single-channel login first closes the channels the same
  initiator port already had to that target port ("Relogin").

SCST's ib_srpt does NOT reject an initiator that no group gives LUNs to: it
gets the target's own (default) LUN set, possibly empty, and the login
succeeds without disks. ``Fabric(reject_no_luns=True)`` makes the target
refuse such logins instead (SRP_LOGIN_REJ 0x10006, what LIO does for an
initiator without ACL), for tests that want that behaviour.

Time: a daemon thread ticks every ``tick_interval`` seconds (and every access to
an emulated sysfs ticks too), so path loss and the remote-port timers follow
wall time; ``time_scale`` shrinks the kernel's seconds (0.1: a 5 s
fast_io_fail_tmo fires after 0.5 s).

``srp_daemon``: ``write_srp_daemon(root)`` installs a fake ``srp_daemon``
(tests/emul/fabric.py's ``SRP_DAEMON``) that reads ``state.json`` (rewritten
by the fabric on every topology change) and the targets' live SCST sysfs.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

SRP_LOGIN_REJ_INSUFFICIENT_RESOURCES = 0x00010001
SRP_LOGIN_REJ_REQ_IT_IU_LENGTH_TOO_LARGE = 0x00010002
SRP_LOGIN_REJ_UNABLE_ASSOCIATE_CHANNEL = 0x00010003
SRP_LOGIN_REJ_CHANNEL_LIMIT_REACHED = 0x00010006
IB_CM_REJ_INVALID_SERVICE_ID = 8

# SCST ib_srpt.h: DEFAULT_MAX_REQ_SIZE = max(48+16+20+128*16, 80+4+8192)
SRPT_DEFAULT_MAX_REQ_SIZE = 8276
SRPT_RQ_SIZE = 64  # ch->rq_size = min(MAX_SRPT_RQ_SIZE, scst_get_max_lun_commands()) -> req_lim


def gid_bytes(gid: str) -> bytes:
    """A GID in sysfs form (``fe80:0000:...``) or as 32 hex digits -> 16 bytes."""
    text = gid.strip().lower()
    if ":" in text:
        return ipaddress.IPv6Address(text).packed
    return bytes.fromhex(text)


def pi6(raw: bytes) -> str:
    """The kernel's ``%pI6``: eight 4-digit hex groups, no zero compression."""
    return ":".join(raw[i : i + 2].hex() for i in range(0, 16, 2))


def read_param(root, module: str, name: str):
    """A module parameter of an emulated host (``ROOT/sys/module/M/parameters/N``), or None."""
    try:
        return (Path(root) / "sys" / "module" / module / "parameters" / name).read_text().strip()
    except OSError:
        return None


class FabricPort:
    """One RDMA port of a host. GID, GUID and link layer are read live from the
    host's port dict (``HostConfig.ports`` entry), so a test can change them."""

    def __init__(self, host: str, cfg: dict, ip: str | None = None):
        self.host = host
        self.cfg = cfg
        self.ip = ip if ip is not None else cfg.get("ip")

    hca = property(lambda self: self.cfg["hca"])
    port = property(lambda self: int(self.cfg.get("port", 1)))
    gid = property(lambda self: self.cfg["gid"])
    node_guid = property(lambda self: self.cfg["node_guid"])
    link_layer = property(lambda self: self.cfg.get("link_layer", "InfiniBand"))

    @property
    def gid_raw(self) -> bytes:
        return gid_bytes(self.gid)

    @property
    def active(self) -> bool:
        return "ACTIVE" in self.cfg.get("state", "4: ACTIVE")

    def to_dict(self) -> dict:
        return {
            "hca": self.hca,
            "port": self.port,
            "gid": self.gid,
            "node_guid": self.node_guid,
            "link_layer": self.link_layer,
            "ip": self.ip,
        }


class FabricHost:
    def __init__(self, name: str, root, scst=None, ports=None):
        self.name = name
        self.root = Path(root)
        self.scst = scst  # ScstKernel or None
        self.ports: list = ports or []
        self.srp = None  # SrpKernel once attached
        self.down = False

    @property
    def srpt_loaded(self) -> bool:
        return self.scst is not None and (self.root / "sys" / "module" / "ib_srpt").is_dir()

    def target_for(self, port: FabricPort):
        """The ib_srpt target (SCST ``Target``) serving that port, or None."""
        if self.scst is None:
            return None
        for tgt in self.scst.drivers.get("ib_srpt", {}).values():
            p = tgt.port or {}
            if p is port.cfg or (p.get("hca") == port.hca and p.get("gid") == port.gid):
                return tgt
        # scheme 'old': one target per HCA
        for tgt in self.scst.drivers.get("ib_srpt", {}).values():
            if (tgt.port or {}).get("hca") == port.hca:
                return tgt
        return None


class Fabric:
    def __init__(
        self,
        state_dir=None,
        *,
        rdma_cm_port: int = 5555,
        sm_running: bool = True,
        time_scale: float = 1.0,
        tick_interval: float = 0.05,
        reject_no_luns: bool = False,
        daemon_lists_disabled: bool = False,
    ):
        """
        ``rdma_cm_port``: the RDMA/CM port SCST's ib_srpt listens on when the host
        has no ``/sys/module/ib_srpt/parameters/rdma_cm_port`` file (the real
        module default is 0, no RDMA/CM listener; 0 or None here too).
        ``sm_running``: an InfiniBand subnet manager runs (IB/CM path queries and
        srp_daemon work). ``daemon_lists_disabled``: srp_daemon also lists target
        ports whose SCST target is disabled (what real SCST does: its device
        management agent answers whether or not the target is enabled).
        """
        self.lock = threading.RLock()
        self.hosts: dict = {}
        self.rdma_cm_port = rdma_cm_port
        self.sm_running = sm_running
        self.time_scale = float(time_scale)
        self.tick_interval = tick_interval
        self.reject_no_luns = reject_no_luns
        self.daemon_lists_disabled = daemon_lists_disabled
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="srpfabric-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file = self.state_dir / "state.json"
        # (target host, target name, i_port_id, t_port_id) -> [session names]
        self.nexus: dict = {}
        self._thread = None
        self._stop = threading.Event()
        self.write_state()

    # ------------------------------------------------------------------
    # registry
    # ------------------------------------------------------------------
    def add_host(self, name: str, root, scst=None, port_cfgs=None, ips=None) -> FabricHost:
        """Register a host. ``port_cfgs``: its ``HostConfig.ports`` dicts; ``ips``:
        the IPv4 address of each port (list, same order), else the dicts' ``ip``."""
        with self.lock:
            ports = []
            for i, cfg in enumerate(port_cfgs or []):
                ip = ips[i] if ips and i < len(ips) else None
                ports.append(FabricPort(name, cfg, ip))
            fh = FabricHost(name, root, scst, ports)
            self.hosts[name] = fh
            self.write_state()
            return fh

    def remove_host(self, name: str) -> None:
        with self.lock:
            self.hosts.pop(name, None)
            self.write_state()

    def set_down(self, name: str) -> None:
        """The host drops off the fabric: every path to or from it is lost."""
        with self.lock:
            self.tick()
            self.hosts[name].down = True
            self.write_state()
            self.tick()

    def set_up(self, name: str) -> None:
        with self.lock:
            self.tick()
            self.hosts[name].down = False
            self.write_state()
            self.tick()

    def set_sm(self, running: bool) -> None:
        with self.lock:
            self.sm_running = running
            self.write_state()

    def write_state(self) -> None:
        """The topology for the fake srp_daemon (a separate process)."""
        state = {
            "sm_running": self.sm_running,
            "daemon_lists_disabled": self.daemon_lists_disabled,
            "hosts": {
                name: {
                    "root": str(fh.root),
                    "down": fh.down,
                    "ports": [p.to_dict() for p in fh.ports],
                }
                for name, fh in self.hosts.items()
            },
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.state_file)

    # ------------------------------------------------------------------
    # lookup
    # ------------------------------------------------------------------
    def port_by_gid(self, raw: bytes):
        for fh in self.hosts.values():
            for p in fh.ports:
                if p.gid_raw == raw:
                    return fh, p
        return None, None

    def port_by_ip(self, ip: str):
        for fh in self.hosts.values():
            for p in fh.ports:
                if p.ip and ipaddress.ip_address(p.ip) == ipaddress.ip_address(ip):
                    return fh, p
        return None, None

    def rdma_cm_listen_port(self, fh: FabricHost) -> int:
        value = read_param(fh.root, "ib_srpt", "rdma_cm_port")
        if value is not None:
            try:
                return int(value, 0)
            except ValueError:
                return 0
        return int(self.rdma_cm_port or 0)

    # ------------------------------------------------------------------
    # time
    # ------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic()

    def after(self, now: float, seconds: int) -> float:
        return now + seconds * self.time_scale

    def tick(self) -> None:
        with self.lock:
            now = self.now()
            for fh in list(self.hosts.values()):
                if fh.srp is not None:
                    fh.srp.tick(now)

    def start(self) -> None:
        with self.lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="srpfabric", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(5)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.tick_interval):
            try:
                self.tick()
            except Exception:  # keep ticking; the next access shows the problem
                import traceback

                traceback.print_exc()

    # ------------------------------------------------------------------
    # target side: SCST ib_srpt's srpt_cm_req_recv()
    # ------------------------------------------------------------------
    def srpt_login(self, fh: FabricHost, port: FabricPort, *, ini_name: str, i_port_id: bytes, t_port_id: bytes,
                   it_iu_len: int, pkey: int, multichannel: bool):  # fmt: skip
        """
        One SRP_LOGIN_REQ (one RDMA channel) arriving at ``port`` of ``fh``.
        Returns ``(0, session)`` or ``(reason, None)`` with the SRP_LOGIN_REJ reason.
        """
        kernel = fh.scst
        tgt = fh.target_for(port)
        with kernel._lock:
            kernel.dmesg.append(
                "ib_srpt: Received SRP_LOGIN_REQ with i_port_id %s, t_port_id %s and it_iu_len %d on port %d "
                "(guid=%s); pkey %#04x" % (pi6(i_port_id), pi6(t_port_id), it_iu_len, port.port, port.gid, pkey)
            )
            reason = 0
            max_req = read_param(fh.root, "ib_srpt", "srp_max_req_size")
            max_req = int(max_req, 0) if max_req and max_req.isdigit() else SRPT_DEFAULT_MAX_REQ_SIZE
            guid = kernel.srpt_service_guid.to_bytes(8, "big")
            if it_iu_len > max_req or it_iu_len < 64:
                reason = SRP_LOGIN_REJ_REQ_IT_IU_LENGTH_TOO_LARGE
                kernel.dmesg.append(
                    "ib_srpt: rejected SRP_LOGIN_REQ because its length (%d bytes) is out of range (%d .. %d)"
                    % (it_iu_len, 64, max_req)
                )
            elif tgt is None or not tgt.enabled:
                reason = SRP_LOGIN_REJ_INSUFFICIENT_RESOURCES
                kernel.dmesg.append(
                    "ib_srpt: rejected SRP_LOGIN_REQ because target port %s has not yet been enabled"
                    % (tgt.name if tgt else port.gid)
                )
            elif t_port_id != guid + guid:
                reason = SRP_LOGIN_REJ_UNABLE_ASSOCIATE_CHANNEL
                kernel.dmesg.append("ib_srpt: rejected SRP_LOGIN_REQ because it has an invalid target port identifier.")
            elif self.reject_no_luns and not kernel.luns_for(tgt.name, ini_name):
                reason = SRP_LOGIN_REJ_CHANNEL_LIMIT_REACHED
                kernel.dmesg.append("ib_srpt: Rejected login because no ACL has been configured yet for %s" % ini_name)
            if reason:
                kernel.dmesg.append("ib_srpt: Rejecting login with reason %#x" % reason)
                return reason, None
            key = (fh.name, tgt.name, bytes(i_port_id), bytes(t_port_id))
            if not multichannel:
                # SRP_MULTICHAN_SINGLE: the new channel replaces the nexus' channels
                for old in self.nexus.pop(key, []):
                    sess = tgt.sessions.get(old)
                    if sess is not None:
                        kernel.dmesg.append("ib_srpt: Relogin - closed existing channel %s" % old)
                        kernel._close_session(sess)
            before = set(tgt.sessions)
            kernel.sessions_login(tgt.name, ini_name, channels=1)
            name = next(n for n in tgt.sessions if n not in before)
            self.nexus.setdefault(key, []).append(name)
            return 0, tgt.sessions[name]

    def srpt_close(self, fh: FabricHost, target_name: str, sessions: list) -> None:
        """The initiator disconnects (DREQ): close exactly these sessions."""
        kernel = fh.scst
        if kernel is None:
            return
        with kernel._lock:
            try:
                tgt = kernel.find_target(target_name)
            except OSError:
                return
            for sess in sessions:
                if tgt.sessions.get(sess.name) is sess:
                    kernel._close_session(sess)
            for names in self.nexus.values():
                names[:] = [n for n in names if n in tgt.sessions]

    @staticmethod
    def sessions_alive(fh: FabricHost, target_name: str, sessions: list) -> bool:
        kernel = fh.scst
        if kernel is None:
            return False
        with kernel._lock:
            try:
                tgt = kernel.find_target(target_name)
            except OSError:
                return False
            return all(tgt.sessions.get(s.name) is s for s in sessions)

    @staticmethod
    def lun_table(fh: FabricHost, target_name: str, session) -> list:
        """What a SCSI scan through ``session`` finds: one dict per LUN, in LUN order."""
        from .scstkernel import VDev

        kernel = fh.scst
        out = []
        with kernel._lock:
            acg = session.acg
            if acg is None:
                return out
            for lun in sorted(acg.luns):
                ad = acg.luns[lun]
                dev = ad.dev
                entry = {"lun": lun, "type": dev.type, "device": dev.name, "ro": bool(ad.rd_only)}
                if isinstance(dev, VDev):
                    nblocks = dev.file_size >> dev.blk_shift
                    entry.update(
                        vendor=dev.t10_vend_id,
                        model=dev.prod_id,
                        rev=dev.prod_rev_lvl,
                        block_size=dev.block_size,
                        sectors=(nblocks << dev.blk_shift) // 512,
                        rotational=int(dev.rotational),
                        ro=bool(ad.rd_only or dev.rd_only),
                        filename=dev.filename,
                        nullio=dev.nullio,
                        t10_dev_id=dev.t10_dev_id,
                        eui64_id=bytes(dev.eui64_id),
                        naa_id=bytes(dev.naa_id),
                        usn=dev.usn,
                    )
                out.append(entry)
        return out


# --------------------------------------------------------------------------
# fake srp_daemon
# --------------------------------------------------------------------------

SRP_DAEMON = r'''#!{python}
"""Fake srp_daemon of an emulated host (tests/emul/fabric.py): the target ports
an InfiniBand subnet manager would report, from the fabric's state file and the
targets' live SCST sysfs. Options: -o -a -c -e -d <umad> -i <hca> -p <port>."""
import getopt, json, os, sys

ROOT = {root!r}
STATE = {state!r}


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def main(argv):
    try:
        opts, _ = getopt.getopt(argv, "oacevVnd:i:p:j:t:r:R:T:l:f:")
    except getopt.GetoptError as exc:
        sys.stderr.write("srp_daemon: %s\n" % exc)
        return 1
    flags = dict(opts)
    umad = flags.get("-d")
    hca = flags.get("-i")
    port = flags.get("-p")
    if umad:
        name = os.path.basename(umad)
        mad = os.path.join(ROOT, "sys", "class", "infiniband_mad", name)
        hca, port = read(os.path.join(mad, "ibdev")), read(os.path.join(mad, "port"))
        node = umad if umad.startswith(ROOT.rstrip("/") + "/") else os.path.join(ROOT, umad.lstrip("/"))
        if hca is None or not os.path.exists(node):
            sys.stderr.write("Failed to open %s\n" % umad)
            return 1
    if hca is None:
        sys.stderr.write("Failed to get default CA\n")
        return 1
    port = int(port or 1)
    with open(STATE) as handle:
        state = json.load(handle)
    me = None
    for host in state["hosts"].values():
        if host["root"] == ROOT:
            me = host
    local = None
    for p in (me or {{}}).get("ports", []):
        if p["hca"] == hca and int(p["port"]) == port:
            local = p
    if local is None:
        sys.stderr.write("Failed to get default port for CA %s\n" % hca)
        return 1
    if local["link_layer"] != "InfiniBand" or not state["sm_running"] or me["down"]:
        sys.stderr.write("SM LID is 0, maybe no SM is running\n")
        return 1
    connected = set()
    if "-a" not in flags:
        base = os.path.join(ROOT, "sys", "class", "scsi_host")
        for h in sorted(os.listdir(base)) if os.path.isdir(base) else []:
            d = os.path.join(base, h)
            if read(os.path.join(d, "local_ib_device")) != hca or read(os.path.join(d, "local_ib_port")) != str(port):
                continue
            ids = [read(os.path.join(d, k)) for k in ("id_ext", "ioc_guid", "service_id", "orig_dgid")]
            if None not in ids:
                connected.add(tuple(int(x, 16) for x in ids[:3]) + (ids[3].replace(":", ""),))
    use_imm = (read(os.path.join(ROOT, "sys/module/ib_srp/parameters/use_imm_data")) or "Y").startswith("Y")
    max_imm = int(read(os.path.join(ROOT, "sys/module/ib_srp/parameters/max_imm_data")) or 8192)
    lines = []
    for host in state["hosts"].values():
        if host["down"]:
            continue
        for p in host["ports"]:
            if p["link_layer"] != "InfiniBand":
                continue
            tgt_dir = os.path.join(host["root"], "sys", "kernel", "scst_tgt", "targets", "ib_srpt", p["gid"])
            enabled = read(os.path.join(tgt_dir, "enabled"))
            info = read(os.path.join(tgt_dir, "login_info"))
            if info is None or enabled is None:
                continue
            if enabled != "1" and not state["daemon_lists_disabled"]:
                continue
            kv = dict(item.split("=", 1) for item in info.split(","))
            key = (int(kv["tid_ext"], 16), int(kv["ioc_guid"], 16), int(kv["service_id"], 16), kv["dgid"])
            if key in connected:
                continue
            line = "id_ext=%s,ioc_guid=%s,dgid=%s,pkey=%s,service_id=%s" % (
                kv["tid_ext"], kv["ioc_guid"], kv["dgid"], kv["pkey"], kv["service_id"])
            send_size = read(os.path.join(host["root"], "sys/module/ib_srpt/parameters/srp_max_req_size"))
            send_size = int(send_size or {max_req})
            if use_imm and max_imm > send_size:
                line += ",max_it_iu_size=%d" % send_size
            lines.append(line)
    for line in lines:
        if "-c" in flags:
            print(line)
        if "-e" in flags:
            path = os.path.join(ROOT, "sys", "class", "infiniband_srp", "srp-%s-%d" % (hca, port), "add_target")
            try:
                fd = os.open(path, os.O_WRONLY)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            except OSError:
                sys.stderr.write("unable to open %s, maybe ib_srp is not loaded\n" % path)
    return 0


sys.exit(main(sys.argv[1:]))
'''


def write_srp_daemon(root, state_file, path=None) -> Path:
    """Install the fake srp_daemon in an emulated host (default ROOT/usr/sbin/srp_daemon)."""
    path = Path(path) if path else Path(root) / "usr" / "sbin" / "srp_daemon"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        SRP_DAEMON.format(
            python=sys.executable, root=str(root), state=str(state_file), max_req=SRPT_DEFAULT_MAX_REQ_SIZE
        )
    )
    os.chmod(path, 0o755)
    return path


def strerror_code(code: int) -> str:
    return errno.errorcode.get(code, str(code))
