#!/bin/sh
# One MDS of a pair, inside a real-kernel guest (scenario 3 of the real-kernel tier, see
# ../test_pair_lio.py): two NICs (user-mode networking to reach the salt-master
# on the host at 10.0.2.2; a -netdev socket segment shared with the other
# guest, where soft-RoCE runs), a LUN disk (virtio, by-id name
# virtio-<LUN_SERIAL>), configfs and ZFS loaded, and a salt-minion. The host
# drives everything through the master; the guest waits for /realkernel/stop,
# then writes what the kernel says (final.facts.json) and powers off, or for /realkernel/reboot reboots.
# /etc and the minion's files live on a state disk (virtio-rkstate-<NAME>): they survive a reboot.
# Settings: /realkernel/params.env (NAME, SEGMENT_MAC, SEGMENT_IP, MASTER_PUBLISH_PORT, MASTER_RET_PORT,
# SALT_MINION, LUN_SERIAL, ZFS_MODULES, PATH, LD_LIBRARY_PATH).
set -eu
R=/realkernel
. "$R/params.env"
stamp() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >> "$R/timings"; }
stamp start
# multihost names the importing host in its refusal: give the guest its MDS name.
hostname "$NAME"

# --- NICs by MAC: the segment's is given, the other is user-mode networking's
USER_NIC=""
SEGMENT_NIC=""
for dev in /sys/class/net/*; do
    name=${dev##*/}
    [ "$name" = lo ] && continue
    if [ "$(cat "$dev/address")" = "$SEGMENT_MAC" ]; then SEGMENT_NIC=$name; else USER_NIC=$name; fi
done
[ -n "$USER_NIC" ] && [ -n "$SEGMENT_NIC" ] || { echo "NICs not found: user=$USER_NIC segment=$SEGMENT_NIC" >&2; exit 10; }
ip addr add 10.0.2.15/24 dev "$USER_NIC"
ip link set "$USER_NIC" up
ip addr add "$SEGMENT_IP/24" dev "$SEGMENT_NIC"
ip link set "$SEGMENT_NIC" up
modprobe rdma_rxe
rdma link add rxe0 type rxe netdev "$SEGMENT_NIC"
n=100
until grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "rxe0 port 1 never ACTIVE" >&2; exit 11; }; sleep 0.2
done
stamp rxe

# --- what survives a reboot, as on a real server's root disk: /etc (hostid, modprobe.d, the minion's
# start-up state) and the minion's own files (its key, synced modules), on this node's state disk
modprobe ext4
n=100
until [ -e "/dev/disk/by-id/virtio-rkstate-$NAME" ]; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "no state disk virtio-rkstate-$NAME" >&2; exit 13; }; sleep 0.2
done
mkdir -p /persist
mount -t ext4 "/dev/disk/by-id/virtio-rkstate-$NAME" /persist
mkdir -p /persist/etc /persist/etc.work
mount -t overlay -o lowerdir=/etc,upperdir=/persist/etc,workdir=/persist/etc.work overlay /etc
stamp state

# --- what an MDS has before mdtmirror: configfs mounted, ZFS loaded, its LUN
modprobe configfs
grep -q " /sys/kernel/config configfs " /proc/mounts || mount -t configfs configfs /sys/kernel/config
insmod "$ZFS_MODULES/spl.ko"
# zfs_multihost_fail_intervals=0: MMP write delays are logged, the pool is never suspended for them.
# Under TCG a soft-RoCE stall (rdma_rxe "rxe_reg_fast_mr: mr->lkey ... not free") holds SRP I/O for
# tens of seconds; with the default (10 intervals of 1 s) it suspended the pool during a resilver and
# OpenZFS 2.3.2's txg_sync then spun in dsl_scan_active (soft lockups): `zpool wait` never returned.
# Multihost's import refusal (the activity check) does not depend on it.
insmod "$ZFS_MODULES/zfs.ko" zfs_multihost_fail_intervals=0
udevadm settle --timeout=30 || true
[ -e "/dev/disk/by-id/virtio-$LUN_SERIAL" ] || { echo "no /dev/disk/by-id/virtio-$LUN_SERIAL" >&2; ls -l /dev/disk/by-id >&2; exit 12; }
stamp disks
# Nothing imports a pool at boot (cachefile=none, no zfs-import service): what the kernel has before the minion.
zpool list -H -o name > "$R/boot.pools" 2>&1 || true

# --- the salt-minion (formula mode: the orchestration syncs the modules from the master)
S=/persist/salt
mkdir -p /tmp/rk && mount -t tmpfs -o size=200m tmpfs /tmp/rk
mkdir -p "$S/etc"
cat > "$S/etc/minion" <<CONF
id: $NAME
master: 10.0.2.2
publish_port: $MASTER_PUBLISH_PORT
master_port: $MASTER_RET_PORT
root_dir: $S
log_level_logfile: info
grains_cache: true
acceptance_wait_time: 2
random_reauth_delay: 0
CONF
"$SALT_MINION" -c "$S/etc" > "$R/minion.out" 2>&1 &
MINION=$!
stamp minion

# --- the host drives; wait for its stop or a reboot (bounded)
n=0
while [ ! -e "$R/stop" ]; do
    if [ -e "$R/reboot" ]; then
        # A real reboot: the minion stopped, the disks synced, reboot(2) (qemu runs with -no-reboot and
        # exits; the host boots the guest again on the same LUN and state disks).
        stamp reboot
        kill "$MINION" 2>/dev/null || true
        wait "$MINION" 2>/dev/null || true
        cp "$S/var/log/salt/minion" "$R/salt.log" 2>/dev/null || true
        sync
        /bin/busybox reboot -f
        sleep 60
    fi
    n=$((n + 1))
    [ "$n" -lt 3600 ] || { echo "no stop from the host within an hour" >&2; break; }
    kill -0 "$MINION" 2>/dev/null || { echo "salt-minion died" >&2; break; }
    sleep 1
done
stamp stop
python3 "$R/sysfs_facts.py" "" > "$R/final.facts.json" || true
cp "$S/var/log/salt/minion" "$R/salt.log" 2>/dev/null || true
kill "$MINION" 2>/dev/null || true
stamp end
