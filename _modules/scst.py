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

# The public face: each function checks its arguments (mdtmirror_lib.scst_rules) and hands the work to
# the object model of the tree (mdtmirror_lib.scst_tree: one class per SCST object, one write path) or,
# for kernel modules and scst.conf, to mdtmirror_lib.scst_host.

import os

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import (  # noqa: E402  (after current())
    hostio,
    modprobe,
    publicdoc,
    scst_doc,
    scst_host,
    scst_parse,
    scst_rules,
    scst_tree,
)
from mdtmirror_lib.scst_parse import parse_default_scst  # noqa: E402

__virtualname__ = "scst"

# What Salt exposes as scst.* (pure parsers and renderers live in mdtmirror_lib, out of the CLI).
__all__ = [
    "is_loaded", "version", "list_handlers", "list_devices", "device_exists", "list_drivers", "list_targets",
    "list_groups", "show_target", "local_ports", "local_targets", "port_target", "validate_device", "validate_name",
    "validate_initiator", "validate_lun", "initiator_by_id", "open_dev", "close_dev", "set_dev_attr", "add_group",
    "del_group", "add_init", "del_init", "add_lun", "del_lun", "enable_target", "disable_target", "set_tgt_attr",
    "set_drv_attr", "running_config", "render_config", "write_config", "modules_loaded", "module_parameters",
    "persisted_options", "legacy_options", "persist_options", "load",
]  # fmt: skip


_DEFAULT_PATHS = {
    "scst_tgt": "/sys/kernel/scst_tgt",
    "infiniband": "/sys/class/infiniband",
    "sys_module": "/sys/module",
    "scst_conf": "/etc/scst.conf",
    "scst_default": "/etc/default/scst",
    "modprobe_d": "/etc/modprobe.d",
    "var_lib_scst": "/var/lib/scst",
}

# Modules an SCST SRP target needs, in load order.
TARGET_MODULES = ("scst", "scst_vdisk", "ib_srpt")


def __virtual__():
    return __virtualname__


def _config(key, default=None):
    return __salt__["config.get"](key, default)


def _path(key):
    return hostio.host_path(_config, key, _DEFAULT_PATHS)


def _tree():
    """The SCST tree, or CommandExecutionError if SCST is not loaded."""
    return scst_tree.SCST(_path("scst_tgt"), _config)


def is_loaded():
    return scst_tree.SCST.loaded(_path("scst_tgt"))


# --------------------------------------------------------------------------
# reading the tree
# --------------------------------------------------------------------------


def version():
    return _tree().version()


def list_handlers():
    return {handler.name: handler.info() for handler in _tree().handlers()}


def list_devices(name=None):
    return _tree().devices_info(name)


def device_exists(name):
    name = scst_rules.check_name("device", name)
    return _tree().device(name).exists()


def list_drivers():
    return {driver.name: driver.info() for driver in _tree().drivers()}


def list_targets(driver=None):
    return _tree().targets_info(driver)


def list_groups(target, driver="ib_srpt"):
    return _tree().target(driver, target, must_exist=True).groups_info()


def show_target(target, driver="ib_srpt", parts=None):
    return _tree().target(driver, target, must_exist=True).info(parts)


# --------------------------------------------------------------------------
# local HCA ports and the ib_srpt target that serves each
# --------------------------------------------------------------------------


def local_ports():
    return hostio.rdma_ports(_path("infiniband"))


def local_targets(driver="ib_srpt"):
    return _tree().driver(driver).port_targets(local_ports)


def port_target(hca=None, port=None, driver="ib_srpt"):
    return scst_rules.choose_port_target(local_targets(driver), local_ports, hca, port, driver)


# --------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------


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
    attributes = {k: v for k, v in attributes.items() if not k.startswith("__")}
    if filename is not None:
        attributes["filename"] = filename
    return scst_rules.validate_device(
        name,
        handler,
        attributes,
        allow_nv_cache,
        backing_problem=_backing_problem if check_backing else None,
        create_params=lambda: _tree().handler(handler).create_params(must_exist=True) if is_loaded() else None,
    )


def initiator_by_id(name, attributes=None, setup_id=0):
    return scst_rules.initiator_by_id(name, attributes, setup_id)


def validate_name(kind, name):
    return scst_rules.check_name(kind, name)


def validate_initiator(name):
    return scst_rules.check_initiator(name)


def validate_lun(lun):
    return scst_rules.check_lun(lun)


