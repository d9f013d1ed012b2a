"""
The node plan, pure: from this node's settings, what this host sees
(pools imported, the disk's label, its logins) and what the peer published in
the Salt mine, the node's role (active or standby, and why), what it exports,
where it logs in and what happens to the pool. The SLS files render from it;
``mdtmirror.plan`` gathers the facts and caches the plan for the run.
"""

from salt.exceptions import SaltInvocationError

# What the peer publishes in the mine, under these names (pillar.example's mine_functions).
MINE_FACTS = ("mdtmirror_targets", "mdtmirror_srp_ports", "mdtmirror_ips", "mdtmirror_node")


def decide_role(cfg, minion_id, local, peer_node=None):
    """
    ``("active"|"standby", why)`` of this node, from the world:

    - the pool is imported here: active;
    - the peer published that it has the pool imported: standby;
    - the label on this node's disk says the pool was imported by this host
      and never exported (``local["last_importer_here"]``, see
      zfsmirror.last_importer_here): this node was the active one when it
      went down (a reboot, a crash) and nothing imported the pool since:
      active, it imports the pool again, and only once both sides are seen
      with the newest label naming this host (``import`` in the plan's
      pool; multihost still fences);
    - this node is the pillar's owner and the pool exists on no disk it can
      see (``local["pool_on_disks"]`` false): active, it creates the pool;
    - otherwise standby. ``state.apply`` imports no other pool: a node that
      comes back after a takeover (the label names the new active) or after
      a switchover's export, or a pair where neither node has the pool
      imported and neither was the last to import it, stays standby until
      mdtmirror.switchover/takeover says which node becomes active
      (multihost is the fence; the pillar is not).
    """
    pool = cfg["mirror"]["pool"]
    peer = cfg.get("peer")
    if pool in (local.get("pools") or ()):
        return "active", f"pool {pool} is imported here"
    if peer_node and pool in (peer_node.get("pools") or ()):
        return "standby", f"pool {pool} is imported on the peer {peer}"
    if local.get("last_importer_here"):
        return "active", (
            f"pool {pool} was imported here when this node went down (its disk's label names this host and "
            "says not exported) and is imported nowhere since: it is imported again once both sides are seen"
        )
    if cfg["mirror"].get("owner") == minion_id:
        if local.get("pool_on_disks"):
            return "standby", (
                f"pool {pool} exists on the disks but is imported nowhere this node knows of and was not "
                "imported here last: state.apply does not import it; mdtmirror.switchover (to: <node>) or "
                "mdtmirror.takeover makes a node active"
            )
        return "active", f"{minion_id} is the pillar's owner and pool {pool} does not exist yet: it creates it"
    return "standby", f"pool {pool} is not imported here"


def peer_target(cfg, peer_facts):
    """
    The add_target spec of the peer's SRP target (a dict), from its
    published login_info: over InfiniBand as it is, over RoCE by its
    RDMA/CM address (``peer_address`` or its first address) and the pair's
    RDMA/CM port. None when the pillar gives ``initiator:target``/``match``
    (see :py:func:`plan_node`) or the peer published no target.
    """
    targets = peer_facts.get("mdtmirror_targets")
    if not targets or not cfg.get("peer"):
        return None
    chosen = ([t for t in targets if t.get("enabled")] or targets)[0]
    info = chosen.get("login_info") or {}
    ips = peer_facts.get("mdtmirror_ips")
    if chosen.get("link_layer") == "Ethernet" and ips:
        t = cfg["target"]
        if t.get("backend") == "lio":
            cm_port = (t.get("lio") or {}).get("rdma_cm_port") or 5555
        else:
            cm_port = ((t.get("module_options") or {}).get("ib_srpt") or {}).get("rdma_cm_port", 5555)
        address = cfg.get("peer_address") or ips[0]
        return {"id_ext": info.get("tid_ext"), "ioc_guid": info.get("ioc_guid"), "dest": f"{address}:{cm_port}"}
    if info.get("dgid"):
        ib_keys = ("ioc_guid", "dgid", "pkey", "service_id")
        return {"id_ext": info.get("tid_ext"), **{key: info.get(key) for key in ib_keys}}
    return None


def peer_initiators(cfg, peer_facts):
    """
    Who may log in to this node's export: ``node:initiators`` when given,
    else the peer's initiator names from the mine (its InfiniBand port GIDs;
    over RoCE, SCST names RDMA/CM initiators by address, LIO by port ID from
    the GID). None when the peer has not published them.
    """
    given = (cfg.get("node") or {}).get("initiators")
    if given is not None or not cfg.get("peer"):
        return list(given or [])
    ports, ips = peer_facts.get("mdtmirror_srp_ports"), peer_facts.get("mdtmirror_ips")
    if ports is None or ips is None:
        return None
    backend = cfg["target"].get("backend")
    names = [p["gid"] for p in ports if (p.get("link_layer") == "InfiniBand" or backend == "lio") and p.get("gid")]
    if backend == "scst" and any(p.get("link_layer") == "Ethernet" for p in ports):
        names.extend(ips)
    return names


