"""
Declarative SRP initiator logins (ib_srp) on top of the ``srp`` execution module.

.. code-block:: yaml

    ib_srp:
      srp.module_loaded:
        - options: {fast_io_fail_tmo: 5, dev_loss_tmo: 30, reconnect_delay: 3}

    peer-mdt:
      srp.connected:
        - discover: true          # srp_daemon on InfiniBand; the peer's port is found, not typed
        - exclude_local: true     # our own SCST target is on the fabric too
        # or, on RoCE (no subnet manager):
        # - target: {id_ext: 005400fffe123456, ioc_guid: 005400fffe123456, dest: "10.0.0.2:5555"}

Like the scst states, each state builds a plan first and either reports it
(``test=True``) or carries it out, so predictions and real runs agree.
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import stateplan  # noqa: E402  (after current(): the fresh copy)

__virtualname__ = "srp"


def __virtual__():
    if "srp.login" in __salt__:
        return __virtualname__
    return (False, "the srp execution module is not available")


_ret = stateplan.new_ret
_fail = stateplan.fail


def _norm_gid(text):
    return (text or "").replace(":", "").lower()


def _is_local(target, ports):
    """A target port served by this host: its dgid is one of our port GIDs."""
    local_gids = {_norm_gid(p["gid"]) for p in ports if p.get("gid")}
    local_guids = {_norm_gid(p["node_guid"]) for p in ports if p.get("node_guid")}
    return _norm_gid(target.get("dgid")) in local_gids or _norm_gid(target.get("ioc_guid")) in local_guids


def _select(candidates, match, exclude_local, ports):
    chosen = []
    for target in candidates:
        if exclude_local and _is_local(target, ports):
            continue
        if any(_norm_gid(str(target.get(k))) != _norm_gid(str(v)) for k, v in (match or {}).items()):
            continue
        if target not in chosen:
            chosen.append(target)
    return chosen


def _resolve(target, discover, match, exclude_local, port):
    if target is not None:
        if discover:
            raise SaltInvocationError("give either target or discover, not both")
        return target
    if not discover:
        raise SaltInvocationError("no SRP target: give target (id_ext, ioc_guid, dgid/dest ...) or discover: true")
    found = __salt__["srp.discover"](port=port)
    candidates = [t for targets in found.values() for t in targets]
    chosen = _select(candidates, match, exclude_local, __salt__["srp.ports"]())
    if len(chosen) != 1:
        listing = "; ".join(f"id_ext={t['id_ext']} ioc_guid={t['ioc_guid']} dgid={t.get('dgid')}" for t in candidates)
        raise CommandExecutionError(
            f"discovery found {len(chosen)} SRP target ports matching {match or 'anything'}"
            f"{' (local ones excluded)' if exclude_local else ''}; seen: {listing or 'none'}. "
            "Narrow it with match: {ioc_guid: ...} or give target"
        )
    # srp_daemon may print keys add_target does not take (kept for display).
    return {k: v for k, v in chosen[0].items() if k in ("id_ext", "ioc_guid", "dgid", "pkey", "service_id")}


def module_loaded(name, options=None, persist=True, publish=False):
    """
    Ensure ib_srp (and ib_umad) are loaded with ``options`` (``dev_loss_tmo``,
    ``fast_io_fail_tmo``, ``reconnect_delay``, ``ch_count``...) and, with
    ``persist``, that those options are in ``/etc/modprobe.d/ib_srp.conf``.
    Options of an already loaded module differ until it is reloaded (which
    drops every login): reported in the comment, not done. With
    ``publish``, a run that loads ib_srp then runs ``mine.update`` (the
    peer needs this node's initiator port GIDs).
    """
    ret = _ret(name)
    try:
        info = __salt__["srp.module_options"]()
        loaded = info["running"] is not None
        steps = []
        if not loaded:
            steps.append(("ib_srp", {"old": "not loaded", "new": "loaded"}, lambda: __salt__["srp.load"](options)))
        if persist and __salt__["srp.persist_module_options"](options or {}, test=True):
            steps.append(
                (
                    info["path"],
                    {"old": info["persisted"], "new": options or {}},
                    lambda: __salt__["srp.persist_module_options"](options or {}),
                )
            )
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    notes = []
    if loaded:
        for key, value in (options or {}).items():
            running = info["running"].get(key)
            if running is not None and str(running).lower() != str(value).lower():
                notes.append(f"ib_srp runs with {key}={running}, declared {value}: applies when ib_srp is reloaded")
    ret = _finish(ret, steps, "ib_srp is loaded", "ib_srp", notes)
    return stateplan.publish(ret, __salt__) if publish else ret


def _finish(ret, steps, ok_comment, what, notes=()):
    return stateplan.carry_out(ret, steps, __opts__["test"], ok_comment, what, notes)


def connected(name, target=None, discover=False, match=None, exclude_local=True, port=None, options=None):
    """
    Ensure this host is logged in to one SRP target port, and report the
    disks it yields with their stable ``/dev/disk/by-id`` paths.

    The target is given (``target``: an add_target line or dict), or found
    with ``discover: true`` (srp_daemon on InfiniBand): with
    ``exclude_local`` (default) our own targets are ignored, ``match``
    narrows by any key (``ioc_guid``, ``dgid``...); exactly one must remain.
    """
    ret = _ret(name)
    try:
        spec = _resolve(target, discover, match, exclude_local, port)
        predicted = __salt__["srp.login"](spec, port=port, test=True, **(options or {}))
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    key = f"{predicted['port']}:{predicted['target']['id_ext']}:{predicted['target']['ioc_guid']}"
    if not predicted["changed"]:
        try:
            disks = __salt__["srp.disks"](predicted["login"], timeout=5)
        except CommandExecutionError as exc:
            return _fail(ret, exc)
        ret["comment"] = f"Logged in ({predicted['remote_port']}); disks: {_disk_names(disks)}"
        return ret
    change = {"old": None, "new": predicted["line"]}
    if __opts__["test"]:
        ret.update(result=None, changes={key: change}, comment=f"Would log in: {predicted['line']}")
        return ret
    try:
        done = __salt__["srp.login"](spec, port=port, **(options or {}))
        ret["changes"] = {key: change}
        disks = __salt__["srp.disks"](done["login"])
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    if not disks:
        # SCST's ib_srpt accepts any initiator and gives one in no security
        # group the target's default LUN set (empty here): a login without a
        # disk means this host is not in the peer's group. Log out again so
        # nothing is left half-made.
        port_info = next((p for p in __salt__["srp.ports"]() if p["name"] == done["port"]), {})
        who = port_info.get("gid") or done["port"]
        try:
            __salt__["srp.logout"](done["login"])
            ret["changes"] = {}
        except CommandExecutionError:
            pass
        return _fail(
            ret,
            CommandExecutionError(
                f"the target {predicted['line']} exports no LUN to this initiator (port GID {who}, or its IP "
                "address over RDMA/CM): is this initiator in the target's security group? Logged out again."
            ),
        )
    ret["comment"] = f"Logged in ({done['remote_port']}); disks: {_disk_names(disks)}"
    return ret


def _disk_names(disks):
    return ", ".join((d["by_id"] or [d["dev"]])[0] for d in disks) or "none"


def disconnected(name, target, port=None):
    """Ensure no login to ``target`` (a target spec, ``port-H:1`` or ``hostH``) exists."""
    ret = _ret(name)
    try:
        predicted = __salt__["srp.logout"](target, port=port, test=True)
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    if not predicted["changed"]:
        ret["comment"] = "Not logged in"
        return ret
    changes = {rport: {"old": "logged in", "new": None} for rport in predicted["removed"]}
    if __opts__["test"]:
        ret.update(result=None, changes=changes, comment="Would log out")
        return ret
    try:
        __salt__["srp.logout"](target, port=port)
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    ret.update(changes=changes, comment="Logged out")
    return ret


def persistent(name, targets=None, discover=False, match=None, exclude_local=True, port=None, srp_load=True):
    """
    Make logins survive a reboot: ``/etc/srp_daemon.conf`` allows exactly
    ``targets`` (or the one target ``discover``/``match`` finds, as in
    ``srp.connected``) and denies everything else, and ``SRP_LOAD=yes`` is set
    in ``/etc/rdma/rdma.conf`` on systems that still read it. Enable
    ``srp_daemon.service`` with ``service.enabled`` next to this state.
    """
    ret = _ret(name)
    steps = []
    try:
        if targets is None:
            targets = [_resolve(None, discover, match, exclude_local, port)]
        if __salt__["srp.persist_daemon_conf"](targets, test=True):
            steps.append(
                (
                    "srp_daemon.conf",
                    {"old": "other", "new": "allow"},
                    lambda: __salt__["srp.persist_daemon_conf"](targets),
                )
            )
        if srp_load and __salt__["srp.rdma_conf_srp_load"](test=True):
            steps.append(
                ("rdma.conf", {"old": None, "new": "SRP_LOAD=yes"}, lambda: __salt__["srp.rdma_conf_srp_load"]())
            )
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    return _finish(ret, steps, "SRP logins are persistent", "SRP persistence")
