"""
Pure policy of the ZFS side: which side of the mirror is the local LUN and
which the peer's and how each is (:py:func:`classify_sides`), what a retention
policy keeps and destroys (:py:func:`plan_prune`), what the next backup sends
and which holds move (:py:func:`plan_backup`), which backup streams restore a
snapshot (:py:func:`restore_chain`), whether a pool listed by ``zpool import``
may be imported here and with ``-f`` or not (:py:func:`import_decision`). No I/O: the loader module gathers the
facts and runs the commands.
"""

import calendar
import datetime
import json
import os
import re

from salt.exceptions import CommandExecutionError, SaltInvocationError

# Longest single argument Linux accepts is MAX_ARG_STRLEN = 32 pages = 131072
# bytes; stay well below it for ``zfs destroy fs@a,b,c``.
MAX_ARG_BYTES = 100_000


# Retention periods plan_prune knows, newest-first bucket keys in UTC.
# "frequently" keeps the N newest snapshots whatever their age.
PERIODS = ("frequently", "hourly", "daily", "weekly", "monthly", "yearly")


def plain_bool(value, what):
    """``force`` and friends must be given plainly: True or False, nothing truthy."""
    if value is True or value is False:
        return value
    raise SaltInvocationError(f"{what} must be True or False, not {value!r}")


