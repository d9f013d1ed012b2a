"""
Pair operations seen from the master: which node gives the pool up and which
takes it, decided from what every node of the pair says about itself
(``mdtmirror.node_status``: the pool imported there or not, its health), by
one pure rule (:py:func:`decide`). The orchestrations
``mdtmirror.switchover`` and ``mdtmirror.takeover`` run the steps.

Formula mode: ``salt-run saltutil.sync_runners`` on the master (the
``salt.loader`` entry point registers it when installed with pip).
"""

import salt.client
from salt.exceptions import SaltInvocationError

__virtualname__ = "mdtmirror"

OPERATIONS = ("switchover", "takeover")


def __virtual__():
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


def decide(operation, pair, statuses, to=None, force=False):
    """
    The plan of a pair operation from the nodes' answers (``{minion:
    node_status}``; a node that did not answer is absent). Pure. Returns
    ``{"operation", "pair", "nodes", "active", "old", "new", "refusal"}``:
    ``refusal`` is a sentence when the operation must not run (nothing is
    changed then), else None; ``old`` gives the pool up (switchover only),
    ``new`` takes it.

    - switchover: both nodes must answer; ``new`` is ``to``, or the node
      that is not active; the active's mirror must be whole (both sides
      ONLINE, no resilver) unless ``force``; with no active node (an
      interrupted switchover) ``to`` says which node finishes active.
    - takeover: the node(s) that answer must not hold the pool (a live
      active is switched over, not taken over); ``new`` is ``to`` or the
      answering node; multihost still fences the import on the node.
    """
    if operation not in OPERATIONS:
        raise SaltInvocationError(f"operation must be one of {', '.join(OPERATIONS)}, not {operation!r}")
    out = {"operation": operation, "pair": pair, "nodes": [], "active": None, "old": None, "new": None}
    to = to or None  # pillar.get gives "" for a key not given

    def refuse(why):
        out["refusal"] = f"{operation} of pair {pair} refused: {why}"
        return out

    if not pair:
        return refuse('give the pair: pillar=\'{"pair": "<name>"}\'')
    members = {node: st for node, st in statuses.items() if isinstance(st, dict) and st.get("pair") == pair}
    if not members:
        return refuse(f"no minion that answered is a node of it (answered: {', '.join(sorted(statuses)) or 'none'})")
    nodes = set(members)
    for st in members.values():
        if st.get("peer"):
            nodes.add(st["peer"])
    out["nodes"] = sorted(nodes)
    errors = [f"{node}: {e}" for node, st in sorted(members.items()) for e in st.get("errors") or []]
    if errors:
        return refuse("pillar errors: " + "; ".join(errors))
    if to is not None and to not in nodes:
        return refuse(f"to={to!r} is not a node of the pair ({', '.join(out['nodes'])})")
    active = sorted(node for node, st in members.items() if st.get("imported"))
    if len(active) > 1:
        return refuse(f"pool is imported on {' and '.join(active)}: both hold it, fix this by hand first")
    out["active"] = active[0] if active else None
    silent = sorted(nodes - set(members))
    if operation == "switchover":
        if silent:
            return refuse(f"{', '.join(silent)} did not answer; a switchover needs both nodes (node lost: takeover)")
        if to is None and out["active"] is None:
            return refuse("no node has the pool imported: say which node becomes active with to=<node>")
        new = to or next(node for node in out["nodes"] if node != out["active"])
        old = next(node for node in out["nodes"] if node != new)
        if out["active"] == old and not force:
            health = members[old].get("health") or {}
            if not health.get("redundant"):
                why = "; ".join(health.get("problems") or []) or "not redundant"
                return refuse(f"the mirror on {old} is not whole ({why}); heal it first, or give force=true")
        out.update(old=old, new=new, refusal=None)
        return out
    if out["active"]:
        return refuse(
            f"{out['active']} is alive and holds the pool: use mdtmirror.switchover (takeover is for a lost node)"
        )
    candidates = [to] if to else sorted(members)
    if to and to not in members:
        return refuse(f"{to} did not answer: it cannot take over")
    if len(candidates) != 1:
        return refuse("both nodes answer and neither holds the pool: say which one takes over with to=<node>")
    out.update(new=candidates[0], refusal=None)
    return out


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


