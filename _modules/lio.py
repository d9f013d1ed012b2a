"""
LIO (the Linux kernel's own SCSI target) as the SRP target backend, through
its configfs tree (``/sys/kernel/config/target``) and ``ib_srpt``.

The same job as the ``scst`` module for a node whose target framework is LIO:
export one local block device as a LUN of the SRP target on a local RDMA
port, to the peer's initiator only. The objects are the kernel's: an
**iblock** backstore ``core/iblock_0/<name>`` on the block device, with a T10
unit serial; the port's target ``srpt/0x<port GID, 32 hex digits>/tpgt_1``,
its ``lun/lun_<n>`` linked to the backstore; one ACL per initiator,
``tpgt_1/acls/<name>/lun_<n>`` linked to that LUN (:py:func:`acl_name`);
``srpt/discovery_auth/rdma_cm_port``, the RDMA/CM listener (RoCE/iWARP).
``mdtmirror_lib.lio_tree`` holds them, one class each, and why each is made
so (and why configfs directly, not python3-rtslib-fb).

Persistence is LIO's own: :py:func:`save_config` writes the running tree
as rtslib's ``saveconfig.json`` (Debian: ``/etc/rtslib-fb-target/``,
restored at boot by ``rtslib-fb-targetctl.service``; Red Hat:
``/etc/target/``, ``target.service``). rtslib does not save srpt's
``rdma_cm_port``; :py:func:`rdma_cm_port_conf` renders the systemd-tmpfiles
line that sets it, run after the restore.

Configuration (``config.get``): ``mdtmirror:sysroot``,
``mdtmirror:paths:lio_target`` (default ``/sys/kernel/config/target``),
``mdtmirror:paths:infiniband`` (``/sys/class/infiniband``).
"""

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import hostio, lio_parse, lio_tree  # noqa: E402  (after current(): the fresh copy)

__virtualname__ = "lio"

# What Salt exposes as lio.* (the library's helpers stay out of the CLI).
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

_DEFAULT_PATHS = {"lio_target": "/sys/kernel/config/target", "infiniband": "/sys/class/infiniband"}


def __virtual__():
    return __virtualname__


def _path(key):
    return hostio.host_path(__salt__["config.get"], key, _DEFAULT_PATHS)


def _tree():
    """The configfs tree where ``mdtmirror:paths:lio_target`` (under the sysroot) says it is."""
    return lio_tree.Root(_path("lio_target"))


def _disk_problem(dev, **kwargs):
    return __salt__["mdtmirror.disk_problem"](dev, **kwargs)


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
    return lio_parse.acl_name(initiator, initiator_ext)


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
    return lio_parse.default_serial(node, device)


def initiator_by_id(serial):
    """
    The ``/dev/disk/by-id`` name the peer's udev gives a LIO LUN with this
    unit serial (``scsi-3`` + its NAA designator).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.initiator_by_id 8f0e5c1a-...
    """
    return lio_parse.initiator_by_id(serial)


def rdma_cm_port_conf(port, root="/sys/kernel/config/target"):
    """
    The systemd-tmpfiles line that sets srpt's RDMA/CM port (rtslib's
    saveconfig does not keep it); run with ``systemd-tmpfiles --create`` after
    the restore service.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.rdma_cm_port_conf 5555
    """
    return lio_parse.rdma_cm_port_conf(port, root)


def is_loaded():
    """
    True when LIO's SRP fabric is ready (``<configfs>/target/srpt`` exists).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.is_loaded
    """
    return _tree().is_loaded()


def list_backstores():
    """
    Return every backstore by name: plugin (``block``, ``fileio``...), HBA
    directory, device, unit serial, enabled, and the targets' LUNs exporting
    it. A name two HBAs hold is listed as ``<hba>/<name>`` for each (and
    managed by neither name until one is removed).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.list_backstores
    """
    return _tree().list_backstores()


