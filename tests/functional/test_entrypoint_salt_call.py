"""`pip install .` mode: real `salt-call --local` finds scst.* through the
salt.loader entry point alone (no file_roots modules, no module_dirs), and
`scst.list_devices` prints structured data from an emulated host."""

import importlib.util
import json
import subprocess

import pytest

from tests.conftest import salt_bin

pytestmark = pytest.mark.slow


def salt_call(conf_dir, *args):
    cmd = [salt_bin("salt-call"), "--local", "-c", str(conf_dir), "--out=json", "--retcode-passthrough", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return proc.returncode, (json.loads(proc.stdout)["local"] if proc.stdout.strip() else None), proc.stderr


@pytest.fixture
def conf_dir(tmp_path, emulated_host):
    spec = importlib.util.find_spec("mdtmirror_loader")
    if spec is None:
        pytest.fail("mdtmirror is not pip-installed in this environment: run `make test` (it runs `pip install .`)")
    host = emulated_host()
    conf = tmp_path / "conf"
    conf.mkdir()
    (tmp_path / "empty").mkdir()
    (conf / "minion").write_text(
        json.dumps(
            {
                "root_dir": str(tmp_path / "salt"),
                "file_client": "local",
                "file_roots": {"base": [str(tmp_path / "empty")]},
                "mdtmirror": host.mdtmirror,
            }
        )
    )
    return conf


def test_salt_call_uses_entry_point_and_lists_devices(conf_dir):
    rc, doc, err = salt_call(conf_dir, "sys.doc", "scst")
    assert rc == 0, err
    assert doc, "scst.* not found through the salt.loader entry point"
    missing = [fun for fun, text in doc.items() if "CLI Example:" not in (text or "")]
    assert missing == []
    assert "scst.parse_attr" not in doc  # pure helpers stay out of the CLI

    # A refused value: one line naming it, not followed by the function's docstring.
    args = ("scst.open_dev", "MDT1", "vdisk_blockio", "filename=/dev/mdt0")
    rc, out, err = salt_call(conf_dir, *args, "blocksize=131072")
    said = json.dumps(out) + err
    assert rc != 0 and "blocksize 131072 is not 512 or 4096" in said and "CLI Example" not in said, said
    rc, out, err = salt_call(conf_dir, *args, "blocksize=4096")
    assert rc == 0, err
    rc, devices, err = salt_call(conf_dir, "scst.list_devices")
    assert rc == 0, err
    mdt = devices["MDT1"]
    assert mdt["handler"] == "vdisk_blockio"
    assert mdt["filename"] == "/dev/mdt0"
    assert mdt["attributes"]["blocksize"] == "4096"
    assert "blocksize" in mdt["key_attributes"]


def test_salt_call_error_names_device_and_exits_nonzero(conf_dir):
    rc, out, err = salt_call(conf_dir, "scst.close_dev", "NOSUCH")
    assert rc != 0
    assert "SCST device 'NOSUCH' does not exist" in (str(out) + err)
