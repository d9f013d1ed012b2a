"""
The ZFS side of an MDT mirror: read and judge the pool that mirrors a local LUN
with the peer's LUN (logged in over SRP), and the safety checks that must pass
before anything writes to a disk.

Why not saltext-zfs for this: its ``zpool.status`` drops the vdev notes
(``was /dev/...``, ``(resilvering)``, ``too many errors``), keeps ``scan:`` as a
raw string, ignores ``-P`` and the JSON output of OpenZFS 2.3, and its
``zpool.present`` imports/creates with ``-f`` and knows no multihost. The pool
and snapshot logic is therefore ours; plain dataset/hold handling can still use
saltext-zfs.

Output formats: OpenZFS >= 2.3 prints JSON (``zpool status -j --json-int``),
which is used when ``zpool version`` says so; 2.1 and 2.2 (what Lustre servers
are often pinned to) only have text, parsed by :py:func:`parse_status_text`
into the same structure as :py:func:`parse_status_json`.

Configuration (minion config or pillar, read with ``config.get``):

``mdtmirror:sysroot``
    prefix for the ``/etc`` paths below (default ``/``).
``mdtmirror:paths:<key>``
    override one path: ``hostid`` (``/etc/hostid``).
``mdtmirror:bin:<name>``
    the binaries: ``zpool``, ``zfs``, ``zgenhostid``, ``blkid``.
``mdtmirror:zpool_output``
    ``json``, ``text`` or ``auto`` (default): which ``zpool status`` output
    :py:func:`status` asks for.
"""

import calendar
import datetime
import json
import logging
import os
import re
import sys
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "zfsmirror"

# What Salt exposes as zfsmirror.* (the pure parsers, classify_sides and
# plan_prune stay importable for tests and callers but out of the CLI).
__all__ = [
    "version",
    "status",
    "health",
    "disk_in_use",
    "hostid",
    "hostid_present",
    "ensure_hostid",
]

_DEFAULT_PATHS = {
    "hostid": "/etc/hostid",
}

# OpenZFS release that added ``-j`` to zpool/zfs (status, list, get, version).
JSON_SINCE = (2, 3, 0)

# Pool name used for the ``zpool create -n`` dry run of disk_in_use (never created).
PROBE_POOL = "mdtmirror_probe"

# Longest single argument Linux accepts is MAX_ARG_STRLEN = 32 pages = 131072
# bytes; stay well below it for ``zfs destroy fs@a,b,c``.
MAX_ARG_BYTES = 100_000

# Retention periods plan_prune knows, newest-first bucket keys in UTC.
# "frequently" keeps the N newest snapshots whatever their age.
PERIODS = ("frequently", "hourly", "daily", "weekly", "monthly", "yearly")

_POOL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]*$")


def __virtual__():
    return __virtualname__


# --------------------------------------------------------------------------
# configuration and running commands
# --------------------------------------------------------------------------


def _config(key, default=None):
    return __salt__["config.get"](key, default)


def _path(key):
    override = _config("mdtmirror:paths:" + key)
    if override:
        return override
    sysroot = _config("mdtmirror:sysroot", "/") or "/"
    return os.path.join(sysroot, _DEFAULT_PATHS[key].lstrip("/"))


def _bin(name):
    return _config("mdtmirror:bin:" + name, name) or name


def _run(cmd, ignore_retcode=False):
    """Run an argument list (never a shell); return Salt's ``cmd.run_all`` result."""
    return __salt__["cmd.run_all"](cmd, python_shell=False, ignore_retcode=ignore_retcode)


def _output(ret):
    """stdout and stderr of a command in one text (the tools mix both for messages)."""
    parts = [ret.get("stdout") or "", ret.get("stderr") or ""]
    return "\n".join(p for p in parts if p.strip())


def _failed(what, ret):
    text = _output(ret).strip() or "no output"
    return CommandExecutionError(f"{what} failed (exit {ret.get('retcode')}): {text}")


def _check_pool(pool):
    if not isinstance(pool, str) or not _POOL_RE.match(pool) or len(pool) > 255:
        raise SaltInvocationError(
            f"invalid pool name {pool!r}: it must start with a letter and contain only letters, "
            "digits, '_', '.', ':', '-'"
        )
    return pool


def _check_device(path):
    if not isinstance(path, str) or not path.startswith("/") or re.search(r"[\s,]", path):
        raise SaltInvocationError(f"invalid device {path!r}: give an absolute path without blanks or commas")
    return path


