"""The library's ib_srp object model (mdtmirror_lib.srp_tree), without Salt, on the fake host of test_srp_host.

The tree is the initiator of login.txt (SCST 3.11 target, ib_srp over soft-RoCE,
RDMA/CM): SCSI host2, remote port port-2:1, disk sda, beside the guest's ATA
host1. ``get`` stands for ``config.get``, ``run`` for ``cmd.run_all``.
"""

import errno
import os
import re

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import srp_tree
from tests.unit.test_srp_host import LOGIN_LINE, build_login, build_other_host, build_port


class Runner:
    """A command runner that records its calls and answers ``retcode`` 0."""

    def __init__(self):
        self.calls = []

    def __call__(self, cmd, **kwargs):
        self.calls.append((cmd, kwargs))
        return {"retcode": 0, "stdout": "", "stderr": ""}


def make_root(root, run=None, **config):
    values = {"mdtmirror:sysroot": str(root), "mdtmirror:srp_login_wait": 0.3, **config}
    return srp_tree.SrpRoot(lambda key, default=None: values.get(key, default), run)


@pytest.fixture
def host(tmp_path):
    root = tmp_path / "host"
    build_port(root)
    build_login(root)
    build_other_host(root)
    return root


@pytest.fixture
def bare_host(tmp_path):
    """The same host before the login."""
    root = tmp_path / "bare"
    build_port(root)
    build_other_host(root)
    return root


def test_the_tree_as_the_kernel_shapes_it(host):
    root = make_root(host)
    (port,) = root.initiator_ports()
    assert isinstance(port, srp_tree.InitiatorPort) and port.name == "srp-rxe0-1"
    assert port.path == str(host / "sys/class/infiniband_srp/srp-rxe0-1")
    info = port.info({("rxe0", 1): "/dev/infiniband/umad0"})
    assert (info["hca"], info["port"], info["active"], info["umad"]) == ("rxe0", 1, True, "/dev/infiniband/umad0")
    assert info["add_target"] == os.path.join(port.path, "add_target")
    assert root.ports() == [dict(info, umad=None)]
    assert [(n, h.name) for n, h in root.scsi_hosts()] == [(1, "host1"), (2, "host2")]
    (host1, host2) = (h for _n, h in root.scsi_hosts())
    assert (host1.read("proc_name"), host2.read("proc_name")) == ("ata_piix", "ib_srp")
    assert [name for name, _path in host2.scsi_devices()] == ["2:0:0:0"]
    rports = root.remote_ports()
    assert list(rports) == [2] and rports[2].name == "port-2:1" and rports[2].exists
    assert rports[2].attrs(("state", "dev_loss_tmo")) == {"state": "running", "dev_loss_tmo": "600"}
    (login,) = root.list_logins()
    assert (login["host"], login["remote_port"], login["port"]) == ("host2", "port-2:1", "srp-rxe0-1")
    assert root.module.exists is False


def test_ports_to_be_before_ib_srp_is_loaded(bare_host):
    root = make_root(bare_host)
    (bare_host / "sys/class/infiniband_srp/srp-rxe0-1").unlink()
    with pytest.raises(CommandExecutionError, match="no SRP initiator port: .* modprobe ib_srp"):
        root.resolve_port(None)
    predicted = root.resolve_port("rxe0/1", predict=True)
    assert (predicted["name"], predicted["hca"], predicted["port"]) == ("srp-rxe0-1", "rxe0", 1)


@pytest.mark.parametrize("ref", ["host2", "port-2:1", 2, "2", {"host": "host2"}, {"login": {"host": "host2"}}])
def test_host_of(ref):
    assert srp_tree.host_of(ref) == "host2"


def test_host_of_refuses_other_names():
    with pytest.raises(SaltInvocationError, match="invalid SRP login 'sda'"):
        srp_tree.host_of("sda")


def test_login_through_the_root(bare_host, host):
    root = make_root(bare_host)
    would = root.login(LOGIN_LINE, test=True)
    assert (would["changed"], would["port"], would["comment"]) == (True, "srp-rxe0-1", "would log in")
    add_target = bare_host / "sys/class/infiniband_srp/srp-rxe0-1/add_target"
    assert add_target.read_text() == ""
    with pytest.raises(CommandExecutionError, match="accepted .* but no login appeared in .*srp_remote_ports"):
        root.login(LOGIN_LINE)
    assert add_target.read_text() == LOGIN_LINE + "\n"
    done = make_root(host).login(LOGIN_LINE, port="rxe0:1")
    assert (done["changed"], done["host"], done["remote_port"]) == (False, "host2", "port-2:1")


