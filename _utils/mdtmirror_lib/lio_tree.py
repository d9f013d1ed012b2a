"""
LIO's configfs tree (``/sys/kernel/config/target``) as objects, one class per
kind of configfs directory, the kernel's tree as rtslib-fb models it. What
mdtmirror makes of it (the ``lio`` loader module's job: export one local
block device as a LUN of the SRP target on a local RDMA port, to the peer's
initiator only):

* :py:class:`Backstore`: an HBA directory of one plugin, ``core/iblock_0``
  (rtslib's Backstore), holding any number of
* :py:class:`StorageObject`: what the ``lio`` module and targetcli call a
  backstore, an **iblock** one ``core/iblock_0/<name>`` on the block device
  (``udev_path`` written to ``control`` and to the ``udev_path`` attribute,
  as targetcli does, so targetcli/rtslib see which device it is), with a
  T10 unit serial (``wwn/vpd_unit_serial``: without one the LUN has no VPD
  0x80/0x83 identifier and udev on the initiator makes no
  ``/dev/disk/by-id`` link). iblock opens the device exclusively, direct,
  no page cache: only the **standby** exports its disk, while the active's
  pool holds its own disk (seen on Linux 6.1: ``zpool create`` on an
  iblock-exported device fails with EBUSY, and iblock on a pool's disk
  too), so one disk never has two holders;
* :py:class:`Fabric`: ``srpt/`` (ib_srpt), with
  ``discovery_auth/rdma_cm_port``, the RDMA/CM listener (RoCE/iWARP);
* :py:class:`Target`: the port's target ``srpt/0x<port GID, 32 hex digits>``
  (the form rtslib/targetcli use, so ``targetcli ls`` and ``targetctl save``
  see it), with its :py:class:`TPG` ``tpgt_1``;
* :py:class:`LUN`: ``tpgt_1/lun/lun_<n>``, linked to the storage object;
* :py:class:`NodeACL`: one per initiator, ``tpgt_1/acls/<name>``, with each
  :py:class:`MappedLUN` ``lun_<n>`` linked to a TPG LUN. ib_srpt's TPG has no
  "generate ACLs" mode. Under a GID-named target the name it checks is the
  initiator port ID ``0x<initiator_ext><port GUID>`` (32 hex digits;
  ``initiator_ext`` is 0 unless the login sets it), for InfiniBand and
  RDMA/CM logins alike; ``lio_parse.acl_name`` derives it from the peer's
  port GID;
* :py:class:`Root`: ``target/``, and what the ``lio`` module asks of the
  tree: the listings, the changes, rtslib's saveconfig dict and file.

Each object knows its path, reads its attributes and makes or removes
itself; a refused write names the object (``CommandExecutionError``).
Nothing here reaches Salt's dunders: the caller hands in the tree's path and,
where a disk's holders matter, its ``mdtmirror.disk_problem``.

Why configfs directly, not python3-rtslib-fb: rtslib is a system-Python
package that Salt's own Python (onedir) cannot import, and it adds nothing
here that a few ``mkdir``/``symlink``/``write`` calls do not do; its
saveconfig format is kept so the distribution's restore service works.
"""

import collections
import json
import os
import stat

from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import hostio, lio_parse
from mdtmirror_lib.lio_parse import (
    PLUGINS,
    acl_name,
    check_lun,
    check_name,
    parse_info,
    parse_unit_serial,
    saveconfig_value,
)

# --------------------------------------------------------------------------
# configfs I/O
# --------------------------------------------------------------------------


def read(path, default=None):
    value = hostio.read_attr(path)
    return default if value is None else value.strip()


def write(path, value, what):
    """One write(2) of ``value`` to a configfs attribute; errors name ``what``."""
    try:
        hostio.write_attr(path, f"{value}\n")
    except OSError as exc:
        raise CommandExecutionError(
            f"LIO refused {what}: writing {value!r} to {path}: {hostio.errno_text(exc.errno)}; "
            "the kernel log (dmesg) says why"
        ) from exc


def mkdir(path, what):
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise CommandExecutionError(f"LIO refused {what}: mkdir {path}: {hostio.errno_text(exc.errno)}") from exc


