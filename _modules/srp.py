"""
SRP initiator management (the in-kernel ``ib_srp``) through its sysfs ABI.

Each MDS logs in to its peer's exported LUN as an SRP initiator. The kernel
interfaces used here (``Documentation/ABI/stable/sysfs-driver-ib_srp``,
``drivers/infiniband/ulp/srp/ib_srp.c``, ``drivers/scsi/scsi_transport_srp.c``):

* ``/sys/class/infiniband_srp/srp-<hca>-<port>/add_target``: one write of a
  comma-separated ``key=value`` list makes one login (a new SCSI host and
  remote port); ``ibdev`` and ``port`` name the local HCA port.
* ``/sys/class/srp_remote_ports/port-<host>:<n>``: the remote (target) port of
  a login: ``port_id``, ``roles``, ``state``, the recovery timers
  ``fast_io_fail_tmo``/``dev_loss_tmo``/``reconnect_delay``,
  ``failed_reconnects`` and ``delete`` (any write logs out).
* ``/sys/class/scsi_host/host<n>/``: ``proc_name`` ``ib_srp`` and the login's
  identity (``id_ext``, ``ioc_guid``, ``sgid``, ``local_ib_device``,
  ``local_ib_port``; ``dgid``, ``orig_dgid``, ``pkey``, ``service_id`` for
  IB/CM logins only: for RDMA/CM logins reading them gives ENOENT).

Two kinds of login exist: IB/CM (``id_ext, ioc_guid, dgid, pkey,
service_id``, found with ``srp_daemon`` where an InfiniBand subnet manager
runs) and RDMA/CM (``id_ext, ioc_guid, dest=<ip>:<port>``, the only kind on
RoCE/iWARP, where there is no subnet manager and so no discovery).

Configuration (minion config or pillar, read with ``config.get``):

``mdtmirror:sysroot``
    prefix for every kernel, ``/dev`` and ``/etc`` path below (default ``/``).
``mdtmirror:paths:<key>``
    override one path: ``infiniband_srp``, ``infiniband``, ``infiniband_mad``,
    ``dev_infiniband``, ``srp_remote_ports``, ``scsi_host``, ``dev``,
    ``dev_disk_by_id``, ``sys_module``, ``modprobe_d``, ``srp_daemon_conf``,
    ``rdma_conf``.
``mdtmirror:bin:srp_daemon``, ``mdtmirror:bin:udevadm``
    the binaries (``udevadm`` set to an empty value: never call it).
``mdtmirror:srp_login_wait``
    seconds to wait, after the kernel accepted a login, for its remote port
    to show in sysfs (default 10).
"""

import errno
import logging
import os
import re
import shutil
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import hostio, modprobe, srp_parse  # noqa: E402  (after current(): the fresh copy)

# The pure parsers live in the library; their names stay here for callers and tests.
from mdtmirror_lib.srp_parse import (  # noqa: E402
    format_target,
    parse_login_attrs,
    parse_login_spec,
    parse_srp_daemon,
)

log = logging.getLogger(__name__)

__virtualname__ = "srp"

# What Salt exposes as srp.* (pure parsers and renderers stay importable for
# tests but out of the CLI).
__all__ = [
    "ports",
    "discover",
    "validate_target",
    "list_logins",
    "login",
    "logout",
    "disks",
    "module_options",
    "load",
    "persist_module_options",
    "persist_daemon_conf",
    "rdma_conf_srp_load",
]

