"""The seed's target-side runbook as states, on an emulated host, through Salt's loader.

First apply changes all of it; test=True before it predicts exactly that and
moves nothing; a second apply changes nothing; the kernel's tree shows the
result.
"""

import re

import pytest

pytestmark = pytest.mark.slow

INITIATOR = "10.0.0.2"  # mds02's RDMA/CM address: the only host allowed in


def pillar_for(host, **target):
    return {
        "mdtmirror": {
            "target": {
                "device": "MDT1",
                "group": "MDS",
                "lun": 0,
                "module_options": {"ib_srpt": {"rdma_cm_port": 5555}},
                "attributes": {"blocksize": 4096, "rotational": 0, "t10_vend_id": "MDTM"},
                "enable_service": False,  # no init system on an emulated host
                **target,
            },
            "node": {"lun_path": "/dev/mdt0", "initiators": [INITIATOR]},
        }
    }


def assert_ok(result):
    """MultiStateResult.failed only means render errors: check every state."""
    assert not result.failed, result.errors
    failed = {state.id: state.comment for state in result if state.result is False}
    assert failed == {}


def changes_by_id(result):
    return {state.id: state.changes for state in result if state.changes}


def test_runbook_test_mode_predicts_first_apply_and_second_is_noop(emulated_host, salt_loaders):
    # A fresh host: no SCST module loaded, so no /sys/kernel/scst_tgt yet.
    host = emulated_host(scst_loaded=False)
    loaders = salt_loaders(mdtmirror=host.mdtmirror)
    pillar = pillar_for(host)
    before = host.kernel.dump()

    predicted = loaders.modules.state.sls("mdtmirror.target", pillar=pillar, test=True)
    assert_ok(predicted)
    assert host.kernel.dump() == before, "test=True changed the SCST tree"
    assert not (host.root / "etc" / "scst.conf").exists()
    assert not (host.root / "etc" / "default" / "scst").exists()
    assert not (host.root / "sys" / "module" / "scst").exists()
    assert not (host.root / "sys" / "kernel" / "scst_tgt" / "version").exists()
    for state in predicted:
        assert state.result is (None if state.changes else True), (state.id, state.result)

    applied = loaders.modules.state.sls("mdtmirror.target", pillar=pillar)
    assert_ok(applied)
    assert changes_by_id(applied) == changes_by_id(predicted)
    assert set(changes_by_id(applied)) == {
        "mdtmirror-scst-modules",
        "mdtmirror-srp-module",  # mdtmirror.modules loads both sides' modules
        "mdtmirror-scst-device",
        "mdtmirror-scst-group",
        "mdtmirror-scst-lun",
        "mdtmirror-scst-target",
        "mdtmirror-scst-config",
    }

    again = loaders.modules.state.sls("mdtmirror.target", pillar=pillar)
    assert_ok(again)
    assert changes_by_id(again) == {}
    after_second = host.kernel.dump()

    again_test = loaders.modules.state.sls("mdtmirror.target", pillar=pillar, test=True)
    assert changes_by_id(again_test) == {}
    assert all(state.result is True for state in again_test)
    assert host.kernel.dump() == after_second

    # What the kernel now says (the emulated sysfs, read back raw).
    tgt = host.root / "sys" / "kernel" / "scst_tgt" / "targets" / "ib_srpt" / host.target
    assert (tgt / "enabled").read_text() == "1\n"
    assert (tgt / "ini_groups" / "MDS" / "initiators" / INITIATOR).exists()
    assert sorted(p.name for p in (tgt / "ini_groups" / "MDS" / "initiators").iterdir()) == [INITIATOR, "mgmt"]
    lun0 = tgt / "ini_groups" / "MDS" / "luns" / "0" / "device"
    assert lun0.resolve().name == "MDT1"
    dev = host.root / "sys" / "kernel" / "scst_tgt" / "devices" / "MDT1"
    assert (dev / "filename").read_text().startswith("/dev/mdt0\n")
    assert (dev / "blocksize").read_text() == "4096\n[key]\n"
    assert (dev / "nv_cache").read_text().startswith("0")
    assert (dev / "t10_vend_id").read_text().startswith("MDTM\n")
    conf = (host.root / "etc" / "scst.conf").read_text()
    assert "\tDEVICE MDT1 {" in conf and "\t\tfilename /dev/mdt0" in conf
    assert not re.search(r"^\s+size ", conf, re.M), "a blockio size must never be pinned"
    assert "copy_manager" not in conf
    assert "\t\tenabled 1" in conf and f"\t\t\tINITIATOR {INITIATOR}" in conf
    # Boot: modprobe reads the options (SCST's init script runs a bare modprobe; it never read
    # /etc/default/scst's <module>_parameters).
    assert "options ib_srpt rdma_cm_port=5555\n" in (host.root / "etc/modprobe.d/ib_srpt.conf").read_text()
    assert not (host.root / "etc" / "default" / "scst").exists()
    assert (host.root / "sys" / "module" / "ib_srpt" / "parameters" / "rdma_cm_port").read_text() == "5555\n"

    # A pillar change: test=True predicts the group change AND the scst.conf
    # rewrite it will cause (the file matches the running config right now).
    pillar["mdtmirror"]["node"]["initiators"] = [INITIATOR, "10.0.0.3"]
    predicted = loaders.modules.state.sls("mdtmirror.target", pillar=pillar, test=True)
    assert_ok(predicted)
    assert set(changes_by_id(predicted)) == {"mdtmirror-scst-group", "mdtmirror-scst-config"}
    applied = loaders.modules.state.sls("mdtmirror.target", pillar=pillar)
    assert_ok(applied)
    assert changes_by_id(applied) == changes_by_id(predicted)
    assert "\t\t\tINITIATOR 10.0.0.3" in (host.root / "etc" / "scst.conf").read_text()

    listed = loaders.modules.scst.list_devices()
    assert listed["MDT1"]["exported"] == [
        {"driver": "copy_manager", "target": "copy_manager_tgt", "group": None, "lun": 0},
        {"driver": "ib_srpt", "target": host.target, "group": "MDS", "lun": 0},
    ]


