"""Boot a real Debian kernel under qemu (TCG) with this host's userland, run a script in it.

The real-kernel tier: the SRP initiator, LIO's ib_srpt and soft-RoCE
are real kernel code here, not emulators. What worked on this kind of machine
is written up in the workplace notes (real-kernel-testbed.md); this harness
follows it:

* Debian packages it needs are installed with ``apt-get`` when missing
  (:data:`APT_PACKAGES`); a machine without apt or without qemu raises
  :class:`RealKernelUnavailable` with the reason (never a silent skip).
* The kernel ``linux-image-6.1.0-<abi>-amd64`` (newest ABI apt knows, or
  ``MDTMIRROR_REALKERNEL_ABI``) is fetched with ``apt-get download`` and
  unpacked with ``dpkg -x`` into the cache (never installed), then
  ``depmod -b`` is run on it.
* A busybox initramfs loads virtio and 9p, mounts the host's ``/`` read-only
  over 9p under an overlay whose upper layer is tmpfs (the guest may write
  anywhere, the host sees nothing of it), mounts the kernel's module tree on
  ``/lib/modules`` and a writable 9p share on ``/realkernel``, and
  ``switch_root``s into a wrapper that starts udev, runs the given script
  and writes its ``stdout``, ``stderr`` and ``rc`` to the share.

Cache (``MDTMIRROR_REALKERNEL_CACHE``, default ``$HOME/.cache/mdtmirror-realkernel``)::

    kernel/<kver>/root/                         the package unpacked: boot/vmlinuz-<kver>, lib/modules/<kver>/
                                                (depmod'ed)
    kernel/<kver>/vmlinux                       the same kernel uncompressed (PVH boot: no xz under TCG)
    initramfs/<kver>-<hash>.cpio.gz             the busybox initramfs
    snapshots/<name>-<hash>.img                 ext4 images of host directories (python: the venv running
                                                salt-call and its base Python), see ensure_snapshot
    runs/<time>-<pid>-<n>/                      results of a run given no directory (the newest 10 kept)
    headers/<kver>/root/usr/src/                linux-headers-<kver> (+ -common, linux-kbuild), for ensure_zfs
    zfs/<zfs version>+<kver>/                   modules/{spl,zfs}.ko built from zfs-dkms, userland/ (zfsutils)
    apt-backports/                              private apt lists for bookworm-backports (system's untouched)

A run's results directory holds ``console.log`` (the serial console: kernel
messages and the wrapper's progress lines) and ``share/`` (the guest's
``/realkernel``): ``guest.sh``, ``wrapper.sh``, ``stdout``, ``stderr``,
``rc``, ``dmesg`` and whatever the script writes there.

Only argument lists are run on the host (no shell); the scripts run inside
the guest are shell scripts.
"""

import gzip
import hashlib
import lzma
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

# Debian package -> a file it provides that this harness uses.
# Benchmark figures measured by this tier's tests (bench (6) in the two-guest scenario): printed in the
# run's summary by conftest.py, next to the tier's time; never a pass/fail criterion.
BENCH_LINES = []

APT_PACKAGES = {
    "qemu-system-x86": "/usr/bin/qemu-system-x86_64",
    "busybox-static": "/bin/busybox",
    "cpio": "/bin/cpio",
    "kmod": "/sbin/depmod",
    "udev": "/bin/udevadm",
    "rdma-core": "/usr/sbin/rdma-ndd",
    "ibverbs-providers": None,
    "srptools": "/usr/sbin/srp_daemon",
    "iproute2": "/usr/bin/rdma",
    "e2fsprogs": "/sbin/mke2fs",  # snapshots (ext4 images built with mke2fs -d)
    # targetctl: the distribution's restore of LIO's saveconfig.json (what runs at boot), held against ours
    "python3-rtslib-fb": "/usr/bin/targetctl",
}

# What building OpenZFS needs on the host (the kernel is built with gcc-12).
ZFS_BUILD_PACKAGES = {
    "gcc-12": "/usr/bin/gcc-12",
    "make": "/usr/bin/make",
    "libc6-dev": None,
    "binutils": "/usr/bin/strip",
}
ZFS_USERLAND_PACKAGES = ("zfsutils-linux", "libzfs6linux", "libnvpair3linux", "libuutil3linux", "libzpool6linux")
BACKPORTS_SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

KERNEL_SERIES = "6.1.0"
KERNEL_FLAVOUR = "amd64"

# Loaded by the initramfs, in this order (the notes' order; builtins are skipped).
INITRAMFS_MODULES = (
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "netfs",
    "fscache",
    "9pnet",
    "9pnet_virtio",
    "9p",
    "overlay",
)

QEMU_BASE_ARGS = (
    "-accel",
    "tcg,thread=multi",
    "-cpu",
    "max",
    "-m",
    "2048",
    "-smp",
    "2",
    "-nographic",
    "-no-reboot",
    # No floppy, CD-ROM, VGA, parallel port: each costs seconds of probing under TCG.
    "-nodefaults",
    "-serial",
    "stdio",
)

# An image of a snapshot not used for this long may be removed when another one of the same name is built.
SNAPSHOT_KEEP_SECONDS = 3 * 3600