_DEFAULT_PATHS = {
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

MODULE = "ib_srp"


# srp_daemon.conf: the identity keys a rule may match on and the options an
# allow rule may carry (parse_main_option/parse_other_option in rdma-core's
# srp_daemon.c); anything else makes srp_daemon refuse the whole file.
_RULE_MATCH_KEYS = ("id_ext", "ioc_guid", "dgid", "service_id", "pkey")
_RULE_OPTIONS = (
    "allow_ext_sg",
    "ch_count",
    "cmd_sg_entries",
    "comp_vector",
    "max_cmd_per_lun",
    "max_sect",
    "queue_size",
    "sg_tablesize",
    "tl_retry_count",
)

# ib_srp module parameters (module_param*() in ib_srp.c).
_TMO_PARAMS = ("reconnect_delay", "fast_io_fail_tmo", "dev_loss_tmo")
_TMO_DEFAULTS = {"reconnect_delay": 10, "fast_io_fail_tmo": 15, "dev_loss_tmo": 600}
_SCSI_DEVICE_BLOCK_MAX_TIMEOUT = 600
_MODULE_PARAMS = {
    "cmd_sg_entries": ("int", 1, 255),
    "indirect_sg_entries": ("int", 0, 2048),
    "allow_ext_sg": ("bool", None, None),
    "topspin_workarounds": ("int", 0, None),
    "register_always": ("bool", None, None),
    "never_register": ("bool", None, None),
    "reconnect_delay": ("tmo", None, None),
    "fast_io_fail_tmo": ("tmo", None, None),
    "dev_loss_tmo": ("tmo", None, None),
    "use_imm_data": ("bool", None, None),
    "max_imm_data": ("int", 0, None),
    "ch_count": ("int", 0, None),
}

_HEADER = "# Written by mdtmirror (salt srp.{fun}); local changes are overwritten."
_SCSI_ADDR_RE = re.compile(r"^(\d+):(\d+):(\d+):(\d+)$")
_RPORT_RE = re.compile(r"^port-(\d+):(\d+)$")
_HOST_RE = re.compile(r"^host(\d+)$")
# Errnos of a login the target turned down or never answered.
_REFUSED = (errno.ECONNRESET, errno.ECONNREFUSED, errno.EIO)
# ENXIO: RDMA/CM found no peer at that address; ENODEV: IB/CM keys on a RoCE port.
_NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENXIO)


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------
# paths and low-level I/O
# --------------------------------------------------------------------------


def _config(key, default=None):
    return __salt__["config.get"](key, default)


def _path(key):
    return hostio.host_path(_config, key, _DEFAULT_PATHS)


_listdir = hostio.listdir
_read = hostio.read_attr
_errno_text = hostio.errno_text
_write_attr = hostio.write_attr
_write_file = hostio.write_text
_read_file = hostio.read_text


# --------------------------------------------------------------------------
# target specifications (pure)
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# local ports
# --------------------------------------------------------------------------


def _umad_devices():
    """``{(hca, port): /dev/infiniband/umadN}`` from ``/sys/class/infiniband_mad``."""
    base = _path("infiniband_mad")
    found = {}
    for name in _listdir(base):
        if not re.fullmatch(r"umad\d+", name):
            continue  # issmN, abi_version
        hca = _read(os.path.join(base, name, "ibdev"))
        port = srp_parse.as_int(_read(os.path.join(base, name, "port")))
        if hca is not None:
            found[(hca, port)] = os.path.join(_path("dev_infiniband"), name)
    return found


def ports():
    """
    Return the local ports ib_srp can log in through
    (``/sys/class/infiniband_srp/srp-<hca>-<port>``): HCA, port number, the
    add_target path, GID 0 (the source GID of logins), port and node GUID,
    link layer, state, and the umad device ``srp_daemon`` needs (None when
    ``ib_umad`` is not loaded).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.ports
    """
    return _ports(_listdir(_path("infiniband_srp")))


def _ports_to_be():
    """
    The ports ib_srp will make when it is loaded (``srp_add_one()``: one
    ``srp-<hca>-<port>`` per port of every RDMA device): read from
    ``/sys/class/infiniband``, so that a plan made before ``modprobe
    ib_srp`` (test=True on a fresh node) names the port the real run will use.
    """
    names = []
    for hca in _listdir(_path("infiniband")):
        for port in _listdir(os.path.join(_path("infiniband"), hca, "ports")):
            if port.isdigit():
                names.append(f"srp-{hca}-{port}")
    return _ports(names)


def _ports(names):
    base = _path("infiniband_srp")
    umads = _umad_devices()
    result = []
    for name in names:
        path = os.path.join(base, name)
        hca = _read(os.path.join(path, "ibdev"))
        port = srp_parse.as_int(_read(os.path.join(path, "port")))
        if hca is None or not isinstance(port, int):
            match = re.fullmatch(r"srp-(.+)-(\d+)", name)
            if not match:
                continue
            hca, port = match.group(1), int(match.group(2))
        ib_port = os.path.join(_path("infiniband"), hca, "ports", str(port))
        gid = _read(os.path.join(ib_port, "gids", "0"))
        state = _read(os.path.join(ib_port, "state"))
        result.append(
            {
                "name": name,
                "hca": hca,
                "port": port,
                "add_target": os.path.join(path, "add_target"),
                "gid": gid,
                # The port GUID is GID 0's interface ID on InfiniBand.
                "port_guid": ":".join(gid.split(":")[4:]) if gid and gid.count(":") == 7 else None,
                "node_guid": _read(os.path.join(_path("infiniband"), hca, "node_guid")),
                "link_layer": _read(os.path.join(ib_port, "link_layer")),
                "state": state,
                "active": bool(state) and "ACTIVE" in state,
                "umad": umads.get((hca, port)),
            }
        )
    return result


