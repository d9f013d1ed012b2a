"""
SCST target management through the kernel's sysfs ABI (``/sys/kernel/scst_tgt``).

This module talks to the SCST kernel modules directly, the way scstadmin's
``SCST.pm`` does, so it needs neither Perl nor scstadmin on the server. Every
object of the tree (handlers, devices, targets, security groups, LUNs,
initiators) is read from and written to sysfs; one management command is one
``write(2)`` because SCST silently drops anything after the first command of a
write.

Configuration (minion config or pillar, read with ``config.get``):

``mdtmirror:sysroot``
    prefix for every kernel and ``/etc`` path below (default ``/``); tests point
    it at an emulated host.
``mdtmirror:paths:<key>``
    override one path: ``scst_tgt``, ``infiniband``, ``sys_module``,
    ``scst_conf``, ``scst_default``, ``var_lib_scst``.
``mdtmirror:bin:modprobe``
    the modprobe binary.
``mdtmirror:scst_eagain_timeout``
    seconds to wait for a command SCST finishes later (EAGAIN), default 300
    like scstadmin.
"""

import errno
import logging
import os
import re
import stat
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import hostio, modprobe, scst_parse  # noqa: E402  (after current(): the fresh copy)

# The pure parsers and the scst.conf renderer live in the library; their names stay here for callers and tests.
from mdtmirror_lib.scst_parse import (  # noqa: E402
    default_t10_dev_id,
    parse_attr,
    parse_create_params,
    parse_default_scst,
    parse_export_link,
    parse_login_info,
    split_create_attrs,
)

log = logging.getLogger(__name__)

__virtualname__ = "scst"

# What Salt exposes as scst.* (pure parsers and renderers stay importable for
# tests but out of the CLI).
__all__ = [
    "is_loaded",
    "version",
    "list_handlers",
    "list_devices",
    "device_exists",
    "list_drivers",
    "list_targets",
    "list_groups",
    "local_ports",
    "local_targets",
    "port_target",
    "validate_device",
    "validate_name",
    "validate_initiator",
    "validate_lun",
    "initiator_by_id",
    "open_dev",
    "close_dev",
    "set_dev_attr",
    "add_group",
    "del_group",
    "add_init",
    "del_init",
    "add_lun",
    "del_lun",
    "enable_target",
    "disable_target",
    "set_tgt_attr",
    "set_drv_attr",
    "running_config",
    "render_config",
    "write_config",
    "modules_loaded",
    "module_parameters",
    "persisted_options",
    "legacy_options",
    "persist_options",
    "load",
]


_DEFAULT_PATHS = {
    "scst_tgt": "/sys/kernel/scst_tgt",
    "infiniband": "/sys/class/infiniband",
    "sys_module": "/sys/module",
    "scst_conf": "/etc/scst.conf",
    "scst_default": "/etc/default/scst",
    "modprobe_d": "/etc/modprobe.d",
    "var_lib_scst": "/var/lib/scst",
}

# SCST's mgmt tokenizer splits on blanks and '=' and splits parameter lists on
# ';' and newlines: none of these may appear in a name or value we send, or a
# caller could smuggle a second parameter or command into a write.
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_INITIATOR_RE = re.compile(r"^[A-Za-z0-9_.:\-*?!@]+$")
_VALUE_FORBIDDEN = re.compile(r"[\s=;#]")

# Logical block sizes a metadata LUN may have. SCST takes a power of two >= 512
# up to its limit (3.11-pre refuses 131072 with EINVAL, and a size above the
# backend's logical block size; older SCST took 131072 on a 128K zvol, which
# initiators then mis-handled); the MDT file system is made on 512 or 4096.
SAFE_BLOCKSIZES = (512, 4096)

# Modules an SCST SRP target needs, in load order.
TARGET_MODULES = ("scst", "scst_vdisk", "ib_srpt")


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------
# paths and low-level I/O
# --------------------------------------------------------------------------


def _config(key, default=None):
    return __salt__["config.get"](key, default)


def _path(key):
    return hostio.host_path(_config, key, _DEFAULT_PATHS)


def _root():
    root = _path("scst_tgt")
    # The version file, not the directory: an empty mountpoint is not SCST.
    if not os.path.exists(os.path.join(root, "version")):
        raise CommandExecutionError(
            f"SCST is not loaded: {root} does not exist (load the scst modules first: scst.load)"
        )
    return root


def is_loaded():
    """
    Return True if the SCST core is loaded (its sysfs tree exists).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.is_loaded
    """
    return os.path.exists(os.path.join(_path("scst_tgt"), "version"))


def _p(*parts):
    return os.path.join(_root(), *parts)


