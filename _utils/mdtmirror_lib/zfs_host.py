"""
The ZFS side of an MDT mirror as it runs on a host: :py:class:`ZfsHost` does the
``zpool``/``zfs`` work of the ``zfsmirror`` loader module (whose functions'
docstrings document each action and whose module docstring the configuration).
It gets what it needs from its caller and never touches Salt's dunders: ``run_all``
(``__salt__["cmd.run_all"]``, called with argument lists, never a shell), ``get``
(``__salt__["config.get"]``) and ``context`` (the minion's ``__context__``, where
the output format of the tools is kept per process).

Decisions the actions below share (the ``zfsmirror`` functions' docstrings have details):

- Pools are created and imported with ``-o multihost=on`` (create) and
  ``-o cachefile=none`` (both): on a pair of servers that can both see the
  disks, the pool is imported by a deliberate act (this module, Salt, the HA
  layer), never by ``zfs-import-cache.service`` at boot, as pacemaker's
  ``ocf:heartbeat:ZFS`` does it. Multihost (MMP) refuses an import while the
  other server has the pool, even with ``-f``.
- ``-f`` is never added by itself: ``create`` adds it only with ``force=True``
  for a disk that is in use in a way zpool can override, ``import_pool`` only
  with ``force=True`` for a pool the listing says was last used by another
  host that no longer writes to it. Nothing here offlines a disk; the one
  detach is heal's, of a dead vdev whose disk came back under another name
  (its label: this pool, that very vdev), attached again at once.
- Snapshots are named ``<prefix><UTC time %Y%m%dT%H%M%SZ>``
  (``mdtmirror-20261124T121842Z``). The name is for people: retention and
  backups order snapshots by their creation txg, never by name, so older
  names (``mdtmirror-20261121T0000Z``) are handled alike.
- Periodic jobs are systemd timers, not the minion's scheduler: see
  :py:func:`snapshot_job`.
"""

import datetime
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time

from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import hostio, zfs_policy
from mdtmirror_lib.zfs_parse import (
    parse_blkid_export,
    parse_destroy_verbose,
    parse_get_hp,
    parse_holds,
    parse_hostid,
    parse_import_list,
    parse_label_check,
    parse_list_hp,
    parse_nice,
    parse_status_json,
    parse_status_text,
    parse_version,
    parse_zdb_label,
    parse_zstream_dump,
)
from mdtmirror_lib.zfs_policy import (
    classify_sides,
    import_decision,
    parse_backup_files,
    parse_policy,
    plain_bool,
    plan_backup,
    plan_prune,
    restore_chain,
)

_DEFAULT_PATHS = {
    "hostid": "/etc/hostid",
    "import_dir": "/dev/disk/by-id",
    "kstat_zfs": "/proc/spl/kstat/zfs",
    "systemd_system": "/etc/systemd/system",
}


# Pool name used for the ``zpool create -n`` dry run of disk_in_use (never created).
PROBE_POOL = "mdtmirror_probe"


_POOL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]*$")


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


def _read_hostid(path):
    try:
        with open(path, "rb") as handle:
            return parse_hostid(handle.read(5))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandExecutionError(f"cannot read {path}: {exc.strerror}") from exc


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


_DATASET_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]*(/[A-Za-z0-9_.:\-]+)*$")


_TAG_RE = re.compile(r"^[A-Za-z0-9_.:+\-]+$")


_PROP_RE = re.compile(r"^[a-z][a-z0-9_]*(:[a-z0-9_.:\-]+)?(@[A-Za-z0-9_.\-]+)?$")


_HOST_RE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.\-]*@)?(?:[A-Za-z0-9][A-Za-z0-9.\-]*|\[[0-9A-Fa-f:.]+\])$")


_UNIT_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


# What a unit file's ExecStart= word may contain without quoting (and no '%', a systemd specifier).
_UNIT_WORD_RE = re.compile(r"^[A-Za-z0-9_@+=:,./~\-]+$")


SNAPSHOT_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


# Pool properties this module sets itself (create, import_pool).
_MANAGED_POOL_PROPS = {"multihost": "on", "cachefile": "none"}


# zvol properties that only ``zfs create`` can set.
_ZVOL_CREATE_ONLY = ("volblocksize", "encryption", "keyformat", "pbkdf2iters", "normalization", "utf8only")


# Columns of the one ``zfs list`` that prune and backup read (those of the
# captured listing); ``-s createtxg`` makes the row order the creation txg order.
_SNAP_COLUMNS = ["name", "creation", "used", "userrefs"]


# Disk problems ``zpool create -f`` cannot override (see parse_label_check).
_HARD_KINDS = ("busy", "spare", "missing", "cannot_open")


def _check_dataset(name, what="dataset"):
    if not isinstance(name, str) or not _DATASET_RE.match(name) or len(name) > 255:
        raise SaltInvocationError(
            f"invalid {what} name {name!r}: pool/child path of letters, digits, '_', '.', ':', '-' (no blanks)"
        )
    return name


def _check_prefix(prefix):
    if not isinstance(prefix, str) or not prefix or not re.match(r"^[A-Za-z0-9_.:\-]+$", prefix):
        raise SaltInvocationError(f"invalid snapshot prefix {prefix!r}: letters, digits, '_', '.', ':', '-'")
    return prefix


def _check_tag(tag):
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise SaltInvocationError(f"invalid hold tag {tag!r}: letters, digits, '_', '.', ':', '+', '-'")
    return tag


def _prop_text(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value).strip()


def _check_props(properties, what):
    """``{name: value}`` -> ordered ``[(name, text)]``, names and values checked."""
    if properties is None:
        return []
    if not isinstance(properties, dict):
        raise SaltInvocationError(f"{what} must be a mapping of property: value, not {properties!r}")
    out = []
    for key in sorted(properties):
        text = _prop_text(properties[key])
        if not isinstance(key, str) or not _PROP_RE.match(key):
            raise SaltInvocationError(f"invalid {what} name {key!r}")
        if not text or re.search(r"[\s,=]", text):
            raise SaltInvocationError(f"invalid value {properties[key]!r} for {what} {key}")
        out.append((key, text))
    return out


def _pool_props(properties):
    """User pool properties, refusing the two this module manages."""
    props = _check_props(properties, "pool property")
    for key, text in props:
        if key in _MANAGED_POOL_PROPS and text != _MANAGED_POOL_PROPS[key]:
            raise SaltInvocationError(
                f"pool property {key}={text} is not allowed: zfsmirror always uses {key}={_MANAGED_POOL_PROPS[key]} "
                "(two servers see these disks)"
            )
    return [(k, v) for k, v in props if k not in _MANAGED_POOL_PROPS]


def _same_value(have, want):
    if have is None:
        return want in ("-", "none", "")
    have, want = str(have).strip(), str(want).strip()
    if have.lower() == want.lower():
        return True
    try:
        return parse_nice(have) == parse_nice(want.upper())
    except CommandExecutionError:
        return False


def _cmd_text(cmd):
    return " ".join([os.path.basename(cmd[0])] + [str(c) for c in cmd[1:]])


_LIST_COLUMNS = ["name", "size", "alloc", "free", "health", "guid"]


def _listing_words(entry):
    words = [f"state {entry.get('state')}"]
    if entry.get("status"):
        words.append(entry["status"])
    if entry.get("host"):
        words.append(f"host {entry['host']} (hostid {entry.get('hostid')})")
    return ", ".join(words)


def _vdev_id(side):
    return side.get("path") or side["name"]


def _resilver_info(scan):
    if not scan or scan.get("function") != "resilver":
        return None
    return {k: scan.get(k) for k in ("state", "percent", "issued", "total", "processed", "errors", "end_time")}


def _is_block(path):
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


def _size_bytes(size, what="size"):
    if isinstance(size, bool):
        raise SaltInvocationError(f"invalid {what} {size!r}")
    if isinstance(size, int):
        number = size
    else:
        text = str(size).strip().upper()
        text = text[:-1] if text.endswith("B") and len(text) > 1 and not text[-2].isdigit() else text
        try:
            number = parse_nice(text)
        except CommandExecutionError:
            number = None
    if not number or number <= 0:
        raise SaltInvocationError(f"invalid {what} {size!r}: give bytes or a number with K, M, G, T")
    return number


ZVOL_DEVICE_WAIT = 30  # seconds udev gets to make /dev/zvol/<name> after the zvol appears


def snapshot_name(dataset, prefix="mdtmirror-", now=None):
    """
    The name :py:func:`snapshot` gives: ``<dataset>@<prefix><UTC
    %Y%m%dT%H%M%SZ>`` (``mdtpool/mdt0@mdtmirror-20261124T121842Z``). Pure.
    """
    _check_dataset(dataset)
    _check_prefix(prefix)
    when = time.time() if now is None else zfs_policy.epoch(now, "time")
    stamp = datetime.datetime.fromtimestamp(int(when), datetime.timezone.utc).strftime(SNAPSHOT_TIME_FORMAT)
    return f"{dataset}@{prefix}{stamp}"