def split_list(value):
    """A list argument from the CLI may come as ``a,b``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _matches(vdev, prefixes):
    candidates = [c for c in (vdev.get("path"), vdev.get("name")) if c]
    for prefix in prefixes:
        for cand in candidates:
            if cand.startswith(prefix) or ("/" not in prefix and os.path.basename(cand).startswith(prefix)):
                return True
    return False


def _why(vdev, side, scan):
    state = vdev["state"]
    note = vdev.get("note")
    errors = [vdev.get(k) or 0 for k in ("read", "write", "cksum")]
    if state == "REMOVED":
        return "REMOVED: device removed" + (" (SRP path lost?)" if side == "remote" else "")
    if state == "UNAVAIL":
        hint = " (SRP session down or LUN no longer exported?)" if side == "remote" else ""
        return f"UNAVAIL: {note or 'cannot open'}{hint}"
    if state == "OFFLINE":
        return "OFFLINE: taken offline by an administrator (zpool online brings it back)"
    if state in ("FAULTED", "DEGRADED", "SPLIT", "UNKNOWN"):
        return f"{state}: {note}" if note else state
    if note and ("resilvering" in note or "repairing" in note):
        word = "resilvering" if "resilvering" in note else "repairing"
        percent = scan.get("percent") if scan else None
        return f"{word} {percent:.1f}%" if percent is not None else word
    if note and "awaiting resilver" in note:
        return "awaiting resilver"
    if any(errors):
        return f"{state} with {errors[0]} read, {errors[1]} write, {errors[2]} checksum errors"
    if note:
        return note
    return None


def classify_sides(pool_status, local=None, remote=None):
    """
    Judge the data sides of one pool (an entry of :py:func:`parse_status_json`
    / :py:func:`parse_status_text`) and tell which is the local LUN and which
    the peer's, given path prefixes (``/dev/disk/by-id/...``; a prefix without
    ``/`` matches the device's basename).

    Returns ``{"pool", "state", "layout" (mirror/single/other), "sides": [{
    "name", "path", "side" (local/remote/unknown), "state", "read", "write",
    "cksum", "note", "ok", "why"}], "local", "remote", "unknown" (the sides by
    kind), "resilvering", "scan", "redundant" (a healthy local and a healthy
    remote side and no resilver running), "problems" (sentences)}``. A device
    matching both lists raises: the mapping is wrong.
    """
    local = split_list(local)
    remote = split_list(remote)
    scan = pool_status.get("scan")
    data_leaves = [v for v in pool_status.get("vdevs", []) if v.get("leaf") and v.get("class") == "normal"]
    tops = [v for v in pool_status.get("vdevs", []) if v.get("depth") == 1 and v.get("class") == "normal"]
    if len(tops) == 1 and tops[0]["type"] == "mirror":
        layout = "mirror"
    elif len(tops) == 1 and tops[0].get("leaf"):
        layout = "single"
    else:
        layout = "other"
    sides = []
    for vdev in data_leaves:
        is_local, is_remote = _matches(vdev, local), _matches(vdev, remote)
        if is_local and is_remote:
            raise SaltInvocationError(
                f"device {vdev.get('path') or vdev['name']} of pool {pool_status.get('name')} matches both the "
                f"local ({', '.join(local)}) and the remote ({', '.join(remote)}) prefixes"
            )
        side = "local" if is_local else "remote" if is_remote else "unknown"
        errors = [vdev.get(k) or 0 for k in ("read", "write", "cksum")]
        resilvering = bool(vdev.get("note")) and any(
            w in vdev["note"] for w in ("resilvering", "repairing", "awaiting resilver")
        )
        sides.append(
            {
                "name": vdev["name"],
                "path": vdev.get("path"),
                "guid": vdev.get("guid"),
                "side": side,
                "state": vdev["state"],
                "read": vdev.get("read"),
                "write": vdev.get("write"),
                "cksum": vdev.get("cksum"),
                "note": vdev.get("note"),
                "ok": vdev["state"] == "ONLINE" and not any(errors) and not resilvering,
                "why": _why(vdev, side, scan),
            }
        )
    resilvering = bool(scan and scan.get("function") == "resilver" and scan.get("state") == "scanning")
    by_side = {kind: [s for s in sides if s["side"] == kind] for kind in ("local", "remote", "unknown")}
    problems = []
    for kind, prefixes in (("local", local), ("remote", remote)):
        if prefixes and not by_side[kind]:
            problems.append(f"no {kind} side in pool {pool_status.get('name')} (prefixes: {', '.join(prefixes)})")
    for side in sides:
        if side["why"]:
            problems.append(f"{side['side']} side {side['path'] or side['name']}: {side['why']}")
    if resilvering:
        percent = scan.get("percent")
        problems.append("resilver running" + (f" ({percent:.1f}% done)" if percent is not None else ""))
    redundant = any(s["ok"] for s in by_side["local"]) and any(s["ok"] for s in by_side["remote"]) and not resilvering
    return {
        "pool": pool_status.get("name"),
        "state": pool_status.get("state"),
        "layout": layout,
        "sides": sides,
        "local": by_side["local"],
        "remote": by_side["remote"],
        "unknown": by_side["unknown"],
        "resilvering": resilvering,
        "scan": scan,
        "redundant": redundant,
        "problems": problems,
    }


def _bucket(period, when):
    if period == "hourly":
        return when.strftime("%Y-%m-%dT%H")
    if period == "daily":
        return when.strftime("%Y-%m-%d")
    if period == "weekly":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "monthly":
        return when.strftime("%Y-%m")
    return when.strftime("%Y")


def epoch(value, what):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return calendar.timegm(value.timetuple())
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SaltInvocationError(f"invalid {what} {value!r}: give epoch seconds or a datetime") from None


def _check_policy(policy):
    if not isinstance(policy, dict):
        raise SaltInvocationError(f"invalid retention policy {policy!r}: give a mapping like {{'daily': 7}}")
    counts = {}
    for key, value in policy.items():
        if key not in PERIODS:
            raise SaltInvocationError(f"unknown retention period {key!r}: use {', '.join(PERIODS)}")
        if isinstance(value, bool) or not re.match(r"^\d+$", str(value).strip()):
            raise SaltInvocationError(f"invalid count {value!r} for {key}: give a whole number >= 0")
        counts[key] = int(str(value).strip())
    if not any(counts.values()):
        raise SaltInvocationError("the retention policy keeps no snapshot at all; refusing to plan pruning")
    return counts


def _snapshot_entries(snapshots):
    if isinstance(snapshots, dict):
        snapshots = list(snapshots.values())
    entries = []
    for index, snap in enumerate(snapshots):
        props = snap.get("properties") or {}
        name = snap.get("name")
        if not name or "@" not in name:
            continue
        creation = snap.get("creation", props.get("creation"))
        if creation is None:
            raise SaltInvocationError(f"snapshot {name} has no creation time")
        userrefs = snap.get("userrefs", props.get("userrefs")) or 0
        clones = snap.get("clones", props.get("clones"))
        dataset, short = name.split("@", 1)
        entries.append(
            {
                "name": name,
                "dataset": dataset,
                "short": short,
                "creation": int(creation),
                "createtxg": snap.get("createtxg", props.get("createtxg")),
                "userrefs": int(userrefs),
                "clones": clones,
                "index": index,
            }
        )
    return entries


def _destroy_tokens(items, doomed, use_ranges):
    """Short names to destroy, runs of 3+ consecutive doomed snapshots as ``first%last``."""
    tokens, run = [], []
    for entry in items + [None]:
        if entry is not None and entry["name"] in doomed:
            run.append(entry)
            continue
        if len(run) >= 3 and use_ranges:
            tokens.append(f"{run[0]['short']}%{run[-1]['short']}")
        else:
            tokens.extend(e["short"] for e in run)
        run = []
    return tokens


def _pack(dataset, tokens, max_arg_bytes):
    """Pack ``a``/``a%b`` tokens into as few ``dataset@t1,t2`` arguments as fit."""
    args = []
    current = []
    size = len(dataset.encode()) + 1
    for token in tokens:
        cost = len(token.encode()) + (1 if current else 0)
        if current and size + cost > max_arg_bytes:
            args.append(f"{dataset}@{','.join(current)}")
            current, size = [], len(dataset.encode()) + 1
            cost = len(token.encode())
        current.append(token)
        size += cost
    if current:
        args.append(f"{dataset}@{','.join(current)}")
    return args


def plan_prune(snapshots, policy, now, prefix="mdtmirror-", holds=None, ranges=True, max_arg_bytes=MAX_ARG_BYTES):
    """
    Decide which snapshots retention removes, and how to remove them with as
    few ``zfs destroy`` calls as possible. Pure: nothing is run.

    ``snapshots``: every snapshot of the datasets concerned, as dicts with
    ``name``, ``creation`` (epoch), ``userrefs`` and, if known, ``createtxg``
    and ``clones`` (rows of ``zfs list -H -p -t snapshot -o
    name,createtxg,creation,userrefs``, or :py:func:`parse_zfs_list_json`).
    ``policy``: counts per period (``frequently`` = the N newest,
    ``hourly``, ``daily``, ``weekly`` (ISO), ``monthly``, ``yearly``, in UTC).
    ``holds``: extra snapshot names known to be held (``zfs holds``).

    Sanoid-like semantics without period names in the snapshot names: for each
    period the newest snapshot of each of the N most recent periods that have
    one is kept; the union is kept. So a count never deletes below N, whatever
    the age (sanoid's "don't get rid of ANY dailies unless we have more than
    30"). Only snapshots whose name starts with ``prefix`` are candidates;
    held ones (userrefs > 0, listed in ``holds``) and ones with clones are
    never pruned, the newest of ours and any dated after ``now`` are always
    kept.

    ``commands`` holds ``["destroy", "<dataset>@<a>,<b>,..."]`` argument lists
    (prepend the zfs binary). With ``ranges`` and a ``createtxg`` for every
    snapshot of a dataset, runs of three or more consecutive prunable
    snapshots become ``first%last`` (zfs destroys the inclusive range in
    createtxg order); runs never span a snapshot that is kept, held or not
    ours, so the range holds exactly what the plan lists. That is why the
    list must be complete. Each argument stays below ``max_arg_bytes``
    (Linux refuses a single argument of 128 KiB or more).

    Returns ``{"commands", "prune", "keep", "held", "foreign", "kept_by":
    {name: [periods]}}``.
    """
    counts = _check_policy(policy)
    now = epoch(now, "time")
    if not isinstance(prefix, str) or not prefix or re.search(r"[@/,%\s]", prefix):
        raise SaltInvocationError(f"invalid snapshot prefix {prefix!r}")
    holds = set(split_list(holds))
    entries = _snapshot_entries(snapshots)

    by_dataset = {}
    for entry in entries:
        by_dataset.setdefault(entry["dataset"], []).append(entry)

    keep, prune, held, foreign = [], [], [], []
    kept_by = {}
    commands = []
    for dataset in sorted(by_dataset):
        items = by_dataset[dataset]
        exact = all(e["createtxg"] is not None for e in items) and len({e["createtxg"] for e in items}) == len(items)
        if exact:
            items.sort(key=lambda e: int(e["createtxg"]))
        else:
            items.sort(key=lambda e: (e["creation"], e["index"]))
        ours = [e for e in items if e["short"].startswith(prefix)]
        reasons = {e["name"]: [] for e in ours}
        newest_first = list(reversed(ours))
        for period, count in counts.items():
            if not count:
                continue
            seen = set()
            for entry in newest_first:
                key = (
                    entry["name"]
                    if period == "frequently"
                    else _bucket(period, datetime.datetime.fromtimestamp(entry["creation"], datetime.timezone.utc))
                )
                if key in seen:
                    continue
                seen.add(key)
                reasons[entry["name"]].append(period)
                if len(seen) >= count:
                    break
        if newest_first:
            reasons[newest_first[0]["name"]].append("newest")
        for entry in ours:
            if entry["creation"] > now:
                reasons[entry["name"]].append("future")

        doomed = set()
        for entry in items:
            name = entry["name"]
            if not entry["short"].startswith(prefix):
                foreign.append(name)
            elif entry["userrefs"] > 0 or name in holds or entry["clones"]:
                held.append(name)
            elif reasons[name]:
                keep.append(name)
                kept_by[name] = reasons[name]
            else:
                prune.append(name)
                doomed.add(name)

        tokens = _destroy_tokens(items, doomed, ranges and exact)
        commands += [["destroy", arg] for arg in _pack(dataset, tokens, max_arg_bytes)]
    return {"commands": commands, "prune": prune, "keep": keep, "held": held, "foreign": foreign, "kept_by": kept_by}


def parse_policy(policy):
    """
    A retention policy from the CLI or a unit file: a mapping, JSON, or
    ``hourly=48,daily=90``. Returns the checked ``{period: count}`` in
    :py:data:`PERIODS` order.
    """
    if isinstance(policy, str):
        text = policy.strip()
        if text.startswith("{"):
            try:
                policy = json.loads(text)
            except ValueError:
                raise SaltInvocationError(f"invalid retention policy {policy!r}") from None
        else:
            parsed = {}
            for part in filter(None, (p.strip() for p in text.split(","))):
                key, sep, value = part.partition("=")
                if not sep:
                    raise SaltInvocationError(f"invalid retention policy {policy!r}: give period=count,...")
                parsed[key.strip()] = value.strip()
            policy = parsed
    counts = _check_policy(policy)
    return {period: counts[period] for period in PERIODS if period in counts}


def plan_backup(snapshots, holds, prefix="mdtmirror-", hold_tag="mdtmirror-backup"):
    """
    Decide what :py:func:`backup` sends. Pure. ``snapshots``: the complete
    creation-ordered list of the dataset's snapshots; ``holds``: ``{snapshot:
    {tag: time}}`` for (at least) those with ``userrefs`` > 0.

    The newest ``<prefix>`` snapshot is sent; incrementally (``-i``) from
    the newest snapshot that carries ``hold_tag`` (whatever its prefix: the
    one last sent), in full when none does. Nothing is sent when that
    snapshot is already the newest. After success every snapshot holding the
    tag is released and the new one held.

    Returns ``{"send", "base" or None, "release": [names], "up_to_date"}``.
    """
    ours = [s for s in snapshots if s["name"].split("@", 1)[1].startswith(prefix)]
    if not ours:
        dataset = snapshots[0]["name"].split("@")[0] if snapshots else "the dataset"
        raise CommandExecutionError(f"{dataset} has no snapshot named {prefix}*: take one (zfsmirror.snapshot) first")
    newest = ours[-1]
    position = {s["name"]: i for i, s in enumerate(snapshots)}
    tagged = [s["name"] for s in snapshots if hold_tag in (holds.get(s["name"]) or {})]
    base = tagged[-1] if tagged else None
    if base is not None and position[base] >= position[newest["name"]]:
        return {"send": None, "base": base, "release": [], "up_to_date": True}
    return {"send": newest["name"], "base": base, "release": tagged, "up_to_date": False}


def parse_backup_files(names):
    """
    The backup streams among the file names of a ``file:`` destination
    (:py:func:`backup` writes ``<dataset, / as +>@<snapshot>.full.zsend``
    and ``...@<snapshot>.from-<base snapshot>.zsend``; ``.partial`` files and
    anything else are ignored). Pure. Returns ``{dataset: {snapshot: {"file",
    "base" (None for a full stream)}}}``.
    """
    out = {}
    for name in sorted(names):
        if not name.endswith(".zsend") or "@" not in name:
            continue
        dataset, _, rest = name[: -len(".zsend")].partition("@")
        if rest.endswith(".full"):
            snapshot, base = rest[: -len(".full")], None
        elif ".from-" in rest:
            snapshot, _, base = rest.rpartition(".from-")
        else:
            continue
        if snapshot and (base is None or base):
            out.setdefault(dataset.replace("+", "/"), {})[snapshot] = {"file": name, "base": base}
    return out


def restore_chain(streams, snapshot):
    """
    The streams to receive, in order, to get ``snapshot`` back: its file, its
    base's, ... back to a full stream (``streams``: one dataset's entry of
    :py:func:`parse_backup_files`). Pure; raises naming the missing link.
    """
    chain, seen, name = [], set(), snapshot
    while True:
        entry = streams.get(name)
        if entry is None:
            needed = f"the stream of {name}, which {chain[-1]['file']} is based on" if chain else name
            raise CommandExecutionError(f"cannot restore {snapshot}: no backup file for {needed}")
        if name in seen:
            raise CommandExecutionError(f"cannot restore {snapshot}: the backup files' bases form a loop at {name}")
        seen.add(name)
        chain.append({"snapshot": name, **entry})
        if entry["base"] is None:
            return list(reversed(chain))
        name = entry["base"]


def import_decision(entry, force=False):
    """
    Decide from one :py:func:`~mdtmirror_lib.zfs_parse.parse_import_list` entry whether the pool may be
    imported here and whether ``-f`` is needed. Pure. Returns ``{"force":
    bool, "note"}`` or raises naming the pool and the reason:

    - imported by another host (multihost reports activity), no hostid here,
      destroyed, or not ONLINE/DEGRADED: refused, ``force`` or not;
    - last accessed by another host and not exported (``-f`` needed): only
      with ``force=True``; multihost had a chance to see that host write (an
      active pool would read "currently imported by another system") and did
      not; fencing the other host first is still the operator's job;
    - exported or never imported elsewhere: no ``-f``, even with ``force``.
    """
    force = plain_bool(force, "force")
    name = entry.get("name")
    reason = entry.get("reason")
    if reason == "hostid_active":
        who = f" on {entry['host']} (hostid {entry['hostid']})" if entry.get("host") else " by another host"
        raise CommandExecutionError(
            f"pool {name} is imported{who}: multihost sees it active; export it there first (never forced)"
        )
    if reason == "hostid_required":
        raise CommandExecutionError(
            f"pool {name} has multihost on and this host has no hostid: run zfsmirror.ensure_hostid first"
        )
    if entry.get("destroyed"):
        raise CommandExecutionError(f"pool {name} was destroyed; not importing it")
    if entry.get("state") not in ("ONLINE", "DEGRADED"):
        words = entry.get("status") or entry.get("message") or entry.get("action") or "no reason given"
        raise CommandExecutionError(f"pool {name} cannot be imported (state {entry.get('state')}): {words}")
    if entry.get("force_required"):
        who = f"{entry['host']} (hostid {entry['hostid']})" if entry.get("host") else "another host"
        if not force:
            raise CommandExecutionError(
                f"pool {name} was last accessed by {who} and not exported. If that host is down (fenced) and "
                "no longer writes to it, retry with force=True"
            )
        return {"force": True, "note": f"forced: last accessed by {who}, no multihost activity seen"}
    note = "exported cleanly" if reason == "ok" else (entry.get("status") or reason)
    return {"force": False, "note": note}
