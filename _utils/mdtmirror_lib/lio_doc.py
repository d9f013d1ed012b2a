"""
What ``salt-call sys.doc lio`` shows: the docstring of each public function of the ``lio``
loader module, with its CLI example. The loader module attaches them at load
(:py:func:`mdtmirror_lib.publicdoc.attach`), so its code stays a thin face; the text is the admin's.
"""

DOCS = {}

DOCS["acl_name"] = """
    The ACL name ib_srpt checks for an initiator under a GID-named target:
    ``0x`` + initiator_ext (16 hex digits) + the initiator port's GUID.

    ``initiator``: the peer's port GID (``fe80:0000:...:5054:00ff:fe12:3456``,
    the GUID is its last 64 bits), or already an initiator port ID
    (``0x`` + 32 hex digits, or rtslib's ``ib.`` + 32).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.acl_name fe80:0000:0000:0000:0002:c903:0003:cca7
    """

DOCS["default_serial"] = """
    The T10 unit serial a backstore gets unless one is declared: a UUID
    derived from the node and device names, so it is the same every time the
    backstore is made (the peer's ``/dev/disk/by-id`` name of the LUN comes
    from it) and the peer can compute it.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.default_serial mds01 MDT0
    """

DOCS["initiator_by_id"] = """
    The ``/dev/disk/by-id`` name the peer's udev gives a LIO LUN with this
    unit serial (``scsi-3`` + its NAA designator).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.initiator_by_id 8f0e5c1a-...
    """

DOCS["rdma_cm_port_conf"] = """
    The systemd-tmpfiles line that sets srpt's RDMA/CM port (rtslib's
    saveconfig does not keep it); run with ``systemd-tmpfiles --create`` after
    the restore service.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.rdma_cm_port_conf 5555
    """

DOCS["is_loaded"] = """
    True when LIO's SRP fabric is ready (``<configfs>/target/srpt`` exists).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.is_loaded
    """

DOCS["list_backstores"] = """
    Return every backstore by name: plugin (``block``, ``fileio``...), HBA
    directory, device, unit serial, enabled, and the targets' LUNs exporting
    it. A name two HBAs hold is listed as ``<hba>/<name>`` for each (and
    managed by neither name until one is removed).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.list_backstores
    """

DOCS["list_targets"] = """
    Return the srpt targets: enabled, LUNs (number -> backstore) and ACLs
    (name -> mapped LUN number -> TPG LUN), of their TPG 1.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.list_targets
    """

DOCS["local_ports"] = """
    The local RDMA ports (``/sys/class/infiniband``) and the srpt target name
    each would have: HCA, port, GID 0, link layer, state, node GUID.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.local_ports
    """

DOCS["local_targets"] = """
    The srpt targets of the local ports, with what an initiator needs to
    log in (``login_info``, the keys SCST publishes: ``tid_ext``,
    ``ioc_guid``, ``dgid``, ``pkey``, ``service_id``; ib_srpt's I/O
    controller GUID is the HCA's node GUID by default). Same shape as
    ``scst.local_targets``, for the Salt mine.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.local_targets
    """

DOCS["port_target"] = """
    The srpt target name of a local port (``0x`` + its GID); with no
    ``hca``/``port`` the machine must have one port (or one active port).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.port_target
        salt '*' lio.port_target hca=mlx5_0 port=1
    """

DOCS["running_rdma_cm_port"] = """
    The RDMA/CM port srpt listens on (None: not set or fabric not ready).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.running_rdma_cm_port
    """

DOCS["validate_backstore"] = """
    Check a backstore declaration before anything is made: its name, and that
    ``dev`` is an absolute path (a block device when it exists). ``new``: the
    backstore is about to be made, so ``dev`` must also be free: iblock opens
    it exclusively, and a disk another holder has open (an imported pool, a
    mount, an SCST export) would answer EBUSY (``mdtmirror.disk_problem``).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.validate_backstore MDT0 /dev/disk/by-id/scsi-35000c500a1b2c3d4 new=True
    """

DOCS["backstore_attributes"] = """
    A backstore's configfs attributes (``attrib/``), values as read.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.backstore_attributes MDT0
    """

DOCS["set_backstore_attr"] = """
    Write one configfs attribute of a backstore (LIO refuses some, e.g.
    ``block_size``, while the backstore is exported).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.set_backstore_attr MDT0 is_nonrot 1
    """

DOCS["fabric_ready"] = """
    Make LIO's srpt fabric directory (it appears on ``mkdir`` once ib_srpt
    is loaded) and set the RDMA/CM listener port when given. Returns what
    changed.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.fabric_ready rdma_cm_port=5555
    """

DOCS["create_backstore"] = """
    Create an iblock backstore ``name`` on block device ``dev`` (an
    exclusive open: the device must not be a pool's) with T10 unit
    serial ``serial``, set ``attributes`` (configfs ``attrib/`` names, e.g.
    ``{is_nonrot: 1}``), enable it.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.create_backstore MDT0 /dev/disk/by-id/scsi-35000c500a1b2c3d4 serial=$(uuidgen)
    """

DOCS["add_lun"] = """
    Export ``backstore`` as LUN ``lun`` of the srpt target (made, with its
    TPG, if missing).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.add_lun 0xfe800000000000000002c90300b77f41 0 MDT0
    """

DOCS["add_acl"] = """
    Let ``initiator`` (an ACL name, see :py:func:`acl_name`) see TPG LUN
    ``lun`` as its LUN ``lun``.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.add_acl 0xfe80...7f41 0x00000000000000000002c9030003cca7 0
    """

DOCS["del_acl"] = """
    Remove an ACL (its mapped LUNs first) from the srpt target; the
    initiator's session, if any, ends.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.del_acl 0xfe80...7f41 0x00000000000000000002c9030003cca7
    """

DOCS["delete_backstore"] = """
    Stop exporting backstore ``name`` and remove it: every ACL's mapped LUN
    that reaches one of its TPG LUNs, those LUNs, then the backstore (the
    device is closed: another holder, e.g. a pool, may open it). Nothing to
    do when it does not exist.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.delete_backstore MDT0
    """

DOCS["enable_target"] = """
    Enable TPG 1 of the srpt target (logins are accepted from now on).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.enable_target 0xfe800000000000000002c90300b77f41
    """

DOCS["running_config"] = """
    The running LIO configuration as rtslib's saveconfig dict (storage
    objects, srpt targets with TPG, LUNs, ACLs and mapped LUNs), the part of
    it mdtmirror manages: fileio/block backstores and srpt targets.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.running_config
    """

DOCS["save_config"] = """
    Write the running configuration to ``path`` in rtslib's saveconfig.json
    format (what ``targetctl restore`` reads at boot), if it differs from the
    file's. Returns ``{"changed": bool, "path": path}``.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.save_config /etc/rtslib-fb-target/saveconfig.json
    """
