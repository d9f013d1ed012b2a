#!/bin/sh
# Runs inside the real-kernel guest: the OpenZFS modules built by harness.ensure_zfs load into the
# Debian kernel and make a mirrored pool over two loop devices. Outputs to /realkernel/*.txt.
# Settings in /realkernel/params.env (ZfsBuild.guest_env): ZFS_MODULES, PATH, LD_LIBRARY_PATH.
set -eu
R=/realkernel
. "$R/params.env"
run() {  # run <name> <command...>: "$ <command>", its output, "[exit N]" to <name>.txt
    name=$1; shift
    rc=0
    { echo "\$ $*"; "$@" 2>&1 || rc=$?; echo "[exit $rc]"; } > "$R/$name.txt"
}
insmod "$ZFS_MODULES/spl.ko"
insmod "$ZFS_MODULES/zfs.ko"
modprobe loop
zgenhostid -f 0x00c0ffee
mkdir -p /tmp/rkzfs
mount -t tmpfs -o size=600m tmpfs /tmp/rkzfs
truncate -s 256M /tmp/rkzfs/a.img /tmp/rkzfs/b.img
A=$(losetup -f --show /tmp/rkzfs/a.img)
B=$(losetup -f --show /tmp/rkzfs/b.img)
run version zfs version
run create zpool create -o multihost=on rkpool mirror "$A" "$B"
udevadm settle --timeout=30 || true
run list zpool list -Hp -o name,health,size
run status zpool status -j --json-int rkpool
# The kstat tree the plan reads for the pools imported here (one directory per pool, its state in it).
run kstat ls -p /proc/spl/kstat/zfs
run kstat_state cat /proc/spl/kstat/zfs/rkpool/state
run destroy zpool destroy rkpool
run kstat_after ls -p /proc/spl/kstat/zfs
