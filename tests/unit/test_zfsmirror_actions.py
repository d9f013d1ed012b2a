"""zfsmirror's actions (create, heal, import/export, zvol, snapshot, prune, backup, jobs) through Salt's loader.

The tools are one fake script under several names (``zpool``, ``zfs``, ``blkid``,
``zgenhostid``, ``ssh``, ``zstream``, ``systemctl``). Each call appends its
argument list to ``calls.jsonl``; the reply is chosen per test by argument
prefix and is one of:

* a real capture (``tests/golden/linux-6.1-openzfs-2.3.2``): its body on stdout
  (stderr when its exit status is not 0) and its exit status; a list of
  captures is replayed in order, the last one repeating;
* silence with exit 0, only for commands whose success is silent and has no
  capture of its own: ``zfs snapshot``/``create``/``set``/``hold``/``release``,
  ``systemctl``, and ``zpool list -H`` with no pool imported (zpool_do_list
  prints nothing in scripted mode, zpool_main.c 2.3.2);
* ``blkid``: the real blkid run on an image file under the test's sysroot;
* ``zgenhostid``: writes 4 bytes to its ``-o`` file, as zgenhostid.c does;
* ``zfs send``: 45264 filler bytes. That size is the real one
  (zfs/zfs_send_full.txt counted the stream with ``wc -c``); its content was
  not captured, so no test here may read meaning into the bytes;
* ``ssh``/``zstream``: read stdin to the end, record the byte count and digest,
  print nothing, exit with the chosen status.

Nothing a fake prints comes from this module's code.
"""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.loadermods import load
from tests.unit.test_lib_zfs_parse import capture, golden

zm = load("_modules", "zfsmirror")

TOOLS = ("zpool", "zfs", "blkid", "zgenhostid", "ssh", "zstream", "systemctl")
SEND_BYTES = int(capture("zfs/zfs_send_full.txt")[1])  # 45264, the real stream's size
LIST_POOLS = ["list", "-H", "-p", "-o", "name,size,alloc,free,health,guid"]
LIST_SNAPS = ["list", "-H", "-p", "-t", "snapshot", "-d", "1", "-s", "createtxg", "-o", "name,creation,used,userrefs"]

FAKE = r"""#!{python}
import hashlib, json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open(os.path.join(here, "calls.jsonl"), "a") as log:
    log.write(json.dumps([tool] + args) + "\n")
with open(os.path.join(here, "scenario.json")) as handle:
    scenario = json.load(handle)
for index, (key, reply) in enumerate(scenario.get(tool, [])):
    exact = bool(key) and key[-1] == "$"
    key = key[:-1] if exact else key
    if args[: len(key)] == key and (not exact or len(args) == len(key)):
        break
else:
    sys.stderr.write("fake %s: no reply chosen for %r\n" % (tool, args))
    sys.exit(99)
if "seq" in reply:
    counters_path = os.path.join(here, "counters.json")
    counters = json.load(open(counters_path)) if os.path.exists(counters_path) else {{}}
    slot = "%s:%d" % (tool, index)
    n = counters.get(slot, 0)
    counters[slot] = n + 1
    with open(counters_path, "w") as handle:
        json.dump(counters, handle)
    reply = reply["seq"][min(n, len(reply["seq"]) - 1)]
if "capture" in reply:
    lines = open(reply["capture"]).read().splitlines()
    code = int(lines[-1][len("[exit "):-1])
    text = "\n".join(lines[1:-1])
    (sys.stdout if code == 0 else sys.stderr).write(text + "\n" if text else "")
    sys.exit(code)
if "silent" in reply:
    sys.exit(reply["silent"])
if "blkid" in reply:
    real = reply["blkid"]
    os.execv(real, [real] + args[:-1] + [os.path.join(reply["root"], args[-1].lstrip("/"))])
if "hostid" in reply:
    path = args[args.index("-o") + 1]
    value = int(args[-1], 16) if args[-1] != path else 0x0BADCAFE
    # A host path (/etc/hostid), resolved in the emulated host's root.
    with open(os.path.join(reply["root"], path.lstrip("/")), "wb") as handle:
        handle.write(value.to_bytes(4, sys.byteorder))
    sys.exit(0)
if "send" in reply:
    out = sys.stdout.buffer
    left = reply["send"]
    while left:
        out.write(b"\0" * min(left, 8192))
        left -= min(left, 8192)
    sys.exit(0)
if "sink" in reply:
    digest, count = hashlib.sha256(), 0
    while True:
        chunk = sys.stdin.buffer.read(65536)
        if not chunk:
            break
        digest.update(chunk)
        count += len(chunk)
    with open(os.path.join(here, tool + ".sink.json"), "w") as handle:
        json.dump({{"bytes": count, "sha256": digest.hexdigest()}}, handle)
    sys.exit(reply["sink"])
sys.exit(98)
"""


