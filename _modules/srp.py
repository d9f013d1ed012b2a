"""
SRP initiator management (the in-kernel ``ib_srp``) through its sysfs ABI.

Each MDS logs in to its peer's exported LUN as an SRP initiator. The kernel
interfaces used here (``Documentation/ABI/stable/sysfs-driver-ib_srp``,
``drivers/infiniband/ulp/srp/ib_srp.c``, ``drivers/scsi/scsi_transport_srp.c``):

* ``/sys/class/infiniband_srp/srp-<hca>-<port>/add_target``: one write of a
  comma-separated ``key=value`` list makes one login (a new SCSI host and
  remote port); ``ibdev`` and ``port`` name the local HCA port.
* ``/sys/class/srp_remote_ports/port-<host>:<n>``: the remote (target) port of
  a login: ``port_id``, ``roles``, ``state``, the recovery timers
  ``fast_io_fail_tmo``/``dev_loss_tmo``/``reconnect_delay``,
  ``failed_reconnects`` and ``delete`` (any write logs out).
* ``/sys/class/scsi_host/host<n>/``: ``proc_name`` ``ib_srp`` and the login's
  identity (``id_ext``, ``ioc_guid``, ``sgid``, ``local_ib_device``,
  ``local_ib_port``; ``dgid``, ``orig_dgid``, ``pkey``, ``service_id`` for
  IB/CM logins only: for RDMA/CM logins reading them gives ENOENT).

Two kinds of login exist: IB/CM (``id_ext, ioc_guid, dgid, pkey,
service_id``, found with ``srp_daemon`` where an InfiniBand subnet manager
runs) and RDMA/CM (``id_ext, ioc_guid, dest=<ip>:<port>``, the only kind on
RoCE/iWARP, where there is no subnet manager and so no discovery).

Configuration (minion config or pillar, read with ``config.get``):

``mdtmirror:sysroot``
    prefix for every kernel, ``/dev`` and ``/etc`` path below (default ``/``).
``mdtmirror:paths:<key>``
    override one path: ``infiniband_srp``, ``infiniband``, ``infiniband_mad``,
    ``dev_infiniband``, ``srp_remote_ports``, ``scsi_host``, ``dev``,
    ``dev_disk_by_id``, ``sys_module``, ``modprobe_d``, ``srp_daemon_conf``,
    ``rdma_conf``.
``mdtmirror:bin:srp_daemon``, ``mdtmirror:bin:udevadm``
    the binaries (``udevadm`` set to an empty value: never call it).
``mdtmirror:srp_login_wait``
    seconds to wait, after the kernel accepted a login, for its remote port
    to show in sysfs (default 10).
"""

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import srp_tree  # noqa: E402  (after current(): the fresh copy)

# The pure parsers and renderers live in the library; their names stay here for callers and tests.
from mdtmirror_lib.srp_parse import (  # noqa: E402, F401
    MODULE,
    format_target,
    parse_login_attrs,
    parse_login_spec,
    parse_modprobe_conf,
    parse_srp_daemon,
    render_srp_daemon_conf,
)

__virtualname__ = "srp"

# What Salt exposes as srp.* (pure parsers and renderers stay importable for
# tests but out of the CLI).
__all__ = [
    "ports",
    "discover",
    "validate_target",
    "list_logins",
    "login",
    "logout",
    "disks",
    "module_options",
    "load",
    "persist_module_options",
    "persist_daemon_conf",
    "rdma_conf_srp_load",
]


def __virtual__():
    return __virtualname__


def _run(cmd, **kwargs):
    return __salt__["cmd.run_all"](cmd, python_shell=False, **kwargs)


def _root():
    """This host's ib_srp objects (:py:mod:`mdtmirror_lib.srp_tree`), on this minion's paths and binaries."""
    return srp_tree.SrpRoot(__salt__["config.get"], _run)


# --------------------------------------------------------------------------
# local ports
# --------------------------------------------------------------------------


def ports():
    """
    Return the local ports ib_srp can log in through
    (``/sys/class/infiniband_srp/srp-<hca>-<port>``): HCA, port number, the
    add_target path, GID 0 (the source GID of logins), port and node GUID,
    link layer, state, and the umad device ``srp_daemon`` needs (None when
    ``ib_umad`` is not loaded).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.ports
    """
    return _root().ports()


def discover(port=None):
    """
    Find SRP target ports with ``srp_daemon -o -a -c -d <umad>`` through one
    local port or all of them. Returns ``{port name: [target dicts]}``, each
    usable as ``srp.login``'s target.

    Discovery asks the InfiniBand subnet administrator, so it only works on
    InfiniBand fabrics with a subnet manager; on RoCE/iWARP log in with the
    target's ``dest=<ip>:<port>`` instead. Raises if nothing is found.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.discover
        salt '*' srp.discover port=mlx5_0/1
    """
    return _root().discover(port)


def validate_target(target, **options):
    """
    Check a target specification without touching the kernel and return it
    normalised with the add_target line it makes: ``{"target", "line"}``.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.validate_target 'id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555'
    """
    spec = parse_login_spec(target, **options)
    return {"target": spec, "line": format_target(spec)}


# --------------------------------------------------------------------------
# logins
# --------------------------------------------------------------------------


def list_logins(brief=False):
    """
    Return the SRP logins of ib_srp: one entry per SCSI host whose
    ``proc_name`` is ``ib_srp``, joined with its remote port (state, timers,
    ``port_id``); see :py:func:`parse_login_attrs` for the fields. Other SRP
    transport users (ibmvscsi) are left out. ``brief=True``: only ``host``
    and ``remote_port`` of each (one attribute read per SCSI host instead of
    some twenty: what the node plan asks on every apply).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.list_logins
        salt '*' srp.list_logins brief=True
    """
    return _root().list_logins(brief=brief)


