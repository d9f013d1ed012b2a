"""The library's LIO object model (mdtmirror_lib.lio_tree) on a copy of a real configfs tree.

``captured_tree`` replays tests/golden/.../lio/configfs_tree.txt (``find`` in a Linux 6.1 guest: a fileio
backstore ``disk0`` exported as LUN 0 of srpt target ``5054:00ff:fe12:3456``, ACL ``10.0.2.15``) into a
directory, with the attribute values of fileio_attrs.txt and srpt_attrs.txt: inner paths are directories,
leaves files, and the LUN's ``disk0`` the symlink it is in configfs. A plain directory is not configfs:
``configfs_mkdir`` gives a made directory the attribute files and subdirectories the kernel would.
"""

import os

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import lio_tree
from tests.captures import captures_dir

LIO_CAPTURE = captures_dir() / "linux-6.1-openzfs-2.3.2" / "lio"
KERNEL_ROOT = "/sys/kernel/config/target"
CAPTURED_TARGET = "5054:00ff:fe12:3456"
TARGET = "0xfe80000000000000505400fffe123456"
ACL = "0x0000000000000000505400fffe123456"


def _values():
    values = {}
    for name in ("fileio_attrs.txt", "srpt_attrs.txt"):
        for line in (LIO_CAPTURE / name).read_text().splitlines():
            path, sep, value = line.partition(": ")
            if sep and not value.startswith("cat: "):
                values[path] = value.rstrip() + "\n"
    return values


@pytest.fixture
def captured_tree(tmp_path):
    root = tmp_path / "target"
    paths = [p for p in (LIO_CAPTURE / "configfs_tree.txt").read_text().splitlines() if p.startswith(KERNEL_ROOT)]
    inner = {os.path.dirname(p) for p in paths}
    values = _values()
    for path in paths:
        local = root / os.path.relpath(path, KERNEL_ROOT)
        if path in inner or os.path.basename(os.path.dirname(path)) == "acls" or path.endswith("/acls/10.0.2.15/lun_0"):
            local.mkdir(parents=True, exist_ok=True)
        elif path.endswith("/lun/lun_0/disk0"):
            local.symlink_to(os.path.relpath(root / "core/fileio_0/disk0", local.parent))
        else:
            local.write_text(values.get(path, ""))
    return root


def _configfs_entries(path):
    """What configfs puts in a directory mkdir makes (the part lio_tree touches)."""
    parent = os.path.basename(os.path.dirname(path))
    if parent.startswith("iblock_"):
        return ["control", "udev_path", "wwn/vpd_unit_serial", "attrib/is_nonrot", "enable", "info"]
    if os.path.basename(path) == "tpgt_1":
        return ["lun/", "acls/", "enable", "attrib/srp_sq_size"]
    return []


@pytest.fixture
def configfs_mkdir(monkeypatch):
    real = os.mkdir

    def mkdir(path, *args, **kwargs):
        real(path, *args, **kwargs)
        for entry in _configfs_entries(path):
            full = os.path.join(path, entry)
            if entry.endswith("/"):
                real(full)
            else:
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "w") as handle:
                    handle.write("0\n")

    monkeypatch.setattr(lio_tree.os, "mkdir", mkdir)


def test_the_captured_tree_as_objects(captured_tree):
    root = lio_tree.Root(str(captured_tree))
    assert root.is_loaded()
    (backstore,) = root.backstores()  # core/alua is not a plugin's HBA
    assert (backstore.hba, backstore.plugin) == ("fileio_0", "fileio")
    (obj,) = backstore.storage_objects()
    assert obj.name == "disk0" and obj.path == str(captured_tree / "core/fileio_0/disk0")
    (target,) = root.fabric.targets()  # not discovery_auth
    assert target.name == CAPTURED_TARGET and target.tpg.path == str(
        captured_tree / "srpt" / CAPTURED_TARGET / "tpgt_1"
    )
    (lun,) = target.tpg.luns()
    assert lun.number == 0 and lun.storage_object_name(root.core) == "disk0"
    (acl,) = target.tpg.acls()
    assert acl.name == "10.0.2.15" and [m.number for m in acl.mapped_luns()] == [0]


def test_list_backstores_and_targets_of_the_captured_tree(captured_tree):
    root = lio_tree.Root(str(captured_tree))
    assert root.list_backstores() == {
        "disk0": {
            "plugin": "fileio",
            "hba": "fileio_0",
            "path": str(captured_tree / "core/fileio_0/disk0"),
            "dev": "/tmp/disk0",  # udev_path is empty: info's File
            "serial": "",
            "enabled": True,
            "status": "ACTIVATED",
            "exports": [{"target": CAPTURED_TARGET, "lun": 0}],
        }
    }
    assert root.list_targets() == {
        CAPTURED_TARGET: {
            "tpg": True,
            "enabled": True,
            "luns": {0: {"backstore": "disk0"}},
            "acls": {"10.0.2.15": {0: None}},
        }
    }
    assert root.running_rdma_cm_port() == 5555
    attributes = root.backstore_attributes("disk0")
    assert attributes["queue_depth"] == "128" and attributes["hw_block_size"] == "512"