def _resolve_port(port, predict=False):
    """
    The ports() entry for ``port`` (``srp-rxe0-1``, ``rxe0/1``, ``rxe0:1``,
    ``rxe0``), or the only (active) one. ``predict``: with ib_srp not loaded
    yet, the port it will make (a test=True plan on a fresh node).
    """
    available = ports()
    if not available and predict and not os.path.isdir(os.path.join(_path("sys_module"), MODULE)):
        available = _ports_to_be()
    if not available:
        raise CommandExecutionError(
            f"no SRP initiator port: {_path('infiniband_srp')} is empty or missing (load ib_srp: modprobe ib_srp)"
        )
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


def discover(port=None):
    """
    Find SRP target ports with ``srp_daemon -o -a -c -d <umad>`` through one
    local port or all of them. Returns ``{port name: [target dicts]}``, each
    usable as ``srp.login``'s target.

    Discovery asks the InfiniBand subnet administrator, so it only works on
    InfiniBand fabrics with a subnet manager; on RoCE/iWARP log in with the
    target's ``dest=<ip>:<port>`` instead. Raises if nothing is found.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.discover
        salt '*' srp.discover port=mlx5_0/1
    """
    chosen = [_resolve_port(port)] if port is not None else ports()
    if not chosen:
        raise CommandExecutionError(
            f"no SRP initiator port: {_path('infiniband_srp')} is empty or missing (load ib_srp: modprobe ib_srp)"
        )
    binary = _config("mdtmirror:bin:srp_daemon", "srp_daemon") or "srp_daemon"
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
        ret = __salt__["cmd.run_all"](cmd, python_shell=False, timeout=120)
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


def validate_target(target, **options):
    """
    Check a target specification without touching the kernel and return it
    normalised with the add_target line it makes: ``{"target", "line"}``.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.validate_target 'id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555'
    """
    spec = parse_login_spec(target, **options)
    return {"target": spec, "line": format_target(spec)}


# --------------------------------------------------------------------------
# logins
# --------------------------------------------------------------------------

