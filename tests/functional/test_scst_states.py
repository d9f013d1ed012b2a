"""scst states one by one on an emulated host: predictions, drift, refusals.

Each refusal must name the offending object and leave the SCST tree exactly
as it was.
"""

import pytest
import yaml

from tests.emul.rig import add_disk

pytestmark = pytest.mark.slow


@pytest.fixture
def env(emulated_host, salt_loaders):
    host = emulated_host()
    loaders = salt_loaders(mdtmirror=host.mdtmirror)
    return host, loaders.states.scst, loaders.modules.scst


def _check_test_then_real(call, host, **kwargs):
    """test=True predicts, moves nothing; the real run makes exactly those changes; then no-op."""
    before = host.kernel.dump()
    predicted = call(test=True, **kwargs)
    assert predicted.result is None, predicted.comment
    assert predicted.changes
    assert host.kernel.dump() == before
    applied = call(**kwargs)
    assert applied.result is True, applied.comment
    assert applied.changes == predicted.changes
    again = call(**kwargs)
    assert again.result is True and again.changes == {}, again.comment
    return applied


def test_device_group_lun_target_each_idempotent(env):
    host, states, _ = env
    _check_test_then_real(
        states.device_present,
        host,
        name="MDT1",
        handler="vdisk_blockio",
        filename="/dev/mdt0",
        attributes={"blocksize": 4096},
    )
    _check_test_then_real(states.group_present, host, name="MDS", initiators=["10.0.0.2", "10.0.0.3"])
    applied = _check_test_then_real(states.lun_present, host, name="m", lun=0, device="MDT1", group="MDS")
    assert applied.changes == {f"{host.target}:MDS:lun0": {"old": None, "new": {"device": "MDT1", "read_only": False}}}
    _check_test_then_real(states.target_enabled, host, name="t")
    # Exact initiator list: one removed, one added.
    applied = _check_test_then_real(states.group_present, host, name="MDS", initiators=["10.0.0.2", "10.0.0.4"])
    assert applied.changes == {
        f"{host.target}:MDS:initiator:10.0.0.4": {"old": None, "new": "added"},
        f"{host.target}:MDS:initiator:10.0.0.3": {"old": "present", "new": None},
    }


def test_writable_drift_corrected_read_only_drift_reported(env):
    host, states, scst = env
    states.device_present(
        name="MDT1", handler="vdisk_blockio", filename="/dev/mdt0", attributes={"t10_vend_id": "MDTM"}
    )
    # Someone changed a writable attribute behind Salt's back.
    (host.root / "sys/kernel/scst_tgt/devices/MDT1/t10_vend_id").write_text("OTHER\n")
    fixed = states.device_present(
        name="MDT1", handler="vdisk_blockio", filename="/dev/mdt0", attributes={"t10_vend_id": "MDTM"}
    )
    assert fixed.result is True
    assert fixed.changes == {"MDT1:t10_vend_id": {"old": "OTHER", "new": "MDTM"}}
    before = host.kernel.dump()
    drift = states.device_present(
        name="MDT1", handler="vdisk_blockio", filename="/dev/mdt0", attributes={"blocksize": 4096}
    )
    assert drift.result is False
    assert "read-only attribute blocksize is 512, declared 4096" in drift.comment
    assert host.kernel.dump() == before
    other = states.device_present(name="MDT1", handler="vdisk_fileio", filename="/dev/mdt0")
    assert other.result is False and "handler is vdisk_blockio, declared vdisk_fileio" in other.comment


