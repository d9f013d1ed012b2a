"""mdtmirror.settings' host check on an emulated SCST host: the pillar's LUN
number already maps another device in the group -> one error naming
mdtmirror:target:lun, before anything changes; our own device there is fine."""

import pytest

pytestmark = pytest.mark.slow


def test_lun_number_taken_by_another_device(emulated_host, salt_loaders):
    host = emulated_host()
    assert (host.root / "sys/class/block/mdt0").is_dir()  # the local LUN is a block device
    pillar = {"mdtmirror": {"node": {"lun_path": "/dev/mdt0"}, "target": {"device": "MDT0"}}}
    loaders = salt_loaders(mdtmirror=host.mdtmirror, pillar=pillar, minion_id="mds01")
    scst, mdtmirror = loaders.modules.scst, loaders.modules.mdtmirror
    assert mdtmirror.errors() == []

    scst.open_dev("OLD", "vdisk_blockio", filename="/dev/mdt0")
    scst.add_group(host.target, "MDS")
    scst.add_lun(host.target, 0, "OLD", group="MDS")
    before = host.kernel.dump()
    assert mdtmirror.errors() == [
        f"pillar key mdtmirror:target:lun: LUN 0 of group MDS on target {host.target} is already device OLD, not MDT0"
    ]
    assert host.kernel.dump() == before

    # LUN 1 is free; LUN 0 of our own device is no conflict.
    pillar["mdtmirror"]["target"]["lun"] = 1
    assert salt_loaders(mdtmirror=host.mdtmirror, pillar=pillar, minion_id="mds01").modules.mdtmirror.errors() == []
    pillar["mdtmirror"]["target"].update(lun=0, device="OLD")
    assert salt_loaders(mdtmirror=host.mdtmirror, pillar=pillar, minion_id="mds01").modules.mdtmirror.errors() == []
