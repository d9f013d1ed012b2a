"""srp states on RoCE (no subnet manager, so no discovery): log in by the
peer's address, with id_ext/ioc_guid read from the peer's own SCST target
(its login_info), then log out."""

import pytest

from tests.emul.rig import make_pair

pytestmark = pytest.mark.slow


@pytest.fixture
def pair(tmp_path):
    pair = make_pair(tmp_path, link_layer="Ethernet")
    yield pair
    pair.stop()


@pytest.fixture
def fresh_pair(tmp_path):
    """As a real node starts: ib_srp not loaded, so no /sys/class/infiniband_srp yet."""
    pair = make_pair(tmp_path, link_layer="Ethernet", srp_kwargs={"ib_srp_loaded": False})
    yield pair
    pair.stop()


def exported_target(pair, salt_loaders):
    """mds02 exports its LUN to mds01 (the target stage); the login dict mds01 uses (its login_info)."""
    mds02 = salt_loaders(mdtmirror=pair.hosts["mds02"].mdtmirror, minion_id="mds02")
    peer = pair.hosts["mds02"]
    target_pillar = {
        "mdtmirror": {
            "target": {"enable_service": False, "module_options": {"ib_srpt": {"rdma_cm_port": 5555}}},
            "node": {"lun_path": "/dev/mdt0", "initiators": [pair.hosts["mds01"].ip]},
        }
    }
    result = mds02.modules.state.sls("mdtmirror.target", pillar=target_pillar)
    assert all(state.result for state in result), [s.comment for s in result]

    # What the peer publishes about its target (the formula gets it from the mine).
    login_info = mds02.modules.scst.list_targets("ib_srpt")["ib_srpt"][peer.target]["attributes"]["login_info"]
    fields = dict(item.split("=") for item in login_info.split(","))
    return {"id_ext": fields["tid_ext"], "ioc_guid": fields["ioc_guid"], "dest": f"{peer.ip}:5555"}


def test_connected_predicted_before_ib_srp_is_loaded(fresh_pair, salt_loaders):
    """test=True on a fresh node: the login is predicted on the port ib_srp will make, not refused for a
    missing /sys/class/infiniband_srp; the real run (module loaded first, as the SLS does) matches it."""
    target = exported_target(fresh_pair, salt_loaders)
    mds01 = salt_loaders(mdtmirror=fresh_pair.hosts["mds01"].mdtmirror, minion_id="mds01")
    root = fresh_pair.hosts["mds01"].root
    assert not (root / "sys/class/infiniband_srp").exists()
    states = mds01.states.srp
    predicted = states.connected(name="peer", target=target, test=True)
    assert predicted.result is None, predicted.comment
    assert list(predicted.changes) == [f"srp-rxe0-1:{target['id_ext']}:{target['ioc_guid']}"], predicted.changes
    assert not (root / "sys/class/infiniband_srp").exists(), "test=True must load nothing"
    # Without test, a missing ib_srp is still an error naming it (the SLS loads it first).
    refused = states.connected(name="peer", target=target)
    assert refused.result is False and "modprobe ib_srp" in refused.comment, refused.comment
    assert states.module_loaded(name="ib_srp").result is True
    applied = states.connected(name="peer", target=target)
    assert applied.result is True, applied.comment
    assert applied.changes == predicted.changes


def test_connected_by_dest_then_disconnected(pair, salt_loaders):
    target = exported_target(pair, salt_loaders)
    mds01 = salt_loaders(mdtmirror=pair.hosts["mds01"].mdtmirror, minion_id="mds01")

    states = mds01.states.srp
    assert states.module_loaded(name="ib_srp").result is True
    predicted = states.connected(name="peer", target=target, test=True)
    assert predicted.result is None and predicted.changes
    assert mds01.modules.srp.list_logins() == []
    applied = states.connected(name="peer", target=target)
    assert applied.result is True, applied.comment
    assert applied.changes == predicted.changes
    assert "/dev/disk/by-id/scsi-" in applied.comment
    again = states.connected(name="peer", target=target)
    assert again.result is True and again.changes == {}

    # Bad option: refused before anything is written.
    bad = states.connected(name="peer2", target=dict(target, bogus_key=1))
    assert bad.result is False and "unknown SRP login option 'bogus_key'" in bad.comment

    gone_test = states.disconnected(name="peer", target=target, test=True)
    assert gone_test.result is None and gone_test.changes
    assert len(mds01.modules.srp.list_logins()) == 1
    gone = states.disconnected(name="peer", target=target)
    assert gone.result is True and gone.changes == gone_test.changes
    assert mds01.modules.srp.list_logins() == []
    assert states.disconnected(name="peer", target=target).changes == {}
