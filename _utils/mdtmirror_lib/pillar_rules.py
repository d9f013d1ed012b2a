"""
The pillar's rules, pure: pillar -> this node's settings and the pillar's
problems. Each key's rule is data (``salt://mdtmirror/schema.yaml``: type,
range, pattern, meaning) checked by :py:func:`check`; :py:func:`resolve`
merges defaults, the pillar, the node's pair and the node's own entry, and
returns one error per problem, each naming its key. A bad pillar never raises.
"""

import copy
import ipaddress
import re

# The sections a pair may override (schema.yaml marks them ``pair: true``).
SECTIONS = ("target", "initiator", "mirror", "snapshots", "backup", "watch", "failover")


BACKENDS = ("scst", "lio")


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


def merge(base, over):
    """``over`` merged into a copy of ``base``, mappings recursively (Salt's "recurse")."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
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
        out = dict(merge(defaults, {}), pair=None, peer=None, node={}, fleet_errors=[], warnings=[])
        out["errors"] = [f"pillar key mdtmirror must be a mapping, not {pillar!r}"]
        return out
    check(schema, pillar, "mdtmirror", errors)
    top = {key: value for key, value in pillar.items() if not (key in SECTIONS and not isinstance(value, dict))}
    top.pop("pairs", None)
    top.pop("node", None)
    cfg = merge(defaults, top)
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
        cfg = merge(cfg, {key: pair[key] for key in SECTIONS if isinstance(pair.get(key), dict)})
        nodes = pair["nodes"]
        entry = nodes[minion_id] if isinstance(nodes[minion_id], dict) else {}
        # The node's facts: its entry in the pair over the per-minion mdtmirror:node.
        merged_node = merge(own_node, entry)
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