def _read_once(path):
    """
    One read of a sysfs file with raw syscalls. Python's buffered files turn
    an EAGAIN from read(2) into an empty ``None`` result; SCST answers EAGAIN
    while busy, so it must surface as an error here.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _read_raw(path, timeout=None):
    """Read a sysfs file, retrying EAGAIN (SCST answers it while busy)."""
    deadline = time.monotonic() + (timeout if timeout is not None else _eagain_timeout())
    while True:
        try:
            return _read_once(path)
        except OSError as exc:
            if exc.errno == errno.EAGAIN and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise


def _read(path):
    return parse_attr(_read_raw(path))[0]


def _eagain_timeout():
    return float(_config("mdtmirror:scst_eagain_timeout", 300))


def _mgmt_result():
    """Poll ``last_sysfs_mgmt_res`` until SCST has finished queued work."""
    path = os.path.join(_root(), "last_sysfs_mgmt_res")
    deadline = time.monotonic() + _eagain_timeout()
    while True:
        try:
            return int(_read_once(path).strip() or 0)
        except OSError as exc:
            if exc.errno != errno.EAGAIN or time.monotonic() >= deadline:
                raise CommandExecutionError(
                    f"SCST did not finish a queued command: reading {path}: {exc.strerror}"
                ) from exc
            time.sleep(0.5)


_errno_text = hostio.errno_text


def _write(path, command, what):
    """
    Write one command or value to a sysfs file, the way SCST wants it.

    ``what`` describes the object and command for error messages. EAGAIN means
    SCST queued the work: wait for ``last_sysfs_mgmt_res`` and report its
    errno. Any other errno becomes a CommandExecutionError naming ``what``.
    """
    data = (command + "\n").encode()
    try:
        # O_WRONLY without O_CREAT/O_TRUNC: a missing attribute gives ENOENT
        # instead of the misleading EACCES of open(path, "w").
        fd = os.open(path, os.O_WRONLY)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise CommandExecutionError(f"{what}: {path} does not exist") from exc
        if exc.errno == errno.EACCES:
            raise CommandExecutionError(f"{what}: {path} is read-only") from exc
        raise CommandExecutionError(f"{what}: cannot open {path}: {exc.strerror}") from exc
    try:
        os.write(fd, data)
    except OSError as exc:
        if exc.errno != errno.EAGAIN:
            raise CommandExecutionError(f"{what}: SCST refused '{command}' with {_errno_text(exc.errno)}") from exc
        result = _mgmt_result()
        if result != 0:
            raise CommandExecutionError(f"{what}: SCST finished '{command}' with {_errno_text(-result)}") from exc
    finally:
        os.close(fd)
    log.debug("scst: wrote %r to %s", command, path)


_listdir = hostio.listdir


def _subdirs(path):
    return [
        name
        for name in _listdir(path)
        if os.path.isdir(os.path.join(path, name)) and not os.path.islink(os.path.join(path, name))
    ]


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


def _check_name(kind, name):
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 64:
        raise SaltInvocationError(f"invalid {kind} name {name!r}: use letters, digits, '_', '.', ':', '-' (at most 64)")
    return name


def _check_initiator(name):
    if not isinstance(name, str) or not name or not _INITIATOR_RE.match(name):
        raise SaltInvocationError(f"invalid initiator name {name!r}: no blanks, '=', ';' or '#' allowed")
    return name


def _check_value(attr, value, mgmt=True):
    """
    Validate an attribute value. ``mgmt`` values go into a mgmt command, where
    SCST's tokenizer would split them; a direct attribute write only has to be
    one line.
    """
    if not isinstance(attr, str) or not _NAME_RE.match(attr):
        raise SaltInvocationError(f"invalid attribute name {attr!r}")
    if isinstance(value, bool):
        value = int(value)
    value = str(value)
    bad = _VALUE_FORBIDDEN.search(value) if mgmt else re.search(r"[\n\r]", value)
    if value == "" or bad:
        what = "blanks, '=', ';' or '#' (SCST would split it)" if mgmt else "line breaks"
        raise SaltInvocationError(
            f"invalid value {value!r} for attribute {attr!r}: it must be non-empty and contain no {what}"
        )
    return value


def _check_lun(lun):
    try:
        lun = int(lun)
    except (TypeError, ValueError):
        raise SaltInvocationError(f"invalid LUN {lun!r}: must be an integer 0..16383") from None
    if not 0 <= lun <= 16383:
        raise SaltInvocationError(f"invalid LUN {lun}: must be 0..16383")
    return lun


def _check_metadata_attrs(device, attributes, allow_nv_cache=False):
    """
    Refuse attribute values that endanger an MDT (see module docs). A
    refused value is a CommandExecutionError: salt-call prints it as one
    line (a SaltInvocationError comes with the function's whole docstring).
    """
    if "blocksize" in attributes:
        try:
            blocksize = int(str(attributes["blocksize"]), 0)
        except ValueError:
            raise CommandExecutionError(
                f"device {device}: blocksize {attributes['blocksize']!r} is not a number"
            ) from None
        if blocksize not in SAFE_BLOCKSIZES:
            raise CommandExecutionError(
                f"device {device}: blocksize {blocksize} is not 512 or 4096. blocksize is the "
                "logical sector size initiators see, not the zvol's volblocksize (128K "
                "is right for the zvol, wrong here)"
            )
    if str(attributes.get("nv_cache", "0")) not in ("0", "False") and not allow_nv_cache:
        raise CommandExecutionError(
            f"device {device}: nv_cache=1 makes SCST ignore cache flushes, so acknowledged "
            "metadata can be lost on a crash; pass allow_nv_cache=True only for a truly "
            "non-volatile backend"
        )


# --------------------------------------------------------------------------
# reading the tree
# --------------------------------------------------------------------------


def version():
    """
    Return the running SCST version (``3.11.0-pre``), or raise if SCST is not loaded.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.version
    """
    text = _read_raw(_p("version"))
    match = re.search(r"(\d+\.\d+\.\d+[\w.\-]*)", text)
    if not match:
        raise CommandExecutionError(f"cannot parse SCST version from {text!r}")
    return match.group(1)


def list_handlers():
    """
    Return the device handlers SCST has loaded, with their device type and the
    parameters their ``add_device`` accepts.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_handlers
    """
    base = _p("handlers")
    result = {}
    for name in _subdirs(base):
        path = os.path.join(base, name)
        entry = {"type": None, "create_params": [], "devices": []}
        if os.path.exists(os.path.join(path, "type")):
            entry["type"] = _read(os.path.join(path, "type"))
        if os.path.exists(os.path.join(path, "mgmt")):
            entry["create_params"] = parse_create_params(_read_raw(os.path.join(path, "mgmt")))
        entry["devices"] = [dev for dev in _listdir(path) if os.path.islink(os.path.join(path, dev))]
        result[name] = entry
    return result


def _read_attrs(path, skip=()):
    """Read every readable regular file of a sysfs dir: ``({attr: value}, [key attrs], {attr: writable})``."""
    values, keys, writable = {}, [], {}
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        entries = []
    for entry in sorted(entries, key=lambda e: e.name):
        name, full = entry.name, entry.path
        if name in skip or name == "mgmt":
            continue
        try:
            st = entry.stat(follow_symlinks=False)  # one lstat: links and dirs are not attributes
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        mode = st.st_mode
        writable[name] = bool(mode & 0o200)
        if not mode & 0o444:
            continue  # write-only triggers (sync, resync_size)
        try:
            value, is_key = parse_attr(_read_raw(full, timeout=5))
        except OSError:
            continue
        values[name] = value
        if is_key:
            keys.append(name)
    return values, keys, writable


def _device_info(name, root=None):
    path = os.path.join(root or _root(), "devices", name)
    handler_link = os.path.join(path, "handler")
    handler = os.path.basename(os.readlink(handler_link)) if os.path.islink(handler_link) else None
    values, keys, writable = _read_attrs(path)
    exports = []
    exported = os.path.join(path, "exported")
    for link in _listdir(exported):
        try:
            exports.append(parse_export_link(os.readlink(os.path.join(exported, link))))
        except (OSError, ValueError, IndexError):
            continue
    exports.sort(key=lambda e: (e["driver"], e["target"], e["group"] or "", e["lun"]))
    filename = values.get("filename")
    return {
        "name": name,
        "handler": handler,
        # The host's own SCSI devices (H:C:I:L), listed by SCST for pass-through; scstadmin hides them.
        "pass_through": handler is None and os.path.islink(os.path.join(path, "scsi_device")),
        "filename": None if filename in (None, "none") else filename,
        "attributes": values,
        "key_attributes": sorted(keys),
        "writable": sorted(a for a, w in writable.items() if w),
        "exported": exports,
    }


def list_devices(name=None):
    """
    Return SCST's devices: handler, backing filename, every attribute (with the
    ones SCST marks ``[key]``), and which targets/groups export each at which LUN.

    Pass-through devices (the host's own SCSI devices, ``H:C:I:L``) have
    ``pass_through: True`` and handler ``None``.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_devices
        salt '*' scst.list_devices MDT1
    """
    root = _root()  # once: config and the version file are not re-read per device
    names = [name] if name else _subdirs(os.path.join(root, "devices"))
    result = {}
    for dev in names:
        if not os.path.isdir(os.path.join(root, "devices", dev)):
            if name:
                raise CommandExecutionError(f"SCST device {dev!r} does not exist")
            continue
        result[dev] = _device_info(dev, root)
    return result


def device_exists(name):
    """
    Return True if the SCST device exists.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.device_exists MDT1
    """
    return os.path.isdir(_p("devices", _check_name("device", name)))


def list_drivers():
    """
    Return the target drivers SCST has loaded and their targets.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_drivers
    """
    base = _p("targets")
    result = {}
    for driver in _subdirs(base):
        path = os.path.join(base, driver)
        values, _keys, writable = _read_attrs(path)
        result[driver] = {
            "targets": _subdirs(path),
            "attributes": values,
            "writable": sorted(a for a, w in writable.items() if w),
            "can_add_target": os.path.exists(os.path.join(path, "mgmt")),
        }
    return result


def _lun_set(path):
    luns = {}
    for entry in _subdirs(path):
        if not entry.isdigit():
            continue
        link = os.path.join(path, entry, "device")
        device = os.path.basename(os.readlink(link)) if os.path.islink(link) else None
        read_only = os.path.join(path, entry, "read_only")
        ro = _read(read_only) == "1" if os.path.exists(read_only) else False
        luns[int(entry)] = {"device": device, "read_only": ro}
    return dict(sorted(luns.items()))


def _initiators(path):
    return [name for name in _listdir(path) if name != "mgmt"]


def _target_info(driver, target):
    path = _p("targets", driver, target)
    values, keys, writable = _read_attrs(path)
    groups = {}
    base = os.path.join(path, "ini_groups")
    for group in _subdirs(base):
        gpath = os.path.join(base, group)
        groups[group] = {
            "luns": _lun_set(os.path.join(gpath, "luns")),
            "initiators": _initiators(os.path.join(gpath, "initiators")),
        }
    enabled = values.get("enabled")
    return {
        "driver": driver,
        "name": target,
        "enabled": None if enabled is None else enabled == "1",
        "attributes": values,
        "key_attributes": sorted(keys),
        "writable": sorted(a for a, w in writable.items() if w),
        "luns": _lun_set(os.path.join(path, "luns")),
        "groups": groups,
        "sessions": _subdirs(os.path.join(path, "sessions")),
        "session_info": _sessions(os.path.join(path, "sessions")),
    }


def _sessions(path):
    """
    ``{session dir: {"initiator_name", "luns": {lun: device}}}``: a session's
    directory is named after its initiator with ``_1``, ``_2``... for more
    channels of the same one (``10.0.2.15_1``); ``initiator_name`` says who
    it is, and its ``luns`` link the LUN set it was given (a group's, or the
    target's default set).
    """
    out = {}
    for name in _subdirs(path):
        spath = os.path.join(path, name)
        luns = _lun_set(os.path.join(spath, "luns"))
        out[name] = {
            "initiator_name": _read(os.path.join(spath, "initiator_name")),
            "luns": {lun: info["device"] for lun, info in luns.items()},
        }
    return out


def list_targets(driver=None):
    """
    Return every target per driver: enabled, attributes, default LUN set,
    security groups (LUNs and initiators) and live sessions (``sessions``:
    their names; ``session_info``: each one's initiator name and LUNs).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_targets
        salt '*' scst.list_targets driver=ib_srpt
    """
    base = _p("targets")
    drivers = [driver] if driver else _subdirs(base)
    result = {}
    for drv in drivers:
        if not os.path.isdir(os.path.join(base, drv)):
            raise CommandExecutionError(f"SCST target driver {drv!r} is not loaded")
        result[drv] = {t: _target_info(drv, t) for t in _subdirs(os.path.join(base, drv))}
    return result


def list_groups(target, driver="ib_srpt"):
    """
    Return the security groups of one target with their LUNs and initiators.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_groups fe80:0000:0000:0000:0002:c903:0005:f34b
    """
    _require_target(driver, target)
    return _target_info(driver, target)["groups"]


def _require_target(driver, target):
    path = _p("targets", driver, target)
    if not os.path.isdir(path):
        known = _subdirs(_p("targets", driver)) if os.path.isdir(_p("targets", driver)) else []
        hint = ""
        if target.startswith("ib_srpt_target_"):
            hint = (
                " (since SCST 3.1 ib_srpt names one target per HCA port by its GID; use scst.local_targets to find it)"
            )
        raise CommandExecutionError(
            f"SCST target {driver}/{target} does not exist; targets of {driver}: {', '.join(known) or 'none'}{hint}"
        )
    return path


def _require_group(driver, target, group):
    path = os.path.join(_require_target(driver, target), "ini_groups", group)
    if not os.path.isdir(path):
        raise CommandExecutionError(f"SCST group {group!r} does not exist on target {driver}/{target}")
    return path


def _require_device(name):
    path = _p("devices", name)
    if not os.path.isdir(path):
        raise CommandExecutionError(f"SCST device {name!r} does not exist")
    return path


# --------------------------------------------------------------------------
# local HCA ports and the ib_srpt target that serves each
# --------------------------------------------------------------------------


def _read_opt(path, default=None):
    try:
        return _read(path)
    except OSError:
        return default


def local_ports():
    """
    Return the local RDMA ports (``/sys/class/infiniband``): HCA, port number,
    GID 0, link layer, state and node GUID.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.local_ports
    """
    return hostio.rdma_ports(_path("infiniband"))


def local_targets(driver="ib_srpt"):
    """
    Map each ib_srpt target to the local HCA port it serves.

    SCST >= 3.1 creates one target per port, named by the port's GID
    (``fe80:0000:...``); older SCST had one target per HCA named
    ``ib_srpt_target_<n>`` (the seed's ``ib_srpt_target_0``). Both are
    recognised; the result says which scheme each target follows.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.local_targets
    """
    base = _p("targets", driver)
    if not os.path.isdir(base):
        raise CommandExecutionError(f"SCST target driver {driver} is not loaded (modprobe ib_srpt)")
    ports = local_ports()
    by_gid = {p["gid"]: p for p in ports if p["gid"]}
    hcas = sorted({p["hca"] for p in ports})
    result = []
    for target in _subdirs(base):
        tpath = os.path.join(base, target)
        enabled = _read_opt(os.path.join(tpath, "enabled"))
        entry = {"target": target, "enabled": enabled == "1", "scheme": None, "hca": None, "port": None}
        # What an initiator needs to log in (tid_ext is add_target's id_ext).
        entry["login_info"] = parse_login_info(_read_opt(os.path.join(tpath, "login_info"), ""))
        if target in by_gid:
            port = by_gid[target]
            entry.update(
                scheme="port_gid", hca=port["hca"], port=port["port"], link_layer=port["link_layer"], gid=target
            )
        else:
            match = re.match(r"^ib_srpt_target_(\d+)$", target)
            if match:
                device = _read_opt(os.path.join(tpath, "device"))
                index = int(match.group(1))
                hca = device or (hcas[index] if index < len(hcas) else None)
                entry.update(scheme="per_hca", hca=hca)
            else:
                entry.update(scheme="unknown", hca=_read_opt(os.path.join(tpath, "device")))
        result.append(entry)
    return result


def port_target(hca=None, port=None, driver="ib_srpt"):
    """
    Return the name of the ib_srpt target serving a local HCA port.

    With no ``hca``/``port`` the machine must have exactly one candidate (an
    active port when several exist); otherwise the error lists them.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.port_target
        salt '*' scst.port_target hca=mlx5_0 port=1
    """
    targets = local_targets(driver)
    candidates = [
        t
        for t in targets
        if (hca is None or t["hca"] == hca)
        and (port is None or t["port"] in (None, int(port)))
        and t["scheme"] != "unknown"
    ]
    if len(candidates) > 1 and hca is None and port is None:
        active = {(p["hca"], p["port"]) for p in local_ports() if "ACTIVE" in (p["state"] or "")}
        narrowed = [c for c in candidates if (c["hca"], c["port"]) in active]
        if len(narrowed) == 1:
            candidates = narrowed
    if len(candidates) != 1:
        listing = ", ".join(f"{t['target']} ({t['hca']} port {t['port']})" for t in targets) or "none"
        want = f"hca={hca} port={port}" if (hca or port) else "no hca/port given"
        raise CommandExecutionError(
            f"cannot choose one {driver} target for {want}: {len(candidates)} match; "
            f"targets: {listing}. Set hca and port."
        )
    return candidates[0]["target"]


# --------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------


def _handler_params(handler):
    mgmt = _p("handlers", handler, "mgmt")
    if not os.path.exists(mgmt):
        known = [h for h in _subdirs(_p("handlers")) if os.path.exists(_p("handlers", h, "mgmt"))]
        raise CommandExecutionError(f"unknown SCST handler {handler!r}; loaded handlers: {', '.join(known) or 'none'}")
    return parse_create_params(_read_raw(mgmt))


# What SCST 3.11 takes for vdisk devices (notes/scst.md, the captured tree): add_device's
# parameters when the handler is not loaded yet to ask it, and the device attributes that can be
# written after add_device (mode 0644 under devices/<name>/). Anything else is refused before any
# write: SCST would create the device, refuse the attribute, and the device would have to go again.
_VDISK_COMMON = ("active", "bind_alua_state", "blocksize", "cluster_mode", "dif_filename", "dif_mode",
                 "dif_static_app_tag", "dif_type", "filename", "numa_node_id", "nv_cache", "read_only",
                 "removable", "rotational", "thin_provisioned", "tst", "t10_dev_id", "write_through")  # fmt: skip
VDISK_CREATE_PARAMS = {
    "vdisk_blockio": _VDISK_COMMON,
    "vdisk_fileio": (*_VDISK_COMMON, "async", "o_direct"),
}
VDISK_WRITABLE_ATTRS = frozenset(
    (
        "active",
        "bind_alua_state",
        "block",
        "cluster_mode",
        "eui64_id",
        "expl_alua",
        "filename",
        "inq_vend_specific",
        "lb_per_pb_exp",
        "max_tgt_dev_commands",
        "naa_id",
        "numa_node_id",
        "opt_trans_len",
        "pr_file_name",
        "prod_id",
        "prod_rev_lvl",
        "scsi_device_name",
        "size",
        "size_mb",
        "t10_dev_id",
        "t10_vend_id",
        "threads_num",
        "threads_pool_type",
        "usn",
        "vend_specific_id",
    )
)


def _check_known_attrs(name, handler, create_params, later):
    """Refuse vdisk attributes that are neither add_device parameters nor writable afterwards."""
    if handler not in VDISK_CREATE_PARAMS:
        return
    unknown = sorted(attr for attr in later if attr not in VDISK_WRITABLE_ATTRS)
    if unknown:
        raise CommandExecutionError(
            f"device {name}: {handler} has no attribute {', '.join(unknown)} (add_device takes "
            f"{', '.join(sorted(create_params))}; written afterwards: {', '.join(sorted(VDISK_WRITABLE_ATTRS))})"
        )


def _backing_problem(handler, filename):
    """
    What the kernel will refuse about a vdisk backing path, found before any
    write (so test=True does not promise a device the real run cannot open):
    a missing path (ENOENT); for vdisk_blockio one that is not a block device
    (ENOTBLK) or one another holder has open exclusively (EBUSY: vdisk_blockio
    opens its disk exclusively, and so do ZFS, LIO and mounts). None when it
    will open. The rules are ``mdtmirror.disk_problem``'s.
    """
    blockio = handler == "vdisk_blockio"
    return __salt__["mdtmirror.disk_problem"](filename, block=blockio, exclusive=blockio)


def validate_device(name, handler, filename=None, allow_nv_cache=False, check_backing=True, **attributes):
    """
    Check a device declaration without changing anything: names, values SCST
    could mis-tokenize, the metadata-safety rules, that the backing path
    exists (and is a block device for vdisk_blockio), that every attribute is
    one the handler takes or the device has, and that the handler is
    loaded. Returns ``(add_device params, attributes to write afterwards)``.
    ``check_backing=False`` skips the backing path (a device this run makes
    first, seen under test=True).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_device MDT1 vdisk_blockio filename=/dev/sdb blocksize=4096
    """
    _check_name("device", name)
    _check_name("handler", handler)
    attributes = {k: v for k, v in attributes.items() if not k.startswith("__")}
    if filename is not None:
        attributes["filename"] = filename
    if handler in ("vdisk_blockio", "vdisk_fileio") and not attributes.get("filename"):
        raise SaltInvocationError(f"device {name}: handler {handler} needs a filename")
    if "filename" in attributes and not str(attributes["filename"]).startswith("/"):
        raise SaltInvocationError(f"device {name}: filename {attributes['filename']!r} must be an absolute path")
    values = {attr: _check_value(attr, value) for attr, value in attributes.items()}
    _check_metadata_attrs(name, values, allow_nv_cache)
    if check_backing and handler in ("vdisk_blockio", "vdisk_fileio"):
        problem = _backing_problem(handler, values["filename"])
        if problem:
            raise CommandExecutionError(f"device {name}: filename {values['filename']} {problem}")
    if not is_loaded():
        # No handler to ask yet (test=True on a fresh host): check against what SCST 3.11 takes.
        create, later = split_create_attrs(VDISK_CREATE_PARAMS.get(handler, ()), values)
        _check_known_attrs(name, handler, VDISK_CREATE_PARAMS.get(handler, ()), later)
        return values, {}
    params = _handler_params(handler)
    create, later = split_create_attrs(params, values)
    _check_known_attrs(name, handler, params, later)
    return create, later


def initiator_by_id(name, attributes=None, setup_id=0):
    """
    The ``/dev/disk/by-id`` path an initiator's udev gives device ``name``
    exported by this SCST, from its identifiers (``attributes``: the ones the
    device is or will be created with; ``setup_id``: SCST's, 0 unless set).
    udev's scsi_id names a disk by the best designator of VPD page 0x83:
    ``scsi-3<NAA>`` when ``naa_id`` is set, else ``scsi-2<EUI-64>``; SCST with
    no ``eui64_id`` exports the first eight bytes of ``t10_dev_id`` as the
    EUI-64 (``80130d8a-MDT1`` -> ``scsi-23830313330643861``). Known before the
    device exists, so a pool over the peer's LUN can be planned before the
    SRP login that makes the disk appear.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.initiator_by_id MDT0
        salt '*' scst.initiator_by_id MDT0 attributes='{t10_dev_id: mdt0-mds01}'
    """
    _check_name("device", name)
    attributes = attributes or {}
    naa = str(attributes.get("naa_id") or "").lower().removeprefix("0x")
    if naa:
        return f"/dev/disk/by-id/scsi-3{naa}"
    eui = str(attributes.get("eui64_id") or "").lower().removeprefix("0x")
    if not eui:
        t10 = str(attributes.get("t10_dev_id") or default_t10_dev_id(name, setup_id))
        eui = (t10.encode("latin-1") + b"\0" * 8)[:8].hex()
    return f"/dev/disk/by-id/scsi-2{eui}"


def validate_name(kind, name):
    """
    Check a device, group, handler or driver name for characters SCST would
    split on. ``kind`` only words the error.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_name group MDS
    """
    return _check_name(kind, name)


def validate_initiator(name):
    """
    Check an initiator name (or pattern) for characters SCST would split on.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_initiator 10.0.2.15
    """
    return _check_initiator(name)


def validate_lun(lun):
    """
    Check a LUN number (0..16383) and return it as an int.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_lun 0
    """
    return _check_lun(lun)


def open_dev(name, handler, filename=None, allow_nv_cache=False, **attributes):
    """
    Create an SCST device (``add_device``) on a backing path.

    Attributes that are not ``add_device`` parameters of the handler are
    written after creation. Metadata safety: ``blocksize`` must be 512 or
    4096; ``nv_cache=1`` is refused unless ``allow_nv_cache=True``; if SCST
    silently switched the device to NV_CACHE mode because the backend cannot
    flush, the device is closed again and an error raised. On any failure the
    device is removed, so nothing is left half-made.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.open_dev MDT1 vdisk_blockio filename=/dev/zvol/shps-meta/MDT blocksize=4096
    """
    create, later = validate_device(name, handler, filename=filename, allow_nv_cache=allow_nv_cache, **attributes)
    if os.path.isdir(_p("devices", name)):
        raise CommandExecutionError(f"SCST device {name!r} already exists")
    command = "add_device " + name
    if create:
        command += " " + ";".join(f"{k}={v}" for k, v in create.items())
    _write(_p("handlers", handler, "mgmt"), command, f"opening device {name} with handler {handler}")
    try:
        for attr, value in later.items():
            set_dev_attr(name, attr, value)
        if handler == "vdisk_blockio" and not allow_nv_cache:
            nv_cache = _read_opt(_p("devices", name, "nv_cache"), "0")
            if nv_cache != "0":
                raise CommandExecutionError(
                    f"SCST switched device {name} to NV_CACHE mode: its backend "
                    f"{create.get('filename')} does not support cache flushes, so metadata "
                    "written to it could be lost on a crash. The device was closed again."
                )
    except Exception:
        _write(_p("handlers", handler, "mgmt"), "del_device " + name, f"closing half-made device {name}")
        raise
    return _device_info(name)


def _user_exports(info):
    # copy_manager LUNs are created by SCST for every vdisk device; they are
    # not an export anyone configured.
    return [e for e in info["exported"] if e["driver"] != "copy_manager"]


def close_dev(name, force=False):
    """
    Delete an SCST device (``del_device``).

    Refused while a target or group exports it at a LUN, unless ``force=True``
    (SCST itself would silently remove those LUNs and the initiators lose the
    disk).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.close_dev MDT1
        salt '*' scst.close_dev MDT1 force=True
    """
    _check_name("device", name)
    _require_device(name)
    info = _device_info(name)
    users = _user_exports(info)
    if users and not force:
        where = "; ".join(
            f"{e['driver']}/{e['target']}" + (f" group {e['group']}" if e["group"] else "") + f" LUN {e['lun']}"
            for e in users
        )
        raise CommandExecutionError(
            f"SCST device {name} is exported ({where}); remove those LUNs first or pass force=True"
        )
    handler = info["handler"]
    if handler is None:
        raise CommandExecutionError(f"SCST device {name} is a pass-through device; not closing it")
    _write(_p("handlers", handler, "mgmt"), "del_device " + name, f"closing device {name}")
    return True


def set_dev_attr(name, attr, value):
    """
    Write one device attribute (only attributes SCST makes writable).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.set_dev_attr MDT1 t10_vend_id MDTM
    """
    _check_name("device", name)
    value = _check_value(attr, value, mgmt=False)
    path = os.path.join(_require_device(name), attr)
    if not os.path.exists(path):
        raise CommandExecutionError(f"SCST device {name} has no attribute {attr!r}")
    if not os.stat(path).st_mode & 0o200:
        raise CommandExecutionError(
            f"attribute {attr!r} of SCST device {name} is read-only: it can only be set "
            "when the device is created (close and re-open it)"
        )
    if attr in ("blocksize", "nv_cache"):
        _check_metadata_attrs(name, {attr: value})
    _write(path, value, f"setting {attr}={value} on device {name}")
    return True


# --------------------------------------------------------------------------
# groups, initiators, LUNs, targets
# --------------------------------------------------------------------------


def add_group(target, group, driver="ib_srpt"):
    """
    Create a security group on a target.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_group fe80:0000:0000:0000:0002:c903:0005:f34b MDS
    """
    _check_name("group", group)
    path = os.path.join(_require_target(driver, target), "ini_groups")
    if os.path.isdir(os.path.join(path, group)):
        raise CommandExecutionError(f"SCST group {group} already exists on {driver}/{target}")
    _write(os.path.join(path, "mgmt"), "create " + group, f"creating group {group} on {driver}/{target}")
    return True


def del_group(target, group, driver="ib_srpt", force=False):
    """
    Delete a security group. Refused while it still has LUNs or initiators
    unless ``force=True``.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_group fe80:0000:0000:0000:0002:c903:0005:f34b MDS
    """
    _check_name("group", group)
    gpath = _require_group(driver, target, group)
    luns = _lun_set(os.path.join(gpath, "luns"))
    inits = _initiators(os.path.join(gpath, "initiators"))
    if (luns or inits) and not force:
        raise CommandExecutionError(
            f"SCST group {group} on {driver}/{target} is in use ({len(luns)} LUNs, "
            f"{len(inits)} initiators); pass force=True to delete it"
        )
    _write(
        os.path.join(_p("targets", driver, target, "ini_groups"), "mgmt"),
        "del " + group,
        f"deleting group {group} on {driver}/{target}",
    )
    return True


def add_init(target, group, initiator, driver="ib_srpt"):
    """
    Allow an initiator (its port GID on InfiniBand, its IP address over
    RDMA/CM) into a security group.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_init fe80:0000:0000:0000:0002:c903:0005:f34b MDS fe80:0000:0000:0000:0002:c903:0003:cca7
    """
    _check_initiator(initiator)
    gpath = _require_group(driver, target, group)
    for other, info in _target_info(driver, target)["groups"].items():
        if other != group and initiator in info["initiators"]:
            raise CommandExecutionError(
                f"initiator {initiator} already belongs to group {other} of {driver}/{target}; "
                "SCST would let the first group win"
            )
    _write(
        os.path.join(gpath, "initiators", "mgmt"),
        "add " + initiator,
        f"adding initiator {initiator} to group {group} of {driver}/{target}",
    )
    return True


def del_init(target, group, initiator, driver="ib_srpt"):
    """
    Remove an initiator from a security group.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_init fe80:0000:0000:0000:0002:c903:0005:f34b MDS 10.0.2.15
    """
    _check_initiator(initiator)
    gpath = _require_group(driver, target, group)
    _write(
        os.path.join(gpath, "initiators", "mgmt"),
        "del " + initiator,
        f"removing initiator {initiator} from group {group} of {driver}/{target}",
    )
    return True


def _luns_dir(driver, target, group):
    if group:
        return os.path.join(_require_group(driver, target, group), "luns")
    return os.path.join(_require_target(driver, target), "luns")


def _where(driver, target, group):
    return f"{driver}/{target}" + (f" group {group}" if group else "")


def add_lun(target, lun, device, group=None, driver="ib_srpt", read_only=False):
    """
    Map a device at a LUN of a group (or of the target's default LUN set).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_lun fe80:0000:0000:0000:0002:c903:0005:f34b 0 MDT1 group=MDS
    """
    lun = _check_lun(lun)
    _check_name("device", device)
    luns_dir = _luns_dir(driver, target, group)
    _require_device(device)
    existing = _lun_set(luns_dir)
    if lun in existing:
        raise CommandExecutionError(
            f"LUN {lun} of {_where(driver, target, group)} is already used by device {existing[lun]['device']}"
        )
    command = f"add {device} {lun}" + (" read_only=1" if read_only else "")
    _write(os.path.join(luns_dir, "mgmt"), command, f"mapping {device} at LUN {lun} of {_where(driver, target, group)}")
    return True


def del_lun(target, lun, group=None, driver="ib_srpt"):
    """
    Remove a LUN mapping.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_lun fe80:0000:0000:0000:0002:c903:0005:f34b 0 group=MDS
    """
    lun = _check_lun(lun)
    luns_dir = _luns_dir(driver, target, group)
    _write(os.path.join(luns_dir, "mgmt"), f"del {lun}", f"removing LUN {lun} of {_where(driver, target, group)}")
    return True


def _set_enabled(driver, target, value):
    path = os.path.join(_require_target(driver, target), "enabled")
    if not os.path.exists(path):
        raise CommandExecutionError(f"SCST target {driver}/{target} cannot be enabled or disabled")
    _write(path, value, f"{'enabling' if value == '1' else 'disabling'} target {driver}/{target}")
    return True


def enable_target(target, driver="ib_srpt"):
    """
    Enable a target: initiators can log in from now on. Put LUNs and
    initiators in place first: SCST assigns a session its group at login.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.enable_target fe80:0000:0000:0000:0002:c903:0005:f34b
    """
    return _set_enabled(driver, target, "1")


def disable_target(target, driver="ib_srpt"):
    """
    Disable a target (closes every session of that port).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.disable_target fe80:0000:0000:0000:0002:c903:0005:f34b
    """
    return _set_enabled(driver, target, "0")


def set_tgt_attr(target, attr, value, driver="ib_srpt"):
    """
    Write one target attribute (``comment``, ``port_id``, ``rel_tgt_id``...).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.set_tgt_attr fe80:0000:0000:0000:0002:c903:0005:f34b rel_tgt_id 1
    """
    value = _check_value(attr, value, mgmt=False)
    path = os.path.join(_require_target(driver, target), attr)
    if attr == "enabled":
        return _set_enabled(driver, target, value)
    if not os.path.isfile(path):
        raise CommandExecutionError(f"SCST target {driver}/{target} has no attribute {attr!r}")
    if not os.stat(path).st_mode & 0o200:
        raise CommandExecutionError(f"attribute {attr!r} of SCST target {driver}/{target} is read-only")
    _write(path, value, f"setting {attr}={value} on target {driver}/{target}")
    return True


def set_drv_attr(driver, attr, value):
    """
    Write one target-driver attribute.

    ib_srpt has no driver attributes since SCST 3.1 (the seed's
    ``enabled=1`` step): enable each port's target instead.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.set_drv_attr copy_manager allow_not_connected_copy 1
    """
    _check_name("driver", driver)
    value = _check_value(attr, value, mgmt=False)
    base = _p("targets", driver)
    if not os.path.isdir(base):
        raise CommandExecutionError(f"SCST target driver {driver!r} is not loaded")
    path = os.path.join(base, attr)
    if not os.path.isfile(path):
        hint = ""
        if driver == "ib_srpt" and attr == "enabled":
            hint = "; since SCST 3.1 ib_srpt has no driver-level enabled: enable each target (scst.enable_target)"
        raise CommandExecutionError(f"SCST driver {driver} has no attribute {attr!r}{hint}")
    if not os.stat(path).st_mode & 0o200:
        raise CommandExecutionError(f"attribute {attr!r} of SCST driver {driver} is read-only")
    _write(path, value, f"setting {attr}={value} on driver {driver}")
    return True


# --------------------------------------------------------------------------
# /etc/scst.conf
# --------------------------------------------------------------------------

# Device attributes written to scst.conf: key attributes that are creation
# parameters or writable, minus these:
#  - size/size_mb: re-applying an old size after the backend grew shrinks
#    the LUN in SCST's view (scstadmin always writes it; we never do);
#  - runtime state that SCST derives (thin_provisioned is detected unless
#    given, pr_file_name, ...).
_CONF_SKIP_DEVICE_ATTRS = {
    "size",
    "size_mb",
    "pr_file_name",
    "pr_state",
    "type",
    "block",
    "threads_num",
    "threads_pool_type",
    "exported",
}
_CONF_SKIP_TARGET_ATTRS = {"enabled", "hw_target"}
_CONF_SKIP_DRIVERS = {"copy_manager"}


def running_config():
    """
    Return the running SCST configuration as data: what :py:func:`write_config`
    renders.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.running_config
    """
    handlers = list_handlers()
    devices = list_devices()
    config = {"handlers": {}, "drivers": {}}
    for handler, hinfo in handlers.items():
        if not hinfo["devices"]:
            continue
        create = {p.lower() for p in hinfo["create_params"]}
        for dev in sorted(hinfo["devices"]):
            info = devices.get(dev)
            if info is None:
                continue
            attrs = {}
            for attr in info["key_attributes"]:
                if attr in _CONF_SKIP_DEVICE_ATTRS:
                    continue
                if attr.lower() in create or attr in info["writable"]:
                    attrs[attr] = info["attributes"][attr]
            config["handlers"].setdefault(handler, {})[dev] = attrs
    for driver, targets in list_targets().items():
        if driver in _CONF_SKIP_DRIVERS:
            continue
        drv = {}
        for target, tinfo in targets.items():
            attrs = {
                a: tinfo["attributes"][a]
                for a in tinfo["key_attributes"]
                if a not in _CONF_SKIP_TARGET_ATTRS and a in tinfo["writable"]
            }
            drv[target] = {
                "attributes": attrs,
                "enabled": tinfo["enabled"],
                "luns": tinfo["luns"],
                "groups": tinfo["groups"],
            }
        config["drivers"][driver] = drv
    return config


def render_config(config, header="# Written by mdtmirror (salt scst.write_config)."):
    """
    Render configuration data (see :py:func:`running_config`) as an
    ``/etc/scst.conf`` that ``scstadmin -config`` accepts
    (``mdtmirror_lib.scst_parse.render_config`` says what differs from
    ``scstadmin -write_config``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.render_config "$(salt-call --out=json scst.running_config | jq .local)"
    """
    return scst_parse.render_config(config, header)


def write_config(path=None, test=False):
    """
    Save the running SCST configuration to ``/etc/scst.conf`` (or ``path``) so
    that SCST's init script (``scstadmin -config``) restores it at boot.
    Written atomically; returns ``{"path", "changed", "existed", "text" (what
    is written), "current" (what the file held)}``.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.write_config
    """
    path = path or _path("scst_conf")
    if test and not is_loaded():
        # Nothing to render yet; a real run after loading SCST will write it.
        return {"path": path, "changed": True, "existed": os.path.exists(path), "text": None, "current": None}
    text = render_config(running_config())
    current = hostio.read_text(path)
    changed = current != text
    existed = current is not None
    if changed and not test:
        hostio.write_text(path, text)
    return {"path": path, "changed": changed, "existed": existed, "text": text, "current": current}


# --------------------------------------------------------------------------
# kernel modules
# --------------------------------------------------------------------------


def modules_loaded(modules=TARGET_MODULES):
    """
    Return ``{module: loaded}`` for the SCST kernel modules (``/sys/module``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.modules_loaded
    """
    if isinstance(modules, str):
        modules = [m.strip() for m in modules.split(",") if m.strip()]
    base = _path("sys_module")
    return {mod: os.path.isdir(os.path.join(base, mod)) for mod in modules}


def module_parameters(module):
    """
    Return the parameters a loaded kernel module runs with
    (``/sys/module/<module>/parameters``), or None if it is not loaded.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.module_parameters ib_srpt
    """
    _check_name("module", module)
    base = os.path.join(_path("sys_module"), module)
    if not os.path.isdir(base):
        return None
    params = {}
    pdir = os.path.join(base, "parameters")
    for name in _listdir(pdir):
        try:
            params[name] = _read_raw(os.path.join(pdir, name), timeout=0)
        except OSError:
            continue
        params[name] = params[name].strip()
    return params


def _format_options(options):
    parts = []
    for key, value in sorted((options or {}).items()):
        if isinstance(value, bool):
            value = int(value)
        _check_value(key, value)
        parts.append(f"{key}={value}")
    return parts


def _modprobe_conf(module):
    return os.path.join(_path("modprobe_d"), f"{module}.conf")


_read_text = hostio.read_text


def parse_modprobe_options(text, module):
    """``{option: value}`` of the ``options <module> ...`` lines of a modprobe.d file (later ones win)."""
    return modprobe.options(text, module)


def persisted_options(module):
    """
    Return the options ``module`` gets at boot: the ``options <module>``
    line of ``/etc/modprobe.d/<module>.conf`` (modprobe reads it whoever
    loads the module; SCST's init script runs a bare ``modprobe``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.persisted_options ib_srpt
    """
    return parse_modprobe_options(_read_text(_modprobe_conf(module)), module)


def legacy_options(module):
    """
    The ``<module>_parameters`` line of ``/etc/default/scst`` (what older
    mdtmirror wrote; SCST's init script has not read it since 2011), or
    None. :py:func:`persist_options` moves it away.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.legacy_options ib_srpt
    """
    return parse_default_scst(_read_text(_path("scst_default")) or "").get(f"{module}_parameters")


def persist_options(module, options, test=False):
    """
    Persist module options as ``options <module> k=v ...`` in
    ``/etc/modprobe.d/<module>.conf`` (the whole file is ours), where
    modprobe finds them at boot, and remove a ``<module>_parameters`` line
    left in ``/etc/default/scst``. Returns True if a file changed (or would,
    with ``test=True``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.persist_options ib_srpt '{rdma_cm_port: 5555}'
    """
    _check_name("module", module)
    parts = _format_options(options)
    path = _modprobe_conf(module)
    wanted = f"# Written by mdtmirror (scst.persist_options): {module}'s options at load time.\n"
    wanted += f"options {module} {' '.join(parts)}\n" if parts else ""
    changed = _read_text(path) != wanted
    default = _path("scst_default")
    legacy = _read_text(default)
    var = re.compile(rf"^\s*{re.escape(module)}_parameters=")
    kept = None if legacy is None else [line for line in legacy.splitlines() if not var.match(line)]
    migrate = legacy is not None and kept != legacy.splitlines()
    if not test:
        if changed:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(wanted)
        if migrate:
            with open(default, "w", encoding="utf-8") as handle:
                handle.write("\n".join(kept) + ("\n" if kept else ""))
    return changed or migrate


def load(modules=TARGET_MODULES, options=None):
    """
    Load SCST kernel modules with ``modprobe``, in order, with their options
    (``{"ib_srpt": {"rdma_cm_port": 5555}}``). Already loaded modules are left
    alone (options only apply at load time). Also creates ``/var/lib/scst/pr``
    and ``/var/lib/scst/vdev_mode_pages``, without which SCST keeps no
    persistent reservations. Returns the list of modules loaded now.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.load
        salt '*' scst.load options='{ib_srpt: {rdma_cm_port: 5555}}'
    """
    if isinstance(modules, str):
        modules = [m.strip() for m in modules.split(",") if m.strip()]
    options = options or {}
    for sub in ("pr", "vdev_mode_pages"):
        os.makedirs(os.path.join(_path("var_lib_scst"), sub), exist_ok=True)
    loaded_now = []
    state = modules_loaded(modules)
    modprobe = _config("mdtmirror:bin:modprobe", "modprobe")
    for mod in modules:
        _check_name("module", mod)
        if state[mod]:
            continue
        cmd = [modprobe, mod] + _format_options(options.get(mod))
        ret = __salt__["cmd.run_all"](cmd, python_shell=False)
        if ret["retcode"] != 0:
            raise CommandExecutionError(
                f"modprobe {mod} failed ({ret['retcode']}): {(ret.get('stderr') or ret.get('stdout') or '').strip()}"
            )
        loaded_now.append(mod)
    return loaded_now