@pytest.mark.parametrize(
    "code, message",
    [
        (errno.EACCES, "add_target: permission denied"),
        (errno.EEXIST, "already connected to that target port"),
        (errno.EINVAL, "rejected 'LINE' with EINVAL"),
        (errno.ECONNREFUSED, "target refused the login .*ECONNREFUSED"),
        (errno.EIO, "target refused the login .*EIO"),
        (errno.ETIMEDOUT, "no answer \\(ETIMEDOUT\\)"),
        (errno.ENXIO, "no path to the target: ENXIO"),
        (errno.ENOMEM, "add_target failed with ENOMEM"),
    ],
)
def test_add_target_errors_name_the_login_and_the_errno(tmp_path, code, message):
    path = tmp_path / "add_target"
    path.touch()
    exc = srp_tree.add_target_error(OSError(code, os.strerror(code)), "logging in to X", str(path), "LINE")
    assert isinstance(exc, CommandExecutionError)
    assert str(exc).startswith("logging in to X: ")
    assert re.search(message, str(exc)), str(exc)


def test_add_target_enoent_tells_a_missing_port_from_a_failed_setup(tmp_path):
    enoent = OSError(errno.ENOENT, "No such file or directory")
    missing = srp_tree.add_target_error(enoent, "X", str(tmp_path / "add_target"), "LINE")
    assert "does not exist (is ib_srp loaded?)" in str(missing)
    (tmp_path / "add_target").touch()
    setup = srp_tree.add_target_error(enoent, "X", str(tmp_path / "add_target"), "LINE")
    assert "P_Key not in the port's table?" in str(setup)


def test_remote_port_delete(host):
    root = make_root(host)
    rport = root.remote_ports()[2]
    rport.delete("host2")
    assert (host / "sys/class/srp_remote_ports/port-2:1/delete").read_text() == "1\n"
    gone = srp_tree.RemotePort(root, "port-9:1")
    with pytest.raises(CommandExecutionError, match=r"logging out host9 \(port-9:1\): writing .* failed with ENOENT"):
        gone.delete("host9")


def test_commands_go_through_the_runner(host):
    run = Runner()
    root = make_root(host, run, **{"mdtmirror:bin:modprobe": "/sbin/modprobe"})
    assert root.module.load({"dev_loss_tmo": 30, "fast_io_fail_tmo": 5}, ("ib_srp", "ib_umad")) == ["ib_srp", "ib_umad"]
    assert run.calls == [
        (["/sbin/modprobe", "ib_srp", "dev_loss_tmo=30", "fast_io_fail_tmo=5"], {}),
        (["/sbin/modprobe", "ib_umad"], {}),
    ]
    (host / "sys/module/ib_srp/parameters").mkdir(parents=True)
    (host / "sys/module/ib_srp/parameters/dev_loss_tmo").write_text("600\n")
    run.calls.clear()
    assert root.module.load({}, ("ib_srp",)) == [] and run.calls == []
    assert root.module.options()["running"] == {"dev_loss_tmo": "600"}


def test_disks_as_the_host_names_them(host):
    (disk,) = make_root(host).disks("port-2:1", timeout=0)
    assert disk["dev"] == "/dev/sda" and disk["by_id"] and all(p.startswith("/dev/disk/by-id/") for p in disk["by_id"])
    with pytest.raises(CommandExecutionError, match="SCSI host host7 does not exist"):
        make_root(host).disks("host7", timeout=0)


def test_config_files(host):
    root = make_root(host)
    assert root.rdma_conf_srp_load() is False  # no rdma.conf: nothing to do
    conf = host / "etc/rdma/rdma.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("SRP_LOAD=no\n")
    assert root.rdma_conf_srp_load(test=True) is True and conf.read_text() == "SRP_LOAD=no\n"
    assert root.rdma_conf_srp_load() is True and conf.read_text() == "SRP_LOAD=yes\n"
    assert root.persist_daemon_conf(LOGIN_LINE) is True
    assert root.persist_daemon_conf(LOGIN_LINE) is False
    assert root.module.persist_options({"dev_loss_tmo": 30}) is True
    assert root.module.options()["persisted"] == {"dev_loss_tmo": "30"}


@pytest.mark.parametrize("login", [{"login": {}}, {"login": {"host": None}}, {}, None, "sda", {"remote_port": "x"}])
def test_disks_of_something_that_names_no_login_is_refused_by_name(host, login):
    """Not a TypeError from deep inside: the refusal names what was given."""
    with pytest.raises(SaltInvocationError, match="invalid SRP login"):
        make_root(host).disks(login, timeout=0)
