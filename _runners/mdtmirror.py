"""
Pair operations seen from the master: which node gives the pool up and which
takes it, decided from what every node of the pair says about itself
(``mdtmirror.node_status``: the pool imported there or not, its health), by
one pure rule (``mdtmirror_lib.fleet.decide``). The orchestrations
``mdtmirror.switchover`` and ``mdtmirror.takeover`` run the steps.

Formula mode: ``salt-run saltutil.sync_all`` on the master: it copies this
runner and the library it stands on (``_utils/mdtmirror_lib``); with pip, the
``salt.loader`` entry point registers it and the library is installed.
"""

import salt.client
from salt.exceptions import SaltInvocationError

try:
    import mdtmirror_lib

    mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
    # The pure rules live in the library; their names stay here for callers and tests.
    from mdtmirror_lib.fleet import (  # noqa: E402
        decide,
        decide_failover,
        fleet_status,
        plan_rollout,
    )

    LIBRARY = None
except ImportError as exc:
    LIBRARY = exc

__virtualname__ = "mdtmirror"


def __virtual__():
    if LIBRARY is not None:
        return (
            False,
            f"the mdtmirror runner needs its library mdtmirror_lib ({LIBRARY}): in formula mode run "
            "salt-run saltutil.sync_all on the master (it copies _utils with _runners)",
        )
    return __virtualname__


def _ask(tgt, tgt_type="glob", timeout=30, fun="mdtmirror.node_status"):
    """
    ``{minion: node_status or whatever it said}`` of the minions matching
    ``tgt`` that returned, from one call to all of them (``timeout`` seconds,
    also for the job-status rounds of a silent one: the master's
    gather_job_timeout would add minutes to a takeover). A silent minion is
    absent, not the "Minion did not return" text LocalClient puts there.
    """
    client = salt.client.get_local_client(mopts=__opts__)
    got = client.cmd(
        tgt,
        fun,
        tgt_type=tgt_type,
        timeout=timeout,
        gather_job_timeout=timeout,
        full_return=True,
    )
    return {
        minion: ret.get("ret")
        for minion, ret in (got or {}).items()
        if isinstance(ret, dict) and "ret" in ret and not ret.get("failed") and ret.get("out") != "no_return"
    }


def operation_plan(operation, pair=None, to=None, force=False, tgt="*mds*", tgt_type="glob", timeout=30):
    """
    Ask every MDS matching ``tgt`` for its ``mdtmirror.node_status`` (one
    call to all, ``timeout`` seconds for answers, also for a node that does
    not answer at all) and :py:func:`decide`.

    CLI Example:

    .. code-block:: bash

        salt-run mdtmirror.operation_plan switchover pair=fs1-mdt0 to=mds02
    """
    statuses = {minion: ret for minion, ret in _ask(tgt, tgt_type, timeout).items() if isinstance(ret, dict)}
    return decide(operation, pair, statuses, to=to, force=force)


# --------------------------------------------------------------------------
# automatic takeover (opt-in): reactor/failover.sls calls this
# --------------------------------------------------------------------------


def failover(pair, to, timeout=15):
    """
    Automatic takeover, run by the reactor (``reactor/failover.sls``) when
    the standby ``to`` saw the active's session to its export go: ask
    ``to`` for its ``node_status``, then its peer (``timeout`` seconds
    each: a lost node never answers), :py:func:`decide_failover`, and if
    nothing refuses take over as ``mdtmirror.takeover`` does (``to``
    applies ``mdtmirror.activate``, then updates its mine). Fires ``mdtmirror/<pair>/failover/refused``, ``.../done`` or
    ``.../failed`` on the master's bus.

    CLI Example:

    .. code-block:: bash

        salt-run mdtmirror.failover pair=mdt0 to=mds02
    """
    import logging  # pylint: disable=import-outside-toplevel

    import salt.utils.event  # pylint: disable=import-outside-toplevel

    log = logging.getLogger(__name__)
    answers = {}
    asked = [to]
    for _ in range(2):  # to first: its answer names the peer, asked next by name (no fleet glob)
        answers.update(_ask(asked[-1], timeout=timeout))
        peer = (answers.get(to) or {}).get("peer") if isinstance(answers.get(to), dict) else None
        if not peer or peer in asked:
            break
        asked.append(peer)
    plan = decide_failover(pair, to, answers)
    bus = salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"], listen=False)
    if plan["refusal"]:
        log.warning("mdtmirror: %s", plan["refusal"])
        bus.fire_event({"pair": pair, "to": to, "comment": plan["refusal"]}, f"mdtmirror/{pair}/failover/refused")
        return {"result": False, "comment": plan["refusal"], "plan": plan}
    lost = ", ".join(node for node in plan["nodes"] if node != to)
    log.warning("mdtmirror: pair %s: %s does not answer and its session is gone, %s takes over", pair, lost, to)
    # takeover.sls's steps, run from here: an orchestration started by a runner the reactor runs
    # cannot ask the master its own runners (saltutil.runner: "Authentication failure").
    client = salt.client.get_local_client(mopts=__opts__)
    pillar = {"mdtmirror_role": "active", "mdtmirror_operation": "takeover"}
    got = client.cmd(to, "state.apply", ["mdtmirror.activate"], kwarg={"pillar": pillar, "queue": True}, timeout=600)
    ret = (got or {}).get(to)
    ok = isinstance(ret, dict) and bool(ret) and all(step.get("result") for step in ret.values())
    if ok:
        client.cmd(to, "mine.update", timeout=timeout)
        comment = f"pair {pair}: {to} took over"
    else:
        failed = (
            ret if not isinstance(ret, dict) else {k: v.get("comment") for k, v in ret.items() if not v.get("result")}
        )
        comment = f"pair {pair}: the takeover by {to} failed: {failed}"
    bus.fire_event(
        {"pair": pair, "to": to, "comment": comment}, f"mdtmirror/{pair}/failover/{'done' if ok else 'failed'}"
    )
    return {"result": ok, "comment": comment, "plan": plan, "takeover": ret}


