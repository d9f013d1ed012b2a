"""
SCST's sysfs tree (``/sys/kernel/scst_tgt``) as objects, one class per kind of
kernel object so that the code's tree is the kernel's tree (the shape
rtslib-fb gives LIO's configfs):

- :py:class:`SCST`, the root: ``handlers/``, ``devices/``, ``targets/``, and
  the one kernel-write path (:py:meth:`SCST.write`);
- :py:class:`Handler` (``handlers/<h>``: ``add_device``/``del_device``),
  :py:class:`Device` (``devices/<d>``: attributes, ``exported/`` links);
- :py:class:`Driver` (``targets/<drv>``), :py:class:`Target`
  (``targets/<drv>/<t>``: ``enabled``, ``ini_groups/mgmt``),
  :py:class:`Group` (``ini_groups/<g>``), :py:class:`LunSet` (a ``luns/`` dir:
  a target's default set, a group's, the one a session uses) and its
  :py:class:`Lun`\\ s, :py:class:`InitiatorSet` (``initiators/``),
  :py:class:`Session` (``sessions/<s>``).

Each object knows its path, reads its attributes (the ``[key]`` marker split
off by :py:func:`mdtmirror_lib.scst_parse.parse_attr`) and makes its changes
through SCST's ``mgmt`` files or its own attribute files, always with
:py:meth:`SCST.write`: one command per ``write(2)`` (SCST silently drops
anything after the first command of a write); EAGAIN means SCST queued the
work, whose result is then read from ``last_sysfs_mgmt_res`` (with a timeout);
any errno becomes a CommandExecutionError naming the object and command.

No Salt dunders: the caller hands in the resolved root path and its
``config.get`` (for ``mdtmirror:scst_eagain_timeout``). ``info()`` of each
object is what the scst module's listings return for it.
"""

import errno
import logging
import os
import re
import stat
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import hostio
from mdtmirror_lib.scst_parse import (
    CONF_SKIP_DRIVERS,
    parse_attr,
    parse_create_params,
    parse_export_link,
    parse_login_info,
)
from mdtmirror_lib.scst_rules import check_metadata_attrs, check_value

log = logging.getLogger(__name__)

# Seconds to wait for a command SCST finishes later (EAGAIN), like scstadmin.
DEFAULT_EAGAIN_TIMEOUT = 300