def open_dev(name, handler, filename=None, allow_nv_cache=False, **attributes):
    create, later = validate_device(name, handler, filename=filename, allow_nv_cache=allow_nv_cache, **attributes)
    return _tree().open_device(name, handler, create, later, allow_nv_cache)


def close_dev(name, force=False):
    scst_rules.check_name("device", name)
    _tree().device(name).close(force)
    return True


def set_dev_attr(name, attr, value):
    scst_rules.check_name("device", name)
    value = scst_rules.check_value(attr, value, mgmt=False)
    _tree().device(name).set_attribute(attr, value)
    return True


# --------------------------------------------------------------------------
# groups, initiators, LUNs, targets
# --------------------------------------------------------------------------


def add_group(target, group, driver="ib_srpt"):
    scst_rules.check_name("group", group)
    _tree().target(driver, target, must_exist=True).create_group(group)
    return True


def del_group(target, group, driver="ib_srpt", force=False):
    scst_rules.check_name("group", group)
    _tree().target(driver, target).delete_group(group, force)
    return True


def add_init(target, group, initiator, driver="ib_srpt"):
    scst_rules.check_initiator(initiator)
    _tree().group(driver, target, group).initiators.add(initiator)
    return True


def del_init(target, group, initiator, driver="ib_srpt"):
    scst_rules.check_initiator(initiator)
    _tree().group(driver, target, group).initiators.delete(initiator)
    return True


def add_lun(target, lun, device, group=None, driver="ib_srpt", read_only=False):
    lun = scst_rules.check_lun(lun)
    scst_rules.check_name("device", device)
    tree = _tree()
    luns = tree.lun_set(driver, target, group)
    tree.device(device, must_exist=True)
    luns.add(device, lun, read_only)
    return True


def del_lun(target, lun, group=None, driver="ib_srpt"):
    lun = scst_rules.check_lun(lun)
    _tree().lun_set(driver, target, group).delete(lun)
    return True


def _set_enabled(driver, target, value):
    _tree().target(driver, target, must_exist=True).set_enabled(value)
    return True


def enable_target(target, driver="ib_srpt"):
    return _set_enabled(driver, target, "1")


def disable_target(target, driver="ib_srpt"):
    return _set_enabled(driver, target, "0")


def set_tgt_attr(target, attr, value, driver="ib_srpt"):
    value = scst_rules.check_value(attr, value, mgmt=False)
    _tree().target(driver, target, must_exist=True).set_attribute(attr, value)
    return True


def set_drv_attr(driver, attr, value):
    scst_rules.check_name("driver", driver)
    value = scst_rules.check_value(attr, value, mgmt=False)
    _tree().driver(driver).set_attribute(attr, value)
    return True


# --------------------------------------------------------------------------
# /etc/scst.conf
# --------------------------------------------------------------------------


def running_config():
    return scst_parse.running_config(*_tree().config_listings())


def render_config(config, header="# Written by mdtmirror (salt scst.write_config)."):
    return scst_parse.render_config(config, header)


def write_config(path=None, test=False):
    path = path or _path("scst_conf")
    if test and not is_loaded():
        # Nothing to render yet; a real run after loading SCST will write it.
        return {"path": path, "changed": True, "existed": os.path.exists(path), "text": None, "current": None}
    return scst_host.write_config(path, render_config(running_config()), test)


# --------------------------------------------------------------------------
# kernel modules
# --------------------------------------------------------------------------


def modules_loaded(modules=TARGET_MODULES):
    return scst_host.modules_loaded(_path("sys_module"), modules)


def module_parameters(module):
    return scst_host.module_parameters(_path("sys_module"), module)


def _modprobe_conf(module):
    return os.path.join(_path("modprobe_d"), f"{module}.conf")


def persisted_options(module):
    return modprobe.options(hostio.read_text(_modprobe_conf(module)), module)


def legacy_options(module):
    return parse_default_scst(hostio.read_text(_path("scst_default")) or "").get(f"{module}_parameters")


def persist_options(module, options, test=False):
    return scst_host.persist_options(_modprobe_conf(module), _path("scst_default"), module, options, test)


def load(modules=TARGET_MODULES, options=None):
    modprobe = _config("mdtmirror:bin:modprobe", "modprobe")
    paths = _path("sys_module"), _path("var_lib_scst")
    return scst_host.load(
        modules, options, *paths, modprobe, lambda cmd: __salt__["cmd.run_all"](cmd, python_shell=False)
    )


# Each public function's docstring (what sys.doc shows, with its CLI example) is in scst_doc.
publicdoc.attach(globals(), scst_doc.DOCS)
