"""
Pair operations and fleet views decided from what every node says about
itself (``mdtmirror.node_status``), pure: the plan of a switchover or a
takeover (:py:func:`decide`), whether an automatic takeover may run
(:py:func:`decide_failover`), each pair's status row (:py:func:`pair_row`,
:py:func:`fleet_status`) and the fleet-safe rollout's batches
(:py:func:`plan_rollout`). The ``mdtmirror`` runner asks the nodes and calls
these.
"""

from salt.exceptions import SaltInvocationError

OPERATIONS = ("switchover", "takeover")


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


def side_text(side):
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
        row["sides"] = {side.get("side") or side.get("name"): side_text(side) for side in health.get("sides") or []}
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
