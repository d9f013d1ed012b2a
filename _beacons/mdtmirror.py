"""
Watch this node's part of its mirrored pair and fire an event on every change
(never on a steady state): the pool's state and each side's (local/remote),
a resilver starting or ending, new scrub errors, each SRP path's state and a
login that vanished, and the target side: the export ready (enabled with its
LUN) or not, the peer's session present or not.

Cheap by design, per interval: one ``zpool status`` (``zfsmirror.health``)
and sysfs reads (``srp.list_logins``, the SCST target's sessions). What it
needs of the node's settings (pair, peer, pool, local LUN, target names) is
in its configuration, written by the formula: no pillar, no mine, no master
round trip (beacons run in the minion's main process).

Events, on the master's bus: ``salt/beacon/<minion>/mdtmirror/<pair>/<what>``,
``<what>`` one of ``pool/state``, ``pool/imported``, ``pool/exported``,
``side/<local|remote>/lost|back``, ``resilver/started|finished``,
``scrub/errors``, ``path/<state>``, ``path/gone``, ``path/new``,
``export/ready``, ``export/down``, ``session/up``, ``session/down``. Data:
``pair``, ``node``, ``peer``, ``role`` (active: the pool is imported here),
``pool``, ``what``, ``old``, ``new`` and the item (``side``, ``device``,
``port``).

Configured by the formula (``mdtmirror.watch``, pillar
``mdtmirror:watch``):

.. code-block:: yaml

    beacons:
      mdtmirror:
        - interval: 10
        - disable_during_state_run: true
        - pair: mdt0
        - peer: mds02
        - pool: mdtpool
        - local: /dev/disk/by-id/scsi-35000c500a1b2c3d4
        - backend: scst
        - device: MDT0
        - group: MDS
        - driver: ib_srpt
"""

import logging

from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "mdtmirror"

_LOST = ("REMOVED", "UNAVAIL", "FAULTED", "OFFLINE", "missing")
_KEY = "mdtmirror.beacon.last"


def __virtual__():
    return __virtualname__


# What the formula puts in the beacon's configuration (watch.sls, from this node's settings), so that
# a look reads no pillar and asks the master nothing: it runs in the minion's main process.
SETTINGS = ("pair", "peer", "pool", "local", "backend", "device", "group", "driver")
ALLOWED = {"interval", "disable_during_state_run", *SETTINGS}


def _config(config):
    return {key: value for item in config for key, value in item.items()}


def validate(config):
    """A list of one-key mappings: ``interval``, and this node's ``pair``, ``pool``... (watch.sls)."""
    if not isinstance(config, list) or not all(isinstance(item, dict) for item in config):
        return False, "beacon mdtmirror: configuration must be a list of mappings (- interval: 10)"
    given = _config(config)
    unknown = sorted(set(given) - ALLOWED)
    if unknown:
        return False, f"beacon mdtmirror: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(ALLOWED))})"
    missing = [key for key in ("pair", "pool") if not given.get(key)]
    if missing:
        return False, f"beacon mdtmirror: {', '.join(missing)} missing (the formula's mdtmirror.watch sets them)"
    return True, "valid beacon configuration"


def observe_pool(health):
    """The pool part of an observation, from ``zfsmirror.health`` (None: not imported here). Pure."""
    if health is None:
        return None
    local = {s["name"] for s in health.get("local") or []}
    sides = {}
    for side in health.get("sides") or []:
        errors = sum(int(side.get(key) or 0) for key in ("read", "write", "cksum"))
        sides[side["name"]] = {
            "side": "local" if side["name"] in local else "remote",
            "state": side.get("state"),
            "errors": errors,
        }
    scan = health.get("scan") or {}
    return {
        "state": health.get("state"),
        "sides": sides,
        "resilvering": bool(health.get("resilvering")),
        "scrub_errors": int(scan.get("errors") or 0) if scan.get("function") == "scrub" else 0,
    }


