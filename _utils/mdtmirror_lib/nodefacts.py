"""
What one node sees of itself, for its plan and its status: the facts
``mdtmirror.plan`` hands to :py:func:`mdtmirror_lib.nodeplan.plan_node`
(pools, labels, logins), and the node's status for operations and the
runner's views. ``salt`` is the caller's ``__salt__``: these functions ask
the node through the other loader modules (zfsmirror, srp, scst, lio) and
change nothing.
"""

import logging
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)


def state_run_channel(file_client, opts):
    """The request channel of the state run's file client (``file_client``: Salt's
    ``__file_client__`` context), or None: outside a state run, masterless, or no such client."""
    if file_client is None or opts.get("file_client") != "remote":
        return None
    try:
        client = file_client.value()
    except (LookupError, AttributeError):
        return None
    channel = getattr(client, "channel", None)
    return channel if callable(getattr(channel, "send", None)) else None


def peer_facts(peer, funs, opts, salt, channel=None):
    """
    ``{fun: the peer's published value}`` for the mine functions ``funs``, one request for all of them.
    With ``channel`` (:py:func:`state_run_channel`, Salt >= 3008) the ``_mine_get`` load ``mine.get``
    sends (id, tgt, fun, tgt_type) goes over it: ``mine.get`` opens a channel of its own, whose setup
    (the minion's key loaded and checked again) costs more than the request (~0.2 s per apply on the
    emulated pair). Without it, and should that request fail (logged as a warning), ``mine.get``.
    """
    published = None
    if channel is not None:
        load = {"cmd": "_mine_get", "id": opts["id"], "tgt": peer, "fun": list(funs), "tgt_type": "glob"}
        try:
            published = channel.send(load)
        except Exception as exc:  # pylint: disable=broad-except
            log.warning("mdtmirror: mine request over the state run's channel failed (%s); mine.get instead", exc)
    if not isinstance(published, dict):
        published = salt["mine.get"](peer, list(funs)) or {}
    return {fun: (published.get(fun) or {}).get(peer) for fun in funs}


def own_disk(cfg):
    """This node's LUN: ``lun_path``, or its zvol's device (None when the pillar gives neither)."""
    node = cfg.get("node") or {}
    return "/dev/zvol/" + node["zvol"]["name"] if node.get("zvol") else node.get("lun_path")


def local_facts(cfg, minion_id, salt, peer_node=None, forced=False):
    """
    What the plan needs from this host (``salt``: the caller's ``salt``): pools here,
    the pool on the disks, the label's last importer, the login's disk, the remote disk's predicted name.

    The disks' labels (``zdb -l``, the ``zpool import`` listing) are read only when the role depends on
    them (:py:func:`mdtmirror_lib.nodeplan.decide_role`): not when the pool is imported here, nor when
    the peer published that it has it (``peer_node``, its ``mdtmirror_node`` mine entry), nor when the
    operation in progress forces the role (``forced``). A standby's every apply would otherwise read them.
    """
    pool = cfg["mirror"]["pool"]
    pools = salt["zfsmirror.pool_names"]()
    local = {
        "pools": pools,
        "pool_on_disks": False,
        "login_disk": None,
        "predicted_remote": None,
        "last_importer_here": False,
    }
    own = own_disk(cfg)
    # Not here, no role forced: the peer's mine says whether it has the pool (this node is then the
    # standby, see decide_role), else this node's disks' labels decide.
    undecided = pool not in pools and not forced
    peer_has = pool in ((peer_node or {}).get("pools") or ())
    labels_decide = undecided and not peer_has
    if labels_decide and own:
        # Was this node the active one when it went down? Its disk's label says (zdb -l).
        try:
            local["last_importer_here"] = salt["zfsmirror.last_importer_here"](pool, own)
        except (CommandExecutionError, SaltInvocationError) as exc:
            # Unread is not "imported here": the node stays standby, the safe side.
            log.warning("mdtmirror: cannot read the ZFS label on %s: %s", own, exc)
    if labels_decide and cfg["mirror"].get("owner") == minion_id:
        # Is the pool fresh? ``zpool import`` skips a disk another holder has open, and a
        # standby's own disk is held by its export: its label is read as well (blkid), or an
        # owner whose peer's mine facts are missing or stale would take the live mirror side
        # it exports for a blank disk.
        local["pool_on_disks"] = pool in salt["zfsmirror.import_listing"]() or bool(
            own and (salt["zfsmirror.disk_label"](own) or {}).get("pool") == pool
        )
    # The login's disk is the pool's remote side on the active: not read where the pillar names that side,
    # nor on the standby for sure (the peer has the pool).
    wanted = not (undecided and peer_has) and not cfg["mirror"].get("remote")
    if wanted and (pool in pools or cfg["mirror"].get("owner") == minion_id or cfg.get("peer")):
        try:
            logins = salt["srp.list_logins"](brief=True)
        except (CommandExecutionError, SaltInvocationError):
            logins = []  # ib_srp not loaded yet: no login
        if len(logins) == 1:
            disks = salt["srp.disks"](logins[0], timeout=10)
            if disks and disks[0].get("by_id"):
                local["login_disk"] = disks[0]["by_id"][0]
    t = cfg["target"]
    if cfg.get("peer"):
        if t.get("backend") == "lio":
            serial = salt["lio.default_serial"](cfg["peer"], t["device"])
            local["predicted_remote"] = salt["lio.initiator_by_id"](serial)
        else:
            local["predicted_remote"] = salt["scst.initiator_by_id"](t["device"], t.get("attributes"))
    return local