# --------------------------------------------------------------------------
# fleet status: one row per pair
# --------------------------------------------------------------------------


def status(tgt="*mds*", tgt_type="glob", timeout=30):
    """
    The fleet's pairs, one row each: active and standby node, pool state,
    each side's state and errors, resilver progress, the newest snapshot's
    and backup's age (seconds), the active's SRP paths, and the problems in
    words. One call to all MDS (``mdtmirror.node_status``, ``timeout``
    seconds for answers). ``salt-run`` exits 1 when a pair is not whole.

    CLI Example:

    .. code-block:: bash

        salt-run mdtmirror.status
        salt-run mdtmirror.status tgt='mds*' --out=json
    """
    import salt.utils.minions  # pylint: disable=import-outside-toplevel

    answers = _ask(tgt, tgt_type, timeout)
    expected = salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type).get("minions") or []
    pairs = fleet_status(answers, expected)
    whole = bool(pairs) and all(row["whole"] for row in pairs.values())
    return {"pairs": pairs, "whole": whole, "retcode": 0 if whole else 1}


# --------------------------------------------------------------------------
# fleet-safe rollout: one node of a pair at a time
# --------------------------------------------------------------------------


def rollout_plan(tgt="*mds*", tgt_type="glob", batch=1, degraded=False, timeout=30):
    """
    :py:func:`plan_rollout` for the MDS matching ``tgt``, from one call to
    all of them (``mdtmirror.node_status``). ``mdtmirror.orch`` renders its
    steps from it.

    CLI Example:

    .. code-block:: bash

        salt-run mdtmirror.rollout_plan tgt='mds*' batch=4
    """
    import salt.utils.minions  # pylint: disable=import-outside-toplevel

    timeout = _positive("timeout", timeout, float)
    batch = _positive("batch", batch, int)
    answers = _ask(tgt, tgt_type, timeout)
    expected = salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type).get("minions") or []
    return plan_rollout(answers, expected, batch=batch, degraded=bool(degraded))


def _positive(key, value, kind):
    """``value`` as a ``kind`` (int or float) above 0, or SaltInvocationError naming ``key``
    (mdtmirror.orch passes its pillar keys of the same names)."""
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number <= 0:
        raise SaltInvocationError(f"{key}: {value!r} is not a number above 0")
    return number


def wait_whole(pairs, tgt="*mds*", tgt_type="glob", timeout=600, interval=5):
    """
    Wait until every pair of ``pairs`` is whole (:py:func:`pair_row`: one
    node holds the pool, both sides ONLINE, no resilver), asking all MDS
    every ``interval`` seconds; after ``timeout`` seconds, fail naming the
    pairs and their problems (``mdtmirror.orch`` then stops before it
    touches their second node).

    CLI Example:

    .. code-block:: bash

        salt-run mdtmirror.wait_whole '[mdt0, mdt1]' timeout=900
    """
    import time  # pylint: disable=import-outside-toplevel

    if isinstance(pairs, str):
        pairs = [p.strip() for p in pairs.split(",") if p.strip()]
    deadline = time.monotonic() + float(timeout)
    while True:
        rows = fleet_status(_ask(tgt, tgt_type, 30))
        broken = {p: (rows.get(p) or {"problems": ["no node of it answered"]}) for p in pairs}
        broken = {p: row for p, row in broken.items() if not row.get("whole")}
        if not broken:
            return {"whole": sorted(pairs)}
        if time.monotonic() >= deadline:
            why = "; ".join(f"{p}: {', '.join(row['problems'])}" for p, row in sorted(broken.items()))
            return {"Error": f"not whole after {timeout} s: {why}"}
        time.sleep(float(interval))


def restore_points(pair=None, tgt="*mds*", tgt_type="glob", timeout=60):
    """
    What can be restored, per pair: the pair's active node (where the backup
    job runs) lists its pillar's ``backup:destination``
    (``mdtmirror.restore_points``): one entry per snapshot, oldest first,
    with the number of streams to receive and why one cannot be restored.
    ``pair``: only that pair. Restore with ``zfsmirror.restore`` on the node
    that should receive the copy (never over the live MDT without
    ``force=True``).

    CLI Example:

    .. code-block:: bash

        salt-run mdtmirror.restore_points
        salt-run mdtmirror.restore_points pair=fs1-mdt0
    """
    statuses = _ask(tgt, tgt_type, timeout)
    out = {}
    for node, st in sorted(statuses.items()):
        if not isinstance(st, dict) or (pair and st.get("pair") != pair) or not st.get("imported"):
            continue
        answer = _ask(node, "glob", timeout, fun="mdtmirror.restore_points").get(node, "did not answer")
        out[st.get("pair") or node] = {"node": node, **(answer if isinstance(answer, dict) else {"error": answer})}
    if pair and pair not in out:
        out[pair] = {"error": f"no node of pair {pair} answered with the pool imported"}
    return out