def list_targets():
    """
    Return the srpt targets: enabled, LUNs (number -> backstore) and ACLs
    (name -> mapped LUN number -> TPG LUN), of their TPG 1.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.list_targets
    """
    return _tree().list_targets()


def local_ports():
    """
    The local RDMA ports (``/sys/class/infiniband``) and the srpt target name
    each would have: HCA, port, GID 0, link layer, state, node GUID.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.local_ports
    """
    return lio_parse.with_targets(hostio.rdma_ports(_path("infiniband")))


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
    return lio_parse.local_targets(local_ports(), targets)


def port_target(hca=None, port=None):
    """
    The srpt target name of a local port (``0x`` + its GID); with no
    ``hca``/``port`` the machine must have one port (or one active port).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.port_target
        salt '*' lio.port_target hca=mlx5_0 port=1
    """
    return lio_parse.port_target(local_ports(), hca=hca, port=port)


def running_rdma_cm_port():
    """
    The RDMA/CM port srpt listens on (None: not set or fabric not ready).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.running_rdma_cm_port
    """
    return _tree().running_rdma_cm_port()


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
    return lio_tree.validate_backstore(name, dev, new=new, disk_problem=_disk_problem)


def backstore_attributes(name):
    """
    A backstore's configfs attributes (``attrib/``), values as read.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.backstore_attributes MDT0
    """
    return _tree().backstore_attributes(name)


def set_backstore_attr(name, attr, value):
    """
    Write one configfs attribute of a backstore (LIO refuses some, e.g.
    ``block_size``, while the backstore is exported).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.set_backstore_attr MDT0 is_nonrot 1
    """
    return _tree().set_backstore_attr(name, attr, value)


def fabric_ready(rdma_cm_port=None):
    """
    Make LIO's srpt fabric directory (it appears on ``mkdir`` once ib_srpt
    is loaded) and set the RDMA/CM listener port when given. Returns what
    changed.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.fabric_ready rdma_cm_port=5555
    """
    return _tree().fabric_ready(rdma_cm_port)


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
    return _tree().create_backstore(name, dev, serial, attributes=attributes, disk_problem=_disk_problem)


def add_lun(target, lun, backstore):
    """
    Export ``backstore`` as LUN ``lun`` of the srpt target (made, with its
    TPG, if missing).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.add_lun 0xfe800000000000000002c90300b77f41 0 MDT0
    """
    return _tree().add_lun(target, lun, backstore)


def add_acl(target, initiator, lun):
    """
    Let ``initiator`` (an ACL name, see :py:func:`acl_name`) see TPG LUN
    ``lun`` as its LUN ``lun``.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.add_acl 0xfe80...7f41 0x00000000000000000002c9030003cca7 0
    """
    return _tree().add_acl(target, initiator, lun)


def del_acl(target, name):
    """
    Remove an ACL (its mapped LUNs first) from the srpt target; the
    initiator's session, if any, ends.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.del_acl 0xfe80...7f41 0x00000000000000000002c9030003cca7
    """
    return _tree().del_acl(target, name)


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
    return _tree().delete_backstore(name)


def enable_target(target):
    """
    Enable TPG 1 of the srpt target (logins are accepted from now on).

    CLI Example:

    .. code-block:: bash

        salt '*' lio.enable_target 0xfe800000000000000002c90300b77f41
    """
    return _tree().enable_target(target)


def running_config():
    """
    The running LIO configuration as rtslib's saveconfig dict (storage
    objects, srpt targets with TPG, LUNs, ACLs and mapped LUNs), the part of
    it mdtmirror manages: fileio/block backstores and srpt targets.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.running_config
    """
    return _tree().running_config()


def save_config(path, test=False):
    """
    Write the running configuration to ``path`` in rtslib's saveconfig.json
    format (what ``targetctl restore`` reads at boot), if it differs from the
    file's. Returns ``{"changed": bool, "path": path}``.

    CLI Example:

    .. code-block:: bash

        salt '*' lio.save_config /etc/rtslib-fb-target/saveconfig.json
    """
    return _tree().save_config(path, test=test)
