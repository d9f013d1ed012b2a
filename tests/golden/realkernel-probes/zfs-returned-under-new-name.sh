#!/bin/sh
R=/realkernel
. "$R/params.env"
insmod "$ZFS_MODULES/spl.ko"; insmod "$ZFS_MODULES/zfs.ko"; modprobe loop
zgenhostid -f 0x00c0ffee
mkdir -p /tmp/z; mount -t tmpfs -o size=900m tmpfs /tmp/z
truncate -s 256M /tmp/z/a.img /tmp/z/b.img
A=$(losetup -f --show -P /tmp/z/a.img); B=$(losetup -f --show -P /tmp/z/b.img)
x() { echo "\$ $*"; "$@" 2>&1; echo "[rc $?]"; }
mkdir -p /tmp/z/d1 /tmp/z/d2
ln -s $A /tmp/z/d1/diskA; ln -s $B /tmp/z/d1/diskB
x zpool create -f -o multihost=on -o cachefile=none tp mirror /tmp/z/d1/diskA /tmp/z/d1/diskB
udevadm settle; ls -l /dev/loop*
x zpool status -P tp
x zfs create -o mountpoint=/tmp/z/m tp/data
dd if=/dev/urandom of=/tmp/z/m/f1 bs=64k count=8 conv=fsync status=none; sha256sum /tmp/z/m/f1
x zpool export tp
rm /tmp/z/d1/diskB
ln -s $A /tmp/z/d2/diskA
echo "== import with only diskA visible"
x zpool import -d /tmp/z/d2 -o cachefile=none tp
x zpool status -P -g tp
dd if=/dev/urandom of=/tmp/z/m/f2 bs=64k count=8 conv=fsync status=none
echo "== diskB returns under another name"
ln -s $B /tmp/z/d2/diskB-new
GUID=$(zpool status -g tp | awk '/UNAVAIL/ {print $1}')
echo "dead guid: $GUID"
x zpool online tp /tmp/z/d2/diskB-new
x zpool online tp $GUID
x zpool status -P tp
x zpool replace tp $GUID /tmp/z/d2/diskB-new
x zpool create -n probe /tmp/z/d2/diskB-new
x blkid -p -o export $B
echo "== detach + attach"
x zpool detach tp $GUID
x zpool create -n probe /tmp/z/d2/diskB-new
x zpool attach tp /tmp/z/d2/diskA /tmp/z/d2/diskB-new
x zpool attach -f tp /tmp/z/d2/diskA /tmp/z/d2/diskB-new
sleep 5; x zpool status -P tp
echo "== alternative: export + import with both visible under new names"
x zpool export tp
x zpool import -d /tmp/z/d2 -o cachefile=none tp
x zpool status -P tp
