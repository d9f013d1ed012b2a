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
from mdtmirror_lib import hostio, lio_doc, lio_parse, lio_tree, publicdoc  # noqa: E402  (after current(): the fresh copy)

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
    return lio_parse.acl_name(initiator, initiator_ext)


def default_serial(node, device):
    return lio_parse.default_serial(node, device)


def initiator_by_id(serial):
    return lio_parse.initiator_by_id(serial)


def rdma_cm_port_conf(port, root="/sys/kernel/config/target"):
    return lio_parse.rdma_cm_port_conf(port, root)


def is_loaded():
    return _tree().is_loaded()


def list_backstores():
    return _tree().list_backstores()


def list_targets():
    return _tree().list_targets()


def local_ports():
    return lio_parse.with_targets(hostio.rdma_ports(_path("infiniband")))


def local_targets():
    targets = list_targets() if is_loaded() else {}
    return lio_parse.local_targets(local_ports(), targets)


def port_target(hca=None, port=None):
    return lio_parse.port_target(local_ports(), hca=hca, port=port)


def running_rdma_cm_port():
    return _tree().running_rdma_cm_port()


def validate_backstore(name, dev, new=False):
    return lio_tree.validate_backstore(name, dev, new=new, disk_problem=_disk_problem)


def backstore_attributes(name):
    return _tree().backstore_attributes(name)


def set_backstore_attr(name, attr, value):
    return _tree().set_backstore_attr(name, attr, value)


def fabric_ready(rdma_cm_port=None):
    return _tree().fabric_ready(rdma_cm_port)


def create_backstore(name, dev, serial, attributes=None):
    return _tree().create_backstore(name, dev, serial, attributes=attributes, disk_problem=_disk_problem)


def add_lun(target, lun, backstore):
    return _tree().add_lun(target, lun, backstore)


def add_acl(target, initiator, lun):
    return _tree().add_acl(target, initiator, lun)


def del_acl(target, name):
    return _tree().del_acl(target, name)


def delete_backstore(name):
    return _tree().delete_backstore(name)


def enable_target(target):
    return _tree().enable_target(target)


def running_config():
    return _tree().running_config()


def save_config(path, test=False):
    return _tree().save_config(path, test=test)


# Each public function's docstring (what sys.doc shows, with its CLI example) is in lio_doc.
publicdoc.attach(globals(), lio_doc.DOCS)
