#!/bin/sh
# One MDS of a pair, inside a real-kernel guest (scenario 3 of issue 6, see
# ../test_pair_lio.py): two NICs (user-mode networking to reach the salt-master
# on the host at 10.0.2.2; a -netdev socket segment shared with the other
# guest, where soft-RoCE runs), a LUN disk (virtio, by-id name
# virtio-<LUN_SERIAL>), configfs and ZFS loaded, and a salt-minion. The host
# drives everything through the master; the guest waits for /realkernel/stop,
# then writes what the kernel says (final.facts.json) and powers off.
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

# --- what an MDS has before mdtmirror: configfs mounted, ZFS loaded, its LUN
modprobe configfs
grep -q " /sys/kernel/config configfs " /proc/mounts || mount -t configfs configfs /sys/kernel/config
insmod "$ZFS_MODULES/spl.ko"
insmod "$ZFS_MODULES/zfs.ko"
udevadm settle --timeout=30 || true
[ -e "/dev/disk/by-id/virtio-$LUN_SERIAL" ] || { echo "no /dev/disk/by-id/virtio-$LUN_SERIAL" >&2; ls -l /dev/disk/by-id >&2; exit 12; }
stamp disks

# --- the salt-minion (formula mode: the orchestration syncs the modules from the master)
S=/tmp/rk/salt
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

# --- the host drives; wait for its stop (bounded)
n=0
while [ ! -e "$R/stop" ]; do
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
