"""Data written through the initiator's /dev/disk/by-id path lands in the peer's backing file
(login.txt: dd to /dev/sda, then cmp with the target's /dev/loop0 printed backing-matches)."""

import os

import pytest

from tests.emul.rig import make_pair, scst_export

LINE = "id_ext=005400fffe000002,ioc_guid=005400fffe000002,dest=10.0.0.2:5555"


def add_target(host, line):
    fd = os.open(host.root / "sys/class/infiniband_srp/srp-rxe0-1/add_target", os.O_WRONLY)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


@pytest.fixture
def pair(tmp_path):
    p = make_pair(tmp_path, srp_kwargs={"udev_delay": 0.3})
    yield p.hosts["mds01"], p.hosts["mds02"]
    p.stop()


def test_bytes_land_at_the_same_offset_of_the_peer_backing_file(pair):
    a, b = pair
    (b.root / "dev" / "mdt1").write_bytes(b"\0" * (8 << 20))
    scst_export(b, [a.ip], blocksize=4096)
    scst_export(b, [a.ip], device="OST1", filename="/dev/mdt1", lun=1)
    add_target(a, LINE)
    by_id = a.root / "dev/disk/by-id"
    # udev has not run yet: the disks exist, their by-id links come udev_delay later
    assert sorted(n for n in os.listdir(a.root / "dev") if n.startswith("sd")) == ["sda", "sdb"]
    assert os.listdir(by_id) == []
    names = {}
    for _ in range(100):
        names = {n: os.readlink(by_id / n) for n in os.listdir(by_id)}
        if len(names) == 2:
            break
        os.listdir(a.root / "sys/class/scsi_host")  # any sysfs access advances the emulator
        __import__("time").sleep(0.02)
    # LUN 0 first: sda is MDT1 (t10_dev_id <crc>-MDT1), sdb is OST1
    t10 = {dev: b.kernel.read("devices/%s/t10_dev_id" % dev).decode().split("\n")[0] for dev in ("MDT1", "OST1")}
    assert names == {
        "scsi-2" + t10["MDT1"][:8].encode().hex(): "../../sda",
        "scsi-2" + t10["OST1"][:8].encode().hex(): "../../sdb",
    }
    link = by_id / ("scsi-2" + t10["MDT1"][:8].encode().hex())
    blob = os.urandom(1 << 20)
    offset = 3 << 20
    fd = os.open(link, os.O_WRONLY)
    try:
        assert os.pwrite(fd, blob, offset) == len(blob)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(b.root / "dev/mdt0", "rb") as f:
        f.seek(offset)
        assert f.read(len(blob)) == blob
        f.seek(0)
        assert f.read(offset) == b"\0" * offset
    # and the other way: the peer's data read through the initiator's second disk
    with open(b.root / "dev/mdt1", "r+b") as f:
        f.seek(4096)
        f.write(b"OST-DATA")
    with open(a.root / "dev/sdb", "rb") as f:
        f.seek(4096)
        assert f.read(8) == b"OST-DATA"
    # the block sizes and sizes the initiator sees are the target's
    assert (a.root / "sys/block/sda/queue/logical_block_size").read_text() == "4096\n"
    assert (a.root / "sys/block/sdb/queue/logical_block_size").read_text() == "512\n"
    assert int((a.root / "sys/block/sda/size").read_text()) * 512 == os.path.getsize(b.root / "dev/mdt0")
    assert int((a.root / "sys/block/sdb/size").read_text()) * 512 == 8 << 20
