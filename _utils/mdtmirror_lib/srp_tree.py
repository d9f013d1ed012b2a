"""
ib_srp's sysfs as objects, one class per kernel object, the code's tree shaped
like the kernel's (the idea of rtslib-fb's ``CFSNode``/``RTSRoot``, for sysfs):

* :py:class:`SrpRoot`: one host as ib_srp sees it (its paths, the caller's
  ``config.get`` and command runner), listing the objects below.
* :py:class:`InitiatorPort`: ``/sys/class/infiniband_srp/srp-<hca>-<port>``,
  one per local RDMA port; one write of a ``key=value`` line to its
  ``add_target`` makes one login: a :py:class:`ScsiHost` and its
  :py:class:`RemotePort`.
* :py:class:`ScsiHost`: ``/sys/class/scsi_host/host<n>`` (``proc_name``
  ``ib_srp``): the login's identity and, under ``device/``, its SCSI disks.
* :py:class:`RemotePort`: ``/sys/class/srp_remote_ports/port-<host>:<n>``: the
  target port's state and recovery timers; any write to ``delete`` logs out.
* :py:class:`SrpModule`: ``/sys/module/ib_srp`` (loaded or not, its
  parameters) and its options in ``/etc/modprobe.d/ib_srp.conf``.

A login (:py:func:`SrpRoot.list_logins`) is the join of a SCSI host and its
remote port, as :py:func:`mdtmirror_lib.srp_parse.parse_login_attrs` builds it.
No Salt dunders: ``get`` is ``config.get``; ``run(cmd, **kwargs)`` runs a
command (an argument list) and returns ``cmd.run_all``'s dict.
"""

import errno
import logging
import os
import re
import shutil
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import hostio, srp_parse
from mdtmirror_lib.srp_parse import MODULE, format_target, parse_login_attrs, parse_login_spec, parse_srp_daemon
from mdtmirror_lib.zfs_policy import plain_bool

log = logging.getLogger(__name__)

DEFAULT_PATHS = {
    "infiniband_srp": "/sys/class/infiniband_srp",
    "infiniband": "/sys/class/infiniband",
    "infiniband_mad": "/sys/class/infiniband_mad",
    "dev_infiniband": "/dev/infiniband",
    "srp_remote_ports": "/sys/class/srp_remote_ports",
    "scsi_host": "/sys/class/scsi_host",
    "dev": "/dev",
    "dev_disk_by_id": "/dev/disk/by-id",
    "sys_module": "/sys/module",
    "modprobe_d": "/etc/modprobe.d",
    "srp_daemon_conf": "/etc/srp_daemon.conf",
    "rdma_conf": "/etc/rdma/rdma.conf",
}

_SCSI_ADDR_RE = re.compile(r"^(\d+):(\d+):(\d+):(\d+)$")
_RPORT_RE = re.compile(r"^port-(\d+):(\d+)$")
_HOST_RE = re.compile(r"^host(\d+)$")
# Errnos of a login the target turned down or never answered.
_REFUSED = (errno.ECONNRESET, errno.ECONNREFUSED, errno.EIO)
# ENXIO: RDMA/CM found no peer at that address; ENODEV: IB/CM keys on a RoCE port.
_NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENXIO)

HOST_ATTRS = (
    "proc_name",
    "id_ext",
    "ioc_guid",
    "dgid",
    "orig_dgid",
    "pkey",
    "service_id",
    "sgid",
    "local_ib_device",
    "local_ib_port",
    "req_lim",
    "zero_req_lim",
    "allow_ext_sg",
    "ch_count",
    "comp_vector",
    "tl_retry_count",
    "cmd_sg_entries",
)
RPORT_ATTRS = ("port_id", "roles", "state", "dev_loss_tmo", "fast_io_fail_tmo", "reconnect_delay", "failed_reconnects")


