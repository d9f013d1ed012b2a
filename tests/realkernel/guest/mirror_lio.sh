#!/bin/sh
# Runs inside the real-kernel guest (see ../harness.py), for test_mirror_lio.py:
#
#   scenario 1: soft-RoCE on the NIC; mdtmirror's states (salt-call --local,
#     the repository's modules) load LIO, export a loop device as an SRP LUN
#     (lio backend), log in to it over RDMA/CM (srp.connected) and build the
#     ZFS mirror of a local loop device and the SRP disk (zfsmirror); a
#     second apply must change nothing.
#   scenario 2: files are written to the pool before, during and after the
#     SRP path is removed (srp_remote_ports/<port>/delete) in the middle of
#     the writes; the pool must degrade; re-applying logs in again and heals
#     it; after the resilver a scrub must find 0 errors and every file must
#     read back intact after an export and import; a last apply changes nothing.
#   persistence: the saved LIO configuration is cleared and restored with the
#     distribution's own targetctl (what rtslib-fb-targetctl.service does at
#     boot), the RDMA/CM port with systemd-tmpfiles; re-applying the target
#     states must then change nothing.
#
# Each phase writes what the kernel says (zpool status -j, sysfs/configfs
# facts) and what salt said (*.json) to /realkernel. A failing phase stops
# the script; the test names it.
# Settings: /realkernel/params.env (SALT_CALL, REPO, IP, RDMA_CM_PORT, ZFS_MODULES, PATH, LD_LIBRARY_PATH).
set -eu
R=/realkernel
. "$R/params.env"

stamp() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >> "$R/timings"; }
phase() { echo "$1" > "$R/phase"; stamp "$1"; }
wait_for() {  # wait_for <seconds> <test args...>
    n=$(($1 * 5)); shift
    while ! test "$@"; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || { echo "timed out waiting for: test $*" >&2; return 1; }
        sleep 0.2
    done
}
phase start

# --- network and soft-RoCE (the harness's NIC, user-mode networking's guest address)
NIC=""
for dev in /sys/class/net/*; do
    [ "${dev##*/}" = lo ] || { NIC=${dev##*/}; break; }
done
[ -n "$NIC" ] || { echo "no network interface in /sys/class/net" >&2; exit 10; }
ip addr add "$IP/24" dev "$NIC"
ip link set "$NIC" up
modprobe rdma_rxe
rdma link add rxe0 type rxe netdev "$NIC"
wait_for 20 -e /sys/class/infiniband/rxe0/ports/1/state
n=100
until grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "rxe0 port 1 never ACTIVE" >&2; exit 11; }; sleep 0.2
done
GID=$(cat /sys/class/infiniband/rxe0/ports/1/gids/0)
GUID=$(tr -d : < /sys/class/infiniband/rxe0/node_guid)
phase rxe

# --- what an MDS has before mdtmirror: configfs mounted, ZFS loaded, two disks
modprobe configfs
grep -q " /sys/kernel/config configfs " /proc/mounts || mount -t configfs configfs /sys/kernel/config
insmod "$ZFS_MODULES/spl.ko"
# zfs_multihost_fail_intervals=0: MMP write delays are logged, the pool is never suspended for them.
# Under TCG a soft-RoCE stall (rdma_rxe "rxe_reg_fast_mr: mr->lkey ... not free") holds SRP I/O for
# tens of seconds; with the default (10 intervals of 1 s) it suspended the pool during a resilver and
# OpenZFS 2.3.2's txg_sync then spun in dsl_scan_active (soft lockups): `zpool wait` never returned.
# Multihost's import refusal (the activity check) does not depend on it.
insmod "$ZFS_MODULES/zfs.ko" zfs_multihost_fail_intervals=0
modprobe loop
mkdir -p /tmp/rk
mount -t tmpfs -o size=900m tmpfs /tmp/rk
truncate -s 256M /tmp/rk/local.img /tmp/rk/lun.img
LOCAL=$(losetup -f --show /tmp/rk/local.img)  # this node's own LUN
LUN=$(losetup -f --show /tmp/rk/lun.img)      # the LUN exported over SRP (the peer's, on a real pair)
echo "local $LOCAL lun $LUN gid $GID"
phase disks

# --- salt-call --local with the repository's modules and states first on module_dirs
S=/tmp/rk/salt
mkdir -p "$S/etc"
cat > "$S/etc/minion" <<CONF
id: realkernel-guest
root_dir: $S
file_client: local
file_roots:
  base:
    - $R/srv
    - $REPO/salt
module_dirs:
  - $REPO