@pytest.mark.parametrize(
    "call, kwargs, message",
    [
        (
            "device_present",
            {"name": "MDT 1", "handler": "vdisk_blockio", "filename": "/dev/mdt0"},
            "invalid device name 'MDT 1'",
        ),
        (
            "device_present",
            {"name": "MDT1", "handler": "vdisk_nosuch", "filename": "/dev/mdt0"},
            "unknown SCST handler 'vdisk_nosuch'",
        ),
        (
            "device_present",
            {"name": "MDT1", "handler": "vdisk_blockio", "filename": "/dev/mdt0", "attributes": {"blocksize": 131072}},
            "blocksize 131072 is not 512 or 4096",
        ),
        (
            "device_present",
            {"name": "MDT1", "handler": "vdisk_blockio", "filename": "/dev/mdt0", "attributes": {"nv_cache": 1}},
            "nv_cache=1",
        ),
        (
            "device_present",
            {"name": "MDT1", "handler": "vdisk_blockio", "filename": "/dev/mdt0;blocksize=512"},
            "invalid value '/dev/mdt0;blocksize=512'",
        ),
        ("group_present", {"name": "MD S", "initiators": []}, "invalid group name 'MD S'"),
        ("group_present", {"name": "MDS", "initiators": ["*"]}, "initiator '*' is a pattern"),
        ("group_present", {"name": "MDS", "initiators": ["10.0.0.2 10.0.0.3"]}, "invalid initiator name"),
        ("lun_present", {"name": "x", "lun": 16384, "device": "MDT1", "group": "MDS"}, "invalid LUN 16384"),
        ("target_enabled", {"name": "t", "target": "ib_srpt_target_0"}, "since SCST 3.1 ib_srpt names"),
        ("driver_attributes", {"name": "ib_srpt", "attributes": {"enabled": 1}}, "no driver-level enabled"),
    ],
)
def test_bad_inputs_fail_in_test_mode_and_real_mode_without_change(env, call, kwargs, message):
    host, states, _ = env
    before = host.kernel.dump()
    for test in (True, False):
        ret = getattr(states, call)(test=test, **kwargs)
        assert ret.result is False, (test, ret.comment)
        assert message in ret.comment
        assert ret.changes == {}
    assert host.kernel.dump() == before


def test_wildcard_only_when_declared(env):
    host, states, _ = env
    ret = states.group_present(name="MDS", initiators=["*"], allow_wildcard=True)
    assert ret.result is True
    assert (host.root / f"sys/kernel/scst_tgt/targets/ib_srpt/{host.target}/ini_groups/MDS/initiators/*").exists()


@pytest.mark.parametrize(
    "handler, filename, words",
    [
        ("vdisk_blockio", "/dev/nonexistent", "does not exist (ENOENT)"),
        ("vdisk_fileio", "/var/lib/none.img", "does not exist"),
        # A regular file is no block device: the kernel lists none for it in /sys/class/block.
        (
            "vdisk_blockio",
            "/etc/hostname",
            "resolves to /etc/hostname, which is not a block device (not in /sys/class/block: ENOTBLK)",
        ),
    ],
    ids=["blockio-missing", "fileio-missing", "blockio-on-a-file"],
)
def test_device_the_kernel_cannot_open_is_refused_at_plan_time(env, handler, filename, words):
    """test=True must not promise a device the real run cannot open (SCST answers ENOENT/ENOTBLK):
    both refuse naming the path, before any write."""
    host, states, _ = env
    (host.root / "etc").mkdir(exist_ok=True)
    (host.root / "etc" / "hostname").write_text("mds01\n")
    before = host.kernel.dump()
    for test in (True, False):
        ret = states.device_present(name="MDT9", handler=handler, filename=filename, test=test)
        assert ret.result is False and f"device MDT9: filename {filename} {words}" in ret.comment, ret.comment
        assert ret.changes == {}
    assert host.kernel.dump() == before