class SysfsNode:
    """One sysfs directory: its attributes are files, read one at a time (None: unreadable)."""

    def __init__(self, root, path, name):
        self.root = root
        self.path = path
        self.name = name

    @property
    def exists(self):
        return os.path.isdir(self.path)

    def read(self, attr):
        return hostio.read_attr(os.path.join(self.path, attr))

    def attrs(self, names):
        with hostio.opendir(self.path) as dir_fd:
            if dir_fd is None:
                return {name: None for name in names}
            return {name: hostio.read_attr(name, dir_fd=dir_fd) for name in names}


# --------------------------------------------------------------------------
# the local port: /sys/class/infiniband_srp/srp-<hca>-<port>
# --------------------------------------------------------------------------


class InitiatorPort(SysfsNode):
    """``srp-<hca>-<port>``: where logins through one local RDMA port are made (``add_target``)."""

    def __init__(self, root, name):
        super().__init__(root, os.path.join(root.path("infiniband_srp"), name), name)

    def info(self, umads):
        """The :py:func:`SrpRoot.ports` entry; None if neither the attributes nor the name tell the HCA and port."""
        name, path = self.name, self.path
        hca = self.read("ibdev")
        port = srp_parse.as_int(self.read("port"))
        if hca is None or not isinstance(port, int):
            match = re.fullmatch(r"srp-(.+)-(\d+)", name)
            if not match:
                return None
            hca, port = match.group(1), int(match.group(2))
        ib_port = os.path.join(self.root.path("infiniband"), hca, "ports", str(port))
        gid = hostio.read_attr(os.path.join(ib_port, "gids", "0"))
        state = hostio.read_attr(os.path.join(ib_port, "state"))
        return {
            "name": name,
            "hca": hca,
            "port": port,
            "add_target": os.path.join(path, "add_target"),
            "gid": gid,
            # The port GUID is GID 0's interface ID on InfiniBand.
            "port_guid": ":".join(gid.split(":")[4:]) if gid and gid.count(":") == 7 else None,
            "node_guid": hostio.read_attr(os.path.join(self.root.path("infiniband"), hca, "node_guid")),
            "link_layer": hostio.read_attr(os.path.join(ib_port, "link_layer")),
            "state": state,
            "active": bool(state) and "ACTIVE" in state,
            "umad": umads.get((hca, port)),
        }


def add_target_error(exc, what, path, line):
    """The error of a failed ``add_target`` write (``exc``), naming the login (``what``) and the errno."""
    code = exc.errno
    if code == errno.ENOENT:
        if not os.path.exists(path):
            return CommandExecutionError(f"{what}: {path} does not exist (is ib_srp loaded?)")
        # srp_create_target: the P_Key is not in the port's table, or the QP could not be made.
        return CommandExecutionError(
            f"{what}: ib_srp could not set up the connection (ENOENT: P_Key not in the port's table?); see dmesg"
        )
    if code in (errno.EACCES, errno.EPERM):
        return CommandExecutionError(f"{what}: {path}: permission denied (run as root)")
    if code == errno.EEXIST:
        return CommandExecutionError(
            f"{what}: the kernel says it is already connected to that target port (EEXIST), "
            "but no such login shows in srp_remote_ports (one with another initiator_ext?)"
        )
    if code == errno.EINVAL:
        return CommandExecutionError(
            f"{what}: ib_srp rejected '{line}' with EINVAL (an option or value this kernel does not take, "
            "or the IB/CM path query to the dgid failed; see the 'ib_srp:' lines of dmesg)"
        )
    if code in _REFUSED:
        return CommandExecutionError(
            f"{what}: target refused the login (is this initiator in the target's group?): "
            f"{hostio.errno_text(code)}; see dmesg"
        )
    if code == errno.ETIMEDOUT:
        return CommandExecutionError(
            f"{what}: no answer (ETIMEDOUT): the target is down, or on InfiniBand no subnet manager runs"
        )
    if code in _NO_ROUTE:
        return CommandExecutionError(f"{what}: no path to the target: {hostio.errno_text(code)}")
    return CommandExecutionError(f"{what}: add_target failed with {hostio.errno_text(code)}")