# Modules udev would load for qemu's devices and CPU that no test needs (kvm alone costs ~10 s under TCG).
GUEST_BLACKLIST = ("kvm", "kvm_amd", "kvm_intel", "powernow_k8", "pcspkr", "serio_raw", "psmouse", "evdev", "joydev")

# Subsystems "udevadm trigger" replays at boot: the NIC's driver and name, existing block devices.
COLDPLUG = ("virtio", "net", "block")

GUEST_SHARE = "/realkernel"  # where the writable results share is mounted in the guest
KEEP_RUNS = 10  # result directories kept under runs/ (console logs, dmesg: for diagnosis)
APT_LOCK_TIMEOUT = 600  # seconds to wait for another apt/dpkg run on the machine


class RealKernelError(RuntimeError):
    """The harness or the guest failed."""


class RealKernelUnavailable(RealKernelError):
    """This machine cannot run the real-kernel tier (the message says why)."""


class GuestTimeout(RealKernelError):
    """The guest did not power off in time (qemu was killed)."""


class GuestRun(NamedTuple):
    """What a guest run gave: the script's exit code and output, and the serial console log."""

    rc: int
    stdout: str
    stderr: str
    console_log: Path

    @property
    def results_dir(self):
        return self.console_log.parent

    @property
    def share(self):
        """The host side of the guest's ``/realkernel``: files the script wrote there."""
        return self.results_dir / "share"


class StartedGuest(NamedTuple):
    """A guest :py:meth:`RealKernel.start` started: wait for it with :py:meth:`RealKernel.wait`."""

    proc: subprocess.Popen
    results_dir: Path
    log_handle: object
    started: float

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log_handle.close()


class Snapshot(NamedTuple):
    """A read-only ext4 image of host directories, mounted over the same paths in the guest."""

    image: Path
    paths: tuple  # host directories; directory i of the image is mounted on paths[i]


class ZfsBuild(NamedTuple):
    """OpenZFS built for the guest kernel (:py:meth:`RealKernel.ensure_zfs`); host paths, seen as is in the guest."""

    version: str  # the zfs-dkms package version, e.g. 2.3.2-2~bpo12+2
    kver: str
    modules: Path  # spl.ko, zfs.ko
    userland: Path  # zfsutils-linux and its libraries, unpacked (sbin/zpool, lib/x86_64-linux-gnu/...)

    def guest_env(self):
        """``KEY=value`` lines for a guest script (``. params.env``): tools on PATH, ``load_zfs`` helper vars."""
        lib = self.userland / "lib" / "x86_64-linux-gnu"
        return (
            f"ZFS_MODULES={self.modules}\n"
            f"PATH={self.userland}/sbin:{self.userland}/usr/sbin:{self.userland}/usr/bin:$PATH\n"
            f"LD_LIBRARY_PATH={lib}:{self.userland}/usr/lib/x86_64-linux-gnu\n"
            "export PATH LD_LIBRARY_PATH\n"
        )


