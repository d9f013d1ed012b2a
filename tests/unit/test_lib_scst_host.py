"""The SCST target's host outside its sysfs tree (mdtmirror_lib.scst_host): module options persisted in
modprobe.d (the old /etc/default/scst line moved there), modprobe in order, scst.conf written atomically."""

import os

import pytest
from salt.exceptions import CommandExecutionError

from mdtmirror_lib import scst_host


def test_persist_options_writes_modprobe_d_and_moves_the_legacy_line(tmp_path):
    conf, default = tmp_path / "modprobe.d" / "ib_srpt.conf", tmp_path / "default-scst"
    default.write_text('SCST_TARGET_MODULES="ib_srpt"\nib_srpt_parameters="rdma_cm_port=5555"\n')
    assert scst_host.persist_options(str(conf), str(default), "ib_srpt", {"rdma_cm_port": 5555}, test=True)
    assert not conf.exists()
    assert scst_host.persist_options(str(conf), str(default), "ib_srpt", {"rdma_cm_port": 5555})
    assert conf.read_text().splitlines()[1] == "options ib_srpt rdma_cm_port=5555"
    assert default.read_text() == 'SCST_TARGET_MODULES="ib_srpt"\n'
    assert not scst_host.persist_options(str(conf), str(default), "ib_srpt", {"rdma_cm_port": 5555})


def test_persist_options_replaces_each_file_whole_after_an_fsync(tmp_path, monkeypatch):
    # A crash mid-write leaves the old file or the new one, never a truncated one the boot would read.
    conf, default = tmp_path / "modprobe.d" / "ib_srpt.conf", tmp_path / "default-scst"
    default.write_text('SCST_TARGET_MODULES="ib_srpt"\nib_srpt_parameters="rdma_cm_port=5555"\n')
    default.chmod(0o600)
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda src, dst: (events.append(("replace", os.path.basename(dst))), real_replace(src, dst))[1]
    )
    assert scst_host.persist_options(str(conf), str(default), "ib_srpt", {"rdma_cm_port": 5555})
    assert events == ["fsync", ("replace", "ib_srpt.conf"), "fsync", ("replace", "default-scst")], events
    assert default.stat().st_mode & 0o777 == 0o600  # the file keeps its mode
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["default-scst", "ib_srpt.conf", "modprobe.d"]


def test_load_runs_modprobe_for_what_is_not_loaded_in_order(tmp_path):
    sys_module = tmp_path / "module"
    (sys_module / "scst").mkdir(parents=True)
    ran = []

    def run(cmd):
        ran.append(cmd)
        return {"retcode": 0, "stdout": "", "stderr": ""}

    loaded = scst_host.load(
        "scst, scst_vdisk,ib_srpt", {"ib_srpt": {"use_srq": True}}, str(sys_module), str(tmp_path / "var"), "mp", run
    )
    assert loaded == ["scst_vdisk", "ib_srpt"]
    assert ran == [["mp", "scst_vdisk"], ["mp", "ib_srpt", "use_srq=1"]]
    assert (tmp_path / "var" / "pr").is_dir() and (tmp_path / "var" / "vdev_mode_pages").is_dir()
    with pytest.raises(CommandExecutionError, match="modprobe ib_srpt failed \\(1\\): FATAL: not found"):
        scst_host.load(
            ["ib_srpt"],
            None,
            str(sys_module),
            str(tmp_path / "var"),
            "mp",
            lambda cmd: {"retcode": 1, "stderr": "FATAL: not found\n"},
        )


def test_write_config_reports_and_writes_only_a_change(tmp_path):
    path = str(tmp_path / "etc" / "scst.conf")
    assert scst_host.write_config(path, "x\n", test=True) == {
        "path": path,
        "changed": True,
        "existed": False,
        "text": "x\n",
        "current": None,
    }
    assert scst_host.write_config(path, "x\n")["changed"] is True
    again = scst_host.write_config(path, "x\n")
    assert (again["changed"], again["existed"], again["current"]) == (False, True, "x\n")
