"""SCST emulator rules the captures show only in part: sessions and LUN-set
assignment, EAGAIN, and kernel rules from the notes/source (nv_cache switch,
blockio on a non-block file, one command per write, target naming).

Group assignment follows scst_targ.c: groups in creation order, names in
insertion order, DOS wildcards (``*``, ``?``, a first ``!`` negates, case-
insensitive), first match wins, else the target's own LUNs; the capture's
2-channel login (tree-2) is tested in test_scst_emulator_replay.py.
"""

import errno
import time

import pytest

from tests.emul.host import HostConfig
from tests.emul.replay import CAPTURE_GID, capture_host
from tests.emul.scstkernel import ScstKernel, wildcmp

T = CAPTURE_GID
TGT = "targets/ib_srpt/" + T


@pytest.fixture
def k(tmp_path):
    return ScstKernel(capture_host(tmp_path, loops=3))


def w(kernel, path, text):
    kernel.write(path, (text + "\n").encode())


def werr(kernel, path, text):
    with pytest.raises(OSError) as e:
        w(kernel, path, text)
    return e.value.errno


def last_res(kernel):
    return int(kernel.read("last_sysfs_mgmt_res"))


def setup_luns(kernel):
    w(kernel, "handlers/vdisk_blockio/mgmt", "add_device META filename=/dev/loop0")
    w(kernel, "handlers/vdisk_blockio/mgmt", "add_device DATA filename=/dev/loop1")
    w(kernel, "handlers/vdisk_blockio/mgmt", "add_device OTHER filename=/dev/loop2")
    w(kernel, TGT + "/luns/mgmt", "add OTHER 0")


def group(kernel, name, luns, initiators):
    w(kernel, TGT + "/ini_groups/mgmt", "create " + name)
    for lun, dev in luns.items():
        w(kernel, TGT + "/ini_groups/%s/luns/mgmt" % name, "add %s %d" % (dev, lun))
    for ini in initiators:
        w(kernel, TGT + "/ini_groups/%s/initiators/mgmt" % name, "add " + ini)


def test_wildcmp_examples_from_scst_source():
    assert wildcmp("bl?h.*", "blah.jpg")
    assert not wildcmp("bl!?h.*", "blah.jpg")
    assert wildcmp("*", "fe80:0000:0000:0000:0002:c903:0003:cca7")
    assert wildcmp("FE80:*:CCA7", "fe80:0000:0000:0000:0002:c903:0003:cca7")
    assert not wildcmp("10.0.2.1?", "10.0.2.1")
    assert wildcmp("!10.0.2.*", "192.168.0.1") and not wildcmp("!10.0.2.*", "10.0.2.15")
    assert not wildcmp("a!b", "ab") and wildcmp("a!b", "ac")  # "a", then NOT "b"
    assert wildcmp("10.0.2.15", "10.0.2.15") and not wildcmp("10.0.2.15", "10.0.2.150")


def test_first_matching_group_in_creation_order(k):
    setup_luns(k)
    group(k, "WIDE", {0: "DATA"}, ["10.0.*"])
    group(k, "EXACT", {0: "META"}, ["10.0.2.15"])
    w(k, TGT + "/enabled", "1")
    # the wildcard group was created first: it wins over the exact name
    assert k.sessions_login(T, "10.0.2.15") == "WIDE"
    assert k.lun_device_for(T, "10.0.2.15", 0) == "/dev/loop1"
    # no group matches: the target's own LUNs (SCST names that set after the target)
    assert k.sessions_login(T, "192.168.7.7") == T
    assert k.lun_device_for(T, "192.168.7.7", 0) == "/dev/loop2"
    assert k.lun_device_for(T, "192.168.7.7", 1) is None
    assert k.readlink(TGT + "/sessions/10.0.2.15/luns") == "../../ini_groups/WIDE/luns"
    assert k.readlink(TGT + "/sessions/192.168.7.7/luns") == "../../luns"
    assert 'scst: Using security group "WIDE" for initiator "10.0.2.15" (target %s)' % T in k.dmesg


def test_same_name_in_two_groups_first_group_wins(k):
    # the kernel allows it (scstadmin refuses such a configuration)
    setup_luns(k)
    group(k, "A", {0: "META"}, ["x", "10.0.2.15"])
    group(k, "B", {0: "DATA"}, ["10.0.2.15"])
    assert k.group_for(T, "10.0.2.15") == "A"
    assert k.group_for(T, "X") == "A"  # case-insensitive match
    assert k.group_for(T, "10.0.2.16") == T


