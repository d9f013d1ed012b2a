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
from mdtmirror_lib import hostio, modprobe, scst_host, scst_parse, scst_rules, scst_tree  # noqa: E402  (after current())
from mdtmirror_lib.scst_parse import parse_default_scst  # noqa: E402

__virtualname__ = "scst"

# What Salt exposes as scst.* (pure parsers and renderers live in mdtmirror_lib, out of the CLI).
__all__ = [
    "is_loaded", "version", "list_handlers", "list_devices", "device_exists", "list_drivers", "list_targets",
    "list_groups", "local_ports", "local_targets", "port_target", "validate_device", "validate_name",
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
    """
    Return True if the SCST core is loaded (its sysfs tree exists).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.is_loaded
    """
    return scst_tree.SCST.loaded(_path("scst_tgt"))


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
    return _tree().version()


def list_handlers():
    """
    Return the device handlers SCST has loaded, with their device type and the
    parameters their ``add_device`` accepts.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_handlers
    """
    return {handler.name: handler.info() for handler in _tree().handlers()}


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
    return _tree().devices_info(name)


def device_exists(name):
    """
    Return True if the SCST device exists.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.device_exists MDT1
    """
    name = scst_rules.check_name("device", name)
    return _tree().device(name).exists()


def list_drivers():
    """
    Return the target drivers SCST has loaded and their targets.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_drivers
    """
    return {driver.name: driver.info() for driver in _tree().drivers()}


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
    return _tree().targets_info(driver)


def list_groups(target, driver="ib_srpt"):
    """
    Return the security groups of one target with their LUNs and initiators.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_groups fe80:0000:0000:0000:0002:c903:0005:f34b
    """
    return _tree().target(driver, target, must_exist=True).groups_info()


# --------------------------------------------------------------------------
# local HCA ports and the ib_srpt target that serves each
# --------------------------------------------------------------------------


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
    return _tree().driver(driver).port_targets(local_ports)


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
    return scst_rules.initiator_by_id(name, attributes, setup_id)


def validate_name(kind, name):
    """
    Check a device, group, handler or driver name for characters SCST would
    split on. ``kind`` only words the error.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_name group MDS
    """
    return scst_rules.check_name(kind, name)


def validate_initiator(name):
    """
    Check an initiator name (or pattern) for characters SCST would split on.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_initiator 10.0.2.15
    """
    return scst_rules.check_initiator(name)


def validate_lun(lun):
    """
    Check a LUN number (0..16383) and return it as an int.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_lun 0
    """
    return scst_rules.check_lun(lun)


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
    return _tree().open_device(name, handler, create, later, allow_nv_cache)


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
    scst_rules.check_name("device", name)
    _tree().device(name).close(force)
    return True


def set_dev_attr(name, attr, value):
    """
    Write one device attribute (only attributes SCST makes writable).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.set_dev_attr MDT1 t10_vend_id MDTM
    """
    scst_rules.check_name("device", name)
    value = scst_rules.check_value(attr, value, mgmt=False)
    _tree().device(name).set_attribute(attr, value)
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
    scst_rules.check_name("group", group)
    _tree().target(driver, target, must_exist=True).create_group(group)
    return True


def del_group(target, group, driver="ib_srpt", force=False):
    """
    Delete a security group. Refused while it still has LUNs or initiators
    unless ``force=True``.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_group fe80:0000:0000:0000:0002:c903:0005:f34b MDS
    """
    scst_rules.check_name("group", group)
    _tree().target(driver, target).delete_group(group, force)
    return True


def add_init(target, group, initiator, driver="ib_srpt"):
    """
    Allow an initiator (its port GID on InfiniBand, its IP address over
    RDMA/CM) into a security group.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_init fe80:0000:0000:0000:0002:c903:0005:f34b MDS fe80:0000:0000:0000:0002:c903:0003:cca7
    """
    scst_rules.check_initiator(initiator)
    _tree().group(driver, target, group).initiators.add(initiator)
    return True


def del_init(target, group, initiator, driver="ib_srpt"):
    """
    Remove an initiator from a security group.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_init fe80:0000:0000:0000:0002:c903:0005:f34b MDS 10.0.2.15
    """
    scst_rules.check_initiator(initiator)
    _tree().group(driver, target, group).initiators.delete(initiator)
    return True


def add_lun(target, lun, device, group=None, driver="ib_srpt", read_only=False):
    """
    Map a device at a LUN of a group (or of the target's default LUN set).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_lun fe80:0000:0000:0000:0002:c903:0005:f34b 0 MDT1 group=MDS
    """
    lun = scst_rules.check_lun(lun)
    scst_rules.check_name("device", device)
    tree = _tree()
    luns = tree.lun_set(driver, target, group)
    tree.device(device, must_exist=True)
    luns.add(device, lun, read_only)
    return True


def del_lun(target, lun, group=None, driver="ib_srpt"):
    """
    Remove a LUN mapping.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_lun fe80:0000:0000:0000:0002:c903:0005:f34b 0 group=MDS
    """
    lun = scst_rules.check_lun(lun)
    _tree().lun_set(driver, target, group).delete(lun)
    return True


def _set_enabled(driver, target, value):
    _tree().target(driver, target, must_exist=True).set_enabled(value)
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
    value = scst_rules.check_value(attr, value, mgmt=False)
    _tree().target(driver, target, must_exist=True).set_attribute(attr, value)
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
    scst_rules.check_name("driver", driver)
    value = scst_rules.check_value(attr, value, mgmt=False)
    _tree().driver(driver).set_attribute(attr, value)
    return True


# --------------------------------------------------------------------------
# /etc/scst.conf
# --------------------------------------------------------------------------


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
    return scst_parse.running_config(handlers, devices, list_targets())


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
    return scst_host.write_config(path, render_config(running_config()), test)


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
    return scst_host.modules_loaded(_path("sys_module"), modules)


def module_parameters(module):
    """
    Return the parameters a loaded kernel module runs with
    (``/sys/module/<module>/parameters``), or None if it is not loaded.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.module_parameters ib_srpt
    """
    return scst_host.module_parameters(_path("sys_module"), module)


def _modprobe_conf(module):
    return os.path.join(_path("modprobe_d"), f"{module}.conf")


def persisted_options(module):
    """
    Return the options ``module`` gets at boot: the ``options <module>``
    line of ``/etc/modprobe.d/<module>.conf`` (modprobe reads it whoever
    loads the module; SCST's init script runs a bare ``modprobe``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.persisted_options ib_srpt
    """
    return modprobe.options(hostio.read_text(_modprobe_conf(module)), module)


def legacy_options(module):
    """
    The ``<module>_parameters`` line of ``/etc/default/scst`` (what older
    mdtmirror wrote; SCST's init script has not read it since 2011), or
    None. :py:func:`persist_options` moves it away.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.legacy_options ib_srpt
    """
    return parse_default_scst(hostio.read_text(_path("scst_default")) or "").get(f"{module}_parameters")


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
    return scst_host.persist_options(_modprobe_conf(module), _path("scst_default"), module, options, test)


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
    modprobe = _config("mdtmirror:bin:modprobe", "modprobe")
    paths = _path("sys_module"), _path("var_lib_scst")
    return scst_host.load(
        modules, options, *paths, modprobe, lambda cmd: __salt__["cmd.run_all"](cmd, python_shell=False)
    )