log_level_logfile: info
grains_cache: true
mdtmirror:
  bin: {salt_call: /tmp/rk/salt-call-local, systemctl: /bin/true}
  paths: {systemd_system: /tmp/rk/systemd}
CONF
# What a timer's unit runs (salt-call --local ...), with this guest's minion configuration.
printf '#!/bin/sh\nexec "%s" -c "%s" "$@"\n' "$SALT_CALL" "$S/etc" > /tmp/rk/salt-call-local
chmod 755 /tmp/rk/salt-call-local
trap 'cp "$S/var/log/salt/minion" "$R/salt.log" 2>/dev/null || true' EXIT
PILLAR="{\"gid\": \"$GID\", \"guid\": \"$GUID\", \"dest\": \"$IP:$RDMA_CM_PORT\", \"rdma_cm_port\": $RDMA_CM_PORT, \"local\": \"$LOCAL\", \"lun_dev\": \"$LUN\"}"
salt() {  # salt <name> <salt-call args...>: output to <name>.json/.err, exit code to <name>.rc
    name=$1; shift
    rc=0
    "$SALT_CALL" --local -c "$S/etc" --out=json "$@" > "$R/$name.json" 2> "$R/$name.err" || rc=$?
    echo "$rc" > "$R/$name.rc"
    stamp "$name"
}
facts() {  # facts <name>: what sysfs/configfs and zpool say now
    udevadm settle --timeout=30 || true
    python3 "$R/sysfs_facts.py" "$GUID" > "$R/$1.facts.json"
    zpool status -j --json-int mdtpool > "$R/$1.status.json" 2>&1 || true
}

# === scenario 1: the prediction (test=True), then the mirror, twice
phase predict
# The target side only: srp.connected cannot predict a login before ib_srp is loaded (no
# /sys/class/infiniband_srp yet).
salt apply0 state.apply lio_target pillar="$PILLAR" test=True
facts apply0
phase apply1
salt apply1 --retcode-passthrough state.apply mirror_lio pillar="$PILLAR"
facts apply1
phase apply2
salt apply2 --retcode-passthrough state.apply mirror_lio pillar="$PILLAR"
facts apply2
[ "$(cat "$R/apply1.rc")" = 0 ] && [ "$(cat "$R/apply2.rc")" = 0 ] || exit 20
cp /etc/rtslib-fb-target/saveconfig.json "$R/saveconfig.json" 2>/dev/null || true
# The configfs tree as a golden input for the lio module's readers: type, path, link target, and
# the value of every readable attribute outside statistics/ and alua/.
find /sys/kernel/config/target -printf '%y %p %l\n' > "$R/configfs_tree.txt"
find /sys/kernel/config/target -type f ! -path '*/statistics/*' ! -path '*/alua/*' ! -name control \
    -exec sh -c 'for f; do printf "%s\t%s\n" "$f" "$(tr "\n" " " < "$f" 2>/dev/null)"; done' sh {} + \
    > "$R/configfs_values.txt" 2>/dev/null || true