def read_raw(path, timeout, dir_fd=None):
    """Read a sysfs file, retrying EAGAIN (SCST answers it while busy) for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return hostio.read_raw(path, dir_fd)
        except OSError as exc:
            if exc.errno == errno.EAGAIN and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise


def subdirs(path):
    """The real subdirectories of ``path`` (the kernel objects under it; links are not), sorted."""
    with hostio.opendir(path) as dir_fd:
        if dir_fd is None:
            return []
        try:
            # Each entry is looked at by name in the open directory (no walk of the whole path again).
            return sorted(entry.name for entry in os.scandir(dir_fd) if _is_real_dir(entry))
        except FileNotFoundError:
            return []  # the object went away after the open


def _is_real_dir(entry):
    try:
        return entry.is_dir(follow_symlinks=False)
    except FileNotFoundError:
        return False


def _link_name(path):
    return os.path.basename(os.readlink(path)) if os.path.islink(path) else None


class SCST:
    """The root, ``/sys/kernel/scst_tgt``: raises CommandExecutionError if SCST is not loaded."""

    def __init__(self, path, get=None):
        # The version file, not the directory: an empty mountpoint is not SCST.
        if not self.loaded(path):
            raise CommandExecutionError(
                f"SCST is not loaded: {path} does not exist (load the scst modules first: scst.load)"
            )
        self.path = path
        self._get = get

    def __repr__(self):
        return f"SCST({self.path!r})"

    @staticmethod
    def loaded(path):
        return os.path.exists(os.path.join(path, "version"))

    def eagain_timeout(self):
        if self._get is None:
            return float(DEFAULT_EAGAIN_TIMEOUT)
        return float(self._get("mdtmirror:scst_eagain_timeout", DEFAULT_EAGAIN_TIMEOUT))

    # -- kernel I/O ---------------------------------------------------------

    def read_raw(self, path, timeout=None):
        return read_raw(path, self.eagain_timeout() if timeout is None else timeout)

    def read(self, path):
        """An attribute's value, ``[key]`` split off."""
        return parse_attr(self.read_raw(path))[0]

    def read_opt(self, path, default=None):
        try:
            return self.read(path)
        except OSError:
            return default

    def read_attrs(self, path, skip=(), wanted=None):
        """Read every readable regular file of a sysfs dir: ``({attr: value}, [key attrs], {attr: writable})``;
        with ``wanted(name, writable)``, only the files it says yes to (``writable`` lists them all)."""
        values, keys, writable = {}, [], {}
        with hostio.opendir(path) as dir_fd:
            try:
                entries = [] if dir_fd is None else list(os.scandir(dir_fd))
            except FileNotFoundError:
                entries = []  # the object went away after the open
            for entry in sorted(entries, key=lambda e: e.name):
                name = entry.name
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
                if wanted is not None and not wanted(name, writable[name]):
                    continue
                try:
                    value, is_key = parse_attr(read_raw(name, 5, dir_fd))
                except OSError:
                    continue
                values[name] = value
                if is_key:
                    keys.append(name)
        return values, keys, writable

    def mgmt_result(self):
        """Poll ``last_sysfs_mgmt_res`` until SCST has finished queued work."""
        path = os.path.join(self.path, "last_sysfs_mgmt_res")
        deadline = time.monotonic() + self.eagain_timeout()
        while True:
            try:
                text = hostio.read_raw(path).strip()
                return int(text or 0)
            except ValueError:
                # SCST writes a number (0 or -errno); anything else is no result to act on.
                raise CommandExecutionError(f"SCST's {path} holds no result code: {text!r}") from None
            except OSError as exc:
                if exc.errno != errno.EAGAIN or time.monotonic() >= deadline:
                    raise CommandExecutionError(
                        f"SCST did not finish a queued command: reading {path}: {exc.strerror}"
                    ) from exc
                time.sleep(0.5)

    def write(self, path, command, what):
        """
        The one kernel-write path: one command or value to a sysfs file, the way SCST wants it.

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
                raise CommandExecutionError(
                    f"{what}: SCST refused '{command}' with {hostio.errno_text(exc.errno)}"
                ) from exc
            result = self.mgmt_result()
            if result != 0:
                raise CommandExecutionError(
                    f"{what}: SCST finished '{command}' with {hostio.errno_text(-result)}"
                ) from exc
        finally:
            os.close(fd)
        log.debug("scst: wrote %r to %s", command, path)

    # -- the tree -------------------------------------------------------------

    def version(self):
        """The running SCST version (``3.11.0-pre``)."""
        text = self.read_raw(os.path.join(self.path, "version"))
        match = re.search(r"(\d+\.\d+\.\d+[\w.\-]*)", text)
        if not match:
            raise CommandExecutionError(f"cannot parse SCST version from {text!r}")
        return match.group(1)

    def handlers(self):
        return [Handler(self, name) for name in subdirs(os.path.join(self.path, "handlers"))]

    def handler(self, name):
        return Handler(self, name)

    def devices(self):
        return [Device(self, name) for name in subdirs(os.path.join(self.path, "devices"))]

    def device(self, name, must_exist=False):
        device = Device(self, name)
        if must_exist and not device.exists():
            raise CommandExecutionError(f"SCST device {name!r} does not exist")
        return device

    def drivers(self):
        return [Driver(self, name) for name in subdirs(os.path.join(self.path, "targets"))]

    def driver(self, name, must_exist=False):
        driver = Driver(self, name)
        if must_exist and not driver.exists():
            raise CommandExecutionError(f"SCST target driver {name!r} is not loaded")
        return driver

    def target(self, driver, name, must_exist=False):
        target = Target(Driver(self, driver), name)
        if must_exist and not target.exists():
            known = target.driver.target_names() if target.driver.exists() else []
            hint = ""
            if name.startswith("ib_srpt_target_"):
                hint = (
                    " (since SCST 3.1 ib_srpt names one target per HCA port by its GID;"
                    " use scst.local_targets to find it)"
                )
            raise CommandExecutionError(
                f"SCST target {driver}/{name} does not exist; targets of {driver}: {', '.join(known) or 'none'}{hint}"
            )
        return target

    def group(self, driver, target, name):
        """A security group that must exist (its target too)."""
        group = self.target(driver, target, must_exist=True).group(name)
        if not group.exists():
            raise CommandExecutionError(f"SCST group {name!r} does not exist on target {driver}/{target}")
        return group

    def lun_set(self, driver, target, group=None):
        """The LUN set of a group, or of the target (its default set) when ``group`` is None; it must exist."""
        if group:
            return self.group(driver, target, group).luns
        return self.target(driver, target, must_exist=True).luns

    def open_device(self, name, handler, create, later, allow_nv_cache=False):
        """
        ``add_device`` with the ``create`` parameters, then write the ``later``
        attributes (both from ``scst_rules.validate_device``). If SCST silently
        switched a vdisk_blockio device to NV_CACHE mode because the backend
        cannot flush (and ``allow_nv_cache`` is not set), or anything fails
        after the add_device, the device is deleted again: nothing is left
        half-made. Returns the device's ``info()``.
        """
        device = self.device(name)
        if device.exists():
            raise CommandExecutionError(f"SCST device {name!r} already exists")
        hnd = self.handler(handler)
        hnd.add_device(name, create, f"opening device {name} with handler {handler}")
        try:
            for attr, value in later.items():
                device.set_attribute(attr, check_value(attr, value, mgmt=False))
            if handler == "vdisk_blockio" and not allow_nv_cache:
                nv_cache = device.read_opt("nv_cache", "0")
                if nv_cache != "0":
                    raise CommandExecutionError(
                        f"SCST switched device {name} to NV_CACHE mode: its backend "
                        f"{create.get('filename')} does not support cache flushes, so metadata "
                        "written to it could be lost on a crash. The device was closed again."
                    )
        except Exception:
            hnd.del_device(name, f"closing half-made device {name}")
            raise
        return device.info()

    def devices_info(self, name=None):
        """``{device: Device.info()}`` of every device, or of ``name`` only (which must exist)."""
        names = [name] if name else subdirs(os.path.join(self.path, "devices"))
        result = {}
        for dev in names:
            device = Device(self, dev)
            if not device.exists():
                if name:
                    raise CommandExecutionError(f"SCST device {dev!r} does not exist")
                continue
            result[dev] = device.info()
        return result

    def config_listings(self):
        """
        ``(handlers, devices, targets)`` as ``scst.list_handlers``, ``scst.list_devices`` and
        ``scst.list_targets`` give them, with only what ``scst_parse.running_config`` reads: the devices
        of handlers (their attributes; not the host's pass-through devices, not where they are
        exported), and the targets of the drivers scst.conf lists (no sessions, no copy_manager).
        A no-op state run saves the configuration every time: this is most of its SCST reading.
        """
        # A handler without devices leaves no trace in scst.conf: its type and add_device help are not read.
        handlers = {handler.name: handler.info() for handler in self.handlers() if handler.device_names()}
        devices = {}
        for hinfo in handlers.values():
            # scst.conf keeps a device attribute only if it is writable or an add_device parameter, and a
            # target attribute only if it is writable: the others' values (statistics, ids) are not read.
            create = {p.lower() for p in hinfo["create_params"]}
            for name in hinfo["devices"]:
                values, keys, writable = Device(self, name).attributes(lambda a, w, c=create: w or a.lower() in c)
                devices[name] = {
                    "attributes": values,
                    "key_attributes": sorted(keys),
                    "writable": sorted(a for a, w in writable.items() if w),
                }
        targets = {
            driver.name: {target.name: target.config_info() for target in driver.targets()}
            for driver in self.drivers()
            if driver.name not in CONF_SKIP_DRIVERS
        }
        return handlers, devices, targets

    def targets_info(self, driver=None):
        """``{driver: {target: Target.info()}}`` of every driver, or of ``driver`` only (which must be loaded)."""
        drivers = [driver] if driver else subdirs(os.path.join(self.path, "targets"))
        result = {}
        for drv in drivers:
            drv_obj = self.driver(drv, must_exist=True)
            result[drv] = {t.name: t.info() for t in drv_obj.targets()}
        return result


class Node:
    """A directory of the tree: its path and its attribute files."""

    def __init__(self, scst, path, name):
        self.scst = scst
        self.path = path
        self.name = name

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r})"

    def exists(self):
        return os.path.isdir(self.path)

    def attr_path(self, attr):
        return os.path.join(self.path, attr)

    def read(self, attr):
        return self.scst.read(self.attr_path(attr))

    def read_opt(self, attr, default=None):
        return self.scst.read_opt(self.attr_path(attr), default)

    def attributes(self, wanted=None):
        """``({attr: value}, [key attrs], {attr: writable})`` of the attribute files (``wanted``: ``read_attrs``)."""
        return self.scst.read_attrs(self.path, wanted=wanted)

    def is_writable(self, attr):
        return bool(os.stat(self.attr_path(attr)).st_mode & 0o200)

    def write(self, attr, value, what):
        self.scst.write(self.attr_path(attr), value, what)


class Handler(Node):
    """``handlers/<handler>``: makes and deletes devices through its ``mgmt``."""

    def __init__(self, scst, name):
        super().__init__(scst, os.path.join(scst.path, "handlers", name), name)

    def has_mgmt(self):
        return os.path.exists(self.attr_path("mgmt"))

    def create_params(self, must_exist=False):
        """The parameters ``add_device`` takes (its mgmt help); ``must_exist``: raise if it has no mgmt."""
        if must_exist and not self.has_mgmt():
            known = [h.name for h in self.scst.handlers() if h.has_mgmt()]
            raise CommandExecutionError(
                f"unknown SCST handler {self.name!r}; loaded handlers: {', '.join(known) or 'none'}"
            )
        return parse_create_params(self.scst.read_raw(self.attr_path("mgmt")))

    def device_names(self):
        return [dev for dev in hostio.listdir(self.path) if os.path.islink(os.path.join(self.path, dev))]

    def info(self):
        entry = {"type": None, "create_params": [], "devices": []}
        if os.path.exists(self.attr_path("type")):
            entry["type"] = self.read("type")
        if self.has_mgmt():
            entry["create_params"] = self.create_params()
        entry["devices"] = self.device_names()
        return entry

    def add_device(self, name, params, what):
        command = "add_device " + name
        if params:
            command += " " + ";".join(f"{k}={v}" for k, v in params.items())
        self.scst.write(self.attr_path("mgmt"), command, what)

    def del_device(self, name, what):
        self.scst.write(self.attr_path("mgmt"), "del_device " + name, what)


class Device(Node):
    """``devices/<device>``: its attributes, its handler and the LUNs that export it."""

    def __init__(self, scst, name):
        super().__init__(scst, os.path.join(scst.path, "devices", name), name)

    def handler_name(self):
        return _link_name(self.attr_path("handler"))

    def exports(self):
        """``[{driver, target, group, lun}]`` of its ``exported/`` links, sorted."""
        exports = []
        exported = self.attr_path("exported")
        for link in hostio.listdir(exported):
            try:
                exports.append(parse_export_link(os.readlink(os.path.join(exported, link))))
            except (OSError, ValueError, IndexError):
                continue
        exports.sort(key=lambda e: (e["driver"], e["target"], e["group"] or "", e["lun"]))
        return exports

    def user_exports(self, info=None):
        # copy_manager LUNs are created by SCST for every vdisk device; they are
        # not an export anyone configured.
        exports = (info or self.info())["exported"]
        return [e for e in exports if e["driver"] != "copy_manager"]

    def info(self):
        handler = self.handler_name()
        values, keys, writable = self.attributes()
        exports = self.exports()
        filename = values.get("filename")
        return {
            "name": self.name,
            "handler": handler,
            # The host's own SCSI devices (H:C:I:L), listed by SCST for pass-through; scstadmin hides them.
            "pass_through": handler is None and os.path.islink(self.attr_path("scsi_device")),
            "filename": None if filename in (None, "none") else filename,
            "attributes": values,
            "key_attributes": sorted(keys),
            "writable": sorted(a for a, w in writable.items() if w),
            "exported": exports,
        }

    def set_attribute(self, attr, value):
        """Write one attribute the device has and SCST makes writable (``value`` already checked)."""
        if not self.exists():
            raise CommandExecutionError(f"SCST device {self.name!r} does not exist")
        if not os.path.exists(self.attr_path(attr)):
            raise CommandExecutionError(f"SCST device {self.name} has no attribute {attr!r}")
        if not self.is_writable(attr):
            raise CommandExecutionError(
                f"attribute {attr!r} of SCST device {self.name} is read-only: it can only be set "
                "when the device is created (close and re-open it)"
            )
        if attr in ("blocksize", "nv_cache"):
            check_metadata_attrs(self.name, {attr: value})
        self.write(attr, value, f"setting {attr}={value} on device {self.name}")

    def close(self, force=False):
        """
        ``del_device`` through its handler. Refused while a target or group
        exports it at a LUN, unless ``force`` (SCST itself would silently remove
        those LUNs and the initiators lose the disk), and for a pass-through device.
        """
        if not self.exists():
            raise CommandExecutionError(f"SCST device {self.name!r} does not exist")
        info = self.info()
        users = self.user_exports(info)
        if users and not force:
            where = "; ".join(
                f"{e['driver']}/{e['target']}" + (f" group {e['group']}" if e["group"] else "") + f" LUN {e['lun']}"
                for e in users
            )
            raise CommandExecutionError(
                f"SCST device {self.name} is exported ({where}); remove those LUNs first or pass force=True"
            )
        handler = info["handler"]
        if handler is None:
            raise CommandExecutionError(f"SCST device {self.name} is a pass-through device; not closing it")
        self.scst.handler(handler).del_device(self.name, f"closing device {self.name}")


class Driver(Node):
    """``targets/<driver>``: its targets and its own attributes."""

    def __init__(self, scst, name):
        super().__init__(scst, os.path.join(scst.path, "targets", name), name)

    def target_names(self):
        return subdirs(self.path)

    def targets(self):
        return [Target(self, name) for name in self.target_names()]

    def target(self, name):
        return Target(self, name)

    def info(self):
        values, _keys, writable = self.attributes()
        return {
            "targets": self.target_names(),
            "attributes": values,
            "writable": sorted(a for a, w in writable.items() if w),
            "can_add_target": os.path.exists(self.attr_path("mgmt")),
        }

    def set_attribute(self, attr, value):
        """Write one driver attribute (``value`` already checked)."""
        if not self.exists():
            raise CommandExecutionError(f"SCST target driver {self.name!r} is not loaded")
        if not os.path.isfile(self.attr_path(attr)):
            hint = ""
            if self.name == "ib_srpt" and attr == "enabled":
                hint = "; since SCST 3.1 ib_srpt has no driver-level enabled: enable each target (scst.enable_target)"
            raise CommandExecutionError(f"SCST driver {self.name} has no attribute {attr!r}{hint}")
        if not self.is_writable(attr):
            raise CommandExecutionError(f"attribute {attr!r} of SCST driver {self.name} is read-only")
        self.write(attr, value, f"setting {attr}={value} on driver {self.name}")

    def port_targets(self, ports):
        """
        Each target of this (ib_srpt) driver and the local HCA port it serves
        (``ports()``: the local RDMA ports, ``hostio.rdma_ports``): SCST >= 3.1
        names one target per port by the port's GID (scheme ``port_gid``), older
        SCST one per HCA ``ib_srpt_target_<n>`` (``per_hca``).
        """
        if not self.exists():
            raise CommandExecutionError(f"SCST target driver {self.name} is not loaded (modprobe ib_srpt)")
        ports = ports()
        by_gid = {p["gid"]: p for p in ports if p["gid"]}
        hcas = sorted({p["hca"] for p in ports})
        result = []
        for target in self.targets():
            enabled = target.read_opt("enabled")
            entry = {"target": target.name, "enabled": enabled == "1", "scheme": None, "hca": None, "port": None}
            # What an initiator needs to log in (tid_ext is add_target's id_ext).
            entry["login_info"] = parse_login_info(target.read_opt("login_info", ""))
            if target.name in by_gid:
                port = by_gid[target.name]
                entry.update(
                    scheme="port_gid",
                    hca=port["hca"],
                    port=port["port"],
                    link_layer=port["link_layer"],
                    gid=target.name,
                )
            else:
                match = re.match(r"^ib_srpt_target_(\d+)$", target.name)
                if match:
                    device = target.read_opt("device")
                    index = int(match.group(1))
                    hca = device or (hcas[index] if index < len(hcas) else None)
                    entry.update(scheme="per_hca", hca=hca)
                else:
                    entry.update(scheme="unknown", hca=target.read_opt("device"))
            result.append(entry)
        return result


class Target(Node):
    """``targets/<driver>/<target>``: ``enabled``, its default LUN set, its groups and sessions."""

    def __init__(self, driver, name):
        super().__init__(driver.scst, os.path.join(driver.path, name), name)
        self.driver = driver
        self.luns = LunSet(self.scst, self.attr_path("luns"), f"{driver.name}/{name}")

    def where(self):
        return f"{self.driver.name}/{self.name}"

    def groups(self):
        return [Group(self, name) for name in subdirs(self.attr_path("ini_groups"))]

    def group(self, name):
        return Group(self, name)

    def sessions(self):
        return [Session(self, name) for name in subdirs(self.attr_path("sessions"))]

    def groups_info(self):
        """``{group: {"luns", "initiators"}}``, reading nothing else of the target."""
        return {group.name: group.info() for group in self.groups()}

    # What info() can read; a state asks for the parts it decides on (a target's ~30 attribute files
    # are most of the cost of reading it).
    INFO_PARTS = ("enabled", "attributes", "luns", "groups", "sessions")

    def info(self, parts=None, wanted=None):
        """The target as ``scst.list_targets`` shows it; ``parts`` (of :py:attr:`INFO_PARTS`): only those
        keys (``attributes`` also gives ``key_attributes`` and ``writable``; ``sessions``, ``session_info``);
        ``wanted``: which attribute files are read (see ``SCST.read_attrs``)."""
        if isinstance(parts, str):  # the CLI's parts=groups,luns
            parts = parts.split(",")
        parts = self.INFO_PARTS if parts is None else tuple(parts)
        unknown = sorted(set(parts) - set(self.INFO_PARTS))
        if unknown:
            raise SaltInvocationError(
                f"unknown target info part(s) {', '.join(unknown)}: use {', '.join(self.INFO_PARTS)}"
            )
        out = {"driver": self.driver.name, "name": self.name}
        if "attributes" in parts:
            values, keys, writable = self.attributes(wanted)
            enabled = values.get("enabled")
        elif "enabled" in parts:
            enabled = self.read_opt("enabled")
        if "enabled" in parts:
            out["enabled"] = None if enabled is None else enabled == "1"
        if "attributes" in parts:
            out["attributes"] = values
            out["key_attributes"] = sorted(keys)
            out["writable"] = sorted(a for a, w in writable.items() if w)
        if "luns" in parts:
            out["luns"] = self.luns.luns()
        if "groups" in parts:
            out["groups"] = self.groups_info()
        if "sessions" in parts:
            out["sessions"] = subdirs(self.attr_path("sessions"))
            out["session_info"] = {session.name: session.info() for session in self.sessions()}
        return out

    def config_info(self):
        """What scst.conf keeps of the target, as :py:meth:`info` gives it: its writable attributes (the
        only ones scst.conf keeps; ``enabled`` is one), LUNs and groups."""
        return self.info(("enabled", "attributes", "luns", "groups"), wanted=lambda attr, is_writable: is_writable)

    def create_group(self, name):
        if self.group(name).exists():
            raise CommandExecutionError(f"SCST group {name} already exists on {self.where()}")
        self.write(os.path.join("ini_groups", "mgmt"), "create " + name, f"creating group {name} on {self.where()}")

    def delete_group(self, name, force=False):
        """``del`` a group (which must exist); refused while it has LUNs or initiators unless ``force``."""
        group = self.scst.group(self.driver.name, self.name, name)
        luns = group.luns.luns()
        inits = group.initiators.names()
        if (luns or inits) and not force:
            raise CommandExecutionError(
                f"SCST group {name} on {self.where()} is in use ({len(luns)} LUNs, "
                f"{len(inits)} initiators); pass force=True to delete it"
            )
        self.write(os.path.join("ini_groups", "mgmt"), "del " + name, f"deleting group {name} on {self.where()}")

    def set_enabled(self, value):
        """Write ``enabled`` (``"1"``/``"0"``)."""
        if not os.path.exists(self.attr_path("enabled")):
            raise CommandExecutionError(f"SCST target {self.where()} cannot be enabled or disabled")
        self.write("enabled", value, f"{'enabling' if value == '1' else 'disabling'} target {self.where()}")

    def set_attribute(self, attr, value):
        """Write one target attribute (``value`` already checked; ``enabled`` as :py:meth:`set_enabled`)."""
        if attr == "enabled":
            return self.set_enabled(value)
        if not os.path.isfile(self.attr_path(attr)):
            raise CommandExecutionError(f"SCST target {self.where()} has no attribute {attr!r}")
        if not self.is_writable(attr):
            raise CommandExecutionError(f"attribute {attr!r} of SCST target {self.where()} is read-only")
        self.write(attr, value, f"setting {attr}={value} on target {self.where()}")


class Group(Node):
    """``targets/<driver>/<target>/ini_groups/<group>``: a security group, its LUN set and initiators."""

    def __init__(self, target, name):
        super().__init__(target.scst, os.path.join(target.path, "ini_groups", name), name)
        self.target = target
        self.luns = LunSet(self.scst, self.attr_path("luns"), f"{target.where()} group {name}")
        self.initiators = InitiatorSet(self)

    def info(self):
        return {"luns": self.luns.luns(), "initiators": self.initiators.names()}


class LunSet:
    """A ``luns/`` directory: its LUNs, changed through its ``mgmt`` (``add``, ``del``)."""

    def __init__(self, scst, path, where):
        self.scst = scst
        self.path = path
        self.where = where  # for messages: "ib_srpt/T" or "ib_srpt/T group G"

    def __repr__(self):
        return f"LunSet({self.path!r})"

    def luns(self):
        """``{lun: {"device", "read_only"}}`` in LUN order."""
        luns = {int(entry): Lun(self, entry).info() for entry in subdirs(self.path) if entry.isdigit()}
        return dict(sorted(luns.items()))

    def add(self, device, lun, read_only=False):
        """Map ``device`` at ``lun``; a LUN already used is refused before any write."""
        existing = self.luns()
        if lun in existing:
            raise CommandExecutionError(
                f"LUN {lun} of {self.where} is already used by device {existing[lun]['device']}"
            )
        command = f"add {device} {lun}" + (" read_only=1" if read_only else "")
        self.scst.write(os.path.join(self.path, "mgmt"), command, f"mapping {device} at LUN {lun} of {self.where}")

    def delete(self, lun):
        self.scst.write(os.path.join(self.path, "mgmt"), f"del {lun}", f"removing LUN {lun} of {self.where}")


class Lun:
    """``luns/<N>``: the device it maps (a link) and ``read_only``."""

    def __init__(self, lun_set, entry):
        self.lun_set = lun_set
        self.number = int(entry)
        self.path = os.path.join(lun_set.path, str(entry))

    def __repr__(self):
        return f"Lun({self.path!r})"

    def info(self):
        device = _link_name(os.path.join(self.path, "device"))
        read_only = os.path.join(self.path, "read_only")
        ro = self.lun_set.scst.read(read_only) == "1" if os.path.exists(read_only) else False
        return {"device": device, "read_only": ro}


class InitiatorSet:
    """A group's ``initiators/``: one file per name or pattern, changed through its ``mgmt``."""

    def __init__(self, group):
        self.group = group
        self.scst = group.scst
        self.path = os.path.join(group.path, "initiators")

    def __repr__(self):
        return f"InitiatorSet({self.path!r})"

    def names(self):
        return [name for name in hostio.listdir(self.path) if name != "mgmt"]

    def _where(self):
        return f"group {self.group.name} of {self.group.target.where()}"

    def add(self, initiator):
        """``add`` a name; refused when another group of the target holds it (SCST would let the first group win)."""
        target = self.group.target
        for other, info in target.info()["groups"].items():
            if other != self.group.name and initiator in info["initiators"]:
                raise CommandExecutionError(
                    f"initiator {initiator} already belongs to group {other} of {target.where()}; "
                    "SCST would let the first group win"
                )
        self.scst.write(
            os.path.join(self.path, "mgmt"), "add " + initiator, f"adding initiator {initiator} to {self._where()}"
        )

    def delete(self, initiator):
        self.scst.write(
            os.path.join(self.path, "mgmt"), "del " + initiator, f"removing initiator {initiator} from {self._where()}"
        )


class Session(Node):
    """
    ``sessions/<name>``: a session's directory is named after its initiator
    with ``_1``, ``_2``... for more channels of the same one (``10.0.2.15_1``);
    ``initiator_name`` says who it is, and its ``luns`` link the LUN set it was
    given (a group's, or the target's default set).
    """

    def __init__(self, target, name):
        super().__init__(target.scst, os.path.join(target.path, "sessions", name), name)
        self.target = target
        self.luns = LunSet(self.scst, self.attr_path("luns"), f"session {name} of {target.where()}")

    def info(self):
        luns = self.luns.luns()
        return {
            "initiator_name": self.read("initiator_name"),
            "luns": {lun: info["device"] for lun, info in luns.items()},
        }
