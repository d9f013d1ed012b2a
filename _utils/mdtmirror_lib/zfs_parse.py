"""
Parsers of what OpenZFS prints: ``zpool status`` (JSON of OpenZFS >= 2.3 and
the text of 2.1/2.2, into one structure), ``zpool``/``zfs list|get -H -p``,
``zfs holds``, ``zpool import`` listings and refusals, ``zdb -l`` labels,
``blkid -o export``, ``zpool create -n`` refusals, ``zfs destroy -v``,
``zstream dump``, ``/etc/hostid``. Pure functions: text in, data out; each has
golden-file tests on real captured outputs (``tests/golden/``).
"""

import json
import re
import sys
import time

from salt.exceptions import CommandExecutionError

# OpenZFS release that added ``-j`` to zpool/zfs (status, list, get, version).
JSON_SINCE = (2, 3, 0)


_NICE_RE = re.compile(r"^(\d+(?:\.\d+)?)([BKMGTPEZ]?)$")


_NICE_POWERS = {"": 0, "B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6, "Z": 7}


def parse_nice(value):
    """
    Turn a number as zpool prints it (``0``, ``72K``, ``1.23G``, ``294K``) into
    an int; ``-``/``None`` give None. Human units are powers of 1024 and
    rounded by zpool, so the result is approximate unless the input was exact.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return int(value)
    value = str(value).strip()
    if value in ("", "-"):
        return None
    match = _NICE_RE.match(value)
    if not match:
        raise CommandExecutionError(f"cannot read {value!r} as a number")
    number, unit = match.groups()
    if unit in ("", "B") and "." not in number:
        return int(number)
    return int(round(float(number) * 1024 ** _NICE_POWERS[unit]))


def _ctime_to_epoch(text):
    """``Tue Nov 24 12:18:47 2026`` (ctime, the server's local time) -> epoch seconds, or None."""
    try:
        return int(time.mktime(time.strptime(text.strip(), "%a %b %d %H:%M:%S %Y")))
    except (ValueError, OverflowError):
        return None


def _squash(text):
    """Join a message zpool wrapped over tab-indented lines into one line."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def parse_version(text):
    """
    Parse ``zpool version`` / ``zfs version`` output::

        zfs-2.3.2-2~bpo12+2
        zfs-kmod-2.3.2-2~bpo12+2

    into ``{"userland": {"version": "2.3.2", "full": "2.3.2-2~bpo12+2",
    "tuple": [2, 3, 2]}, "kmod": {...} or None, "json": True}``. ``json`` says
    whether the userland tools have ``-j`` (OpenZFS >= 2.3). The kmod line is
    missing when the zfs module is not loaded.
    """
    result = {"userland": None, "kmod": None, "json": False}
    for line in text.splitlines():
        match = re.match(r"^zfs-(kmod-)?((\d+)\.(\d+)\.(\d+)\S*)$", line.strip())
        if not match:
            continue
        numbers = [int(match.group(i)) for i in (3, 4, 5)]
        entry = {"version": ".".join(map(str, numbers)), "full": match.group(2), "tuple": numbers}
        result["kmod" if match.group(1) else "userland"] = entry
    if result["userland"] is None:
        raise CommandExecutionError(f"cannot find the OpenZFS version in {text.strip()!r}")
    result["json"] = tuple(result["userland"]["tuple"]) >= JSON_SINCE
    return result


# The text a vdev's aux state prints in ``zpool status`` (zpool_main.c,
# print_status_config); JSON gives the enum name (vdev_aux_str).
_AUX_TEXT = {
    "OPEN_FAILED": "cannot open",
    "BAD_GUID_SUM": "missing device",
    "NO_REPLICAS": "insufficient replicas",
    "VERSION_NEWER": "newer version",
    "UNSUP_FEAT": "unsupported feature(s)",
    "ASHIFT_TOO_BIG": "unsupported minimum blocksize",
    "SPARED": "currently in use",
    "ERR_EXCEEDED": "too many errors",
    "IO_FAILURE": "experienced I/O failures",
    "BAD_LOG": "bad intent log",
    "EXTERNAL": "external device fault",
    "SPLIT_POOL": "split into new pool",
    "ACTIVE": "currently in use",
    "CHILDREN_OFFLINE": "all children offline",
    "BAD_LABEL": "invalid label",
}


# Section headers of the text config and the vdev class JSON reports for them.
_TEXT_CLASSES = {"logs": "log", "cache": "l2cache", "spares": "spare", "special": "special", "dedup": "dedup"}


_JSON_CLASS_SECTIONS = ("dedup", "special", "logs", "l2cache", "spares")


_VDEV_STATES = ("ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "REMOVED", "UNAVAIL", "SPLIT", "UNKNOWN", "INUSE", "AVAIL")


_ROW_RE = re.compile(
    r"^(?P<indent> *)(?P<name>\S.*?)\s+(?P<state>" + "|".join(_VDEV_STATES) + r")"
    r"(?:\s+(?P<read>[0-9.]+[KMGTPE]?)\s+(?P<write>[0-9.]+[KMGTPE]?)\s+(?P<cksum>[0-9.]+[KMGTPE]?))?"
    r"(?P<rest>.*)$"
)


_INTERIOR_RE = re.compile(r"^(mirror|raidz[1-3]?|draid\d*(?::[^-\s]*)?|spare|replacing|indirect|hole)-\d+$")


_HEADER_RE = re.compile(
    r"^(\s*)(pool|id|state|status|action|see|scan|scrub|remove|checkpoint|expand|config|errors|comment):(?: (.*))?$"
)


def _empty_pool(name):
    return {
        "name": name,
        "state": None,
        "status": None,
        "action": None,
        "see": None,
        "scan": None,
        "errors": None,
        "error_count": None,
        "vdevs": [],
        "mirror": [],
    }


def _note_text(rest):
    """``  too many errors  (resilvering)`` -> ``too many errors; resilvering``."""
    parts = []
    for part in re.split(r"\s{2,}", rest.strip()):
        part = part.strip()
        if part.startswith("(") and part.endswith(")"):
            part = part[1:-1]
        if part:
            parts.append(part)
    return "; ".join(parts) or None


def _finish_vdevs(vdevs):
    """Mark leaves and interior types, fill ``mirror`` (leaves under a mirror of data class)."""
    parents = {v["parent"] for v in vdevs if v["parent"] is not None}
    by_name = {v["name"]: v for v in vdevs}
    for vdev in vdevs:
        vdev["leaf"] = vdev["depth"] > 0 and vdev["name"] not in parents
        if vdev["type"] is None:
            match = _INTERIOR_RE.match(vdev["name"])
            if vdev["depth"] == 0:
                vdev["type"] = "root"
            elif match:
                kind = match.group(1)
                vdev["type"] = "raidz" if kind.startswith("raidz") else "draid" if kind.startswith("draid") else kind
            else:
                vdev["type"] = "disk"
    mirror = []
    for vdev in vdevs:
        if not vdev["leaf"] or vdev["class"] != "normal":
            continue
        parent = by_name.get(vdev["parent"])
        while parent is not None:
            if parent["type"] == "mirror":
                mirror.append(vdev)
                break
            parent = by_name.get(parent["parent"])
    return mirror


def _errors_line(count):
    if count is None:
        return None
    if count == 0:
        return "No known data errors"
    return f"{count} data errors, use '-v' for a list"


def _parse_scan_text(text):
    """Parse the ``scan:`` block of ``zpool status`` (2.1, 2.2 and 2.3 wording)."""
    text = " ".join(text.split())
    if not text or text.startswith("none requested"):
        return None
    scan = {
        "function": None,
        "state": None,
        "paused": False,
        "percent": None,
        "examined": None,
        "to_examine": None,
        "issued": None,
        "total": None,
        "processed": None,
        "errors": None,
        "end_time": None,
    }
    done = re.match(
        r"^(?P<what>scrub repaired|resilvered)(?: \((?P<vdev>[^)]*)\))? (?P<bytes>\S+) in .+? "
        r"with (?P<errors>\d+) errors on (?P<end>.+)$",
        text,
    )
    if done:
        scan.update(
            function="scrub" if done.group("what").startswith("scrub") else "resilver",
            state="finished",
            processed=parse_nice(done.group("bytes")),
            errors=int(done.group("errors")),
            end_time=_ctime_to_epoch(done.group("end")),
        )
        return scan
    canceled = re.match(r"^(?P<func>scrub|resilver)(?: \([^)]*\))? canceled on (?P<end>.+)$", text)
    if canceled:
        scan.update(function=canceled.group("func"), state="canceled", end_time=_ctime_to_epoch(canceled.group("end")))
        return scan
    running = re.match(r"^(?P<func>scrub|resilver)(?: \([^)]*\))? (?P<how>in progress|paused) since ", text)
    if not running:
        scan["state"] = "unknown"
        scan["raw"] = text
        return scan
    scan.update(function=running.group("func"), state="scanning", paused=running.group("how") == "paused")
    # 2.2+: "1.2G / 4.5G scanned at 100M/s, 1.0G / 4.4G issued at 80M/s"
    new = re.search(r"(\S+) / (\S+) scanned(?: at \S+)?, (\S+) / (\S+) issued", text)
    # 2.1: "1.2G scanned at 100M/s, 1.0G issued at 80M/s, 4.5G total"
    old = re.search(r"(\S+) scanned(?: at \S+)?, (\S+) issued(?: at \S+)?, (\S+) total", text)
    if new:
        scan.update(
            examined=parse_nice(new.group(1)),
            to_examine=parse_nice(new.group(2)),
            issued=parse_nice(new.group(3)),
            total=parse_nice(new.group(4)),
        )
    elif old:
        total = parse_nice(old.group(3))
        scan.update(examined=parse_nice(old.group(1)), issued=parse_nice(old.group(2)), to_examine=total, total=total)
    progress = re.search(r"(\S+) (?:resilvered|repaired), ([0-9.]+)% done", text)
    if progress:
        scan["processed"] = parse_nice(progress.group(1))
        scan["percent"] = float(progress.group(2))
    return scan


def parse_status_text(text):
    """
    Parse the text of ``zpool status [-P] [-p] [-x] [pool...]`` (OpenZFS 2.1 to
    2.3) into ``{pool: {...}}``, the structure :py:func:`parse_status_json`
    returns:

    ``state``, ``status``, ``action`` (messages joined into one line), ``see``,
    ``scan`` (``function`` scrub/resilver, ``state`` finished/scanning/canceled,
    ``paused``, ``percent`` (float while scanning, else None), ``examined``,
    ``to_examine``, ``issued``, ``total`` (bytes to issue), ``processed``
    (bytes resilvered/repaired), ``errors``, ``end_time`` (epoch); bytes from text
    are zpool's rounded human numbers), ``errors`` (the ``errors:`` line),
    ``error_count``, ``vdevs`` (tree order: ``name``, ``path``, ``state``,
    ``read``, ``write``, ``cksum``, ``note``, ``type``, ``class``, ``parent``,
    ``depth``, ``leaf``) and ``mirror`` (the leaves under a data mirror).

    ``path`` is the name when ``-P`` printed paths, or the ``was`` path of a
    missing device. Leaves are typed ``disk`` (text does not tell files apart).
    ``-x`` answers (``all pools are healthy``, ``pool 'x' is healthy``) give
    ``{}`` like ``zpool status -j -x``.
    """
    pools = {}
    pool = None
    key = None
    values = {}
    klass = "normal"
    last = {}  # depth -> name of the latest vdev row at that depth

    def close():
        if pool is None:
            return
        pool["status"] = _squash(values.get("status"))
        pool["action"] = _squash(values.get("action"))
        pool["see"] = _squash(values.get("see"))
        if "scan" in values:
            pool["scan"] = _parse_scan_text(values["scan"])
        errors = _squash(values.get("errors"))
        pool["errors"] = errors
        if errors:
            match = re.match(r"^(\d+) data errors", errors)
            pool["error_count"] = (
                0 if errors.startswith("No known data errors") else (int(match.group(1)) if match else None)
            )
        pool["mirror"] = _finish_vdevs(pool["vdevs"])

    for line in text.splitlines():
        header = None if line.startswith("\t") else _HEADER_RE.match(line)
        if header and (header.group(2) == "pool" or pool is not None):
            key, value = header.group(2), header.group(3) or ""
            if key == "pool":
                close()
                pool = _empty_pool(value.strip())
                pools[pool["name"]] = pool
                values, klass, last = {}, "normal", {}
            elif key == "state":
                pool["state"] = value.strip()
            else:
                values[key] = value
            continue
        if pool is None:
            continue
        if key == "config":
            body = line[1:] if line.startswith("\t") else line
            if not body.strip() or re.match(r"^\s*NAME\s+STATE", body):
                continue
            if body.strip() in _TEXT_CLASSES:
                # logs/cache/spares/special/dedup: their top vdevs have no parent (as in JSON)
                klass = _TEXT_CLASSES[body.strip()]
                last = {}
                continue
            row = _ROW_RE.match(body)
            if not row:
                continue
            depth = len(row.group("indent")) // 2
            name = row.group("name")
            note = _note_text(row.group("rest"))
            path = name if name.startswith("/") else None
            if note and note.startswith("was /"):
                path = note[4:].split(";")[0].strip()
            parent = last.get(depth - 1) if depth > 0 else None
            last = {d: n for d, n in last.items() if d < depth}
            last[depth] = name
            vdev = {
                "name": name,
                "path": path,
                "state": row.group("state"),
                "read": parse_nice(row.group("read")),
                "write": parse_nice(row.group("write")),
                "cksum": parse_nice(row.group("cksum")),
                "note": note,
                "type": None,
                "class": "normal" if depth == 0 else klass,
                "parent": parent,
                "depth": depth,
            }
            pool["vdevs"].append(vdev)
        elif key is not None and (line.startswith("\t") or line.startswith("    ")):
            values[key] = values.get(key, "") + "\n" + line
    close()
    return pools


def _json_int(value):
    """A count from JSON: int with ``--json-int``, a nicenum string without it."""
    if value is None or isinstance(value, int):
        return value
    return parse_nice(value)


def _json_state(vdev):
    """JSON gives vdev_state_str (CANT_OPEN, CLOSED...); text prints zpool_state_to_name."""
    state = vdev.get("state")
    aux = vdev.get("aux")
    if state == "CLOSED":
        return "OFFLINE"
    if state == "CANT_OPEN":
        if aux in ("CORRUPT_DATA", "BAD_LOG"):
            return "FAULTED"
        if aux == "SPLIT_POOL":
            return "SPLIT"
        return "UNAVAIL"
    return state


def _json_note(vdev, leaf, scan):
    parts = []
    if vdev.get("was"):
        parts.append(f"was {vdev['was']}")
    elif vdev.get("aux") and vdev["aux"] != "NONE":
        aux = vdev["aux"]
        text = _AUX_TEXT.get(aux, "corrupted data")
        if (
            aux == "ERR_EXCEEDED"
            and leaf
            and not any(_json_int(vdev.get(k)) for k in ("read_errors", "write_errors", "checksum_errors"))
        ):
            if _json_int(vdev.get("slow_ios")):
                text = "too many slow I/Os"
        if aux == "SPARED" and vdev.get("used_by"):
            text = f"in use by pool '{vdev['used_by']}'"
        parts.append(text)
    elif vdev.get("configured_ashift") is not None and vdev.get("physical_ashift") is not None:
        parts.append(
            f"block size: {1 << _json_int(vdev['configured_ashift'])}B configured, "
            f"{1 << _json_int(vdev['physical_ashift'])}B native"
        )
    if _json_int(vdev.get("removing")):
        parts.append("removing")
    elif _json_int(vdev.get("noalloc")):
        parts.append("non-allocating")
    if scan and scan["state"] == "scanning" and leaf and vdev.get("state") == "ONLINE":
        if _json_int(vdev.get("scan_processed")):
            parts.append("resilvering" if scan["function"] == "resilver" else "repairing")
        elif _json_int(vdev.get("resilver_deferred")):
            parts.append("awaiting resilver")
    return "; ".join(parts) or None


def _json_scan(stats):
    if not isinstance(stats, dict):
        return None
    scan = None
    function = str(stats.get("function") or "NONE").lower()
    if function in ("scrub", "resilver"):
        state = str(stats.get("state") or "").lower()
        to_examine = _json_int(stats.get("to_examine"))
        skipped = _json_int(stats.get("skipped")) or 0
        issued = _json_int(stats.get("issued"))
        total = to_examine - skipped if to_examine is not None else None
        percent = None
        if state == "scanning" and total and issued is not None:
            percent = round(100.0 * issued / total, 2)
        end = stats.get("end_time")
        scan = {
            "function": function,
            "state": state,
            "paused": state == "scanning" and bool(_json_int(stats.get("scrub_pause")) or 0),
            "percent": percent,
            "examined": _json_int(stats.get("examined")),
            "to_examine": to_examine,
            "issued": issued,
            "total": total,
            "processed": _json_int(stats.get("processed")),
            "errors": _json_int(stats.get("errors")),
            "end_time": end if isinstance(end, int) and state in ("finished", "canceled") else None,
        }
    # Sequential resilver (zpool attach -s) reports per top-level vdev.
    rebuilds = stats.get("rebuild_stats")
    if isinstance(rebuilds, dict) and (scan is None or scan["state"] != "scanning"):
        for rebuild in rebuilds.values():
            rstate = {"ACTIVE": "scanning", "COMPLETE": "finished", "CANCELED": "canceled"}.get(rebuild.get("state"))
            if rstate is None:
                continue
            to_scan = _json_int(rebuild.get("to_scan"))
            scanned = _json_int(rebuild.get("scanned"))
            end = rebuild.get("end_time")
            candidate = {
                "function": "resilver",
                "state": rstate,
                "paused": False,
                "percent": round(min(100.0 * scanned / to_scan, 100.0), 2)
                if rstate == "scanning" and to_scan and scanned is not None
                else None,
                "examined": scanned,
                "to_examine": to_scan,
                "issued": _json_int(rebuild.get("issued")),
                "total": to_scan,
                "processed": _json_int(rebuild.get("rebuilt")),
                "errors": _json_int(rebuild.get("errors")),
                "end_time": end if isinstance(end, int) and rstate != "scanning" else None,
            }
            if scan is None or rstate == "scanning" or (candidate["end_time"] or 0) > (scan["end_time"] or 0):
                scan = candidate
    return scan


def _load_json(text, command):
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        first = (text or "").strip().splitlines()
        raise CommandExecutionError(f"{command} did not print JSON: {first[0] if first else 'no output'}") from None
    if not isinstance(data, dict):
        raise CommandExecutionError(f"{command} printed unexpected JSON: {str(data)[:200]}")
    version = data.get("output_version") or {}
    if version.get("vers_major", 0) not in (0, "0"):
        raise CommandExecutionError(
            f"{command} printed JSON output version {version.get('vers_major')}.{version.get('vers_minor')}, "
            "this module reads version 0.x"
        )
    return data


def parse_status_json(text):
    """
    Parse ``zpool status -j [--json-int] [--json-flat-vdevs] [-P]`` (OpenZFS
    >= 2.3) into ``{pool: {...}}``, the structure of :py:func:`parse_status_text`.

    JSON's vdev states and aux codes are turned into what the text prints
    (``CANT_OPEN`` -> ``UNAVAIL``, ``ERR_EXCEEDED`` -> ``too many errors``), and
    the ``(resilvering)`` note the text derives from the scan is derived the
    same way, so callers see one vocabulary whatever the OpenZFS version.
    """
    data = _load_json(text, "zpool status")
    result = {}
    for key, item in (data.get("pools") or {}).items():
        pool = _empty_pool(item.get("name", key))
        pool["state"] = item.get("state")
        pool["status"] = _squash(item.get("status"))
        pool["action"] = _squash(item.get("action"))
        pool["see"] = item.get("moreinfo")
        pool["scan"] = _json_scan(item.get("scan_stats"))
        pool["error_count"] = _json_int(item.get("error_count"))
        pool["errors"] = _errors_line(pool["error_count"])
        pool["vdevs"] = _json_vdevs(item, pool["scan"])
        pool["mirror"] = _finish_vdevs(pool["vdevs"])
        result[pool["name"]] = pool
    return result


def _json_vdevs(item, scan):
    """Flatten the (nested or --json-flat-vdevs) vdev tree into tree order."""
    entries, seen = [], set()

    def walk(container, parent):
        for key, vdev in container.items():
            if not isinstance(vdev, dict):
                continue
            name = vdev.get("name", key)
            par = vdev.get("parent", parent)
            ident = (str(vdev.get("guid", name)), par)
            if ident not in seen:
                seen.add(ident)
                entries.append((name, par, vdev))
            if isinstance(vdev.get("vdevs"), dict):
                walk(vdev["vdevs"], name)

    walk(item.get("vdevs") or {}, None)
    for section in _JSON_CLASS_SECTIONS:
        if isinstance(item.get(section), dict):
            walk(item[section], None)

    children = {}
    tops = []
    for name, par, vdev in entries:
        if par is None:
            tops.append((name, vdev))
        else:
            children.setdefault(par, []).append((name, vdev))
    tops.sort(key=lambda t: 0 if t[1].get("vdev_type") == "root" else 1)

    out = []

    def emit(name, vdev, parent, depth):
        kids = children.get(name, [])
        leaf = not kids and depth > 0
        state = _json_state(vdev)
        out.append(
            {
                "name": name,
                "path": vdev.get("path"),
                "guid": str(vdev["guid"]) if vdev.get("guid") is not None else None,
                "state": state,
                "read": _json_int(vdev.get("read_errors")),
                "write": _json_int(vdev.get("write_errors")),
                "cksum": _json_int(vdev.get("checksum_errors")),
                "note": _json_note(dict(vdev, state=state), leaf, scan),
                "type": vdev.get("vdev_type"),
                "class": "normal" if vdev.get("vdev_type") == "root" else vdev.get("class", "normal"),
                "parent": parent,
                "depth": depth,
            }
        )
        for kid_name, kid in kids:
            emit(kid_name, kid, name, depth + 1)

    for name, vdev in tops:
        emit(name, vdev, None, 0 if vdev.get("vdev_type") == "root" else 1)
    return out


def _hp_value(value):
    if value == "-":
        return None
    if re.match(r"^\d+$", value):
        return int(value)
    return value


def parse_list_hp(text, columns=None):
    """
    Parse tab-separated ``-H -p`` output (``zpool list``, ``zfs list -o ...``,
    ``zfs/zpool get``). With ``columns`` (the ``-o`` list) each line becomes a
    dict; without, a list of fields. ``-`` becomes None and whole numbers ints
    (``-p`` prints sizes and times as exact integers). A line with another
    number of fields than ``columns`` raises, naming the line.
    """
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",")]
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if columns:
            if len(fields) != len(columns):
                raise CommandExecutionError(
                    f"unexpected line {line!r}: {len(fields)} fields where -o {','.join(columns)} gives {len(columns)}"
                )
            rows.append({col: _hp_value(val) for col, val in zip(columns, fields)})
        else:
            rows.append([_hp_value(val) for val in fields])
    return rows


def parse_get_hp(text):
    """
    Parse ``zfs get -H -p`` / ``zpool get -H -p`` (default columns name,
    property, value, source) into ``{name: {property: {"value", "source"}}}``,
    the structure of :py:func:`parse_get_json`.
    """
    result = {}
    for row in parse_list_hp(text, ["name", "property", "value", "source"]):
        result.setdefault(row["name"], {})[row["property"]] = {"value": row["value"], "source": row["source"]}
    return result


def _json_source(source):
    """JSON's ``{"type": "INHERITED", "data": "pool"}`` -> the text column (``inherited from pool``)."""
    if not isinstance(source, dict):
        return source
    kind = str(source.get("type", "")).upper()
    if kind == "INHERITED":
        return f"inherited from {source.get('data')}"
    return {"NONE": None, "DEFAULT": "default", "LOCAL": "local", "TEMPORARY": "temporary", "RECEIVED": "received"}.get(
        kind, kind.lower() or None
    )


def _json_value(value):
    return None if value == "-" else value


def parse_get_json(text):
    """
    Parse ``zpool get -j --json-int`` / ``zfs get -j --json-int`` into
    ``{name: {property: {"value", "source"}}}``. Sources read like the text
    column (``local``, ``default``, ``inherited from X``; None for ``-``);
    ``-`` values are None. Output that is not JSON (``bad property list:
    invalid property 'x'``) raises with zfs's first line.
    """
    data = _load_json(text, "get")
    items = data.get("pools") or data.get("datasets") or {}
    result = {}
    for key, item in items.items():
        props = {}
        for prop, entry in (item.get("properties") or {}).items():
            props[prop] = {"value": _json_value(entry.get("value")), "source": _json_source(entry.get("source"))}
        result[item.get("name", key)] = props
    return result


def parse_zfs_list_json(text):
    """
    Parse ``zfs list -j --json-int [-t all] [-o ...]`` into
    ``{name: {"name", "type" (lower case), "pool", "createtxg", "dataset",
    "snapshot", "properties": {prop: value}}}``; ``dataset``/``snapshot`` are
    set for snapshots only, ``-`` values are None.
    """
    data = _load_json(text, "zfs list")
    result = {}
    for key, item in (data.get("datasets") or {}).items():
        name = item.get("name", key)
        props = {prop: _json_value(entry.get("value")) for prop, entry in (item.get("properties") or {}).items()}
        result[name] = {
            "name": name,
            "type": str(item.get("type", "")).lower() or None,
            "pool": item.get("pool"),
            "createtxg": _json_int(item.get("createtxg")),
            "dataset": item.get("dataset"),
            "snapshot": item.get("snapshot_name"),
            "properties": props,
        }
    return result


def parse_holds(text):
    """
    Parse ``zfs holds -H [-p] [-r] snap...`` into ``{snapshot: {tag: time}}``
    (time as printed, an int with ``-p``).
    """
    holds = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise CommandExecutionError(f"unexpected zfs holds line {line!r}")
        snap, tag, when = fields
        holds.setdefault(snap, {})[tag] = int(when) if when.isdigit() else when
    return holds


def _import_reason(status, action):
    status = status or ""
    if "currently imported by another system" in status:
        return "hostid_active"
    if "multihost property on" in status and "hostid is not set" in status:
        return "hostid_required"
    if "last accessed by another system" in status:
        return "hostid_mismatch"
    if "devices are missing" in status:
        return "missing_devices"
    if status:
        return "other"
    return "ok"


def _import_refusal(message):
    """Classify a ``cannot import 'x': ...`` message (zpool_main.c do_import, libzfs)."""
    info = {"reason": "error", "host": None, "hostid": None}
    flat = " ".join(message.split())
    active = re.search(r"pool is imported on (?:host '([^']*)'|(\S+)) \(hostid[:=] ?(?:0x)?([0-9a-fA-F]+)\)", flat)
    if active:
        info.update(reason="hostid_active", host=active.group(1) or active.group(2), hostid="0x" + active.group(3))
    elif "multihost property on" in flat and "hostid is not set" in flat:
        info["reason"] = "hostid_required"
    elif "previously in use from another system" in flat:
        info["reason"] = "hostid_mismatch"
        last = re.search(r"Last accessed by (\S+) \(hostid=(?:0x)?([0-9a-fA-F]+)\)", flat)
        if last:
            info.update(host=last.group(1), hostid="0x" + last.group(2))
    elif "no such pool available" in flat:
        info["reason"] = "not_found"
    elif "a pool with that name already exists" in flat or "already created/imported" in flat:
        info["reason"] = "name_exists"
    elif "devices is currently unavailable" in flat:
        info["reason"] = "missing_devices"
    return info


def parse_import_list(text):
    """
    Parse what ``zpool import [-d dir]`` (no pool: the listing) or ``zpool
    import [-d dir] pool`` (the refusal) prints into ``{pool: {...}}``:

    ``name``, ``id``, ``state`` (``ONLINE``...), ``destroyed``, ``status``,
    ``action``, ``see``, ``comment``, ``vdevs`` (config rows: name, state, note,
    depth), ``reason`` (``ok``, ``hostid_active`` "currently imported by host",
    ``hostid_required`` "multihost on and no hostid here", ``hostid_mismatch``
    "last accessed by another system", ``missing_devices``, ``not_found``,
    ``name_exists``, ``other``/``error``), ``host``/``hostid`` of the other
    system when zpool names it, ``importable`` (importable without ``-f`` and
    without risk) and ``force_required`` (zpool would accept ``-f``: never do
    that automatically on shared storage), and ``message`` for refusals.

    ``no pools available to import`` and a silent successful import give ``{}``.
    """
    pools = {}
    pool = None
    key = None
    values = {}
    last = {}
    lines = text.splitlines()

    def close():
        if pool is None:
            return
        pool["status"] = _squash(values.get("status"))
        pool["action"] = _squash(values.get("action"))
        pool["see"] = _squash(values.get("see"))
        pool["comment"] = _squash(values.get("comment"))
        pool["reason"] = _import_reason(pool["status"], pool["action"])
        if pool["reason"] == "hostid_active":
            who = re.search(r"exported from (\S+) \(hostid=(?:0x)?([0-9a-fA-F]+)\)", pool["action"] or "")
            if who:
                pool["host"], pool["hostid"] = who.group(1), "0x" + who.group(2)
        pool["force_required"] = pool["reason"] == "hostid_mismatch"
        pool["importable"] = (
            pool["state"] in ("ONLINE", "DEGRADED")
            and not pool["destroyed"]
            and pool["reason"] not in ("hostid_active", "hostid_required", "hostid_mismatch")
        )

    i = 0
    while i < len(lines):
        line = lines[i]
        refusal = re.match(r"^[Cc]annot import '([^']+)': (.*)$", line)
        if refusal:
            message = [refusal.group(2)]
            i += 1
            while i < len(lines) and not re.match(r"^[Cc]annot import '|^\s*pool: ", lines[i]):
                if lines[i].strip():
                    message.append(lines[i])
                i += 1
            name = refusal.group(1)
            entry = pools.setdefault(name, _import_entry(name))
            entry.update(_import_refusal("\n".join(message)))
            entry["message"] = _squash(" ".join(message))
            entry["importable"] = False
            entry["force_required"] = entry["reason"] == "hostid_mismatch"
            continue
        header = None if line.startswith("\t") else _HEADER_RE.match(line)
        if header:
            key, value = header.group(2), (header.group(3) or "")
            if key == "pool":
                close()
                pool = _import_entry(value.strip())
                pools[pool["name"]] = pool
                values, last = {}, {}
            elif pool is None:
                pass
            elif key == "id":
                pool["id"] = int(value) if value.strip().isdigit() else value.strip()
            elif key == "state":
                pool["destroyed"] = "(DESTROYED)" in value
                pool["state"] = value.replace("(DESTROYED)", "").strip()
            else:
                values[key] = value
            i += 1
            continue
        if pool is not None and key == "config" and line.startswith("\t"):
            row = _ROW_RE.match(line[1:])
            if row:
                depth = len(row.group("indent")) // 2
                parent = last.get(depth - 1) if depth > 0 else None
                last = {d: n for d, n in last.items() if d < depth}
                last[depth] = row.group("name")
                pool["vdevs"].append(
                    {
                        "name": row.group("name"),
                        "state": row.group("state"),
                        "note": _note_text(row.group("rest")),
                        "parent": parent,
                        "depth": depth,
                    }
                )
        elif pool is not None and key is not None and line.startswith("\t"):
            values[key] = values.get(key, "") + "\n" + line
        i += 1
    close()
    return pools


def _import_entry(name):
    return {
        "name": name,
        "id": None,
        "state": None,
        "destroyed": False,
        "status": None,
        "action": None,
        "see": None,
        "comment": None,
        "vdevs": [],
        "reason": None,
        "host": None,
        "hostid": None,
        "importable": False,
        "force_required": False,
        "message": None,
    }


_LABEL_PATTERNS = (
    # cmd/zpool/os/linux/zpool_vdev_os.c check_disk(): O_EXCL open failed.
    (re.compile(r"^(?P<device>\S+) is in use and contains a (?P<fstype>\S+) filesystem\.$"), "busy"),
    # zpool_vdev.c check_file_generic(): a ZFS label of another pool.
    (
        re.compile(
            r"^(?P<device>\S+) is part of (?P<pool_state>active|exported|potentially active|unknown) "
            r"pool '(?P<pool>[^']*)'$"
        ),
        "pool_member",
    ),
    (re.compile(r"^(?P<device>\S+) is reserved as a hot spare for pool (?P<pool>\S+)$"), "spare"),
    # zpool_vdev_os.c check_slice(): libblkid found a filesystem.
    (re.compile(r"^(?P<device>\S+) contains a filesystem of type '(?P<fstype>[^']*)'$"), "filesystem"),
    # zpool labelclear on a device of an imported/exported pool.
    (re.compile(r'^(?P<device>\S+) is a member \((?P<pool_state>[^)]*)\) of pool "(?P<pool>[^"]*)"'), "pool_member"),
    (re.compile(r"^cannot resolve path '(?P<device>[^']+)'"), "missing"),
    (re.compile(r"^cannot open '(?P<device>[^']+)': (?P<reason>.+)$"), "cannot_open"),
    (re.compile(r"^failed to open (?P<device>\S+): (?P<reason>.+)$"), "cannot_open"),
)


_LABEL_NOISE = re.compile(
    r"^(invalid vdev specification|use '-f' to override the following errors:|"
    r"the following errors must be manually repaired:|would create '.*' with the following layout:)$"
)


def parse_label_check(output):
    """
    Read what ``zpool create [-n]`` / ``zpool labelclear`` print about the
    disks they were given, so a caller can name the disk and the reason:

    ``{"ok": bool, "would_create": pool or None, "layout": [vdev names of a
    -n dry run], "problems": [{"device", "kind", "pool", "pool_state",
    "fstype", "forceable", "message"}]}``. ``kind`` is ``busy`` (opened
    exclusively elsewhere: mounted, held by dm/md, in an imported pool),
    ``pool_member``, ``spare``, ``filesystem``, ``missing``, ``cannot_open`` or
    ``other``. ``forceable`` says whether zpool's ``-f`` would override it (a
    member of an *active* pool and a busy disk never are).
    """
    problems = []
    would_create = None
    layout = []
    in_layout = False
    for line in output.splitlines():
        stripped = line.strip()
        dry = re.match(r"^would create '(?P<pool>[^']*)' with the following layout:$", stripped)
        if dry:
            would_create = dry.group("pool")
            in_layout = True
            continue
        if in_layout:
            if stripped:
                layout.append(stripped)
            continue
        if not stripped or _LABEL_NOISE.match(stripped):
            continue
        problem = {
            "device": None,
            "kind": "other",
            "pool": None,
            "pool_state": None,
            "fstype": None,
            "forceable": False,
            "message": stripped,
        }
        for pattern, kind in _LABEL_PATTERNS:
            match = pattern.match(stripped)
            if not match:
                continue
            groups = match.groupdict()
            problem.update(kind=kind, device=groups.get("device"), pool=groups.get("pool"))
            if groups.get("pool_state"):
                problem["pool_state"] = groups["pool_state"].lower()
            if groups.get("fstype") and groups["fstype"] != "unknown":
                problem["fstype"] = groups["fstype"]
            break
        else:
            if stripped.startswith("/"):
                problem["device"] = stripped.split()[0]
        problem["forceable"] = problem["kind"] == "filesystem" or (
            problem["kind"] == "pool_member" and problem["pool_state"] in ("exported", "potentially active")
        )
        problems.append(problem)
    # the layout's first line is the pool name itself
    if layout and would_create and layout[0] == would_create:
        layout = layout[1:]
    return {"ok": not problems, "would_create": would_create, "layout": layout, "problems": problems}


def parse_blkid_export(text):
    """Parse ``blkid -p -o export`` (``KEY=value`` lines) into a dict (``DEVNAME`` included)."""
    result = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        result[key.strip()] = re.sub(r"\\(.)", r"\1", value)
    return result


# The label's pool state (zdb -l "state:"), as sys/fs/zfs.h numbers pool_state_t.
LABEL_STATES = {
    0: "active",
    1: "exported",
    2: "destroyed",
    3: "spare",
    4: "l2cache",
    5: "uninitialized",
    6: "unavail",
    7: "potentially active",
}


def parse_zdb_label(text):
    """
    Parse ``zdb -l <device>`` (OpenZFS 2.x: identical labels printed once,
    then ``labels = 0 1 2 3``) into ``{"pool", "pool_guid", "vdev_guid",
    "state", "txg", "hostid", "hostname", "labels"}``: ``state`` in words
    (:data:`LABEL_STATES`: ``active`` = imported and not exported when it
    was last written), ``hostid`` as ``0x%08x`` (zdb prints it in decimal)
    or None, ``labels`` the label numbers that carry it. The first label
    printed is read (they are the same on a healthy disk). None when no
    label unpacks (``failed to unpack label N``). Pure.
    """
    block = re.split(r"^-+\s*\nLABEL \d+\s*\n-+\s*$", text, flags=re.M)
    if len(block) < 2:
        return None
    fields = {}
    for line in block[1].splitlines():
        # Top-level keys of the label nvlist are indented 4 spaces; vdev_tree's children deeper.
        found = re.match(r"^    ([a-z_]+): (.*)$", line)
        if found:
            fields.setdefault(found.group(1), found.group(2).strip())
    labels = re.search(r"^\s*labels = ([0-9 ]+)$", block[1], re.M)
    if "name" not in fields or "pool_guid" not in fields:
        return None

    def number(key):
        value = fields.get(key)
        return int(value) if value is not None and value.isdigit() else None

    state = number("state")
    hostid = number("hostid")
    return {
        "pool": fields["name"].strip("'"),
        "pool_guid": fields["pool_guid"],
        "vdev_guid": fields.get("guid"),
        "state": LABEL_STATES.get(state, f"unknown ({fields.get('state')})"),
        "txg": number("txg"),
        "hostid": None if not hostid else f"0x{hostid:08x}",
        "hostname": fields["hostname"].strip("'") if "hostname" in fields else None,
        "labels": [int(n) for n in labels.group(1).split()] if labels else [],
    }


def parse_hostid(data):
    """
    Read ``/etc/hostid`` content (4 bytes in native byte order, what
    zgenhostid writes) as an int; None if it is not 4 bytes or is zero
    (OpenZFS treats 0 as "no hostid").
    """
    if data is None or len(data) != 4:
        return None
    value = int.from_bytes(data, sys.byteorder)
    return value or None


def parse_destroy_verbose(text):
    """``zfs destroy -v`` output -> ``{"destroyed": [names], "reclaimed": "0B" or None}``."""
    destroyed, reclaimed = [], None
    for line in text.splitlines():
        if line.startswith("will destroy "):
            destroyed.append(line[len("will destroy ") :].strip())
        elif line.startswith("will reclaim "):
            reclaimed = line[len("will reclaim ") :].strip()
    return {"destroyed": destroyed, "reclaimed": reclaimed}


def parse_zstream_dump(text):
    """
    Judge ``zstream dump`` output (OpenZFS cmd/zstream/zstream_dump.c):
    the stream is whole when at least one BEGIN record came and as many END
    records, and no checksum or record error was printed (zstream exits 0
    after a checksum mismatch and on a truncated stream: the counts and
    messages are what tell). Returns ``{"ok", "begin", "end", "problems"}``.
    """
    begin = re.search(r"Total DRR_BEGIN records = (\d+)", text)
    end = re.search(r"Total DRR_END records = (\d+)", text)
    problems = [
        line.strip()
        for line in text.splitlines()
        if re.search(
            r"Expected checksum differs|Incorrect checksum|invalid checksum|INVALID record|Invalid stream", line
        )
    ]
    begin = int(begin.group(1)) if begin else None
    end = int(end.group(1)) if end else None
    if begin is None or end is None:
        problems.append("no SUMMARY with BEGIN/END record counts")
    elif begin < 1 or begin != end:
        problems.append(f"{begin} BEGIN and {end} END records: the stream is incomplete")
    return {"ok": not problems, "begin": begin, "end": end, "problems": problems}
