#!/bin/sh
# Runs inside the real-kernel guest (see ../harness.py): soft-RoCE on the NIC,
# a LIO ib_srpt target over RDMA/CM (configfs, as targetcli would), then
# mdtmirror's own code through salt-call: srp.ports, and the state
# srp.connected applied twice. Everything the test checks is written to
# /realkernel: *.json from salt-call, facts.json (what sysfs says), timings.
#
# Settings come from /realkernel/params.env: SALT_CALL, REPO, IP, RDMA_CM_PORT, DISK_SERIAL (empty: none).
set -eu
R=/realkernel
. "$R/params.env"

stamp() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >> "$R/timings"; }
wait_for() {  # wait_for <seconds> <test args...>
    n=$(($1 * 5)); shift
    while ! test "$@"; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || { echo "timed out waiting for: test $*" >&2; return 1; }
        sleep 0.2
    done
}
stamp start

# --- network: the first NIC (udev renamed it: ens3, ens6...) gets the address user-mode networking expects
NIC=""
for dev in /sys/class/net/*; do
    [ "${dev##*/}" = lo ] || { NIC=${dev##*/}; break; }
done
[ -n "$NIC" ] || { echo "no network interface in /sys/class/net" >&2; exit 10; }
ip addr add "$IP/24" dev "$NIC"
ip link set "$NIC" up
echo "nic $NIC $IP"

# --- soft-RoCE
modprobe rdma_rxe
rdma link add rxe0 type rxe netdev "$NIC"
wait_for 20 -e /sys/class/infiniband/rxe0/ports/1/state
n=100
until grep -q ACTIVE /sys/class/infiniband/rxe0/ports/1/state; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "rxe0 port 1 never ACTIVE" >&2; exit 11; }; sleep 0.2
done
GUID_COLONS=$(cat /sys/class/infiniband/rxe0/node_guid)
GUID=$(echo "$GUID_COLONS" | tr -d :)
rdma link show
stamp rxe

# --- LIO: fileio backstore on a tmpfs file, SRP target port named by the node GUID, ACL for our source IP
modprobe configfs
grep -q " /sys/kernel/config configfs " /proc/mounts || mount -t configfs configfs /sys/kernel/config
modprobe target_core_mod
modprobe target_core_file
modprobe ib_srpt
T=/sys/kernel/config/target
mkdir -p "$T/srpt"
echo "$RDMA_CM_PORT" > "$T/srpt/discovery_auth/rdma_cm_port"
mkdir -p /tmp/rk
mount -t tmpfs -o size=320m tmpfs /tmp/rk
truncate -s 256M /tmp/rk/disk0.img
B=$T/core/fileio_0/disk0
mkdir -p "$B"
echo "fd_dev_name=/tmp/rk/disk0.img,fd_dev_size=268435456" > "$B/control"
echo 1 > "$B/enable"
# targetcli sets a unit serial: without one the LUN has no VPD 0x80/0x83 id and udev makes no by-id link.
[ -z "$DISK_SERIAL" ] || echo "$DISK_SERIAL" > "$B/wwn/vpd_unit_serial"
TPG=$T/srpt/$GUID_COLONS/tpgt_1
mkdir -p "$TPG/lun/lun_0"
ln -s "$B" "$TPG/lun/lun_0/disk0"
mkdir -p "$TPG/acls/$IP/lun_0"
ln -s "$TPG/lun/lun_0" "$TPG/acls/$IP/lun_0/lun_0"
echo 1 > "$TPG/enable"
stamp lio

# --- initiator module only: the login is mdtmirror's job
modprobe ib_srp
wait_for 20 -e /sys/class/infiniband_srp/srp-rxe0-1/add_target
stamp ib_srp

# --- salt-call --local with the repository's modules and states (module_dirs: <repo>/_modules, <repo>/_states;
# they come first, before the copy pip installed in the venv)
S=/tmp/rk/salt
mkdir -p "$S/etc" "$R/srv"
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
# Grains are computed by the first call only (each salt-call costs tens of seconds under TCG).
grains_cache: true
CONF
trap 'cp "$S/var/log/salt/minion" "$R/salt.log" 2>/dev/null || true' EXIT
PILLAR="{\"srp_guid\": \"$GUID\", \"srp_dest\": \"$IP:$RDMA_CM_PORT\"}"
salt() {  # salt <name> <salt-call args...>: output to <name>.json/.err, exit code to <name>.rc
    name=$1; shift
    rc=0
    "$SALT_CALL" --local -c "$S/etc" --out=json "$@" > "$R/$name.json" 2> "$R/$name.err" || rc=$?
    echo "$rc" > "$R/$name.rc"
    stamp "$name"
}
salt ports srp.ports
salt apply1 --retcode-passthrough state.apply srp_login pillar="$PILLAR"
udevadm settle --timeout=30 || true
salt apply2 --retcode-passthrough state.apply srp_login pillar="$PILLAR"
udevadm settle --timeout=30 || true

# --- what the kernel says
python3 "$R/sysfs_facts.py" "$GUID" > "$R/facts.json"
stamp facts