# --------------------------------------------------------------------------
# what a login makes: the SCSI host and the remote port
# --------------------------------------------------------------------------


class RemotePort(SysfsNode):
    """``port-<host>:<n>``: the target port of a login (state, timers); ``delete`` logs out."""

    def __init__(self, root, name):
        super().__init__(root, os.path.join(root.path("srp_remote_ports"), name), name)

    def delete(self, host):
        """Log out (one write to ``delete``); the error names the login (its SCSI ``host`` and this port)."""
        path = os.path.join(self.path, "delete")
        try:
            hostio.write_attr(path, "1\n")
        except OSError as exc:
            raise CommandExecutionError(
                f"logging out {host} ({self.name}): writing {path} failed with {hostio.errno_text(exc.errno)}"
            ) from exc


class ScsiHost(SysfsNode):
    """``host<n>``: the SCSI host of a login (its identity attributes) and its disks under ``device/``."""

    def __init__(self, root, name):
        super().__init__(root, os.path.join(root.path("scsi_host"), name), name)

    def scsi_devices(self):
        """``[(H:C:I:L, sysfs dir)]`` under ``hostN/device/targetH:C:I/``, in address order."""
        device_dir = os.path.join(self.path, "device")
        found = []
        for tgt in hostio.listdir(device_dir):
            if not re.fullmatch(r"target\d+:\d+:\d+", tgt):
                continue
            for name in hostio.listdir(os.path.join(device_dir, tgt)):
                match = _SCSI_ADDR_RE.match(name)
                if match:
                    found.append((tuple(int(x) for x in match.groups()), name, os.path.join(device_dir, tgt, name)))
        return [(name, path) for _key, name, path in sorted(found)]

    def disk_snapshot(self):
        """The SCSI devices as they are now, with their block device and by-id links (see :py:func:`disks`)."""
        root = self.root
        disks_found = []
        for scsi, path in self.scsi_devices():
            scsi_type = srp_parse.as_int(hostio.read_attr(os.path.join(path, "type")))
            blocks = hostio.listdir(os.path.join(path, "block"))
            disks_found.append({"scsi": scsi, "type": scsi_type, "name": blocks[0] if blocks else None, "path": path})
        names = {d["name"] for d in disks_found if d["name"]}
        links = root.by_id_links(names)
        result = []
        for disk in disks_found:
            name = disk["name"]
            size = (
                srp_parse.as_int(hostio.read_attr(os.path.join(disk["path"], "block", name, "size"))) if name else None
            )
            lbs = (
                srp_parse.as_int(
                    hostio.read_attr(os.path.join(disk["path"], "block", name, "queue", "logical_block_size"))
                )
                if name
                else None
            )
            result.append(
                {
                    "scsi": disk["scsi"],
                    "type": disk["type"],
                    "dev": root.host_path(os.path.join(root.path("dev"), name)) if name else None,
                    "by_id": sorted(root.host_path(link) for link in links.get(name, [])),
                    "vendor": (hostio.read_attr(os.path.join(disk["path"], "vendor")) or "").strip() or None,
                    "model": (hostio.read_attr(os.path.join(disk["path"], "model")) or "").strip() or None,
                    # /sys/block/<dev>/size counts 512-byte sectors whatever the logical block size.
                    "size_bytes": size * 512 if isinstance(size, int) else None,
                    "logical_block_size": lbs if isinstance(lbs, int) else None,
                }
            )
        return result


def _complete(snapshot):
    # Disks (type 0) and RBC devices (14) get a block device; others (an
    # array controller at LUN 0) never do and are not waited for.
    # A login whose target maps no LUN has no SCSI device at all: the scan
    # ran inside add_target, so there is nothing to wait for.
    wanted = [d for d in snapshot if d["type"] in (0, 14, None)]
    return all(d["dev"] and d["by_id"] for d in wanted)