def decide_failover(pair, to, answers):
    """
    Whether ``to`` takes the pool of ``pair`` over by itself, from every
    answer of the MDS asked (``{minion: node_status or whatever it said}``;
    a minion that did not answer is absent, False or {}). Pure. Returns
    :py:func:`decide`'s plan of the takeover, its ``refusal`` set when:

    - ``to`` did not answer, is no node of ``pair``, or holds the pool;
    - ``to``'s pillar does not say ``mdtmirror:failover:auto: true``;
    - its peer answered at all (even with an error): a node seen alive is
      never taken over, whatever its pool looks like.

    The import itself stays fenced by multihost on the node.
    """
    statuses = {minion: st for minion, st in answers.items() if isinstance(st, dict)}
    mine = statuses.get(to) or {}
    plan = {"operation": "takeover", "pair": pair, "nodes": [], "active": None, "old": None, "new": None}

    def refuse(why):
        plan["refusal"] = f"automatic takeover of pair {pair} by {to} refused: {why}"
        return plan

    if not mine:
        return refuse(f"{to} did not answer")
    if mine.get("pair") != pair:
        return refuse(f"{to} is a node of pair {mine.get('pair')!r}, not of {pair!r}")
    if not (mine.get("failover") or {}).get("auto"):
        return refuse("off (mdtmirror:failover:auto is not true in its pillar)")
    peer = mine.get("peer")
    # LocalClient.cmd gives a silent minion False, or {} (its "failed" return's missing "ret"); anything
    # else (a status, an error message) is an answer.
    said = answers.get(peer)
    if said:
        what = f"{said.get('role')}, pool imported: {bool(said.get('imported'))}" if isinstance(said, dict) else said
        return refuse(f"{peer} answered ({str(what)[:200]}): a node seen alive is never taken over")
    return decide("takeover", pair, statuses, to=to)


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


def _side_text(side):
    errors = "/".join(str(side.get(key) or 0) for key in ("read", "write", "cksum"))
    text = f"{side.get('state')} {side.get('name')} (errors r/w/c {errors})"
    return text + (f": {side['note']}" if side.get("note") else "")


def pair_row(pair, members, silent):
    """
    One pair's row from its nodes' ``node_status`` (``members``: minion ->
    status) and the nodes that did not answer (``silent``). Pure. ``whole``:
    one node holds the pool, both sides ONLINE, no resilver, every node
    answered, no pillar error; ``problems`` says otherwise in words.
    """
    nodes = sorted(set(members) | set(silent))
    active = sorted(node for node, st in members.items() if st.get("imported"))
    row = {
        "whole": False,
        "nodes": nodes,
        "pool": next((st.get("pool") for st in members.values() if st.get("pool")), None),
        "active": active[0] if len(active) == 1 else None,
        "standby": None,
        "state": None,
        "sides": {},
        "resilver": None,
        "last_snapshot_age_s": None,
        "last_backup_age_s": None,
        "paths": {},
        "problems": [],
    }
    problems = row["problems"]
    for node in sorted(silent):
        problems.append(f"{node} did not answer")
    for node, st in sorted(members.items()):
        problems.extend(f"{node}: pillar: {error}" for error in st.get("errors") or [])
    if len(active) > 1:
        problems.append(f"pool imported on {' and '.join(active)} at once")
    elif not active:
        problems.append("the pool is imported on no node that answered")
    if row["active"]:
        st = members[row["active"]]
        row["standby"] = next((node for node in nodes if node != row["active"]), None)
        health = st.get("health") or {}
        row["state"] = health.get("state")
        row["sides"] = {side.get("side") or side.get("name"): _side_text(side) for side in health.get("sides") or []}
        resilver = health.get("resilver")
        if resilver and resilver.get("state") == "scanning":
            row["resilver"] = resilver.get("percent")
        problems.extend(f"{row['active']}: {p}" for p in health.get("problems") or [])
        if not health.get("redundant") and not health.get("problems"):
            problems.append(f"{row['active']}: the mirror is not redundant")
        snapshots = st.get("snapshots") or {}
        row["last_snapshot_age_s"], row["last_backup_age_s"] = snapshots.get("last"), snapshots.get("backup")
        row["paths"] = {p.get("remote_port") or "?": p.get("state") for p in st.get("paths") or []}
        if not row["paths"]:
            problems.append(f"{row['active']} has no SRP path to {row['standby']}")
        problems.extend(
            f"{row['active']}: SRP path {port} is {state}" for port, state in row["paths"].items() if state != "running"
        )
    row["whole"] = not problems
    return row