def test_running_config_of_the_captured_tree(captured_tree):
    config = lio_tree.Root(str(captured_tree)).running_config()
    # The captured target is not GID-named (0x...): not one mdtmirror makes, so not saved.
    assert config["targets"] == [] and config["fabric_modules"] == []
    (obj,) = config["storage_objects"]
    assert (obj["name"], obj["plugin"], obj["dev"], obj["wwn"]) == ("disk0", "fileio", "/tmp/disk0", "")
    assert (obj["size"], obj["aio"], obj["write_back"]) == (268435456, False, False)
    assert obj["attributes"]["queue_depth"] == 128
    assert not [k for k in obj["attributes"] if k.startswith("hw_")]  # rtslib refuses them on restore


def test_fabric_ready(tmp_path):
    root = lio_tree.Root(str(tmp_path / "target"))
    with pytest.raises(CommandExecutionError, match="LIO is not loaded or configfs is not mounted"):
        root.fabric_ready()
    (tmp_path / "target").mkdir()
    assert root.fabric_ready() == {"fabric": "srpt"}
    (tmp_path / "target/srpt/discovery_auth").mkdir()
    (tmp_path / "target/srpt/discovery_auth/rdma_cm_port").write_text("0\n")
    assert root.fabric_ready(rdma_cm_port="5555") == {"rdma_cm_port": 5555}
    assert (tmp_path / "target/srpt/discovery_auth/rdma_cm_port").read_text() == "5555\n"
    assert root.fabric_ready(rdma_cm_port=5555) == {}


def test_a_storage_object_made_and_its_writes(tmp_path, configfs_mkdir):
    (tmp_path / "core").mkdir()
    root = lio_tree.Root(str(tmp_path))
    hba = lio_tree.Backstore(root, "iblock_0")
    hba.create("the HBA")
    hba.storage_object("MDT0").create("/dev/sdb", "abc", {"is_nonrot": 1})
    made = tmp_path / "core/iblock_0/MDT0"
    assert (made / "control").read_text() == "udev_path=/dev/sdb\n"
    assert (made / "udev_path").read_text() == "/dev/sdb\n"
    assert (made / "wwn/vpd_unit_serial").read_text() == "abc\n"
    assert (made / "attrib/is_nonrot").read_text() == "1\n"
    assert (made / "enable").read_text() == "1\n"


def test_a_refused_write_names_the_object_and_removes_the_half_made_one(tmp_path):
    (tmp_path / "core").mkdir()
    root = lio_tree.Root(str(tmp_path))
    hba = lio_tree.Backstore(root, "iblock_0")
    hba.create("the HBA")
    with pytest.raises(CommandExecutionError) as exc:
        hba.storage_object("MDT0").create("/dev/sdb", "abc")  # a plain directory has no control file
    assert str(exc.value) == (
        f"LIO refused backstore MDT0's device: writing 'udev_path=/dev/sdb' to {tmp_path}/core/iblock_0/MDT0/control: "
        "ENOENT (No such file or directory); the kernel log (dmesg) says why"
    )
    assert not (tmp_path / "core/iblock_0/MDT0").exists()


def test_create_backstore_refuses_before_any_mkdir(tmp_path, monkeypatch):
    root = lio_tree.Root(str(tmp_path))
    asked = []

    def disk_problem(dev, **kwargs):
        asked.append((dev, kwargs))
        return "is held by pool tank"

    with pytest.raises(CommandExecutionError, match="cannot export /nonexistent as MDT0: it does not exist"):
        root.create_backstore("MDT0", "/nonexistent", "abc", disk_problem=disk_problem)
    disk = tmp_path / "disk"
    disk.write_text("")
    monkeypatch.setattr(lio_tree.stat, "S_ISBLK", lambda mode: True)
    with pytest.raises(CommandExecutionError, match=f"backstore MDT0: device {disk} is held by pool tank"):
        root.create_backstore("MDT0", str(disk), "abc", disk_problem=disk_problem)
    assert asked == [(str(disk), {"block": False, "exclusive": True})]
    assert not (tmp_path / "core").exists()


