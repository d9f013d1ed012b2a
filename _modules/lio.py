"""
LIO (the Linux kernel's own SCSI target) as the SRP target backend, through
its configfs tree (``/sys/kernel/config/target``) and ``ib_srpt``.

The same job as the ``scst`` module for a node whose target framework is LIO:
export one local block device as a LUN of the SRP target on a local RDMA
port, to the peer's initiator only. The objects are the kernel's:

* an **iblock** backstore ``core/iblock_0/<name>`` on the block device
  (``udev_path`` written to ``control`` and to the ``udev_path`` attribute,
  as targetcli does, so targetcli/rtslib see which device it is), with a
  T10 unit serial (``wwn/vpd_unit_serial``: without one the LUN has no VPD
  0x80/0x83 identifier and udev on the initiator makes no
  ``/dev/disk/by-id`` link). iblock opens the device exclusively, direct,
  no page cache: only the **standby** exports its disk, while the active's
  pool holds its own disk (seen on Linux 6.1: ``zpool create`` on an
  iblock-exported device fails with EBUSY, and iblock on a pool's disk
  too), so one disk never has two holders;
* the port's target ``srpt/0x<port GID, 32 hex digits>/tpgt_1`` (the form
  rtslib/targetcli use, so ``targetcli ls`` and ``targetctl save`` see it),
  its ``lun/lun_<n>`` linked to the backstore;
* one ACL per initiator, ``tpgt_1/acls/<name>/lun_<n>`` linked to that LUN.
  ib_srpt's TPG has no "generate ACLs" mode. Under a GID-named target the
  name it checks is the initiator port ID ``0x<initiator_ext><port GUID>``
  (32 hex digits; ``initiator_ext`` is 0 unless the login sets it), for
  InfiniBand and RDMA/CM logins alike; :py:func:`acl_name` derives it from
  the peer's port GID;
* ``srpt/discovery_auth/rdma_cm_port``: the RDMA/CM listener (RoCE/iWARP).

Persistence is LIO's own: :py:func:`save_config` writes the running tree
as rtslib's ``saveconfig.json`` (Debian: ``/etc/rtslib-fb-target/``,
restored at boot by ``rtslib-fb-targetctl.service``; Red Hat:
``/etc/target/``, ``target.service``). rtslib does not save srpt's
``rdma_cm_port``; :py:func:`rdma_cm_port_conf` renders the systemd-tmpfiles
line that sets it, run after the restore.

Why configfs directly, not python3-rtslib-fb: rtslib is a system-Python
package that Salt's own Python (onedir) cannot import, and it adds nothing
here that a few ``mkdir``/``symlink``/``write`` calls do not do; its
saveconfig format is kept so the distribution's restore service works.

Configuration (``config.get``): ``mdtmirror:sysroot``,
``mdtmirror:paths:lio_target`` (default ``/sys/kernel/config/target``),
``mdtmirror:paths:infiniband`` (``/sys/class/infiniband``).
"""

import errno
import json
import os
import re
import stat
import uuid

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import hostio  # noqa: E402  (after current(): the fresh copy)

__virtualname__ = "lio"

__all__ = [
    "is_loaded",
    "delete_backstore",
    "fabric_ready",
    "running_rdma_cm_port",
    "validate_backstore",
    "backstore_attributes",
    "set_backstore_attr",
    "list_backstores",
    "list_targets",
    "local_ports",
    "local_targets",
    "port_target",
    "acl_name",
    "default_serial",
    "initiator_by_id",
    "create_backstore",
    "add_lun",
    "add_acl",
    "del_acl",
    "enable_target",
    "running_config",
    "save_config",
    "rdma_cm_port_conf",
]

_DEFAULT_PATHS = {
    "lio_target": "/sys/kernel/config/target",
    "infiniband": "/sys/class/infiniband",
}

# Backstore plugins by configfs HBA directory prefix (rtslib's names).
_PLUGINS = {"iblock": "block", "fileio": "fileio", "pscsi": "pscsi", "rd_mcp": "ramdisk", "user": "user"}
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_HEX32 = re.compile(r"^(0x)?([0-9a-f]{32})$")
# LIO's company_id for the NAA identifier it derives from the unit serial.
LIO_COMPANY_ID = "001405"
TPG = "tpgt_1"


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------
# paths and I/O
# --------------------------------------------------------------------------


def _config(key, default=None):
    return __salt__["config.get"](key, default)


