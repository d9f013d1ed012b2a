"""The lio loader module's own part: its public functions hand the library what it needs (no Salt loader here)."""

import pytest
from salt.exceptions import SaltInvocationError

from mdtmirror_lib import lio_parse
from tests.loadermods import load

lio = load("_modules", "lio")


def test_the_pure_public_functions_are_the_librarys():
    gid = "fe80:0000:0000:0000:5054:00ff:fe12:3456"
    assert lio.acl_name(gid, initiator_ext=1) == lio_parse.acl_name(gid, initiator_ext=1)
    assert lio.default_serial("mds01", "MDT0") == lio_parse.default_serial("mds01", "MDT0")
    serial = "6f1b7ad2-5e0c-4c3e-9a52-0123456789ab"
    assert lio.initiator_by_id(serial) == "/dev/disk/by-id/scsi-36001405" + "6f1b7ad25e0c4c3e9a5201234"
    assert lio.rdma_cm_port_conf(5555) == "w /sys/kernel/config/target/srpt/discovery_auth/rdma_cm_port - - - - 5555\n"


def test_validate_backstore_names_the_bad_device_or_name(tmp_path):
    regular = tmp_path / "disk.img"
    regular.write_text("")
    with pytest.raises(SaltInvocationError, match=rf"backstore MDT0: {regular} is not a block device"):
        lio.validate_backstore("MDT0", str(regular))
    with pytest.raises(SaltInvocationError, match="backstore MDT0: device 'sdb' must be an absolute path"):
        lio.validate_backstore("MDT0", "sdb")
    with pytest.raises(SaltInvocationError, match="invalid LIO backstore name 'MDT 0'"):
        lio.validate_backstore("MDT 0", "/dev/sdb")
    # Not there yet (a zvol the same run makes): allowed, the real run's create names it if still missing.
    assert lio.validate_backstore("MDT0", str(tmp_path / "zvol-to-be")) is True


def test_the_tree_is_where_the_config_says(tmp_path, monkeypatch):
    config = {"mdtmirror:sysroot": str(tmp_path)}
    monkeypatch.setattr(
        lio, "__salt__", {"config.get": lambda key, default=None: config.get(key, default)}, raising=False
    )
    assert lio.is_loaded() is False
    (tmp_path / "sys/kernel/config/target/srpt/discovery_auth").mkdir(parents=True)
    (tmp_path / "sys/kernel/config/target/srpt/discovery_auth/rdma_cm_port").write_text("5555\n")
    assert lio.is_loaded() is True
    assert lio.running_rdma_cm_port() == 5555
    config["mdtmirror:paths:lio_target"] = str(tmp_path / "elsewhere")
    assert lio.is_loaded() is False


@pytest.mark.parametrize("test", [True, False])
def test_a_name_two_hbas_hold_is_refused_by_the_states_as_by_the_module(test, monkeypatch):
    # test=True must predict the refusal the real run meets (lio.create_backstore refuses the name), not a create.
    states = load("_states", "lio")
    stores = {
        f"{hba}/MDT0": {"hba": hba, "plugin": "block", "dev": "/dev/sdb", "exports": []}
        for hba in ("iblock_0", "fileio_1")
    }
    called = []
    salt = {
        "lio.is_loaded": lambda: True,
        "lio.list_backstores": lambda: stores,
        "lio.validate_backstore": lambda name, dev, new=False: True,
        "lio.create_backstore": lambda *a, **k: called.append("create"),
        "lio.delete_backstore": lambda *a, **k: called.append("delete"),
    }
    monkeypatch.setattr(states, "__salt__", salt, raising=False)
    monkeypatch.setattr(states, "__opts__", {"test": test}, raising=False)
    monkeypatch.setattr(states, "__context__", {}, raising=False)
    for ret in (states.backstore_present("MDT0", "/dev/sdb", "abc"), states.backstore_absent("MDT0")):
        assert ret["result"] is False and ret["changes"] == {}, ret
        assert "LIO backstore name MDT0 is held by more than one HBA (fileio_1/MDT0, iblock_0/MDT0)" in ret["comment"]
    assert called == []