def test_export_then_remove(tmp_path, configfs_mkdir):
    (tmp_path / "core").mkdir()
    root = lio_tree.Root(str(tmp_path))
    root.fabric_ready()
    with pytest.raises(CommandExecutionError, match=r"no LIO backstore MDT0 \(known: none\)"):
        root.add_lun(TARGET, 0, "MDT0")
    lio_tree.Backstore(root, "iblock_0").create("the HBA")
    lio_tree.Backstore(root, "iblock_0").storage_object("MDT0").create("/dev/sdb", "abc")
    assert root.add_lun(TARGET, "0", "MDT0") == {"target": TARGET, "lun": 0, "backstore": "MDT0"}
    with pytest.raises(CommandExecutionError, match=f"target {TARGET} has no LUN 1 to give {ACL}"):
        root.add_acl(TARGET, "fe80:0000:0000:0000:5054:00ff:fe12:3456", 1)
    assert root.add_acl(TARGET, "fe80:0000:0000:0000:5054:00ff:fe12:3456", 0) == {
        "target": TARGET,
        "acl": ACL,
        "lun": 0,
    }
    assert root.add_acl(TARGET, ACL, 0) == {"target": TARGET, "acl": ACL, "lun": 0}  # again: nothing more to link
    assert root.enable_target(TARGET) is True
    assert root.list_targets() == {
        TARGET: {"tpg": True, "enabled": True, "luns": {0: {"backstore": "MDT0"}}, "acls": {ACL: {0: 0}}}
    }
    assert root.list_backstores()["MDT0"]["exports"] == [{"target": TARGET, "lun": 0}]
    (saved,) = root.running_config()["targets"]
    assert saved["wwn"] == "ib.fe80000000000000505400fffe123456"
    assert saved["tpgs"][0]["node_acls"] == [
        {
            "node_wwn": "ib.0000000000000000505400fffe123456",
            "mapped_luns": [{"index": 0, "tpg_lun": 0, "write_protect": False}],
        }
    ]
    assert saved["tpgs"][0]["luns"] == [{"index": 0, "storage_object": "/backstores/block/MDT0", "alias": "MDT0"}]
    # The storage object's own files stay in a plain directory (configfs would drop them with the rmdir).
    with pytest.raises(CommandExecutionError, match="LIO refused removing backstore MDT0 or its LUNs: .*MDT0"):
        root.delete_backstore("MDT0")
    assert root.list_targets()[TARGET]["luns"] == {} and root.list_targets()[TARGET]["acls"] == {ACL: {}}
    assert root.del_acl(TARGET, ACL) is True
    assert root.list_targets()[TARGET]["acls"] == {}
    with pytest.raises(CommandExecutionError, match=f"srpt target {TARGET} has no ACL {ACL}"):
        root.del_acl(TARGET, ACL)
    assert root.delete_backstore("MDT9") is False
    with pytest.raises(SaltInvocationError, match="invalid LIO backstore name"):
        root.delete_backstore("MDT 9")


def test_a_target_needs_the_fabric(tmp_path):
    root = lio_tree.Root(str(tmp_path))
    with pytest.raises(CommandExecutionError, match="LIO's SRP fabric is not ready: .*/srpt does not exist"):
        root.enable_target(TARGET)
    (tmp_path / "srpt").mkdir()
    with pytest.raises(CommandExecutionError, match=f"srpt target {TARGET} has no TPG 1 to enable"):
        root.enable_target(TARGET)


def test_set_backstore_attr(captured_tree):
    root = lio_tree.Root(str(captured_tree))
    assert root.set_backstore_attr("disk0", "is_nonrot", 1) is True
    assert (captured_tree / "core/fileio_0/disk0/attrib/is_nonrot").read_text() == "1\n"
    with pytest.raises(SaltInvocationError, match="LIO backstore disk0 has no attribute 'nope'"):
        root.set_backstore_attr("disk0", "nope", 1)
    # A path out of attrib/ names no attribute, though the file it leads to exists.
    enable = captured_tree / "core/fileio_0/disk0/enable"
    before = enable.read_text() if enable.exists() else None
    for attr in ("../enable", "..", "/etc/passwd"):
        with pytest.raises(SaltInvocationError, match="has no attribute"):
            root.set_backstore_attr("disk0", attr, 0)
    assert (enable.read_text() if enable.exists() else None) == before
    with pytest.raises(CommandExecutionError, match="no LIO backstore MDT0"):
        root.set_backstore_attr("MDT0", "is_nonrot", 1)


def test_save_config_writes_only_a_change(captured_tree, tmp_path):
    root = lio_tree.Root(str(captured_tree))
    path = str(tmp_path / "etc/saveconfig.json")
    assert root.save_config(path, test=True) == {"changed": True, "path": path}
    assert not os.path.exists(path)
    assert root.save_config(path) == {"changed": True, "path": path}
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert root.save_config(path) == {"changed": False, "path": path}


