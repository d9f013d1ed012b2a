"""Build an emulated MDS host: a directory standing for ``/`` with an SCST
sysfs tree mounted by the FUSE emulator, RDMA port files, a backing block
device and a fake ``modprobe`` that marks modules loaded in ``/sys/module``.
Used by the tests and by the demo."""

import errno
import os
import sys
import types
from pathlib import Path

from tests.emul import scstfs, zfsemu
from tests.emul.host import HostConfig
from tests.emul.scstkernel import ScstKernel

PORT_GIDS = {
    "mds01": ("5054:00ff:fe00:0001", "10.0.0.1"),
    "mds02": ("5054:00ff:fe00:0002", "10.0.0.2"),
    # A second pair (its own fabric) for fleet tests.
    "mds03": ("5054:00ff:fe00:0003", "10.0.0.3"),
    "mds04": ("5054:00ff:fe00:0004", "10.0.0.4"),
}

FAKE_MODPROBE = """#!{python}
# modprobe of an emulated host: records the module (and its options) as loaded.
import os, sys
root = {root!r}
mod = sys.argv[1]
params = os.path.join(root, "sys", "module", mod, "parameters")
os.makedirs(params, exist_ok=True)
for arg in sys.argv[2:]:
    key, _, value = arg.partition("=")
    with open(os.path.join(params, key), "w") as handle:
        handle.write(value + "\\n")
"""


class ModuleGate:
    """
    The SCST tree as seen before ``modprobe scst``: the mountpoint exists but
    is empty until the host's ``/sys/module/scst`` appears (the fake modprobe
    creates it), the way /sys/kernel/scst_tgt appears when the module loads.
    """

    def __init__(self, kernel, sys_module_scst):
        self._kernel = kernel
        self._marker = Path(sys_module_scst)

    def __getattr__(self, name):
        return getattr(self._kernel, name)

    def _check(self, path):
        if path.strip("/") and not self._marker.is_dir():
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)

    def lookup(self, path):
        self._check(path)
        return self._kernel.lookup(path)

    def listdir(self, path=""):
        self._check(path)
        return self._kernel.listdir(path) if self._marker.is_dir() else []

    def readlink(self, path):
        self._check(path)
        return self._kernel.readlink(path)

    def check_open(self, path, **kwargs):
        self._check(path)
        return self._kernel.check_open(path, **kwargs)

    def read(self, path):
        self._check(path)
        return self._kernel.read(path)

    def write(self, path, data, create=False):
        self._check(path)
        return self._kernel.write(path, data, create=create)


