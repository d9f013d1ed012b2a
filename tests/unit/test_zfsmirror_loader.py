"""zfsmirror's execution functions through Salt's real loader.

``zpool`` is a fake that replays real captures: for its first argument
(``status``, ``version``, ``create``) it prints the body of the capture the test
chose (to stdout when the capture's exit status is 0, else stderr) and exits
with the captured status. It logs its argument list so tests can check the
exact command. ``blkid`` is the real tool on real image files.
"""

import json
import os
import shutil
import stat
import struct
import subprocess
import sys

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.unit.test_lib_zfs_parse import golden

FAKE = """#!{python}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
with open(os.path.join(here, "scenario.json")) as handle:
    scenario = json.load(handle)
rel = scenario.get(sys.argv[1] if len(sys.argv) > 1 else "")
if rel is None:
    sys.stderr.write("fake zpool: no capture chosen for %r\\n" % sys.argv[1:])
    sys.exit(99)
lines = open(rel).read().splitlines()
code = int(lines[-1][len("[exit "):-1])
text = "\\n".join(lines[1:-1])
(sys.stdout if code == 0 else sys.stderr).write(text + "\\n" if text else "")
sys.exit(code)
"""


def _blkid():
    for cand in (shutil.which("blkid"), "/usr/sbin/blkid", "/sbin/blkid"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


class FakeZpool:
    def __init__(self, directory):
        self.dir = directory
        self.path = directory / "zpool"
        self.path.write_text(FAKE.format(python=sys.executable))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)
        self.play()

    def play(self, **captures):
        """Choose the capture replayed per subcommand: ``play(status="zfs-json/...", version="zfs/version.txt")``."""
        (self.dir / "scenario.json").write_text(json.dumps({k: str(golden(v)) for k, v in captures.items()}))
        (self.dir / "calls.log").write_text("")

    def calls(self):
        return [json.loads(line) for line in (self.dir / "calls.log").read_text().splitlines()]


@pytest.fixture(scope="module")
def env(tmp_path_factory, module_salt_loaders):
    fake = FakeZpool(tmp_path_factory.mktemp("bin"))
    zgen = fake.dir / "zgenhostid"
    zgen.write_text(ZGENHOSTID.format(python=sys.executable))
    zgen.chmod(0o755)
    etc = tmp_path_factory.mktemp("etc")
    loaders = module_salt_loaders(
        mdtmirror={
            "bin": {"zpool": str(fake.path), "blkid": _blkid() or "/nonexistent/blkid", "zgenhostid": str(zgen)},
            "paths": {"hostid": str(etc / "hostid")},
        }
    )
    return loaders.modules.zfsmirror, fake, etc / "hostid"


# --------------------------------------------------------------------------
# version / status / health
# --------------------------------------------------------------------------


def test_version(env):
    zfsmirror, fake, _ = env
    fake.play(version="zfs/version.txt")
    info = zfsmirror.version()
    assert info["userland"]["version"] == "2.3.2" and info["json"] is True
    assert fake.calls() == [["version"]]


def test_status_uses_json_on_23(env):
    zfsmirror, fake, _ = env
    fake.play(version="zfs/version.txt", status="zfs-json/zpool_status_j_degraded.json")
    pool = zfsmirror.status("mdtpool")
    assert fake.calls() == [["status", "-j", "--json-int", "-P", "mdtpool"]]  # no `zpool version` first
    assert pool["state"] == "DEGRADED"
    assert [(v["path"], v["state"]) for v in pool["mirror"]] == [("/dev/loop0", "ONLINE"), ("/dev/loop1", "OFFLINE")]
    assert "sides" not in pool


def test_status_text_output(env):
    zfsmirror, fake, _ = env
    fake.play(status="zfs-json/zpool_status_text_degraded.txt")
    pool = zfsmirror.status("mdtpool", output="text")
    assert fake.calls() == [["status", "-p", "-P", "mdtpool"]]
    assert [(v["path"], v["state"]) for v in pool["mirror"]] == [("/dev/loop0", "ONLINE"), ("/dev/loop1", "OFFLINE")]


def test_status_with_sides(env):
    zfsmirror, fake, _ = env
    fake.play(status="zfs-json/zpool_status_j_attach.json")
    pool = zfsmirror.status("mdtpool", local="/dev/loop0", remote="/dev/loop1", output="json")
    assert pool["sides"]["redundant"] is True
    assert [s["side"] for s in pool["sides"]["sides"]] == ["local", "remote"]


def test_health(env):
    zfsmirror, fake, _ = env
    fake.play(version="zfs/version.txt", status="zfs-json/zpool_status_j_degraded.json")
    result = zfsmirror.health("mdtpool", local="/dev/loop0", remote="/dev/loop1")
    assert result["redundant"] is False
    assert [(s["side"], s["state"]) for s in result["sides"]] == [("local", "ONLINE"), ("remote", "OFFLINE")]
    assert result["remote"][0]["why"].startswith("OFFLINE")


