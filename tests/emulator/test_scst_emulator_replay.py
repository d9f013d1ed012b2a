"""The SCST kernel emulator (tests/emul/scstkernel.py) against the captures of a real SCST.

Everything here replays captured sessions of SCST 3.11.0-pre on Linux 6.1
(tests/golden/scst-3.11-pre-linux-6.1, the same files as shared/captures) on the
in-memory model and compares, step by step, errnos, ``last_sysfs_mgmt_res``,
read-backs, ``ls -la`` listings and whole trees. The captures are parsed, not
copied: a capture the parsers cannot follow fails the test.

Tree comparisons ignore only the values listed in ``tests.emul.replay._VOLATILE``
/ ``_PIDS`` (I/O counters, the SG allocator's statistics and kernel thread PIDs,
whose count is still compared); see ``normalize_dump``.

The FUSE path is tested in test_scst_emulator_fuse.py, sessions and EAGAIN in
test_scst_emulator_sessions.py.
"""

import errno

import pytest

from tests.captures import scst_capture
from tests.emul.replay import (
    CAPTURE_GID,
    ModelBackend,
    capture_host,
    parse_ops,
    replay_capture,
    replay_forms,
    replay_reapply,
    tree_diff,
)
from tests.emul.scstkernel import ScstKernel, crc32c

TGT = "targets/ib_srpt/" + CAPTURE_GID


def capture(name):
    return scst_capture(name).read_text()


def tree(name):
    return capture(name).splitlines()


@pytest.fixture
def kernel(tmp_path):
    # loop0/loop1 as in ops.txt (forms.txt also used loop2)
    return ScstKernel(capture_host(tmp_path, loops=3))


def configured(kernel):
    """The model after ops.txt (tree-1's state)."""
    checks, problems = replay_capture(capture("ops.txt"), ModelBackend(kernel))
    assert problems == []
    return kernel


# ---------------------------------------------------------------------------
# the capture parsers
# ---------------------------------------------------------------------------


def test_parse_ops_sees_every_write():
    text = capture("ops.txt")
    ops = parse_ops(text)
    assert len(ops) == sum(1 for line in text.splitlines() if line.startswith("$ echo '"))
    assert len(ops) == 52
    assert {op.errno for op in ops} == {0, errno.EEXIST, errno.EINVAL, errno.ENOENT, errno.EBUSY, errno.EACCES}
    # "sh: <path>: Permission denied" is the shell failing to open, not a write error
    assert {(op.path.rsplit("/", 1)[1], op.failed_at) for op in ops if op.errno == errno.EACCES} == {
        ("blocksize", "open"),
        ("nosuchattr", "open"),
    }


def test_default_t10_dev_id_and_usn_are_raw_crc32c_of_the_name():
    # tree-1: MDT1 -> 80130d8a, F1 -> 4538fc3a (Linux crc32c(0, name incl. NUL))
    assert "%x" % crc32c(0, b"MDT1\0") == "80130d8a"
    assert "%x" % crc32c(0, b"F1\0") == "4538fc3a"
    t1 = tree("tree-1-configured.txt")
    assert "F 644 devices/MDT1/t10_dev_id = 80130d8a-MDT1" in t1
    assert "F 644 devices/F1/usn = 4538fc3a" in t1


# ---------------------------------------------------------------------------
# trees
# ---------------------------------------------------------------------------


def test_fresh_model_is_tree0_byte_for_byte(kernel):
    # Nothing ignored here: the loaded state has no counters that moved.
    assert kernel.dump() == tree("tree-0-loaded.txt")


def test_ops_replay_errnos_last_res_readbacks_and_tree1(kernel):
    checks, problems = replay_capture(capture("ops.txt"), ModelBackend(kernel))
    assert problems == []
    # 52 writes with their last_sysfs_mgmt_res, help texts, ls -la listings, cats, read-backs
    assert checks >= 120
    assert tree_diff(tree("tree-1-configured.txt"), kernel.dump()) == []


def test_two_channel_login_gives_tree2(kernel):
    configured(kernel)
    assert kernel.sessions_login(CAPTURE_GID, "10.0.2.15", channels=2) == "MDS"
    got = [line for line in kernel.dump() if line.split(" ")[1 if line[0] == "D" else 2].startswith("targets")]
    assert tree_diff(tree("tree-2-session.txt"), got) == []


def test_logout_clear_config_and_reapply_give_tree3_and_tree4(kernel):
    configured(kernel)
    kernel.sessions_login(CAPTURE_GID, "10.0.2.15", channels=2)
    seen = {}

    def at_stage(name):
        want = {"clear_config": "tree-3-cleared.txt", "config": "tree-4-reapplied.txt"}[name]
        seen[name] = tree_diff(tree(want), kernel.dump())

    checks, problems = replay_reapply(
        capture("reapply.txt"), capture("scst.conf.written"), ModelBackend(kernel), kernel, at_stage
    )
    assert problems == []
    assert seen == {"clear_config": [], "config": []}
    # The copy manager's LUN counter is not reset: the re-opened devices got LUNs
    # 3 and 4 beside scstadmin's explicit 0 and 2; the final del_device MDT1 took
    # both of MDT1's.
    assert kernel.luns_for("copy_manager_tgt", "copy_manager_sess") == {2: "F1", 4: "F1"}
    assert checks >= 20


def test_forms_capture(kernel):
    """forms.txt ran on a freshly loaded SCST (the copy manager's LUNs start at 0,
    there is no MDS group yet, and 'groups after' lists only G1): that is the
    fresh model with /dev/loop0-2."""
    checks, problems = replay_forms(capture("forms.txt"), ModelBackend(kernel), TGT)
    assert problems == []
    assert checks >= 30


# ---------------------------------------------------------------------------
# the comparisons can fail
# ---------------------------------------------------------------------------


def test_replay_reports_a_wrong_errno(kernel):
    text = capture("ops.txt").replace(
        "$ echo 'add_device X3 filename=/dev/nosuchdisk' > handlers/vdisk_blockio/mgmt\n"
        "sh: echo: write error: No such file or directory",
        "$ echo 'add_device X3 filename=/dev/nosuchdisk' > handlers/vdisk_blockio/mgmt\n"
        "sh: echo: write error: Invalid argument",
    )
    _, problems = replay_capture(text, ModelBackend(kernel))
    assert len(problems) == 1 and "nosuchdisk" in problems[0]


def test_tree_diff_reports_a_wrong_host(tmp_path):
    # Without discard support, blockio does not auto-enable thin provisioning:
    # thin_provisioned reads 0 and the gen_tp_soft_threshold_reached_UA file is absent.
    k = ScstKernel(capture_host(tmp_path, loops=2, thin=set()))
    assert replay_capture(capture("ops.txt"), ModelBackend(k))[1] == []
    diff = tree_diff(tree("tree-1-configured.txt"), k.dump())
    assert "+F 444 devices/MDT1/thin_provisioned = 0" in diff
    assert any("gen_tp_soft_threshold_reached_UA" in d for d in diff)


def test_forms_replay_reports_a_wrong_start_state(tmp_path):
    # forms.txt needs a fresh SCST: after ops.txt, A1's loop1 is free but groups exist
    k = configured(ScstKernel(capture_host(tmp_path, loops=3)))
    _, problems = replay_forms(capture("forms.txt"), ModelBackend(k), TGT)
    assert problems