def test_missing_lun_path_fails_before_any_change(emulated_host, salt_loaders):
    host = emulated_host()
    loaders = salt_loaders(mdtmirror=host.mdtmirror)
    pillar = pillar_for(host)
    del pillar["mdtmirror"]["node"]["lun_path"]
    before = host.kernel.dump()
    result = loaders.modules.state.sls("mdtmirror.target", pillar=pillar)
    failed = [state for state in result if state.result is False]
    assert failed and "pillar key mdtmirror:node:lun_path is missing" in failed[0].comment
    assert all(not state.changes for state in result)
    assert host.kernel.dump() == before


def test_a_zvol_backed_lun_is_made_and_exported(emulated_host, salt_loaders):
    """The seed's layout where there is no RAID LUN: a zvol of a local pool exported through SCST
    (node:zvol). test=True predicts the zvol and the export, the apply makes both, a second changes
    nothing; the validate stage names the nested-pool risk of this layout."""
    from tests.emul import zfsemu
    from tests.emul.rig import add_disk

    host = emulated_host(scst_loaded=False)
    add_disk(host.root, "local0", 256 << 20)
    rc, _, err = zfsemu.run(host.root, "zpool", ["create", "local", "/dev/local0"])
    assert rc == 0, err
    loaders = salt_loaders(mdtmirror=host.mdtmirror)
    pillar = pillar_for(host)
    pillar["mdtmirror"]["node"] = {"zvol": {"name": "local/mdt0", "size": "64M"}, "initiators": [INITIATOR]}
    predicted = loaders.modules.state.sls("mdtmirror.target", pillar=pillar, test=True)
    assert_ok(predicted)
    assert {"mdtmirror-zvol", "mdtmirror-scst-device"} <= set(changes_by_id(predicted))
    applied = loaders.modules.state.sls("mdtmirror.target", pillar=pillar)
    assert_ok(applied)
    assert changes_by_id(applied) == changes_by_id(predicted)
    filename = (host.root / "sys/kernel/scst_tgt/devices/MDT1/filename").read_text().split("\n")[0]
    assert filename == "/dev/zvol/local/mdt0"
    again = loaders.modules.state.sls("mdtmirror.target", pillar=pillar)
    assert_ok(again)
    assert changes_by_id(again) == {}
    validate = loaders.modules.state.sls("mdtmirror.validate", pillar=pillar)
    assert_ok(validate)
    (warning,) = [state.comment for state in validate if state.id == "mdtmirror-pillar-warning-1"]
    assert "nested pool" in warning and "openzfs/zfs#11253" in warning, warning