def test_status_of_a_pool_zpool_did_not_report(env):
    zfsmirror, fake, _ = env
    fake.play(status="zfs-json/zpool_status_j.json")
    with pytest.raises(CommandExecutionError, match=r"did not report pool otherpool \(got: mdtpool\)"):
        zfsmirror.status("otherpool", output="json")


def test_status_rejects_bad_names_before_running(env):
    zfsmirror, fake, _ = env
    fake.play()
    for bad in ("-x", "pool/fs", "9pool", ""):
        with pytest.raises(SaltInvocationError, match="invalid pool name"):
            zfsmirror.status(bad)
    with pytest.raises(SaltInvocationError, match="invalid output 'yaml'"):
        zfsmirror.status("mdtpool", output="yaml")
    assert fake.calls() == []


# --------------------------------------------------------------------------
# disk_in_use: real blkid on real images, zpool create -n replayed
# --------------------------------------------------------------------------

needs_blkid = pytest.mark.needs_tool("blkid")


@pytest.fixture
def blank(tmp_path):
    path = tmp_path / "blank.img"
    with open(path, "wb") as handle:
        handle.truncate(64 << 20)
    return path


@needs_blkid
def test_disk_in_use_free_disk(env, blank):
    zfsmirror, fake, _ = env
    fake.play(create="zfs-json/zpool_create_label_check.txt")
    result = zfsmirror.disk_in_use(str(blank))
    assert result == {
        "path": str(blank),
        "in_use": False,
        "reasons": [],
        "signatures": {},
        "zfs_label": None,
        "problems": [],
    }
    assert fake.calls() == [["create", "-n", "mdtmirror_probe", str(blank)]]


@needs_blkid
@pytest.mark.needs_tool("mkfs.ext4", "blkid")
def test_disk_in_use_filesystem(env, blank):
    zfsmirror, fake, _ = env
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    subprocess.run([mkfs, "-q", "-F", "-L", "oldmdt", str(blank)], check=True)
    fake.play(create="zfs-json/zpool_create_label_check.txt")
    result = zfsmirror.disk_in_use(str(blank))
    assert result["in_use"] is True
    assert result["signatures"]["TYPE"] == "ext4" and result["signatures"]["LABEL"] == "oldmdt"
    assert result["reasons"] == [f"{blank} contains a ext4 signature labelled 'oldmdt' (filesystem)"]


@needs_blkid
def test_disk_in_use_bare_partition_table(env, blank):
    # An MBR with one partition and nothing in it: zpool's own check passes such a
    # disk (it only looks at EFI partitions' contents); blkid -p sees the table.
    entry = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, 100000)
    with open(blank, "r+b") as handle:
        handle.seek(446)
        handle.write(entry)
        handle.seek(510)
        handle.write(b"\x55\xaa")
    zfsmirror, fake, _ = env
    fake.play(create="zfs-json/zpool_create_label_check.txt")
    result = zfsmirror.disk_in_use(str(blank))
    assert result["in_use"] is True and result["signatures"] == {"PTTYPE": "dos"}
    assert result["reasons"] == [f"{blank} has a dos partition table"]


@needs_blkid
@pytest.mark.parametrize(
    "rel, kind, message",
    [
        ("zfs-json/zpool_create_foreign_label.txt", "pool_member", "/dev/loop1 is part of active pool 'mdtpool'"),
        ("zfs/zpool_create_inuse.txt", "busy", "/dev/sda is in use and contains a unknown filesystem."),
    ],
)
def test_disk_in_use_zpool_refuses(env, blank, rel, kind, message):
    zfsmirror, fake, _ = env
    fake.play(create=rel)
    result = zfsmirror.disk_in_use(str(blank))
    assert result["in_use"] is True and result["signatures"] == {}
    assert [p["kind"] for p in result["problems"]] == [kind]
    assert result["reasons"] == [message]


def test_disk_in_use_missing_device(env, tmp_path):
    zfsmirror, fake, _ = env
    fake.play(create="zfs-json/zpool_create_label_check.txt")
    with pytest.raises(CommandExecutionError, match=f"device {tmp_path}/nothing does not exist"):
        zfsmirror.disk_in_use(str(tmp_path / "nothing"))
    with pytest.raises(SaltInvocationError, match="invalid device 'sda'"):
        zfsmirror.disk_in_use("sda")
    assert fake.calls() == []


@needs_blkid
def test_disk_in_use_unknown_zpool_message_counts_as_in_use(env, blank):
    # A zpool error this module does not know (here: the real message of a failed
    # attach, replayed as the dry run's answer) never lets a disk pass as free.
    zfsmirror, fake, _ = env
    fake.play(create="zfs/zpool_attach.txt")
    result = zfsmirror.disk_in_use(str(blank))
    assert result["in_use"] is True
    assert [(p["kind"], p["device"]) for p in result["problems"]] == [("other", None)]
    assert result["reasons"] == ["cannot attach /dev/loop0 to /dev/sdb: no such device in pool"]