def test_save_config_is_synced_before_it_replaces_the_file(captured_tree, tmp_path, monkeypatch):
    """The boot restores from saveconfig.json: the new text is on disk before the rename makes it the file."""
    root = lio_tree.Root(str(captured_tree))
    path = str(tmp_path / "saveconfig.json")
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])
    assert root.save_config(path)["changed"] is True
    assert events == ["fsync", "replace"], events
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_del_acl_takes_the_name_add_acl_was_given(tmp_path, configfs_mkdir):
    (tmp_path / "core").mkdir()
    root = lio_tree.Root(str(tmp_path))
    root.fabric_ready()
    lio_tree.Backstore(root, "iblock_0").create("the HBA")
    lio_tree.Backstore(root, "iblock_0").storage_object("MDT0").create("/dev/sdb", "abc")
    root.add_lun(TARGET, 0, "MDT0")
    gid = "fe80:0000:0000:0000:5054:00ff:fe12:3456"
    root.add_acl(TARGET, gid, 0)
    assert root.del_acl(TARGET, gid) is True  # the GID reaches the 0x... ACL made of it
    assert root.list_targets()[TARGET]["acls"] == {}
    root.add_acl(TARGET, gid, 0)
    assert root.del_acl(TARGET, "ib." + ACL[2:]) is True
    # An ACL ib_srpt names by the RDMA/CM address (the capture's 10.0.2.15) is removed by that name.
    (tmp_path / "srpt" / TARGET / "tpgt_1" / "acls" / "10.0.2.15").mkdir()
    assert root.del_acl(TARGET, "10.0.2.15") is True
    # Names that lead out of acls/ are refused before anything is looked at.
    lun_dir = tmp_path / "srpt" / TARGET / "tpgt_1" / "lun"
    for name in ("..", "."):
        with pytest.raises(SaltInvocationError, match="invalid LIO ACL name"):
            root.del_acl(TARGET, name)
    with pytest.raises(SaltInvocationError, match="invalid LIO srpt target name"):
        root.del_acl("..", "lun")
    assert lun_dir.is_dir()


def _storage_object(root_dir, hba, name):
    path = root_dir / "core" / hba / name
    (path / "attrib").mkdir(parents=True)
    (path / "attrib" / "is_nonrot").write_text("0\n")
    (path / "enable").write_text("1\n")
    return path


def test_a_name_two_hbas_hold_is_listed_by_hba_and_managed_by_no_guess(tmp_path):
    (tmp_path / "srpt").mkdir()
    block = _storage_object(tmp_path, "iblock_0", "MDT0")
    fileio = _storage_object(tmp_path, "fileio_1", "MDT0")
    _storage_object(tmp_path, "iblock_0", "MDT1")
    lun = tmp_path / "srpt" / TARGET / "tpgt_1" / "lun" / "lun_3"
    lun.mkdir(parents=True)
    (tmp_path / "srpt" / TARGET / "tpgt_1" / "acls").mkdir()
    (lun / "MDT0").symlink_to(fileio)
    root = lio_tree.Root(str(tmp_path))
    stores = root.list_backstores()
    assert sorted(stores) == ["MDT1", "fileio_1/MDT0", "iblock_0/MDT0"]
    # The LUN reaches fileio_1's MDT0, and only that one exports.
    assert stores["fileio_1/MDT0"]["exports"] == [{"target": TARGET, "lun": 3}]
    assert stores["iblock_0/MDT0"]["exports"] == [] and stores["iblock_0/MDT0"]["path"] == str(block)
    ambiguous = r"LIO backstore name MDT0 is held by more than one HBA \(fileio_1/MDT0, iblock_0/MDT0\)"
    for call in (
        lambda: root.backstore_attributes("MDT0"),
        lambda: root.set_backstore_attr("MDT0", "is_nonrot", 1),
        lambda: root.delete_backstore("MDT0"),
        lambda: root.add_lun(TARGET, 4, "MDT0"),
        lambda: root.create_backstore("MDT0", "/dev/null", "abc"),
    ):
        with pytest.raises(CommandExecutionError, match=ambiguous):
            call()
    assert (fileio / "attrib" / "is_nonrot").read_text() == "0\n" and (lun / "MDT0").is_symlink()
    assert block.is_dir() and not (tmp_path / "srpt" / TARGET / "tpgt_1" / "lun" / "lun_4").exists()
    assert root.backstore_attributes("MDT1") == {"is_nonrot": "0\n".strip()}


def test_backstore_attributes_of_a_half_made_backstore_name_it(tmp_path):
    (tmp_path / "core" / "iblock_0" / "MDT0").mkdir(parents=True)  # no attrib/ (yet, or any more)
    root = lio_tree.Root(str(tmp_path))
    with pytest.raises(CommandExecutionError, match="cannot read the attributes of LIO backstore MDT0: .*attrib"):
        root.backstore_attributes("MDT0")