def add_disk(root, name, size_bytes, create=True):
    """A block device of the host: ``/dev/<name>`` (zeros, when ``create``) listed in ``/sys/class/block``,
    as the kernel lists every block device (what product code checks before SCST's blockio opens it)."""
    root = Path(root)
    if create:
        (root / "dev" / name).write_bytes(b"\0" * size_bytes)
    block = root / "sys" / "class" / "block" / name
    block.mkdir(parents=True)
    (block / "size").write_text("%d\n" % (size_bytes // 512))


def make_host(base, name="mds01", lun_mib=64, scst_loaded=True, **host_kwargs):
    root = base / name
    (root / "dev").mkdir(parents=True)
    (root / "etc").mkdir()
    with open(root / "dev" / "mdt0", "wb") as handle:
        handle.truncate(lun_mib << 20)
    guid, _ip = PORT_GIDS[name]
    ports = [
        {
            "hca": "rxe0",
            "port": 1,
            "gid": "fe80:0000:0000:0000:" + guid,
            "link_layer": "Ethernet",
            "node_guid": guid,
        }
    ]
    host = HostConfig(root=str(root), ports=ports, **host_kwargs)
    host.write_sysfs_class(str(root))
    # The kernel lists the local LUN among its block devices (the SRP sysfs
    # mount, when attached, serves /sys/class with the same entry).
    add_disk(root, "mdt0", lun_mib << 20, create=False)
    modprobe = root / "sbin" / "modprobe"
    modprobe.parent.mkdir()
    modprobe.write_text(FAKE_MODPROBE.format(python=sys.executable, root=str(root)))
    os.chmod(modprobe, 0o755)
    kernel = ScstKernel(host)
    served = kernel
    if not scst_loaded:
        for mod in ("scst", "scst_vdisk", "ib_srpt"):
            (root / "sys" / "module" / mod).rmdir()
        served = ModuleGate(kernel, root / "sys" / "module" / "scst")
    mountpoint = root / "sys" / "kernel" / "scst_tgt"
    mountpoint.mkdir(parents=True)
    handle = scstfs.mount(served, str(mountpoint))
    return types.SimpleNamespace(
        name=name,
        root=root,
        host=host,
        kernel=kernel,
        handle=handle,
        target="fe80:0000:0000:0000:" + guid,
        # zpool/zfs of the host too: the formula's plan reads where the pool is (the node's role) first.
        mdtmirror={"sysroot": str(root), "bin": {"modprobe": str(modprobe), **zfsemu.install(root)}},
    )


def make_pair(base, names=("mds01", "mds02"), link_layer="Ethernet", fabric_kwargs=None, srp_kwargs=None, **host_kw):
    """
    Two emulated MDS hosts (make_host) on one fabric, each with the SRP
    initiator emulator attached (srpfs.attach_srp). ``link_layer``
    "InfiniBand" turns their ports into IB ports (IB/CM logins, srp_daemon
    discovery). Returns a namespace: ``fabric``, ``hosts`` {name: host}, and
    ``stop()``; each host gets ``.srp`` (the SrpHandle) and ``.ip``.
    """
    from tests.emul import srpfs
    from tests.emul.fabric import Fabric

    fabric = Fabric(state_dir=Path(base) / "fabric", **(fabric_kwargs or {}))
    hosts = {}
    try:
        for name in names:
            host = make_host(base, name, **host_kw)
            hosts[name] = host
            for port in host.host.ports:
                port["link_layer"] = link_layer
            host.ip = PORT_GIDS[name][1]
            host.srp = srpfs.attach_srp(host, fabric, ips=[host.ip], **(srp_kwargs or {}))
            host.mdtmirror["bin"]["srp_daemon"] = str(host.srp.srp_daemon)
            # The emulator plays udev (its by-id links come udev_delay after the
            # disk): the machine's real udevadm has nothing to settle here.
            host.mdtmirror["bin"]["udevadm"] = ""
    except BaseException:
        _stop_hosts(hosts)
        raise

    def stop():
        _stop_hosts(hosts)

    return types.SimpleNamespace(fabric=fabric, hosts=hosts, stop=stop)


def _stop_hosts(hosts):
    for host in hosts.values():
        srp = getattr(host, "srp", None)
        if srp is not None:
            srp.stop()
            host.srp = None
    for host in hosts.values():
        host.handle.stop()


def scst_export(host, initiators, device="MDT1", filename="/dev/mdt0", lun=0, group="MDS", enable=True, **params):
    """Export ``filename`` as ``device`` at ``lun`` of ``group`` (holding ``initiators``) on
    the host's port target, through the SCST model (as scstadmin would)."""
    kernel = host.kernel
    tgt = "targets/ib_srpt/" + host.target
    extra = "".join(";%s=%s" % kv for kv in params.items())

    def w(path, text):
        kernel.write(path, (text + "\n").encode())

    if device not in kernel.devices:
        w("handlers/vdisk_blockio/mgmt", "add_device %s filename=%s%s" % (device, filename, extra))
    if group not in kernel.find_target(host.target).acgs:
        w(tgt + "/ini_groups/mgmt", "create " + group)
    acg = kernel.find_target(host.target).acgs[group]
    for name in initiators:
        if name not in acg.acns:
            w(tgt + "/ini_groups/%s/initiators/mgmt" % group, "add " + name)
    w(tgt + "/ini_groups/%s/luns/mgmt" % group, "add %s %d" % (device, lun))
    if enable:
        w(tgt + "/enabled", "1")
