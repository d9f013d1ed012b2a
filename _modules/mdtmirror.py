"""
The mdtmirror formula's settings: one pillar (many pairs, for a fleet) turned
into what one node does, and every problem of that pillar found before any
state changes anything.

``salt/mdtmirror/map.jinja`` calls :py:func:`settings` with the formula's
``defaults.yaml``; each stage renders one failing state per entry of
``errors`` (``mdtmirror.validate`` runs them on every node first). The rules
live here, not in Jinja, so that they are pure and tested on their own
(:py:func:`resolve`), and every message names the pillar key it is about.

Two checks look at the host (under ``mdtmirror:sysroot``), because only the
node itself can answer them: that its ``lun_path`` is a block device (the
kernel lists it in ``/sys/class/block``), and that the LUN number is not
already another device's in the SCST group.

Roles come from the world, not from the pillar (:py:func:`plan_node`): the
node where the pool is imported is **active** (its pool holds its own disk,
it exports nothing and logs in to the peer's LUN); the other is **standby**
(it exports its disk, exclusively, and holds nothing else). The pillar's
``owner`` only says which node creates the pool on a fresh pair.
"""

import copy
import logging
import re

import salt.utils.yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import hostio, nodefacts, nodeplan, pillar_rules  # noqa: E402  (after current(): the fresh copy)

# The pillar's rules and the node plan are pure and live in the library; their names stay here for callers and tests.
from mdtmirror_lib.nodeplan import (  # noqa: E402
    MINE_FACTS,
)
from mdtmirror_lib.pillar_rules import (  # noqa: E402
    BACKENDS,
    resolve,
)

log = logging.getLogger(__name__)

try:  # Salt >= 3008
    import salt.utils.secret  # noqa: F401

    MASKED_PILLAR = True
except ImportError:
    MASKED_PILLAR = False

try:  # Salt >= 3007: the file client of the state run a module is called from
    from salt.loader.dunder import __file_client__ as STATE_RUN_FILE_CLIENT
except ImportError:
    STATE_RUN_FILE_CLIENT = None

__virtualname__ = "mdtmirror"

__all__ = [
    "settings",
    "errors",
    "formula_defaults",
    "local_targets",
    "plan",
    "node_facts",
    "node_status",
    "plan_node",
    "disk_problem",
    "restore_points",
]

FORMULA = "mdtmirror"  # the formula's directory in file_roots (map.jinja passes its tpldir)


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------
# pure: pillar -> this node's settings and the pillar's problems
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# host checks (only this node can answer them)
# --------------------------------------------------------------------------


def _config(key, default=None):
    return __salt__["config.get"](key, default)


def _pillar(key):
    """A pillar value as written (Salt >= 3008 masks pillar values unless asked not to)."""
    if MASKED_PILLAR:
        return __salt__["pillar.get"](key, None, unmask=True)
    return __salt__["pillar.get"](key, None)


def _host(path):
    return hostio.under_sysroot(_config, path)


def disk_problem(path, block=True, exclusive=False):
    """
    What the kernel will refuse about opening ``path`` (a /dev path, under
    ``mdtmirror:sysroot``) as a disk, in words naming the errno, or None:
    missing (ENOENT); with ``block``, not a block device (the kernel lists
    every block device in ``/sys/class/block`` under its /dev name:
    ENOTBLK); with ``exclusive``, held open exclusively by another holder
    (a mounted filesystem, an imported pool, an SCST vdisk_blockio or LIO
    iblock export, md/dm): the exclusive open SCST and LIO make answers
    EBUSY. The exclusive probe is an ``O_EXCL`` open and close of the device
    node, so only a real block device can answer it; ask it only for a disk
    about to be opened (the disk of an existing export is held by it).
    The SCST and LIO states ask it before any write, test=True included.

    CLI Example:

    .. code-block:: bash

        salt 'mds01' mdtmirror.disk_problem /dev/disk/by-id/scsi-35000c500a1b2c3d4 exclusive=True
    """
    return hostio.disk_problem(_config, path, block=block, exclusive=exclusive)


def _port_target(cfg):
    """This node's SCST port target, None before SCST and ib_srpt are loaded (or with LIO). The SLS
    hands it to the SCST states, which would each look for it again: it cannot change within a state
    run (ib_srpt names its targets when it loads, and nothing in the formula unloads it)."""
    t, node = cfg["target"], cfg["node"]
    if t.get("backend") != "scst" or not __salt__["scst.is_loaded"]():
        return None
    try:
        return __salt__["scst.port_target"](hca=node.get("hca"), port=node.get("port"), driver=t["driver"])
    except (CommandExecutionError, SaltInvocationError):
        return None