def login(target, port=None, test=False, **options):
    """
    Log in to an SRP target port: write ONE add_target line to the local
    port's ``add_target``. ``target`` is an add_target line or a dict (from
    ``srp.discover``, or ``{id_ext, ioc_guid, dest: <ip>:<port>}`` on RoCE);
    ``options`` are more add_target options (``max_sect``, ``ch_count``...).
    Everything is validated before anything is written.

    Idempotent: a login to the same target port (id_ext + ioc_guid, + the
    IB/CM address) on the same local port gives ``changed: False``. The
    kernel answers a duplicate with EEXIST (or EIO): that counts as "already
    there" only if the login is then visible. Returns ``{changed, target,
    line, port, host, remote_port, login}``.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.login 'id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555' ch_count=1
        salt '*' srp.login 'id_ext=0002c90300b77f40,ioc_guid=0002c90300b77f40' port=mlx4_0/1 \\
            dgid=fe800000000000000002c90300b77f41 pkey=ffff service_id=0002c90300b77f40
    """
    return _root().login(target, port=port, test=test, **options)


def logout(target, port=None, timeout=30, test=False):
    """
    Log out: write to the ``delete`` attribute of the remote port(s) of a
    login, named by remote port (``port-2:1``), SCSI host (``host2``) or
    target specification (every local port unless ``port`` is given). Waits
    up to ``timeout`` seconds for the remote port to go. Returns ``{changed,
    removed: [remote ports]}``; nothing to do is not an error.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.logout port-2:1
        salt '*' srp.logout 'id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555'
    """
    return _root().logout(target, port=port, timeout=timeout, test=test)


# --------------------------------------------------------------------------
# disks
# --------------------------------------------------------------------------


def disks(login, timeout=30):
    """
    Return the SCSI disks of a login (a ``srp.login``/``srp.list_logins``
    entry, ``hostN`` or ``port-N:M``): ``[{scsi: 'H:C:I:L', dev, by_id,
    vendor, model, size_bytes, logical_block_size, type}]``.

    Waits up to ``timeout`` seconds for udev: until every disk of the host has
    a block device and a ``/dev/disk/by-id`` link (runs ``udevadm settle``
    first when ``mdtmirror:bin:udevadm`` is found and a disk is not complete
    yet: a no-op apply starts no process here). Returns what is there when
    the time is up: a disk udev gave no by-id name has ``by_id: []``.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.disks host2
        salt '*' srp.disks port-2:1 timeout=60
    """
    return _root().disks(login, timeout=timeout)


# --------------------------------------------------------------------------
# persistence: /etc/modprobe.d/ib_srp.conf, /etc/srp_daemon.conf, rdma.conf
# --------------------------------------------------------------------------


def module_options():
    """
    Return the ib_srp module options: ``persisted`` in
    ``/etc/modprobe.d/ib_srp.conf`` and ``running`` (the loaded module's
    ``/sys/module/ib_srp/parameters``, None if ib_srp is not loaded).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.module_options
    """
    return _root().module.options()


def load(options=None, modules=(MODULE, "ib_umad")):
    """
    Load ib_srp (with ``options``: ``dev_loss_tmo``, ``fast_io_fail_tmo``,
    ``reconnect_delay``, ``ch_count``...) and ib_umad (which ``srp_discover``'s
    srp_daemon needs) with ``modprobe``. Modules already loaded are left
    alone: options only apply at load time. Returns the modules loaded now.

    CLI Example:

    .. code-block:: bash

        salt '*' srp.load '{fast_io_fail_tmo: 5, dev_loss_tmo: 30}'
    """
    return _root().module.load(options, modules)


def persist_module_options(options, test=False):
    """
    Persist ib_srp module options (``dev_loss_tmo``, ``fast_io_fail_tmo``,
    ``reconnect_delay``, ``ch_count``...) as one ``options ib_srp ...`` line
    in ``/etc/modprobe.d/ib_srp.conf``, replacing any other ``options
    ib_srp`` line and keeping the rest of the file. The timers are checked the
    way the kernel checks them. They apply when ib_srp is loaded (the timers
    of an existing login are its remote port's attributes). Returns True if
    the file changed (or would, with ``test=True``).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.persist_module_options '{fast_io_fail_tmo: 5, dev_loss_tmo: 30, reconnect_delay: 3}'
    """
    return _root().module.persist_options(options, test=test)


def persist_daemon_conf(targets, test=False):
    """
    Write ``/etc/srp_daemon.conf`` (see :py:func:`render_srp_daemon_conf`):
    allow rules for exactly ``targets``, then deny everything else, so that
    srp_daemon (where it runs) logs in to the peer's LUN only. Returns True if
    the file changed (or would, with ``test=True``).

    CLI Example:

    .. code-block:: bash

        T=id_ext=0002c90300b77f40,ioc_guid=0002c90300b77f40,dgid=fe800000000000000002c90300b77f41
        salt '*' srp.persist_daemon_conf "$T,pkey=ffff,service_id=0002c90300b77f40"
    """
    return _root().persist_daemon_conf(targets, test=test)


def rdma_conf_srp_load(test=False):
    """
    Ensure ``SRP_LOAD=yes`` in ``/etc/rdma/rdma.conf``, for systems whose rdma
    service still reads that file to load ib_srp at boot. Does nothing (False)
    when the file does not exist: current rdma-core loads modules through
    modules-load.d instead. Returns True if the file changed (or would).

    CLI Example:

    .. code-block:: bash

        salt '*' srp.rdma_conf_srp_load
    """
    return _root().rdma_conf_srp_load(test=test)
