"""The emulated host an SCST emulator runs on: backing devices, RDMA ports, quirks.

``HostConfig.root`` is a directory standing for the host's ``/``. A backing path
written to SCST (``/dev/loop0``) resolves to ``root + path``: a regular file under
``root/dev/`` is a block device whose size is the file's size, a regular file
elsewhere is a plain file (usable by vdisk_fileio only), a missing path gives
ENOENT. A node of the host's ``/dev`` that links out of the root (an SRP
disk: the peer's backing file) is a block device too (holders.resolve).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import holders

DEFAULT_PASSTHROUGH = [
    {
        "hctl": "1:0:0:0",
        "type": 5,
        "scsi_device": "../../../../devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:0/1:0:0:0/scsi_device/1:0:0:0",
    }
]


def _default_ports():
    return [
        {
            "hca": "rxe0",
            "port": 1,
            "gid": "fe80:0000:0000:0000:5054:00ff:fe12:3456",
            "link_layer": "Ethernet",
            "node_guid": "5054:00ff:fe12:3456",
        }
    ]


@dataclass
class HostConfig:
    root: str = "/"
    ports: list = field(default_factory=_default_ports)
    # 'gid': SCST >= 3.1, one target per HCA port named by the port GID.
    # 'old': before 3.1 (one_target_per_port=0), one target per HCA: ib_srpt_target_<n>.
    target_scheme: str = "gid"
    setup_id: int = 0
    # Backing paths whose flush fails: blockio silently switches to NV_CACHE mode.
    no_flush: set = field(default_factory=set)
    # Backing block devices that support discard (blockio auto-enables thin_provisioned).
    thin: set = field(default_factory=set)
    # Optimal I/O size per backing block device (bdev_io_opt); 0/absent = default 524288.
    io_opt: dict = field(default_factory=dict)
    num_comp_vectors: int = 2
    nr_cpus: int = 2
    # EAGAIN injection: every Nth write that goes through SCST's sysfs work thread
    # fails with EAGAIN; the operation completes eagain_delay seconds later.
    eagain_every: int = 0
    eagain_delay: float = 0.5
    kver: str = "6.1.0-56-amd64"
    # The host's own SCSI devices SCST lists as pass-through devices ([] = none).
    passthrough: list = field(default_factory=lambda: [dict(d) for d in DEFAULT_PASSTHROUGH])

    # ---- backing devices -------------------------------------------------
    def host_path(self, path: str) -> Path:
        """Where an absolute path of the emulated host lives on this machine."""
        return Path(self.root) / path.lstrip("/")

    def backing(self, path: str) -> tuple:
        """
        ``(kind, size)`` of a backing path as the kernel would see it:
        kind is 'block', 'file' or 'dir'. Raises OSError(ENOENT) if missing.
        """
        real = self.host_path(path)
        try:
            st = os.stat(real)
        except FileNotFoundError:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path) from None
        except NotADirectoryError:
            raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path) from None
        if stat.S_ISDIR(st.st_mode):
            return "dir", 0
        if stat.S_ISBLK(st.st_mode):
            with open(real, "rb") as f:
                return "block", f.seek(0, os.SEEK_END)
        if stat.S_ISREG(st.st_mode):
            dev_dir = Path(self.root) / "dev"
            try:
                Path(real).resolve().relative_to(dev_dir.resolve())
                return "block", st.st_size
            except ValueError:
                pass
            # a node of this host's /dev whose link leaves the host (the SRP emulator's
            # /dev/sdX -> the peer's backing file) is a block device of this host too
            if holders.resolve(self.root, path).startswith("/dev/"):
                return "block", st.st_size
            return "file", st.st_size
        return "other", 0

    # ---- RDMA ------------------------------------------------------------
    def write_sysfs_class(self, root: str | None = None) -> None:
        """Create the static files a real host has (IB class entries, module dirs)."""
        base = Path(root if root is not None else self.root)
        for p in self.ports:
            hca = base / "sys" / "class" / "infiniband" / p["hca"]
            port = hca / "ports" / str(p.get("port", 1))
            (port / "gids").mkdir(parents=True, exist_ok=True)
            (hca / "node_guid").write_text(p["node_guid"] + "\n")
            (port / "gids" / "0").write_text(p["gid"] + "\n")
            (port / "link_layer").write_text(p.get("link_layer", "InfiniBand") + "\n")
            (port / "state").write_text(p.get("state", "4: ACTIVE") + "\n")
        for mod in ("scst", "scst_vdisk", "ib_srpt"):
            (base / "sys" / "module" / mod).mkdir(parents=True, exist_ok=True)

    # ---- (de)serialisation ----------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["no_flush"] = sorted(self.no_flush)
        d["thin"] = sorted(self.thin)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> HostConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown HostConfig keys: {sorted(unknown)}")
        kw: dict[str, Any] = dict(d)
        for key in ("no_flush", "thin"):
            if key in kw:
                kw[key] = set(kw[key])
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str) -> HostConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path) -> HostConfig:
        return cls.from_json(Path(path).read_text())

    def save(self, path) -> None:
        Path(path).write_text(self.to_json() + "\n")
