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
import os
import re
import time

import salt.utils.yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError

try:  # Salt >= 3008
    import salt.utils.secret  # noqa: F401

    MASKED_PILLAR = True
except ImportError:
    MASKED_PILLAR = False

__virtualname__ = "mdtmirror"

__all__ = ["settings", "errors", "formula_defaults", "local_targets", "plan", "node_facts", "node_status", "plan_node"]

# The sections a pair may override, and the keys whose values are free-form
# mappings (module options, attributes, ...): their contents are not checked
# against the defaults.
SECTIONS = ("target", "initiator", "mirror", "snapshots", "backup", "watch", "failover")
BACKENDS = ("scst", "lio")
LIO_KEYS = ("packages", "modules", "rdma_cm_port", "attributes", "config_file", "service")
FREE_FORM = {
    ("target", "module_options"),
    ("target", "attributes"),
    ("target", "lio"),
    ("initiator", "module_options"),
    ("initiator", "match"),
    ("initiator", "target"),
    ("initiator", "login_options"),
    ("initiator", "login_retry"),
    ("mirror", "properties"),
    ("mirror", "filesystem_properties"),
    ("snapshots", "policy"),
}
# Keys of mdtmirror: besides the sections: the pairs, this node's own facts,
# and the modules' configuration (sysroot, paths, bin, zpool_output).
TOP_KEYS = {
    "manage_packages",
    "pairs",
    "node",
    "peer_address",
    "sysroot",
    "paths",
    "bin",
    "zpool_output",
    "eagain_timeout",
}
NODE_KEYS = {"lun_path", "zvol", "initiators", "hca", "port"}
ZVOL_KEYS = {"name", "size", "properties"}
PAIR_KEYS = {"nodes", "owner", "pool", *SECTIONS}
DEFAULTS_URL = "salt://mdtmirror/defaults.yaml"
OSFAMILYMAP_URL = "salt://mdtmirror/osfamilymap.yaml"
PERIODS = ("frequently", "hourly", "daily", "weekly", "monthly", "yearly")

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_POOL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]{0,254}$")
_DATASET_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]*(/[A-Za-z0-9_.:\-]+)+$")
_SIZE_RE = re.compile(r"^[0-9]+(\.[0-9]+)?[KMGTP]?$")


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------
# pure: pillar -> this node's settings and the pillar's problems
# --------------------------------------------------------------------------