def test_unknown_attribute_refused_before_the_device_exists(env):
    """An attribute that is neither an add_device parameter nor one the device has: refused before
    any write (real SCST would register the device, refuse the attribute, and delete it again)."""
    host, states, scst = env
    before = host.kernel.dump()
    for test in (True, False):
        ret = states.device_present(
            name="MDT9", handler="vdisk_blockio", filename="/dev/mdt0", attributes={"blocksise": 4096}, test=test
        )
        assert ret.result is False and "device MDT9: vdisk_blockio has no attribute blocksise" in ret.comment, ret
    with pytest.raises(Exception, match="has no attribute blocksise"):
        scst.open_dev("MDT9", "vdisk_blockio", filename="/dev/mdt0", blocksise=4096)
    assert host.kernel.dump() == before
    # Known ones pass: an add_device parameter and one written afterwards.
    ok = states.device_present(
        name="MDT9", handler="vdisk_blockio", filename="/dev/mdt0", attributes={"blocksize": 4096, "prod_id": "MDT"}
    )
    assert ok.result is True, ok.comment


def test_duplicate_lun_and_device_in_use_refused(env):
    host, states, scst = env
    scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/mdt0")
    add_disk(host.root, "other", 4096)
    scst.open_dev("OTHER", "vdisk_blockio", filename="/dev/other")
    states.group_present(name="MDS", initiators=["10.0.0.2"])
    states.lun_present(name="l", lun=0, device="MDT1", group="MDS")
    before = host.kernel.dump()
    dup = states.lun_present(name="l", lun=0, device="OTHER", group="MDS")
    assert dup.result is False
    assert f"LUN 0 of ib_srpt/{host.target} group MDS maps device MDT1, declared OTHER" in dup.comment
    in_use = states.device_absent(name="MDT1")
    assert in_use.result is False
    assert "SCST device MDT1 is exported" in in_use.comment and "group MDS LUN 0" in in_use.comment
    group_used = states.group_absent(name="MDS")
    assert group_used.result is False and "still has 1 LUNs and 1 initiators" in group_used.comment
    assert host.kernel.dump() == before
    # The explicit flag is what removes an exported device.
    gone = states.device_absent(name="MDT1", force=True)
    assert gone.result is True and gone.changes["MDT1"]["new"] is None
    assert not (host.root / f"sys/kernel/scst_tgt/targets/ib_srpt/{host.target}/ini_groups/MDS/luns/0").exists()


def test_initiator_in_another_group_refused(env):
    host, states, _ = env
    assert states.group_present(name="A", initiators=["10.0.0.2"]).result is True
    ret = states.group_present(name="B", initiators=["10.0.0.2"])
    assert ret.result is False and "10.0.0.2 already belong to group A" in ret.comment
    assert not (host.root / f"sys/kernel/scst_tgt/targets/ib_srpt/{host.target}/ini_groups/B").exists()


def test_config_saved_predicts_pending_changes(env):
    host, states, _ = env
    first = states.config_saved(name="c", test=True)
    assert first.result is None and first.changes  # the file does not exist yet
    assert not (host.root / "etc" / "scst.conf").exists()
    assert states.config_saved(name="c").changes == first.changes
    assert states.config_saved(name="c").changes == {}


RUN = """
device:
  scst.device_present:
    - name: MDT1
    - handler: vdisk_blockio
    - filename: /dev/mdt0
    - attributes: {t10_vend_id: MDTM}
    - order: 1
group:
  scst.group_present:
    - name: MDS
    - initiators: ["10.0.0.2"]
    - order: 2
lun:
  scst.lun_present:
    - lun: 0
    - device: MDT1
    - group: MDS
    - order: 3
target:
  scst.target_enabled:
    - order: 4
config:
  scst.config_saved:
    - order: 5
"""


def _one_run(salt_loaders, host, test):
    """The states above in one state run (config_saved reads what the earlier states of its run plan)."""
    loaders = salt_loaders(mdtmirror=host.mdtmirror)
    high = {
        sid: {**{fun.split(".")[0]: [fun.split(".")[1], *args] for fun, args in body.items()}, "__env__": "base"}
        for sid, body in yaml.safe_load(RUN).items()
    }
    result = loaders.modules.state.high(high, test=test)
    assert not result.failed, result.errors
    return {state.id: state for state in result}


