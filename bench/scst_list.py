"""(3) ``scst.list_devices`` over 1,000 SCST devices / reading the same sysfs files raw.

The devices are made by the SCST emulator (tests/emul/scstkernel.py, the
model behind the FUSE-mounted /sys/kernel/scst_tgt): ``add_device`` written
to ``handlers/vdisk_blockio/mgmt``, each device on its own backing file.

Main number: the emulator's tree with 1,000 devices written out as a plain
directory tree (files with the attribute contents and modes SCST shows,
``[key]`` lines included; symlinks where SCST has links), so that both
sides pay what a real sysfs charges (in-kernel lookups and reads) rather
than the emulator's: through FUSE every lookup is a round trip to Python,
and the emulator rebuilds each directory on every lookup, so one stat costs
O(number of devices) (over 15 minutes to read 1,000 devices once).

Also printed, not judged: the same ratio through the FUSE emulator with a
few devices, where every syscall is expensive.

"Raw" is a plain loop: ``listdir(devices)``; per device ``listdir``,
``readlink`` of ``handler`` and of each ``exported/*`` link, and ``open``
+ ``read`` of every other entry but ``mgmt`` (entries that are not regular
files fail at open and are skipped).
"""

from __future__ import annotations

import os

from bench.common import Result, fmt_times, loaders, median_time, quiet_stderr, say

GOAL = 2.0


def add_devices(host, first, count):
    for i in range(first, first + count):
        name = "BENCH%04d" % i
        with open(host.root / "dev" / name, "wb") as handle:
            handle.truncate(1 << 20)
        host.kernel.write("handlers/vdisk_blockio/mgmt", "add_device %s filename=/dev/%s\n" % (name, name))


def materialize(kernel, dest):
    """Write what list_devices reads of the emulated SCST tree as plain files, dirs and
    symlinks under ``dest``: the top-level attributes and ``devices/`` whole; of the
    rest only the directories the devices' links point at (never read, only readlink'd)."""
    root = kernel.lookup("")
    count = 0

    def write_file(node, full):
        nonlocal count
        data = b""
        if node.show is not None:
            try:
                data = node.show().encode("latin-1")
            except OSError:
                pass
        with open(full, "wb") as handle:
            handle.write(data)
        os.chmod(full, node.mode)
        count += 1

    def walk(node, path):
        os.makedirs(path, exist_ok=True)
        for name, child in node.children().items():
            full = os.path.join(path, name)
            if child.kind == "dir":
                walk(child, full)
            elif child.kind == "link":
                os.symlink(child.target, full)
            else:
                write_file(child, full)

    dest = str(dest)
    os.makedirs(dest, exist_ok=True)
    for name, child in root.children().items():
        full = os.path.join(dest, name)
        if name == "devices":
            walk(child, full)
        elif child.kind == "dir":
            os.makedirs(full, exist_ok=True)
        elif child.kind == "file":
            write_file(child, full)
    for handler in kernel.lookup("handlers").children():
        os.makedirs(os.path.join(dest, "handlers", handler), exist_ok=True)
    return count


def raw_read(devices_dir):
    """Read what list_devices reads, with nothing else: returns (devices, files read, links read)."""
    files = links = 0
    names = os.listdir(devices_dir)
    for dev in names:
        path = os.path.join(devices_dir, dev)
        for entry in os.listdir(path):
            full = os.path.join(path, entry)
            if entry == "mgmt":
                continue
            if entry == "handler":
                os.readlink(full)
                links += 1
                continue
            if entry == "exported":
                for link in os.listdir(full):
                    os.readlink(os.path.join(full, link))
                    links += 1
                continue
            try:
                with open(full, "rb") as handle:
                    handle.read()
                files += 1
            except OSError:
                pass
    return len(names), files, links


def compare(ld, devices_dir, reps):
    """Alternate list_devices and the raw loop ``reps`` times each (after one warm-up of each)."""
    scst = ld.modules.scst
    got = scst.list_devices()
    raw = raw_read(devices_dir)
    mod_times, raw_times = [], []
    for _ in range(reps):
        t, _, got = median_time(scst.list_devices, 1)
        mod_times.append(t)
        t, _, raw = median_time(lambda: raw_read(devices_dir), 1)
        raw_times.append(t)
    mod = sorted(mod_times)[len(mod_times) // 2]
    rawt = sorted(raw_times)[len(raw_times) // 2]
    attrs = sum(len(d["attributes"]) for d in got.values())
    return {
        "module": mod,
        "raw": rawt,
        "ratio": mod / rawt if rawt else float("inf"),
        "module_times": mod_times,
        "raw_times": raw_times,
        "devices": len(got),
        "attributes": attrs,
        "raw_devices": raw[0],
        "raw_files": raw[1],
        "raw_links": raw[2],
    }


def run(workdir, devices=1000, fuse_devices=5, reps=5, fuse_reps=3):
    from tests.emul.rig import make_host

    host = make_host(workdir / "hosts", "mds01", scst_loaded=True)
    ld = None
    try:
        mdtmirror = {"sysroot": str(host.root), "bin": dict(host.mdtmirror["bin"])}
        ld = loaders(workdir / "salt", "mds01", mdtmirror)
        add_devices(host, 0, fuse_devices)
        say("  (3) through the FUSE emulator, %d devices ..." % fuse_devices)
        fuse = compare(ld, os.path.join(host.root, "sys/kernel/scst_tgt/devices"), fuse_reps)

        add_devices(host, fuse_devices, devices - fuse_devices)
        static_root = workdir / "static-root"
        files = materialize(host.kernel, static_root / "sys" / "kernel" / "scst_tgt")
        # Same loaded modules, now reading the written-out tree (__opts__ is this dict).
        mdtmirror["sysroot"] = str(static_root)
        say("  (3) %d devices written out as a plain tree (%d files) ..." % (devices, files))
        main = compare(ld, str(static_root / "sys/kernel/scst_tgt/devices"), reps)
    finally:
        if ld is not None:
            ld.reset_state()
        with quiet_stderr():
            host.handle.stop()

    if main["devices"] < devices:
        return Result(
            "3",
            "scst.list_devices, 1,000 devices / raw reads",
            "error",
            "<= %.1fx" % GOAL,
            None,
            ["list_devices saw %d devices, expected %d or more" % (main["devices"], devices)],
        )
    details = [
        "list_devices: median %.3f s (%s); raw loop: median %.3f s (%s)"
        % (main["module"], fmt_times(main["module_times"]), main["raw"], fmt_times(main["raw_times"])),
        "%d devices (%d made + the host's pass-through), %d attribute values returned; raw loop read %d files "
        "and %d links" % (main["devices"], devices, main["attributes"], main["raw_files"], main["raw_links"]),
        "through the FUSE emulator, %d devices (not judged; every syscall is a round trip): list_devices "
        "%.3f s / raw %.3f s = %.2fx" % (fuse["devices"], fuse["module"], fuse["raw"], fuse["ratio"]),
    ]
    return Result(
        "3",
        "scst.list_devices, 1,000 devices / raw reads",
        "%.2fx" % main["ratio"],
        "<= %.1fx" % GOAL,
        main["ratio"] <= GOAL,
        details,
    )