def events(previous, current):
    """
    The events between two observations (``{"pool", "paths", "export"}``)
    of one node: ``[(what, fields)]``. Pure. The first observation
    (``previous`` None) is the baseline: it fires only what is wrong
    already (a pool not ONLINE, a side lost).
    """
    out = []
    pool_now = current.get("pool")
    if previous is None:
        if pool_now and pool_now["state"] != "ONLINE":
            out.append(("pool/state", {"old": None, "new": pool_now["state"]}))
            for device, side in sorted(pool_now["sides"].items()):
                if side["state"] in _LOST:
                    out.append((f"side/{side['side']}/lost", {"device": device, "old": None, "new": side["state"]}))
        return out
    pool_then = previous.get("pool")
    if pool_then is None and pool_now is not None:
        out.append(("pool/imported", {"old": None, "new": pool_now["state"]}))
    elif pool_then is not None and pool_now is None:
        out.append(("pool/exported", {"old": pool_then["state"], "new": None}))
    elif pool_then and pool_now:
        if pool_then["state"] != pool_now["state"]:
            out.append(("pool/state", {"old": pool_then["state"], "new": pool_now["state"]}))
        for device in sorted(set(pool_then["sides"]) | set(pool_now["sides"])):
            then = pool_then["sides"].get(device) or {"state": "missing", "side": None}
            now = pool_now["sides"].get(device) or {"state": "missing", "side": then["side"]}
            side = now["side"] or then["side"] or "unknown"
            if then["state"] != now["state"]:
                if now["state"] in _LOST:
                    out.append((f"side/{side}/lost", {"device": device, "old": then["state"], "new": now["state"]}))
                elif now["state"] == "ONLINE":
                    out.append((f"side/{side}/back", {"device": device, "old": then["state"], "new": now["state"]}))
        if pool_then["resilvering"] != pool_now["resilvering"]:
            out.append((f"resilver/{'started' if pool_now['resilvering'] else 'finished'}", {}))
        if pool_now["scrub_errors"] > pool_then["scrub_errors"]:
            out.append(("scrub/errors", {"old": pool_then["scrub_errors"], "new": pool_now["scrub_errors"]}))
    paths_then, paths_now = previous.get("paths") or {}, current.get("paths") or {}
    for port in sorted(set(paths_then) | set(paths_now)):
        if port not in paths_now:
            out.append(("path/gone", {"port": port, "old": paths_then[port], "new": None}))
        elif port not in paths_then:
            out.append(("path/new", {"port": port, "old": None, "new": paths_now[port]}))
        elif paths_then[port] != paths_now[port]:
            out.append((f"path/{paths_now[port]}", {"port": port, "old": paths_then[port], "new": paths_now[port]}))
    export_then, export_now = previous.get("export"), current.get("export")
    if export_then is not None and export_now is not None:
        if export_then["ready"] != export_now["ready"]:
            out.append((f"export/{'ready' if export_now['ready'] else 'down'}", {}))
        if bool(export_then["sessions"]) != bool(export_now["sessions"]):
            what = "session/up" if export_now["sessions"] else "session/down"
            out.append((what, {"old": export_then["sessions"], "new": export_now["sessions"]}))
    return out


def _export(conf):
    """The export's state: a target enabled with a LUN of our device, and (SCST) its sessions."""
    if conf.get("backend") == "lio":
        try:
            targets = __salt__["lio.list_targets"]()
        except (CommandExecutionError, SaltInvocationError):
            return {"ready": False, "sessions": []}  # LIO or ib_srpt not loaded
        ready = any(
            target.get("enabled") and any(lun.get("backstore") == conf.get("device") for lun in target["luns"].values())
            for target in targets.values()
        )
        # LIO's configfs names no session of an srpt ACL: ready is what it tells.
        return {"ready": ready, "sessions": []}
    try:
        targets = __salt__["scst.list_targets"](driver=conf.get("driver") or "ib_srpt")
    except (CommandExecutionError, SaltInvocationError):
        return {"ready": False, "sessions": []}  # SCST or its driver not loaded
    ready, sessions = False, []
    for target in next(iter(targets.values()), {}).values():
        group = (target.get("groups") or {}).get(conf.get("group")) or {}
        luns = [lun for lun in (group.get("luns") or {}).values() if (lun or {}).get("device") == conf.get("device")]
        if luns:
            ready = ready or bool(target.get("enabled"))
            sessions.extend(target.get("sessions") or [])
    return {"ready": ready, "sessions": sorted(sessions)}


def beacon(config):
    """One observation; the events since the previous one."""
    conf = _config(config)
    pair, pool = conf.get("pair"), conf.get("pool")
    try:
        health = __salt__["zfsmirror.health"](pool, local=conf.get("local"))
    except (CommandExecutionError, SaltInvocationError):
        health = None  # not imported here
    try:
        paths = {login["remote_port"] or login["host"]: login["state"] for login in __salt__["srp.list_logins"]()}
    except (CommandExecutionError, SaltInvocationError):
        paths = {}
    current = {"pool": observe_pool(health), "paths": paths, "export": _export(conf)}
    previous = __context__.get(_KEY)
    __context__[_KEY] = current
    role = "active" if current["pool"] is not None else "standby"
    node = __grains__["id"]
    if previous is None:
        log.info("mdtmirror: pair %s on %s: watching (%s; first look: %s)", pair, node, role, current)
    fired = []
    for what, fields in events(previous, current):
        data = {"tag": f"{pair}/{what}", "pair": pair, "node": node, "peer": conf.get("peer"), "role": role}
        data.update(pool=pool, what=what, **fields)
        level = logging.WARNING if what.endswith(("/lost", "/gone", "/down", "/errors")) else logging.INFO
        log.log(level, "mdtmirror: pair %s on %s: %s %s", pair, node, what, fields)
        fired.append(data)
    return fired