def _path(key):
    return hostio.host_path(_config, key, _DEFAULT_PATHS)


def _root():
    return _path("lio_target")


def _srpt():
    path = os.path.join(_root(), "srpt")
    if not os.path.isdir(path):
        raise CommandExecutionError(
            f"LIO's SRP fabric is not ready: {path} does not exist "
            "(load target_core_mod, target_core_file and ib_srpt, then lio.fabric_ready)"
        )
    return path


def _read(path, default=None):
    value = hostio.read_attr(path)
    return default if value is None else value.strip()


def _write(path, value, what):
    """One write(2) of ``value`` to a configfs attribute; errors name ``what``."""
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, f"{value}\n".encode())
        finally:
            os.close(fd)
    except OSError as exc:
        raise CommandExecutionError(
            f"LIO refused {what}: writing {value!r} to {path}: {errno.errorcode.get(exc.errno, exc.errno)} "
            f"({exc.strerror}); the kernel log (dmesg) says why"
        ) from exc


def _mkdir(path, what):
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise CommandExecutionError(
            f"LIO refused {what}: mkdir {path}: {errno.errorcode.get(exc.errno, exc.errno)} ({exc.strerror})"
        ) from exc


def _symlink(source, link, what):
    try:
        os.symlink(source, link)
    except OSError as exc:
        raise CommandExecutionError(
            f"LIO refused {what}: ln -s {source} {link}: {errno.errorcode.get(exc.errno, exc.errno)} ({exc.strerror})"
        ) from exc


def _subdirs(path):
    try:
        return sorted(
            e
            for e in os.listdir(path)
            if os.path.isdir(os.path.join(path, e)) and not os.path.islink(os.path.join(path, e))
        )
    except OSError:
        return []


def _links(path):
    """``{name: absolute target}`` of the symlinks in a configfs directory."""
    result = {}
    try:
        names = os.listdir(path)
    except OSError:
        return result
    for entry in names:
        full = os.path.join(path, entry)
        if os.path.islink(full):
            result[entry] = os.path.normpath(os.path.join(path, os.readlink(full)))
    return result


def _check_name(kind, name):
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SaltInvocationError(f"invalid LIO {kind} name {name!r}: use letters, digits and _ . : -")


def _check_lun(lun):
    try:
        lun = int(lun)
    except (TypeError, ValueError):
        raise SaltInvocationError(f"invalid LUN {lun!r}: an integer 0..65535") from None
    if not 0 <= lun <= 65535:
        raise SaltInvocationError(f"invalid LUN {lun}: an integer 0..65535")
    return lun


# --------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------


def parse_info(text):
    """
    A backstore's ``info`` file -> dict: ``Status: ACTIVATED  Max Queue Depth: 0 ...
    iBlock device: loop0  UDEV PATH: /dev/loop0 ...`` (keys as LIO prints them).
    """
    info = {}
    for match in re.finditer(r"([A-Za-z][A-Za-z0-9 ]*?):\s+(\S+)", text or ""):
        info[match.group(1).strip()] = match.group(2)
    return info


def parse_unit_serial(text):
    """``T10 VPD Unit Serial Number: abc`` -> ``abc`` (empty: no serial)."""
    return (text or "").split(":", 1)[-1].strip() if text else ""


def acl_name(initiator, initiator_ext=0):
    """
    The ACL name ib_srpt checks for an initiator under a GID-named target:
    ``0x`` + initiator_ext (16 hex digits) + the initiator port's GUID.

    ``initiator``: the peer's port GID (``fe80:0000:...:5054:00ff:fe12:3456``,
    the GUID is its last 64 bits), or already an initiator port ID
    (``0x`` + 32 hex digits, or rtslib's ``ib.`` + 32).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.acl_name fe80:0000:0000:0000:0002:c903:0003:cca7
    """
    text = str(initiator).strip().lower()
    if text.startswith("ib."):
        text = "0x" + text[3:]
    match = _HEX32.match(text)
    if match:
        return "0x" + match.group(2)
    digits = text.replace(":", "")
    if text.count(":") == 7 and re.fullmatch(r"[0-9a-f]{32}", digits):
        return f"0x{int(initiator_ext):016x}{digits[16:]}"
    raise SaltInvocationError(
        f"invalid SRP initiator {initiator!r} for LIO: give the peer port's GID "
        "(fe80:0000:0000:0000:xxxx:xxxx:xxxx:xxxx) or its initiator port ID (0x + 32 hex digits)"
    )