def symlink(source, link, what):
    try:
        os.symlink(source, link)
    except OSError as exc:
        raise CommandExecutionError(
            f"LIO refused {what}: ln -s {source} {link}: {hostio.errno_text(exc.errno)}"
        ) from exc


def subdirs(path):
    try:
        return sorted(
            e
            for e in os.listdir(path)
            if os.path.isdir(os.path.join(path, e)) and not os.path.islink(os.path.join(path, e))
        )
    except OSError:
        return []


def links(path):
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


def saveconfig_attributes(path):
    """An ``attrib/`` directory as rtslib's saveconfig keeps it (missing: none)."""
    result = {}
    for entry in sorted(os.listdir(path)) if os.path.isdir(path) else []:
        value = read(os.path.join(path, entry))
        if value is None:
            continue
        result[entry] = saveconfig_value(value)
    return result


def validate_backstore(name, dev, new=False, disk_problem=None):
    """
    Check a backstore declaration (the ``lio.validate_backstore`` contract):
    ``disk_problem`` is ``mdtmirror.disk_problem``, asked only when ``new``
    and ``dev`` exists.
    """
    check_name("backstore", name)
    if not isinstance(dev, str) or not dev.startswith("/"):
        raise SaltInvocationError(f"backstore {name}: device {dev!r} must be an absolute path")
    # Missing is allowed here (a zvol made earlier in the same run); a file or directory never is.
    if os.path.exists(dev) and not stat.S_ISBLK(os.stat(dev).st_mode):
        raise SaltInvocationError(f"backstore {name}: {dev} is not a block device")
    if new and os.path.exists(dev):
        problem = disk_problem(dev, block=False, exclusive=True)
        if problem:
            raise CommandExecutionError(f"backstore {name}: device {dev} {problem}")
    return True


# --------------------------------------------------------------------------
# the objects
# --------------------------------------------------------------------------


class Node:
    """A configfs directory of LIO's tree."""

    def __init__(self, path):
        self.path = path

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r})"

    def exists(self):
        return os.path.isdir(self.path)

    def read(self, attr, default=None):
        return read(os.path.join(self.path, attr), default)


class Backstore(Node):
    """An HBA directory ``core/<prefix>_<n>`` of one plugin (rtslib's Backstore)."""

    def __init__(self, root, hba):
        super().__init__(os.path.join(root.core, hba))
        self.hba = hba
        self.plugin = PLUGINS.get(hba.rsplit("_", 1)[0])

    def storage_objects(self):
        return [StorageObject(self, name) for name in subdirs(self.path)]

    def storage_object(self, name):
        return StorageObject(self, name)

    def create(self, what):
        """mkdir; ``what`` names it in an error (``the iblock HBA for MDT0``)."""
        mkdir(self.path, what)


class StorageObject(Node):
    """``core/<hba>/<name>``: what the ``lio`` module and targetcli call a backstore."""

    def __init__(self, backstore, name):
        super().__init__(os.path.join(backstore.path, name))
        self.backstore = backstore
        self.name = name

    def info(self):
        return parse_info(self.read("info", ""))

    def dump(self):
        """The ``lio.list_backstores`` entry, without ``exports`` (the targets tell)."""
        info = self.info()
        dev = self.read("udev_path") or info.get("UDEV PATH") or info.get("File") or None
        return {
            "plugin": self.backstore.plugin,
            "hba": self.backstore.hba,
            "path": self.path,
            "dev": dev,
            "serial": parse_unit_serial(self.read(os.path.join("wwn", "vpd_unit_serial"), "")),
            "enabled": self.read("enable") == "1",
            "status": info.get("Status"),
        }

    def attributes(self):
        path = os.path.join(self.path, "attrib")
        return {entry: read(os.path.join(path, entry)) for entry in sorted(os.listdir(path))}

    def set_attribute(self, attr, value):
        path = os.path.join(self.path, "attrib", attr)
        # A plain file of attrib/ only: "../enable" or "../../../../..." exists too, outside attrib/.
        if os.path.basename(str(attr)) != attr or attr in (".", "..") or not os.path.isfile(path):
            raise SaltInvocationError(f"LIO backstore {self.name} has no attribute {attr!r}")
        write(path, value, f"backstore {self.name} attribute {attr}")

    def create(self, dev, serial, attributes=None):
        """An iblock storage object on ``dev``, enabled; a half-made one is removed again."""
        name = self.name
        mkdir(self.path, f"backstore {name}")
        try:
            write(os.path.join(self.path, "control"), f"udev_path={dev}", f"backstore {name}'s device")
            # Also the attribute: targetcli/rtslib read the device from it.
            write(os.path.join(self.path, "udev_path"), dev, f"backstore {name}'s udev_path")
            write(os.path.join(self.path, "wwn", "vpd_unit_serial"), serial, f"backstore {name}'s unit serial")
            for attr, value in sorted((attributes or {}).items()):
                write(os.path.join(self.path, "attrib", attr), value, f"backstore {name} attribute {attr}")
            # iblock opens the device here: EBUSY when another holder (an imported pool) has it.
            write(os.path.join(self.path, "enable"), 1, f"enabling backstore {name}")
        except CommandExecutionError:
            # A half-made backstore would block the next attempt: remove it.
            try:
                os.rmdir(self.path)
            except OSError:
                pass
            raise

    def delete(self):
        """rmdir (the device is closed); OSError propagates."""
        os.rmdir(self.path)