def test_negation_and_single_char_patterns(k):
    setup_luns(k)
    group(k, "NOTLAN", {0: "DATA"}, ["!10.0.2.*"])
    group(k, "ONE", {0: "META"}, ["10.0.2.?"])
    assert k.group_for(T, "192.168.1.1") == "NOTLAN"
    assert k.group_for(T, "10.0.2.5") == "ONE"
    assert k.group_for(T, "10.0.2.55") == T


def test_channels_sessions_and_comp_vectors(k):
    setup_luns(k)
    group(k, "MDS", {0: "META"}, ["10.0.2.15"])
    w(k, TGT + "/enabled", "1")
    assert k.sessions_login(T, "10.0.2.15", channels=3) == "MDS"
    assert k.session_names(T) == ["10.0.2.15", "10.0.2.15_1", "10.0.2.15_2"]
    assert [k.read(TGT + "/sessions/%s/comp_vector" % s) for s in k.session_names(T)] == [b"1\n", b"0\n", b"1\n"]
    assert k.read(TGT + "/sessions/10.0.2.15_2/initiator_name") == b"10.0.2.15\n"
    assert k.sessions_logout(T, "10.0.2.15") == 3
    assert k.listdir(TGT + "/sessions") == []


def test_disabled_target_refuses_login_and_disabling_closes_sessions(k):
    setup_luns(k)
    group(k, "MDS", {0: "META"}, ["10.0.2.15"])
    assert k.read(TGT + "/enabled") == b"0\n"
    assert k.sessions_login(T, "10.0.2.15") is None
    assert k.listdir(TGT + "/sessions") == []
    w(k, TGT + "/enabled", "1")
    assert k.sessions_login(T, "10.0.2.15", channels=2) == "MDS"
    assert len(k.listdir(TGT + "/sessions")) == 2
    w(k, TGT + "/enabled", "0")
    assert k.listdir(TGT + "/sessions") == []
    assert k.read(TGT + "/rel_tgt_id") == b"1\n[key]\n"  # stays once assigned


def test_group_with_sessions_cannot_be_deleted(k):
    setup_luns(k)
    group(k, "MDS", {0: "META"}, ["10.0.2.15"])
    w(k, TGT + "/enabled", "1")
    k.sessions_login(T, "10.0.2.15")
    assert werr(k, TGT + "/ini_groups/mgmt", "del MDS") == errno.EBUSY
    assert last_res(k) == -errno.EBUSY
    k.sessions_logout(T, "10.0.2.15")
    w(k, TGT + "/ini_groups/mgmt", "del MDS")
    assert k.listdir(TGT + "/ini_groups") == ["mgmt"]
    # its LUN went with it: META is only the copy manager's now
    assert [k.readlink("devices/META/exported/" + e) for e in k.listdir("devices/META/exported")] == [
        "../../../targets/copy_manager/copy_manager_tgt/luns/0"
    ]


def test_sessions_are_reassigned_when_initiators_change(k):
    # scst_lib.c: adding/removing/moving an initiator name re-runs the group
    # lookup for every live session (scst_check_reassign_sessions)
    setup_luns(k)
    group(k, "MDS", {0: "META"}, [])
    w(k, TGT + "/enabled", "1")
    assert k.sessions_login(T, "10.0.2.15") == T
    w(k, TGT + "/ini_groups/MDS/initiators/mgmt", "add 10.0.2.15")
    assert k.readlink(TGT + "/sessions/10.0.2.15/luns") == "../../ini_groups/MDS/luns"
    assert k.lun_device_for(T, "10.0.2.15", 0) == "/dev/loop0"
    w(k, TGT + "/ini_groups/MDS/initiators/mgmt", "clear")
    assert k.readlink(TGT + "/sessions/10.0.2.15/luns") == "../../luns"


def test_lun_sets_follow_lun_changes(k):
    setup_luns(k)
    group(k, "MDS", {0: "META"}, ["10.0.2.15"])
    w(k, TGT + "/enabled", "1")
    k.sessions_login(T, "10.0.2.15")
    assert k.listdir(TGT + "/sessions/10.0.2.15").count("lun0") == 1
    w(k, TGT + "/ini_groups/MDS/luns/mgmt", "replace DATA 0 read_only=1")
    assert k.lun_device_for(T, "10.0.2.15", 0) == "/dev/loop1"
    assert k.read(TGT + "/ini_groups/MDS/luns/0/read_only") == b"1\n[key]\n"
    w(k, TGT + "/ini_groups/MDS/luns/mgmt", "add META 16383")
    assert werr(k, TGT + "/ini_groups/MDS/luns/mgmt", "add META 16384") == errno.EINVAL
    w(k, "handlers/vdisk_fileio/mgmt", "del_device DATA")  # any vdisk handler deletes any vdisk device
    assert k.lun_device_for(T, "10.0.2.15", 0) is None
    assert "lun0" not in k.listdir(TGT + "/sessions/10.0.2.15")
    w(k, TGT + "/ini_groups/MDS/luns/mgmt", "clear")
    assert k.luns_for(T, "10.0.2.15") == {}