def _merge(base, over):
    """``over`` merged into a copy of ``base``, mappings recursively (Salt's "recurse")."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _unknown_keys(where, got, known, errors):
    for key in sorted(set(got) - set(known), key=str):
        errors.append(f"pillar key {where}:{key} is unknown (known: {', '.join(sorted(known))})")


def _check_sections(where, sections, defaults, errors):
    """Unknown keys and wrong types of the sections in ``sections`` (the top level or a pair)."""
    for section in SECTIONS:
        value = sections.get(section)
        if value is None:
            continue
        if not isinstance(value, dict):
            errors.append(f"pillar key {where}:{section} must be a mapping, not {value!r}")
            continue
        _unknown_keys(f"{where}:{section}", value, defaults[section], errors)
        for key, sub in value.items():
            if (section, key) in FREE_FORM and sub is not None and not isinstance(sub, dict):
                errors.append(f"pillar key {where}:{section}:{key} must be a mapping, not {sub!r}")


def _check_node(where, node, errors, need_lun=True):
    if not isinstance(node, dict):
        errors.append(f"pillar key {where} must be a mapping of node facts (lun_path, ...), not {node!r}")
        return
    _unknown_keys(where, node, NODE_KEYS, errors)
    zvol = node.get("zvol")
    if zvol is not None:
        if not isinstance(zvol, dict):
            errors.append(f"pillar key {where}:zvol must be a mapping (name, size, properties), not {zvol!r}")
        else:
            _unknown_keys(f"{where}:zvol", zvol, ZVOL_KEYS, errors)
            if not isinstance(zvol.get("name"), str) or not _DATASET_RE.match(zvol["name"]):
                errors.append(f"pillar key {where}:zvol:name must be pool/volume, not {zvol.get('name')!r}")
            if not _SIZE_RE.match(str(zvol.get("size", ""))):
                errors.append(f"pillar key {where}:zvol:size must be a size like 100G, not {zvol.get('size')!r}")
        if node.get("lun_path"):
            errors.append(f"pillar keys {where}:lun_path and {where}:zvol exclude each other: give one local LUN")
        return
    path = node.get("lun_path")
    if not path:
        if need_lun:
            errors.append(f"pillar key {where}:lun_path is missing: the local block device to export (or give zvol)")
    elif not isinstance(path, str) or not path.startswith("/dev/") or re.search(r"[\s,]", path):
        errors.append(f"pillar key {where}:lun_path must be a /dev path without blanks or commas, not {path!r}")


def _check_lio(lio, errors):
    """The target:lio section (the lio backend's own keys)."""
    where = "pillar key mdtmirror:target:lio"
    if not isinstance(lio, dict):
        errors.append(f"{where} must be a mapping, not {lio!r}")
        return
    for key in sorted(set(lio) - set(LIO_KEYS)):
        errors.append(f"{where}:{key} is unknown (keys: {', '.join(LIO_KEYS)})")
    packages = lio.get("packages")
    if not isinstance(packages, list) or not all(isinstance(p, str) and p for p in packages):
        errors.append(f"{where}:packages must be a list of package names, not {packages!r}")
    modules = lio.get("modules")
    names_ok = isinstance(modules, list) and all(isinstance(m, str) and _NAME_RE.match(m) for m in modules)
    if not names_ok or not modules:
        errors.append(f"{where}:modules must be a list of kernel module names, not {modules!r}")
    port = lio.get("rdma_cm_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        errors.append(f"{where}:rdma_cm_port must be a port number 1..65535 or null, not {port!r}")
    attributes = lio.get("attributes")
    if not isinstance(attributes, dict) or not all(_NAME_RE.match(str(k)) for k in attributes):
        errors.append(f"{where}:attributes must map configfs attribute names to values, not {attributes!r}")
    config_file = lio.get("config_file")
    if not isinstance(config_file, str) or not config_file.startswith("/"):
        errors.append(f"{where}:config_file must be an absolute path, not {config_file!r}")
    if not isinstance(lio.get("service"), str) or not lio["service"]:
        errors.append(f"{where}:service must be a service name, not {lio.get('service')!r}")


def _check_values(cfg, errors):
    """The merged settings' values (after defaults, pair sections and node facts)."""
    t, m, s, b = cfg["target"], cfg["mirror"], cfg["snapshots"], cfg["backup"]
    for key in ("device", "group", "handler", "driver"):
        if not isinstance(t.get(key), str) or not _NAME_RE.match(t[key]):
            errors.append(
                f"pillar key mdtmirror:target:{key} must be a name of letters, digits, _.:- (not {t.get(key)!r})"
            )
    lun = t.get("lun")
    if isinstance(lun, bool) or not isinstance(lun, int) or not 0 <= lun <= 16383:
        errors.append(f"pillar key mdtmirror:target:lun must be a LUN number 0..16383, not {lun!r}")
    if t.get("backend") not in BACKENDS:
        errors.append(f"pillar key mdtmirror:target:backend must be scst or lio, not {t.get('backend')!r}")
    _check_lio(t.get("lio"), errors)
    if not isinstance(m.get("pool"), str) or not _POOL_RE.match(m["pool"]):
        errors.append(f"pillar key mdtmirror:mirror:pool must be a pool name (a letter first), not {m.get('pool')!r}")
    if not isinstance(cfg.get("manage_packages"), bool):
        errors.append(f"pillar key mdtmirror:manage_packages must be true or false, not {cfg.get('manage_packages')!r}")
    for section in ("initiator", "mirror"):
        packages = cfg[section].get("packages")
        if not isinstance(packages, list) or not all(isinstance(p, str) and p for p in packages):
            errors.append(f"pillar key mdtmirror:{section}:packages must be a list of package names, not {packages!r}")
    for section, key in (("target", "allow_wildcard"), ("target", "enable_service"), ("initiator", "discover"),
                         ("initiator", "persist"), ("initiator", "enable_daemon"), ("mirror", "force"),
                         ("snapshots", "enabled"), ("watch", "enabled"), ("failover", "auto")):  # fmt: skip
        if not isinstance(cfg[section].get(key), bool):
            errors.append(f"pillar key mdtmirror:{section}:{key} must be true or false, not {cfg[section].get(key)!r}")
    policy = s.get("policy") or {}
    for period, keep in policy.items():
        if period not in PERIODS:
            errors.append(f"pillar key mdtmirror:snapshots:policy:{period} is unknown (periods: {', '.join(PERIODS)})")
        elif isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            errors.append(f"pillar key mdtmirror:snapshots:policy:{period} must be a count >= 0, not {keep!r}")
    interval = s.get("interval")
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        errors.append(f"pillar key mdtmirror:snapshots:interval must be minutes >= 1, not {interval!r}")
    beacon_interval = cfg["watch"].get("interval")
    if isinstance(beacon_interval, bool) or not isinstance(beacon_interval, int) or beacon_interval < 1:
        errors.append(f"pillar key mdtmirror:watch:interval must be seconds >= 1, not {beacon_interval!r}")
    destination = b.get("destination")
    if destination is not None and not (
        isinstance(destination, str) and (destination.startswith("file:/") or destination.startswith("ssh:"))
    ):
        errors.append(
            f"pillar key mdtmirror:backup:destination must be file:/dir or ssh:[user@]host:dataset, not {destination!r}"
        )


def resolve(defaults, pillar, minion_id):
    """
    This node's settings from the formula's ``defaults`` (the ``mdtmirror``
    mapping of defaults.yaml) and the pillar's ``mdtmirror`` mapping: defaults
    <- pillar <- the sections of the pair ``minion_id`` is a node of <- its
    node entry. Returns the merged mapping plus ``pair`` (its name or None),
    ``peer`` (the other node's id or None), ``node`` (this node's facts) and
    ``errors`` (one sentence per problem, each naming its pillar key).
    Pure: no host is looked at.
    """
    errors = []
    if pillar is None:
        pillar = {}
    if not isinstance(pillar, dict):
        return dict(
            _merge(defaults, {}), pair=None, peer=None, node={}, errors=["pillar key mdtmirror must be a mapping"]
        )
    _unknown_keys("mdtmirror", pillar, set(SECTIONS) | TOP_KEYS, errors)
    _check_sections("mdtmirror", pillar, defaults, errors)
    top = {key: value for key, value in pillar.items() if not (key in SECTIONS and not isinstance(value, dict))}
    cfg = _merge(defaults, top)

    pairs = pillar.get("pairs") or {}
    if not isinstance(pairs, dict):
        errors.append(f"pillar key mdtmirror:pairs must be a mapping of pair names, not {pairs!r}")
        pairs = {}
    mine = []  # (name, pair) of the pairs this minion is a node of
    for name, pair in pairs.items():
        where = f"mdtmirror:pairs:{name}"
        if not isinstance(pair, dict):
            errors.append(f"pillar key {where} must be a mapping (nodes, owner, pool, sections), not {pair!r}")
            continue
        nodes = pair.get("nodes")
        if not isinstance(nodes, dict):
            errors.append(f"pillar key {where}:nodes must map the pair's two minion ids to their facts, not {nodes!r}")
            continue
        if minion_id in nodes:
            mine.append((name, pair))
    if len(mine) > 1:
        names = " and ".join(f"mdtmirror:pairs:{name}" for name, _ in mine)
        errors.append(f"minion {minion_id} is a node of two pairs: {names}")

    if not mine:
        cfg.update(pair=None, peer=None, node=cfg.get("node") or {})
        _check_node("mdtmirror:node", cfg["node"], errors)
    else:
        name, pair = mine[0]
        where = f"mdtmirror:pairs:{name}"
        _unknown_keys(where, pair, PAIR_KEYS, errors)
        _check_sections(where, pair, defaults, errors)
        cfg = _merge(cfg, {key: pair[key] for key in SECTIONS if isinstance(pair.get(key), dict)})
        nodes = pair["nodes"]
        if len(nodes) != 2:
            errors.append(f"pillar key {where}:nodes must name exactly two minions, not {len(nodes)}")
        node = nodes[minion_id] if nodes[minion_id] is not None else {}
        # The node's facts: its entry in the pair over the per-minion mdtmirror:node.
        _check_node(f"{where}:nodes:{minion_id}", node, errors, need_lun=False)
        if pillar.get("node") is not None:
            _check_node("mdtmirror:node", pillar["node"], errors, need_lun=False)
        merged_node = _merge(cfg.get("node") or {}, node if isinstance(node, dict) else {})
        if isinstance(node, dict) and not merged_node.get("lun_path") and not merged_node.get("zvol"):
            errors.append(
                f"pillar key {where}:nodes:{minion_id}:lun_path is missing: the local block device to export "
                "(or give zvol)"
            )
        peers = [peer for peer in nodes if peer != minion_id]
        cfg.update(pair=name, peer=peers[0] if len(peers) == 1 else None, node=merged_node)
        for key in ("pool", "owner"):
            if key in pair:
                cfg["mirror"][key] = pair[key]
        owner = cfg["mirror"].get("owner")
        if owner is None:
            errors.append(f"pillar key {where}:owner is missing: the minion id that creates and imports the pool")
        elif owner not in nodes:
            errors.append(f"pillar key {where}:owner is {owner!r}, not one of the pair's nodes ({', '.join(nodes)})")
    _check_values(cfg, errors)
    cfg["errors"] = errors
    return cfg


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
    sysroot = _config("mdtmirror:sysroot", "/") or "/"
    return os.path.join(sysroot, path.lstrip("/"))


def _block_device_problem(path):
    """Why ``path`` (a host path) is not a block device, or None: the kernel
    lists every block device in ``/sys/class/block`` under its /dev name, so
    the path must resolve to ``/dev/<name>`` with that entry."""
    real = _host(path)
    if not os.path.exists(real):
        return "does not exist"
    sysroot = os.path.realpath(_host("/"))
    resolved = os.path.realpath(real)
    if os.path.isdir(resolved):
        return "is a directory"
    relative = os.path.relpath(resolved, sysroot)
    parent, name = os.path.split(relative)
    if parent != "dev" or not os.path.exists(_host(f"/sys/class/block/{name}")):
        return f"resolves to /{relative}, which is not a block device (not in /sys/class/block)"
    return None


def _lun_problem(cfg):
    """The configured LUN number already maps another device in this node's SCST group."""
    t, node = cfg["target"], cfg["node"]
    if t.get("backend") != "scst" or not __salt__["scst.is_loaded"]():
        return None
    try:
        target = __salt__["scst.port_target"](hca=node.get("hca"), port=node.get("port"), driver=t["driver"])
        groups = __salt__["scst.list_groups"](target, driver=t["driver"])
    except (CommandExecutionError, SaltInvocationError):
        return None  # no port target yet: nothing to collide with
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


def formula_defaults():
    """
    The formula's defaults.yaml with this OS family's osfamilymap.yaml
    entry, from the master (for the CLI; map.jinja passes them).

    CLI Example:

    .. code-block:: bash

        salt 'mds01' mdtmirror.formula_defaults
    """
    text = __salt__["cp.get_file_str"](DEFAULTS_URL)
    if not text:
        raise CommandExecutionError(f"cannot read {DEFAULTS_URL}: is the mdtmirror formula in the master's file_roots?")
    defaults = salt.utils.yaml.safe_load(text)["mdtmirror"]
    families = salt.utils.yaml.safe_load(__salt__["cp.get_file_str"](OSFAMILYMAP_URL) or "") or {}
    return _merge(defaults, families.get(__grains__.get("os_family")) or {})


def settings(defaults=None):
    """
    This minion's mdtmirror settings (see :py:func:`resolve`; ``defaults``:
    the formula's, read from the master when not given), with the host
    checks added to ``errors``: the local LUN is a block device, its LUN
    number is free in the SCST group (or already ours).

    CLI Example:

    .. code-block:: bash

        salt 'mds01' mdtmirror.settings
    """
    if defaults is None:
        defaults = formula_defaults()
    cfg = resolve(defaults, _pillar("mdtmirror"), __grains__["id"])
    errors = cfg["errors"]
    node = cfg.get("node") or {}
    path = node.get("lun_path") if isinstance(node, dict) else None
    if isinstance(path, str) and path.startswith("/dev/") and not node.get("zvol"):
        problem = _block_device_problem(path)
        if problem:
            key = f"mdtmirror:pairs:{cfg['pair']}:nodes:{__grains__['id']}" if cfg["pair"] else "mdtmirror:node"
            errors.append(f"pillar key {key}:lun_path: {path} {problem}")
    if not errors:
        problem = _lun_problem(cfg)
        if problem:
            errors.append(problem)
    return cfg


def errors(defaults=None):
    """
    The problems of this minion's mdtmirror pillar, one sentence each naming
    its key (empty: the formula may run).

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.errors
    """
    return settings(defaults)["errors"]


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

# What the peer publishes in the mine, under these names (pillar.example's mine_functions).
MINE_FACTS = ("mdtmirror_targets", "mdtmirror_srp_ports", "mdtmirror_ips", "mdtmirror_node")


def decide_role(cfg, minion_id, local, peer_node=None):
    """
    ``("active"|"standby", why)`` of this node, from the world:

    - the pool is imported here: active;
    - the peer published that it has the pool imported: standby;
    - this node is the pillar's owner and the pool exists on no disk it can
      see (``local["pool_on_disks"]`` false): active, it creates the pool;
    - otherwise standby. ``state.apply`` never imports a pool: a node that
      comes back after a takeover, or a pair where neither node has the pool
      imported, stays standby until mdtmirror.switchover/takeover says
      which node becomes active (multihost is the fence; the pillar is not).
    """
    pool = cfg["mirror"]["pool"]
    peer = cfg.get("peer")
    if pool in (local.get("pools") or ()):
        return "active", f"pool {pool} is imported here"
    if peer_node and pool in (peer_node.get("pools") or ()):
        return "standby", f"pool {pool} is imported on the peer {peer}"
    if cfg["mirror"].get("owner") == minion_id:
        if local.get("pool_on_disks"):
            return "standby", (
                f"pool {pool} exists on the disks but is imported nowhere this node knows of: state.apply never "
                "imports; mdtmirror.switchover (to: <node>) or mdtmirror.takeover makes a node active"
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
      "remote_pending"}`` (remote None: a problem says why).
    """
    peer_facts = peer_facts or {}
    if role is not None and role not in ("active", "standby"):
        raise SaltInvocationError(
            f"pillar key mdtmirror_role (set by mdtmirror.switchover/takeover): role must be active or standby, "
            f"not {role!r}"
        )
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
    out["pool"] = {"name": m["pool"], "local": local_side, "remote": remote, "remote_pending": pending}
    return out


def _mine_facts(peer):
    """The peer's published facts, one mine round trip for all of them."""
    published = __salt__["mine.get"](peer, list(MINE_FACTS)) or {}
    return {fun: (published.get(fun) or {}).get(peer) for fun in MINE_FACTS}


def _own_disk(cfg):
    """This node's LUN: ``lun_path``, or its zvol's device (None when the pillar gives neither)."""
    node = cfg.get("node") or {}
    return "/dev/zvol/" + node["zvol"]["name"] if node.get("zvol") else node.get("lun_path")


def _local_facts(cfg):
    """What the plan needs from this host: pools here, the pool on the disks, the login's disk."""
    pool = cfg["mirror"]["pool"]
    pools = list(__salt__["zfsmirror.list_pools"]())
    local = {"pools": pools, "pool_on_disks": False, "login_disk": None, "predicted_remote": None}
    if pool not in pools and cfg["mirror"].get("owner") == __grains__["id"]:
        # Is the pool fresh? ``zpool import`` skips a disk another holder has open, and a
        # standby's own disk is held by its export: its label is read as well (blkid), or an
        # owner whose peer's mine facts are missing or stale would take the live mirror side
        # it exports for a blank disk.
        own = _own_disk(cfg)
        local["pool_on_disks"] = pool in __salt__["zfsmirror.import_listing"]() or bool(
            own and (__salt__["zfsmirror.disk_label"](own) or {}).get("pool") == pool
        )
    if pool in pools or cfg["mirror"].get("owner") == __grains__["id"] or cfg.get("peer"):
        try:
            logins = __salt__["srp.list_logins"]()
        except (CommandExecutionError, SaltInvocationError):
            logins = []  # ib_srp not loaded yet: no login
        if len(logins) == 1:
            disks = __salt__["srp.disks"](logins[0], timeout=10)
            if disks and disks[0].get("by_id"):
                local["login_disk"] = disks[0]["by_id"][0]
    t = cfg["target"]
    if cfg.get("peer"):
        if t.get("backend") == "lio":
            serial = __salt__["lio.default_serial"](cfg["peer"], t["device"])
            local["predicted_remote"] = __salt__["lio.initiator_by_id"](serial)
        else:
            local["predicted_remote"] = __salt__["scst.initiator_by_id"](t["device"], t.get("attributes"))
    return local


def plan(defaults=None, role=None):
    """
    This node's plan (:py:func:`plan_node`) with its settings: role (from
    where the pool is imported), what it exports, where it logs in, what
    happens to the pool, and why. Computed once per run (the formula's SLS
    files share it). Nothing is changed.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.plan
    """
    # One job renders several SLS files: they share one plan. Keyed by the job,
    # so a minion that keeps its modules between jobs never reuses an old plan.
    jid = __opts__.get("jid")
    key = ("mdtmirror.plan", role, jid)
    if jid and key in __context__:
        return copy.deepcopy(__context__[key])
    cfg = settings(defaults)
    if cfg["errors"]:
        out = {"settings": cfg, "role": None, "why": "the pillar has errors", "problems": [], "missing": []}
        return out
    peer_facts = _mine_facts(cfg["peer"]) if cfg.get("peer") else {}
    out = plan_node(cfg, __grains__["id"], peer_facts, _local_facts(cfg), role=role)
    out["settings"] = cfg
    if jid:
        __context__[key] = copy.deepcopy(out)
    return out


def node_facts():
    """
    What this node publishes for its peer (mine function ``mdtmirror_node``):
    the pools imported here.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' mdtmirror.node_facts
    """
    return {"pools": sorted(__salt__["zfsmirror.list_pools"]())}


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
    p = plan()
    cfg = p["settings"]
    pool = cfg["mirror"]["pool"]
    out = {
        "node": __grains__["id"],
        "pair": cfg.get("pair"),
        "peer": cfg.get("peer"),
        "pool": pool,
        "role": p.get("role"),
        "why": p.get("why"),
        "errors": list(cfg["errors"]),
        "imported": False,
        "health": None,
        # What the failover runner needs of this node's pillar: it takes over only where this is true.
        "failover": {"auto": cfg["failover"].get("auto") is True},
    }
    if cfg["errors"]:
        return out
    out["imported"] = pool in __salt__["zfsmirror.list_pools"]()
    try:
        out["paths"] = [
            {"remote_port": login["remote_port"], "state": login["state"], "id_ext": login["id_ext"]}
            for login in __salt__["srp.list_logins"]()
        ]
    except (CommandExecutionError, SaltInvocationError):
        out["paths"] = []  # ib_srp not loaded: no path
    if out["imported"]:
        side = p.get("pool") or {}
        state, sides = None, []
        try:
            if side.get("local") and side.get("remote"):
                heal = __salt__["zfsmirror.heal"](pool, side["local"], side["remote"], test=True)
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
        out["snapshots"] = _snapshot_ages(cfg)
    return out


def _snapshot_ages(cfg):
    """Seconds since the newest schedule snapshot and since the newest one a backup holds (None: none)."""
    dataset = cfg["snapshots"].get("dataset") or cfg["mirror"]["pool"]
    prefix = cfg["snapshots"].get("prefix") or "mdtmirror-"
    try:
        snaps = [
            s for s in __salt__["zfsmirror.list_snapshots"](dataset) if s["name"].split("@", 1)[1].startswith(prefix)
        ]
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