def host_of(login_ref):
    """The SCSI host (``hostN``) of a login entry, ``hostN``, ``N`` or ``port-N:M``."""
    given = login_ref
    if isinstance(login_ref, dict):
        if login_ref.get("host"):
            return login_ref["host"]
        if isinstance(login_ref.get("login"), dict) and login_ref["login"].get("host"):
            return login_ref["login"]["host"]
        login_ref = login_ref.get("remote_port")
    if isinstance(login_ref, int) or (isinstance(login_ref, str) and login_ref.isdigit()):
        return f"host{int(login_ref)}"
    if isinstance(login_ref, str):
        if _HOST_RE.match(login_ref):
            return login_ref
        match = _RPORT_RE.match(login_ref)
        if match:
            return f"host{match.group(1)}"
    raise SaltInvocationError(f"invalid SRP login {given!r}: give a login entry, hostN or port-N:M")


# --------------------------------------------------------------------------
# the module: /sys/module/ib_srp and /etc/modprobe.d/ib_srp.conf
# --------------------------------------------------------------------------


class SrpModule(SysfsNode):
    """``/sys/module/ib_srp`` (present: loaded) and its options persisted in ``/etc/modprobe.d/ib_srp.conf``."""

    def __init__(self, root):
        super().__init__(root, os.path.join(root.path("sys_module"), MODULE), MODULE)

    @property
    def conf_path(self):
        return os.path.join(self.root.path("modprobe_d"), f"{MODULE}.conf")

    def options(self):
        """``srp.module_options``: ``{path, persisted, running}``."""
        text = hostio.read_text(self.conf_path)
        running = None
        if self.exists:
            pdir = os.path.join(self.path, "parameters")
            running = {name: hostio.read_attr(os.path.join(pdir, name)) for name in hostio.listdir(pdir)}
            running = {k: v.strip() for k, v in running.items() if v is not None}
        return {"path": self.conf_path, "persisted": srp_parse.parse_modprobe_conf(text or ""), "running": running}

    def load(self, options, modules):
        """``modprobe`` each of ``modules`` not loaded yet (ib_srp with ``options``); return those loaded now."""
        wanted = srp_parse.check_module_options(options or {})
        modprobe = hostio.binary(self.root.get, "modprobe")
        loaded_now = []
        for mod in modules:
            if os.path.isdir(os.path.join(self.root.path("sys_module"), mod)):
                continue
            args = [f"{k}={v}" for k, v in wanted.items()] if mod == MODULE else []
            ret = self.root.run([modprobe, mod, *args])
            if ret["retcode"] != 0:
                output = (ret.get("stderr") or ret.get("stdout") or "").strip()
                raise CommandExecutionError(f"modprobe {mod} failed ({ret['retcode']}): {output}")
            loaded_now.append(mod)
        return loaded_now

    def persist_options(self, options, test=False):
        wanted = srp_parse.check_module_options(options or {})
        path = self.conf_path
        return rewrite(path, srp_parse.modprobe_conf_text(hostio.read_text(path), wanted), test)


def rewrite(path, text, test):
    """Write ``text`` to the configuration file ``path`` unless it is None (no change) or ``test``: changed?"""
    if text is None:
        return False
    if not test:
        hostio.write_text(path, text)
    return True


# --------------------------------------------------------------------------
# the host
# --------------------------------------------------------------------------


