"""The SCST object model (mdtmirror_lib.scst_tree) on a real SCST tree (captured, materialized as
files), and its one kernel-write path: one command per write(2), EAGAIN answered from
``last_sysfs_mgmt_res``, every errno an error that names the object."""

import errno
import os

import pytest
from salt.exceptions import CommandExecutionError

from mdtmirror_lib import hostio, scst_tree
from tests.captures import materialize, parse_tree, scst_capture

TGT = "fe80:0000:0000:0000:5054:00ff:fe12:3456"


@pytest.fixture
def root(tmp_path):
    return str(materialize(parse_tree(scst_capture("tree-1-configured.txt").read_text()), tmp_path / "scst_tgt"))


@pytest.fixture
def writes(monkeypatch):
    """Every kernel write of the model, recorded instead of made: ``[(path relative to the root, command)]``."""
    made = []

    def write(self, path, command, what):
        made.append((os.path.relpath(path, self.path), command))

    monkeypatch.setattr(scst_tree.SCST, "write", write)
    return made


def test_not_loaded_is_an_error_naming_the_path(tmp_path):
    assert not scst_tree.SCST.loaded(str(tmp_path))
    with pytest.raises(CommandExecutionError, match="SCST is not loaded: .* does not exist"):
        scst_tree.SCST(str(tmp_path))


def test_the_code_tree_is_the_kernel_tree(root):
    scst = scst_tree.SCST(root)
    assert scst.version() == "3.11.0-pre"
    assert [h.name for h in scst.handlers()] == ["vcdrom", "vdisk_blockio", "vdisk_fileio", "vdisk_nullio"]
    assert scst.handler("vdisk_blockio").device_names() == ["MDT1"]
    assert [d.name for d in scst.devices()] == ["1:0:0:0", "F1", "MDT1"]
    mdt = scst.device("MDT1")
    assert mdt.handler_name() == "vdisk_blockio" and mdt.read("blocksize") == "4096"
    assert mdt.user_exports() == [{"driver": "ib_srpt", "target": TGT, "group": "MDS", "lun": 0}]
    target = scst.driver("ib_srpt").target(TGT)
    assert [g.name for g in target.groups()] == ["MDS"]
    group = target.group("MDS")
    assert group.luns.luns() == {0: {"device": "MDT1", "read_only": False}}
    assert group.initiators.names() == ["10.0.2.15"]
    assert target.luns.luns() == {0: {"device": "F1", "read_only": False}}
    assert scst.targets_info("ib_srpt")["ib_srpt"][TGT]["groups"] == {"MDS": group.info()}


def test_missing_objects_are_errors_that_name_them(root):
    scst = scst_tree.SCST(root)
    with pytest.raises(CommandExecutionError, match="SCST device 'NOSUCH' does not exist"):
        scst.device("NOSUCH", must_exist=True)
    with pytest.raises(CommandExecutionError, match=f"targets of ib_srpt: {TGT}"):
        scst.target("ib_srpt", "nosuch", must_exist=True)
    with pytest.raises(CommandExecutionError, match=f"SCST group 'G2' does not exist on target ib_srpt/{TGT}"):
        scst.group("ib_srpt", TGT, "G2")
    with pytest.raises(CommandExecutionError, match="SCST target driver 'iscsi' is not loaded"):
        scst.targets_info("iscsi")
    with pytest.raises(CommandExecutionError, match="unknown SCST handler 'dev_disk'; loaded handlers: vcdrom, vdisk_"):
        scst.handler("dev_disk").create_params(must_exist=True)


def test_changes_go_through_the_objects_mgmt_files(root, writes):
    scst = scst_tree.SCST(root)
    target = scst.target("ib_srpt", TGT)
    target.create_group("G2")
    target.luns.add("MDT1", 1, read_only=True)
    target.group("MDS").initiators.add("10.0.2.16")
    target.group("MDS").initiators.delete("10.0.2.15")
    target.group("MDS").luns.delete(0)
    target.set_enabled("0")
    scst.handler("vdisk_blockio").add_device("MDT2", {"filename": "/dev/x", "blocksize": "4096"}, "opening")
    scst.handler("vdisk_blockio").del_device("MDT2", "closing")
    assert writes == [
        (f"targets/ib_srpt/{TGT}/ini_groups/mgmt", "create G2"),
        (f"targets/ib_srpt/{TGT}/luns/mgmt", "add MDT1 1 read_only=1"),
        (f"targets/ib_srpt/{TGT}/ini_groups/MDS/initiators/mgmt", "add 10.0.2.16"),
        (f"targets/ib_srpt/{TGT}/ini_groups/MDS/initiators/mgmt", "del 10.0.2.15"),
        (f"targets/ib_srpt/{TGT}/ini_groups/MDS/luns/mgmt", "del 0"),
        (f"targets/ib_srpt/{TGT}/enabled", "0"),
        ("handlers/vdisk_blockio/mgmt", "add_device MDT2 filename=/dev/x;blocksize=4096"),
        ("handlers/vdisk_blockio/mgmt", "del_device MDT2"),
    ]