def plan_node(cfg, minion_id, peer_facts, local, role=None):
    """
    Everything this node does, from its settings (:py:func:`resolve`), the
    peer's published facts (``{mine name: data or None}``, see
    :data:`MINE_FACTS`) and local facts: ``pools`` (imported here),
    ``pool_on_disks`` (the pool's label is on a disk this node sees),
    ``login_disk`` (by-id path of the disk of this node's single SRP login,
    or None) and ``predicted_remote`` (the by-id name udev gives the peer's
    LUN, from its target identifiers). Pure.

    ``role`` forces the role (mdtmirror.switchover/takeover make a node
    active before its pool is imported). Returns ``{"node", "pair", "peer",
    "role", "why", "export", "unexport", "login", "logout", "pool",
    "missing", "problems"}``:

    - standby: ``export`` = ``{"device", "lun_path", "initiators"}`` (its
      disk, exclusively: SCST vdisk_blockio, LIO iblock), ``logout`` = the
      peer's target when known, ``pool`` None;
    - active: ``unexport`` = ``{"device", "lun", "group"}`` (its disk is
      the pool's), ``login`` = ``{"target": spec}`` or ``{"discover",
      "match"}``, ``pool`` = ``{"name", "local", "remote",
      "remote_pending", "import"}`` (remote None: a problem says why;
      ``import``: the pool is imported again first, see :py:func:`decide_role`).
    """
    peer_facts = peer_facts or {}
    if role is not None and role not in ("active", "standby"):
        raise SaltInvocationError(
            f"pillar key mdtmirror_role (set by mdtmirror.switchover/takeover): role must be active or standby, "
            f"not {role!r}"
        )
    forced = bool(role)
    if role:
        why = f"made {role} by the operation in progress"
    else:
        role, why = decide_role(cfg, minion_id, local, peer_facts.get("mdtmirror_node"))
    t, i, m = cfg["target"], cfg["initiator"], cfg["mirror"]
    node = cfg.get("node") or {}
    lun_path = node.get("lun_path")
    if node.get("zvol"):
        lun_path = "/dev/zvol/" + node["zvol"]["name"]
    missing = [name for name in MINE_FACTS[:3] if cfg.get("peer") and peer_facts.get(name) is None]
    problems = []
    target = i.get("target")
    if not target and not i.get("match"):
        target = peer_target(cfg, peer_facts)
    out = {
        "node": minion_id,
        "pair": cfg.get("pair"),
        "peer": cfg.get("peer"),
        "role": role,
        "why": why,
        "export": None,
        "unexport": None,
        "login": None,
        "logout": None,
        "pool": None,
        "missing": missing,
        "problems": problems,
    }
    if role == "standby":
        out["export"] = {"device": t["device"], "lun_path": lun_path, "initiators": peer_initiators(cfg, peer_facts)}
        if target:
            out["logout"] = {"target": target}
        return out
    out["unexport"] = {"device": t["device"], "lun": t["lun"], "group": t.get("group")}
    out["login"] = {"target": target} if target else {"discover": i.get("discover"), "match": i.get("match") or {}}
    local_side = m.get("local") or lun_path
    remote, pending = m.get("remote"), False
    if not remote:
        remote = local.get("login_disk")
    if not remote and cfg.get("peer") and local.get("predicted_remote"):
        # No login yet (a first run, test=True, or the peer came back): the name udev gives the
        # peer's LUN follows from its target identifiers, so the pool is planned now and created
        # (or healed) once the login of this same run brought the disk.
        remote, pending = local["predicted_remote"], True
    if not remote:
        problems.append(
            f"cannot build pool {m['pool']}: peer LUN not visible: no single SRP login with a by-id disk "
            "(apply mdtmirror.initiator first, or set mdtmirror:mirror:remote)"
        )
    # A node that was the active one when it went down imports the pool again (decide_role); a role the
    # operation in progress forces has its own import (mdtmirror.activate).
    again = not forced and m["pool"] not in (local.get("pools") or ()) and bool(local.get("last_importer_here"))
    out["pool"] = {
        "name": m["pool"],
        "local": local_side,
        "remote": remote,
        "remote_pending": pending,
        "import": again,
    }
    return out
