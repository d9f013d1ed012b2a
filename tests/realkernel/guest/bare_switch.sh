#!/bin/sh
# One step of a switchover made bare, with no Salt and no formula: the kernel moves
# only, for bench (6) in the real-kernel tier (test_pair_lio.py). The last line
# printed is "elapsed <seconds>", measured here so that the round trips that
# started the step are not counted.
#
#   release <pool>                                    old active: pool exported, SRP logout
#   close                                             new active: its LIO export removed
#   export <backstore> <device> <serial> <target> <acl>
#                                                     new standby: its disk exported (iblock)
#   take <pool> <add_target line> <own disk>          new active: login, partitions, import
set -eu
T=/sys/kernel/config/target
start=$(date +%s.%N)
step=$1
shift

links() {  # remove the symbolic links of a configfs directory, then the directory
    find "$1" -maxdepth 1 -type l -exec rm {} +
    rmdir "$1"
}

case "$step" in
release)
    zpool export "$1"
    for port in /sys/class/srp_remote_ports/*; do
        if [ -e "$port/delete" ]; then echo 1 >"$port/delete"; fi
    done
    ;;
close)
    for dir in "$T"/srpt/*/tpgt_1/acls/*/lun_* "$T"/srpt/*/tpgt_1/lun/lun_*; do
        if [ -d "$dir" ]; then links "$dir"; fi
    done
    for dir in "$T"/core/iblock_*/*; do
        if [ -d "$dir" ]; then rmdir "$dir"; fi
    done
    ;;
export)
    name=$1 device=$2 serial=$3 target=$4 acl=$5
    backstore=$T/core/iblock_0/$name
    tpg=$T/srpt/$target/tpgt_1
    mkdir -p "$backstore"
    echo "udev_path=$device" >"$backstore/control"
    echo "$device" >"$backstore/udev_path"
    echo "$serial" >"$backstore/wwn/vpd_unit_serial"
    echo 1 >"$backstore/enable"  # iblock opens the disk here, exclusively
    mkdir "$tpg/lun/lun_0"
    ln -s "$backstore" "$tpg/lun/lun_0/$name"
    mkdir -p "$tpg/acls/$acl/lun_0"
    ln -s "$tpg/lun/lun_0" "$tpg/acls/$acl/lun_0/lun_0"
    ;;
take)
    pool=$1 line=$2 own=$3
    for host in /sys/class/infiniband_srp/srp-*; do
        echo "$line" >"$host/add_target"
        break
    done
    # The link of the LUN's partition 1 (LIO's NAA id; ZFS partitioned the disk), made by udev once
    # the SCSI scan and the partition scan are done: zpool import scans only what is there.
    tries=0
    until ls /dev/disk/by-id | grep -q -e '^scsi-36001405.*-part1$' -e '^wwn-0x6001405.*-part1$'; do
        tries=$((tries + 1))
        if [ "$tries" -gt 600 ]; then
            echo "no by-id link of the peer's LUN's partition after 60 s" >&2
            exit 1
        fi
        sleep 0.1
    done
    udevadm settle --timeout=30 || true
    # The peer wrote this disk's partition table over SRP: the kernel must read it again.
    blockdev --rereadpt "$own" || echo "blockdev --rereadpt $own refused" >&2
    # The re-read removes and adds the partitions again: udev drops and makes their links, and an import
    # that scans before it is done finds the pool on the peer's LUN alone and imports it DEGRADED (seen in
    # CI: the own disk UNAVAIL). zfsmirror.import_pool settles here too.
    udevadm settle --timeout=30 || true
    tries=0
    until [ -e "$own-part1" ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt 300 ]; then
            echo "no link $own-part1 after 30 s" >&2
            exit 1
        fi
        sleep 0.1
    done
    zpool import -d /dev/disk/by-id -o cachefile=none "$pool"
    ;;
*)
    echo "unknown step $step" >&2
    exit 2
    ;;
esac
end=$(date +%s.%N)
python3 -c 'import sys; print("elapsed %.3f" % (float(sys.argv[1]) - float(sys.argv[2])))' "$end" "$start"
