"""
FUSE adapter of the SRP initiator emulator: serves a host's ``SrpKernel``
(tests/emul/srpkernel.py) as three file systems of the emulated host,

* ``ROOT/sys/class``   (infiniband, infiniband_mad, infiniband_srp, scsi_host,
  srp_host, srp_remote_ports, scsi_device, scsi_disk, block: class symlinks),
* ``ROOT/sys/devices`` (the device directories those links point to),
* ``ROOT/sys/block``   (block device links),

with scstfs.ScstFS's sysfs semantics (one write(2) = one store, EACCES for a
missing mode bit or a create, 4096-byte attributes, reads served from a
snapshot taken on the first read of an open file). The ``/sys/class`` mount
hides the static ``infiniband`` files rig.make_host wrote there and serves
the same names and values from the host's ``HostConfig.ports`` (live: a
test may change a port's ``state``).

``attach_srp(host, fabric)`` registers a host made by rig.make_host in the
fabric, mounts its SRP sysfs, installs the fake ``srp_daemon`` at
``ROOT/usr/sbin/srp_daemon`` and returns an ``SrpHandle``: ``.kernel`` (the
SrpKernel), ``.srp_daemon`` (its path), ``.mountpoints``, ``.stop()``
(logs every login out, as ``rmmod ib_srp`` would, and unmounts).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import scstfs
from .fabric import Fabric, write_srp_daemon
from .srpkernel import SrpKernel

TOPS = ("class", "devices", "block")


class SysfsMount(scstfs.MountHandle):
    def _run(self, opts: dict) -> None:
        opts = dict(opts, fsname="sysfs", subtype="srpemu")
        super()._run(opts)


class SrpHandle:
    def __init__(self, kernel: SrpKernel, fabric: Fabric, mounts: list, srp_daemon: Path):
        self.kernel = kernel
        self.fabric = fabric
        self.mounts = mounts
        self.srp_daemon = srp_daemon
        self.mountpoints = [m.mountpoint for m in mounts]

    @property
    def mounted(self) -> bool:
        return all(m.mounted for m in self.mounts)

    def stop(self) -> None:
        fh = self.kernel.fh
        try:
            self.kernel.remove_all()
        finally:
            with self.fabric.lock:
                if fh.srp is self.kernel:
                    fh.srp = None
                others = any(h.srp is not None for h in self.fabric.hosts.values())
            errors = []
            for m in reversed(self.mounts):
                try:
                    m.stop()
                except RuntimeError as e:
                    errors.append(e)
            if not others:
                self.fabric.stop()
            if errors:
                raise errors[0]

    def __enter__(self) -> SrpHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def attach_srp(
    host,
    fabric: Fabric,
    *,
    ips=None,
    udev_delay: float = 0.0,
    ib_srp_loaded: bool = True,
    umad: bool = True,
) -> SrpHandle:
    """
    Give an emulated host (rig.make_host's namespace: ``name``, ``root``,
    ``host`` (HostConfig), ``kernel`` (ScstKernel)) an SRP initiator on ``fabric``.

    ``ips``: IPv4 address of each port (RDMA/CM); default: the port dicts' ``ip``,
    else rig.PORT_GIDS for mds01/mds02. ``udev_delay``: seconds before a new
    disk's /dev/disk/by-id links appear. ``ib_srp_loaded=False``: infiniband_srp
    appears only once ``modprobe ib_srp`` made ROOT/sys/module/ib_srp.
    """
    from .rig import PORT_GIDS

    root = Path(host.root)
    cfg = host.host
    with fabric.lock:
        if host.name not in fabric.hosts:
            if ips is None:
                ips = [p.get("ip") for p in cfg.ports]
                if not any(ips) and host.name in PORT_GIDS:
                    ips = [PORT_GIDS[host.name][1]] + [None] * (len(cfg.ports) - 1)
            fabric.add_host(host.name, root, scst=getattr(host, "kernel", None), port_cfgs=cfg.ports, ips=ips)
        kernel = SrpKernel(fabric, host.name, cfg, udev_delay=udev_delay, ib_srp_loaded=ib_srp_loaded, umad=umad)
        fabric.hosts[host.name].srp = kernel
    mounts = []
    try:
        for top in TOPS:
            mountpoint = root / "sys" / top
            os.makedirs(mountpoint, exist_ok=True)
            mounts.append(SysfsMount(kernel.view(top), str(mountpoint)).start())
    except BaseException:
        for m in mounts:
            m.stop()
        with fabric.lock:
            fabric.hosts[host.name].srp = None
        raise
    daemon = write_srp_daemon(root, fabric.state_file)
    fabric.start()
    return SrpHandle(kernel, fabric, mounts, daemon)
