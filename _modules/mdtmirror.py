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
import errno
import ipaddress
import logging
import os
import re
import stat
import time

import salt.utils.yaml
from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import hostio  # noqa: E402  (after current(): the fresh copy)

log = logging.getLogger(__name__)

try:  # Salt >= 3008
    import salt.utils.secret  # noqa: F401

    MASKED_PILLAR = True
except ImportError:
    MASKED_PILLAR = False

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

# The sections a pair may override (schema.yaml marks them ``pair: true``).
SECTIONS = ("target", "initiator", "mirror", "snapshots", "backup", "watch", "failover")
BACKENDS = ("scst", "lio")
DEFAULTS_URL = "salt://mdtmirror/defaults.yaml"
OSFAMILYMAP_URL = "salt://mdtmirror/osfamilymap.yaml"
SCHEMA_URL = "salt://mdtmirror/schema.yaml"
PERIODS = ("frequently", "hourly", "daily", "weekly", "monthly", "yearly")


def _is_address(text):
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


# The string rules schema.yaml names (``pattern:``): a full-match regex or a
# predicate, and what a good value looks like (for the error message).
PATTERNS = {
    "name": (r"[A-Za-z0-9_.:\-]{1,64}", "a name of letters, digits, _.:- (at most 64)"),
    "pair": (r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", "a pair name of letters, digits, _.-"),
    "minion": (r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,254}", "a minion id"),
    "pool": (r"[A-Za-z][A-Za-z0-9_.:\-]{0,254}", "a pool name (a letter first)"),
    "dataset": (r"[A-Za-z][A-Za-z0-9_.:\-]*(/[A-Za-z0-9_.:\-]+)*", "a dataset name (pool or pool/child)"),
    "volume": (r"[A-Za-z][A-Za-z0-9_.:\-]*(/[A-Za-z0-9_.:\-]+)+", "pool/volume"),
    "size": (r"[0-9]+(\.[0-9]+)?[KMGTP]?", "a size like 100G"),
    "module": (r"[A-Za-z0-9_\-]{1,55}", "a kernel module name"),
    "option": (r"[A-Za-z_][A-Za-z0-9_]{0,63}", "an option name (letters, digits, _)"),
    "property": (r"[a-z][a-z0-9_:.\-]{0,63}", "a ZFS property name"),
    "package": (r"[A-Za-z0-9][A-Za-z0-9+.\-_:]{0,127}", "a package name"),
    "service": (r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}", "a systemd unit name"),
    "hca": (r"[A-Za-z0-9_\-]{1,64}", "an HCA name like mlx5_0"),
    "initiator": (r"[A-Za-z0-9_.:\-*?!@]{1,255}", "an initiator name (a GID, an IP address or a port ID)"),
    "root": (r"/([^\s\x00]*)", "an absolute directory"),
    "dirpath": (r"(/[^/\s\x00]+)+/?", "an absolute path"),
    "filepath": (r"(/[^/\s\x00]+)+", "an absolute file path"),
    "devpath": (r"/dev(/[^/\s\x00,]+)+", "a /dev path without blanks or commas"),
    "command": (r"[A-Za-z0-9_.+\-]+|(/[^/\s\x00]+)+", "a command name or an absolute path"),
    "address": (_is_address, "an IPv4 or IPv6 address"),
    "snapshot_prefix": (r"[A-Za-z0-9_.:\-]{1,64}", "a snapshot name prefix of letters, digits, _.:-"),
    "calendar": (r"[A-Za-z0-9*~][A-Za-z0-9*:,./~ \-]{0,127}", "a systemd OnCalendar expression"),
    "destination": (
        r"file:(/[^/\s\x00%]+)+/?|ssh:([A-Za-z0-9_][A-Za-z0-9_.\-]*@)?([A-Za-z0-9][A-Za-z0-9.\-]*"
        r"|\[[0-9A-Fa-f:.]+\]):[A-Za-z][A-Za-z0-9_.:\-]*(/[A-Za-z0-9_.:\-]+)*",
        "file:/dir or ssh:[user@]host:pool/dataset",
    ),
    "srp_value": (r"[0-9A-Za-z:.\[\]%_\-]{1,128}", "an SRP identifier (hexadecimal, a GID or ip:port)"),
    "srp_match_key": (r"id_ext|ioc_guid|dgid|service_id|pkey", "an SRP target identifier"),
    "srp_target_key": (
        r"id_ext|ioc_guid|dgid|pkey|service_id|src|dest|initiator_ext",
        "an SRP target identifier (id_ext, ioc_guid, dgid, pkey, service_id, dest, src, initiator_ext)",
    ),
    "srp_option_key": (
        r"max_sect|max_cmd_per_lun|target_can_queue|io_class|cmd_sg_entries|allow_ext_sg|sg_tablesize"
        r"|comp_vector|tl_retry_count|queue_size|max_it_iu_size|ch_count",
        "an add_target option of ib_srp",
    ),
    "period": ("|".join(PERIODS), "a period (" + ", ".join(PERIODS) + ")"),
    "path_name": (r"[a-z][a-z0-9_]{0,63}", "a path name"),
    "bin_name": (r"[a-z][a-z0-9_]{0,63}", "a command's name"),
}


def _matches(pattern, value):
    rule = PATTERNS[pattern][0]
    if callable(rule):
        return isinstance(value, str) and rule(value)
    return isinstance(value, str) and re.fullmatch(rule, value) is not None


def _describe(spec):
    """What a good value of ``spec`` looks like, for an error message."""
    kind = spec["type"]
    if kind == "int":
        if "max" in spec:
            return f"an integer {spec.get('min', 0)}..{spec['max']}"
        return f"an integer >= {spec.get('min', 0)}"
    if kind == "number":
        return f"a number >= {spec.get('min', 0)}"
    if kind == "str":
        return PATTERNS[spec["pattern"]][1]
    if kind == "enum":
        return "one of " + ", ".join(str(v) for v in spec["values"])
    return {
        "bool": "true or false",
        "scalar": "a string, number or true/false",
        "list": "a list",
        "map": "a mapping",
        "section": "a mapping",
    }[kind]


def check(spec, value, where, errors):
    """
    Append to ``errors`` one sentence per problem of ``value`` against
    ``spec`` (a schema.yaml entry) at pillar key ``where``. Pure; never
    raises on any value YAML can produce.
    """
    if value is None:
        if not spec.get("nullable"):
            errors.append(f"pillar key {where} must be {_describe(spec)}, not null")
        return
    kind = spec["type"]
    doc = f" ({spec['doc']})" if spec.get("doc") and kind not in ("section", "map", "list") else ""
    bad = f"pillar key {where} must be {_describe(spec)}{doc}, not {value!r}"
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind in ("int", "number"):
        types = (int,) if kind == "int" else (int, float)
        ok = isinstance(value, types) and not isinstance(value, bool)
        ok = ok and value >= spec.get("min", value) and value <= spec.get("max", value)
    elif kind == "str":
        ok = _matches(spec["pattern"], value)
    elif kind == "enum":
        ok = any(value == v and type(value) is type(v) for v in spec["values"])
    elif kind == "scalar":
        ok = isinstance(value, (str, int, float, bool))
    elif kind == "list":
        ok = isinstance(value, list) and len(value) >= spec.get("min_items", 0)
        if ok:
            for index, item in enumerate(value):
                check(spec["items"], item, f"{where}:{index}", errors)
    elif kind == "map":
        ok = isinstance(value, dict)
        if ok:
            known = spec.get("known") or {}
            for key, sub in value.items():
                if key in known:
                    check(known[key], sub, f"{where}:{key}", errors)
                elif not _matches(spec["keys"], key):
                    errors.append(
                        f"pillar key {where}:{key} is not {PATTERNS[spec['keys']][1]}"
                        + (" (quote it: YAML read it as a number)" if isinstance(key, (int, float)) else "")
                    )
                else:
                    check(spec["values"], sub, f"{where}:{key}", errors)
    elif kind == "section":
        ok = isinstance(value, dict)
        if ok:
            keys = spec["keys"]
            for key, sub in value.items():
                if key in keys:
                    check(keys[key], sub, f"{where}:{key}", errors)
                else:
                    errors.append(f"pillar key {where}:{key} is unknown (known: {', '.join(keys)})")
    else:
        raise ValueError(f"schema.yaml: unknown type {kind!r} at {where}")
    if not ok:
        errors.append(bad)


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


def _node_lun_problems(where, node, errors, need_lun):
    """One local LUN per node: lun_path or zvol, not both; one of them when ``need_lun``."""
    if not isinstance(node, dict):
        return
    if node.get("zvol") is not None and node.get("lun_path"):
        errors.append(f"pillar keys {where}:lun_path and {where}:zvol exclude each other: give one local LUN")
    elif need_lun and not node.get("lun_path") and node.get("zvol") is None:
        errors.append(f"pillar key {where}:lun_path is missing: the local block device to export (or give zvol)")


def _pair_problems(name, pair, pillar_owner, errors):
    """A pair's rules beyond its schema: two nodes, its owner one of them, no node with two LUNs."""
    where = f"mdtmirror:pairs:{name}"
    if not isinstance(pair, dict):
        return  # the schema said what it must be
    nodes = pair.get("nodes")
    if nodes is None:
        errors.append(f"pillar key {where}:nodes is missing: the pair's two minion ids with their facts")
        return
    if not isinstance(nodes, dict):
        return
    if len(nodes) != 2:
        errors.append(f"pillar key {where}:nodes must name exactly two minions, not {len(nodes)}")
    pair_mirror = pair.get("mirror") if isinstance(pair.get("mirror"), dict) else {}
    owner = pair.get("owner", pair_mirror.get("owner", pillar_owner))
    if owner is None:
        errors.append(f"pillar key {where}:owner is missing: the minion id that creates and imports the pool")
    elif isinstance(owner, str) and owner not in nodes:
        names = ", ".join(str(node) for node in nodes)
        errors.append(f"pillar key {where}:owner is {owner!r}, not one of the pair's nodes ({names})")
    for node_id, facts in nodes.items():
        _node_lun_problems(f"{where}:nodes:{node_id}", facts, errors, need_lun=False)


def _split_fleet(errors, own_pair):
    """(this node's errors, other pairs' errors): a broken pair does not stop the other pairs' nodes."""
    own, fleet = [], []
    for error in errors:
        match = re.match(r"pillar keys? mdtmirror:pairs:([^:\s]+)", error)
        (fleet if match and match.group(1) != str(own_pair) else own).append(error)
    return own, fleet


def resolve(defaults, pillar, minion_id, schema):
    """
    This node's settings from the formula's ``defaults`` (the ``mdtmirror``
    mapping of defaults.yaml) and the pillar's ``mdtmirror`` mapping: defaults
    <- pillar <- the sections of the pair ``minion_id`` is a node of <- its
    node entry. ``schema``: the ``mdtmirror`` entry of schema.yaml. Returns
    the merged mapping plus ``pair`` (its name or None), ``peer`` (the other
    node's id or None), ``node`` (this node's facts), ``errors`` (one
    sentence per problem of this node's pillar, each naming its pillar key)
    and ``fleet_errors`` (the problems of the other pairs' entries). Every
    value is checked where it is written (a pair's override under its pair's
    key); the merged values are only read when ``errors`` is empty. Pure: no
    host is looked at, and no pillar makes it raise.
    """
    errors = []
    if pillar is None:
        pillar = {}
    if not isinstance(pillar, dict):
        out = dict(_merge(defaults, {}), pair=None, peer=None, node={}, fleet_errors=[], warnings=[])
        out["errors"] = [f"pillar key mdtmirror must be a mapping, not {pillar!r}"]
        return out
    check(schema, pillar, "mdtmirror", errors)
    top = {key: value for key, value in pillar.items() if not (key in SECTIONS and not isinstance(value, dict))}
    top.pop("pairs", None)
    top.pop("node", None)
    cfg = _merge(defaults, top)
    pillar_mirror = pillar.get("mirror") if isinstance(pillar.get("mirror"), dict) else {}

    pairs = pillar.get("pairs")
    pairs = pairs if isinstance(pairs, dict) else {}
    mine = []  # (name, pair) of the pairs this minion is a node of
    for name, pair in pairs.items():
        _pair_problems(name, pair, pillar_mirror.get("owner"), errors)
        if isinstance(pair, dict) and isinstance(pair.get("nodes"), dict) and minion_id in pair["nodes"]:
            mine.append((name, pair))
    if len(mine) > 1:
        names = " and ".join(f"mdtmirror:pairs:{name}" for name, _ in mine)
        errors.append(f"minion {minion_id} is a node of two pairs: {names}")

    own_node = pillar.get("node") if isinstance(pillar.get("node"), dict) else {}
    if not mine:
        cfg.update(pair=None, peer=None, node=copy.deepcopy(own_node))
        # A broken pairs mapping is its own error; no second one about the node's LUN.
        if pillar.get("pairs") is None or isinstance(pillar.get("pairs"), dict):
            _node_lun_problems("mdtmirror:node", own_node, errors, need_lun=True)
    else:
        name, pair = mine[0]
        where = f"mdtmirror:pairs:{name}"
        cfg = _merge(cfg, {key: pair[key] for key in SECTIONS if isinstance(pair.get(key), dict)})
        nodes = pair["nodes"]
        entry = nodes[minion_id] if isinstance(nodes[minion_id], dict) else {}
        # The node's facts: its entry in the pair over the per-minion mdtmirror:node.
        merged_node = _merge(own_node, entry)
        if not errors:
            _node_lun_problems(f"{where}:nodes:{minion_id}", merged_node, errors, need_lun=True)
        peers = [peer for peer in nodes if peer != minion_id]
        cfg.update(pair=name, peer=peers[0] if len(peers) == 1 else None, node=merged_node)
        for key in ("pool", "owner"):
            if key in pair:
                cfg["mirror"][key] = pair[key]
    own, fleet = _split_fleet(errors, cfg["pair"])
    if not own:
        _cross_rules(cfg, own)
    cfg["errors"], cfg["fleet_errors"] = own, fleet
    cfg["warnings"] = _warnings(cfg, minion_id) if not own else []
    return cfg


def _warnings(cfg, minion_id):
    """Layouts that work but that the admin should know are risky (the validate stage shows them)."""
    zvol = (cfg.get("node") or {}).get("zvol")
    if not zvol or cfg["mirror"].get("local"):
        return []
    where = f"mdtmirror:pairs:{cfg['pair']}:nodes:{minion_id}" if cfg.get("pair") else "mdtmirror:node"
    return [
        f"pillar key {where}:zvol: while this node is active, pool {cfg['mirror']['pool']} has /dev/zvol/"
        f"{zvol['name']} as its local side, a zvol of another pool of the same host: a nested pool, which "
        "OpenZFS does not support (open deadlock reports, openzfs/zfs#11253). A whole disk or a partition "
        "(lun_path) is the safe layout."
    ]


def _cross_rules(cfg, errors):
    """Rules between keys of the merged settings (each value alone was right)."""
    initiators = cfg["node"].get("initiators") or []
    wild = [name for name in initiators if set(name) & set("*?!")]
    if wild and not cfg["target"]["allow_wildcard"]:
        errors.append(
            f"pillar key mdtmirror:node:initiators: {', '.join(wild)} would let any matching initiator log in: "
            "list initiator names, or set mdtmirror:target:allow_wildcard: true to mean it"
        )


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
    real = _host(path)
    if not os.path.exists(real):
        return "does not exist (ENOENT)"
    resolved = os.path.realpath(real)
    if block:
        if os.path.isdir(resolved):
            return "is a directory"
        relative = os.path.relpath(resolved, os.path.realpath(_host("/")))
        parent, name = os.path.split(relative)
        if parent != "dev" or not os.path.exists(_host(f"/sys/class/block/{name}")):
            return f"resolves to /{relative}, which is not a block device (not in /sys/class/block: ENOTBLK)"
    if exclusive and stat.S_ISBLK(os.stat(resolved).st_mode):
        try:
            os.close(os.open(resolved, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC))
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                return (
                    "is held open exclusively by another holder (a mounted filesystem, an imported pool, an "
                    "SCST or LIO export, md/dm): opening it for an export would fail with EBUSY"
                )
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


def _formula_schema():
    """The ``mdtmirror`` entry of the formula's schema.yaml, from the master."""
    text = __salt__["cp.get_file_str"](SCHEMA_URL)
    if not text:
        raise CommandExecutionError(f"cannot read {SCHEMA_URL}: is the mdtmirror formula in the master's file_roots?")
    return salt.utils.yaml.safe_load(text)["mdtmirror"]


def _host_paths_valid(errors):
    """The host checks read under sysroot/paths: not while those keys are wrong."""
    return not any(re.match(r"pillar key mdtmirror:(sysroot|paths)\b", error) for error in errors)


def settings(defaults=None, schema=None):
    """
    This minion's mdtmirror settings (see :py:func:`resolve`; ``defaults``
    and ``schema``: the formula's, read from the master when not given),
    with the host checks added to ``errors``: the local LUN is a block
    device, its LUN number is free in the SCST group (or already ours).

    CLI Example:

    .. code-block:: bash

        salt 'mds01' mdtmirror.settings
    """
    if defaults is None:
        defaults = formula_defaults()
    if schema is None:
        schema = _formula_schema()
    cfg = resolve(defaults, _pillar("mdtmirror"), __grains__["id"], schema)
    errors = cfg["errors"]
    node = cfg.get("node") or {}
    path = node.get("lun_path")
    if isinstance(path, str) and path.startswith("/dev/") and not node.get("zvol") and _host_paths_valid(errors):
        problem = disk_problem(path)
        if problem:
            key = f"mdtmirror:pairs:{cfg['pair']}:nodes:{__grains__['id']}" if cfg["pair"] else "mdtmirror:node"
            errors.append(f"pillar key {key}:lun_path: {path} {problem}")
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
    local = {
        "pools": pools,
        "pool_on_disks": False,
        "login_disk": None,
        "predicted_remote": None,
        "last_importer_here": False,
    }
    own = _own_disk(cfg)
    if pool not in pools and own:
        # Was this node the active one when it went down? Its disk's label says (zdb -l).
        try:
            local["last_importer_here"] = __salt__["zfsmirror.last_importer_here"](pool, own)
        except (CommandExecutionError, SaltInvocationError) as exc:
            # Unread is not "imported here": the node stays standby, the safe side.
            log.warning("mdtmirror: cannot read the ZFS label on %s: %s", own, exc)
    if pool not in pools and cfg["mirror"].get("owner") == __grains__["id"]:
        # Is the pool fresh? ``zpool import`` skips a disk another holder has open, and a
        # standby's own disk is held by its export: its label is read as well (blkid), or an
        # owner whose peer's mine facts are missing or stale would take the live mirror side
        # it exports for a blank disk.
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


def plan(defaults=None, role=None, schema=None):
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
    cfg = settings(defaults, schema)
    if cfg["errors"]:
        out = {"settings": cfg, "role": None, "why": "the pillar has errors", "problems": [], "missing": []}
        return out
    peer_facts = _mine_facts(cfg["peer"]) if cfg.get("peer") else {}
    out = plan_node(cfg, __grains__["id"], peer_facts, _local_facts(cfg), role=role)
    out["settings"] = cfg
    if jid:
        __context__[key] = copy.deepcopy(out)
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
        "fleet_errors": list(cfg["fleet_errors"]),
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
