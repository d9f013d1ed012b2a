#!/bin/sh
set -eu
R=/realkernel
. "$R/params.env"
run() { name=$1; shift; rc=0; { echo "\$ $*"; "$@" 2>&1 || rc=$?; echo "[exit $rc]"; } > "$R/$name.txt"; }
insmod "$ZFS_MODULES/spl.ko"
insmod "$ZFS_MODULES/zfs.ko"
modprobe loop
zgenhostid -f 0x00c0ffee
mkdir -p /tmp/rkzfs
mount -t tmpfs -o size=600m tmpfs /tmp/rkzfs
truncate -s 256M /tmp/rkzfs/a.img /tmp/rkzfs/b.img
A=$(losetup -f --show /tmp/rkzfs/a.img)
B=$(losetup -f --show /tmp/rkzfs/b.img)
run create zpool create -o multihost=on -o cachefile=none mdtpool mirror "$A" "$B"
run hostid hostid
run zdb_active zdb -l "$A"
run zdb_active_q zdb -lq "$A"
run zpool_get_hostid zpool get -Hp all mdtpool
run export zpool export mdtpool
run zdb_exported zdb -l "$A"
run import_list zpool import -d /dev
run import zpool import -d /dev -o cachefile=none mdtpool
zgenhostid -f 0x0badf00d
run zdb_other zdb -l "$A"
run import_list_same zpool import -d /dev
run zdb_blank zdb -l /tmp/rkzfs/none 
truncate -s 64M /tmp/rkzfs/c.img
C=$(losetup -f --show /tmp/rkzfs/c.img)
run zdb_nolabel zdb -l "$C"