def _lun_problem(cfg):
    """The configured LUN number already maps another device in this node's SCST group."""
    t, target = cfg["target"], cfg["scst_port_target"]
    if target is None:
        return None  # no port target yet: nothing to collide with
    try:
        groups = __salt__["scst.list_groups"](target, driver=t["driver"])
    except (CommandExecutionError, SaltInvocationError):
        return None
    group = groups.get(t["group"]) if isinstance(groups, dict) else None
    if not group:
        return None
    device = ((group.get("luns") or {}).get(t["lun"]) or {}).get("device")
    if device is not None and device != t["device"]:
        return (
            f"pillar key mdtmirror:target:lun: LUN {t['lun']} of group {t['group']} on target {target} is "
            f"already device {device}, not {t['device']}"
        )
    return None


def _formula_file(formula, name):
    """``salt://<formula>/<name>`` from the master, parsed; an error naming it when it is not there."""
    url = f"salt://{formula}/{name}"
    text = __salt__["cp.get_file_str"](url)
    if not text:
        raise CommandExecutionError(f"cannot read {url}: is the mdtmirror formula in the master's file_roots?")
    return salt.utils.yaml.safe_load(text) or {}


def formula_defaults(formula=FORMULA):
    """
    The formula's defaults.yaml with this OS family's osfamilymap.yaml
    entry, from the master (``formula``: the formula's directory in
    file_roots).

    CLI Example:

    .. code-block:: bash

        salt 'mds01' mdtmirror.formula_defaults
    """
    defaults = _formula_file(formula, "defaults.yaml")["mdtmirror"]
    families = _formula_file(formula, "osfamilymap.yaml")
    return pillar_rules.merge(defaults, families.get(__grains__.get("os_family")) or {})


def _host_paths_valid(errors):
    """The host checks read under sysroot/paths: not while those keys are wrong."""
    return not any(re.match(r"pillar key mdtmirror:(sysroot|paths)\b", error) for error in errors)


def settings(defaults=None, schema=None, formula=FORMULA):
    """
    This minion's mdtmirror settings (see :py:func:`resolve`; ``defaults``
    and ``schema``: the formula's, read from the master's ``salt://<formula>/``
    when not given),
    with the host checks added to ``errors``: the local LUN is a block
    device, its LUN number is free in the SCST group (or already ours);
    ``scst_port_target``: the SCST target of this node's port (None before
    SCST and ib_srpt are loaded, with LIO, or with errors).

    CLI Example:

    .. code-block:: bash

        salt 'mds01' mdtmirror.settings
    """
    if defaults is None:
        defaults = formula_defaults(formula)
    if schema is None:
        schema = _formula_file(formula, "schema.yaml")["mdtmirror"]
    cfg = resolve(defaults, _pillar("mdtmirror"), __grains__["id"], schema)
    errors = cfg["errors"]
    node = cfg.get("node") or {}
    path = node.get("lun_path")
    if isinstance(path, str) and path.startswith("/dev/") and not node.get("zvol") and _host_paths_valid(errors):
        problem = disk_problem(path)
        if problem:
            key = f"mdtmirror:pairs:{cfg['pair']}:nodes:{__grains__['id']}" if cfg["pair"] else "mdtmirror:node"
            errors.append(f"pillar key {key}:lun_path: {path} {problem}")
    cfg["scst_port_target"] = None if errors else _port_target(cfg)
    if not errors:
        problem = _lun_problem(cfg)
        if problem:
            errors.append(problem)
    return cfg


def errors(defaults=None, schema=None, fleet=False):
    """
    The problems of this minion's mdtmirror pillar, one sentence each naming
    its key (empty: the formula may run). ``fleet=True`` adds those of the
    other pairs' entries (they do not stop this node).

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.errors
        salt-call mdtmirror.errors fleet=True
    """
    cfg = settings(defaults, schema)
    return cfg["errors"] + (cfg["fleet_errors"] if fleet else [])


def _backend():
    """This node's target backend: its pair's target:backend, else the pillar's, else scst."""
    pillar = _pillar("mdtmirror") or {}
    backend = (pillar.get("target") or {}).get("backend") or "scst"
    for pair in (pillar.get("pairs") or {}).values():
        if isinstance(pair, dict) and __grains__["id"] in (pair.get("nodes") or {}):
            backend = (pair.get("target") or {}).get("backend") or backend
    return backend if backend in BACKENDS else "scst"


def local_targets():
    """
    This node's SRP targets with their login_info, from the target backend its
    pillar names (``scst.local_targets`` or ``lio.local_targets``): the mine
    function peers read (``mdtmirror_targets``).

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.local_targets
    """
    return __salt__[f"{_backend()}.local_targets"]()