class Fabric(Node):
    """``srpt/``: ib_srpt's fabric module directory."""

    def __init__(self, root):
        super().__init__(os.path.join(root.path, "srpt"))
        self.root = root

    @property
    def rdma_cm_port_path(self):
        return os.path.join(self.path, "discovery_auth", "rdma_cm_port")

    def targets(self):
        return [Target(self, name) for name in subdirs(self.path) if name != "discovery_auth"]

    def target(self, name):
        return Target(self, name)


class Target(Node):
    """``srpt/<name>``: an srpt target (``0x`` + a local port's GID)."""

    def __init__(self, fabric, name):
        super().__init__(os.path.join(fabric.path, name))
        self.fabric = fabric
        self.name = name
        self.tpg = TPG(self)

    def create(self):
        mkdir(self.path, f"srpt target {self.name} (is it a local port's GID?)")


class TPG(Node):
    """``<target>/tpgt_1``: the one TPG of an srpt target."""

    def __init__(self, target):
        super().__init__(os.path.join(target.path, lio_parse.TPG))
        self.target = target

    def create(self):
        mkdir(self.path, f"TPG 1 of {self.target.name}")

    def enabled(self):
        return self.read("enable") == "1"

    def enable(self):
        path = os.path.join(self.path, "enable")
        if not os.path.exists(path):
            raise CommandExecutionError(f"srpt target {self.target.name} has no TPG 1 to enable")
        write(path, 1, f"enabling {self.target.name}")

    def luns(self):
        return [LUN(self, int(entry.split("_", 1)[1]), entry) for entry in subdirs(os.path.join(self.path, "lun"))]

    def lun(self, number):
        return LUN(self, number)

    def acls(self):
        return [NodeACL(self, name) for name in subdirs(os.path.join(self.path, "acls"))]

    def acl(self, name):
        return NodeACL(self, name)

    def dump(self, core):
        """The ``lio.list_targets`` entry: enabled, LUNs (number -> storage object), ACLs."""
        entry = {"tpg": self.exists(), "enabled": False, "luns": {}, "acls": {}}
        if entry["tpg"]:
            entry["enabled"] = self.enabled()
            for lun in self.luns():
                entry["luns"][lun.number] = {"backstore": lun.storage_object_name(core)}
            for acl in self.acls():
                entry["acls"][acl.name] = {m.number: m.tpg_lun() for m in acl.mapped_luns()}
        return entry


class LUN(Node):
    """``tpgt_1/lun/lun_<n>``: a TPG LUN, one symlink to its storage object (``entry``: the directory as listed)."""

    def __init__(self, tpg, number, entry=None):
        super().__init__(os.path.join(tpg.path, "lun", entry or f"lun_{number}"))
        self.tpg = tpg
        self.number = number

    def storage_object_path(self, core):
        """The storage object the LUN's symlink reaches (``<core>/<hba>/<name>``), or None."""
        path = None
        for target in links(self.path).values():
            if target.startswith(core + os.sep):
                path = target
        return path

    def storage_object_name(self, core):
        path = self.storage_object_path(core)
        return os.path.basename(path) if path else None

    def create(self, storage_object):
        target = self.tpg.target.name
        mkdir(self.path, f"LUN {self.number} of {target}")
        symlink(
            storage_object.path,
            os.path.join(self.path, storage_object.name),
            f"LUN {self.number} -> {storage_object.name}",
        )

    def delete(self):
        """Unlink, rmdir; OSError propagates."""
        _unlink_and_rmdir(self.path)