class SrpRoot:
    """One host's ib_srp objects: ``get`` is ``config.get``, ``run`` runs a command (see the module's doc)."""

    def __init__(self, get, run=None):
        self.get = get
        self.run = run

    def path(self, key):
        return hostio.host_path(self.get, key, DEFAULT_PATHS)

    def host_path(self, path):
        """
        The path as the host itself names it: ``/dev/...`` without the
        ``mdtmirror:sysroot`` prefix. Disk paths are identities handed to other
        tools (``zpool create``), which resolve them in the host's own root.
        """
        return hostio.strip_sysroot(self.get, path)

    @property
    def module(self):
        return SrpModule(self)

    # ---------------------------------------------------------- local ports

    def umad_devices(self):
        """``{(hca, port): /dev/infiniband/umadN}`` from ``/sys/class/infiniband_mad``."""
        base = self.path("infiniband_mad")
        found = {}
        for name in hostio.listdir(base):
            if not re.fullmatch(r"umad\d+", name):
                continue  # issmN, abi_version
            hca = hostio.read_attr(os.path.join(base, name, "ibdev"))
            port = srp_parse.as_int(hostio.read_attr(os.path.join(base, name, "port")))
            if hca is not None:
                found[(hca, port)] = os.path.join(self.path("dev_infiniband"), name)
        return found

    def initiator_ports(self, names=None):
        """The :py:class:`InitiatorPort` objects (``names``: these, present or not)."""
        if names is None:
            names = hostio.listdir(self.path("infiniband_srp"))
        return [InitiatorPort(self, name) for name in names]

    def ports(self, names=None):
        """``srp.ports``: one dict per initiator port (see :py:meth:`InitiatorPort.info`)."""
        ports = self.initiator_ports(names)
        umads = self.umad_devices()
        return [info for info in (port.info(umads) for port in ports) if info is not None]

    def ports_to_be(self):
        """
        The ports ib_srp will make when it is loaded (``srp_add_one()``: one
        ``srp-<hca>-<port>`` per port of every RDMA device): read from
        ``/sys/class/infiniband``, so that a plan made before ``modprobe
        ib_srp`` (test=True on a fresh node) names the port the real run will use.
        """
        names = []
        for hca in hostio.listdir(self.path("infiniband")):
            for port in hostio.listdir(os.path.join(self.path("infiniband"), hca, "ports")):
                if port.isdigit():
                    names.append(f"srp-{hca}-{port}")
        return self.ports(names)

    def _no_port(self):
        return CommandExecutionError(
            f"no SRP initiator port: {self.path('infiniband_srp')} is empty or missing (load ib_srp: modprobe ib_srp)"
        )

    def resolve_port(self, port, predict=False):
        """
        The ports() entry for ``port`` (``srp-rxe0-1``, ``rxe0/1``, ``rxe0:1``,
        ``rxe0``), or the only (active) one. ``predict``: with ib_srp not loaded
        yet, the port it will make (a test=True plan on a fresh node).
        """
        available = self.ports()
        if not available and predict and not self.module.exists:
            available = self.ports_to_be()
        if not available:
            raise self._no_port()
        listing = ", ".join(f"{p['name']} ({p['state'] or 'state unknown'})" for p in available)
        if isinstance(port, dict):
            port = port.get("name")
        if port is None or port == "":
            if len(available) == 1:
                return available[0]
            active = [p for p in available if p["active"]]
            if len(active) == 1:
                return active[0]
            raise CommandExecutionError(f"cannot choose an SRP initiator port among {listing}: set port")
        text = str(port)
        match = re.fullmatch(r"(.+?)[/:](\d+)", text)
        for entry in available:
            if text == entry["name"] or (text == entry["hca"] and sum(p["hca"] == text for p in available) == 1):
                return entry
            if match and entry["hca"] == match.group(1) and entry["port"] == int(match.group(2)):
                return entry
        raise CommandExecutionError(f"no SRP initiator port {text!r}; ports: {listing}")

    def discover(self, port=None):
        """``srp.discover``: ``srp_daemon -o -a -c -d <umad>`` through ``port`` or every port."""
        chosen = [self.resolve_port(port)] if port is not None else self.ports()
        if not chosen:
            raise self._no_port()
        binary = hostio.binary(self.get, "srp_daemon")
        if not shutil.which(binary):
            raise CommandExecutionError(
                f"{binary} not found: install srp_daemon (Debian/Ubuntu: srptools; RHEL: srp_daemon) "
                "or set mdtmirror:bin:srp_daemon"
            )
        found, problems = {}, []
        for entry in chosen:
            if not entry["umad"]:
                problems.append(f"{entry['name']}: no umad device (load ib_umad)")
                continue
            cmd = [binary, "-o", "-a", "-c", "-d", entry["umad"]]
            ret = self.run(cmd, timeout=120)
            if ret["retcode"] != 0:
                problems.append(
                    f"{entry['name']}: {binary} exited {ret['retcode']}: "
                    f"{(ret.get('stderr') or ret.get('stdout') or '').strip()}"
                )
                continue
            found[entry["name"]] = parse_srp_daemon(ret.get("stdout") or "")
        if not any(found.values()):
            names = ", ".join(p["name"] for p in chosen)
            detail = f" ({'; '.join(problems)})" if problems else ""
            raise CommandExecutionError(
                f"srp_daemon found no SRP target through {names}{detail}. A target port shows only once its target "
                "is enabled (SCST: the peer's mdtmirror.target has run), and discovery needs an InfiniBand subnet "
                "manager; on RoCE/iWARP there is none: log in with the target's id_ext, ioc_guid and dest=<ip>:<port>"
            )
        return found

    # ---------------------------------------------------------- logins

    def remote_ports(self):
        """``{host number: RemotePort}``: the first remote port of each SCSI host."""
        rports = {}
        for name in hostio.listdir(self.path("srp_remote_ports")):
            match = _RPORT_RE.match(name)
            if match:
                rports.setdefault(int(match.group(1)), name)
        return {number: RemotePort(self, name) for number, name in rports.items()}

    def scsi_hosts(self):
        """``[(number, ScsiHost)]``: every SCSI host, in number order (ib_srp's have ``proc_name`` ``ib_srp``)."""
        names = hostio.listdir(self.path("scsi_host"))
        hosts = sorted((int(m.group(1)), n) for n in names for m in [_HOST_RE.match(n)] if m)
        return [(number, ScsiHost(self, name)) for number, name in hosts]

    def list_logins(self, brief=False):
        """``srp.list_logins``: one :py:func:`parse_login_attrs` entry per ib_srp SCSI host, with its remote
        port (``brief``: only ``host`` and ``remote_port``)."""
        brief = plain_bool(brief, "brief")
        rports = self.remote_ports()
        logins = []
        for host_no, host in self.scsi_hosts():
            if host.read("proc_name") != MODULE:
                continue
            rport = rports.get(host_no)
            if brief:
                logins.append({"host": host.name, "remote_port": rport.name if rport else None})
                continue
            rattrs = rport.attrs(RPORT_ATTRS) if rport else None
            logins.append(
                parse_login_attrs(
                    host.attrs(HOST_ATTRS), rattrs, host=host.name, remote_port=rport.name if rport else None
                )
            )
        return logins

    def _login_wait(self):
        return float(self.get("mdtmirror:srp_login_wait", 10))

    def _wait_remote_port(self, spec, port_entry):
        """The login to ``spec`` once it has its remote port, or as it is after ``srp_login_wait`` s (or None)."""
        deadline = time.monotonic() + self._login_wait()
        while True:
            entry = self.find_login(spec, port_entry)
            # The SCSI host and its remote port appear one after the other.
            if (entry and entry.get("remote_port")) or time.monotonic() >= deadline:
                return entry
            time.sleep(0.2)

    def find_login(self, spec, port_entry):
        """
        The existing login to the target port ``spec`` names on ``port_entry``.

        ib_srp allows one login per (id_ext, ioc_guid, initiator_ext) per local
        port (srp_conn_unique()); initiator_ext is not in sysfs, so logins that
        differ only by it look the same here. A login to the same target port
        with another address is a conflict the kernel would refuse too.
        """
        for entry in self.list_logins():
            if not same_port(entry, port_entry):
                continue
            if (entry["id_ext"], entry["ioc_guid"]) != (spec["id_ext"], spec["ioc_guid"]):
                continue
            wanted = "rdma_cm" if "dest" in spec else "ib_cm"
            diffs = []
            if entry["transport"] != wanted:
                diffs.append(f"transport {entry['transport']} (wanted {wanted})")
            elif wanted == "ib_cm":
                for key in ("dgid", "pkey", "service_id"):
                    if entry["target"].get(key) not in (None, spec[key]):
                        diffs.append(f"{key} {entry['target'][key]} (wanted {spec[key]})")
            if diffs:
                raise CommandExecutionError(
                    f"{port_entry['name']} is already logged in to the target port id_ext={spec['id_ext']} "
                    f"ioc_guid={spec['ioc_guid']} as {entry['host']} ({entry['remote_port']}) with {', '.join(diffs)}; "
                    "ib_srp allows one login per target port and local port: log out first"
                )
            return entry
        return None

    def login(self, target, port=None, test=False, **options):
        """``srp.login``: validate everything, then write ONE add_target line and wait for the login to show."""
        spec = parse_login_spec(target, **options)
        line = format_target(spec)
        port_entry = self.resolve_port(port, predict=test)
        existing = self.find_login(spec, port_entry)
        if existing and not existing.get("remote_port"):
            # The SCSI host comes a moment before its remote port (a login being made); one that stays
            # without it is a half-made login nothing can use or log out from: never "logged in".
            existing = self._wait_remote_port(spec, port_entry)  # None: the host went (a removal), log in anew
            if existing and not existing.get("remote_port"):
                raise CommandExecutionError(
                    f"SCSI {existing['host']} of ib_srp is logged in to '{line}' through {port_entry['name']} but "
                    f"has no remote port in {self.path('srp_remote_ports')}: a login that failed half-way (see "
                    "dmesg); nothing can use it or log it out (logout deletes the remote port): reload ib_srp "
                    "(modprobe -r ib_srp; the next apply loads it and logs in)"
                )
        if existing:
            return login_result(False, spec, port_entry, line, existing)
        if test:
            return login_result(True, spec, port_entry, line, None, note="would log in")
        path = port_entry["add_target"]
        what = f"logging in to {srp_parse.describe(spec)} through {port_entry['name']}"
        try:
            hostio.write_attr(path, line + "\n")
        except OSError as exc:
            code = exc.errno
            if code in (errno.EEXIST, errno.EIO):
                # EEXIST: srp_conn_unique() found a login to that target port (a
                # race with srp_daemon, or one we could not match). EIO: the
                # captures' shell (dash) reports every write error as "I/O error".
                entry = self.find_login(spec, port_entry)
                if entry:
                    note = f"kernel answered {hostio.errno_text(code)}: already logged in"
                    return login_result(False, spec, port_entry, line, entry, note=note)
            raise add_target_error(exc, what, path, line) from exc
        log.debug("srp: wrote %r to %s", line, path)
        wait = self._login_wait()
        entry = self._wait_remote_port(spec, port_entry)
        if not entry:
            raise CommandExecutionError(
                f"{what}: the kernel accepted '{line}' but no login appeared in {self.path('srp_remote_ports')} "
                "(it removes the SCSI host when the LUN scan fails; see dmesg)"
            )
        if not entry.get("remote_port"):
            # A SCSI host with no remote port is no login a state can use or log out from (logout
            # deletes the remote port): a result saying "logged in" would hide it.
            raise CommandExecutionError(
                f"{what}: the kernel made SCSI {entry['host']} for '{line}' but its remote port did not appear "
                f"in {self.path('srp_remote_ports')} within {wait:g} s (mdtmirror:srp_login_wait); see dmesg"
            )
        return login_result(True, spec, port_entry, line, entry)

    def resolve_logins(self, target, port):
        """Logins named by a remote port (``port-2:1``), host (``host2``, 2) or target specification."""
        logins = self.list_logins()
        if isinstance(target, dict) and (target.get("remote_port") or target.get("host")):
            target = target.get("remote_port") or target.get("host")  # a list_logins()/login() entry
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            target = f"host{int(target)}"
        if isinstance(target, str) and (_RPORT_RE.match(target) or _HOST_RE.match(target)):
            return [e for e in logins if target in (e["host"], e["remote_port"])]
        spec = parse_login_spec(target)
        port_entry = self.resolve_port(port) if port is not None else None
        return [
            e
            for e in logins
            if (e["id_ext"], e["ioc_guid"]) == (spec["id_ext"], spec["ioc_guid"])
            and (port_entry is None or same_port(e, port_entry))
        ]

    def logout(self, target, port=None, timeout=30, test=False):
        """``srp.logout``: write ``delete`` of each remote port named, then wait up to ``timeout`` for them to go."""
        matches = [e for e in self.resolve_logins(target, port) if e["remote_port"]]
        removed = [e["remote_port"] for e in matches]
        if not matches or test:
            return {"changed": bool(matches), "removed": removed}
        for entry in matches:
            RemotePort(self, entry["remote_port"]).delete(entry["host"])
        deadline = time.monotonic() + float(timeout)
        while True:
            left = [r for r in removed if RemotePort(self, r).exists]
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if left and float(timeout) > 0:
            raise CommandExecutionError(f"SRP remote port(s) {', '.join(left)} still present {timeout}s after delete")
        return {"changed": True, "removed": removed}

    # ---------------------------------------------------------- disks

    def by_id_links(self, names):
        """``{sdX: [/dev/disk/by-id/...]}`` for links pointing at ``../../sdX``."""
        base = self.path("dev_disk_by_id")
        links = {}
        for link in hostio.listdir(base):
            try:
                dest = os.path.basename(os.readlink(os.path.join(base, link)))
            except OSError:
                continue
            if dest in names:
                links.setdefault(dest, []).append(os.path.join(base, link))
        return links

    def disks(self, login, timeout=30):
        """``srp.disks``: the disks of a login, waiting up to ``timeout`` for udev (``udevadm settle`` first)."""
        host = ScsiHost(self, host_of(login))
        if not host.exists:
            raise CommandExecutionError(f"SCSI host {host.name} does not exist (logged out, or dev_loss_tmo expired?)")
        timeout = float(timeout)
        snapshot = host.disk_snapshot()
        if _complete(snapshot):
            return [d for d in snapshot if d["dev"]]
        udevadm = self.get("mdtmirror:bin:udevadm", "udevadm")  # empty: never call it
        if timeout > 0 and udevadm and shutil.which(udevadm):
            ret = self.run([udevadm, "settle", f"--timeout={int(timeout)}"])
            if ret["retcode"] != 0:
                log.debug("srp: udevadm settle exited %s: %s", ret["retcode"], ret.get("stderr"))
        deadline = time.monotonic() + timeout
        while True:
            snapshot = host.disk_snapshot()
            if _complete(snapshot) or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        return [d for d in snapshot if d["dev"]]

    # ---------------------------------------------------------- files that persist the setup

    def persist_daemon_conf(self, targets, test=False):
        text = srp_parse.render_srp_daemon_conf(targets)
        path = self.path("srp_daemon_conf")
        return rewrite(path, None if hostio.read_text(path) == text else text, test)

    def rdma_conf_srp_load(self, test=False):
        path = self.path("rdma_conf")
        current = hostio.read_text(path)
        if current is None:
            log.debug("srp: %s does not exist; SRP_LOAD not needed", path)
            return False
        return rewrite(path, srp_parse.rdma_conf_text(current), test)


def same_port(login_entry, port_entry):
    return login_entry["local_ib_device"] == port_entry["hca"] and login_entry["local_ib_port"] == port_entry["port"]


def login_result(changed, spec, port_entry, line, entry, note=None):
    result = {
        "changed": changed,
        "target": spec,
        "line": line,
        "port": port_entry["name"],
        "host": entry["host"] if entry else None,
        "remote_port": entry["remote_port"] if entry else None,
        "login": entry,
    }
    if note:
        result["comment"] = note
    return result