def target_name(gid):
    """The GID-named srpt target of a port: ``0x`` + the GID's 32 hex digits."""
    digits = str(gid).replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{32}", digits):
        raise CommandExecutionError(f"not a port GID: {gid!r}")
    return "0x" + digits


def default_serial(node, device):
    """
    The T10 unit serial a backstore gets unless one is declared: a UUID
    derived from the node and device names, so it is the same every time the
    backstore is made (the peer's ``/dev/disk/by-id`` name of the LUN comes
    from it) and the peer can compute it.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.default_serial mds01 MDT0
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mdtmirror:{node}/{device}"))


def naa_designator(serial, company_id=LIO_COMPANY_ID):
    """
    The NAA IEEE Registered Extended designator (VPD 0x83) LIO derives from a
    unit serial: ``6`` + company_id + the serial's first 25 hex digits
    (other characters skipped), zero-padded to 32 hex digits.
    """
    digits = "".join(c for c in str(serial).lower() if c in "0123456789abcdef")[:25]
    return ("6" + company_id + digits).ljust(32, "0")


def initiator_by_id(serial):
    """
    The ``/dev/disk/by-id`` name the peer's udev gives a LIO LUN with this
    unit serial (``scsi-3`` + its NAA designator).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.initiator_by_id 8f0e5c1a-...
    """
    return "/dev/disk/by-id/scsi-3" + naa_designator(serial)


def rdma_cm_port_conf(port, root="/sys/kernel/config/target"):
    """
    The systemd-tmpfiles line that sets srpt's RDMA/CM port (rtslib's
    saveconfig does not keep it); run with ``systemd-tmpfiles --create`` after
    the restore service.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.rdma_cm_port_conf 5555
    """
    port = int(port)
    return f"w {root}/srpt/discovery_auth/rdma_cm_port - - - - {port}\n"


# --------------------------------------------------------------------------
# reading the tree
# --------------------------------------------------------------------------


def is_loaded():
    """
    True when LIO's SRP fabric is ready (``<configfs>/target/srpt`` exists).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.is_loaded
    """
    return os.path.isdir(os.path.join(_root(), "srpt"))


def list_backstores():
    """
    Return every backstore: plugin (``block``, ``fileio``...), HBA directory,
    device, unit serial, enabled, and the targets' LUNs exporting it.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.list_backstores
    """
    core = os.path.join(_root(), "core")
    result = {}
    for hba in _subdirs(core):
        prefix = hba.rsplit("_", 1)[0]
        if prefix not in _PLUGINS:
            continue
        for name in _subdirs(os.path.join(core, hba)):
            path = os.path.join(core, hba, name)
            info = parse_info(_read(os.path.join(path, "info"), ""))
            dev = _read(os.path.join(path, "udev_path")) or info.get("UDEV PATH") or info.get("File") or None
            result[name] = {
                "plugin": _PLUGINS[prefix],
                "hba": hba,
                "path": path,
                "dev": dev,
                "serial": parse_unit_serial(_read(os.path.join(path, "wwn", "vpd_unit_serial"), "")),
                "enabled": _read(os.path.join(path, "enable")) == "1",
                "status": info.get("Status"),
                "exports": [],
            }
    for tname, target in list_targets().items():
        for lun, linfo in target["luns"].items():
            if linfo["backstore"] in result:
                result[linfo["backstore"]]["exports"].append({"target": tname, "lun": lun})
    return result


def list_targets():
    """
    Return the srpt targets: enabled, LUNs (number -> backstore) and ACLs
    (name -> mapped LUN number -> TPG LUN), of their TPG 1.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.list_targets
    """
    base = os.path.join(_root(), "srpt")
    core = os.path.join(_root(), "core")
    result = {}
    for tname in _subdirs(base):
        if tname == "discovery_auth":
            continue
        tpg = os.path.join(base, tname, TPG)
        entry = {"tpg": os.path.isdir(tpg), "enabled": False, "luns": {}, "acls": {}}
        if entry["tpg"]:
            entry["enabled"] = _read(os.path.join(tpg, "enable")) == "1"
            for lun_dir in _subdirs(os.path.join(tpg, "lun")):
                backstore = None
                for target in _links(os.path.join(tpg, "lun", lun_dir)).values():
                    if target.startswith(core + os.sep):
                        backstore = os.path.basename(target)
                entry["luns"][int(lun_dir.split("_", 1)[1])] = {"backstore": backstore}
            for acl in _subdirs(os.path.join(tpg, "acls")):
                mapped = {}
                for mlun in _subdirs(os.path.join(tpg, "acls", acl)):
                    if not mlun.startswith("lun_"):
                        continue
                    tpg_lun = None
                    for target in _links(os.path.join(tpg, "acls", acl, mlun)).values():
                        if os.path.basename(target).startswith("lun_"):
                            tpg_lun = int(os.path.basename(target).split("_", 1)[1])
                    mapped[int(mlun.split("_", 1)[1])] = tpg_lun
                entry["acls"][acl] = mapped
        result[tname] = entry
    return result


def local_ports():
    """
    The local RDMA ports (``/sys/class/infiniband``) and the srpt target name
    each would have: HCA, port, GID 0, link layer, state, node GUID.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.local_ports
    """
    ports = hostio.rdma_ports(_path("infiniband"))
    for port in ports:
        port["target"] = target_name(port["gid"]) if port["gid"] else None
    return ports


def local_targets():
    """
    The srpt targets of the local ports, with what an initiator needs to
    log in (``login_info``, the keys SCST publishes: ``tid_ext``,
    ``ioc_guid``, ``dgid``, ``pkey``, ``service_id``; ib_srpt's I/O
    controller GUID is the HCA's node GUID by default). Same shape as
    ``scst.local_targets``, for the Salt mine.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.local_targets
    """
    targets = list_targets() if is_loaded() else {}
    result = []
    for port in local_ports():
        if not port["target"]:
            continue
        guid = (port["node_guid"] or "").replace(":", "")
        info = targets.get(port["target"], {})
        result.append(
            {
                "target": port["target"],
                "enabled": bool(info.get("enabled")),
                "scheme": "port_gid",
                "hca": port["hca"],
                "port": port["port"],
                "link_layer": port["link_layer"],
                "gid": port["gid"],
                "login_info": {
                    "tid_ext": guid,
                    "ioc_guid": guid,
                    "pkey": "ffff",
                    "dgid": port["gid"].replace(":", ""),
                    "service_id": guid,
                }
                if guid
                else {},
            }
        )
    return result


def port_target(hca=None, port=None):
    """
    The srpt target name of a local port (``0x`` + its GID); with no
    ``hca``/``port`` the machine must have one port (or one active port).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.port_target
        salt '*' lio.port_target hca=mlx5_0 port=1
    """
    ports = [
        p
        for p in local_ports()
        if (hca is None or p["hca"] == hca) and (port is None or p["port"] == int(port)) and p["target"]
    ]
    if len(ports) > 1 and hca is None and port is None:
        active = [p for p in ports if "ACTIVE" in (p["state"] or "")]
        if len(active) == 1:
            ports = active
    if len(ports) != 1:
        listing = ", ".join(f"{p['hca']} port {p['port']} ({p['state']})" for p in local_ports()) or "none"
        raise CommandExecutionError(
            f"cannot choose one local RDMA port for the LIO SRP target (hca={hca} port={port}): "
            f"{len(ports)} match; ports: {listing}. Set hca and port."
        )
    return ports[0]["target"]


# --------------------------------------------------------------------------
# changing the tree
# --------------------------------------------------------------------------


def running_rdma_cm_port():
    """
    The RDMA/CM port srpt listens on (None: not set or fabric not ready).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.running_rdma_cm_port
    """
    value = _read(os.path.join(_root(), "srpt", "discovery_auth", "rdma_cm_port"))
    return int(value) if value and value.isdigit() and value != "0" else None


def validate_backstore(name, dev, new=False):
    """
    Check a backstore declaration before anything is made: its name, and that
    ``dev`` is an absolute path (a block device when it exists). ``new``: the
    backstore is about to be made, so ``dev`` must also be free: iblock opens
    it exclusively, and a disk another holder has open (an imported pool, a
    mount, an SCST export) would answer EBUSY (``mdtmirror.disk_problem``).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.validate_backstore MDT0 /dev/disk/by-id/scsi-35000c500a1b2c3d4 new=True
    """
    _check_name("backstore", name)
    if not isinstance(dev, str) or not dev.startswith("/"):
        raise SaltInvocationError(f"backstore {name}: device {dev!r} must be an absolute path")
    # Missing is allowed here (a zvol made earlier in the same run); a file or directory never is.
    if os.path.exists(dev) and not stat.S_ISBLK(os.stat(dev).st_mode):
        raise SaltInvocationError(f"backstore {name}: {dev} is not a block device")
    if new and os.path.exists(dev):
        problem = __salt__["mdtmirror.disk_problem"](dev, block=False, exclusive=True)
        if problem:
            raise CommandExecutionError(f"backstore {name}: device {dev} {problem}")
    return True


def backstore_attributes(name):
    """
    A backstore's configfs attributes (``attrib/``), values as read.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.backstore_attributes MDT0
    """
    stores = list_backstores()
    if name not in stores:
        raise CommandExecutionError(f"no LIO backstore {name}")
    path = os.path.join(stores[name]["path"], "attrib")
    return {entry: _read(os.path.join(path, entry)) for entry in sorted(os.listdir(path))}


def set_backstore_attr(name, attr, value):
    """
    Write one configfs attribute of a backstore (LIO refuses some, e.g.
    ``block_size``, while the backstore is exported).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.set_backstore_attr MDT0 is_nonrot 1
    """
    stores = list_backstores()
    if name not in stores:
        raise CommandExecutionError(f"no LIO backstore {name}")
    path = os.path.join(stores[name]["path"], "attrib", attr)
    if not os.path.exists(path):
        raise SaltInvocationError(f"LIO backstore {name} has no attribute {attr!r}")
    _write(path, value, f"backstore {name} attribute {attr}")
    return True


def fabric_ready(rdma_cm_port=None):
    """
    Make LIO's srpt fabric directory (it appears on ``mkdir`` once ib_srpt
    is loaded) and set the RDMA/CM listener port when given. Returns what
    changed.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.fabric_ready rdma_cm_port=5555
    """
    root = _root()
    if not os.path.isdir(root):
        raise CommandExecutionError(
            f"LIO is not loaded or configfs is not mounted: {root} does not exist "
            "(modprobe target_core_mod; mount -t configfs configfs /sys/kernel/config)"
        )
    changes = {}
    srpt = os.path.join(root, "srpt")
    if not os.path.isdir(srpt):
        _mkdir(srpt, "the srpt fabric (is ib_srpt loaded?)")
        changes["fabric"] = "srpt"
    if rdma_cm_port is not None:
        path = os.path.join(srpt, "discovery_auth", "rdma_cm_port")
        if _read(path) != str(int(rdma_cm_port)):
            _write(path, int(rdma_cm_port), "the RDMA/CM port")
            changes["rdma_cm_port"] = int(rdma_cm_port)
    return changes


def create_backstore(name, dev, serial, attributes=None):
    """
    Create an iblock backstore ``name`` on block device ``dev`` (an
    exclusive open: the device must not be a pool's) with T10 unit
    serial ``serial``, set ``attributes`` (configfs ``attrib/`` names, e.g.
    ``{is_nonrot: 1}``), enable it.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.create_backstore MDT0 /dev/disk/by-id/scsi-35000c500a1b2c3d4 serial=$(uuidgen)
    """
    _check_name("backstore", name)
    if name in list_backstores():
        raise CommandExecutionError(f"LIO backstore {name} exists already")
    if not os.path.exists(dev):
        raise CommandExecutionError(f"cannot export {dev} as {name}: it does not exist")
    validate_backstore(name, dev, new=True)  # a disk another holder has open: refused before any mkdir
    # One HBA directory holds any number of backstores (rtslib restores
    # them under its own numbering; names are what identify them).
    hba = os.path.join(_root(), "core", "iblock_0")
    _mkdir(hba, f"the iblock HBA for {name}")
    path = os.path.join(hba, name)
    _mkdir(path, f"backstore {name}")
    try:
        _write(os.path.join(path, "control"), f"udev_path={dev}", f"backstore {name}'s device")
        # Also the attribute: targetcli/rtslib read the device from it.
        _write(os.path.join(path, "udev_path"), dev, f"backstore {name}'s udev_path")
        _write(os.path.join(path, "wwn", "vpd_unit_serial"), serial, f"backstore {name}'s unit serial")
        for attr, value in sorted((attributes or {}).items()):
            _write(os.path.join(path, "attrib", attr), value, f"backstore {name} attribute {attr}")
        # iblock opens the device here: EBUSY when another holder (an imported pool) has it.
        _write(os.path.join(path, "enable"), 1, f"enabling backstore {name}")
    except CommandExecutionError:
        # A half-made backstore would block the next attempt: remove it.
        try:
            os.rmdir(path)
        except OSError:
            pass
        raise
    return {"name": name, "dev": dev, "serial": serial}


def _tpg(target):
    return os.path.join(_srpt(), target, TPG)


def add_lun(target, lun, backstore):
    """
    Export ``backstore`` as LUN ``lun`` of the srpt target (made, with its
    TPG, if missing).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.add_lun 0xfe800000000000000002c90300b77f41 0 MDT0
    """
    lun = _check_lun(lun)
    stores = list_backstores()
    if backstore not in stores:
        raise CommandExecutionError(f"no LIO backstore {backstore} (known: {', '.join(stores) or 'none'})")
    tdir = os.path.join(_srpt(), target)
    _mkdir(tdir, f"srpt target {target} (is it a local port's GID?)")
    tpg = os.path.join(tdir, TPG)
    _mkdir(tpg, f"TPG 1 of {target}")
    lun_dir = os.path.join(tpg, "lun", f"lun_{lun}")
    _mkdir(lun_dir, f"LUN {lun} of {target}")
    _symlink(stores[backstore]["path"], os.path.join(lun_dir, backstore), f"LUN {lun} -> {backstore}")
    return {"target": target, "lun": lun, "backstore": backstore}


def add_acl(target, initiator, lun):
    """
    Let ``initiator`` (an ACL name, see :py:func:`acl_name`) see TPG LUN
    ``lun`` as its LUN ``lun``.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.add_acl 0xfe80...7f41 0x00000000000000000002c9030003cca7 0
    """
    lun = _check_lun(lun)
    name = acl_name(initiator)
    tpg = _tpg(target)
    lun_dir = os.path.join(tpg, "lun", f"lun_{lun}")
    if not os.path.isdir(lun_dir):
        raise CommandExecutionError(f"target {target} has no LUN {lun} to give {name}")
    acl = os.path.join(tpg, "acls", name)
    _mkdir(acl, f"ACL {name} of {target}")
    mapped = os.path.join(acl, f"lun_{lun}")
    _mkdir(mapped, f"mapped LUN {lun} of ACL {name}")
    if not _links(mapped):
        _symlink(lun_dir, os.path.join(mapped, f"lun_{lun}"), f"ACL {name} LUN {lun}")
    return {"target": target, "acl": name, "lun": lun}


def del_acl(target, name):
    """
    Remove an ACL (its mapped LUNs first) from the srpt target; the
    initiator's session, if any, ends.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.del_acl 0xfe80...7f41 0x00000000000000000002c9030003cca7
    """
    acl = os.path.join(_tpg(target), "acls", name)
    if not os.path.isdir(acl):
        raise CommandExecutionError(f"srpt target {target} has no ACL {name}")
    try:
        for mlun in _subdirs(acl):
            if mlun.startswith("lun_"):
                for link in _links(os.path.join(acl, mlun)):
                    os.unlink(os.path.join(acl, mlun, link))
                os.rmdir(os.path.join(acl, mlun))
        os.rmdir(acl)
    except OSError as exc:
        raise CommandExecutionError(f"LIO refused removing ACL {name} of {target}: {exc}") from exc
    return True


def delete_backstore(name):
    """
    Stop exporting backstore ``name`` and remove it: every ACL's mapped LUN
    that reaches one of its TPG LUNs, those LUNs, then the backstore (the
    device is closed: another holder, e.g. a pool, may open it). Nothing to
    do when it does not exist.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.delete_backstore MDT0
    """
    _check_name("backstore", name)
    stores = list_backstores()
    if name not in stores:
        return False
    try:
        for target, tinfo in list_targets().items():
            tpg = _tpg(target)
            luns = {lun for lun, linfo in tinfo["luns"].items() if linfo["backstore"] == name}
            for acl, mapped in tinfo["acls"].items():
                for mlun, tpg_lun in mapped.items():
                    if tpg_lun in luns:
                        mdir = os.path.join(tpg, "acls", acl, f"lun_{mlun}")
                        for link in _links(mdir):
                            os.unlink(os.path.join(mdir, link))
                        os.rmdir(mdir)
            for lun in sorted(luns):
                ldir = os.path.join(tpg, "lun", f"lun_{lun}")
                for link in _links(ldir):
                    os.unlink(os.path.join(ldir, link))
                os.rmdir(ldir)
        os.rmdir(stores[name]["path"])
    except OSError as exc:
        raise CommandExecutionError(f"LIO refused removing backstore {name} or its LUNs: {exc}") from exc
    return True


def enable_target(target):
    """
    Enable TPG 1 of the srpt target (logins are accepted from now on).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.enable_target 0xfe800000000000000002c90300b77f41
    """
    path = os.path.join(_tpg(target), "enable")
    if not os.path.exists(path):
        raise CommandExecutionError(f"srpt target {target} has no TPG 1 to enable")
    _write(path, 1, f"enabling {target}")
    return True


# --------------------------------------------------------------------------
# persistence: rtslib's saveconfig.json
# --------------------------------------------------------------------------


def _attrs(path):
    result = {}
    for entry in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        value = _read(os.path.join(path, entry))
        if value is None:
            continue
        result[entry] = int(value) if re.fullmatch(r"-?\d+", value) else value
    return result


def running_config():
    """
    The running LIO configuration as rtslib's saveconfig dict (storage
    objects, srpt targets with TPG, LUNs, ACLs and mapped LUNs), the part of
    it mdtmirror manages: fileio/block backstores and srpt targets.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.running_config
    """
    stores = list_backstores()
    storage_objects = []
    for name, info in sorted(stores.items()):
        if info["plugin"] not in ("block", "fileio"):
            continue
        obj = {
            "attributes": _attrs(os.path.join(info["path"], "attrib")),
            "dev": info["dev"] or "",
            "name": name,
            "plugin": info["plugin"],
            "wwn": info["serial"],
        }
        # rtslib refuses the hw_* (read-only) attributes on restore.
        obj["attributes"] = {k: v for k, v in obj["attributes"].items() if not k.startswith("hw_")}
        if info["plugin"] == "block":
            obj["readonly"] = parse_info(_read(os.path.join(info["path"], "info"), "")).get("readonly") == "1"
        else:
            # rtslib ignores the size of a block device on restore, but keeps the key.
            size = parse_info(_read(os.path.join(info["path"], "info"), "")).get("Size")
            obj["size"] = int(size) if size and size.isdigit() else 0
            obj["aio"] = False
        obj["write_back"] = obj["attributes"].get("emulate_write_cache") == 1
        storage_objects.append(obj)
    targets = []
    srpt = os.path.join(_root(), "srpt")
    for tname, tinfo in sorted(list_targets().items()):
        if not tinfo["tpg"] or not tname.startswith("0x"):
            continue
        tpg_path = os.path.join(srpt, tname, TPG)
        luns = [
            {
                "index": lun,
                "storage_object": f"/backstores/{stores[linfo['backstore']]['plugin']}/{linfo['backstore']}",
                "alias": linfo["backstore"],
            }
            for lun, linfo in sorted(tinfo["luns"].items())
            if linfo["backstore"] in stores
        ]
        acls = [
            {
                "node_wwn": "ib." + acl[2:] if acl.startswith("0x") else acl,
                "mapped_luns": [
                    {"index": m, "tpg_lun": t, "write_protect": False}
                    for m, t in sorted(mapped.items())
                    if t is not None
                ],
            }
            for acl, mapped in sorted(tinfo["acls"].items())
        ]
        targets.append(
            {
                "fabric": "srpt",
                "wwn": "ib." + tname[2:],
                "tpgs": [
                    {
                        "tag": 1,
                        "enable": tinfo["enabled"],
                        "attributes": _attrs(os.path.join(tpg_path, "attrib")),
                        "parameters": {},
                        "luns": luns,
                        "node_acls": acls,
                        "portals": [],
                    }
                ],
            }
        )
    return {"fabric_modules": [], "storage_objects": storage_objects, "targets": targets}


def save_config(path, test=False):
    """
    Write the running configuration to ``path`` in rtslib's saveconfig.json
    format (what ``targetctl restore`` reads at boot), if it differs from the
    file's. Returns ``{"changed": bool, "path": path}``.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.save_config /etc/rtslib-fb-target/saveconfig.json
    """
    text = json.dumps(running_config(), indent=2, sort_keys=True) + "\n"
    try:
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
    except OSError:
        current = None
    changed = current != text
    if changed and not test:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.mdtmirror-tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return {"changed": changed, "path": path}