def _blkid():
    for cand in (shutil.which("blkid"), "/usr/sbin/blkid", "/sbin/blkid"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


needs_blkid = pytest.mark.needs_tool("blkid")


def cap(*rels):
    """Reply with real captures, in order (the last repeats)."""
    items = [{"capture": str(golden(r))} if isinstance(r, str) else r for r in rels]
    return items[0] if len(items) == 1 else {"seq": items}


SILENT = {"silent": 0}


class Rig:
    """Fake tools in ``<base>/bin``, an emulated host's files under ``<base>/root`` (the sysroot)."""

    def __init__(self, base, zpool_output="json"):
        self.bin = base / "bin"
        self.root = base / "root"
        self.bin.mkdir(parents=True)
        (self.root / "dev").mkdir(parents=True)
        (self.root / "etc").mkdir(parents=True)
        fake = self.bin / "fake"
        fake.write_text(FAKE.format(python=sys.executable))
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        for tool in TOOLS:
            if tool != "zstream":  # absent unless a test installs it
                (self.bin / tool).symlink_to("fake")
        self.hostid = self.root / "etc" / "hostid"
        self.import_dir = "/dev/disk/by-id"  # a host path: zpool resolves it in the host's root
        self.config = {
            "sysroot": str(self.root),
            "zpool_output": zpool_output,
            "paths": {"hostid": str(self.hostid)},
            "bin": {tool: str(self.bin / tool) for tool in TOOLS},
        }
        self.config["bin"]["salt_call"] = "/usr/bin/salt-call"
        self.play()

    def play(self, **tools):
        """``play(zpool=[(("status",), cap(...)), ...])``: the replies, first matching prefix wins."""
        scenario = {tool: [[list(key), reply] for key, reply in rules] for tool, rules in tools.items()}
        scenario.setdefault("blkid", [[[], {"blkid": _blkid() or "/nonexistent", "root": str(self.root)}]])
        scenario.setdefault("zgenhostid", [[[], {"hostid": True, "root": str(self.root)}]])
        scenario.setdefault("systemctl", [[[], SILENT]])
        (self.bin / "scenario.json").write_text(json.dumps(scenario))
        (self.bin / "calls.jsonl").write_text("")
        for leftover in ("counters.json", "ssh.sink.json", "zstream.sink.json"):
            if (self.bin / leftover).exists():
                (self.bin / leftover).unlink()

    def calls(self, tool=None):
        rows = [json.loads(line) for line in (self.bin / "calls.jsonl").read_text().splitlines()]
        return [row[1:] for row in rows if row[0] == tool] if tool else rows

    def sink(self, tool):
        path = self.bin / f"{tool}.sink.json"
        return json.loads(path.read_text()) if path.exists() else None

    def disk(self, name, size=64 << 20):
        path = self.root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            handle.truncate(size)
        return path

    def zstream(self, present):
        link = self.bin / "zstream"
        if present and not link.exists():
            link.symlink_to("fake")
        elif not present and link.is_symlink():
            link.unlink()

    def reset(self):
        if self.hostid.exists():
            self.hostid.unlink()
        shutil.rmtree(self.root / "dev")
        (self.root / "dev").mkdir()
        shutil.rmtree(self.root / "etc" / "systemd", ignore_errors=True)
        self.zstream(False)
        self.play()


@pytest.fixture(scope="module")
def rig_env(tmp_path_factory, module_salt_loaders):
    rig = Rig(tmp_path_factory.mktemp("zfsrig"))
    loaders = module_salt_loaders(mdtmirror=rig.config)
    return rig, loaders.modules.zfsmirror


@pytest.fixture
def env(rig_env):
    rig, zfsmirror = rig_env
    rig.reset()
    for name in ("dev/loop0", "dev/loop1", "dev/loop2"):
        rig.disk(name)
    return rig, zfsmirror


def with_hostid(rig, value=0x1A2B3C4D):
    rig.hostid.write_bytes(value.to_bytes(4, sys.byteorder))


def fresh_host(rig, create_n=("zfs-json/zpool_create_label_check.txt",)):
    """zpool answers of a host where nothing is imported and no pool is on the disks."""
    rig.play(
        zpool=[
            (LIST_POOLS, SILENT),
            (("get",), {"silent": 1}),  # no pool imported: zpool get fails (exit 1)
            (("import", "-d"), cap("zfs/zpool_import_list_foreign.txt")),
            (("create", "-n"), cap(*create_n)),
            (("create",), cap("zfs/zpool_create.txt")),
            (("version",), cap("zfs/version.txt")),
            (("status",), cap("zfs-json/zpool_status_j.json")),
        ]
    )


READS_OF_CREATE = [
    ["zpool"] + LIST_POOLS,
    ["zpool", "import", "-d", "<import_dir>"],
    ["blkid", "-p", "-o", "export", "/dev/loop0"],
    ["zpool", "create", "-n", "mdtmirror_probe", "/dev/loop0"],
    ["blkid", "-p", "-o", "export", "/dev/loop1"],
    ["zpool", "create", "-n", "mdtmirror_probe", "/dev/loop1"],
]


def reads_of_create(rig):
    return [[rig.import_dir if w == "<import_dir>" else w for w in row] for row in READS_OF_CREATE]


# --------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------


@needs_blkid
def test_create_test_mode_only_reads(env):
    rig, zfsmirror = env
    fresh_host(rig)
    plan = zfsmirror.create(
        "mdtpool",
        "/dev/loop0",
        "/dev/loop1",
        properties={"ashift": 12},
        filesystem_properties={"canmount": "off"},
        test=True,
    )
    assert rig.calls() == reads_of_create(rig)
    assert not rig.hostid.exists()
    assert plan["changes"] == {
        "hostid": {"old": None, "new": str(rig.hostid)},
        "mdtpool": {
            "old": None,
            "new": {
                "mirror": ["/dev/loop0", "/dev/loop1"],
                "properties": {"multihost": "on", "cachefile": "none", "ashift": "12"},
                "filesystem_properties": {"canmount": "off"},
            },
        },
    }
    # loop devices have no /dev/disk/by-id name: said, not refused
    assert plan["warnings"] == [
        "no /dev/disk/by-id link points to /dev/loop0: the pool records /dev/loop0, a name that can change",
        "no /dev/disk/by-id link points to /dev/loop1: the pool records /dev/loop1, a name that can change",
    ]


@needs_blkid
def test_create_runs_the_captured_command_with_cachefile_none_and_no_force(env):
    rig, zfsmirror = env
    fresh_host(rig)
    done = zfsmirror.create(
        "mdtpool", "/dev/loop0", "/dev/loop1", properties={"ashift": 12}, filesystem_properties={"canmount": "off"}
    )
    calls = rig.calls()
    assert calls[: len(READS_OF_CREATE)] == reads_of_create(rig)
    assert calls[len(READS_OF_CREATE) :] == [
        ["zgenhostid", "-o", "/" + str(rig.hostid.relative_to(rig.root))],
        [
            "zpool",
            "create",
            "-o",
            "multihost=on",
            "-o",
            "cachefile=none",
            "-o",
            "ashift=12",
            "-O",
            "canmount=off",
            "mdtpool",
            "mirror",
            "/dev/loop0",
            "/dev/loop1",
        ],
    ]
    # the captured create, less the cachefile option, on the capture's second disk
    golden_argv = capture("zfs/zpool_create.txt")[0].split()[1:]
    ours = calls[-1][1:]
    assert ours[3:5] == ["-o", "cachefile=none"]
    assert ours[:3] + ours[5:] == [("/dev/loop1" if w == "/dev/sda" else w) for w in golden_argv]
    assert "-f" not in ours
    assert done["forced"] == [] and rig.hostid.read_bytes() == (0x0BADCAFE).to_bytes(4, sys.byteorder)


@needs_blkid
def test_create_uses_the_by_id_name_of_a_plain_device(env):
    rig, zfsmirror = env
    rig.disk("dev/sdb")
    link = rig.root / "dev/disk/by-id/wwn-0x6001405aaaaaaaaa"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../sdb")
    (rig.root / "dev/disk/by-id/scsi-36001405aaaaaaaaa").symlink_to("../../sdb")
    fresh_host(rig)
    with_hostid(rig)
    done = zfsmirror.create("mdtpool", "/dev/sdb", "/dev/loop1")
    assert done["devices"] == ["/dev/disk/by-id/wwn-0x6001405aaaaaaaaa", "/dev/loop1"]
    assert ["blkid", "-p", "-o", "export", "/dev/disk/by-id/wwn-0x6001405aaaaaaaaa"] in rig.calls()
    assert rig.calls("zpool")[-1][-3:] == ["mirror", "/dev/disk/by-id/wwn-0x6001405aaaaaaaaa", "/dev/loop1"]


@needs_blkid
@pytest.mark.needs_tool("mkfs.ext4", "blkid")
def test_create_refuses_a_disk_in_use_unless_forced(env):
    rig, zfsmirror = env
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    subprocess.run([mkfs, "-q", "-F", "-L", "oldmdt", str(rig.root / "dev/loop1")], check=True)
    fresh_host(rig)
    with_hostid(rig)
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop1")
    assert str(err.value) == (
        "remote disk /dev/loop1 is in use: /dev/loop1 contains a ext4 signature labelled 'oldmdt' (filesystem). "
        "Refusing to create pool mdtpool on it; if what it holds may be destroyed, give force=True"
    )
    assert ["create", "-n", "mdtmirror_probe", "/dev/loop1"] == rig.calls("zpool")[-1]
    # a truthy value is not "plainly" True
    for vague in ("yes", 1, "True"):
        with pytest.raises(SaltInvocationError, match="force must be True or False"):
            zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop1", force=vague)
    fresh_host(rig)
    done = zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop1", force=True)
    assert done["forced"] == ["/dev/loop1"]
    assert rig.calls("zpool")[-1] == [
        "create",
        "-f",
        "-o",
        "multihost=on",
        "-o",
        "cachefile=none",
        "mdtpool",
        "mirror",
        "/dev/loop0",
        "/dev/loop1",
    ]


@needs_blkid
def test_force_on_free_disks_adds_no_f(env):
    rig, zfsmirror = env
    fresh_host(rig)
    with_hostid(rig)
    zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop1", force=True)
    assert "-f" not in rig.calls("zpool")[-1]


@needs_blkid
def test_create_refuses_a_member_of_an_active_pool_even_forced(env):
    rig, zfsmirror = env
    # the dry run finds loop0 free, then loop1 in the captured active pool
    fresh_host(rig, create_n=("zfs-json/zpool_create_label_check.txt", "zfs-json/zpool_create_foreign_label.txt"))
    with_hostid(rig)
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop1", force=True)
    assert str(err.value) == (
        "remote disk /dev/loop1 is in use and cannot be forced: /dev/loop1 is part of active pool 'mdtpool'. "
        "Refusing to create pool mdtpool"
    )
    assert not [c for c in rig.calls("zpool") if c[0] == "create" and c[1] != "-n"]


@needs_blkid
def test_create_plans_a_remote_disk_its_pending_login_brings(env):
    """test=True with remote_pending: the peer's disk is not there yet (the
    SRP login is a pending change of the same run): planned by its name, its
    in-use checks left to the real run; without test=True it must exist."""
    rig, zfsmirror = env
    fresh_host(rig)
    remote = "/dev/disk/by-id/scsi-23830313330643861"
    plan = zfsmirror.create("mdtpool", "/dev/loop0", remote, test=True, remote_pending=True)
    assert rig.calls() == reads_of_create(rig)[:4]  # list, import scan, the local disk's two checks only
    assert plan["changes"]["mdtpool"]["new"]["mirror"] == ["/dev/loop0", remote]
    assert plan["warnings"][-1].startswith(f"remote disk {remote} is not there yet (the SRP login")
    with pytest.raises(CommandExecutionError, match=f"remote disk {remote} does not exist: no SRP login brought it"):
        zfsmirror.create("mdtpool", "/dev/loop0", remote, remote_pending=True)
    with pytest.raises(CommandExecutionError, match=f"^remote disk {remote} does not exist$"):
        zfsmirror.create("mdtpool", "/dev/loop0", remote, test=True)
    assert not rig.hostid.exists()


def test_create_refuses_a_pool_that_exists(env):
    rig, zfsmirror = env
    rig.play(zpool=[(LIST_POOLS, cap("zfs/zpool_list_Hp.txt"))])
    with pytest.raises(CommandExecutionError, match="pool mdtpool already exists \\(imported on this host\\)"):
        zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop1")
    rig.play(zpool=[(LIST_POOLS, SILENT), (("import", "-d"), cap("zfs-json/zpool_import_scan.txt"))])
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop1")
    assert str(err.value) == (
        f"a pool named mdtpool is already on the disks in {rig.import_dir} (state ONLINE): "
        "import it (zfsmirror.import_pool) instead of creating another"
    )
    assert rig.calls() == [["zpool"] + LIST_POOLS, ["zpool", "import", "-d", rig.import_dir]]


def test_create_bad_arguments_run_nothing(env):
    rig, zfsmirror = env
    cases = [
        ({"properties": {"multihost": "off"}}, "multihost=off is not allowed"),
        ({"properties": {"cachefile": "/etc/zfs/zpool.cache"}}, "cachefile=/etc/zfs/zpool.cache is not allowed"),
        ({"properties": {"ashift": "12 -f"}}, "invalid value '12 -f' for pool property ashift"),
        ({"local": "sdb"}, "invalid device 'sdb'"),
    ]
    for kwargs, message in cases:
        args = {"pool": "mdtpool", "local": "/dev/loop0", "remote": "/dev/loop1", **kwargs}
        with pytest.raises(SaltInvocationError, match=message):
            zfsmirror.create(**args)
    assert rig.calls() == []
    fresh_host(rig)
    with pytest.raises(CommandExecutionError, match="remote disk /dev/loop9 does not exist"):
        zfsmirror.create("mdtpool", "/dev/loop0", "/dev/loop9")
    assert rig.calls() == reads_of_create(rig)[:2]  # devices are looked at before any probing


# --------------------------------------------------------------------------
# heal
# --------------------------------------------------------------------------


def degraded(rig, after="zfs-json/zpool_status_j_attach.json", **more):
    rig.play(
        zpool=[
            (("version",), cap("zfs/version.txt")),
            (("status",), cap("zfs-json/zpool_status_j_degraded.json", after)),
            (("online",), cap("zfs/zpool_online.txt")),
            (("create", "-n"), cap("zfs-json/zpool_create_label_check.txt")),
            *more.get("extra", []),
        ]
    )


STATUS_J = ["status", "-j", "--json-int", "-P", "mdtpool"]


def test_heal_onlines_the_remote_side_that_came_back(env):
    rig, zfsmirror = env
    degraded(rig)
    plan = zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop1", test=True)
    assert rig.calls("zpool") == [STATUS_J]
    assert plan["actions"] == [
        {
            "action": "online",
            "device": "/dev/loop1",
            "command": [rig.config["bin"]["zpool"], "online", "mdtpool", "/dev/loop1"],
            "old": "OFFLINE",
            "new": "ONLINE",
        }
    ]
    assert plan["changes"] == {"mdtpool:/dev/loop1": {"old": "OFFLINE", "new": "ONLINE"}}
    assert plan["redundant"] is False and plan["waits"] == []

    degraded(rig)
    done = zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop1")
    assert rig.calls("zpool") == [STATUS_J, ["online", "mdtpool", "/dev/loop1"], STATUS_J]
    assert done["changes"] == plan["changes"]
    # progress read back from the pool afterwards (the captured finished resilver)
    assert done["redundant"] is True
    assert done["resilver"] == {
        "state": "finished",
        "percent": None,
        "issued": 116736,
        "total": 173568 - 56832,
        "processed": 301056,
        "errors": 0,
        "end_time": 1795525764,
    }


def test_heal_waits_for_a_device_that_is_not_back(env):
    rig, zfsmirror = env
    (rig.root / "dev/loop1").unlink()
    degraded(rig)
    result = zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop1")
    assert result["actions"] == [] and result["changes"] == {}
    assert result["waits"] == ["remote side /dev/loop1 of pool mdtpool is OFFLINE and the device is not there yet"]
    assert rig.calls("zpool") == [STATUS_J]


def test_heal_says_when_online_left_the_device_down(env):
    rig, zfsmirror = env
    degraded(rig, after="zfs-json/zpool_status_j_degraded.json")
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop1")
    assert str(err.value) == (
        "/dev/loop1 is still OFFLINE in pool mdtpool after zpool online/clear (done: mdtpool:/dev/loop1)"
    )


@needs_blkid
def test_heal_replaces_a_dead_device_by_the_new_lun(env):
    rig, zfsmirror = env
    degraded(rig, extra=[(("replace",), cap("zfs/zpool_replace.txt"))])
    plan = zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop2", test=True)
    assert plan["actions"][0]["command"][1:] == ["replace", "mdtpool", "/dev/loop1", "/dev/loop2"]
    assert plan["changes"] == {"mdtpool:/dev/loop2": {"old": "/dev/loop1 OFFLINE", "new": "replacing /dev/loop1"}}
    assert rig.calls("zpool") == [STATUS_J, ["create", "-n", "mdtmirror_probe", "/dev/loop2"]]
    # blkid twice: is it the dead vdev come back under a new name (no ZFS label: no), then disk_in_use
    assert rig.calls("blkid") == [["-p", "-o", "export", "/dev/loop2"]] * 2
    # the real run passes zpool's own refusal on (the captured replace of a missing path)
    degraded(rig, extra=[(("replace",), cap("zfs/zpool_replace.txt"))])
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop2")
    assert (
        str(err.value) == "zpool replace mdtpool /dev/loop1 /dev/loop2 failed (exit 1): cannot resolve path '/dev/sdb'"
    )


def test_heal_never_touches_a_working_device_it_was_not_told_about(env):
    rig, zfsmirror = env
    rig.play(zpool=[(("version",), cap("zfs/version.txt")), (("status",), cap("zfs-json/zpool_status_j.json"))])
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop2")
    assert str(err.value) == (
        "pool mdtpool has device /dev/loop1 (ONLINE), which is neither the local (/dev/loop0) nor the remote "
        "(/dev/loop2) side; heal does not replace a working device"
    )
    assert rig.calls("zpool") == [STATUS_J]


def test_heal_of_a_healthy_mirror_does_nothing(env):
    rig, zfsmirror = env
    rig.play(zpool=[(("version",), cap("zfs/version.txt")), (("status",), cap("zfs-json/zpool_status_j.json"))])
    result = zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/loop1")
    assert (result["actions"], result["changes"], result["waits"], result["redundant"]) == ([], {}, [], True)
    assert rig.calls("zpool") == [STATUS_J]


@pytest.fixture(scope="module")
def text_env(tmp_path_factory, module_salt_loaders):
    """A second host whose zpool output is read as text (OpenZFS 2.1/2.2 servers)."""
    rig = Rig(tmp_path_factory.mktemp("zfsrig-text"), zpool_output="text")
    loaders = module_salt_loaders(mdtmirror=rig.config, minion_id="mds02")
    return rig, loaders.modules.zfsmirror


@needs_blkid
def test_heal_attaches_the_missing_side_to_a_single_disk_pool(text_env):
    rig, zfsmirror = text_env
    rig.reset()
    rig.disk("dev/loop0")
    rig.disk("dev/sda")
    rig.play(
        zpool=[
            (("status",), cap("zfs/zpool_status_single.txt", "zfs/zpool_status_after_resilver.txt")),
            (("create", "-n"), cap("zfs-json/zpool_create_label_check.txt")),
            (("attach",), cap("zfs-json/zpool_attach_nowait.txt")),
        ]
    )
    done = zfsmirror.heal("mdtpool", "/dev/sda", "/dev/loop0")
    assert rig.calls("zpool") == [
        ["status", "-p", "-P", "mdtpool"],
        ["create", "-n", "mdtmirror_probe", "/dev/loop0"],
        ["attach", "mdtpool", "/dev/sda1", "/dev/loop0"],
        ["status", "-p", "-P", "mdtpool"],
    ]
    assert done["changes"] == {"mdtpool:/dev/loop0": {"old": None, "new": "attached to /dev/sda1"}}
    assert done["redundant"] is True and done["resilver"]["state"] == "finished"


@needs_blkid
def test_heal_does_not_attach_a_disk_in_use(text_env):
    rig, zfsmirror = text_env
    rig.reset()
    rig.disk("dev/loop0")
    rig.play(
        zpool=[
            (("status",), cap("zfs/zpool_status_single.txt")),
            (("create", "-n"), cap("zfs-json/zpool_create_foreign_label.txt")),
        ]
    )
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.heal("mdtpool", "/dev/sda", "/dev/loop0")
    assert str(err.value) == (
        "remote disk /dev/loop0 is in use: /dev/loop1 is part of active pool 'mdtpool'. Not adding it to pool mdtpool"
    )
    assert not [c for c in rig.calls("zpool") if c[0] == "attach"]


# --------------------------------------------------------------------------
# import / export
# --------------------------------------------------------------------------


def importable(rig, listing="zfs-json/zpool_import_scan.txt", result="zfs/zpool_import.txt"):
    rig.play(
        zpool=[
            (LIST_POOLS, cap({"silent": 0}, "zfs/zpool_list_Hp.txt")),
            (("import", "-d", rig.import_dir, "$"), cap(listing)),
            (("import",), cap(result)),
        ]
    )


def test_import_pool_without_force_and_cachefile_none(env):
    rig, zfsmirror = env
    with_hostid(rig)
    importable(rig)
    plan = zfsmirror.import_pool("mdtpool", force=True, test=True)
    assert rig.calls("zpool") == [LIST_POOLS, ["import", "-d", rig.import_dir]]
    assert plan["forced"] is False and plan["note"] == "exported cleanly"
    importable(rig)
    done = zfsmirror.import_pool("mdtpool", force=True)
    assert rig.calls("zpool") == [
        LIST_POOLS,
        ["import", "-d", rig.import_dir],
        ["import", "-d", rig.import_dir, "-o", "cachefile=none", "mdtpool"],
        LIST_POOLS,
    ]
    assert done["changes"] == {"mdtpool": {"old": "exported", "new": "imported"}} and done["health"] == "ONLINE"


def test_import_pool_refusals(env):
    rig, zfsmirror = env
    importable(rig)
    with pytest.raises(CommandExecutionError, match="this host has no hostid in .*run zfsmirror.ensure_hostid"):
        zfsmirror.import_pool("mdtpool")
    assert rig.calls("zpool") == [LIST_POOLS]
    with_hostid(rig)
    importable(rig, listing="zfs/zpool_import_list_foreign.txt")
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.import_pool("mdtpool")
    assert str(err.value) == f"pool mdtpool is not among the pools on the disks in {rig.import_dir} (seen: none)"
    # zpool itself refuses (the captured import without hostid on the other guest)
    importable(rig, result="zfs-json/zpool_import_no_hostid.txt")
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.import_pool("mdtpool")
    assert str(err.value) == (
        "zpool import mdtpool refused (hostid_required): Cannot import 'mdtpool': pool has the multihost property "
        "on and the\nsystem's hostid is not set. Set a unique hostid with the zgenhostid(8) command."
    )
    rig.play(zpool=[(LIST_POOLS, cap("zfs/zpool_list_Hp.txt"))])
    assert zfsmirror.import_pool("mdtpool")["changed"] is False
    assert rig.calls("zpool") == [LIST_POOLS]


def test_export_pool(env):
    rig, zfsmirror = env
    rig.play(
        zpool=[(LIST_POOLS, cap("zfs/zpool_list_Hp.txt", {"silent": 0})), (("export",), cap("zfs/zpool_export.txt"))]
    )
    assert zfsmirror.export_pool("mdtpool", test=True)["changes"] == {"mdtpool": {"old": "imported", "new": "exported"}}
    assert rig.calls("zpool") == [LIST_POOLS]
    rig.play(
        zpool=[(LIST_POOLS, cap("zfs/zpool_list_Hp.txt", {"silent": 0})), (("export",), cap("zfs/zpool_export.txt"))]
    )
    zfsmirror.export_pool("mdtpool")
    assert rig.calls("zpool") == [LIST_POOLS, ["export", "mdtpool"], LIST_POOLS]
    rig.play(zpool=[(LIST_POOLS, SILENT)])
    assert zfsmirror.export_pool("mdtpool")["changed"] is False


# --------------------------------------------------------------------------
# zvol
# --------------------------------------------------------------------------

GET_ZVOL = ["get", "-H", "-p", "-r", "-t", "filesystem,volume"]


def test_create_zvol_plans_volume_and_parent_canmount(env, monkeypatch):
    rig, zfsmirror = env
    rig.play(zfs=[(("get",), cap("zfs/zfs_get_all.txt")), (("create",), SILENT), (("set",), SILENT)])
    plan = zfsmirror.create_zvol("mdtpool/mdt0/lun0", "1G", properties={"volblocksize": "16K"}, test=True)
    assert rig.calls("zfs") == [GET_ZVOL + ["type,volsize,volblocksize,canmount", "mdtpool/mdt0"]]
    assert plan["changes"] == {
        "mdtpool/mdt0/lun0": {"old": None, "new": {"volsize": 1 << 30, "volblocksize": "16K"}},
        "mdtpool/mdt0:canmount": {"old": "on", "new": "off"},
    }
    # udev's link to the zvol: the export names the LUN by it, so the real run waits for it (bounded).
    monkeypatch.setattr(zfsmirror.create_zvol.__globals__["zfs_host"], "ZVOL_DEVICE_WAIT", 0.5)
    with pytest.raises(CommandExecutionError, match="/dev/zvol/mdtpool/mdt0/lun0 did not appear within 0.5 s"):
        zfsmirror.create_zvol("mdtpool/mdt0/lun0", "1G", properties={"volblocksize": "16K"})
    link = rig.root / "dev" / "zvol" / "mdtpool" / "mdt0" / "lun0"
    link.parent.mkdir(parents=True)
    link.symlink_to("../../../zd0")
    (rig.root / "dev" / "zd0").write_text("")
    zfsmirror.create_zvol("mdtpool/mdt0/lun0", "1G", properties={"volblocksize": "16K"})
    create = [
        ["create", "-V", str(1 << 30), "-o", "volblocksize=16K", "mdtpool/mdt0/lun0"],
        ["set", "canmount=off", "mdtpool/mdt0"],
    ]
    assert [call for call in rig.calls("zfs") if call[0] != "get"] == create * 2


def test_create_zvol_refusals(env):
    rig, zfsmirror = env
    rig.play(zfs=[(("get",), cap("zfs/zfs_get_all.txt"))])
    with pytest.raises(CommandExecutionError, match="mdtpool/mdt0 exists and is a filesystem, not a volume"):
        zfsmirror.create_zvol("mdtpool/mdt0", "1G")
    for args, message in [
        (("mdtpool", "1G"), "give pool/volume"),
        (("mdtpool/lun", "lots"), "invalid size 'lots'"),
        (("mdtpool/lun", "1G", {"volsize": "2G"}), "give the zvol size as size"),
    ]:
        with pytest.raises(SaltInvocationError, match=message):
            zfsmirror.create_zvol(*args)


# --------------------------------------------------------------------------
# snapshots and retention
# --------------------------------------------------------------------------


def test_snapshot_name_and_single_call(env):
    rig, zfsmirror = env
    rig.play(zfs=[(("snapshot",), SILENT)])
    # 1795522722 is the creation time of the first captured snapshot: 2026-11-24 12:18:42 UTC
    plan = zfsmirror.snapshot("mdtpool/mdt0", now=1795522722, test=True)
    assert plan["snapshot"] == "mdtpool/mdt0@mdtmirror-20261124T121842Z"
    assert rig.calls() == []
    zfsmirror.snapshot("mdtpool/mdt0", now=1795522722)
    assert rig.calls() == [["zfs", "snapshot", "mdtpool/mdt0@mdtmirror-20261124T121842Z"]]
    with pytest.raises(SaltInvocationError, match="invalid snapshot prefix"):
        zfsmirror.snapshot("mdtpool/mdt0", prefix="a@b")


def golden_snapshots(rig, destroy="zfs/zfs_destroy_batch.txt", **more):
    rig.play(
        zfs=[
            (LIST_SNAPS, cap("zfs/zfs_list_snap.txt")),
            (("destroy",), cap(destroy)),
            (("holds",), cap("zfs/zfs_holds.txt")),
            (("send",), {"send": SEND_BYTES}),
            (("hold",), SILENT),
            (("release",), SILENT),
        ],
        **more,
    )


def test_prune_of_the_golden_list_is_the_captured_batch_destroy(env):
    rig, zfsmirror = env
    golden_snapshots(rig)
    done = zfsmirror.prune("mdtpool/mdt0", {"daily": 1}, now=1795522800)
    assert rig.calls() == [
        ["zfs"] + LIST_SNAPS + ["mdtpool/mdt0"],
        ["zfs"] + capture("zfs/zfs_destroy_batch.txt")[0].split()[1:],
    ]
    assert done["destroyed"] == ["mdtpool/mdt0@mdtmirror-20261121T0000Z", "mdtpool/mdt0@mdtmirror-20261122T0000Z"]
    assert done["kept"] == ["mdtpool/mdt0@mdtmirror-20261123T0000Z"]
    assert done["foreign"] == ["mdtpool/mdt0@manual-keep"] and done["held"] == []
    assert done["reclaimed"] == ["0B"]
    assert done["calls"] == [[rig.config["bin"]["zfs"]] + rig.calls("zfs")[1]]


def test_prune_policy_as_text_and_test_mode(env):
    rig, zfsmirror = env
    golden_snapshots(rig)
    plan = zfsmirror.prune("mdtpool/mdt0", "daily=1", now=1795522800, test=True)
    assert plan["destroyed"] == ["mdtpool/mdt0@mdtmirror-20261121T0000Z", "mdtpool/mdt0@mdtmirror-20261122T0000Z"]
    assert rig.calls("zfs") == [LIST_SNAPS + ["mdtpool/mdt0"]]


def test_prune_never_plans_a_held_snapshot(env):
    rig, zfsmirror = env
    golden_snapshots(rig)
    # prefix "m" makes manual-keep (userrefs 1) a candidate: it is the newest and the one daily slot is
    # the day of all four, so only its hold keeps it out; the other three go as one range.
    plan = zfsmirror.prune("mdtpool/mdt0", {"daily": 1}, prefix="m", now=1795522800, test=True)
    assert plan["held"] == ["mdtpool/mdt0@manual-keep"]
    assert "mdtpool/mdt0@manual-keep" not in plan["destroyed"]
    assert plan["destroyed"] == [
        "mdtpool/mdt0@mdtmirror-20261121T0000Z",
        "mdtpool/mdt0@mdtmirror-20261122T0000Z",
        "mdtpool/mdt0@mdtmirror-20261123T0000Z",
    ]
    assert [c[1:] for c in plan["calls"]] == [
        ["destroy", "-v", "mdtpool/mdt0@mdtmirror-20261121T0000Z%mdtmirror-20261123T0000Z"]
    ]
    assert rig.calls("zfs") == [LIST_SNAPS + ["mdtpool/mdt0"]]


def test_prune_checks_what_zfs_destroyed(env):
    rig, zfsmirror = env
    golden_snapshots(rig)
    # the plan destroys only the oldest; the (captured) answer names two: reported, loudly
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.prune("mdtpool/mdt0", {"frequently": 2}, now=1795522800)
    assert str(err.value) == (
        "zfs destroy mdtpool/mdt0@mdtmirror-20261121T0000Z destroyed mdtpool/mdt0@mdtmirror-20261121T0000Z, "
        "mdtpool/mdt0@mdtmirror-20261122T0000Z, the plan listed mdtpool/mdt0@mdtmirror-20261121T0000Z"
    )
    golden_snapshots(rig, destroy="zfs/zfs_destroy_held.txt")
    with pytest.raises(CommandExecutionError, match="it's being held"):
        zfsmirror.prune("mdtpool/mdt0", {"daily": 1}, now=1795522800)


# --------------------------------------------------------------------------
# backup
# --------------------------------------------------------------------------

NEWEST = "mdtpool/mdt0@mdtmirror-20261123T0000Z"


def test_backup_full_to_a_file(env, tmp_path):
    rig, zfsmirror = env
    golden_snapshots(rig)
    plan = zfsmirror.backup("mdtpool/mdt0", f"file:{tmp_path}", test=True)
    # the held snapshot's holds are read: its (captured) tag is "keep", not ours, so there is no base
    assert rig.calls() == [
        ["zfs"] + LIST_SNAPS + ["mdtpool/mdt0"],
        ["zfs", "holds", "-H", "mdtpool/mdt0@manual-keep"],
    ]
    assert (plan["snapshot"], plan["base"], plan["incremental"]) == (NEWEST, None, False)
    golden_snapshots(rig)
    done = zfsmirror.backup("mdtpool/mdt0", f"file:{tmp_path}")
    assert rig.calls("zfs")[2:] == [["send", NEWEST], ["hold", "mdtmirror-backup", NEWEST]]
    path = tmp_path / "mdtpool+mdt0@mdtmirror-20261123T0000Z.full.zsend"
    assert done["file"] == str(path) and os.listdir(tmp_path) == [path.name]
    assert path.read_bytes() == b"\0" * SEND_BYTES
    assert (
        done["bytes"] == SEND_BYTES and done["verified"] == f"{SEND_BYTES} bytes, exit codes 0 (zstream not available)"
    )


def test_backup_over_ssh_checks_the_receiver(env):
    rig, zfsmirror = env
    golden_snapshots(rig, ssh=[((), {"sink": 0})])
    done = zfsmirror.backup("mdtpool/mdt0", "ssh:backup@bk01:tank/mdt0")
    assert rig.calls("ssh") == [["-o", "BatchMode=yes", "backup@bk01", "zfs", "recv", "-u", "tank/mdt0"]]
    assert rig.sink("ssh") == {"bytes": SEND_BYTES, "sha256": hashlib.sha256(b"\0" * SEND_BYTES).hexdigest()}
    assert rig.calls("zfs")[-1] == ["hold", "mdtmirror-backup", NEWEST] and done["bytes"] == SEND_BYTES
    golden_snapshots(rig, ssh=[((), {"sink": 1})])
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.backup("mdtpool/mdt0", "ssh:backup@bk01:tank/mdt0")
    assert str(err.value) == (
        "backup stream failed: ssh -o BatchMode=yes backup@bk01 zfs recv -u tank/mdt0 exited 1: no output"
    )
    assert not [c for c in rig.calls("zfs") if c[0] in ("hold", "release")]


def test_backup_is_refused_when_zstream_cannot_vouch_for_the_stream(env, tmp_path):
    rig, zfsmirror = env
    rig.zstream(True)
    golden_snapshots(rig, zstream=[((), {"sink": 0})])
    with pytest.raises(CommandExecutionError) as err:
        zfsmirror.backup("mdtpool/mdt0", f"file:{tmp_path}")
    assert str(err.value) == (
        "backup stream failed: zstream dump rejected the stream (exit 0): no SUMMARY with BEGIN/END record counts"
    )
    assert rig.calls("zstream") == [["dump"]] and rig.sink("zstream")["bytes"] == SEND_BYTES
    assert os.listdir(tmp_path) == [] and not [c for c in rig.calls("zfs") if c[0] == "hold"]


def test_backup_nothing_new_to_send(env, tmp_path):
    rig, zfsmirror = env
    golden_snapshots(rig)
    # with prefix "m" the newest is manual-keep, and the captured `zfs holds` says it holds tag "keep"
    result = zfsmirror.backup("mdtpool/mdt0", f"file:{tmp_path}", prefix="m", hold_tag="keep")
    assert rig.calls("zfs") == [LIST_SNAPS + ["mdtpool/mdt0"], ["holds", "-H", "mdtpool/mdt0@manual-keep"]]
    assert result["changed"] is False and result["snapshot"] == "mdtpool/mdt0@manual-keep"


def test_backup_refusals(env, tmp_path):
    rig, zfsmirror = env
    golden_snapshots(rig)
    with pytest.raises(CommandExecutionError, match="backup directory /nonexistent/mdt does not exist"):
        zfsmirror.backup("mdtpool/mdt0", "file:/nonexistent/mdt")
    with pytest.raises(CommandExecutionError, match="mdtpool/mdt0 has no snapshot named auto-\\*"):
        zfsmirror.backup("mdtpool/mdt0", f"file:{tmp_path}", prefix="auto-")
    for dest in ("tank/mdt0", "ssh:-oProxyCommand=x:tank/mdt0", "ssh:bk01:tank mdt0", "file:relative"):
        with pytest.raises(SaltInvocationError, match="invalid backup"):
            zfsmirror.backup("mdtpool/mdt0", dest)


# --------------------------------------------------------------------------
# periodic jobs
# --------------------------------------------------------------------------

SERVICE = """# Written by Salt (zfsmirror) for mdtmirror-snapshot-mdt0; local edits are overwritten.

[Unit]
Description=mdtmirror snapshots of mdtpool/mdt0 (mdtmirror-*, keep hourly=48,daily=90)
After=zfs.target

[Service]
Type=oneshot
ExecCondition={zfs} list -H -o name mdtpool/mdt0
ExecStart=/usr/bin/salt-call --local --retcode-passthrough zfsmirror.snapshot mdtpool/mdt0 prefix=mdtmirror-
ExecStart=/usr/bin/salt-call --local --retcode-passthrough zfsmirror.prune mdtpool/mdt0 \
policy=hourly=48,daily=90 prefix=mdtmirror-
"""

TIMER = """# Written by Salt (zfsmirror) for mdtmirror-snapshot-mdt0; local edits are overwritten.

[Unit]
Description=Timer of mdtmirror-snapshot-mdt0

[Timer]
OnCalendar=*-*-* *:00/15:00
Persistent=true

[Install]
WantedBy=timers.target
"""


def test_snapshot_job_writes_units_and_enables_the_timer_once(env):
    rig, zfsmirror = env
    units = rig.root / "etc/systemd/system"
    plan = zfsmirror.snapshot_job("mdt0", "mdtpool/mdt0", {"daily": 90, "hourly": 48}, interval=15, test=True)
    assert sorted(plan["changes"]) == sorted(
        [
            str(units / "mdtmirror-snapshot-mdt0.service"),
            str(units / "mdtmirror-snapshot-mdt0.timer"),
            str(units / "timers.target.wants/mdtmirror-snapshot-mdt0.timer"),
        ]
    )
    assert rig.calls() == [] and not units.exists()
    done = zfsmirror.snapshot_job("mdt0", "mdtpool/mdt0", "hourly=48,daily=90", interval=15)
    assert done["changes"] == plan["changes"]
    service = SERVICE.replace("\\\n", "").format(zfs=rig.config["bin"]["zfs"])
    assert (units / "mdtmirror-snapshot-mdt0.service").read_text() == service
    assert (units / "mdtmirror-snapshot-mdt0.timer").read_text() == TIMER
    link = units / "timers.target.wants/mdtmirror-snapshot-mdt0.timer"
    assert os.readlink(link) == "/etc/systemd/system/mdtmirror-snapshot-mdt0.timer"
    assert rig.calls() == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "restart", "mdtmirror-snapshot-mdt0.timer"],
    ]
    rig.play()
    again = zfsmirror.snapshot_job("mdt0", "mdtpool/mdt0", {"hourly": 48, "daily": 90}, interval=15)
    assert again["changes"] == {} and rig.calls() == []
    # a changed policy rewrites the service only
    changed = zfsmirror.snapshot_job("mdt0", "mdtpool/mdt0", {"hourly": 24}, interval=15)
    assert list(changed["changes"]) == [str(units / "mdtmirror-snapshot-mdt0.service")]