# --- one disk, two exclusive holders (the kernel answers EBUSY to the second): ZFS holds the local
# disk, LIO's iblock the exported one. An export of the pool's disk is refused before any write,
# predicted (test=True) and real; ZFS's in-use check sees the exported disk as busy.
phase holders
salt held_zfs_predict state.single lio.backstore_present name=HELD dev="$LOCAL" serial=0123456789abcdef test=True
salt held_zfs state.single lio.backstore_present name=HELD dev="$LOCAL" serial=0123456789abcdef
ls -d /sys/kernel/config/target/core/iblock_*/* > "$R/held_backstores.txt" 2>&1 || true
salt held_lio zfsmirror.disk_in_use "$LUN"

# === scenario 2: path loss during writes
phase writes
mkdir -p /tmp/rk/src
# before: 8 MiB; during: 48 x 256 KiB, each synced; after: 8 MiB. Sources on tmpfs, their sums kept.
head -c 8388608 /dev/urandom > /tmp/rk/src/before
for i in $(seq 1 48); do head -c 262144 /dev/urandom > "/tmp/rk/src/during.$i"; done
head -c 8388608 /dev/urandom > /tmp/rk/src/after
(cd /tmp/rk/src && sha256sum before during.* after) > "$R/sources.sha256"
mountpoint -q /mdtpool || { echo "/mdtpool is not mounted" >&2; exit 30; }
cp /tmp/rk/src/before /mdtpool/ && sync
(
    for i in $(seq 1 48); do
        dd if="/tmp/rk/src/during.$i" of="/mdtpool/during.$i" bs=64k conv=fsync status=none
        sleep 0.1
    done
    echo done > /tmp/rk/writer.done
) > /tmp/rk/writer.log 2>&1 &
WRITER=$!
wait_for 60 -e /mdtpool/during.12
phase path_loss
for port in /sys/class/srp_remote_ports/*; do
    echo "deleting $port"
    echo 1 > "$port/delete"
done
wait "$WRITER" || true
cp /tmp/rk/writer.log "$R/writer.log"
[ -e /tmp/rk/writer.done ] || { echo "the writer did not finish" >&2; exit 31; }
cp /tmp/rk/src/after /mdtpool/ && sync
# Let ZFS notice the missing side: a pool-wide sync writes to every vdev (bounded: on a loaded machine
# the first sync can return before the lost side's I/O failed).
n=0
while [ "$n" -lt 30 ]; do
    zpool sync mdtpool || true
    zpool list -H -o health mdtpool | grep -q ONLINE || break
    n=$((n + 1)); sleep 1
done
sleep 2
facts degraded
phase heal
salt apply3 --retcode-passthrough state.apply mirror_lio pillar="$PILLAR"
udevadm settle --timeout=30 || true
zpool wait -t resilver mdtpool || true
facts healed
phase scrub
zpool scrub -w mdtpool
facts scrubbed
phase readback
zpool export mdtpool
zpool import -d /dev/disk/by-id mdtpool
(cd /mdtpool && sha256sum before during.* after) > "$R/pool.sha256" || true
facts imported
phase apply4
salt apply4 --retcode-passthrough state.apply mirror_lio pillar="$PILLAR"
[ "$(cat "$R/apply3.rc")" = 0 ] && [ "$(cat "$R/apply4.rc")" = 0 ] || exit 40

# === snapshots, prune, backups and a restore on real OpenZFS
# The snapshot job is installed as the formula installs it (units in $UNITS, systemctl a no-op: no
# systemd here); its service's ExecStart lines are what the timer runs, and they are run as written.
phase backups
UNITS=/tmp/rk/systemd
mkdir -p "$UNITS" /tmp/rk/backup
# 300 of our snapshots, one command each (each its own txg, as the schedule makes them: a range
# destroy a%b takes every snapshot whose txg lies between), 3 held by someone else, one foreign one.
for i in $(seq -w 1 300); do zfs snapshot "mdtpool@mdtmirror-20261101T0${i}Z"; done
zfs snapshot mdtpool@manual-before-upgrade
for i in 007 150 299; do zfs hold keep "mdtpool@mdtmirror-20261101T0${i}Z"; done
zfs list -H -t snapshot -o name -d 1 mdtpool | sort > "$R/snapshots.before.txt"
salt job zfsmirror.snapshot_job rk mdtpool policy=hourly=2 interval=60
sed -n 's/^ExecStart=//p' "$UNITS/mdtmirror-snapshot-rk.service" > "$R/job.commands.txt"
rc=0
while read -r line; do
    eval "$line" >> "$R/job.out" 2>&1 || rc=$?
done < "$R/job.commands.txt"
echo "$rc" > "$R/job.rc"
zfs list -H -t snapshot -o name -d 1 mdtpool | sort > "$R/snapshots.after.txt"
# A full backup, one more file and snapshot, an incremental one; then the chain restored beside the
# live dataset, mounted, and every file's sum compared.
salt backup1 zfsmirror.backup mdtpool file:/tmp/rk/backup
head -c 4194304 /dev/urandom > /tmp/rk/src/later
cp /tmp/rk/src/later /mdtpool/ && sync
(cd /tmp/rk/src && sha256sum later) > "$R/later.sha256"
salt snap2 zfsmirror.snapshot mdtpool
salt backup2 zfsmirror.backup mdtpool file:/tmp/rk/backup
ls -l /tmp/rk/backup > "$R/backup.files.txt"
salt points zfsmirror.restore_points file:/tmp/rk/backup
salt refused zfsmirror.restore file:/tmp/rk/backup mdtpool
salt restored zfsmirror.restore file:/tmp/rk/backup mdtpool/restore
zfs mount mdtpool/restore
(cd /mdtpool/restore && sha256sum before during.* after later) > "$R/restore.sha256" || true
zfs destroy -r mdtpool/restore
for i in 007 150 299; do zfs release keep "mdtpool@mdtmirror-20261101T0${i}Z"; done

# === persistence: what the distribution's restore service does at boot
phase restore
zpool export mdtpool
for port in /sys/class/srp_remote_ports/*; do echo 1 > "$port/delete"; done
udevadm settle --timeout=30 || true
mkdir -p /etc/rtslib-fb-target
/usr/bin/targetctl clear
python3 "$R/sysfs_facts.py" "$GUID" > "$R/cleared.facts.json"
/usr/bin/targetctl restore /etc/rtslib-fb-target/saveconfig.json > "$R/targetctl.txt" 2>&1
printf 'w /sys/kernel/config/target/srpt/discovery_auth/rdma_cm_port - - - - %s\n' "$RDMA_CM_PORT" > /tmp/rk/lio-rdma-cm.conf
systemd-tmpfiles --create /tmp/rk/lio-rdma-cm.conf
python3 "$R/sysfs_facts.py" "$GUID" > "$R/restored.facts.json"
salt apply5 --retcode-passthrough state.apply lio_target pillar="$PILLAR"

# === a zvol LUN (the seed's layout): a local pool's zvol made and exported by the formula's states,
# logged in to, data written through SRP read back from the zvol; then a pool on the zvol itself, as an
# active whose local side is a zvol would have it (a pool nested on another pool of the same host,
# unsupported upstream: openzfs/zfs#11253), measured under a time limit.
phase zvol
# The guest's udev runs with the host's rules, and the host has no zfsutils: the zvol rule of the
# unpacked userland (what zfsutils-linux installs on a server), pointed at its zvol_id.
ZVOL_ID=$(command -v zpool | sed 's,/sbin/zpool$,/lib/udev/zvol_id,')
mkdir -p /etc/udev/rules.d
sed "s,/lib/udev/zvol_id,$ZVOL_ID," "${ZVOL_ID%/zvol_id}/rules.d/60-zvol.rules" > /etc/udev/rules.d/60-zvol.rules
udevadm control --reload
truncate -s 448M /tmp/rk/lpool.img  # ZFS keeps back 128 MiB (slop) of a pool this small
LPOOL=$(losetup -f --show /tmp/rk/lpool.img)
zpool create -o cachefile=none -O canmount=off lpool "$LPOOL"
salt zvol1 --retcode-passthrough state.apply lio_zvol pillar="$PILLAR"
salt zvol2 --retcode-passthrough state.apply lio_zvol pillar="$PILLAR"
facts zvol
value() { "$SALT_CALL" --local -c "$S/etc" --out=json "$@" | python3 -c 'import json, sys; print(json.load(sys.stdin)["local"])'; }
value lio.initiator_by_id "$(value lio.default_serial realkernel-guest MDT1)" > "$R/zvol.by_id.txt"
ZDISK=$(cat "$R/zvol.by_id.txt")
udevadm settle --timeout=30 || true
[ -b "$ZDISK" ] || { echo "no SRP disk $ZDISK for the zvol's LUN" >&2; exit 50; }
head -c 8388608 /dev/urandom > /tmp/rk/src/zvol
dd if=/tmp/rk/src/zvol of="$ZDISK" bs=1M oflag=direct conv=fsync status=none
(sha256sum < /tmp/rk/src/zvol; head -c 8388608 /dev/zvol/lpool/mdt1 | sha256sum) > "$R/zvol.sha256"
for port in /sys/class/srp_remote_ports/*; do echo 1 > "$port/delete"; done
udevadm settle --timeout=30 || true
salt zvol_unexport state.single lio.backstore_absent name=MDT1
phase nested
timed() {  # timed <name> <seconds> <command...>: "<name> <rc> <seconds>" to nested.txt
    name=$1; limit=$2; shift 2
    start=$(cut -d' ' -f1 /proc/uptime)
    rc=0; timeout "$limit" "$@" > "$R/nested.$name.out" 2>&1 || rc=$?
    echo "$name $rc $(echo "$(cut -d' ' -f1 /proc/uptime) $start" | awk '{print $1 - $2}')" >> "$R/nested.txt"
}
: > "$R/nested.txt"
timed create 120 zpool create -o cachefile=none -O mountpoint=/tmp/rk/npool npool /dev/zvol/lpool/mdt1
timed writes 600 sh -c 'for i in $(seq 1 16); do dd if=/dev/urandom of=/tmp/rk/npool/w$i bs=1M count=2 conv=fsync status=none; done; sync'
(cd /tmp/rk/npool && sha256sum w*) > "$R/nested.before.sha256" 2>&1 || true
timed export 300 zpool export npool
timed import 300 zpool import -d /dev/zvol/lpool -o cachefile=none npool
timed scrub 600 zpool scrub -w npool
(cd /tmp/rk/npool && sha256sum w*) > "$R/nested.after.sha256" 2>&1 || true
zpool status -x npool > "$R/nested.status.txt" 2>&1 || true
timed destroy 300 zpool destroy npool
phase end