# --------------------------------------------------------------------------
# hostid
# --------------------------------------------------------------------------


def test_hostid_present_and_value(env):
    zfsmirror, _, hostid_file = env
    if hostid_file.exists():
        hostid_file.unlink()
    assert zfsmirror.hostid_present() is False and zfsmirror.hostid() is None
    hostid_file.write_bytes((0x1A2B3C4D).to_bytes(4, sys.byteorder))
    assert zfsmirror.hostid_present() is True and zfsmirror.hostid() == "0x1a2b3c4d"
    hostid_file.write_bytes(b"\0\0\0\0")
    assert zfsmirror.hostid_present() is False
    hostid_file.unlink()


def test_ensure_hostid_keeps_existing(env):
    zfsmirror, _, hostid_file = env
    hostid_file.write_bytes((0x1A2B3C4D).to_bytes(4, sys.byteorder))
    try:
        assert zfsmirror.ensure_hostid() == {
            "changed": False,
            "hostid": "0x1a2b3c4d",
            "path": str(hostid_file),
            "comment": "hostid already set",
        }
        assert zfsmirror.ensure_hostid(hostid="1a2b3c4d")["changed"] is False
        with pytest.raises(CommandExecutionError, match="holds hostid 0x1a2b3c4d, not the requested 0x00000002"):
            zfsmirror.ensure_hostid(hostid=2)
    finally:
        hostid_file.unlink()


def test_ensure_hostid_test_mode_and_bad_value(env):
    zfsmirror, _, hostid_file = env
    assert not hostid_file.exists()
    result = zfsmirror.ensure_hostid(hostid="0xdeadbeef", test=True)
    assert result["changed"] is True and result["hostid"] == "0xdeadbeef" and not hostid_file.exists()
    for bad in ("0", "xyz", "0x123456789", -1):
        with pytest.raises(SaltInvocationError, match="invalid hostid"):
            zfsmirror.ensure_hostid(hostid=bad)


# zgenhostid has no capture (it prints nothing on success). The fake either runs
# a real false/true, or does what zgenhostid.c does: write 4 bytes in native
# order to the -o file (refusing an existing file without -f is not emulated).
ZGENHOSTID = """#!{python}
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
with open(os.path.join(here, "zgenhostid.args"), "w") as log:
    log.write(" ".join(args))
mode = open(os.path.join(here, "zgenhostid.mode")).read().strip()
if mode != "write":
    os.execv(mode, [mode])
path = args[args.index("-o") + 1]
value = int(args[-1], 16) if args[-1] != path else 0x0BADCAFE
with open(path, "wb") as handle:
    handle.write(value.to_bytes(4, sys.byteorder))
"""


@pytest.fixture
def zgenhostid(env):
    zfsmirror, fake, hostid_file = env
    if hostid_file.exists():
        hostid_file.unlink()

    def mode(what):
        (fake.dir / "zgenhostid.mode").write_text(what)

    yield zfsmirror, hostid_file, mode, fake.dir / "zgenhostid.args"
    if hostid_file.exists():
        hostid_file.unlink()


def test_ensure_hostid_runs_zgenhostid(zgenhostid):
    zfsmirror, hostid_file, mode, args = zgenhostid
    mode("write")
    result = zfsmirror.ensure_hostid(hostid="0x00c0ffee")
    assert result["changed"] is True and result["hostid"] == "0x00c0ffee"
    assert args.read_text() == f"-o {hostid_file} 00c0ffee"
    # an existing but zero hostid is replaced with -f
    hostid_file.write_bytes(b"\0\0\0\0")
    result = zfsmirror.ensure_hostid()
    assert result == {
        "changed": True,
        "hostid": "0x0badcafe",
        "path": str(hostid_file),
        "comment": f"zgenhostid wrote {hostid_file}",
    }
    assert args.read_text() == f"-f -o {hostid_file}"


def test_ensure_hostid_failures(zgenhostid):
    zfsmirror, hostid_file, mode, _ = zgenhostid
    mode(shutil.which("false") or "/bin/false")
    with pytest.raises(CommandExecutionError, match=r"zgenhostid -o .*hostid failed \(exit 1\)"):
        zfsmirror.ensure_hostid()
    mode(shutil.which("true") or "/bin/true")
    with pytest.raises(CommandExecutionError, match="zgenhostid exited 0 but .* still holds no valid hostid"):
        zfsmirror.ensure_hostid()
    assert not hostid_file.exists()


def test_salt_exposes_only_the_cli_functions(env):
    from tests.loadermods import load

    zfsmirror = env[0]
    module = load("_modules", "zfsmirror")
    for name in module.__all__:
        assert "CLI Example:" in getattr(module, name).__doc__, name
        assert callable(getattr(zfsmirror, name))
    for pure in ("parse_status_json", "classify_sides", "plan_prune"):
        with pytest.raises((AttributeError, KeyError)):
            getattr(zfsmirror, pure)