def _expand_destroy(arg, snaps):
    """Full names a ``dataset@a,b%c`` argument destroys, given the complete ordered list."""
    dataset, spec = arg.split("@", 1)
    shorts = [s["name"].split("@", 1)[1] for s in snaps if s["name"].startswith(dataset + "@")]
    index = {short: i for i, short in enumerate(shorts)}
    names = []
    for token in spec.split(","):
        first, _, last = token.partition("%")
        last = last or first
        names += [f"{dataset}@{s}" for s in shorts[index[first] : index[last] + 1]]
    return names


def parse_destination(destination):
    """
    Read a backup destination. Pure.

    - ``file:<directory>``: each stream becomes a file there,
      ``<dataset with / as +>@<snapshot>.full.zsend`` or
      ``...@<snapshot>.from-<base>.zsend`` (restore: ``zfs recv`` the full
      one, then each incremental in order).
    - ``ssh:[user@]<host>:<dataset>``: piped into ``ssh -o BatchMode=yes
      <host> zfs recv -u <dataset>`` (IPv6 hosts in brackets). No ``-F``: a
      destination that was changed, or that exists without the base
      snapshot, makes recv fail instead of being rolled back or overwritten;
      ``-u`` leaves the copy unmounted.

    Returns ``{"kind": "file", "path"}`` or ``{"kind": "ssh", "host", "dataset"}``.
    """
    if not isinstance(destination, str):
        raise SaltInvocationError(f"invalid backup destination {destination!r}")
    if destination.startswith("file:"):
        path = destination[len("file:") :]
        if not path.startswith("/") or re.search(r"\s", path) or "%" in path:
            raise SaltInvocationError(f"invalid backup destination {destination!r}: file:<absolute directory>")
        return {"kind": "file", "path": os.path.normpath(path)}
    if destination.startswith("ssh:"):
        rest = destination[len("ssh:") :]
        if "]" in rest:
            host, _, target = rest.partition("]:")
            host += "]"
        else:
            host, _, target = rest.partition(":")
        if not _HOST_RE.match(host or ""):
            raise SaltInvocationError(f"invalid backup destination {destination!r}: bad host {host!r}")
        _check_dataset(target, "backup dataset")
        return {"kind": "ssh", "host": host, "dataset": target}
    raise SaltInvocationError(
        f"invalid backup destination {destination!r}: use file:/directory or ssh:[user@]host:pool/dataset"
    )


def _tail(handle, limit=2000):
    handle.seek(0)
    data = handle.read().decode("utf-8", "replace").strip()
    return data[-limit:] if data else "no output"


def _pipe(send_cmd, receiver_cmd, path, zstream):
    files = [tempfile.TemporaryFile() for _ in range(5)]
    send_err, recv_out, recv_err, check_out, check_err = files
    procs, sinks = [], []
    target = None
    try:
        sender = subprocess.Popen(send_cmd, stdout=subprocess.PIPE, stderr=send_err)
        procs.append(sender)
        receiver = checker = None
        if receiver_cmd:
            receiver = subprocess.Popen(receiver_cmd, stdin=subprocess.PIPE, stdout=recv_out, stderr=recv_err)
            procs.append(receiver)
            sinks.append(("receiver", receiver.stdin))
        if path:
            target = open(path, "wb")
            sinks.append(("file", target))
        if zstream:
            checker = subprocess.Popen([zstream, "dump"], stdin=subprocess.PIPE, stdout=check_out, stderr=check_err)
            procs.append(checker)
            sinks.append(("zstream", checker.stdin))
        count, broken = 0, []
        while True:
            chunk = sender.stdout.read(1 << 20)
            if not chunk:
                break
            count += len(chunk)
            for label, sink in list(sinks):
                try:
                    sink.write(chunk)
                except (BrokenPipeError, OSError) as exc:
                    broken.append(f"{label}: {exc.strerror or exc}")
                    sinks.remove((label, sink))
            if broken:
                sender.kill()
                break
        for label, sink in sinks:
            if sink is target:
                continue
            try:
                sink.close()
            except (BrokenPipeError, OSError) as exc:
                broken.append(f"{label}: {exc.strerror or exc}")
        codes = {"send": sender.wait()}
        if receiver:
            codes["receiver"] = receiver.wait()
        if checker:
            codes["zstream"] = checker.wait()
        if target:
            target.flush()
            os.fsync(target.fileno())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if target:
            target.close()
    try:
        problems = []
        if codes["send"] != 0 and not broken:
            problems.append(f"{_cmd_text(send_cmd)} exited {codes['send']}: {_tail(send_err)}")
        if receiver_cmd and codes.get("receiver") != 0:
            problems.append(f"{_cmd_text(receiver_cmd)} exited {codes['receiver']}: {_tail(recv_err)}")
        verified = None
        if checker:
            check_out.seek(0)
            verdict = parse_zstream_dump(check_out.read().decode("utf-8", "replace"))
            if codes["zstream"] != 0 or not verdict["ok"]:
                words = verdict["problems"] if codes["zstream"] == 0 else [_tail(check_err)]
                problems.append(f"zstream dump rejected the stream (exit {codes['zstream']}): " + "; ".join(words))
            else:
                verified = f"zstream dump: {verdict['begin']} BEGIN/{verdict['end']} END records, checksums match"
        elif count <= 0:
            problems.append(f"{_cmd_text(send_cmd)} sent no bytes")
        else:
            verified = f"{count} bytes, exit codes 0 (zstream not available)"
        if broken:
            problems.append("zfs send was stopped after " + "; ".join(broken))
        if problems:
            raise CommandExecutionError("backup stream failed: " + "; ".join(problems))
        return {"bytes": count, "verified": verified}
    finally:
        for handle in files:
            handle.close()


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _receive_file(path, recv_cmd):
    with open(path, "rb") as stream:
        proc = subprocess.run(recv_cmd, stdin=stream, capture_output=True, check=False)
    if proc.returncode != 0:
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip() or "no output"
        raise CommandExecutionError(f"{_cmd_text(recv_cmd)} < {path} failed (exit {proc.returncode}): {text}")


def calendar_spec(interval=None, calendar=None):
    """
    The timer's ``OnCalendar=``: ``calendar`` as given (``daily``, ``Mon,Thu
    02:30``), or ``interval`` minutes that divide an hour (``15`` ->
    ``*-*-* *:00/15:00``) or a day (``360`` -> ``*-*-* 00/6:00:00``). Pure.
    """
    if calendar:
        text = str(calendar).strip()
        if not text or "\n" in text or "%" in text:
            raise SaltInvocationError(f"invalid on_calendar {calendar!r}")
        return text
    if isinstance(interval, bool) or not re.match(r"^\d+$", str(interval if interval is not None else "").strip()):
        raise SaltInvocationError(f"invalid interval {interval!r}: give whole minutes, or on_calendar")
    minutes = int(str(interval).strip())
    if 0 < minutes < 60 and 60 % minutes == 0:
        return f"*-*-* *:00/{minutes}:00"
    if minutes >= 60 and minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        return f"*-*-* 00/{minutes // 60}:00:00"
    raise SaltInvocationError(
        f"interval {interval} minutes does not divide an hour or a day evenly: give on_calendar instead"
    )


def _unit_words(cmd):
    for word in cmd:
        if not _UNIT_WORD_RE.match(str(word)):
            raise SaltInvocationError(f"{word!r} cannot go into a unit file unquoted")
    return " ".join(str(w) for w in cmd)


def render_units(unit, description, commands, calendar, condition=None):
    """
    The text of ``<unit>.service`` (oneshot: ``ExecCondition=`` then each
    ``ExecStart=`` in order, a failing one stops the rest) and
    ``<unit>.timer`` (``Persistent=true``: a run missed while the server was
    down happens at the next start). Pure. Returns ``{"service", "timer"}``.
    """
    header = f"# Written by Salt (zfsmirror) for {unit}; local edits are overwritten.\n"
    service = [header, "[Unit]", f"Description={description}", "After=zfs.target", "", "[Service]", "Type=oneshot"]
    if condition:
        service.append(f"ExecCondition={_unit_words(condition)}")
    service += [f"ExecStart={_unit_words(cmd)}" for cmd in commands]
    timer = [
        header,
        "[Unit]",
        f"Description=Timer of {unit}",
        "",
        "[Timer]",
        f"OnCalendar={calendar}",
        "Persistent=true",
        "",
        "[Install]",
        "WantedBy=timers.target",
    ]
    return {"service": "\n".join(service) + "\n", "timer": "\n".join(timer) + "\n"}


_read_text = hostio.read_text


_write_text = hostio.write_text


def _link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def _check_job_name(name):
    if not isinstance(name, str) or not _UNIT_NAME_RE.match(name):
        raise SaltInvocationError(f"invalid job name {name!r}: letters, digits, '_', '.', '-'")
    return name


