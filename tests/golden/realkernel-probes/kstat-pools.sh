#!/bin/sh
# The zfs module's kstat tree (/proc/spl/kstat/zfs): what is there with no pool, with a pool imported,
# its state word (ONLINE, then DEGRADED with a side offline), and after export and destroy.
# Made with the real-kernel harness (tests/realkernel/harness.py) on OpenZFS 2.3.2: kstat-pools.txt.
set -eu
R=/realkernel
. "$R/params.env"
x() { echo "\$ $*"; rc=0; "$@" 2>&1 || rc=$?; echo "[exit $rc]"; }
{
insmod "$ZFS_MODULES/spl.ko"
insmod "$ZFS_MODULES/zfs.ko"
modprobe loop
zgenhostid -f 0x00c0ffee
mkdir -p /tmp/rkzfs
mount -t tmpfs -o size=600m tmpfs /tmp/rkzfs
truncate -s 256M /tmp/rkzfs/a.img /tmp/rkzfs/b.img
A=$(losetup -f --show /tmp/rkzfs/a.img)
B=$(losetup -f --show /tmp/rkzfs/b.img)
x ls -p /proc/spl/kstat/zfs
x zpool create -o multihost=on -o cachefile=none mdtpool mirror "$A" "$B"
x ls -p /proc/spl/kstat/zfs
x ls -p /proc/spl/kstat/zfs/mdtpool
x cat /proc/spl/kstat/zfs/mdtpool/state
x zpool offline mdtpool "$B"
x cat /proc/spl/kstat/zfs/mdtpool/state
x zpool online mdtpool "$B"
x zpool export mdtpool
x ls -p /proc/spl/kstat/zfs
x zpool import -d /dev -o cachefile=none mdtpool
x ls -p /proc/spl/kstat/zfs
x zpool destroy mdtpool
x ls -p /proc/spl/kstat/zfs
} > "$R/kstat-pools.txt" 2>&1
