"""Runs inside the real-kernel guest: print, as JSON, what sysfs says about RDMA, SRP logins and SCSI disks.

Reads the kernel directly (no mdtmirror code), so the test can hold mdtmirror's
answers against it. Usage: ``python3 sysfs_facts.py <target node GUID, hex>``.
"""

import json
import os
import subprocess
import sys


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError as exc:
        return f"<{exc.strerror}>"


def listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def lio_facts(root):
    """LIO's configfs as the kernel shows it: backstores, srpt targets (LUN links, ACLs, mapped LUN links)."""
    if not os.path.isdir(root):
        return None
    facts = {"rdma_cm_port": read(f"{root}/srpt/discovery_auth/rdma_cm_port"), "backstores": {}, "targets": {}}
    for hba in listdir(f"{root}/core"):
        for name in listdir(f"{root}/core/{hba}"):
            path = f"{root}/core/{hba}/{name}"
            if os.path.isdir(path) and os.path.exists(f"{path}/enable"):
                facts["backstores"][name] = {
                    "hba": hba,
                    "enable": read(f"{path}/enable"),
                    "udev_path": read(f"{path}/udev_path"),
                    "vpd_unit_serial": read(f"{path}/wwn/vpd_unit_serial"),
                    "info": read(f"{path}/info"),
                }
    for target in listdir(f"{root}/srpt"):
        tpg = f"{root}/srpt/{target}/tpgt_1"
        if not os.path.isdir(tpg):
            continue
        luns = {
            lun: {
                e: os.readlink(f"{tpg}/lun/{lun}/{e}")
                for e in listdir(f"{tpg}/lun/{lun}")
                if os.path.islink(f"{tpg}/lun/{lun}/{e}")
            }
            for lun in listdir(f"{tpg}/lun")
        }
        acls = {}
        for acl in listdir(f"{tpg}/acls"):
            acls[acl] = {
                m: {
                    e: os.readlink(f"{tpg}/acls/{acl}/{m}/{e}")
                    for e in listdir(f"{tpg}/acls/{acl}/{m}")
                    if os.path.islink(f"{tpg}/acls/{acl}/{m}/{e}")
                }
                for m in listdir(f"{tpg}/acls/{acl}")
                if m.startswith("lun_")
            }
        facts["targets"][target] = {"enable": read(f"{tpg}/enable"), "luns": luns, "acls": acls}
    return facts


def zpool_facts():
    """What OpenZFS's own tools say: the imported pools' names and ``zpool status -j`` (None without zpool).

    In the same call as the sysfs facts, because every round trip to a guest under TCG costs seconds.
    """
    try:
        names = subprocess.run(["zpool", "list", "-H", "-o", "name"], stdout=subprocess.PIPE, text=True, check=True)
        status = subprocess.run(["zpool", "status", "-j", "--json-int"], stdout=subprocess.PIPE, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"pools": names.stdout.split(), "status": json.loads(status.stdout).get("pools") or {}}


def main():
    facts = {"target_guid": sys.argv[1] if len(sys.argv) > 1 else None}
    facts["infiniband"] = {
        dev: {
            "node_guid": read(f"/sys/class/infiniband/{dev}/node_guid"),
            "port1_state": read(f"/sys/class/infiniband/{dev}/ports/1/state"),
            "link_layer": read(f"/sys/class/infiniband/{dev}/ports/1/link_layer"),
            "gid0": read(f"/sys/class/infiniband/{dev}/ports/1/gids/0"),
        }
        for dev in listdir("/sys/class/infiniband")
    }
    base = "/sys/class/srp_remote_ports"
    facts["srp_remote_ports"] = {
        name: {
            attr: read(f"{base}/{name}/{attr}")
            for attr in ("state", "port_id", "roles", "dev_loss_tmo", "fast_io_fail_tmo", "reconnect_delay")
        }
        for name in listdir(base)
    }
    facts["srp_hosts"] = {}
    for host in listdir("/sys/class/scsi_host"):
        if read(f"/sys/class/scsi_host/{host}/proc_name") == "ib_srp":
            facts["srp_hosts"][host] = {
                attr: read(f"/sys/class/scsi_host/{host}/{attr}")
                for attr in ("id_ext", "ioc_guid", "local_ib_device", "local_ib_port", "sgid")
            }
    by_id = {}
    for link in listdir("/dev/disk/by-id"):
        target = os.path.realpath(f"/dev/disk/by-id/{link}")
        by_id.setdefault(os.path.basename(target), []).append(f"/dev/disk/by-id/{link}")
    facts["disks"] = {}
    for name in listdir("/sys/block"):
        device = f"/sys/block/{name}/device"
        if not os.path.exists(f"{device}/vendor"):
            continue
        facts["disks"][name] = {
            "vendor": read(f"{device}/vendor"),
            "model": read(f"{device}/model"),
            "scsi": os.path.basename(os.path.realpath(device)),
            "host": next((p for p in os.path.realpath(device).split("/") if p.startswith("host")), None),
            "size_bytes": int(read(f"/sys/block/{name}/size")) * 512,
            "by_id": sorted(by_id.get(name, [])),
        }
    facts["lio"] = lio_facts("/sys/kernel/config/target")
    facts["zpool"] = zpool_facts()
    facts["dmesg_srp"] = [
        line
        for line in subprocess.run(["dmesg"], stdout=subprocess.PIPE, text=True, check=False).stdout.splitlines()
        if "srp" in line.lower() or "rxe" in line or "target" in line.lower()
    ]
    json.dump(facts, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
