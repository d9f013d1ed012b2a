"""scst execution functions against the emulated kernel: the kernel's quirks
the module must handle (EAGAIN, the silent NV_CACHE switch, old target names)."""

import pytest

pytestmark = pytest.mark.slow


def modules_for(emulated_host, salt_loaders, **host_kwargs):
    host = emulated_host(**host_kwargs)
    return host, salt_loaders(mdtmirror=host.mdtmirror).modules.scst


def test_eagain_then_last_sysfs_mgmt_res(emulated_host, salt_loaders):
    # Every mgmt write answers EAGAIN and completes later, as SCST does when busy.
    host, scst = modules_for(emulated_host, salt_loaders, eagain_every=1, eagain_delay=0.3)
    scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/mdt0")
    assert scst.device_exists("MDT1")
    scst.add_lun(host.target, 0, "MDT1")
    assert scst.list_targets("ib_srpt")["ib_srpt"][host.target]["luns"] == {0: {"device": "MDT1", "read_only": False}}
    # A command that fails after EAGAIN reports the errno SCST finished with
    # (del_lun has no pre-check of its own: the kernel's answer is what counts).
    with pytest.raises(Exception, match="SCST finished 'del 7' with EINVAL"):
        scst.del_lun(host.target, 7)


def test_nv_cache_silent_switch_is_an_error_and_device_removed(emulated_host, salt_loaders):
    host, scst = modules_for(emulated_host, salt_loaders, no_flush={"/dev/mdt0"})
    with pytest.raises(Exception, match="SCST switched device MDT1 to NV_CACHE mode"):
        scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/mdt0")
    assert not scst.device_exists("MDT1")


def test_open_dev_failure_leaves_nothing(emulated_host, salt_loaders):
    host, scst = modules_for(emulated_host, salt_loaders)
    before = host.kernel.dump()
    with pytest.raises(Exception, match="ENOENT"):
        scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/nosuch")
    # t10_vend_id is not an add_device parameter: written after creation; a
    # bad value there must take the new device away again.
    with pytest.raises(Exception, match="t10_vend_id"):
        scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/mdt0", t10_vend_id="TOOLONGVENDOR")
    assert host.kernel.dump() == before


def test_close_dev_refuses_exported_device_unless_forced(emulated_host, salt_loaders):
    host, scst = modules_for(emulated_host, salt_loaders)
    scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/mdt0")
    # Only the automatic copy_manager LUN: not an export anyone configured.
    assert scst.close_dev("MDT1") is True
    scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/mdt0")
    scst.add_lun(host.target, 0, "MDT1")
    with pytest.raises(Exception, match=f"exported \\(ib_srpt/{host.target} LUN 0\\)"):
        scst.close_dev("MDT1")
    assert scst.close_dev("MDT1", force=True) is True
    assert not scst.device_exists("MDT1")


def test_blockio_backing_already_held_is_ebusy(emulated_host, salt_loaders):
    host, scst = modules_for(emulated_host, salt_loaders)
    scst.open_dev("MDT1", "vdisk_blockio", filename="/dev/mdt0")
    with pytest.raises(Exception, match="EBUSY"):
        scst.open_dev("MDT2", "vdisk_blockio", filename="/dev/mdt0")


def test_pre_31_target_naming_found_from_hca(emulated_host, salt_loaders):
    host, scst = modules_for(emulated_host, salt_loaders, target_scheme="old")
    targets = scst.local_targets()
    assert [t["target"] for t in targets] == ["ib_srpt_target_0"]
    assert targets[0]["scheme"] == "per_hca" and targets[0]["hca"] == "rxe0"
    assert scst.port_target() == "ib_srpt_target_0"


def test_port_gid_target_found_from_local_port(emulated_host, salt_loaders):
    host, scst = modules_for(emulated_host, salt_loaders)
    assert scst.port_target() == host.target
    assert scst.port_target(hca="rxe0", port=1) == host.target
    with pytest.raises(Exception, match="cannot choose one ib_srpt target for hca=mlx5_0"):
        scst.port_target(hca="mlx5_0")


def test_driver_attribute_of_ib_srpt_explained(emulated_host, salt_loaders):
    host, scst = modules_for(emulated_host, salt_loaders)
    with pytest.raises(Exception, match="no driver-level enabled"):
        scst.set_drv_attr("ib_srpt", "enabled", 1)
