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
    client = salt.client.get_local_client(mopts=__opts__)
    # A lost node never answers: wait ``timeout`` for it, also in the job-status rounds (the master's
    # gather_job_timeout would add minutes to a takeover).
    answers = (
        client.cmd(tgt, "mdtmirror.node_status", tgt_type=tgt_type, timeout=timeout, gather_job_timeout=timeout) or {}
    )
    statuses = {minion: ret for minion, ret in answers.items() if isinstance(ret, dict)}
    return decide(operation, pair, statuses, to=to, force=force)