def node_status(p, minion_id, salt):
    """``mdtmirror.node_status`` from this node's plan ``p`` (``mdtmirror.plan``)."""
    cfg = p["settings"]
    pool = cfg["mirror"]["pool"]
    out = {
        "node": minion_id,
        "pair": cfg.get("pair"),
        "peer": cfg.get("peer"),
        "pool": pool,
        "role": p.get("role"),
        "why": p.get("why"),
        "errors": list(cfg["errors"]),
        "fleet_errors": list(cfg["fleet_errors"]),
        "imported": False,
        "health": None,
        # What the failover runner needs of this node's pillar: it takes over only where this is true.
        "failover": {"auto": cfg["failover"].get("auto") is True},
    }
    if cfg["errors"]:
        return out
    out["imported"] = pool in salt["zfsmirror.pool_names"]()
    try:
        out["paths"] = [
            {"remote_port": login["remote_port"], "state": login["state"], "id_ext": login["id_ext"]}
            for login in salt["srp.list_logins"]()
        ]
    except (CommandExecutionError, SaltInvocationError):
        out["paths"] = []  # ib_srp not loaded: no path
    if out["imported"]:
        side = p.get("pool") or {}
        state, sides = None, []
        try:
            if side.get("local") and side.get("remote"):
                heal = salt["zfsmirror.heal"](pool, side["local"], side["remote"], test=True)
                problems = list(heal["problems"]) + list(heal["waits"])
                resilver = heal["resilver"]
                redundant = heal["redundant"] and not (resilver and resilver.get("state") == "scanning")
                state, sides = heal.get("state"), heal.get("sides") or []
            else:
                redundant, resilver, problems = False, None, list(p["problems"])
        except (CommandExecutionError, SaltInvocationError) as exc:
            redundant, resilver, problems = False, None, [str(exc)]
        out["health"] = {
            "redundant": redundant,
            "resilver": resilver,
            "problems": problems,
            "state": state,
            "sides": sides,
        }
        out["snapshots"] = snapshot_ages(cfg, salt)
    return out


def snapshot_ages(cfg, salt):
    """Seconds since the newest schedule snapshot and since the newest one a backup holds (None: none)."""
    dataset = cfg["snapshots"].get("dataset") or cfg["mirror"]["pool"]
    prefix = cfg["snapshots"].get("prefix") or "mdtmirror-"
    try:
        snaps = [s for s in salt["zfsmirror.list_snapshots"](dataset) if s["name"].split("@", 1)[1].startswith(prefix)]
    except (CommandExecutionError, SaltInvocationError, KeyError):
        return {"dataset": dataset, "last": None, "backup": None}
    now = time.time()
    last = max((s["creation"] for s in snaps), default=None)
    # The backup keeps a hold on the snapshot it sent last (zfsmirror.backup).
    held = max((s["creation"] for s in snaps if s.get("userrefs")), default=None)
    return {
        "dataset": dataset,
        "last": None if last is None else max(0, int(now - last)),
        "backup": None if held is None else max(0, int(now - held)),
    }