def _split_list(value):
    """A list argument from the CLI may come as ``a,b``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


# --------------------------------------------------------------------------
# small value parsers
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# zpool status: one structure for JSON and text
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# list/get/holds
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# zpool import (listing and refusals)
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# disk labels: zpool create/labelclear messages and blkid
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# mirror sides
# --------------------------------------------------------------------------


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
    local = _split_list(local)
    remote = _split_list(remote)
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


# --------------------------------------------------------------------------
# execution functions: reading
# --------------------------------------------------------------------------


def version():
    """
    Return the OpenZFS version of the ``zpool`` tool and the loaded module, and
    whether the tools print JSON (``-j``, OpenZFS >= 2.3).

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.version
    """
    ret = _run([_bin("zpool"), "version"], ignore_retcode=True)
    # Without the zfs module zpool prints the userland line and exits 1.
    try:
        return parse_version(ret.get("stdout") or "")
    except CommandExecutionError:
        raise _failed("zpool version", ret) from None


def _use_json(output):
    output = output or _config("mdtmirror:zpool_output", "auto") or "auto"
    if output not in ("auto", "json", "text"):
        raise SaltInvocationError(f"invalid output {output!r}: use auto, json or text")
    if output == "auto":
        return version()["json"]
    return output == "json"


def status(pool, local=None, remote=None, output=None):
    """
    Return the parsed ``zpool status`` of one pool (see
    :py:func:`parse_status_text` for the structure), from ``zpool status -j
    --json-int -P`` on OpenZFS >= 2.3 and ``zpool status -p -P`` before.
    With ``local``/``remote`` path prefixes, ``sides`` classifies the mirror's
    sides (:py:func:`classify_sides`). ``output`` forces ``json`` or ``text``.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.status mdtpool
        salt '*' zfsmirror.status mdtpool local=/dev/disk/by-id/scsi-36001 remote=/dev/disk/by-id/scsi-36002
    """
    _check_pool(pool)
    use_json = _use_json(output)
    zpool = _bin("zpool")
    if use_json:
        cmd = [zpool, "status", "-j", "--json-int", "-P", pool]
    else:
        cmd = [zpool, "status", "-p", "-P", pool]
    ret = _run(cmd, ignore_retcode=True)
    if ret.get("retcode") != 0:
        raise _failed(f"zpool status {pool}", ret)
    parsed = parse_status_json(ret["stdout"]) if use_json else parse_status_text(ret["stdout"])
    if pool not in parsed:
        raise CommandExecutionError(
            f"zpool status {pool} did not report pool {pool} (got: {', '.join(parsed) or 'nothing'})"
        )
    result = parsed[pool]
    if local or remote:
        result["sides"] = classify_sides(result, local, remote)
    return result


def health(pool, local=None, remote=None, output=None):
    """
    Return the health of a mirrored MDT pool: each data side classified
    ``local``/``remote`` by the given path prefixes with its state, error
    counts and a ``why`` (``REMOVED: device removed (SRP path lost?)``,
    ``OFFLINE: ...``, ``resilvering 45.2%``), whether the pool is
    ``redundant`` and the ``problems`` in words (see :py:func:`classify_sides`).

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.health mdtpool local=/dev/disk/by-id/scsi-36001 remote=/dev/disk/by-id/scsi-36002
    """
    return classify_sides(status(pool, output=output), local, remote)


# --------------------------------------------------------------------------
# safety: disks and hostid
# --------------------------------------------------------------------------


def disk_in_use(path):
    """
    Tell whether a disk carries anything that a new pool would destroy, and
    what. Nothing is written. Two independent checks, because each misses
    cases the other sees:

    - ``blkid -p -o export <dev>``: a low-level probe (no blkid cache, which
      can be stale for a LUN that just appeared over SRP) for any filesystem,
      RAID/LVM member, ZFS label or partition table. zpool's own check only
      looks inside EFI partitions and ignores a bare partition table, so a
      partitioned but unformatted LUN of another system would pass it.
    - ``zpool create -n <probe> <dev>``: ZFS's own in-use logic without
      writing: the exclusive open (mounted, held by dm/md/another imported
      pool), ZFS labels of active/exported pools, libblkid types per partition.
      Its messages are parsed by :py:func:`parse_label_check`.

    Returns ``{"path", "in_use", "reasons": [sentences], "signatures": {blkid
    keys}, "zfs_label": {"pool", "pool_guid", "vdev_guid"} or None,
    "problems": [parse_label_check problems]}``. An unreadable answer raises:
    a disk is never declared free on doubt.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.disk_in_use /dev/disk/by-id/scsi-36001405abcdef
    """
    _check_device(path)
    if not os.path.exists(path):
        # blkid -p exits 2 (= "nothing found") for a missing device too.
        raise CommandExecutionError(f"device {path} does not exist")
    reasons = []
    ret = _run([_bin("blkid"), "-p", "-o", "export", path], ignore_retcode=True)
    code = ret.get("retcode")
    if code == 0:
        signatures = parse_blkid_export(ret.get("stdout") or "")
        signatures.pop("DEVNAME", None)
    elif code == 2:
        signatures = {}
    elif code == 8:
        signatures = {"AMBIVALENT": "yes"}
        reasons.append(f"{path} carries several conflicting signatures (blkid -p: ambivalent result)")
    else:
        raise _failed(f"blkid -p {path}", ret)
    zfs_label = None
    if signatures.get("TYPE"):
        what = signatures["TYPE"]
        if what == "zfs_member":
            zfs_label = {
                "pool": signatures.get("LABEL"),
                "pool_guid": signatures.get("UUID"),
                "vdev_guid": signatures.get("UUID_SUB"),
            }
            reasons.append(
                f"{path} has a ZFS label of pool {signatures.get('LABEL')!r} (guid {signatures.get('UUID')})"
            )
        else:
            label = f" labelled {signatures['LABEL']!r}" if signatures.get("LABEL") else ""
            reasons.append(f"{path} contains a {what} signature{label} ({signatures.get('USAGE') or 'unknown usage'})")
    if signatures.get("PTTYPE"):
        reasons.append(f"{path} has a {signatures['PTTYPE']} partition table")

    ret = _run([_bin("zpool"), "create", "-n", PROBE_POOL, path], ignore_retcode=True)
    check = parse_label_check(_output(ret))
    if ret.get("retcode") != 0 and check["ok"]:
        raise _failed(f"zpool create -n {PROBE_POOL} {path} (dry run)", ret)
    if ret.get("retcode") == 0 and not check["ok"]:
        raise CommandExecutionError(
            f"zpool create -n on {path} succeeded but printed {_output(ret).strip()!r}; cannot judge the disk"
        )
    for problem in check["problems"]:
        reasons.append(problem["message"])
    return {
        "path": path,
        "in_use": bool(reasons),
        "reasons": reasons,
        "signatures": signatures,
        "zfs_label": zfs_label,
        "problems": check["problems"],
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


def _read_hostid(path):
    try:
        with open(path, "rb") as handle:
            return parse_hostid(handle.read(5))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandExecutionError(f"cannot read {path}: {exc.strerror}") from exc


def hostid():
    """
    Return this host's ZFS hostid from ``/etc/hostid`` as ``0x%08x``, or None
    if it has none. With ``multihost=on`` the two MDS servers must have
    different, non-zero hostids.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.hostid
    """
    value = _read_hostid(_path("hostid"))
    return None if value is None else f"0x{value:08x}"


def hostid_present():
    """
    Return True if ``/etc/hostid`` holds a valid non-zero hostid. Without one,
    a ``multihost=on`` pool cannot be imported ("pool has the multihost
    property on and the system's hostid is not set").

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.hostid_present
    """
    return _read_hostid(_path("hostid")) is not None


def _check_hostid_value(value):
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = str(value).strip().lower()
        text = text[2:] if text.startswith("0x") else text
        if not re.match(r"^[0-9a-f]{1,8}$", text):
            raise SaltInvocationError(f"invalid hostid {value!r}: give up to 8 hex digits, e.g. 0x1a2b3c4d")
        number = int(text, 16)
    if not 0 < number <= 0xFFFFFFFF:
        raise SaltInvocationError(f"invalid hostid {value!r}: it must be between 0x00000001 and 0xffffffff")
    return number


def ensure_hostid(hostid=None, test=False):
    """
    Make sure ``/etc/hostid`` holds a hostid, running ``zgenhostid`` (random
    value, or ``hostid`` if given as 8 hex digits) when it is missing, empty
    or zero. An existing valid hostid is never changed: if it differs from
    ``hostid`` this raises instead (multihost pools record the importing
    host's id, so changing it under an imported pool is dangerous).

    Returns ``{"changed", "hostid", "path", "comment"}``; with ``test=True``
    nothing is run and ``changed`` says what would happen.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.ensure_hostid
        salt '*' zfsmirror.ensure_hostid hostid=0x1a2b3c4d test=True
    """
    wanted = None if hostid in (None, "") else _check_hostid_value(hostid)
    path = _path("hostid")
    current = _read_hostid(path)
    if current is not None:
        if wanted is not None and wanted != current:
            raise CommandExecutionError(
                f"{path} holds hostid 0x{current:08x}, not the requested 0x{wanted:08x}; refusing to change "
                "an existing hostid (do it by hand with zgenhostid -f while no pool is imported)"
            )
        return {"changed": False, "hostid": f"0x{current:08x}", "path": path, "comment": "hostid already set"}
    if test:
        return {
            "changed": True,
            "hostid": None if wanted is None else f"0x{wanted:08x}",
            "path": path,
            "comment": f"zgenhostid would write {path}",
        }
    cmd = [_bin("zgenhostid")]
    if os.path.lexists(path):
        cmd.append("-f")  # present but empty/zero/garbage: zgenhostid refuses without -f
    cmd += ["-o", path]
    if wanted is not None:
        cmd.append(f"{wanted:08x}")
    ret = _run(cmd, ignore_retcode=True)
    if ret.get("retcode") != 0:
        raise _failed(f"zgenhostid -o {path}", ret)
    current = _read_hostid(path)
    if current is None:
        raise CommandExecutionError(f"zgenhostid exited 0 but {path} still holds no valid hostid")
    return {"changed": True, "hostid": f"0x{current:08x}", "path": path, "comment": f"zgenhostid wrote {path}"}


# --------------------------------------------------------------------------
# snapshot retention (pure)
# --------------------------------------------------------------------------


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


def _epoch(value, what):
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
    now = _epoch(now, "time")
    if not isinstance(prefix, str) or not prefix or re.search(r"[@/,%\s]", prefix):
        raise SaltInvocationError(f"invalid snapshot prefix {prefix!r}")
    holds = set(_split_list(holds))
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