def test_backup_job_unit(env, tmp_path):
    rig, zfsmirror = env
    zfsmirror.backup_job("mdt0", "mdtpool/mdt0", f"file:{tmp_path}")
    service = (rig.root / "etc/systemd/system/mdtmirror-backup-mdt0.service").read_text()
    assert (
        "ExecStart=/usr/bin/salt-call --local --retcode-passthrough zfsmirror.backup mdtpool/mdt0 "
        f"destination=file:{tmp_path} prefix=mdtmirror- hold_tag=mdtmirror-backup\n"
    ) in service
    timer = (rig.root / "etc/systemd/system/mdtmirror-backup-mdt0.timer").read_text()
    assert "OnCalendar=daily\n" in timer
    with pytest.raises(CommandExecutionError, match="backup directory /nonexistent does not exist"):
        zfsmirror.backup_job("mdt0", "mdtpool/mdt0", "file:/nonexistent")


def test_every_cli_function_has_a_cli_example(env):
    _, zfsmirror = env
    for name in zm.__all__:
        assert "CLI Example:" in getattr(zm, name).__doc__, name
        assert callable(getattr(zfsmirror, name))


def test_heal_knows_a_device_by_any_of_its_by_id_names(env):
    """Seen on a real kernel: the pool named an SRP disk by the wwn- link that ``zpool import -d
    /dev/disk/by-id`` met first, while the plan gave its scsi-3 link: the same device, not a stranger."""
    rig, zfsmirror = env
    by_id = rig.root / "dev/disk/by-id"
    by_id.mkdir(parents=True, exist_ok=True)
    made = [by_id / "wwn-0x6001405bbbbbbbbb", by_id / "scsi-36001405bbbbbbbbb"]
    for link in made:
        if not link.is_symlink():
            link.symlink_to("../../loop1")
    try:
        rig.play(zpool=[(("version",), cap("zfs/version.txt")), (("status",), cap("zfs-json/zpool_status_j.json"))])
        # The capture's pool records /dev/loop1; the plan knows the disk only by a by-id name of it.
        result = zfsmirror.heal("mdtpool", "/dev/loop0", "/dev/disk/by-id/scsi-36001405bbbbbbbbb")
        assert (result["actions"], result["changes"], result["redundant"]) == ([], {}, True)
    finally:
        for link in made:
            link.unlink()