class NodeACL(Node):
    """``tpgt_1/acls/<name>``: one initiator's ACL (``0x`` + 32 hex digits under a GID-named target)."""

    def __init__(self, tpg, name):
        super().__init__(os.path.join(tpg.path, "acls", name))
        self.tpg = tpg
        self.name = name

    def mapped_luns(self):
        return [
            MappedLUN(self, int(entry.split("_", 1)[1]), entry)
            for entry in subdirs(self.path)
            if entry.startswith("lun_")
        ]

    def mapped_lun(self, number):
        return MappedLUN(self, number)

    def create(self):
        mkdir(self.path, f"ACL {self.name} of {self.tpg.target.name}")

    def delete(self):
        """Its mapped LUNs, then itself; OSError propagates."""
        for entry in subdirs(self.path):
            if entry.startswith("lun_"):
                _unlink_and_rmdir(os.path.join(self.path, entry))
        os.rmdir(self.path)


class MappedLUN(Node):
    """``acls/<name>/lun_<n>``: the ACL's LUN ``n``, one symlink to a TPG LUN (``entry``: the directory as listed)."""

    def __init__(self, acl, number, entry=None):
        super().__init__(os.path.join(acl.path, entry or f"lun_{number}"))
        self.acl = acl
        self.number = number

    def tpg_lun(self):
        number = None
        for target in links(self.path).values():
            if os.path.basename(target).startswith("lun_"):
                number = int(os.path.basename(target).split("_", 1)[1])
        return number

    def create(self, lun):
        """The directory, and its link to ``lun`` unless it has one already."""
        mkdir(self.path, f"mapped LUN {self.number} of ACL {self.acl.name}")
        if not links(self.path):
            symlink(lun.path, os.path.join(self.path, f"lun_{lun.number}"), f"ACL {self.acl.name} LUN {lun.number}")

    def delete(self):
        """Unlink, rmdir; OSError propagates."""
        _unlink_and_rmdir(self.path)


def _unlink_and_rmdir(path):
    for link in links(path):
        os.unlink(os.path.join(path, link))
    os.rmdir(path)


def backstore_entry(stores, name):
    """
    ``stores[name]`` of a ``list_backstores`` listing; None when there is none; an
    error when two HBAs hold that name (the states plan with it too, so test=True
    predicts the refusal the real run meets).
    """
    if name in stores:
        return stores[name]
    both = sorted(key for key in stores if key.rpartition("/")[2] == name)
    if both:
        raise CommandExecutionError(
            f"LIO backstore name {name} is held by more than one HBA ({', '.join(both)}): "
            "remove the one that is not the MDT's (targetcli) before managing it"
        )
    return None