# --------------------------------------------------------------------------
# the node's plan: role, export, login, pool (pure)
# --------------------------------------------------------------------------


def _mine_facts(peer):
    """The peer's published facts (:py:func:`mdtmirror_lib.nodefacts.peer_facts`): in a state run on
    Salt >= 3008 over the run's own request channel (3006's master also wants a signed token)."""
    channel = nodefacts.state_run_channel(STATE_RUN_FILE_CLIENT, __opts__) if MASKED_PILLAR else None
    return nodefacts.peer_facts(peer, MINE_FACTS, __opts__, __salt__, channel)


def plan_node(cfg, minion_id, peer_facts, local, role=None):
    """
    A node's plan from given facts, reading neither this host nor the mine:
    ``cfg`` (:py:func:`settings`), the peer's published facts and the local
    facts (``pools``, ``pool_on_disks``, ``last_importer_here``,
    ``login_disk``, ``predicted_remote``); ``mdtmirror_lib.nodeplan.plan_node``
    documents the result. :py:func:`plan` is the same with this node's facts.

    CLI Example:

    .. code-block:: bash

        salt-call mdtmirror.plan_node "$(salt-call --out=json mdtmirror.settings | jq .local)" mds01 '{}' \
            '{"pools": [], "pool_on_disks": false}'
    """
    return nodeplan.plan_node(cfg, minion_id, peer_facts, local, role=role)


def plan(defaults=None, role=None, schema=None, per_run=False, formula=FORMULA):
    """
    This node's plan (:py:func:`plan_node`) with its settings: role (from
    where the pool is imported), what it exports, where it logs in, what
    happens to the pool, and why. Nothing is changed.

    ``per_run`` (what map.jinja passes): computed once per state run, the
    formula's SLS files share it. A state run's modules share a ``__context__``
    Salt makes for that run (``dict(__context__)`` in state.apply/sls), and
    Salt puts no job id in the modules' opts, so the plan is kept there,
    marked with that dict's identity; a call without ``per_run`` (the CLI,
    the runner's questions) always reads the world again and keeps nothing.
    ``defaults``/``schema``: the formula's (``salt://<formula>/``, read once
    per run) when not given.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.plan
    """
    key = ("mdtmirror.plan", role)
    if per_run:
        kept = __context__.get(key)
        if kept is not None and kept[0] == id(__context__):
            return copy.deepcopy(kept[1])
    cfg = settings(defaults, schema, formula)
    if cfg["errors"]:
        out = {"settings": cfg, "role": None, "why": "the pillar has errors", "problems": [], "missing": []}
        return out
    peer_facts = _mine_facts(cfg["peer"]) if cfg.get("peer") else {}
    local = nodefacts.local_facts(
        cfg, __grains__["id"], __salt__, peer_node=peer_facts.get("mdtmirror_node"), forced=bool(role)
    )
    out = plan_node(cfg, __grains__["id"], peer_facts, local, role=role)
    out["settings"] = cfg
    if per_run:
        __context__[key] = (id(__context__), copy.deepcopy(out))
    return out


def restore_points():
    """
    The backups of this node's MDT that can be restored: its pillar's
    ``backup:destination`` listed by ``zfsmirror.restore_points`` (for a
    ``file:`` directory, the streams of ``snapshots:dataset`` or the pool).
    Returns ``{"destination", "dataset", "points"}``.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.restore_points
    """
    cfg = settings()
    if cfg["errors"]:
        raise CommandExecutionError("the pillar has errors: " + "; ".join(cfg["errors"]))
    destination = cfg["backup"]["destination"]
    if not destination:
        raise CommandExecutionError("pillar key mdtmirror:backup:destination is not set: this pair makes no backups")
    dataset = cfg["snapshots"]["dataset"] or cfg["mirror"]["pool"]
    narrow = dataset if destination.startswith("file:") else None
    points = __salt__["zfsmirror.restore_points"](destination, dataset=narrow)
    return {"destination": destination, "dataset": dataset, "points": points}


def node_facts():
    """
    What this node publishes for its peer (mine function ``mdtmirror_node``):
    the pools imported here.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.node_facts
    """
    return {"pools": __salt__["zfsmirror.pool_names"]()}


def node_status():
    """
    This node's part of its pair, for operations and status views: pair,
    peer, pool, role and why, whether the pool is imported here, and if so
    its health (``redundant``: both sides ONLINE and no resilver running,
    ``problems`` in words), whether it exports its disk and is logged in.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.node_status
    """
    return nodefacts.node_status(plan(), __grains__["id"], __salt__)