def test_config_saved_predicts_from_the_repaired_state(emulated_host, salt_loaders):
    """Drift behind Salt's back (a writable attribute, an initiator added): the states before
    config_saved repair it, so the running configuration will match the saved file again. test=True
    must say so (no write), as the real run then does (no write), not "Would write (old: stale)"."""
    host = emulated_host()
    first = _one_run(salt_loaders, host, False)
    assert all(state.result is True for state in first.values()) and first["config"].changes
    conf = host.root / "etc" / "scst.conf"
    saved = conf.read_text()
    (host.root / "sys/kernel/scst_tgt/devices/MDT1/t10_vend_id").write_text("OTHER\n")
    mgmt = host.root / f"sys/kernel/scst_tgt/targets/ib_srpt/{host.target}/ini_groups/MDS/initiators/mgmt"
    mgmt.write_text("add 10.0.0.9\n")
    before = host.kernel.dump()
    predicted = _one_run(salt_loaders, host, True)
    assert host.kernel.dump() == before
    assert predicted["device"].changes == {"MDT1:t10_vend_id": {"old": "OTHER", "new": "MDTM"}}
    assert predicted["group"].changes, predicted["group"].comment
    assert predicted["config"].result is True and predicted["config"].changes == {}, predicted["config"].comment
    assert "once the pending changes of MDT1, MDS are made" in predicted["config"].comment, predicted["config"]
    applied = _one_run(salt_loaders, host, False)
    assert {sid: s.changes for sid, s in applied.items()} == {sid: s.changes for sid, s in predicted.items()}
    assert applied["config"].changes == {} and conf.read_text() == saved
    assert host.kernel.dump() != before  # the real run did repair


def test_config_saved_still_predicts_a_write_for_what_cannot_be_told(emulated_host, salt_loaders):
    """A device made in this run and a target's first enable: which attributes SCST marks [key], and the
    rel_tgt_id it assigns, are not predicted, so the write is (and it happens)."""
    host = emulated_host()
    predicted = _one_run(salt_loaders, host, True)
    assert predicted["config"].result is None and predicted["config"].changes, predicted["config"].comment
    assert "after the pending changes of: MDT1, MDS, " in predicted["config"].comment
    applied = _one_run(salt_loaders, host, False)
    assert applied["config"].changes == predicted["config"].changes
    assert _one_run(salt_loaders, host, True)["config"].changes == {}


def test_module_options_persisted_in_modprobe_d_and_moved_from_default_scst(env):
    """SCST's init script runs a bare modprobe: options belong in /etc/modprobe.d/<module>.conf. A
    <module>_parameters line an older version left in /etc/default/scst is moved there (other lines
    stay); test=True predicts exactly that, a second run changes nothing."""
    host, states, scst = env
    default = host.root / "etc" / "default" / "scst"
    default.parent.mkdir(parents=True, exist_ok=True)
    default.write_text('SCST_TARGET_MODULES="ib_srpt"\nib_srpt_parameters="rdma_cm_port=5555"\n')
    options = {"ib_srpt": {"rdma_cm_port": 5555}}
    kwargs = {"name": "scst", "modules": ["scst", "scst_vdisk", "ib_srpt"], "options": options}
    predicted = states.modules_loaded(test=True, **kwargs)
    assert predicted.result is None and set(predicted.changes) == {"options:ib_srpt"}, predicted
    assert not (host.root / "etc/modprobe.d/ib_srpt.conf").exists()
    applied = states.modules_loaded(**kwargs)
    assert applied.result is True and applied.changes == predicted.changes, applied
    conf = (host.root / "etc/modprobe.d/ib_srpt.conf").read_text()
    assert [line for line in conf.splitlines() if not line.startswith("#")] == ["options ib_srpt rdma_cm_port=5555"]
    assert default.read_text() == 'SCST_TARGET_MODULES="ib_srpt"\n'
    assert scst.persisted_options("ib_srpt") == {"rdma_cm_port": "5555"} and scst.legacy_options("ib_srpt") is None
    again = states.modules_loaded(**kwargs)
    assert again.result is True and again.changes == {}, again