class Root(Node):
    """``target/``: LIO's configfs root, and what the ``lio`` loader module asks of it."""

    def __init__(self, path):
        super().__init__(path)
        self.core = os.path.join(path, "core")
        self.fabric = Fabric(self)

    def is_loaded(self):
        return self.fabric.exists()

    def ready_fabric(self):
        """The srpt fabric, which must exist."""
        if not self.fabric.exists():
            raise CommandExecutionError(
                f"LIO's SRP fabric is not ready: {self.fabric.path} does not exist "
                "(load target_core_mod, target_core_file and ib_srpt, then lio.fabric_ready)"
            )
        return self.fabric

    def tpg(self, target):
        check_name("srpt target", target)
        return self.ready_fabric().target(target).tpg

    def backstores(self):
        return [Backstore(self, hba) for hba in subdirs(self.core) if hba.rsplit("_", 1)[0] in PLUGINS]

    # ---- reading ----

    def list_backstores(self):
        """
        Every storage object by name; a name two HBAs hold (targetcli makes
        ``block/MDT0`` and ``fileio/MDT0`` side by side) is listed as
        ``<hba>/<name>`` for each, since a bare name would say only one.
        Exports are matched by the path a LUN's symlink reaches.
        """
        objects = [obj for backstore in self.backstores() for obj in backstore.storage_objects()]
        holders = collections.Counter(obj.name for obj in objects)
        result, key_of_path = {}, {}
        for obj in objects:
            key = obj.name if holders[obj.name] == 1 else f"{obj.backstore.hba}/{obj.name}"
            result[key] = dict(obj.dump(), exports=[])
            key_of_path[obj.path] = key
        for target in self.fabric.targets():
            if not target.tpg.exists():
                continue
            for lun in target.tpg.luns():
                key = key_of_path.get(lun.storage_object_path(self.core))
                if key is not None:
                    result[key]["exports"].append({"target": target.name, "lun": lun.number})
        return result

    def list_targets(self):
        return {target.name: target.tpg.dump(self.core) for target in self.fabric.targets()}

    def storage_object(self, name):
        """The storage object ``name`` as ``list_backstores`` finds it, or an error."""
        entry = backstore_entry(self.list_backstores(), name)
        if entry is None:
            raise CommandExecutionError(f"no LIO backstore {name}")
        return StorageObject(Backstore(self, entry["hba"]), name)

    def backstore_attributes(self, name):
        obj = self.storage_object(name)
        try:
            return obj.attributes()
        except OSError as exc:
            # Listed a moment ago, gone (or half made) now: say which backstore, not a bare errno.
            raise CommandExecutionError(f"cannot read the attributes of LIO backstore {name}: {exc}") from exc

    def running_rdma_cm_port(self):
        value = read(self.fabric.rdma_cm_port_path)
        return int(value) if value and value.isdigit() and value != "0" else None

    # ---- changing ----

    def fabric_ready(self, rdma_cm_port=None):
        if not os.path.isdir(self.path):
            raise CommandExecutionError(
                f"LIO is not loaded or configfs is not mounted: {self.path} does not exist "
                "(modprobe target_core_mod; mount -t configfs configfs /sys/kernel/config)"
            )
        changes = {}
        if not self.fabric.exists():
            mkdir(self.fabric.path, "the srpt fabric (is ib_srpt loaded?)")
            changes["fabric"] = "srpt"
        if rdma_cm_port is not None:
            path = self.fabric.rdma_cm_port_path
            if read(path) != str(int(rdma_cm_port)):
                write(path, int(rdma_cm_port), "the RDMA/CM port")
                changes["rdma_cm_port"] = int(rdma_cm_port)
        return changes

    def create_backstore(self, name, dev, serial, attributes=None, disk_problem=None):
        check_name("backstore", name)
        if backstore_entry(self.list_backstores(), name) is not None:
            raise CommandExecutionError(f"LIO backstore {name} exists already")
        if not os.path.exists(dev):
            raise CommandExecutionError(f"cannot export {dev} as {name}: it does not exist")
        # A disk another holder has open: refused before any mkdir.
        validate_backstore(name, dev, new=True, disk_problem=disk_problem)
        # One HBA directory holds any number of backstores (rtslib restores
        # them under its own numbering; names are what identify them).
        hba = Backstore(self, "iblock_0")
        hba.create(f"the iblock HBA for {name}")
        hba.storage_object(name).create(dev, serial, attributes)
        return {"name": name, "dev": dev, "serial": serial}

    def add_lun(self, target, lun, backstore):
        lun = check_lun(lun)
        stores = self.list_backstores()
        entry = backstore_entry(stores, backstore)
        if entry is None:
            raise CommandExecutionError(f"no LIO backstore {backstore} (known: {', '.join(stores) or 'none'})")
        check_name("srpt target", target)
        tgt = self.ready_fabric().target(target)
        tgt.create()
        tgt.tpg.create()
        tgt.tpg.lun(lun).create(StorageObject(Backstore(self, entry["hba"]), backstore))
        return {"target": target, "lun": lun, "backstore": backstore}

    def add_acl(self, target, initiator, lun):
        lun = check_lun(lun)
        name = acl_name(initiator)
        tpg = self.tpg(target)
        tpg_lun = tpg.lun(lun)
        if not tpg_lun.exists():
            raise CommandExecutionError(f"target {target} has no LUN {lun} to give {name}")
        acl = tpg.acl(name)
        acl.create()
        acl.mapped_lun(lun).create(tpg_lun)
        return {"target": target, "acl": name, "lun": lun}

    def del_acl(self, target, name):
        """
        ``name`` as the ACL is named (``0x...``, or an address ib_srpt took
        from an RDMA/CM login), or as ``add_acl`` was given it: the peer's
        port GID or rtslib's ``ib.`` form reach the ``0x...`` ACL made of it.
        """
        tpg = self.tpg(target)
        check_name("ACL", name)
        acl = tpg.acl(name)
        if not acl.exists():
            try:
                acl = tpg.acl(acl_name(name))
            except SaltInvocationError:
                pass
        if not acl.exists():
            raise CommandExecutionError(f"srpt target {target} has no ACL {name}")
        try:
            acl.delete()
        except OSError as exc:
            raise CommandExecutionError(f"LIO refused removing ACL {name} of {target}: {exc}") from exc
        return True

    def delete_backstore(self, name):
        check_name("backstore", name)
        stores = self.list_backstores()
        entry = backstore_entry(stores, name)
        if entry is None:
            return False
        try:
            for target, tinfo in self.list_targets().items():
                tpg = self.tpg(target)
                luns = {export["lun"] for export in entry["exports"] if export["target"] == target}
                for acl, mapped in tinfo["acls"].items():
                    for mlun, tpg_lun in mapped.items():
                        if tpg_lun in luns:
                            tpg.acl(acl).mapped_lun(mlun).delete()
                for lun in sorted(luns):
                    tpg.lun(lun).delete()
            StorageObject(Backstore(self, entry["hba"]), name).delete()
        except OSError as exc:
            raise CommandExecutionError(f"LIO refused removing backstore {name} or its LUNs: {exc}") from exc
        return True

    def set_backstore_attr(self, name, attr, value):
        self.storage_object(name).set_attribute(attr, value)
        return True

    def enable_target(self, target):
        self.tpg(target).enable()
        return True

    # ---- persistence: rtslib's saveconfig.json ----

    def running_config(self):
        """The part of the tree mdtmirror manages as rtslib's saveconfig dict."""
        stores = self.list_backstores()
        storage_objects = []
        for name, info in sorted(stores.items()):
            if info["plugin"] not in ("block", "fileio"):
                continue
            obj = {
                "attributes": saveconfig_attributes(os.path.join(info["path"], "attrib")),
                "dev": info["dev"] or "",
                "name": name,
                "plugin": info["plugin"],
                "wwn": info["serial"],
            }
            # rtslib refuses the hw_* (read-only) attributes on restore.
            obj["attributes"] = {k: v for k, v in obj["attributes"].items() if not k.startswith("hw_")}
            if info["plugin"] == "block":
                obj["readonly"] = parse_info(read(os.path.join(info["path"], "info"), "")).get("readonly") == "1"
            else:
                # rtslib ignores the size of a block device on restore, but keeps the key.
                size = parse_info(read(os.path.join(info["path"], "info"), "")).get("Size")
                obj["size"] = int(size) if size and size.isdigit() else 0
                obj["aio"] = False
            obj["write_back"] = obj["attributes"].get("emulate_write_cache") == 1
            storage_objects.append(obj)
        targets = []
        for tname, tinfo in sorted(self.list_targets().items()):
            if not tinfo["tpg"] or not tname.startswith("0x"):
                continue
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
                            "attributes": saveconfig_attributes(
                                os.path.join(self.fabric.target(tname).tpg.path, "attrib")
                            ),
                            "parameters": {},
                            "luns": luns,
                            "node_acls": acls,
                            "portals": [],
                        }
                    ],
                }
            )
        return {"fabric_modules": [], "storage_objects": storage_objects, "targets": targets}

    def save_config(self, path, test=False):
        """Write :py:meth:`running_config` to ``path`` as saveconfig.json if it differs."""
        text = json.dumps(self.running_config(), indent=2, sort_keys=True) + "\n"
        try:
            with open(path, encoding="utf-8") as handle:
                current = handle.read()
        except OSError:
            current = None
        changed = current != text
        if changed and not test:
            # fsync'ed before the rename: the boot restores from this file, a crash right after a save must
            # leave the old file or the new one, never an empty one.
            hostio.write_text(path, text, mode=0o600)
        return {"changed": changed, "path": path}