# ---------------------------------------------------------------------------
# EAGAIN
# ---------------------------------------------------------------------------


def test_eagain_injection_completes_later(tmp_path):
    k = ScstKernel(capture_host(tmp_path, loops=1, eagain_every=2, eagain_delay=0.3))
    w(k, TGT + "/ini_groups/mgmt", "create G1")  # 1st work: synchronous
    assert werr(k, TGT + "/ini_groups/mgmt", "create G2") == errno.EAGAIN  # 2nd: EAGAIN
    with pytest.raises(BlockingIOError):
        k.read("last_sysfs_mgmt_res")
    assert "G2" not in k.listdir(TGT + "/ini_groups")
    # attribute stores that do not go through the sysfs work thread are not delayed
    w(k, TGT + "/port_id", "MDS port")
    assert k.read(TGT + "/port_id") == b"MDS port\n[key]\n"
    time.sleep(0.35)
    assert k.read("last_sysfs_mgmt_res") == b"0\n"
    assert "G2" in k.listdir(TGT + "/ini_groups")
    # a failing command behind EAGAIN: the errno only shows in last_sysfs_mgmt_res
    w(k, TGT + "/ini_groups/mgmt", "create G3")
    assert werr(k, TGT + "/ini_groups/mgmt", "create G1") == errno.EAGAIN
    # the next write waits behind the delayed one (one worker thread, in order)
    t0 = time.monotonic()
    w(k, TGT + "/ini_groups/mgmt", "create G4")
    assert time.monotonic() - t0 >= 0.2
    assert last_res(k) == 0
    assert werr(k, TGT + "/ini_groups/mgmt", "create G5") == errno.EAGAIN
    k.settle()
    assert sorted(k.listdir(TGT + "/ini_groups")) == ["G1", "G2", "G3", "G4", "G5", "mgmt"]


def test_eagain_then_errno_in_last_res(tmp_path):
    k = ScstKernel(capture_host(tmp_path, loops=1, eagain_every=1, eagain_delay=0.05))
    assert werr(k, TGT + "/ini_groups/mgmt", "create G1") == errno.EAGAIN
    assert werr(k, TGT + "/ini_groups/mgmt", "create G1") == errno.EAGAIN
    time.sleep(0.1)
    assert last_res(k) == -errno.EEXIST


# ---------------------------------------------------------------------------
# kernel rules from the notes and the source
# ---------------------------------------------------------------------------


def test_nv_cache_silent_switch_when_flush_fails(tmp_path):
    k = ScstKernel(capture_host(tmp_path, loops=2, no_flush={"/dev/loop0", "/dev/loop1"}))
    w(k, "handlers/vdisk_blockio/mgmt", "add_device M filename=/dev/loop0")
    assert k.read("devices/M/nv_cache") == b"1\n[key]\n"
    assert any("doesn't support barriers, switching to NV_CACHE mode" in m for m in k.dmesg)
    # write_through devices are not test-flushed
    w(k, "handlers/vdisk_blockio/mgmt", "add_device N filename=/dev/loop1;write_through=1")
    assert k.read("devices/N/nv_cache") == b"0\n"
    assert k.read("devices/N/write_through") == b"1\n[key]\n"


def test_blockio_needs_a_block_device(k):
    assert werr(k, "handlers/vdisk_blockio/mgmt", "add_device F filename=/tmp/d1") == errno.ENOTBLK
    assert not k.exists("devices/F")
    w(k, "handlers/vdisk_fileio/mgmt", "add_device F filename=/dev/loop0")  # fileio takes either


def test_one_command_per_write_is_the_kernel_parser(k):
    # "create G1\ncreate G2" creates G1 only (the capture's "two commands" form):
    # the ini_groups parser reads two tokens and ignores the rest. Parsers that
    # check for extra tokens fail instead, e.g. del_device:
    w(k, TGT + "/ini_groups/mgmt", "create G1\ncreate G2")
    assert k.listdir(TGT + "/ini_groups") == ["mgmt", "G1"]
    w(k, "handlers/vdisk_blockio/mgmt", "add_device A filename=/dev/loop0")
    w(k, "handlers/vdisk_blockio/mgmt", "add_device B filename=/dev/loop1")
    assert werr(k, "handlers/vdisk_blockio/mgmt", "del_device A\ndel_device B") == errno.EINVAL
    assert k.exists("devices/A") and k.exists("devices/B")
    # and add_device takes a second line as more parameters
    assert werr(k, "handlers/vdisk_blockio/mgmt", "add_device C filename=/dev/loop2\nadd_device D") == errno.EINVAL
    # tokens split on blanks and '='; keywords and parameter names in any case
    w(k, "handlers/vdisk_blockio/mgmt", "Add_Device C FILENAME /dev/loop2 ; BlockSize=0x1000")
    assert k.read("devices/C/blocksize") == b"4096\n[key]\n"