def fleet_status(statuses, expected=()):
    """
    ``{pair: row}`` (:py:func:`pair_row`) from every answering node's
    ``node_status`` and the minions that were asked (``expected``): a node
    that did not answer counts against its pair when its peer names it;
    ones no answering node names are listed under ``"?"``. Pure.
    """
    answered = {minion: st for minion, st in statuses.items() if isinstance(st, dict)}
    pairs = {}
    for minion, st in answered.items():
        pairs.setdefault(st.get("pair") or "?", {})[minion] = st
    out = {}
    named = set(answered)
    for pair, members in sorted(pairs.items()):
        peers = {st.get("peer") for st in members.values() if st.get("peer")}
        silent = peers - set(members)
        named |= peers
        out[pair] = pair_row(pair, members, silent)
    # The problems of pairs' pillar entries, as the nodes of other pairs read them (a pair whose
    # entry names no answering minion, or no minion at all, is seen only this way).
    for st in answered.values():
        for error in st.get("fleet_errors") or []:
            pair = error.split("mdtmirror:pairs:", 1)[1].split(":", 1)[0].split(" ", 1)[0]
            row = out.setdefault(pair, {"whole": False, "nodes": [], "problems": []})
            if f"pillar: {error}" not in row["problems"]:
                row["problems"].append(f"pillar: {error}")
                row["whole"] = False
    unknown = sorted(set(expected) - named)
    if unknown:
        out["?"] = {"whole": False, "nodes": unknown, "problems": [f"{n} did not answer" for n in unknown]}
    return out


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


def plan_rollout(statuses, expected=(), batch=1, degraded=False):
    """
    How ``mdtmirror.orch`` rolls the formula out over the pairs (pure), from
    every answering node's ``node_status`` and the minions asked:

    - a pair where some node holds the pool and the mirror is whole goes
      node by node: its standby first, then (the mirror whole again) its
      active; such pairs proceed ``batch`` at a time, in name order;
    - a pair where no node holds the pool (a fresh pair, or one nobody
      switched to after both nodes rebooted) has nothing to disrupt: it
      goes stage by stage across both nodes, the order a fresh pair needs
      (targets before logins before the pool);
    - a pair not whole is skipped with its reason, unless ``degraded`` (then
      stage by stage, which logs in again and heals); a pair with a silent
      node or the pool imported twice is always skipped.

    Returns ``{"stagewise": [nodes], "batches": [{"pairs", "first",
    "second"}], "skipped": {pair: why}}``.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SaltInvocationError(f"batch must be a number of pairs >= 1, not {batch!r}")
    rows = fleet_status(statuses, sorted(set(expected) | set(statuses)))
    answered = {minion: st for minion, st in statuses.items() if isinstance(st, dict)}
    out = {"stagewise": [], "batches": [], "skipped": {}}
    ordered = []
    for pair, row in sorted(rows.items()):
        members = [node for node in row["nodes"] if node in answered]
        if pair == "?":
            # Answered, but without node_status (the formula's modules not synced yet: the first
            # rollout syncs them): nothing of theirs can be disrupted; the silent ones are skipped.
            unsynced = sorted(node for node in row["nodes"] if node in statuses)
            out["stagewise"].extend(unsynced)
            silent = sorted(set(row["nodes"]) - set(unsynced))
            if silent:
                out["skipped"]["?"] = f"{', '.join(silent)} did not answer"
            continue
        if len(members) < len(row["nodes"]):
            silent = sorted(set(row["nodes"]) - set(members))
            out["skipped"][pair] = f"{', '.join(silent)} did not answer"
            continue
        active = [node for node in members if answered[node].get("imported")]
        if len(active) > 1:
            out["skipped"][pair] = f"pool imported on {' and '.join(active)} at once: fix this by hand first"
        elif not active or any(answered[node].get("errors") for node in members):
            out["stagewise"].extend(members)  # validate names pillar errors before anything runs
        elif not row["whole"]:
            if degraded:
                out["stagewise"].extend(members)
            else:
                why = "; ".join(row["problems"])
                out["skipped"][pair] = f"not whole ({why}); give degraded=true to roll it out anyway"
        else:
            ordered.append((pair, row["standby"], row["active"]))
    for start in range(0, len(ordered), batch):
        chunk = ordered[start : start + batch]
        out["batches"].append(
            {"pairs": [p for p, _, _ in chunk], "first": [s for _, s, _ in chunk], "second": [a for _, _, a in chunk]}
        )
    out["stagewise"].sort()
    return out


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

    answers = _ask(tgt, tgt_type, timeout)
    expected = salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type).get("minions") or []
    return plan_rollout(answers, expected, batch=int(batch), degraded=bool(degraded))


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
