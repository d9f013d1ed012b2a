"""
mdtmirror's SRP initiator code against a real kernel: ib_srp logs in over
soft-RoCE (rdma_rxe) to LIO's ib_srpt, inside one qemu guest.

The guest (guest/srp_lio_login.sh) sets up the NIC, rxe0 and an SRP target
in configfs, then runs salt-call --local with the repository's modules:
``srp.ports``, and a state ``srp.connected`` applied twice. The test holds
what salt said against what sysfs says (guest/sysfs_facts.py).
"""

import json
import os
import sys
from pathlib import Path

import pytest

from tests.captures import REPO

pytestmark = [pytest.mark.realkernel, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
GUEST_IP = "10.0.2.15"  # qemu user-mode networking's guest address
RDMA_CM_PORT = 5555
DISK_SERIAL = "6f1b7ad2-5e0c-4c3e-9a52-mdtmirror00"

SRP_LOGIN_SLS = """\
peer-lun:
  srp.connected:
    - target:
        id_ext: "{{ pillar['srp_guid'] }}"
        ioc_guid: "{{ pillar['srp_guid'] }}"
        dest: "{{ pillar['srp_dest'] }}"
"""


def salt_call_path():
    return os.environ.get("MDTMIRROR_REALKERNEL_SALT_CALL") or str(Path(sys.executable).parent / "salt-call")


def _load(share, name):
    path = share / f"{name}.json"
    text = path.read_text() if path.exists() else ""
    try:
        return json.loads(text)["local"]
    except (ValueError, KeyError, TypeError):
        err = (share / f"{name}.err").read_text() if (share / f"{name}.err").exists() else ""
        pytest.fail(f"salt-call {name} gave no JSON (rc {_rc(share, name)}):\n{text[-3000:]}\n{err[-3000:]}")


def _rc(share, name):
    path = share / f"{name}.rc"
    return int(path.read_text()) if path.exists() else None


def _only_state(ret):
    assert isinstance(ret, dict) and len(ret) == 1, ret
    return next(iter(ret.values()))


def test_srp_connected_logs_in_to_lio_over_soft_roce(realkernel):
    harness = realkernel.get()
    salt_call = salt_call_path()
    assert os.access(salt_call, os.X_OK), f"{salt_call} is not executable (set MDTMIRROR_REALKERNEL_SALT_CALL)"
    params = "".join(
        f"{key}={value}\n"
        for key, value in {
            "SALT_CALL": salt_call,
            "REPO": REPO,
            "IP": GUEST_IP,
            "RDMA_CM_PORT": RDMA_CM_PORT,
            "DISK_SERIAL": DISK_SERIAL,
        }.items()
    )
    run = harness.run(
        (HERE / "guest" / "srp_lio_login.sh").read_text(),
        timeout=600,
        snapshots=[realkernel.python],
        files={
            "params.env": params,
            "sysfs_facts.py": (HERE / "guest" / "sysfs_facts.py").read_text(),
            "srv/srp_login.sls": SRP_LOGIN_SLS,
        },
    )
    share = run.share
    where = f"guest results in {run.results_dir} (console.log, share/dmesg, share/salt.log)"
    assert run.rc == 0, (
        f"guest script exited {run.rc}; {where}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"
    )
    facts = json.loads((share / "facts.json").read_text())
    guid = facts["target_guid"]

    # What the kernel says: one SRP login, its remote port running, a LIO disk with a by-id link.
    assert facts["infiniband"]["rxe0"]["port1_state"].endswith("ACTIVE"), facts["infiniband"]
    assert len(facts["srp_hosts"]) == 1, (facts["srp_hosts"], where)
    ((host, host_attrs),) = facts["srp_hosts"].items()
    assert host_attrs["id_ext"].replace("0x", "").rjust(16, "0") == guid, host_attrs
    states = {name: port["state"] for name, port in facts["srp_remote_ports"].items()}
    assert list(states.values()) == ["running"], (states, where)
    (rport,) = states
    lio = {name: disk for name, disk in facts["disks"].items() if disk["vendor"] == "LIO-ORG"}
    assert len(lio) == 1, (facts["disks"], where)
    ((disk_name, disk),) = lio.items()
    assert disk["host"] == host, (disk, host)
    assert disk["size_bytes"] == 256 * 1024 * 1024, disk
    assert disk["by_id"], f"no /dev/disk/by-id link for {disk_name}: {disk}; {where}"

    # srp.ports: the soft-RoCE port, as sysfs shows it.
    assert _rc(share, "ports") == 0, (share / "ports.err").read_text()[-3000:]
    ports = _load(share, "ports")
    assert [p["name"] for p in ports] == ["srp-rxe0-1"], ports
    port = ports[0]
    assert port["hca"] == "rxe0" and port["port"] == 1 and port["active"] is True, port
    assert port["link_layer"] == "Ethernet", port
    assert port["node_guid"] == facts["infiniband"]["rxe0"]["node_guid"], port

    # First apply: logged in (a change), disks reported by their by-id names.
    first = _only_state(_load(share, "apply1"))
    assert _rc(share, "apply1") == 0 and first["result"] is True, (first, where)
    key = f"srp-rxe0-1:{guid}:{guid}"
    assert first["changes"] == {
        key: {"old": None, "new": f"id_ext={guid},ioc_guid={guid},dest={GUEST_IP}:{RDMA_CM_PORT}"}
    }, first
    assert first["comment"] == f"Logged in ({rport}); disks: {disk['by_id'][0]}", first

    # Second apply: nothing to do.
    second = _only_state(_load(share, "apply2"))
    assert _rc(share, "apply2") == 0 and second["result"] is True, (second, where)
    assert second["changes"] == {}, second
    assert second["comment"] == f"Logged in ({rport}); disks: {disk['by_id'][0]}", second