def test_attribute_rules(k):
    w(k, "handlers/vdisk_blockio/mgmt", "add_device A filename=/dev/loop0")
    assert werr(k, "devices/A/t10_dev_id", "x" * 26) == errno.EINVAL
    w(k, "devices/A/t10_dev_id", "x" * 25)
    assert k.read("devices/A/t10_dev_id") == b"x" * 25 + b"\n[key]\n"
    assert werr(k, "devices/A/usn", "1" * 21) == errno.EINVAL
    w(k, "devices/A/prod_id", "A")  # default value written: still [key]
    assert k.read("devices/A/prod_id") == b"A\n[key]\n"
    with pytest.raises(OSError) as e:
        k.write("devices/A/nosuch", b"1\n", create=True)
    assert e.value.errno == errno.EACCES
    with pytest.raises(OSError) as e:
        k.write("devices/A/nosuch", b"1\n")
    assert e.value.errno == errno.ENOENT
    with pytest.raises(OSError) as e:
        k.read("devices/A/sync")
    assert e.value.errno == errno.EACCES
    # bit 2: past the 2 CPUs (cpumask_parse: EOVERFLOW), or past the 2 completion
    # vectors on a 4-CPU host (ib_srpt: EINVAL)
    assert werr(k, TGT + "/comp_v_mask", "4") == errno.EOVERFLOW
    k4 = ScstKernel(HostConfig(root=k.host.root, ports=k.host.ports, nr_cpus=4))
    assert werr(k4, TGT + "/comp_v_mask", "4") == errno.EINVAL
    assert k4.read(TGT + "/cpu_mask") == b"f\n"
    w(k, TGT + "/comp_v_mask", "1")
    assert k.read(TGT + "/comp_v_mask") == b"1\n[key]\n"
    assert k.read(TGT + "/login_info").startswith(b"tid_ext=005400fffe123456,ioc_guid=005400fffe123456,")


def test_setup_id_feeds_default_ids(tmp_path):
    k = ScstKernel(capture_host(tmp_path, loops=1, setup_id=0x1234))
    assert k.read("setup_id") == b"0x1234\n[key]\n"
    w(k, "handlers/vdisk_blockio/mgmt", "add_device MDT1 filename=/dev/loop0")
    assert k.read("devices/MDT1/t10_dev_id") == b"123480130d8a-MDT1\n"
    assert k.read("devices/MDT1/usn") == b"123480130d8a\n"


def test_old_target_scheme_one_target_per_hca(tmp_path):
    ports = [
        dict(hca="mlx4_0", port=p, gid="fe80:0000:0000:0000:0002:c903:0005:f34%d" % (a + p), link_layer="InfiniBand")
        for p, a in ((1, 10), (2, 10))
    ]
    for p in ports:
        p["node_guid"] = "0002:c903:0005:f34e"
    k = ScstKernel(HostConfig(root=str(tmp_path), ports=ports, target_scheme="old"))
    assert k.listdir("targets/ib_srpt") == ["ib_srpt_target_0"]
    k2 = ScstKernel(HostConfig(root=str(tmp_path), ports=ports))
    assert k2.listdir("targets/ib_srpt") == [p["gid"] for p in ports]
    assert k2.read("targets/ib_srpt/%s/link_layer" % ports[0]["gid"]) == b"InfiniBand\n"


def test_host_config_json_and_sysfs_class(tmp_path):
    host = capture_host(tmp_path, loops=1, no_flush={"/dev/loop0"}, eagain_every=3)
    again = HostConfig.from_json(host.to_json())
    assert again == host
    host.write_sysfs_class()
    ib = tmp_path / "sys/class/infiniband/rxe0"
    assert (ib / "node_guid").read_text() == "5054:00ff:fe12:3456\n"
    assert (ib / "ports/1/gids/0").read_text() == CAPTURE_GID + "\n"
    assert (ib / "ports/1/link_layer").read_text() == "Ethernet\n"
    assert (ib / "ports/1/state").read_text() == "4: ACTIVE\n"
    assert all((tmp_path / "sys/module" / m).is_dir() for m in ("scst", "scst_vdisk", "ib_srpt"))
    with pytest.raises(ValueError):
        HostConfig.from_dict({"root": "/", "bogus": 1})