class ZfsHost:
    """
    One host's pools and datasets through its tools. ``run_all(cmd, python_shell=False,
    ignore_retcode=...)`` returns Salt's ``cmd.run_all`` dict; ``get(key, default)`` reads
    the ``mdtmirror:`` configuration; ``context`` is a dict that lives as long as the
    process (the minion's ``__context__``).
    """

    def __init__(self, run_all, get, context):
        self._run_all = run_all
        self._get = get
        self._context = context

    # --------------------------------------------------------------------------
    # configuration and running commands
    # --------------------------------------------------------------------------
    def _config(self, key, default=None):
        return self._get(key, default)

    def _path(self, key):
        return hostio.host_path(self._config, key, _DEFAULT_PATHS)

    def _host(self, path):
        """Where this module looks for a host path (``/dev/...``) itself: under ``mdtmirror:sysroot``."""
        return hostio.under_sysroot(self._config, path)

    def _unhost(self, path):
        """The inverse of :py:func:`_host`: a path as tools on the host name it (no sysroot prefix)."""
        return hostio.strip_sysroot(self._config, path)

    def _bin(self, name):
        return hostio.binary(self._config, name)

    def _run(self, cmd, ignore_retcode=False):
        """Run an argument list (never a shell); return Salt's ``cmd.run_all`` result."""
        return self._run_all(cmd, python_shell=False, ignore_retcode=ignore_retcode)

    # --------------------------------------------------------------------------
    # execution functions: reading
    # --------------------------------------------------------------------------
    def version(self):
        """The work of ``zfsmirror.version`` (its docstring there documents it)."""
        ret = self._run([self._bin("zpool"), "version"], ignore_retcode=True)
        # Without the zfs module zpool prints the userland line and exits 1.
        try:
            return parse_version(ret.get("stdout") or "")
        except CommandExecutionError:
            raise _failed("zpool version", ret) from None

    def _use_json(self, output):
        """True/False for ``json``/``text``; for ``auto`` what the tools answered before in this
        process, None while unknown (:py:meth:`status` asks for JSON then)."""
        output = output or self._config("mdtmirror:zpool_output", "auto") or "auto"
        if output not in ("auto", "json", "text"):
            raise SaltInvocationError(f"invalid output {output!r}: use auto, json or text")
        if output == "auto":
            return self._context.get("zfsmirror.json")
        return output == "json"

    def status(self, pool, local=None, remote=None, output=None):
        """The work of ``zfsmirror.status`` (its docstring there documents it)."""
        _check_pool(pool)
        use_json = self._use_json(output)
        zpool = self._bin("zpool")
        ret = None
        if use_json is not False:
            ret = self._run([zpool, "status", "-j", "--json-int", "-P", pool], ignore_retcode=True)
            if use_json is None:
                # "auto" asks for JSON first instead of running `zpool version` before: OpenZFS < 2.3
                # has no -j and its getopt answers "invalid option 'j'" with the usage, exit 2
                # (every other failure of zpool status exits 1). The answer holds for this process.
                refused = ret.get("retcode") == 2 and "invalid option" in (ret.get("stderr") or "")
                self._context["zfsmirror.json"] = use_json = not refused
        if not use_json:
            ret = self._run([zpool, "status", "-p", "-P", pool], ignore_retcode=True)
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

    def health(self, pool, local=None, remote=None, output=None):
        """The work of ``zfsmirror.health`` (its docstring there documents it)."""

        def names(value):
            # A device path given stands for every name of that device (the pool may record any).
            return [
                n for p in zfs_policy.split_list(value) for n in (self._side_prefixes(p) if p.startswith("/") else [p])
            ]

        return classify_sides(self.status(pool, output=output), names(local), names(remote))

    # --------------------------------------------------------------------------
    # safety: disks and hostid
    # --------------------------------------------------------------------------
    def disk_in_use(self, path):
        """The work of ``zfsmirror.disk_in_use`` (its docstring there documents it)."""
        _check_device(path)
        if not os.path.exists(self._host(path)):
            # blkid -p exits 2 (= "nothing found") for a missing device too.
            raise CommandExecutionError(f"device {path} does not exist")
        reasons = []
        ret = self._run([self._bin("blkid"), "-p", "-o", "export", path], ignore_retcode=True)
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
                reasons.append(
                    f"{path} contains a {what} signature{label} ({signatures.get('USAGE') or 'unknown usage'})"
                )
        if signatures.get("PTTYPE"):
            reasons.append(f"{path} has a {signatures['PTTYPE']} partition table")

        ret = self._run([self._bin("zpool"), "create", "-n", PROBE_POOL, path], ignore_retcode=True)
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

    def hostid(self):
        """The work of ``zfsmirror.hostid`` (its docstring there documents it)."""
        value = _read_hostid(self._path("hostid"))
        return None if value is None else f"0x{value:08x}"

    def hostid_present(self):
        """The work of ``zfsmirror.hostid_present`` (its docstring there documents it)."""
        return _read_hostid(self._path("hostid")) is not None

    def ensure_hostid(self, hostid=None, test=False):
        """The work of ``zfsmirror.ensure_hostid`` (its docstring there documents it)."""
        wanted = None if hostid in (None, "") else _check_hostid_value(hostid)
        path = self._path("hostid")
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
        cmd = [self._bin("zgenhostid")]
        if os.path.lexists(path):
            cmd.append("-f")  # present but empty/zero/garbage: zgenhostid refuses without -f
        cmd += ["-o", self._unhost(path)]  # zgenhostid resolves it in the host's own root
        if wanted is not None:
            cmd.append(f"{wanted:08x}")
        ret = self._run(cmd, ignore_retcode=True)
        if ret.get("retcode") != 0:
            raise _failed(f"zgenhostid -o {path}", ret)
        current = _read_hostid(path)
        if current is None:
            raise CommandExecutionError(f"zgenhostid exited 0 but {path} still holds no valid hostid")
        return {"changed": True, "hostid": f"0x{current:08x}", "path": path, "comment": f"zgenhostid wrote {path}"}

    # --------------------------------------------------------------------------
    # actions: shared checks and the plan runner
    # --------------------------------------------------------------------------
    def _apply(self, steps, test):
        """
        Carry out (or, with ``test``, only report) a plan: ``[(key, {"old",
        "new"}, action)]`` where action is an argument list or a callable; a key
        of None records the command but no change. Returns ``(changes,
        commands)``; a failure raises naming what was done before it.
        """
        changes, commands = {}, []
        for key, change, action in steps:
            if isinstance(action, list):
                commands.append(action)
            if test:
                if key is not None:
                    changes[key] = change
                continue
            try:
                if isinstance(action, list):
                    ret = self._run(action, ignore_retcode=True)
                    if ret.get("retcode") != 0:
                        raise _failed(_cmd_text(action), ret)
                else:
                    action()
            except (CommandExecutionError, SaltInvocationError, OSError) as exc:
                text = f"{exc.filename or key}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
                done = ", ".join(changes)
                raise CommandExecutionError(text + (f" (done before the failure: {done})" if done else "")) from None
            if key is not None:
                changes[key] = change
        return changes, commands

    def _device_present(self, path):
        return os.path.exists(self._host(path))

    def _by_id_links(self, path):
        """``/dev/disk/by-id`` names (host view) whose link resolves to ``path``, best first."""
        base = self._host("/dev/disk/by-id")
        try:
            names = os.listdir(base)
        except OSError:
            return []
        target = os.path.realpath(self._host(path))
        found = [n for n in names if os.path.realpath(os.path.join(base, n)) == target]

        def rank(name):
            for i, prefix in enumerate(("wwn-", "scsi-3", "nvme-eui.", "dm-uuid-mpath-", "scsi-")):
                if name.startswith(prefix):
                    return (i, name)
            return (9, name)

        return ["/dev/disk/by-id/" + n for n in sorted(found, key=rank)]

    def stable_path(self, path):
        """
        The path a pool should record for ``path``: itself if it is already a
        stable name (``/dev/disk/...``, ``/dev/mapper/...``), else the best
        ``/dev/disk/by-id`` link to the same device (``wwn-``, ``scsi-3``...).
        Returns ``(path, warning or None)``; the warning says when no stable name
        exists (``/dev/sdX`` and ``/dev/loopN`` change across reboots and SRP
        reconnects). Pure apart from reading the ``/dev/disk/by-id`` links.
        """
        _check_device(path)
        if path.startswith(("/dev/disk/", "/dev/mapper/")):
            return path, None
        links = self._by_id_links(path)
        if links:
            return links[0], None
        return path, f"no /dev/disk/by-id link points to {path}: the pool records {path}, a name that can change"

    # --------------------------------------------------------------------------
    # pools: list, properties
    # --------------------------------------------------------------------------
    def list_pools(self):
        """The work of ``zfsmirror.list_pools`` (its docstring there documents it)."""
        ret = self._run([self._bin("zpool"), "list", "-H", "-p", "-o", ",".join(_LIST_COLUMNS)], ignore_retcode=True)
        if ret.get("retcode") != 0:
            raise _failed("zpool list", ret)
        rows = parse_list_hp(ret.get("stdout") or "", _LIST_COLUMNS)
        return {row["name"]: {k: v for k, v in row.items() if k != "name"} for row in rows}

    def pool_names(self):
        """The work of ``zfsmirror.pool_names`` (its docstring there documents it)."""
        directory = self._path("kstat_zfs")
        try:
            entries = os.listdir(directory)
        except OSError:
            # No zfs module loaded (the tree is its): zpool loads it, and answers.
            return sorted(self.list_pools())
        # A directory per imported pool (spa_stats.c: from the moment the pool is added, import included, to
        # its export) holding its state word; the module's own statistics are files. A pool's name starts
        # with a letter: the temporary "$import" pool of a zpool import listing (spa_tryimport) is none.
        return sorted(
            name for name in entries if _POOL_RE.match(name) and os.path.isfile(os.path.join(directory, name, "state"))
        )

    def pool_properties(self, pool, missing_ok=False):
        """The work of ``zfsmirror.pool_properties`` (its docstring there documents it)."""
        _check_pool(pool)
        ret = self._run([self._bin("zpool"), "get", "-H", "-p", "all", pool], ignore_retcode=True)
        if ret.get("retcode") != 0:
            # Not imported here is known from the pool list, not from the wording of zpool's error.
            if missing_ok and pool not in self.list_pools():
                return None
            raise _failed(f"zpool get all {pool}", ret)
        parsed = parse_get_hp(ret.get("stdout") or "")
        if pool not in parsed:
            raise CommandExecutionError(f"zpool get all {pool} did not report pool {pool}")
        return parsed[pool]

    def set_pool_properties(self, pool, properties, test=False, current=None):
        """The work of ``zfsmirror.set_pool_properties`` (its docstring there documents it)."""
        _check_pool(pool)
        props = _check_props(properties, "pool property")
        for key, text in props:
            if key in _MANAGED_POOL_PROPS and text != _MANAGED_POOL_PROPS[key]:
                raise SaltInvocationError(f"pool property {key}={text} is not allowed on a zfsmirror pool")
        if any(k == "multihost" for k, _ in props) and not self.hostid_present():
            raise CommandExecutionError(
                f"multihost=on for pool {pool} needs a hostid in {self._path('hostid')}: "
                "run zfsmirror.ensure_hostid first"
            )
        if current is None:
            current = self.pool_properties(pool) if props else {}
        steps = []
        for key, text in props:
            if key not in current:
                raise CommandExecutionError(f"pool {pool} has no property {key!r}")
            have = current[key]["value"]
            if not _same_value(have, text):
                steps.append(
                    (f"{pool}:{key}", {"old": have, "new": text}, [self._bin("zpool"), "set", f"{key}={text}", pool])
                )
        changes, commands = self._apply(steps, test)
        return {
            "changed": bool(steps),
            "test": bool(test),
            "changes": changes,
            "commands": commands,
            "current": current,
        }

    # --------------------------------------------------------------------------
    # create
    # --------------------------------------------------------------------------
    def _import_listing(self):
        """``zpool import -d <dir>``: the pools on the visible disks that are not imported here."""
        directory = self._unhost(self._path("import_dir"))  # zpool resolves it in the host's root
        ret = self._run([self._bin("zpool"), "import", "-d", directory], ignore_retcode=True)
        text = _output(ret)
        pools = parse_import_list(text)
        if ret.get("retcode") != 0 and not pools:
            raise _failed(f"zpool import -d {directory} (listing)", ret)
        return pools, directory

    def import_listing(self, reread=True):
        """The work of ``zfsmirror.import_listing`` (its docstring there documents it)."""
        listing, _ = self._import_listing()
        if not listing and reread and self._reread_partition_tables():
            listing, _ = self._import_listing()
        return listing

    def _reread_partition_tables(self):
        """
        Make this kernel re-read the partition tables of the whole disks in the
        import directory (``blockdev --rereadpt``; a disk in use refuses with
        EBUSY, which is fine), then let udev make the partitions' links. A
        standby never wrote the pool's partition tables itself: its own LUN was
        partitioned by the owner over SRP, the owner's LUN by the owner locally,
        so without this its kernel shows neither ``-part1`` and ``zpool import``
        finds no pool (seen on a real pair). Returns how many disks were re-read.
        """
        directory = self._path("import_dir")
        blockdev = self._config("mdtmirror:bin:blockdev", "blockdev")
        if not blockdev or not shutil.which(blockdev):
            return 0
        done = 0
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return 0
        seen = set()
        for name in names:
            if re.search(r"-part\d+$", name):
                continue
            device = os.path.realpath(os.path.join(directory, name))
            try:
                is_block = stat.S_ISBLK(os.stat(device).st_mode)
            except OSError:
                continue
            if not is_block or device in seen:
                continue
            seen.add(device)
            ret = self._run([blockdev, "--rereadpt", self._unhost(device)], ignore_retcode=True)
            if ret.get("retcode") == 0:
                done += 1
        udevadm = self._config("mdtmirror:bin:udevadm", "udevadm")
        if done and udevadm and shutil.which(udevadm):
            self._run([udevadm, "settle", "--timeout=30"], ignore_retcode=True)
        return done

    def create(
        self,
        pool,
        local,
        remote,
        properties=None,
        filesystem_properties=None,
        force=False,
        test=False,
        remote_pending=False,
    ):
        """The work of ``zfsmirror.create`` (its docstring there documents it)."""
        _check_pool(pool)
        force = plain_bool(force, "force")
        _check_device(local)
        _check_device(remote)
        pool_props = _pool_props(properties)
        fs_props = _check_props(filesystem_properties, "filesystem property")
        if pool in self.list_pools():
            raise CommandExecutionError(f"pool {pool} already exists (imported on this host)")
        listing, directory = self._import_listing()
        if pool in listing:
            raise CommandExecutionError(
                f"a pool named {pool} is already on the disks in {directory} ({_listing_words(listing[pool])}): "
                "import it (zfsmirror.import_pool) instead of creating another"
            )
        devices, warnings, forced, pending = [], [], [], []
        for side, path in (("local", local), ("remote", remote)):
            device, warning = self.stable_path(path)
            if warning:
                warnings.append(warning)
            if not self._device_present(device):
                if side == "remote" and remote_pending and test:
                    # A plan only: the disk appears with an SRP login that is itself pending.
                    pending.append(device)
                    warnings.append(
                        f"remote disk {device} is not there yet (the SRP login that brings it is pending): "
                        "whether it is in use is checked when the pool is created"
                    )
                elif side == "remote" and remote_pending:
                    raise CommandExecutionError(
                        f"remote disk {device} does not exist: no SRP login brought it (log in to the peer first), "
                        "or udev named the peer's LUN otherwise than its SCST identifiers say (scst.initiator_by_id): "
                        "then give the remote path (mdtmirror:mirror:remote)"
                    )
                else:
                    raise CommandExecutionError(f"{side} disk {device} does not exist")
            devices.append(device)
        if not pending and os.path.realpath(self._host(devices[0])) == os.path.realpath(self._host(devices[1])):
            raise SaltInvocationError(f"local and remote are the same disk ({devices[0]}, {devices[1]})")
        for side, device in zip(("local", "remote"), devices):
            if device in pending:
                continue
            usage = self.disk_in_use(device)
            if usage["in_use"]:
                why = "; ".join(usage["reasons"])
                hard = [
                    p
                    for p in usage["problems"]
                    if p["kind"] in _HARD_KINDS or (p["kind"] == "pool_member" and p["pool_state"] == "active")
                ]
                if hard:
                    raise CommandExecutionError(
                        f"{side} disk {device} is in use and cannot be forced: {why}. Refusing to create pool {pool}"
                    )
                if not force:
                    raise CommandExecutionError(
                        f"{side} disk {device} is in use: {why}. Refusing to create pool {pool} on it; "
                        "if what it holds may be destroyed, give force=True"
                    )
                forced.append(device)

        steps = []
        hostid_plan = self.ensure_hostid(test=True)
        if hostid_plan["changed"]:
            steps.append(("hostid", {"old": None, "new": hostid_plan["path"]}, lambda: self.ensure_hostid()))
        cmd = [self._bin("zpool"), "create"] + (["-f"] if forced else [])
        for key, text in [("multihost", "on"), ("cachefile", "none")] + pool_props:
            cmd += ["-o", f"{key}={text}"]
        for key, text in fs_props:
            cmd += ["-O", f"{key}={text}"]
        cmd += [pool, "mirror"] + devices
        new = {"mirror": devices, "properties": dict([("multihost", "on"), ("cachefile", "none")] + pool_props)}
        if fs_props:
            new["filesystem_properties"] = dict(fs_props)
        if forced:
            new["forced"] = forced
        steps.append((pool, {"old": None, "new": new}, cmd))
        changes, commands = self._apply(steps, test)
        return {
            "changed": True,
            "test": bool(test),
            "pool": pool,
            "devices": devices,
            "forced": forced,
            "changes": changes,
            "commands": commands,
            "warnings": warnings,
        }

    # --------------------------------------------------------------------------
    # heal
    # --------------------------------------------------------------------------
    def _side_prefixes(self, path):
        """
        The given path, its stable name, every other ``/dev/disk/by-id`` name
        of the same device and its node: the pool may record any (with -partN). ``zpool
        import -d /dev/disk/by-id`` picks the name it meets first: seen on a
        real kernel, an SRP disk planned as ``scsi-36001405...`` came back from a
        switchover's import as ``wwn-0x6001405...``.
        """
        _check_device(path)
        prefixes = [path]
        if self._device_present(path):
            stable, _ = self.stable_path(path)
            node = self._unhost(os.path.realpath(self._host(path)))
            for name in [stable, *self._by_id_links(path), node]:
                if name not in prefixes:
                    prefixes.append(name)
        return prefixes

    def _heal_plan(self, pool, local, remote):
        """Read the pool and decide: ``(steps, waits, sides)``; raises on what heal must not touch."""
        wanted = {"local": local, "remote": remote}
        prefixes = {kind: self._side_prefixes(path) for kind, path in wanted.items()}
        pool_status = self.status(pool)
        sides = classify_sides(pool_status, prefixes["local"], prefixes["remote"])
        if sides["layout"] == "other":
            raise CommandExecutionError(
                f"pool {pool} is not a single disk or a two-way mirror: heal only handles the local + remote mirror"
            )
        for kind in ("local", "remote"):
            if len(sides[kind]) > 1:
                names = ", ".join(_vdev_id(s) for s in sides[kind])
                raise CommandExecutionError(
                    f"several devices of pool {pool} match the {kind} side {wanted[kind]}: {names}"
                )
        healthy_unknown = [s for s in sides["unknown"] if s["state"] == "ONLINE"]
        if healthy_unknown:
            raise CommandExecutionError(
                f"pool {pool} has device {_vdev_id(healthy_unknown[0])} ({healthy_unknown[0]['state']}), "
                "which is neither "
                f"the local ({local}) nor the remote ({remote}) side; heal does not replace a working device"
            )
        dead_unknown = [s for s in sides["unknown"] if s["state"] != "ONLINE"]
        zpool = self._bin("zpool")
        steps, waits, missing = [], [], []
        for kind in ("local", "remote"):
            other = "remote" if kind == "local" else "local"
            path = wanted[kind]
            sources = [s for s in sides[other] + sides["unknown"] if s["state"] == "ONLINE"]
            if sides[kind]:
                side = sides[kind][0]
                if side["state"] == "ONLINE":
                    continue  # healthy, resilvering or only counting errors: nothing to run
                if not self._device_present(path):
                    waits.append(
                        f"{kind} side {path} of pool {pool} is {side['state']} and the device is not there yet"
                    )
                    missing.append(path)
                    continue
                verb = "clear" if side["state"] in ("FAULTED", "DEGRADED") else "online"
                device = _vdev_id(side)
                steps.append(
                    (
                        f"{pool}:{device}",
                        {"old": side["state"], "new": "ONLINE"},
                        [zpool, verb, pool, device],
                        verb,
                        device,
                    )
                )
                continue
            # This side is not in the pool at all.
            if not self._device_present(path):
                waits.append(f"{kind} side {path} is not in pool {pool} and the device is not there yet")
                missing.append(path)
                continue
            if not sources:
                raise CommandExecutionError(
                    f"pool {pool} has no ONLINE device to copy from: cannot add {kind} side {path} to it"
                )
            device, _ = self.stable_path(path)
            returned = self._returned_vdev(pool, device, dead_unknown) if dead_unknown else None
            if returned is not None:
                # Its label is this pool's stale copy of that very vdev (same pool and vdev guid): detach the
                # dead vdev, attach the disk again (-f: zpool calls that label "part of pool <pool>"; seen on
                # a real kernel, tests/golden/realkernel-probes/zfs-returned-under-new-name.txt). A full
                # resilver of the used space follows; nothing else's data is on the disk.
                dead_unknown.remove(returned)
                source = sources[0]
                steps.append(
                    (
                        f"{pool}:{returned['guid']}",
                        {"old": f"{_vdev_id(returned)} {returned['state']}", "new": f"detached (back as {device})"},
                        [zpool, "detach", pool, returned["guid"]],
                        "detach",
                        returned["guid"],
                    )
                )
                steps.append(
                    (
                        f"{pool}:{device}",
                        {"old": None, "new": f"attached to {_vdev_id(source)}"},
                        [zpool, "attach", "-f", pool, _vdev_id(source), device],
                        "attach",
                        device,
                    )
                )
                continue
            usage = self.disk_in_use(device)
            if usage["in_use"]:
                raise CommandExecutionError(
                    f"{kind} disk {device} is in use: {'; '.join(usage['reasons'])}. Not adding it to pool {pool}"
                )
            if dead_unknown:
                old = dead_unknown.pop(0)
                steps.append(
                    (
                        f"{pool}:{device}",
                        {"old": f"{_vdev_id(old)} {old['state']}", "new": f"replacing {_vdev_id(old)}"},
                        [zpool, "replace", pool, _vdev_id(old), device],
                        "replace",
                        device,
                    )
                )
            else:
                source = sources[0]
                steps.append(
                    (
                        f"{pool}:{device}",
                        {"old": None, "new": f"attached to {_vdev_id(source)}"},
                        [zpool, "attach", pool, _vdev_id(source), device],
                        "attach",
                        device,
                    )
                )
        return steps, waits, sides, missing

    def _partition_one(self, path):
        """The first partition's name of a whole disk (``X-part1``, ``/dev/sdb1``, ``/dev/nvme0n1p1``), if it exists."""
        if path.startswith("/dev/disk/"):
            candidate = path + "-part1"
        elif path[-1:].isdigit():
            candidate = path + "p1"
        else:
            candidate = path + "1"
        return candidate if self._device_present(candidate) else None

    def _zfs_label(self, path):
        """
        ``{"pool", "pool_guid", "vdev_guid"}`` of the ZFS label on ``path`` (on its
        first partition when ZFS partitioned the whole disk), read with ``blkid
        -p`` (a real capture: LABEL, UUID = pool guid, UUID_SUB = vdev guid), or
        None.
        """
        for device in [p for p in (self._partition_one(path), path) if p]:
            ret = self._run([self._bin("blkid"), "-p", "-o", "export", device], ignore_retcode=True)
            if ret.get("retcode") != 0:
                continue
            found = parse_blkid_export(ret.get("stdout") or "")
            if found.get("TYPE") == "zfs_member":
                return {"pool": found.get("LABEL"), "pool_guid": found.get("UUID"), "vdev_guid": found.get("UUID_SUB")}
        return None

    def disk_label(self, path):
        """The work of ``zfsmirror.disk_label`` (its docstring there documents it)."""
        _check_device(path)
        return self._zfs_label(path)

    def pool_label(self, path):
        """The work of ``zfsmirror.pool_label`` (its docstring there documents it)."""
        _check_device(path)
        flush = self._config("mdtmirror:bin:blockdev", "blockdev")
        flush = flush if flush and shutil.which(flush) else None
        for device in [p for p in (self._partition_one(path), path) if p]:
            if flush and _is_block(self._host(device)):
                self._run([flush, "--flushbufs", device], ignore_retcode=True)
            ret = self._run([self._bin("zdb"), "-l", device], ignore_retcode=True)
            label = parse_zdb_label(ret.get("stdout") or "")
            if label:
                return label
        return None

    def last_importer_here(self, pool, path):
        """The work of ``zfsmirror.last_importer_here`` (its docstring there documents it)."""
        _check_pool(pool)
        own = self.hostid()
        label = self.pool_label(path)
        return bool(own and label and label["pool"] == pool and label["state"] == "active" and label["hostid"] == own)

    def _returned_vdev(self, pool, device, dead):
        """
        The dead vdev (of ``dead``) that ``device`` is, by its label: the same
        pool guid and the same vdev guid. A side of the mirror that comes back
        under a name the pool never recorded (after a takeover, the old active's
        own disk returns as an SRP disk on the new active) is that vdev; ZFS
        opens vdevs by recorded path only, so ``zpool online`` leaves it faulted.
        """
        label = self._zfs_label(device)
        if not label:
            return None
        guid = str((self.list_pools().get(pool) or {}).get("guid") or "")
        if not guid or label["pool_guid"] != guid:
            return None
        return next((side for side in dead if side.get("guid") and side["guid"] == label["vdev_guid"]), None)

    def heal(self, pool, local, remote, test=False):
        """The work of ``zfsmirror.heal`` (its docstring there documents it)."""
        _check_pool(pool)
        steps, waits, sides, missing = self._heal_plan(pool, local, remote)
        actions = [
            {"action": verb, "device": device, "command": cmd, "old": change["old"], "new": change["new"]}
            for _, change, cmd, verb, device in steps
        ]
        plan = [(key, change, cmd) for key, change, cmd, _, _ in steps]
        changes, commands = self._apply(plan, test)
        if not test and steps:
            # zpool online exits 0 and only warns when the device stays faulted: read the pool again.
            sides = classify_sides(self.status(pool), self._side_prefixes(local), self._side_prefixes(remote))
            reopened = {a["device"] for a in actions if a["action"] in ("online", "clear")}
            stuck = [s for s in sides["sides"] if s["state"] != "ONLINE" and _vdev_id(s) in reopened]
            if stuck:
                raise CommandExecutionError(
                    "; ".join(f"{_vdev_id(s)} is still {s['state']} in pool {pool}" for s in stuck)
                    + f" after zpool online/clear (done: {', '.join(changes)})"
                )
        return {
            "pool": pool,
            "test": bool(test),
            "actions": actions,
            "changes": changes,
            "commands": commands,
            "waits": waits,
            "missing": missing,
            "redundant": sides["redundant"],
            "resilver": _resilver_info(sides["scan"]),
            "problems": sides["problems"],
            "state": sides.get("state"),
            "sides": [
                {key: side.get(key) for key in ("side", "name", "state", "read", "write", "cksum", "note")}
                for side in sides["sides"]
            ],
        }

    # --------------------------------------------------------------------------
    # failover: import and export
    # --------------------------------------------------------------------------
    def import_pool(self, pool, force=False, test=False, whole=False):
        """The work of ``zfsmirror.import_pool`` (its docstring there documents it)."""
        _check_pool(pool)
        force = plain_bool(force, "force")
        pools = self.list_pools()
        if pool in pools:
            return {
                "changed": False,
                "test": bool(test),
                "pool": pool,
                "forced": False,
                "note": "already imported here",
                "changes": {},
                "commands": [],
                "health": pools[pool]["health"],
            }
        if not self.hostid_present():
            raise CommandExecutionError(
                f"this host has no hostid in {self._path('hostid')}: multihost pools cannot be imported; "
                "run zfsmirror.ensure_hostid first"
            )
        # The peer partitioned this node's disk (zpool create on a whole disk, through SRP) while this kernel
        # only saw it from outside: its partition view is stale and the label is inside partition 1. Seen on
        # real pairs: without a re-read the pool is not found at all, or (found through the peer's LUN) it
        # imports DEGRADED with the local side missing. So re-read first, always.
        self._reread_partition_tables()
        listing, directory = self._import_listing()
        if pool not in listing:
            seen = ", ".join(sorted(listing)) or "none"
            raise CommandExecutionError(
                f"pool {pool} is not among the pools on the disks in {directory} (seen: {seen})"
            )
        decision = import_decision(listing[pool], force=force)
        if plain_bool(whole, "whole") and listing[pool].get("state") != "ONLINE":
            raise CommandExecutionError(
                f"pool {pool} is {listing[pool].get('state')} in the import listing of {directory} (a side is "
                "missing): not imported again until both sides are seen; mdtmirror.takeover imports it with one side"
            )
        cmd = [self._bin("zpool"), "import", "-d", directory, "-o", "cachefile=none"]
        cmd += ["-f"] if decision["force"] else []
        cmd.append(pool)
        changes = {pool: {"old": "not exported" if decision["force"] else "exported", "new": "imported"}}
        health = None
        if not test:
            ret = self._run(cmd, ignore_retcode=True)
            if ret.get("retcode") != 0:
                refusal = parse_import_list(_output(ret)).get(pool) or {}
                reason = f" ({refusal['reason']})" if refusal.get("reason") not in (None, "error") else ""
                raise CommandExecutionError(
                    f"zpool import {pool} refused{reason}: {_output(ret).strip() or 'no output'}"
                )
            pools = self.list_pools()
            if pool not in pools:
                raise CommandExecutionError(f"zpool import {pool} exited 0 but the pool is not imported")
            health = pools[pool]["health"]
        return {
            "changed": True,
            "test": bool(test),
            "pool": pool,
            "forced": decision["force"],
            "note": decision["note"],
            "changes": changes,
            "commands": [cmd],
            "health": health,
        }

    def export_pool(self, pool, test=False):
        """The work of ``zfsmirror.export_pool`` (its docstring there documents it)."""
        _check_pool(pool)
        if pool not in self.list_pools():
            return {"changed": False, "test": bool(test), "pool": pool, "changes": {}, "commands": []}
        steps = [(pool, {"old": "imported", "new": "exported"}, [self._bin("zpool"), "export", pool])]
        changes, commands = self._apply(steps, test)
        if not test and pool in self.list_pools():
            raise CommandExecutionError(f"zpool export {pool} exited 0 but the pool is still imported")
        return {"changed": True, "test": bool(test), "pool": pool, "changes": changes, "commands": commands}

    # --------------------------------------------------------------------------
    # zvol backing (sites without hardware RAID)
    # --------------------------------------------------------------------------
    def create_zvol(self, name, size, properties=None, test=False):
        """The work of ``zfsmirror.create_zvol`` (its docstring there documents it)."""
        _check_dataset(name, "zvol")
        if "/" not in name:
            raise SaltInvocationError(f"invalid zvol name {name!r}: give pool/volume")
        parent = name.rsplit("/", 1)[0]
        wanted_size = _size_bytes(size)
        props = _check_props(properties, "zvol property")
        if any(k in ("volsize", "canmount") for k, _ in props):
            raise SaltInvocationError("give the zvol size as size, not as a property; zvols have no canmount")
        names = ["type", "volsize", "volblocksize", "canmount"] + [k for k, _ in props if k != "volblocksize"]
        zfs = self._bin("zfs")
        ret = self._run(
            [zfs, "get", "-H", "-p", "-r", "-t", "filesystem,volume", ",".join(names), parent], ignore_retcode=True
        )
        if ret.get("retcode") != 0:
            raise _failed(f"zfs get {','.join(names)} {parent}", ret)
        found = parse_get_hp(ret.get("stdout") or "")
        value = lambda ds, prop: (found.get(ds, {}).get(prop) or {}).get("value")  # noqa: E731
        steps = []
        if name in found:
            kind = value(name, "type")
            if kind != "volume":
                raise CommandExecutionError(f"{name} exists and is a {kind}, not a volume")
            volsize, block = value(name, "volsize"), value(name, "volblocksize")
            rounded = -(-wanted_size // block) * block if isinstance(block, int) and block else wanted_size
            if volsize != rounded:
                raise CommandExecutionError(
                    f"zvol {name} is {volsize} bytes, declared {size} ({rounded} bytes): resizing an exported LUN is "
                    "not done automatically (grow the zvol, then SCST's device, then the peer's pool, by hand)"
                )
            for key, text in props:
                have = value(name, key)
                if _same_value(have, text):
                    continue
                if key in _ZVOL_CREATE_ONLY:
                    raise CommandExecutionError(
                        f"zvol {name} has {key}={have}, declared {text}: {key} is fixed when the zvol is created"
                    )
                steps.append((f"{name}:{key}", {"old": have, "new": text}, [zfs, "set", f"{key}={text}", name]))
        else:
            cmd = [zfs, "create", "-V", str(wanted_size)]
            for key, text in props:
                cmd += ["-o", f"{key}={text}"]
            cmd.append(name)
            steps.append((name, {"old": None, "new": {"volsize": wanted_size, **dict(props)}}, cmd))
        if parent in found and value(parent, "canmount") != "off":
            change = {"old": value(parent, "canmount"), "new": "off"}
            steps.append((f"{parent}:canmount", change, [zfs, "set", "canmount=off", parent]))
        elif parent not in found:
            raise CommandExecutionError(f"zfs get -r {parent} did not report {parent}")
        changes, commands = self._apply(steps, test)
        if not test:
            self._wait_zvol_device(name)
        return {"changed": bool(steps), "test": bool(test), "name": name, "changes": changes, "commands": commands}

    def _wait_zvol_device(self, name):
        """
        Wait (bounded) for ``/dev/zvol/<name>``, the path the LUN is exported
        by: udev makes it (zfsutils' 60-zvol.rules) after ``zfs create -V``
        returned, so the export right after would find nothing (seen on a real
        kernel). Raises naming the path when it does not come.
        """
        device = self._host(f"/dev/zvol/{name}")
        udevadm = self._config("mdtmirror:bin:udevadm", "udevadm")
        if not os.path.exists(device) and udevadm and shutil.which(udevadm):
            self._run([udevadm, "settle", f"--timeout={ZVOL_DEVICE_WAIT}"], ignore_retcode=True)
        deadline = time.monotonic() + ZVOL_DEVICE_WAIT
        while not os.path.exists(device):
            if time.monotonic() > deadline:
                raise CommandExecutionError(
                    f"zvol {name} exists but /dev/zvol/{name} did not appear within {ZVOL_DEVICE_WAIT} s: "
                    "udev makes it with zfsutils' 60-zvol.rules (installed?)"
                )
            time.sleep(0.2)

    # --------------------------------------------------------------------------
    # snapshots and retention
    # --------------------------------------------------------------------------
    def snapshot(self, dataset, prefix="mdtmirror-", now=None, test=False):
        """The work of ``zfsmirror.snapshot`` (its docstring there documents it)."""
        name = snapshot_name(dataset, prefix, now)
        changes, commands = self._apply(
            [(name, {"old": None, "new": "created"}, [self._bin("zfs"), "snapshot", name])], test
        )
        return {"changed": True, "test": bool(test), "snapshot": name, "changes": changes, "commands": commands}

    def list_snapshots(self, dataset):
        """The work of ``zfsmirror.list_snapshots`` (its docstring there documents it)."""
        _check_dataset(dataset)
        cmd = [self._bin("zfs"), "list", "-H", "-p", "-t", "snapshot", "-d", "1", "-s", "createtxg"]
        cmd += ["-o", ",".join(_SNAP_COLUMNS), dataset]
        ret = self._run(cmd, ignore_retcode=True)
        if ret.get("retcode") != 0:
            raise _failed(f"zfs list -t snapshot {dataset}", ret)
        snaps = []
        for rank, row in enumerate(parse_list_hp(ret.get("stdout") or "", _SNAP_COLUMNS)):
            if not str(row["name"]).startswith(dataset + "@"):
                raise CommandExecutionError(
                    f"zfs list -d 1 {dataset} listed {row['name']}, not a snapshot of {dataset}"
                )
            row["createtxg"] = rank
            row["userrefs"] = row["userrefs"] or 0
            snaps.append(row)
        return snaps

    def prune(self, dataset, policy, prefix="mdtmirror-", now=None, test=False):
        """The work of ``zfsmirror.prune`` (its docstring there documents it)."""
        _check_dataset(dataset)
        _check_prefix(prefix)
        counts = parse_policy(policy)
        snaps = self.list_snapshots(dataset)
        plan = plan_prune(snaps, counts, now=time.time() if now is None else now, prefix=prefix)
        destroyed, calls, reclaimed = [], [], []
        for _, arg in plan["commands"]:
            cmd = [self._bin("zfs"), "destroy", "-v", arg]
            calls.append(cmd)
            expected = _expand_destroy(arg, snaps)
            if test:
                destroyed += expected
                continue
            ret = self._run(cmd, ignore_retcode=True)
            if ret.get("retcode") != 0:
                done = f" (destroyed before: {', '.join(destroyed)})" if destroyed else ""
                raise CommandExecutionError(f"{_failed(_cmd_text(cmd), ret)}{done}")
            result = parse_destroy_verbose(ret.get("stdout") or "")
            destroyed += result["destroyed"]
            if result["reclaimed"]:
                reclaimed.append(result["reclaimed"])
            if sorted(result["destroyed"]) != sorted(expected):
                raise CommandExecutionError(
                    f"zfs destroy {arg} destroyed {', '.join(result['destroyed']) or 'nothing'}, the plan listed "
                    f"{', '.join(expected)}"
                )
        return {
            "changed": bool(destroyed),
            "test": bool(test),
            "destroyed": destroyed,
            "kept": plan["keep"],
            "held": plan["held"],
            "foreign": plan["foreign"],
            "kept_by": plan["kept_by"],
            "calls": calls,
            "reclaimed": reclaimed,
        }

    # --------------------------------------------------------------------------
    # backups: zfs send to a file or to zfs recv on another host
    # --------------------------------------------------------------------------
    def _zstream_bin(self):
        name = self._config("mdtmirror:bin:zstream", "zstream")
        if not name:
            return None
        if os.path.isabs(name):
            return name if os.access(name, os.X_OK) else None
        return shutil.which(name)

    def _stream(self, send_cmd, receiver_cmd=None, path=None):
        """
        Run ``send_cmd`` and copy its stdout to a file (``path``) or a
        receiver's stdin, and to ``zstream dump`` when there is one; no shell.
        Returns ``{"bytes", "verified"}``; raises naming the failed part.
        """
        zstream = self._zstream_bin()
        try:
            return _pipe(send_cmd, receiver_cmd, path, zstream)
        except OSError as exc:
            raise CommandExecutionError(f"backup stream failed: {exc.filename or ''} {exc.strerror or exc}") from None

    def backup(self, dataset, destination, prefix="mdtmirror-", hold_tag="mdtmirror-backup", test=False):
        """The work of ``zfsmirror.backup`` (its docstring there documents it)."""
        _check_dataset(dataset)
        _check_prefix(prefix)
        _check_tag(hold_tag)
        dest = parse_destination(destination)
        if dest["kind"] == "file" and not os.path.isdir(dest["path"]):
            raise CommandExecutionError(
                f"backup directory {dest['path']} does not exist (not created: a missing mount must not fill this disk)"
            )
        zfs = self._bin("zfs")
        snaps = self.list_snapshots(dataset)
        held = [s["name"] for s in snaps if s["userrefs"] > 0]
        holds = {}
        if held:
            ret = self._run([zfs, "holds", "-H"] + held, ignore_retcode=True)
            if ret.get("retcode") != 0:
                raise _failed(f"zfs holds {' '.join(held)}", ret)
            holds = parse_holds(ret.get("stdout") or "")
        plan = plan_backup(snaps, holds, prefix, hold_tag)
        result = {
            "changed": False,
            "test": bool(test),
            "snapshot": plan["send"] or plan["base"],
            "base": plan["base"],
            "incremental": False,
            "destination": destination,
            "file": None,
            "bytes": None,
            "verified": None,
            "commands": [],
        }
        if plan["up_to_date"]:
            result["comment"] = f"{plan['base']} (held {hold_tag}) was sent last; nothing newer to send"
            return result
        send_cmd = [zfs, "send"] + (["-i", plan["base"]] if plan["base"] else []) + [plan["send"]]
        receiver_cmd = path = None
        if dest["kind"] == "ssh":
            remote = [self._config("mdtmirror:bin:remote_zfs", "zfs") or "zfs", "recv", "-u", dest["dataset"]]
            receiver_cmd = [self._bin("ssh"), "-o", "BatchMode=yes", dest["host"]] + remote
        else:
            short = plan["send"].split("@", 1)[1]
            kind = "from-" + plan["base"].split("@", 1)[1] if plan["base"] else "full"
            path = os.path.join(dest["path"], f"{dataset.replace('/', '+')}@{short}.{kind}.zsend")
        hold_cmd = [zfs, "hold", hold_tag, plan["send"]]
        release_cmd = [zfs, "release", hold_tag] + plan["release"] if plan["release"] else None
        commands = [c for c in (send_cmd, receiver_cmd, hold_cmd, release_cmd) if c]
        result.update(changed=True, incremental=bool(plan["base"]), file=path, commands=commands)
        if test:
            return result
        partial = path + ".partial" if path else None
        try:
            streamed = self._stream(send_cmd, receiver_cmd=receiver_cmd, path=partial)
        except CommandExecutionError:
            if partial and os.path.exists(partial):
                os.unlink(partial)
            raise
        if path:
            os.replace(partial, path)
            _fsync_dir(dest["path"])
        result.update(bytes=streamed["bytes"], verified=streamed["verified"])
        try:
            self._apply([(plan["send"], None, hold_cmd)], False)
        except CommandExecutionError as exc:
            raise CommandExecutionError(
                f"{plan['send']} was sent to {path or destination} ({streamed['verified']}) but holding it failed: "
                f"{exc}. The previous base stays held; hold {plan['send']} by hand (zfs hold {hold_tag} ...)"
            ) from None
        if release_cmd:
            try:
                self._apply([(None, None, release_cmd)], False)
            except CommandExecutionError as exc:
                raise CommandExecutionError(
                    f"{plan['send']} was sent and is held, but releasing the previous hold failed: {exc}"
                ) from None
        return result

    # --------------------------------------------------------------------------
    # restore: back from a backup, never over a live dataset unless told
    # --------------------------------------------------------------------------
    def _ssh_source(self, dest):
        return [
            self._bin("ssh"),
            "-o",
            "BatchMode=yes",
            dest["host"],
            self._config("mdtmirror:bin:remote_zfs", "zfs") or "zfs",
        ]

    def restore_points(self, source, dataset=None):
        """The work of ``zfsmirror.restore_points`` (its docstring there documents it)."""
        dest = parse_destination(source)
        if dest["kind"] == "ssh":
            cmd = self._ssh_source(dest) + ["list", "-H", "-p", "-t", "snapshot", "-d", "1", "-s", "createtxg"]
            ret = self._run(cmd + ["-o", "name,used", dest["dataset"]], ignore_retcode=True)
            if ret.get("retcode") != 0:
                raise _failed(f"listing the snapshots of {dest['dataset']} on {dest['host']}", ret)
            points = []
            for line in (ret.get("stdout") or "").splitlines():
                name, _, used = line.partition("\t")
                points.append(
                    {"dataset": dest["dataset"], "snapshot": name.partition("@")[2], "streams": None,
                     "bytes": int(used) if used.isdigit() else None, "problem": None}
                )  # fmt: skip
            return points
        if not os.path.isdir(dest["path"]):
            raise CommandExecutionError(f"backup directory {dest['path']} does not exist")
        found = parse_backup_files(os.listdir(dest["path"]))
        if dataset is not None:
            found = {dataset: found.get(dataset, {})}
        points = []
        for name, streams in sorted(found.items()):
            rows = []
            for snapshot in streams:
                try:
                    chain = restore_chain(streams, snapshot)
                    problem = None
                except CommandExecutionError as exc:
                    chain, problem = [streams[snapshot]], str(exc)
                size = sum(os.path.getsize(os.path.join(dest["path"], c["file"])) for c in chain)
                rows.append(
                    {"dataset": name, "snapshot": snapshot, "streams": len(chain), "bytes": size, "problem": problem}
                )
            # Oldest first: the schedule's snapshot names carry their UTC time (<prefix>%Y%m%dT%H%M%SZ).
            points.extend(sorted(rows, key=lambda row: row["snapshot"]))
        return points

    def _verify_file(self, path):
        """``zstream dump`` of a backup file before it is received (when zstream is installed)."""
        zstream = self._zstream_bin()
        if not zstream:
            return None
        with open(path, "rb") as stream:
            proc = subprocess.run([zstream, "dump"], stdin=stream, capture_output=True, check=False)
        verdict = parse_zstream_dump(proc.stdout.decode("utf-8", "replace"))
        if proc.returncode != 0 or not verdict["ok"]:
            words = verdict["problems"] if proc.returncode == 0 else [proc.stderr.decode("utf-8", "replace").strip()]
            raise CommandExecutionError(f"backup file {path} is damaged (zstream dump): {'; '.join(words)}")
        return f"{os.path.basename(path)}: {verdict['begin']} BEGIN/{verdict['end']} END records, checksums match"

    def restore(self, source, target, snapshot=None, dataset=None, force=False, test=False):
        """The work of ``zfsmirror.restore`` (its docstring there documents it)."""
        if "/" in str(target):
            _check_dataset(target, "restore target")
        else:
            _check_pool(target)
        dest = parse_destination(source)
        zfs = self._bin("zfs")
        exists = self._run([zfs, "list", "-H", "-o", "name", target], ignore_retcode=True).get("retcode") == 0
        if exists and not force:
            raise CommandExecutionError(
                f"restore target {target} exists: restore into a new dataset (e.g. {target.split('/')[0]}/restore), "
                "or give force=True to replace what it holds (it is destroyed)"
            )
        if "/" not in target and not force:
            raise CommandExecutionError(
                f"restore target {target} is a pool: name a dataset in it (e.g. {target}/restore)"
            )
        recv = [zfs, "recv", "-u"] + (["-F"] if force else [])
        result = {"changed": True, "test": bool(test), "target": target, "snapshot": None, "streams": [],
                  "verified": [], "commands": []}  # fmt: skip
        if dest["kind"] == "ssh":
            points = self.restore_points(source)
            names = [p["snapshot"] for p in points]
            snapshot = snapshot or (names[-1] if names else None)
            if snapshot not in names:
                raise CommandExecutionError(f"{dest['dataset']} on {dest['host']} has no snapshot {snapshot!r}")
            send_cmd = self._ssh_source(dest) + ["send", f"{dest['dataset']}@{snapshot}"]
            result.update(snapshot=snapshot, streams=[f"{dest['host']}:{dest['dataset']}@{snapshot}"],
                          commands=[send_cmd, recv + [target]])  # fmt: skip
            if test:
                return result
            streamed = self._stream(send_cmd, receiver_cmd=recv + [target])
            result["verified"].append(streamed["verified"])
            return result
        found = parse_backup_files(os.listdir(dest["path"])) if os.path.isdir(dest["path"]) else {}
        if dataset is None and len(found) > 1:
            raise SaltInvocationError(
                f"{dest['path']} holds backups of {', '.join(sorted(found))}: say which (dataset=)"
            )
        streams = found.get(dataset) if dataset is not None else next(iter(found.values()), None)
        if not streams:
            raise CommandExecutionError(f"no backup files in {dest['path']}" + (f" for {dataset}" if dataset else ""))
        if snapshot is None:
            # The newest with a complete chain (the schedule's names sort by their UTC time).
            complete = [name for name in sorted(streams) if self._chain_problem(streams, name) is None]
            if not complete:
                raise CommandExecutionError(f"no backup in {dest['path']} has a complete chain from a full stream")
            snapshot = complete[-1]
        files = [os.path.join(dest["path"], c["file"]) for c in restore_chain(streams, snapshot)]
        # Only the full stream may replace the target (-F); the incremental ones apply on top of it.
        commands = [recv + [target]] + [[zfs, "recv", "-u", target] for _ in files[1:]]
        result.update(snapshot=snapshot, streams=files, commands=commands)
        if test:
            return result
        for path, recv_cmd in zip(files, commands):
            result["verified"].append(self._verify_file(path))
            _receive_file(path, recv_cmd)
        return result

    def _chain_problem(self, streams, snapshot):
        try:
            restore_chain(streams, snapshot)
        except CommandExecutionError as exc:
            return str(exc)
        return None

    # --------------------------------------------------------------------------
    # periodic jobs: systemd timers
    # --------------------------------------------------------------------------
    def _unit_bin(self, name, default):
        configured = self._config("mdtmirror:bin:" + name)
        if configured:
            return configured
        found = shutil.which(os.path.basename(default))
        return found or default

    def _install_timer(self, unit, texts, test):
        """Write the two unit files and the timers.target.wants link (what ``systemctl enable`` makes)."""
        base = self._path("systemd_system")
        # The link target as the host sees it (units refer to /etc/systemd/system, not the sysroot).
        host_base = self._config("mdtmirror:paths:systemd_system") or _DEFAULT_PATHS["systemd_system"]
        steps = []
        for kind in ("service", "timer"):
            path = os.path.join(base, f"{unit}.{kind}")
            current = _read_text(path)
            if current != texts[kind]:
                steps.append(
                    (
                        path,
                        {"old": None if current is None else "differs", "new": f"{unit}.{kind}"},
                        lambda path=path, text=texts[kind]: _write_text(path, text),
                    )
                )
        wants = os.path.join(base, "timers.target.wants", f"{unit}.timer")
        target = os.path.join(host_base, f"{unit}.timer")
        have = os.readlink(wants) if os.path.islink(wants) else None
        if have != target:
            steps.append((wants, {"old": have, "new": target}, lambda: _link(wants, target)))
        if steps:
            systemctl = self._bin("systemctl")
            steps.append((None, None, [systemctl, "daemon-reload"]))
            steps.append((None, None, [systemctl, "restart", f"{unit}.timer"]))
        changes, commands = self._apply(steps, test)
        return {"changed": bool(changes), "test": bool(test), "unit": unit, "changes": changes, "commands": commands}

    def snapshot_job(self, name, dataset, policy, prefix="mdtmirror-", interval=60, on_calendar=None, test=False):
        """The work of ``zfsmirror.snapshot_job`` (its docstring there documents it)."""
        _check_job_name(name)
        _check_dataset(dataset)
        _check_prefix(prefix)
        counts = parse_policy(policy)
        calendar = calendar_spec(interval, on_calendar)
        policy_text = ",".join(f"{k}={v}" for k, v in counts.items())
        salt_call = [self._unit_bin("salt_call", "/usr/bin/salt-call"), "--local", "--retcode-passthrough"]
        commands = [
            salt_call + ["zfsmirror.snapshot", dataset, f"prefix={prefix}"],
            salt_call + ["zfsmirror.prune", dataset, f"policy={policy_text}", f"prefix={prefix}"],
        ]
        unit = f"mdtmirror-snapshot-{name}"
        texts = render_units(
            unit,
            f"mdtmirror snapshots of {dataset} ({prefix}*, keep {policy_text})",
            commands,
            calendar,
            condition=[self._unit_bin("zfs", "/usr/sbin/zfs"), "list", "-H", "-o", "name", dataset],
        )
        return self._install_timer(unit, texts, test)

    def backup_job(
        self,
        name,
        dataset,
        destination,
        prefix="mdtmirror-",
        hold_tag="mdtmirror-backup",
        interval=None,
        on_calendar="daily",
        test=False,
    ):
        """The work of ``zfsmirror.backup_job`` (its docstring there documents it)."""
        _check_job_name(name)
        _check_dataset(dataset)
        _check_prefix(prefix)
        _check_tag(hold_tag)
        dest = parse_destination(destination)
        if dest["kind"] == "file" and not os.path.isdir(dest["path"]):
            raise CommandExecutionError(f"backup directory {dest['path']} does not exist")
        calendar = calendar_spec(interval, None if interval is not None else on_calendar)
        salt_call = [self._unit_bin("salt_call", "/usr/bin/salt-call"), "--local", "--retcode-passthrough"]
        command = salt_call + [
            "zfsmirror.backup",
            dataset,
            f"destination={destination}",
            f"prefix={prefix}",
            f"hold_tag={hold_tag}",
        ]
        unit = f"mdtmirror-backup-{name}"
        texts = render_units(
            unit,
            f"mdtmirror backup of {dataset} ({prefix}*) to {destination}",
            [command],
            calendar,
            condition=[self._unit_bin("zfs", "/usr/sbin/zfs"), "list", "-H", "-o", "name", dataset],
        )
        return self._install_timer(unit, texts, test)
