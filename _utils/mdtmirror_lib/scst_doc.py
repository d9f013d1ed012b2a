"""
What ``salt-call sys.doc scst`` shows: the docstring of each public function of the ``scst``
loader module, with its CLI example. The loader module attaches them at load
(:py:func:`mdtmirror_lib.publicdoc.attach`), so its code stays a thin face; the text is the admin's.
"""

DOCS = {}

DOCS["is_loaded"] = """
    Return True if the SCST core is loaded (its sysfs tree exists).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.is_loaded
    """

DOCS["version"] = """
    Return the running SCST version (``3.11.0-pre``), or raise if SCST is not loaded.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.version
    """

DOCS["list_handlers"] = """
    Return the device handlers SCST has loaded, with their device type and the
    parameters their ``add_device`` accepts.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_handlers
    """

DOCS["list_devices"] = """
    Return SCST's devices: handler, backing filename, every attribute (with the
    ones SCST marks ``[key]``), and which targets/groups export each at which LUN.

    Pass-through devices (the host's own SCSI devices, ``H:C:I:L``) have
    ``pass_through: True`` and handler ``None``.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_devices
        salt '*' scst.list_devices MDT1
    """

DOCS["device_exists"] = """
    Return True if the SCST device exists.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.device_exists MDT1
    """

DOCS["list_drivers"] = """
    Return the target drivers SCST has loaded and their targets.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_drivers
    """

DOCS["list_targets"] = """
    Return every target per driver: enabled, attributes, default LUN set,
    security groups (LUNs and initiators) and live sessions (``sessions``:
    their names; ``session_info``: each one's initiator name and LUNs).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_targets
        salt '*' scst.list_targets driver=ib_srpt
    """

DOCS["list_groups"] = """
    Return the security groups of one target with their LUNs and initiators.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.list_groups fe80:0000:0000:0000:0002:c903:0005:f34b
    """

DOCS["show_target"] = """
    Return one target as :py:func:`list_targets` shows it, or only the
    ``parts`` given (``enabled``, ``attributes``, ``luns``, ``groups``,
    ``sessions``): only those are read. Raises, naming the targets there
    are, when it does not exist.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.show_target fe80:0000:0000:0000:0002:c903:0005:f34b
        salt '*' scst.show_target fe80:0000:0000:0000:0002:c903:0005:f34b parts='[groups]'
    """

DOCS["local_ports"] = """
    Return the local RDMA ports (``/sys/class/infiniband``): HCA, port number,
    GID 0, link layer, state and node GUID.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.local_ports
    """

DOCS["local_targets"] = """
    Map each ib_srpt target to the local HCA port it serves.

    SCST >= 3.1 creates one target per port, named by the port's GID
    (``fe80:0000:...``); older SCST had one target per HCA named
    ``ib_srpt_target_<n>`` (the seed's ``ib_srpt_target_0``). Both are
    recognised; the result says which scheme each target follows.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.local_targets
    """

DOCS["port_target"] = """
    Return the name of the ib_srpt target serving a local HCA port.

    With no ``hca``/``port`` the machine must have exactly one candidate (an
    active port when several exist); otherwise the error lists them.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.port_target
        salt '*' scst.port_target hca=mlx5_0 port=1
    """

DOCS["validate_device"] = """
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

DOCS["initiator_by_id"] = """
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

DOCS["validate_name"] = """
    Check a device, group, handler or driver name for characters SCST would
    split on. ``kind`` only words the error.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_name group MDS
    """

DOCS["validate_initiator"] = """
    Check an initiator name (or pattern) for characters SCST would split on.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_initiator 10.0.2.15
    """

DOCS["validate_lun"] = """
    Check a LUN number (0..16383) and return it as an int.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.validate_lun 0
    """