def test_refusals_come_before_any_write(root, writes):
    scst = scst_tree.SCST(root)
    target = scst.target("ib_srpt", TGT)
    with pytest.raises(CommandExecutionError, match="SCST group MDS already exists"):
        target.create_group("MDS")
    with pytest.raises(CommandExecutionError, match="is in use \\(1 LUNs, 1 initiators\\)"):
        target.delete_group("MDS")
    with pytest.raises(CommandExecutionError, match=f"LUN 0 of ib_srpt/{TGT} group MDS is already used by device MDT1"):
        target.group("MDS").luns.add("F1", 0)
    with pytest.raises(CommandExecutionError, match="is exported \\(ib_srpt/.* group MDS LUN 0\\)"):
        scst.device("MDT1").close()
    with pytest.raises(CommandExecutionError, match="is a pass-through device"):
        scst.device("1:0:0:0").close()
    with pytest.raises(CommandExecutionError, match="attribute 'blocksize' of SCST device MDT1 is read-only"):
        scst.device("MDT1").set_attribute("blocksize", "512")
    assert writes == []


def test_a_half_made_device_is_deleted_again(root, writes):
    scst = scst_tree.SCST(root)
    # The device directory never appears (no kernel behind these files): the attribute write after
    # add_device fails, and the device goes again.
    with pytest.raises(CommandExecutionError, match="SCST device 'MDT2' does not exist"):
        scst.open_device("MDT2", "vdisk_blockio", {"filename": "/dev/x"}, {"t10_vend_id": "MDTM"})
    assert writes == [
        ("handlers/vdisk_blockio/mgmt", "add_device MDT2 filename=/dev/x"),
        ("handlers/vdisk_blockio/mgmt", "del_device MDT2"),
    ]
    with pytest.raises(CommandExecutionError, match="SCST device 'MDT1' already exists"):
        scst.open_device("MDT1", "vdisk_blockio", {"filename": "/dev/x"}, {})


def _eagain_write(monkeypatch):
    """os.write answers EAGAIN: SCST queued the work."""

    def write(fd, data):
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))

    monkeypatch.setattr(os, "write", write)


def test_write_is_one_command_per_write(root):
    scst = scst_tree.SCST(root)
    mgmt = os.path.join(root, "targets", "ib_srpt", TGT, "ini_groups", "mgmt")
    with open(mgmt, "w") as handle:
        handle.write("")
    scst.write(mgmt, "create G2", "creating group G2")
    assert open(mgmt).read() == "create G2\n"


def test_eagain_reads_the_result_from_last_sysfs_mgmt_res(root, monkeypatch):
    scst = scst_tree.SCST(root)
    mgmt = os.path.join(root, "handlers", "vdisk_blockio", "mgmt")
    res = os.path.join(root, "last_sysfs_mgmt_res")
    with open(res, "w") as handle:
        handle.write("0\n")
    _eagain_write(monkeypatch)
    scst.write(mgmt, "add_device MDT2 filename=/dev/x", "opening device MDT2")  # queued, finished: fine
    with open(res, "w") as handle:
        handle.write("-16\n")
    with pytest.raises(
        CommandExecutionError,
        match="opening device MDT2: SCST finished 'add_device MDT2 filename=/dev/x' with EBUSY \\(Device or",
    ):
        scst.write(mgmt, "add_device MDT2 filename=/dev/x", "opening device MDT2")


def test_a_result_that_is_no_number_is_an_error_naming_the_file(root, monkeypatch):
    scst = scst_tree.SCST(root)
    with open(os.path.join(root, "last_sysfs_mgmt_res"), "w") as handle:
        handle.write("busy\n")
    _eagain_write(monkeypatch)
    with pytest.raises(CommandExecutionError, match="SCST's .*last_sysfs_mgmt_res holds no result code: 'busy'"):
        scst.write(os.path.join(root, "handlers", "vdisk_blockio", "mgmt"), "del_device MDT1", "closing device MDT1")


def test_eagain_until_the_timeout_is_an_error(root, monkeypatch):
    scst = scst_tree.SCST(root, get=lambda key, default: 0 if key == "mdtmirror:scst_eagain_timeout" else default)
    _eagain_write(monkeypatch)

    def busy(path):
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))

    monkeypatch.setattr(hostio, "read_raw", busy)
    with pytest.raises(
        CommandExecutionError, match="SCST did not finish a queued command: reading .*last_sysfs_mgmt_res"
    ):
        scst.write(os.path.join(root, "handlers", "vdisk_blockio", "mgmt"), "del_device MDT1", "closing device MDT1")


def test_other_errnos_name_the_object_and_command(root, monkeypatch):
    scst = scst_tree.SCST(root)
    with pytest.raises(CommandExecutionError, match="setting x=1 on device MDT1: .*/devices/MDT1/x does not exist"):
        scst.write(os.path.join(root, "devices", "MDT1", "x"), "1", "setting x=1 on device MDT1")

    def write(fd, data):
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(CommandExecutionError, match="removing LUN 7 of T: SCST refused 'del 7' with EINVAL \\(Invalid"):
        scst.write(os.path.join(root, "targets", "ib_srpt", TGT, "luns", "mgmt"), "del 7", "removing LUN 7 of T")