_HOST_ATTRS = (
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
_RPORT_ATTRS = ("port_id", "roles", "state", "dev_loss_tmo", "fast_io_fail_tmo", "reconnect_delay", "failed_reconnects")


def _read_attrs(path, names):
    return {name: _read(os.path.join(path, name)) for name in names}


def list_logins():
    """
    Return the SRP logins of ib_srp: one entry per SCSI host whose
    ``proc_name`` is ``ib_srp``, joined with its remote port (state, timers,
    ``port_id``); see :py:func:`parse_login_attrs` for the fields. Other SRP
    transport users (ibmvscsi) are left out.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.list_logins
    """
    rport_base = _path("srp_remote_ports")
    rports = {}
    for name in _listdir(rport_base):
        match = _RPORT_RE.match(name)
        if match:
            rports.setdefault(int(match.group(1)), name)
    host_base = _path("scsi_host")
    logins = []
    hosts = sorted((int(m.group(1)), n) for n in _listdir(host_base) for m in [_HOST_RE.match(n)] if m)
    for host_no, host in hosts:
        hpath = os.path.join(host_base, host)
        if _read(os.path.join(hpath, "proc_name")) != MODULE:
            continue
        rport = rports.get(host_no)
        rattrs = _read_attrs(os.path.join(rport_base, rport), _RPORT_ATTRS) if rport else None
        logins.append(parse_login_attrs(_read_attrs(hpath, _HOST_ATTRS), rattrs, host=host, remote_port=rport))
    return logins


def _same_port(login_entry, port_entry):
    return login_entry["local_ib_device"] == port_entry["hca"] and login_entry["local_ib_port"] == port_entry["port"]


def _find_login(spec, port_entry):
    """
    The existing login to the target port ``spec`` names on ``port_entry``.

    ib_srp allows one login per (id_ext, ioc_guid, initiator_ext) per local
    port (srp_conn_unique()); initiator_ext is not in sysfs, so logins that
    differ only by it look the same here. A login to the same target port
    with another address is a conflict the kernel would refuse too.
    """
    for entry in list_logins():
        if not _same_port(entry, port_entry):
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


def _login_result(changed, spec, port_entry, line, entry, note=None):
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


def login(target, port=None, test=False, **options):
    """
    Log in to an SRP target port: write ONE add_target line to the local
    port's ``add_target``. ``target`` is an add_target line or a dict (from
    ``srp.discover``, or ``{id_ext, ioc_guid, dest: <ip>:<port>}`` on RoCE);
    ``options`` are more add_target options (``max_sect``, ``ch_count``...).
    Everything is validated before anything is written.

    Idempotent: a login to the same target port (id_ext + ioc_guid, + the
    IB/CM address) on the same local port gives ``changed: False``. The
    kernel answers a duplicate with EEXIST (or EIO): that counts as "already
    there" only if the login is then visible. Returns ``{changed, target,
    line, port, host, remote_port, login}``.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.login 'id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555' ch_count=1
        salt '*' srp.login 'id_ext=0002c90300b77f40,ioc_guid=0002c90300b77f40' port=mlx4_0/1 \\
            dgid=fe800000000000000002c90300b77f41 pkey=ffff service_id=0002c90300b77f40
    """
    spec = parse_login_spec(target, **options)
    line = format_target(spec)
    port_entry = _resolve_port(port, predict=test)
    existing = _find_login(spec, port_entry)
    if existing:
        return _login_result(False, spec, port_entry, line, existing)
    if test:
        return _login_result(True, spec, port_entry, line, None, note="would log in")
    path = port_entry["add_target"]
    what = f"logging in to {srp_parse.describe(spec)} through {port_entry['name']}"
    try:
        _write_attr(path, line + "\n")
    except OSError as exc:
        code = exc.errno
        if code in (errno.EEXIST, errno.EIO):
            # EEXIST: srp_conn_unique() found a login to that target port (a
            # race with srp_daemon, or one we could not match). EIO: the
            # captures' shell (dash) reports every write error as "I/O error".
            entry = _find_login(spec, port_entry)
            if entry:
                return _login_result(
                    False, spec, port_entry, line, entry, note=f"kernel answered {_errno_text(code)}: already logged in"
                )
        if code == errno.ENOENT:
            if not os.path.exists(path):
                raise CommandExecutionError(f"{what}: {path} does not exist (is ib_srp loaded?)") from exc
            # srp_create_target: the P_Key is not in the port's table, or the QP could not be made.
            raise CommandExecutionError(
                f"{what}: ib_srp could not set up the connection (ENOENT: P_Key not in the port's table?); see dmesg"
            ) from exc
        if code in (errno.EACCES, errno.EPERM):
            raise CommandExecutionError(f"{what}: {path}: permission denied (run as root)") from exc
        if code == errno.EEXIST:
            raise CommandExecutionError(
                f"{what}: the kernel says it is already connected to that target port (EEXIST), "
                "but no such login shows in srp_remote_ports (one with another initiator_ext?)"
            ) from exc
        if code == errno.EINVAL:
            raise CommandExecutionError(
                f"{what}: ib_srp rejected '{line}' with EINVAL (an option or value this kernel does not take, "
                "or the IB/CM path query to the dgid failed; see the 'ib_srp:' lines of dmesg)"
            ) from exc
        if code in _REFUSED:
            raise CommandExecutionError(
                f"{what}: target refused the login (is this initiator in the target's group?): "
                f"{_errno_text(code)}; see dmesg"
            ) from exc
        if code == errno.ETIMEDOUT:
            raise CommandExecutionError(
                f"{what}: no answer (ETIMEDOUT): the target is down, or on InfiniBand no subnet manager runs"
            ) from exc
        if code in _NO_ROUTE:
            raise CommandExecutionError(f"{what}: no path to the target: {_errno_text(code)}") from exc
        raise CommandExecutionError(f"{what}: add_target failed with {_errno_text(code)}") from exc
    log.debug("srp: wrote %r to %s", line, path)
    deadline = time.monotonic() + float(_config("mdtmirror:srp_login_wait", 10))
    while True:
        entry = _find_login(spec, port_entry)
        # The SCSI host and its remote port appear one after the other.
        if (entry and entry.get("remote_port")) or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if not entry:
        raise CommandExecutionError(
            f"{what}: the kernel accepted '{line}' but no login appeared in {_path('srp_remote_ports')} "
            "(it removes the SCSI host when the LUN scan fails; see dmesg)"
        )
    return _login_result(True, spec, port_entry, line, entry)


def _resolve_logins(target, port):
    """Logins named by a remote port (``port-2:1``), host (``host2``, 2) or target specification."""
    logins = list_logins()
    if isinstance(target, dict) and (target.get("remote_port") or target.get("host")):
        target = target.get("remote_port") or target.get("host")  # a list_logins()/login() entry
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        target = f"host{int(target)}"
    if isinstance(target, str) and (_RPORT_RE.match(target) or _HOST_RE.match(target)):
        return [e for e in logins if target in (e["host"], e["remote_port"])]
    spec = parse_login_spec(target)
    port_entry = _resolve_port(port) if port is not None else None
    return [
        e
        for e in logins
        if (e["id_ext"], e["ioc_guid"]) == (spec["id_ext"], spec["ioc_guid"])
        and (port_entry is None or _same_port(e, port_entry))
    ]


def logout(target, port=None, timeout=30, test=False):
    """
    Log out: write to the ``delete`` attribute of the remote port(s) of a
    login, named by remote port (``port-2:1``), SCSI host (``host2``) or
    target specification (every local port unless ``port`` is given). Waits
    up to ``timeout`` seconds for the remote port to go. Returns ``{changed,
    removed: [remote ports]}``; nothing to do is not an error.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.logout port-2:1
        salt '*' srp.logout 'id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555'
    """
    matches = [e for e in _resolve_logins(target, port) if e["remote_port"]]
    removed = [e["remote_port"] for e in matches]
    if not matches or test:
        return {"changed": bool(matches), "removed": removed}
    base = _path("srp_remote_ports")
    for entry in matches:
        path = os.path.join(base, entry["remote_port"], "delete")
        try:
            _write_attr(path, "1\n")
        except OSError as exc:
            raise CommandExecutionError(
                f"logging out {entry['host']} ({entry['remote_port']}): writing {path} failed with "
                f"{_errno_text(exc.errno)}"
            ) from exc
    deadline = time.monotonic() + float(timeout)
    while True:
        left = [r for r in removed if os.path.isdir(os.path.join(base, r))]
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if left and float(timeout) > 0:
        raise CommandExecutionError(f"SRP remote port(s) {', '.join(left)} still present {timeout}s after delete")
    return {"changed": True, "removed": removed}


# --------------------------------------------------------------------------
# disks
# --------------------------------------------------------------------------


def _host_of(login_ref):
    if isinstance(login_ref, dict):
        if login_ref.get("host"):
            return login_ref["host"]
        if "login" in login_ref and isinstance(login_ref["login"], dict):
            return login_ref["login"].get("host")
        login_ref = login_ref.get("remote_port")
    if isinstance(login_ref, int) or (isinstance(login_ref, str) and login_ref.isdigit()):
        return f"host{int(login_ref)}"
    if isinstance(login_ref, str):
        if _HOST_RE.match(login_ref):
            return login_ref
        match = _RPORT_RE.match(login_ref)
        if match:
            return f"host{match.group(1)}"
    raise SaltInvocationError(f"invalid SRP login {login_ref!r}: give a login entry, hostN or port-N:M")


def _scsi_devices(host):
    """``[(H:C:I:L, sysfs dir)]`` under ``hostN/device/targetH:C:I/``, in address order."""
    device_dir = os.path.join(_path("scsi_host"), host, "device")
    found = []
    for tgt in _listdir(device_dir):
        if not re.fullmatch(r"target\d+:\d+:\d+", tgt):
            continue
        for name in _listdir(os.path.join(device_dir, tgt)):
            match = _SCSI_ADDR_RE.match(name)
            if match:
                found.append((tuple(int(x) for x in match.groups()), name, os.path.join(device_dir, tgt, name)))
    return [(name, path) for _key, name, path in sorted(found)]


def _by_id_links(names):
    """``{sdX: [/dev/disk/by-id/...]}`` for links pointing at ``../../sdX``."""
    base = _path("dev_disk_by_id")
    links = {}
    for link in _listdir(base):
        try:
            dest = os.path.basename(os.readlink(os.path.join(base, link)))
        except OSError:
            continue
        if dest in names:
            links.setdefault(dest, []).append(os.path.join(base, link))
    return links


def _host_path(path):
    """
    The path as the host itself names it: ``/dev/...`` without the
    ``mdtmirror:sysroot`` prefix. Disk paths are identities handed to other
    tools (``zpool create``), which resolve them in the host's own root.
    """
    sysroot = (_config("mdtmirror:sysroot", "/") or "/").rstrip("/")
    if sysroot and path.startswith(sysroot + "/"):
        return path[len(sysroot) :]
    return path


def _disk_snapshot(host):
    disks_found = []
    for scsi, path in _scsi_devices(host):
        scsi_type = srp_parse.as_int(_read(os.path.join(path, "type")))
        blocks = _listdir(os.path.join(path, "block"))
        disks_found.append(
            {
                "scsi": scsi,
                "type": scsi_type,
                "name": blocks[0] if blocks else None,
                "path": path,
            }
        )
    names = {d["name"] for d in disks_found if d["name"]}
    links = _by_id_links(names)
    result = []
    for disk in disks_found:
        name = disk["name"]
        size = srp_parse.as_int(_read(os.path.join(disk["path"], "block", name, "size"))) if name else None
        lbs = (
            srp_parse.as_int(_read(os.path.join(disk["path"], "block", name, "queue", "logical_block_size")))
            if name
            else None
        )
        result.append(
            {
                "scsi": disk["scsi"],
                "type": disk["type"],
                "dev": _host_path(os.path.join(_path("dev"), name)) if name else None,
                "by_id": sorted(_host_path(link) for link in links.get(name, [])),
                "vendor": (_read(os.path.join(disk["path"], "vendor")) or "").strip() or None,
                "model": (_read(os.path.join(disk["path"], "model")) or "").strip() or None,
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


def disks(login, timeout=30):
    """
    Return the SCSI disks of a login (a ``srp.login``/``srp.list_logins``
    entry, ``hostN`` or ``port-N:M``): ``[{scsi: 'H:C:I:L', dev, by_id,
    vendor, model, size_bytes, logical_block_size, type}]``.

    Waits up to ``timeout`` seconds for udev: until every disk of the host has
    a block device and a ``/dev/disk/by-id`` link (runs ``udevadm settle``
    first when ``mdtmirror:bin:udevadm`` is found and a disk is not complete
    yet: a no-op apply starts no process here). Returns what is there when
    the time is up: a disk udev gave no by-id name has ``by_id: []``.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.disks host2
        salt '*' srp.disks port-2:1 timeout=60
    """
    host = _host_of(login)
    if not os.path.isdir(os.path.join(_path("scsi_host"), host)):
        raise CommandExecutionError(f"SCSI host {host} does not exist (logged out, or dev_loss_tmo expired?)")
    timeout = float(timeout)
    snapshot = _disk_snapshot(host)
    if _complete(snapshot):
        return [d for d in snapshot if d["dev"]]
    udevadm = _config("mdtmirror:bin:udevadm", "udevadm")
    if timeout > 0 and udevadm and shutil.which(udevadm):
        ret = __salt__["cmd.run_all"]([udevadm, "settle", f"--timeout={int(timeout)}"], python_shell=False)
        if ret["retcode"] != 0:
            log.debug("srp: udevadm settle exited %s: %s", ret["retcode"], ret.get("stderr"))
    deadline = time.monotonic() + timeout
    while True:
        snapshot = _disk_snapshot(host)
        if _complete(snapshot) or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return [d for d in snapshot if d["dev"]]


# --------------------------------------------------------------------------
# persistence: /etc/modprobe.d/ib_srp.conf, /etc/srp_daemon.conf, rdma.conf
# --------------------------------------------------------------------------


def _modprobe_conf_path():
    return os.path.join(_path("modprobe_d"), f"{MODULE}.conf")


def parse_modprobe_conf(text):
    """Return the ib_srp options of a modprobe.d file: ``{name: value}`` (later lines win)."""
    return modprobe.options(text, MODULE)


def _check_module_options(options):
    """Validate ib_srp module options; return ``{name: text}`` sorted by name."""
    if not isinstance(options, dict):
        raise SaltInvocationError(f"invalid ib_srp options {options!r}: give a dict")
    out = {}
    for key, value in options.items():
        if key == "srp_sg_tablesize":
            raise SaltInvocationError("ib_srp option srp_sg_tablesize is the deprecated name of cmd_sg_entries")
        if key not in _MODULE_PARAMS:
            raise SaltInvocationError(f"unknown ib_srp module option {key!r}: known are {', '.join(_MODULE_PARAMS)}")
        kind, low, high = _MODULE_PARAMS[key]
        text = str(int(value) if isinstance(value, bool) and kind != "bool" else value).strip()
        if kind == "bool":
            lowered = text.lower()
            if value is True or lowered in ("1", "y", "yes", "true", "on"):
                text = "Y"
            elif value is False or lowered in ("0", "n", "no", "false", "off"):
                text = "N"
            else:
                raise SaltInvocationError(f"invalid ib_srp option {key}={value!r}: expected a boolean")
        elif kind == "tmo":
            if text.lower() == "off":
                text = "off"
            elif not re.fullmatch(r"-?\d+", text):
                raise SaltInvocationError(f"invalid ib_srp option {key}={value!r}: seconds or 'off'")
            elif int(text) < 0:
                text = "off"  # the kernel stores "off" as -1
        else:
            if not re.fullmatch(r"\d+", text) or int(text) < low or (high is not None and int(text) > high):
                span = f"{low}..{high}" if high is not None else f">= {low}"
                raise SaltInvocationError(f"invalid ib_srp option {key}={value!r}: expected a number {span}")
            text = str(int(text))
        out[key] = text
    _check_tmo(out)
    return dict(sorted(out.items()))


def _check_tmo(options):
    """srp_tmo_valid() of scsi_transport_srp.c on the timers as they will be at load time."""
    values = {}
    for key in _TMO_PARAMS:
        text = options.get(key)
        values[key] = _TMO_DEFAULTS[key] if text is None else (-1 if text == "off" else int(text))
    delay, fast, loss = (values[k] for k in _TMO_PARAMS)
    shown = ", ".join(f"{k}={options.get(k, _TMO_DEFAULTS[k])}" for k in _TMO_PARAMS)
    if delay < 0 and fast < 0 and loss < 0:
        problem = "all three timers are off"
    elif delay == 0:
        problem = "reconnect_delay 0 is not allowed (use off)"
    elif fast > _SCSI_DEVICE_BLOCK_MAX_TIMEOUT:
        problem = f"fast_io_fail_tmo exceeds {_SCSI_DEVICE_BLOCK_MAX_TIMEOUT}"
    elif fast < 0 and loss > _SCSI_DEVICE_BLOCK_MAX_TIMEOUT:
        problem = f"with fast_io_fail_tmo off, dev_loss_tmo must be at most {_SCSI_DEVICE_BLOCK_MAX_TIMEOUT}"
    elif fast >= 0 and loss >= 0 and fast >= loss:
        problem = "fast_io_fail_tmo must be smaller than dev_loss_tmo"
    else:
        return
    raise SaltInvocationError(f"invalid ib_srp timers ({shown}): {problem} (the kernel would refuse them)")


def module_options():
    """
    Return the ib_srp module options: ``persisted`` in
    ``/etc/modprobe.d/ib_srp.conf`` and ``running`` (the loaded module's
    ``/sys/module/ib_srp/parameters``, None if ib_srp is not loaded).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.module_options
    """
    text = _read_file(_modprobe_conf_path())
    running = None
    mod_dir = os.path.join(_path("sys_module"), MODULE)
    if os.path.isdir(mod_dir):
        pdir = os.path.join(mod_dir, "parameters")
        running = {name: _read(os.path.join(pdir, name)) for name in _listdir(pdir)}
        running = {k: v.strip() for k, v in running.items() if v is not None}
    return {"path": _modprobe_conf_path(), "persisted": parse_modprobe_conf(text or ""), "running": running}


def load(options=None, modules=(MODULE, "ib_umad")):
    """
    Load ib_srp (with ``options``: ``dev_loss_tmo``, ``fast_io_fail_tmo``,
    ``reconnect_delay``, ``ch_count``...) and ib_umad (which ``srp_discover``'s
    srp_daemon needs) with ``modprobe``. Modules already loaded are left
    alone: options only apply at load time. Returns the modules loaded now.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.load '{fast_io_fail_tmo: 5, dev_loss_tmo: 30}'
    """
    wanted = _check_module_options(options or {})
    modprobe = _config("mdtmirror:bin:modprobe", "modprobe") or "modprobe"
    loaded_now = []
    for mod in modules:
        if os.path.isdir(os.path.join(_path("sys_module"), mod)):
            continue
        args = [f"{k}={v}" for k, v in wanted.items()] if mod == MODULE else []
        ret = __salt__["cmd.run_all"]([modprobe, mod, *args], python_shell=False)
        if ret["retcode"] != 0:
            raise CommandExecutionError(
                f"modprobe {mod} failed ({ret['retcode']}): {(ret.get('stderr') or ret.get('stdout') or '').strip()}"
            )
        loaded_now.append(mod)
    return loaded_now


def persist_module_options(options, test=False):
    """
    Persist ib_srp module options (``dev_loss_tmo``, ``fast_io_fail_tmo``,
    ``reconnect_delay``, ``ch_count``...) as one ``options ib_srp ...`` line
    in ``/etc/modprobe.d/ib_srp.conf``, replacing any other ``options
    ib_srp`` line and keeping the rest of the file. The timers are checked the
    way the kernel checks them. They apply when ib_srp is loaded (the timers
    of an existing login are its remote port's attributes). Returns True if
    the file changed (or would, with ``test=True``).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.persist_module_options '{fast_io_fail_tmo: 5, dev_loss_tmo: 30, reconnect_delay: 3}'
    """
    wanted = _check_module_options(options or {})
    path = _modprobe_conf_path()
    current = _read_file(path)
    lines = (current or "").splitlines()
    new_line = f"options {MODULE} " + " ".join(f"{k}={v}" for k, v in wanted.items()) if wanted else None
    out, placed = [], False
    for group in modprobe.logical_lines(current):
        if modprobe.is_options_of(group, MODULE):
            if new_line and not placed:
                out.append(new_line)
            placed = True
        else:
            out.extend(group)
    if new_line and not placed:
        if current is None:
            out.append(_HEADER.format(fun="persist_module_options"))
        out.append(new_line)
    if out == lines:
        return False
    if not test:
        _write_file(path, "\n".join(out) + "\n")
    return True


def render_srp_daemon_conf(targets):
    """
    Render an ``/etc/srp_daemon.conf`` that lets srp_daemon log in to exactly
    ``targets`` (add_target lines or dicts) and nothing else: one ``a`` rule
    per target, matching its id_ext, ioc_guid and (IB/CM) dgid, service_id,
    pkey, carrying the options srp_daemon passes on (``max_sect``,
    ``queue_size``...), then ``d`` (deny the rest). RDMA/CM targets have no
    IB address: their rule matches id_ext and ioc_guid only (srp_daemon only
    discovers over InfiniBand anyway).
    """
    if isinstance(targets, (str, dict)):
        targets = [targets]
    rules = []
    for target in targets or []:
        spec = parse_login_spec(target)
        match = [f"{k}={spec[k]}" for k in _RULE_MATCH_KEYS if k in spec]
        opts = []
        for key, value in spec.items():
            if key in _RULE_MATCH_KEYS or key in ("dest", "src"):
                continue
            if key not in _RULE_OPTIONS:
                raise SaltInvocationError(
                    f"{srp_parse.describe(spec)}: srp_daemon.conf rules cannot carry {key!r} (srp_daemon takes "
                    f"{', '.join(_RULE_OPTIONS)} and refuses the whole file otherwise)"
                )
            opts.append(f"{key}={value}")
        # srp_daemon keeps an allow rule's options in 128 bytes (",k=v" each)
        # and reads lines into a 255-byte buffer.
        if sum(len(o) + 1 for o in opts) >= 128:
            raise SaltInvocationError(f"{srp_parse.describe(spec)}: too many options for one srp_daemon.conf rule")
        rule = "a " + ",".join(match + opts)
        if len(rule) >= 254:
            raise SaltInvocationError(f"{srp_parse.describe(spec)}: srp_daemon.conf rule longer than srp_daemon reads")
        if rule not in rules:
            rules.append(rule)
    # Comments must start in column 0 and no line may be blank-but-not-empty:
    # srp_daemon's parser takes any other line as a rule.
    header = [
        _HEADER.format(fun="persist_daemon_conf"),
        "# srp_daemon logs in to these target ports only; the last rule denies the rest.",
    ]
    return "\n".join(header + rules + ["d"]) + "\n"


def persist_daemon_conf(targets, test=False):
    """
    Write ``/etc/srp_daemon.conf`` (see :py:func:`render_srp_daemon_conf`):
    allow rules for exactly ``targets``, then deny everything else, so that
    srp_daemon (where it runs) logs in to the peer's LUN only. Returns True if
    the file changed (or would, with ``test=True``).

    CLI Example:

    .. code-block:: bash

        T=id_ext=0002c90300b77f40,ioc_guid=0002c90300b77f40,dgid=fe800000000000000002c90300b77f41
        salt '*' srp.persist_daemon_conf "$T,pkey=ffff,service_id=0002c90300b77f40"
    """
    text = render_srp_daemon_conf(targets)
    path = _path("srp_daemon_conf")
    if _read_file(path) == text:
        return False
    if not test:
        _write_file(path, text)
    return True


def rdma_conf_srp_load(test=False):
    """
    Ensure ``SRP_LOAD=yes`` in ``/etc/rdma/rdma.conf``, for systems whose rdma
    service still reads that file to load ib_srp at boot. Does nothing (False)
    when the file does not exist: current rdma-core loads modules through
    modules-load.d instead. Returns True if the file changed (or would).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.rdma_conf_srp_load
    """
    path = _path("rdma_conf")
    current = _read_file(path)
    if current is None:
        log.debug("srp: %s does not exist; SRP_LOAD not needed", path)
        return False
    lines = current.splitlines()
    out, placed = [], False
    for line in lines:
        if re.match(r"^\s*SRP_LOAD\s*=", line):
            if not placed:
                out.append("SRP_LOAD=yes")
            placed = True
        else:
            out.append(line)
    if not placed:
        out.append("SRP_LOAD=yes")
    if out == lines:
        return False
    if not test:
        _write_file(path, "\n".join(out) + "\n")
    return True