DOCS["open_dev"] = """
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

DOCS["close_dev"] = """
    Delete an SCST device (``del_device``).

    Refused while a target or group exports it at a LUN, unless ``force=True``
    (SCST itself would silently remove those LUNs and the initiators lose the
    disk).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.close_dev MDT1
        salt '*' scst.close_dev MDT1 force=True
    """

DOCS["set_dev_attr"] = """
    Write one device attribute (only attributes SCST makes writable).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.set_dev_attr MDT1 t10_vend_id MDTM
    """

DOCS["add_group"] = """
    Create a security group on a target.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_group fe80:0000:0000:0000:0002:c903:0005:f34b MDS
    """

DOCS["del_group"] = """
    Delete a security group. Refused while it still has LUNs or initiators
    unless ``force=True``.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_group fe80:0000:0000:0000:0002:c903:0005:f34b MDS
    """

DOCS["add_init"] = """
    Allow an initiator (its port GID on InfiniBand, its IP address over
    RDMA/CM) into a security group.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_init fe80:0000:0000:0000:0002:c903:0005:f34b MDS fe80:0000:0000:0000:0002:c903:0003:cca7
    """

DOCS["del_init"] = """
    Remove an initiator from a security group.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_init fe80:0000:0000:0000:0002:c903:0005:f34b MDS 10.0.2.15
    """

DOCS["add_lun"] = """
    Map a device at a LUN of a group (or of the target's default LUN set).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.add_lun fe80:0000:0000:0000:0002:c903:0005:f34b 0 MDT1 group=MDS
    """

DOCS["del_lun"] = """
    Remove a LUN mapping.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.del_lun fe80:0000:0000:0000:0002:c903:0005:f34b 0 group=MDS
    """

DOCS["enable_target"] = """
    Enable a target: initiators can log in from now on. Put LUNs and
    initiators in place first: SCST assigns a session its group at login.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.enable_target fe80:0000:0000:0000:0002:c903:0005:f34b
    """

DOCS["disable_target"] = """
    Disable a target (closes every session of that port).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.disable_target fe80:0000:0000:0000:0002:c903:0005:f34b
    """

DOCS["set_tgt_attr"] = """
    Write one target attribute (``comment``, ``port_id``, ``rel_tgt_id``...).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.set_tgt_attr fe80:0000:0000:0000:0002:c903:0005:f34b rel_tgt_id 1
    """

DOCS["set_drv_attr"] = """
    Write one target-driver attribute.

    ib_srpt has no driver attributes since SCST 3.1 (the seed's
    ``enabled=1`` step): enable each port's target instead.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.set_drv_attr copy_manager allow_not_connected_copy 1
    """

DOCS["running_config"] = """
    Return the running SCST configuration as data: what :py:func:`write_config`
    renders.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.running_config
    """

DOCS["render_config"] = """
    Render configuration data (see :py:func:`running_config`) as an
    ``/etc/scst.conf`` that ``scstadmin -config`` accepts
    (``mdtmirror_lib.scst_parse.render_config`` says what differs from
    ``scstadmin -write_config``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.render_config "$(salt-call --out=json scst.running_config | jq .local)"
    """

DOCS["write_config"] = """
    Save the running SCST configuration to ``/etc/scst.conf`` (or ``path``) so
    that SCST's init script (``scstadmin -config``) restores it at boot.
    Written atomically; returns ``{"path", "changed", "existed", "text" (what
    is written), "current" (what the file held)}``.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.write_config
    """

DOCS["modules_loaded"] = """
    Return ``{module: loaded}`` for the SCST kernel modules (``/sys/module``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.modules_loaded
    """

DOCS["module_parameters"] = """
    Return the parameters a loaded kernel module runs with
    (``/sys/module/<module>/parameters``), or None if it is not loaded.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.module_parameters ib_srpt
    """

DOCS["persisted_options"] = """
    Return the options ``module`` gets at boot: the ``options <module>``
    line of ``/etc/modprobe.d/<module>.conf`` (modprobe reads it whoever
    loads the module; SCST's init script runs a bare ``modprobe``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.persisted_options ib_srpt
    """

DOCS["legacy_options"] = """
    The ``<module>_parameters`` line of ``/etc/default/scst`` (what older
    mdtmirror wrote; SCST's init script has not read it since 2011), or
    None. :py:func:`persist_options` moves it away.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.legacy_options ib_srpt
    """

DOCS["persist_options"] = """
    Persist module options as ``options <module> k=v ...`` in
    ``/etc/modprobe.d/<module>.conf`` (the whole file is ours), where
    modprobe finds them at boot, and remove a ``<module>_parameters`` line
    left in ``/etc/default/scst``. Returns True if a file changed (or would,
    with ``test=True``).

    CLI Example:

    .. code-block:: bash

        salt '*' scst.persist_options ib_srpt '{rdma_cm_port: 5555}'
    """

DOCS["load"] = """
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