def default_cache_dir():
    env = os.environ.get("MDTMIRROR_REALKERNEL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "mdtmirror-realkernel"


def _tail(text, lines=30):
    return "\n".join((text or "").rstrip().splitlines()[-lines:])


def _run(args, what, timeout=1800, cwd=None, env=None, input_bytes=None, raw=False):
    """Run an argument list; its stdout (bytes if ``raw``); RealKernelError with its output when it fails."""
    try:
        proc = subprocess.run(
            [str(a) for a in args],
            cwd=cwd,
            env=env,
            input=input_bytes,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RealKernelUnavailable(f"{what}: {args[0]} not found ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise RealKernelError(f"{what}: {' '.join(map(str, args))} did not finish in {timeout}s") from exc
    if proc.returncode != 0:
        out = proc.stderr.decode("utf-8", "replace") + proc.stdout.decode("utf-8", "replace")
        raise RealKernelError(f"{what}: {' '.join(map(str, args))} exited {proc.returncode}:\n{_tail(out)}")
    return proc.stdout if raw else proc.stdout.decode("utf-8", "replace")


class RealKernel:
    """
    Prepare once (:py:meth:`prepare`: packages, kernel, initramfs; all cached),
    then :py:meth:`run` guest scripts, one qemu boot each.
    """

    def __init__(self, cache_dir=None, abi=None, log=None):
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.abi = abi or os.environ.get("MDTMIRROR_REALKERNEL_ABI") or None
        self.kver = None
        self.vmlinuz = None
        self.modules_root = None  # the directory holding <kver>/ (shared as /lib/modules)
        self.initramfs = None
        self.timings = {}  # phase -> seconds, for the README and diagnosis
        self._log = log or (lambda msg: print(f"realkernel: {msg}", file=sys.stderr, flush=True))
        self._apt_updated = False

    # ------------------------------------------------------------------
    # host preparation
    # ------------------------------------------------------------------

    def prepare(self):
        """Install what is missing, fetch the kernel, build the initramfs. Returns self."""
        for phase, step in (
            ("packages", self.ensure_packages),
            ("kernel", self.ensure_kernel),
            ("initramfs", self.ensure_initramfs),
        ):
            start = time.monotonic()
            step()
            self.timings[phase] = round(time.monotonic() - start, 1)
            self._log(f"{phase}: ready in {self.timings[phase]}s")
        return self

    def _apt_env(self):
        env = dict(os.environ)
        env["DEBIAN_FRONTEND"] = "noninteractive"
        return env

    def _apt(self, *args, what, cwd=None, timeout=1800):
        return _run(
            ["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}", *args],
            what,
            cwd=cwd,
            env=self._apt_env(),
            timeout=timeout,
        )

    def _apt_update(self):
        if not self._apt_updated:
            self._log("apt-get update")
            self._apt("update", "-q", what="apt-get update")
            self._apt_updated = True

    @staticmethod
    def _installed(package):
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        return proc.returncode == 0 and proc.stdout.decode().strip().endswith(" installed")

    def ensure_packages(self, packages=None):
        """``apt-get install`` the packages of ``packages`` (default :data:`APT_PACKAGES`) that are missing."""
        packages = APT_PACKAGES if packages is None else packages
        if not shutil.which("apt-get") or not shutil.which("dpkg-query") or not shutil.which("dpkg"):
            raise RealKernelUnavailable(
                "the real-kernel tier needs a Debian/Ubuntu machine (apt-get, dpkg): it fetches the Debian kernel "
                f"linux-image-{KERNEL_SERIES}-<abi>-{KERNEL_FLAVOUR} and installs {', '.join(packages)}"
            )
        missing = [p for p in packages if not self._installed(p)]
        if missing:
            if os.geteuid() != 0:
                raise RealKernelUnavailable(
                    f"missing packages {', '.join(missing)} and not root: run "
                    f"'apt-get install --no-install-recommends {' '.join(missing)}' as root first"
                )
            self._apt_update()
            self._log(f"apt-get install {' '.join(missing)}")
            try:
                self._apt("install", "-y", "-q", "--no-install-recommends", *missing, what="installing packages")
            except RealKernelError as exc:
                raise RealKernelUnavailable(f"cannot install the real-kernel tier's packages: {exc}") from exc
        absent = [f"{path} ({pkg})" for pkg, path in packages.items() if path and not os.path.exists(path)]
        if absent:
            raise RealKernelUnavailable(f"installed packages lack files the harness uses: {', '.join(absent)}")
        if packages is not APT_PACKAGES:
            return
        out = _run(["/usr/bin/qemu-system-x86_64", "-accel", "help"], "probing qemu")
        if "tcg" not in out.split():
            raise RealKernelUnavailable(f"qemu-system-x86_64 has no TCG accelerator (accelerators: {out.split()})")

    def _kernel_abis(self):
        """ABI numbers of ``linux-image-6.1.0-<abi>-amd64`` apt knows, newest first."""
        pattern = rf"^linux-image-{re.escape(KERNEL_SERIES)}-[0-9]+-{KERNEL_FLAVOUR}$"
        out = _run(["apt-cache", "search", "--names-only", pattern], "looking up the kernel package")
        abis = set()
        for line in out.splitlines():
            match = re.match(rf"linux-image-{re.escape(KERNEL_SERIES)}-(\d+)-{KERNEL_FLAVOUR}\s", line)
            if match:
                abis.add(int(match.group(1)))
        return sorted(abis, reverse=True)

    def _choose_abi(self):
        if self.abi:
            return str(self.abi)
        abis = self._kernel_abis()
        if not abis:
            self._apt_update()
            abis = self._kernel_abis()
        if not abis:
            raise RealKernelUnavailable(
                f"apt knows no linux-image-{KERNEL_SERIES}-<abi>-{KERNEL_FLAVOUR} package (is this Debian bookworm "
                "with the main and security archives?); set MDTMIRROR_REALKERNEL_ABI to choose one"
            )
        return str(abis[0])

    def ensure_kernel(self):
        """Fetch and unpack the kernel package into ``kernel/<kver>/`` once, then reuse it."""
        abi = self._choose_abi()
        kver = f"{KERNEL_SERIES}-{abi}-{KERNEL_FLAVOUR}"
        package = f"linux-image-{kver}"
        kdir = self.cache_dir / "kernel" / kver
        if not (kdir / ".complete").exists():
            self._log(f"fetching {package} into {kdir}")
            tmp = kdir.parent / f".{kver}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            try:
                self._apt("download", package, what=f"apt-get download {package}", cwd=tmp)
            except RealKernelError:
                self._apt_update()  # an index older than the archive: the .deb is gone
                self._apt("download", package, what=f"apt-get download {package}", cwd=tmp)
            debs = sorted(tmp.glob("*.deb"))
            if len(debs) != 1:
                raise RealKernelError(f"apt-get download {package} left {[d.name for d in debs]} in {tmp}")
            root = tmp / "root"
            _run(["dpkg", "-x", debs[0], root], f"unpacking {debs[0].name}")
            debs[0].unlink()
            # The package puts the modules under lib/ (or usr/lib/ on merged-/usr layouts).
            mods = root / "lib" / "modules" / kver
            if not mods.is_dir():
                alt = root / "usr" / "lib" / "modules" / kver
                if not alt.is_dir():
                    raise RealKernelError(f"{package} has no lib/modules/{kver}")
                (root / "lib").mkdir(exist_ok=True)
                alt.rename(mods)
            if not (root / "boot" / f"vmlinuz-{kver}").is_file():
                raise RealKernelError(f"{package} has no boot/vmlinuz-{kver}")
            # dpkg -x leaves no modules.dep: modprobe in the guest would find nothing.
            _run(["/sbin/depmod", "-b", root, kver], f"depmod for {kver}")
            (tmp / ".complete").write_text(f"{package}\n")
            shutil.rmtree(kdir, ignore_errors=True)
            tmp.rename(kdir)
        self.kver = kver
        self.vmlinuz = self._pvh_kernel(kdir, kver)
        self.modules_root = kdir / "root" / "lib" / "modules"
        return kver

    def _pvh_kernel(self, kdir, kver):
        """
        The kernel to boot: the uncompressed ELF ``vmlinux`` (cached next to
        the package's files) when the kernel has PVH entry (CONFIG_PVH), else
        the bzImage. qemu starts a PVH ELF directly, which skips the xz
        decompression that takes ~20 s under TCG.
        """
        boot = kdir / "root" / "boot"
        vmlinuz = boot / f"vmlinuz-{kver}"
        vmlinux = kdir / "vmlinux"
        if vmlinux.exists():
            return vmlinux
        config = boot / f"config-{kver}"
        if not config.exists() or "\nCONFIG_PVH=y\n" not in config.read_text():
            return vmlinuz
        data = vmlinuz.read_bytes()
        start = data.find(b"\xfd7zXZ\x00")
        while start != -1:
            try:
                elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
            except lzma.LZMAError:
                elf = b""
            if elf.startswith(b"\x7fELF"):
                tmp = kdir / f".vmlinux.tmp-{os.getpid()}"
                tmp.write_bytes(elf)
                tmp.rename(vmlinux)
                return vmlinux
            start = data.find(b"\xfd7zXZ\x00", start + 1)
        self._log(f"{vmlinuz}: no xz-compressed ELF inside, booting the bzImage")
        return vmlinuz

    # ------------------------------------------------------------------
    # initramfs
    # ------------------------------------------------------------------

    def _module_files(self):
        """``[(name, path)]`` of the initramfs modules; builtin ones are left out."""
        mdir = self.modules_root / self.kver
        dep = {}
        for line in (mdir / "modules.dep").read_text().splitlines():
            rel = line.split(":", 1)[0]
            name = re.sub(r"\.ko(\.[a-z]+)?$", "", os.path.basename(rel)).replace("-", "_")
            dep[name] = mdir / rel
        builtin = set()
        for line in (mdir / "modules.builtin").read_text().splitlines():
            builtin.add(re.sub(r"\.ko$", "", os.path.basename(line)).replace("-", "_"))
        files = []
        for name in INITRAMFS_MODULES:
            key = name.replace("-", "_")
            if key in builtin:
                continue
            if key not in dep:
                raise RealKernelError(f"kernel {self.kver} has no module {name} (neither loadable nor builtin)")
            if dep[key].suffix != ".ko":
                raise RealKernelError(f"{dep[key]}: compressed modules are not handled (busybox insmod)")
            files.append((key, dep[key]))
        return files

    @staticmethod
    def _init_script(module_names):
        share = GUEST_SHARE
        return f"""#!/bin/busybox sh
# mdtmirror real-kernel initramfs: 9p root under an overlay, then the wrapper on the results share.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /lower /upper /newroot
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
fail() {{ echo "realkernel-init: FATAL: $*"; poweroff -f; sleep 60; }}
echo "realkernel-init: kernel $(uname -r)"
for m in {" ".join(module_names)}; do
    insmod /modules/$m.ko || fail "insmod $m"
done
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $opts,ro,cache=loose hostroot /lower || fail "mount hostroot"
mount -t tmpfs -o mode=0755 tmpfs /upper || fail "mount tmpfs"
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot || fail "overlay"
mkdir -p /newroot/lib/modules /newroot{share}
mount -t 9p -o $opts,ro,cache=loose modules /newroot/lib/modules || fail "mount modules"
mount -t 9p -o $opts results /newroot{share} || fail "mount results"
[ -f /newroot{share}/wrapper.sh ] || fail "no wrapper on the results share"
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /bin/sh {share}/wrapper.sh
fail "switch_root"
"""

    def ensure_initramfs(self):
        """Build (once per kernel and init script) the gzip'ed newc initramfs."""
        busybox = Path("/bin/busybox")
        files = self._module_files()
        init = self._init_script([name for name, _ in files])
        digest = hashlib.sha256(init.encode())
        digest.update(busybox.read_bytes())
        for name, path in files:
            digest.update(f"{name}:{path.stat().st_size}".encode())
        target = self.cache_dir / "initramfs" / f"{self.kver}-{digest.hexdigest()[:12]}.cpio.gz"
        if not target.exists():
            self._log(f"building {target}")
            stage = target.parent / f".stage-{os.getpid()}"
            shutil.rmtree(stage, ignore_errors=True)
            (stage / "bin").mkdir(parents=True)
            (stage / "modules").mkdir()
            shutil.copy2(busybox, stage / "bin" / "busybox")
            for name, path in files:
                shutil.copy2(path, stage / "modules" / f"{name}.ko")
            (stage / "init").write_text(init)
            (stage / "init").chmod(0o755)
            entries = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
            listing = ("\n".join(["."] + entries) + "\n").encode()
            archive = _run(
                ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], "cpio", cwd=stage, input_bytes=listing, raw=True
            )
            tmp = target.with_suffix(f".tmp-{os.getpid()}")
            with gzip.open(tmp, "wb", compresslevel=6) as handle:
                handle.write(archive)
            tmp.rename(target)
            shutil.rmtree(stage, ignore_errors=True)
        self.initramfs = target
        return target

    # ------------------------------------------------------------------
    # OpenZFS: spl.ko and zfs.ko built from Debian's zfs-dkms for this kernel
    # ------------------------------------------------------------------

    def _backports_apt(self, *args, what, cwd=None):
        """apt-get/apt-cache on a private source list (bookworm-backports main+contrib): the system's is untouched."""
        base = self.cache_dir / "apt-backports"
        for sub in ("sources", "lists/partial", "cache/archives/partial"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "sources" / "backports.sources").write_text(BACKPORTS_SOURCES)
        tool = args[0]
        options = [
            "-o",
            "Dir::Etc::SourceList=/dev/null",
            "-o",
            f"Dir::Etc::SourceParts={base / 'sources'}",
            "-o",
            f"Dir::State::Lists={base / 'lists'}",
            "-o",
            f"Dir::Cache={base / 'cache'}",
        ]
        if tool == "apt-get":
            options += ["-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}"]
        return _run([tool, *options, *args[1:]], what, cwd=cwd, env=self._apt_env())

    def _zfs_package_version(self, wanted):
        """The newest bookworm-backports zfs-dkms version ``wanted`` (``2.3.2`` -> ``2.3.2-2~bpo12+2``)."""
        for attempt in range(2):
            if attempt or not any((self.cache_dir / "apt-backports" / "lists").glob("*Packages*")):
                self._log("apt-get update (bookworm-backports, private lists)")
                self._backports_apt("apt-get", "update", "-q", what="apt-get update of bookworm-backports")
            out = self._backports_apt("apt-cache", "madison", "zfs-dkms", what="apt-cache madison zfs-dkms")
            versions = [line.split("|")[1].strip() for line in out.splitlines() if line.count("|") >= 2]
            versions = [v for v in versions if v == wanted or v.startswith(wanted + "-")]
            if versions:
                return versions[0]  # madison lists the newest first
        raise RealKernelUnavailable(f"bookworm-backports has no zfs-dkms {wanted} (MDTMIRROR_REALKERNEL_ZFS)")

    def _ensure_headers(self):
        """linux-headers-<kver> (+ -common, linux-kbuild) unpacked into ``headers/<kver>/``; the build tree path."""
        hdir = self.cache_dir / "headers" / self.kver
        abi = self.kver[len(KERNEL_SERIES) + 1 : -len(KERNEL_FLAVOUR) - 1]
        common = f"linux-headers-{KERNEL_SERIES}-{abi}-common"
        if not (hdir / ".complete").exists():
            self._log(f"fetching the headers of {self.kver} into {hdir}")
            tmp = hdir.parent / f".{self.kver}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            show = _run(["apt-cache", "show", f"linux-headers-{self.kver}"], "apt-cache show the headers")
            version = re.search(r"^Version: (\S+)", show, re.M).group(1)
            kbuild = f"linux-kbuild-{KERNEL_SERIES.rsplit('.', 1)[0]}={version}"
            headers = (f"linux-headers-{self.kver}", common, kbuild)
            self._apt("download", *headers, what="apt-get download headers", cwd=tmp)
            for deb in sorted(tmp.glob("*.deb")):
                _run(["dpkg", "-x", deb, tmp / "root"], f"unpacking {deb.name}")
                deb.unlink()
            # The flavour's Makefile includes the -common one by its absolute /usr/src path.
            makefile = tmp / "root" / "usr" / "src" / f"linux-headers-{self.kver}" / "Makefile"
            makefile.write_text(f"include {hdir / 'root' / 'usr' / 'src' / common / 'Makefile'}\n")
            (tmp / ".complete").write_text(version + "\n")
            shutil.rmtree(hdir, ignore_errors=True)
            tmp.rename(hdir)
        src = hdir / "root" / "usr" / "src"
        return src / common, src / f"linux-headers-{self.kver}"

    def ensure_zfs(self, version=None):
        """
        OpenZFS for the guest kernel (``zfs/<version>-<kver>/``), built once:
        zfs-dkms ``version`` (default ``MDTMIRROR_REALKERNEL_ZFS`` or 2.3.2)
        from bookworm-backports contrib, configured against this kernel's
        headers and built (``module/spl.ko``, ``module/zfs.ko``, debug info
        stripped), next to its userland (zfsutils-linux and its libraries,
        unpacked). ~7 min on 2 busy cores. Returns a :class:`ZfsBuild`.
        """
        if self.kver is None:
            self.prepare()
        start = time.monotonic()
        self.ensure_packages(ZFS_BUILD_PACKAGES)
        wanted = version or os.environ.get("MDTMIRROR_REALKERNEL_ZFS") or "2.3.2"
        # A finished build of that version for this kernel needs no apt at all.
        built = sorted((self.cache_dir / "zfs").glob(f"{wanted}-*+{self.kver}"))
        done = [d for d in built if (d / ".complete").exists()]
        if done:
            pkg_version = done[-1].name[: -len(self.kver) - 1]
        else:
            pkg_version = self._zfs_package_version(wanted)
        zdir = self.cache_dir / "zfs" / f"{pkg_version}+{self.kver}"
        if not (zdir / ".complete").exists():
            linux, linux_obj = self._ensure_headers()
            tmp = zdir.parent / f".{zdir.name}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            (tmp / "debs").mkdir(parents=True)
            self._log(f"building OpenZFS {pkg_version} for {self.kver} in {tmp} (minutes)")
            pinned = [f"{name}={pkg_version}" for name in ("zfs-dkms", *ZFS_USERLAND_PACKAGES)]
            self._backports_apt("apt-get", "download", *pinned, what="apt-get download zfs", cwd=tmp / "debs")
            for deb in sorted((tmp / "debs").glob("*.deb")):
                target = tmp / ("src" if deb.name.startswith("zfs-dkms_") else "userland")
                _run(["dpkg", "-x", deb, target], f"unpacking {deb.name}")
            sources = sorted((tmp / "src" / "usr" / "src").glob("zfs-*"))
            if len(sources) != 1:
                raise RealKernelError(f"zfs-dkms unpacked no single /usr/src/zfs-*: {sources}")
            src = sources[0]
            _run(
                ["./configure", "--with-config=kernel", f"--with-linux={linux}", f"--with-linux-obj={linux_obj}"],
                "configuring OpenZFS",
                cwd=src,
                timeout=3600,
            )
            _run(["make", f"-j{os.cpu_count() or 2}", "-C", "module"], "building OpenZFS", cwd=src, timeout=3600)
            (tmp / "modules").mkdir()
            for name in ("spl", "zfs"):
                shutil.copy2(src / "module" / f"{name}.ko", tmp / "modules" / f"{name}.ko")
                _run(["strip", "--strip-debug", tmp / "modules" / f"{name}.ko"], f"stripping {name}.ko")
            shutil.rmtree(tmp / "src")
            shutil.rmtree(tmp / "debs")
            (tmp / ".complete").write_text(f"{pkg_version} {self.kver}\n")
            shutil.rmtree(zdir, ignore_errors=True)
            tmp.rename(zdir)
        self.timings["zfs"] = round(time.monotonic() - start, 1)
        return ZfsBuild(pkg_version, self.kver, zdir / "modules", zdir / "userland")

    # ------------------------------------------------------------------
    # snapshots: host directories on a virtio disk instead of 9p
    # ------------------------------------------------------------------

    def ensure_snapshot(self, name, paths, exclude=()):
        """
        A read-only ext4 image (``snapshots/<name>-<hash>.img``) holding the
        host directories ``paths`` minus ``exclude``, rebuilt when any file's
        path, mode, size or mtime changes. Under TCG every 9p request is
        expensive: Python importing Salt over 9p spends more time in 9p than
        in Python, and from a disk image the guest caches everything.
        """
        paths = [os.path.abspath(p) for p in paths]
        paths = [p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)]
        for path in paths:
            if not os.path.isdir(path) or "'" in path:
                raise RealKernelError(f"cannot snapshot {path!r}: not a directory (or a quote in its name)")
        excluded = {os.path.abspath(p) for p in exclude}
        start = time.monotonic()
        entries, digest, total = [], hashlib.sha256(), 0
        for index, top in enumerate(paths):
            for dirpath, dirnames, filenames in os.walk(top):
                rel_dir = os.path.relpath(dirpath, top)
                keep = []
                for dname in sorted(dirnames):
                    full = os.path.join(dirpath, dname)
                    if full in excluded:
                        continue
                    if os.path.islink(full):
                        filenames.append(dname)  # a symlink to a directory: copied as the link
                    else:
                        keep.append(dname)
                dirnames[:] = keep
                entries.append((index, rel_dir, None, os.lstat(dirpath)))
                for fname in sorted(filenames):
                    full = os.path.join(dirpath, fname)
                    if full in excluded:
                        continue
                    st = os.lstat(full)
                    entries.append((index, rel_dir, fname, st))
                    total += st.st_size
        for index, rel_dir, fname, st in entries:
            digest.update(f"{index}/{rel_dir}/{fname}:{st.st_mode}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        digest.update(repr(paths).encode())
        image = self.cache_dir / "snapshots" / f"{name}-{digest.hexdigest()[:12]}.img"
        if not image.exists():
            self._log(f"building {image} from {', '.join(paths)} ({len(entries)} entries)")
            image.parent.mkdir(parents=True, exist_ok=True)
            stage = image.parent / f".stage-{os.getpid()}"
            shutil.rmtree(stage, ignore_errors=True)
            for index, rel_dir, fname, _st in entries:
                src_dir = os.path.normpath(os.path.join(paths[index], rel_dir))
                dst_dir = os.path.normpath(os.path.join(stage, str(index), rel_dir))
                if fname is None:
                    os.makedirs(dst_dir, exist_ok=True)
                    continue
                src, dst = os.path.join(src_dir, fname), os.path.join(dst_dir, fname)
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                elif os.path.isfile(src):
                    try:
                        os.link(src, dst)  # same file system: no copy
                    except OSError:
                        shutil.copy2(src, dst)
            for index, rel_dir, fname, st in reversed(entries):
                if fname is None:  # directory modes last: a read-only directory would refuse its files
                    os.chmod(os.path.normpath(os.path.join(stage, str(index), rel_dir)), st.st_mode & 0o7777)
            size_kib = (total + 4096 * len(entries)) * 13 // 10 // 1024 + 65536
            tmp = image.with_suffix(f".tmp-{os.getpid()}")
            _run(
                ["mke2fs", "-q", "-F", "-t", "ext4", "-O", "^has_journal", "-N", len(entries) + 4096]
                + ["-L", name[:16], "-d", stage, tmp, f"{size_kib}K"],
                f"building the {name} snapshot",
            )
            shutil.rmtree(stage, ignore_errors=True)
            tmp.rename(image)
            # Older images go, except one a run may still boot from (another checkout's venv sharing this
            # cache: a pair test boots its guests again, from the same image, up to an hour later).
            for old in image.parent.glob(f"{name}-*.img"):
                try:
                    idle = time.time() - old.stat().st_mtime
                except FileNotFoundError:
                    continue
                if old != image and idle > SNAPSHOT_KEEP_SECONDS:
                    old.unlink(missing_ok=True)
        os.utime(image)  # in use: kept by the pruning above for SNAPSHOT_KEEP_SECONDS
        self.timings[f"snapshot {name}"] = round(time.monotonic() - start, 1)
        return Snapshot(image, tuple(paths))

    def python_snapshot(self, prefix=None, base_prefix=None):
        """
        Snapshot of the Python environment ``prefix`` (default: this
        interpreter's venv) and the Python it was made from (unless that is
        the system's ``/usr``), without the base's own site-packages when the
        venv does not use them, and without the stdlib's tests.
        """
        prefix = prefix or sys.prefix
        base_prefix = base_prefix or sys.base_prefix
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        paths, exclude = [prefix], []
        if base_prefix != prefix and base_prefix not in ("/usr", "/usr/local", "/"):
            paths.append(base_prefix)
            cfg = Path(prefix, "pyvenv.cfg")
            system_site = cfg.exists() and re.search(
                r"^include-system-site-packages\s*=\s*true", cfg.read_text(), re.M | re.I
            )
            if not system_site:
                exclude.append(os.path.join(base_prefix, "lib", version, "site-packages"))
            exclude.append(os.path.join(base_prefix, "lib", version, "test"))
        return self.ensure_snapshot("python", paths, exclude)

    # ------------------------------------------------------------------
    # running a guest
    # ------------------------------------------------------------------

    @staticmethod
    def _wrapper_script(coldplug, snapshots):
        share = GUEST_SHARE
        mounts = []
        for number, snap in enumerate(snapshots):
            mounts.append(f"snapshot rksnap{number} /run/realkernel/snap{number}")
            mounts += [f"mount --bind /run/realkernel/snap{number}/{i} '{p}'" for i, p in enumerate(snap.paths)]
        mounts = "\n".join(mounts)
        if coldplug == "all":
            coldplug = ""
        else:
            coldplug = " ".join(f"--subsystem-match={name}" for name in coldplug)
        return f"""#!/bin/sh
# PID 1 after switch_root: a small system around the test script, results to {share}.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
R={share}
say() {{ echo "realkernel: [$(cut -d' ' -f1 /proc/uptime)] $*" > /dev/console; }}
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lock /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ip link set lo up
snapshot() {{  # snapshot <virtio serial> <mount point>: mount the read-only disk image with that serial
    modprobe -q virtio_blk; modprobe -q ext4
    for _ in $(seq 50); do
        for blk in /sys/block/vd*; do
            [ "$(cat "$blk/serial" 2>/dev/null)" = "$1" ] || continue
            mkdir -p "$2"; mount -t ext4 -o ro "/dev/${{blk##*/}}" "$2" && return 0
            say "cannot mount /dev/${{blk##*/}} ($1)"; return 1
        done
        sleep 0.2
    done
    say "no virtio disk with serial $1"
}}
{mounts}
say "userland up ($(uname -r)); starting udev"
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add --type=subsystems
udevadm trigger --action=add --type=devices {coldplug}
udevadm settle --timeout=60
say "running guest.sh"
sh $R/guest.sh > $R/stdout 2> $R/stderr < /dev/null
rc=$?
dmesg > $R/dmesg 2>&1
echo $rc > $R/rc
sync
say "guest.sh exited $rc; powering off"
/bin/busybox poweroff -f
echo o > /proc/sysrq-trigger
while :; do :; done  # no exec from here on: the disks are going away
"""

    def _new_run_dir(self):
        """``runs/<time>-<pid>-<n>`` in the cache; only the newest :data:`KEEP_RUNS` runs are kept."""
        runs = self.cache_dir / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        for old in sorted(runs.iterdir())[:-KEEP_RUNS]:
            shutil.rmtree(old, ignore_errors=True)
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        number = 0
        while (runs / f"{stamp}-{number}").exists():
            number += 1
        return runs / f"{stamp}-{number}"

    def run(self, script, timeout=900, **kwargs):
        """
        Boot one guest that runs ``script`` (shell, run with ``sh`` from the
        host's root) and powers off; see :py:meth:`start` for the arguments.
        Returns a :class:`GuestRun`; raises :class:`GuestTimeout` if the guest
        is still up after ``timeout`` seconds, :class:`RealKernelError` if it
        died before the script's exit code was written.
        """
        return self.wait(self.start(script, **kwargs), timeout=timeout)

    def start(
        self,
        script,
        results_dir=None,
        append="",
        qemu_args=(),
        files=None,
        coldplug=COLDPLUG,
        snapshots=(),
    ):
        """
        Start one guest running ``script`` and return at once (a
        :class:`StartedGuest` for :py:meth:`wait`): several guests can run
        side by side (two MDS on one L2 segment: ``qemu_args`` with a second
        NIC on a ``-netdev socket``). ``files`` (``{name: text}``) are put
        next to the script on the share (the guest's ``/realkernel``).
        ``coldplug``: the subsystems whose devices present at boot udev
        handles (``"all"`` for every device: ~15 s more under TCG); devices
        added later are always handled. ``snapshots`` (from
        :py:meth:`ensure_snapshot`, e.g. :py:meth:`python_snapshot`) are
        mounted over their host paths before udev starts.
        """
        if self.initramfs is None:
            self.prepare()
        if results_dir is None:
            results_dir = self._new_run_dir()
        results_dir = Path(results_dir)
        share = results_dir / "share"
        if share.exists():
            shutil.rmtree(share)
        share.mkdir(parents=True)
        (share / "guest.sh").write_text(script)
        (share / "wrapper.sh").write_text(self._wrapper_script(coldplug, snapshots))
        for name, text in (files or {}).items():
            (share / name).parent.mkdir(parents=True, exist_ok=True)
            (share / name).write_text(text)
        console = results_dir / "console.log"
        # loglevel=5 after quiet: warnings reach the console too, among them the stack of a soft
        # lockup or hung task (printed at the default level), so a stalled guest says where it stalled.
        cmdline = (
            f"console=ttyS0 quiet loglevel=5 panic=-1 modprobe.blacklist={','.join(GUEST_BLACKLIST)} {append}".strip()
        )
        args = [
            "/usr/bin/qemu-system-x86_64",
            *QEMU_BASE_ARGS,
            "-kernel",
            str(self.vmlinuz),
            "-initrd",
            str(self.initramfs),
            "-append",
            cmdline,
            "-virtfs",
            "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            "-virtfs",
            f"local,path={self.modules_root},mount_tag=modules,security_model=none,readonly=on",
            "-virtfs",
            f"local,path={share},mount_tag=results,security_model=none",
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n0,romfile=",
        ]
        for number, snap in enumerate(snapshots):
            args += ["-drive", f"file={snap.image},format=raw,if=none,id=snap{number},readonly=on"]
            args += ["-device", f"virtio-blk-pci,drive=snap{number},serial=rksnap{number}"]
        args += list(qemu_args)
        self._log(f"booting {self.kver}, results in {results_dir}")
        log_handle = open(console, "wb")  # noqa: SIM115  (closed by wait())
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log_handle, stderr=subprocess.STDOUT)
        return StartedGuest(proc, results_dir, log_handle, time.monotonic())

    def wait(self, guest, timeout=900):
        """Wait for a started guest to power off: its :class:`GuestRun` (see :py:meth:`run`)."""
        console = guest.results_dir / "console.log"
        share = guest.results_dir / "share"
        remaining = max(1.0, timeout - (time.monotonic() - guest.started))
        try:
            qemu_rc = guest.proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            guest.proc.kill()
            guest.proc.wait()
            raise GuestTimeout(
                f"guest still running after {timeout}s, killed; console ({console}):\n"
                f"{_tail(console.read_text(errors='replace'))}"
            ) from None
        finally:
            guest.log_handle.close()
        self.timings["last_run"] = round(time.monotonic() - guest.started, 1)
        self._log(f"guest done in {self.timings['last_run']}s (qemu exit {qemu_rc})")
        rc_file = share / "rc"
        if not rc_file.exists():
            raise RealKernelError(
                f"the guest ended (qemu exit {qemu_rc}) without the script's exit code; console ({console}):\n"
                f"{_tail(console.read_text(errors='replace'))}"
            )

        def read(name):
            return (share / name).read_text(errors="replace") if (share / name).exists() else ""

        return GuestRun(int(rc_file.read_text().strip()), read("stdout"), read("stderr"), console)


if __name__ == "__main__":
    if sys.argv[1:] == ["--prepare"]:
        # python -m tests.realkernel.harness --prepare: fill the cache (packages, kernel, initramfs, the
        # venv's snapshot, the OpenZFS build) and boot nothing; scripts/test.sh runs it beside the host
        # tiers, so a cold cache's ~6 min mostly overlap them. A failure is the leg's to report.
        rk = RealKernel().prepare()
        rk.python_snapshot()
        rk.ensure_zfs()
        print(rk.timings)
        sys.exit(0)
    # Smoke test: python -m tests.realkernel.harness ['guest shell commands']
    rk = RealKernel().prepare()
    result = rk.run(sys.argv[1] if len(sys.argv) > 1 else "uname -r; cat /proc/cmdline", timeout=300)
    print(f"rc={result.rc}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}--- console: {result.console_log}")
    print(rk.timings)
