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


def test_connected_by_dest_then_disconnected(pair, salt_loaders):
    mds01 = salt_loaders(mdtmirror=pair.hosts["mds01"].mdtmirror, minion_id="mds01")
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
    target = {"id_ext": fields["tid_ext"], "ioc_guid": fields["ioc_guid"], "dest": f"{peer.ip}:5555"}

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
