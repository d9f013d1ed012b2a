"""Two emulated MDS hosts on one InfiniBand fabric, in roles: the standby
(mds02) exports its LUN with the formula's target side; the active (mds01,
made active with the operations' pillar ``mdtmirror_role``) logs in to the
peer's target port found by srp_daemon (no GUID typed anywhere).
"""

import pytest

from tests.emul.rig import make_pair

pytestmark = pytest.mark.slow


@pytest.fixture
def pair(tmp_path):
    pair = make_pair(tmp_path, link_layer="InfiniBand")
    yield pair
    pair.stop()


def peer_of(name):
    return {"mds01": "mds02", "mds02": "mds01"}[name]


def pillar(pair, name, initiators=None, role=None):
    peer = pair.hosts[peer_of(name)]
    return {
        "mdtmirror_role": role,
        "mdtmirror": {
            "target": {"device": "MDT0", "enable_service": False},
            "initiator": {
                "module_options": {"fast_io_fail_tmo": 5, "dev_loss_tmo": 30, "reconnect_delay": 3},
                "enable_daemon": False,  # no init system on an emulated host
            },
            # Over IB/CM, SCST names the session by the initiator's port GID,
            # which is also the name of the peer's own target.
            "node": {"lun_path": "/dev/mdt0", "initiators": initiators or [peer.target]},
        },
    }


def ok(result):
    assert not result.failed, result.errors
    failed = {state.id: state.comment for state in result if state.result is False}
    assert failed == {}
    return {state.id: state.changes for state in result if state.changes}


def test_active_logs_in_to_the_standby_from_discovery(pair, salt_loaders):
    loaders = {name: salt_loaders(mdtmirror=h.mdtmirror, minion_id=name) for name, h in pair.hosts.items()}
    standby, active = loaders["mds02"], loaders["mds01"]
    ok(standby.modules.state.sls("mdtmirror.target", pillar=pillar(pair, "mds02")))
    ok(active.modules.state.sls("mdtmirror.target", pillar=pillar(pair, "mds01", role="active")))
    assert "MDT0" not in pair.hosts["mds01"].kernel.devices, "the active exports nothing"

    predicted = ok(
        active.modules.state.sls("mdtmirror.initiator", pillar=pillar(pair, "mds01", role="active"), test=True)
    )
    assert "mdtmirror-srp-login" in predicted
    assert active.modules.srp.list_logins() == []
    applied = ok(active.modules.state.sls("mdtmirror.initiator", pillar=pillar(pair, "mds01", role="active")))
    assert applied == predicted
    assert ok(active.modules.state.sls("mdtmirror.initiator", pillar=pillar(pair, "mds01", role="active"))) == {}
    assert ok(standby.modules.state.sls("mdtmirror.target", pillar=pillar(pair, "mds02"))) == {}
    # The standby logs in nowhere (no pair: it knows no peer target to log out of, and has no login).
    assert ok(standby.modules.state.sls("mdtmirror.initiator", pillar=pillar(pair, "mds02"))) == {}
    assert standby.modules.srp.list_logins() == []

    for name, ld in (("mds01", active),):
        host, peer = pair.hosts[name], pair.hosts[peer_of(name)]
        logins = ld.modules.srp.list_logins()
        assert len(logins) == 1
        disks = ld.modules.srp.disks(logins[0])
        assert len(disks) == 1 and disks[0]["by_id"], disks
        by_id = disks[0]["by_id"][0]
        assert "/dev/disk/by-id/" in by_id
        # Data written through the SRP disk lands in the peer's backing file.
        payload = f"metadata from {name}".encode()
        with open(host.root / by_id.lstrip("/"), "r+b") as disk:
            disk.seek(1 << 20)
            disk.write(payload)
        with open(peer.root / "dev" / "mdt0", "rb") as backing:
            backing.seek(1 << 20)
            assert backing.read(len(payload)) == payload
        # Persistence: srp_daemon may log in to exactly this target again.
        conf = (host.root / "etc" / "srp_daemon.conf").read_text()
        assert logins[0]["ioc_guid"] in conf and conf.rstrip().endswith("d")


def test_initiator_not_in_peer_group_is_refused(pair, salt_loaders):
    mds01 = salt_loaders(mdtmirror=pair.hosts["mds01"].mdtmirror, minion_id="mds01")
    mds02 = salt_loaders(mdtmirror=pair.hosts["mds02"].mdtmirror, minion_id="mds02")
    # mds02 (standby) allows someone else, not mds01.
    stranger = "fe80:0000:0000:0000:0002:c903:0003:cca7"
    ok(mds02.modules.state.sls("mdtmirror.target", pillar=pillar(pair, "mds02", initiators=[stranger])))
    result = mds01.modules.state.sls("mdtmirror.initiator", pillar=pillar(pair, "mds01", role="active"))
    login = result["mdtmirror-srp-login"]
    assert login.result is False
    # SCST's ib_srpt lets the login in with no LUN (it never checks groups):
    # the state sees no disk, says why, and logs out again.
    assert "exports no LUN to this initiator" in login.comment
    assert "is this initiator in the target's security group?" in login.comment
    assert mds01.modules.srp.list_logins() == []
