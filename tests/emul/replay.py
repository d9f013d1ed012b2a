"""Replaying the captured SCST sysfs sessions (ops.txt, forms.txt) against the emulator.

The captures show each write as ``$ echo 'TEXT' > path`` followed by the shell's
error line, if any, and ``[rc=N] last_sysfs_mgmt_res=R``. ``parse_ops`` turns that
into ``Op`` records; ``capture_host`` builds a host like the captured guest.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .host import HostConfig

CAPTURE_GID = "fe80:0000:0000:0000:5054:00ff:fe12:3456"
CAPTURE_PORT = {
    "hca": "rxe0",
    "port": 1,
    "gid": CAPTURE_GID,
    "link_layer": "Ethernet",
    "node_guid": "5054:00ff:fe12:3456",
}
MiB = 1 << 20

# strerror text -> errno, for the shell's messages in the captures.
STRERROR = {os.strerror(code): code for code in sorted(errno.errorcode, reverse=True)}


@dataclass
class Op:
    lineno: int
    text: str  # what echo wrote, without its newline
    path: str  # relative to /sys/kernel/scst_tgt
    errno: int  # 0 = success
    failed_at: str  # 'open' (shell could not open the file), 'write', or ''
    rc: int
    last_res: int | None

    @property
    def data(self) -> bytes:
        return (self.text + "\n").encode()


_ECHO = re.compile(r"^\$ echo '(?P<text>.*)' > (?P<path>\S+)$")
_RC = re.compile(r"^\[rc=(?P<rc>\d+)\](?: last_sysfs_mgmt_res=(?P<res>-?\d+))?")
_ERR = re.compile(r"^sh: (?:(?:line \d+: )?echo: write error|(?P<path>/\S+)): (?P<msg>.+)$")


def parse_ops(text: str) -> list:
    """Every ``$ echo '...' > path`` of a capture with its errno and last_sysfs_mgmt_res."""
    ops = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _ECHO.match(lines[i])
        if not m:
            i += 1
            continue
        lineno = i + 1
        err, failed_at = 0, ""
        j = i + 1
        e = _ERR.match(lines[j]) if j < len(lines) else None
        if e:
            err = STRERROR[e.group("msg")]
            failed_at = "open" if e.group("path") else "write"
            j += 1
        r = _RC.match(lines[j])
        if not r:
            raise ValueError("line %d: no [rc=...] after %r" % (j + 1, lines[i]))
        res = r.group("res")
        ops.append(
            Op(
                lineno=lineno,
                text=m.group("text"),
                path=m.group("path"),
                errno=err,
                failed_at=failed_at,
                rc=int(r.group("rc")),
                last_res=None if res is None else int(res),
            )
        )
        i = j + 1
    return ops


def make_sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def capture_host(root, loops: int = 3, **kwargs) -> HostConfig:
    """
    A host like the captured guest: one soft-RoCE port (rxe0/1), loop devices
    /dev/loop0.. of 512 MiB (thin: loop devices support discard) and /tmp/d1.
    """
    root = Path(root)
    for n in range(loops):
        make_sparse(root / "dev" / ("loop%d" % n), 512 * MiB)
    make_sparse(root / "tmp" / "d1", 536870912)
    kw = dict(
        root=str(root),
        ports=[dict(CAPTURE_PORT)],
        thin={"/dev/loop%d" % n for n in range(loops)},
    )
    kw.update(kwargs)
    return HostConfig(**kw)


# --------------------------------------------------------------------------
# Replaying a capture as a script
# --------------------------------------------------------------------------

SCST_ROOT = "/sys/kernel/scst_tgt"
_LS_HEAD = re.compile(r"^/sys/kernel/scst_tgt/(?P<path>.*?)/?:$")
_LS_ENTRY = re.compile(
    r"^(?P<mode>[dlcbps-][rwxsStT-]{9}) +\d+ +\S+ +\S+ +(?P<size>\d+) +\w{3} +\d+ +[\d:]+ +(?P<name>.+)$"
)
_CAT = re.compile(r"^/sys/kernel/scst_tgt/(?P<path>\S+) = (?P<first>.*)$")


def mode_string(kind: str, mode: int) -> str:
    out = {"dir": "d", "link": "l"}.get(kind, "-")
    for shift in (6, 3, 0):
        bits = (mode >> shift) & 7
        out += ("r" if bits & 4 else "-") + ("w" if bits & 2 else "-") + ("x" if bits & 1 else "-")
    return out


class ModelBackend:
    """Capture replay straight on the in-memory model."""

    name = "model"

    def __init__(self, kernel):
        self.kernel = kernel

    def echo(self, path: str, data: bytes) -> tuple:
        """Like the shell's ``echo ... > path``: (errno, 'open'|'write'|'')."""
        try:
            self.kernel.check_open(path, write=True, create=True)
        except OSError as e:
            return e.errno, "open"
        try:
            self.kernel.write(path, data, create=True)
        except OSError as e:
            return e.errno, "write"
        return 0, ""

    def read(self, path: str) -> bytes:
        return self.kernel.read(path)

    def exists(self, path: str) -> bool:
        return self.kernel.exists(path)

    def listdir(self, path: str) -> list:
        return self.kernel.listdir(path)

    def readlink(self, path: str) -> str:
        return self.kernel.readlink(path)

    def lsla(self, path: str) -> list:
        """[(mode string, size, name, link target)] like ``ls -la`` without . and .."""
        out = []
        for name in self.kernel.listdir(path):
            node = self.kernel.lookup(path + "/" + name if path else name)
            size = 4096 if node.kind == "file" else 0
            out.append((mode_string(node.kind, node.mode), size, name, node.target))
        return sorted(out, key=lambda e: e[2])


def parse_lsla(lines: list, start: int) -> tuple:
    """Entries of one ``ls -la DIR`` block starting at ``start``; -> (entries, next index)."""
    entries = []
    i = start
    while i < len(lines):
        line = lines[i]
        if line.startswith("total "):
            i += 1
            continue
        m = _LS_ENTRY.match(line)
        if not m or m.group("name").startswith("/"):
            break
        name, target = m.group("name"), None
        if m.group("mode")[0] == "l":
            name, target = name.split(" -> ", 1)
        if name not in (".", ".."):
            entries.append((m.group("mode"), int(m.group("size")), name, target))
        i += 1
    return sorted(entries, key=lambda e: e[2]), i


def replay_capture(text: str, backend, on_op=None) -> tuple:
    """
    Run a capture (ops.txt) as a script against ``backend``: every echo is
    executed and its errno and the following last_sysfs_mgmt_res compared; the
    help texts, ``ls -la`` listings, ``cat`` outputs and read-backs in between are
    compared with what the backend shows at that point.
    -> (number of checks made, [mismatch descriptions]).
    """
    lines = text.splitlines()
    ops = {op.lineno: op for op in parse_ops(text)}
    problems: list = []
    checks = 0
    target = None
    last_path = ""

    def check(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            problems.append(what)

    def read_text(path):
        try:
            return backend.read(path).decode()
        except OSError as e:
            return "<%s>" % errno.errorcode.get(e.errno, e.errno)

    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        if lineno in ops:
            op = ops[lineno]
            err, where = backend.echo(op.path, op.data)
            check(
                (err, where) == (op.errno, op.failed_at),
                "line %d %r > %s: errno %s at %r, capture %s at %r"
                % (lineno, op.text, op.path, err, where, op.errno, op.failed_at),
            )
            if op.last_res is not None:
                res = read_text("last_sysfs_mgmt_res").strip()
                check(
                    res == str(op.last_res), "line %d: last_sysfs_mgmt_res %s, capture %s" % (lineno, res, op.last_res)
                )
            if on_op:
                on_op(op, err, where)
            last_path = op.path
            i += 1
            while i < len(lines) and not lines[i].startswith("[rc="):
                i += 1
            i += 1
            continue
        m = re.match(r"^--- targets/ib_srpt: (\S+)$", line)
        if m:
            target = "targets/ib_srpt/" + m.group(1)
            i += 1
            continue
        m = re.match(r"^--- ((?:handlers/\w+|luns|ini_groups)/mgmt)$", line)
        if m:  # help text until the next '---' header
            path = m.group(1) if m.group(1).startswith("handlers/") else target + "/" + m.group(1)
            j = i + 1
            while j < len(lines) and not lines[j].startswith("---"):
                j += 1
            want = "\n".join(lines[i + 1 : j]) + "\n"
            check(read_text(path) == want, "line %d: help text of %s differs" % (lineno, path))
            i = j
            continue
        m = _LS_HEAD.match(line)
        if m:
            path = m.group("path")
            want, j = parse_lsla(lines, i + 1)
            got = backend.lsla(path)
            check(got == want, "line %d: ls -la %s:\n  got  %s\n  want %s" % (lineno, path, got, want))
            i = j
            continue
        m = _CAT.match(line)
        if m:  # "path = content" (cat), content may continue on the next lines
            j = i + 1
            while j < len(lines) and not re.match(r"^(\$ |---|/sys/|\[rc=)", lines[j]):
                j += 1
            want = "\n".join([m.group("first")] + lines[i + 1 : j])
            got = read_text(m.group("path")).rstrip("\n")
            check(got == want, "line %d: %s = %r, capture %r" % (lineno, m.group("path"), got, want))
            i = j
            continue
        m = re.match(r"^--- (\S+) blocksize: (.*)$", line)
        if m:
            want = m.group(2) + "\n" + lines[i + 1] + "\n"
            got = read_text("devices/%s/blocksize" % m.group(1))
            check(got == want, "line %d: %s blocksize %r, capture %r" % (lineno, m.group(1), got, want))
            i += 2
            continue
        m = re.match(r"^--- (\S+) exists\? ls: cannot access '/sys/kernel/scst_tgt/(\S+)': No such file", line)
        if m:
            check(not backend.exists(m.group(2)), "line %d: %s exists" % (lineno, m.group(2)))
            i += 1
            continue
        m = re.match(r"^filename now: (.*)$", line)
        if m:
            path = last_path.rsplit("/", 1)[0] + "/filename"
            want = m.group(1) + "\n" + lines[i + 1] + "\n"
            got = read_text(path)
            check(got.startswith(want), "line %d: %s %r, capture %r" % (lineno, path, got, want))
            i += 2
            continue
        m = re.match(r"^rel_tgt_id=(\S*)$", line)
        if m:
            tgt = last_path.rsplit("/", 1)[0]
            key, _, enabled = lines[i + 1].partition(" enabled=")
            want = m.group(1) + "\n" + key + "\n"
            check(read_text(tgt + "/rel_tgt_id") == want, "line %d: rel_tgt_id of %s" % (lineno, tgt))
            check(read_text(tgt + "/enabled") == enabled + "\n", "line %d: enabled of %s" % (lineno, tgt))
            i += 2
            continue
        i += 1
    return checks, problems


# --------------------------------------------------------------------------
# Comparing dumps with the captured trees
# --------------------------------------------------------------------------

# Entries whose VALUES are volatile on a real system; everything else must match
# byte for byte (paths, kinds, modes, link targets, contents, [key] markers).
#  * sgv/...: the SG-vector allocator's hit/allocation counters move with every
#    command the kernel ran (the copy manager's own INQUIRY/READs at registration).
#  * *_cmd_count, *_io_count_kb under targets/: per-target and per-session I/O
#    counters (same cause, plus the initiator's I/O in tree-2).
#  * thread_pid: PIDs of kernel threads; only the NUMBER of PIDs (= threads
#    serving that LUN: 1 for blockio, 8 for fileio) is compared.
_VOLATILE = re.compile(r"^F (\d+) (sgv/\S*|targets/\S*_(?:cmd_count|io_count_kb)) = .*$")
_PIDS = re.compile(r"^F (\d+) (\S*/thread_pid) = (.*)$")


def normalize_dump(lines: list) -> list:
    out = []
    for line in lines:
        m = _VOLATILE.match(line)
        if m:
            line = "F %s %s = <volatile>" % (m.group(1), m.group(2))
        m = _PIDS.match(line)
        if m:
            line = "F %s %s = <%d pids>" % (m.group(1), m.group(2), len(m.group(3).split()))
        out.append(line)
    return out


def tree_diff(want_lines: list, got_lines: list) -> list:
    import difflib

    return [
        d
        for d in difflib.unified_diff(normalize_dump(want_lines), normalize_dump(got_lines), lineterm="", n=0)
        if not d.startswith(("---", "+++", "@@"))
    ]


class FuseBackend:
    """Capture replay through a mounted emulator with real syscalls.

    ``echo`` opens like a shell redirection (O_WRONLY|O_CREAT|O_TRUNC) and makes
    one write(2); when ``shell(n, path, data)`` is true for the n-th echo, bash
    runs it instead and its error message is parsed, like the capture's."""

    name = "fuse"

    def __init__(self, mountpoint: str, shell=None):
        self.mp = mountpoint
        self.shell = shell
        self.n_echo = 0
        self.shell_runs: list = []

    def _p(self, path: str) -> str:
        return os.path.join(self.mp, path) if path else self.mp

    def echo(self, path: str, data: bytes) -> tuple:
        self.n_echo += 1
        if self.shell and self.shell(self.n_echo, path, data):
            return self._shell_echo(path, data)
        try:
            fd = os.open(self._p(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as e:
            return e.errno, "open"
        try:
            os.write(fd, data)
        except OSError as e:
            return e.errno, "write"
        finally:
            os.close(fd)
        return 0, ""

    def _shell_echo(self, path: str, data: bytes) -> tuple:
        import shlex
        import subprocess

        text = data.decode()
        assert text.endswith("\n")
        cmd = "echo %s > %s" % (shlex.quote(text[:-1]), shlex.quote(path))
        # bash, not dash: dash reports every failed echo as "I/O error".
        r = subprocess.run(["sh", "-c", cmd], executable="/bin/bash", cwd=self.mp, capture_output=True, text=True)
        self.shell_runs.append((cmd, r.returncode, r.stderr))
        if r.returncode == 0:
            return 0, ""
        msg = r.stderr.strip().rsplit(": ", 1)[-1]
        where = "write" if "echo: write error" in r.stderr else "open"
        return STRERROR[msg], where

    def read(self, path: str) -> bytes:
        with open(self._p(path), "rb") as f:
            return f.read()

    def exists(self, path: str) -> bool:
        return os.path.lexists(self._p(path))

    def listdir(self, path: str) -> list:
        return os.listdir(self._p(path))

    def readlink(self, path: str) -> str:
        return os.readlink(self._p(path))

    def lsla(self, path: str) -> list:
        import subprocess

        out = subprocess.run(["ls", "-la", self._p(path)], capture_output=True, text=True, check=True).stdout
        entries, _ = parse_lsla(out.splitlines(), 0)
        return entries


def fs_dump(mountpoint: str) -> list:
    """Walk a mounted tree with plain syscalls and print it in the capture format."""
    lines = []

    def walk(rel):
        base = os.path.join(mountpoint, rel) if rel else mountpoint
        for name in os.listdir(base):
            r = rel + "/" + name if rel else name
            p = os.path.join(base, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                lines.append((r, "L 777 %s -> %s" % (r, os.readlink(p))))
            elif stat.S_ISDIR(st.st_mode):
                lines.append((r, "D %s/" % r))
                walk(r)
            else:
                try:
                    with open(p, "rb") as f:
                        text = f.read().decode("latin-1")
                    if text.endswith("\n"):
                        text = text[:-1]
                    content = text.replace("\n", "\\n")
                except OSError as e:
                    from .scstkernel import shell_quote_path

                    content = "cat: %s: %s" % (shell_quote_path(SCST_ROOT + "/" + r), e.strerror)
                lines.append((r, "F %o %s = %s" % (stat.S_IMODE(st.st_mode), r, content)))

    walk("")
    lines.sort(key=lambda t: t[0].encode())
    return ["D %s/" % SCST_ROOT] + [line for _, line in lines]


# --------------------------------------------------------------------------
# forms.txt: write forms, Python's ways of writing, scstadmin's refusals
# --------------------------------------------------------------------------

# How each "py ..." line of forms.txt was made. The capture names the form, not the
# code; these are the plain readings of the names (see test docstrings):
#   path, how ('w' open(path,'w').write, 'a' append, 'O_WRONLY' os.open, 'r' read),
#   data written (None: only open)
PY_FORMS = {
    "open('w') missing attr": ("devices/A1/nosuchattr", "w", "1\n"),
    "os.open O_WRONLY missing attr": ("devices/A1/nosuchattr", "O_WRONLY", None),
    "open('w') 0444 attr": ("devices/A1/blocksize", "w", "4096\n"),
    "open('w') dup device": ("handlers/vdisk_blockio/mgmt", "w", "add_device A1 filename=/dev/loop1\n"),
    "two commands in one write": ("{tgt}/ini_groups/mgmt", "w", "create G1\ncreate G2\n"),
    "open('a') mgmt": ("{tgt}/ini_groups/mgmt", "a", "create G3\n"),
    # targets/ib_srpt/ has no mgmt (no add_target for ib_srpt): opening its
    # would-be mgmt file for writing, the way Python's open() does (O_CREAT).
    "read mgmt-less dir file": ("targets/ib_srpt/mgmt", "w", "add_target x\n"),
}

# The no-newline write: forms.txt only shows its result (A4 exists); which
# handler and backing device it used is not shown: blockio on the free loop0.
NO_NEWLINE_WRITE = ("handlers/vdisk_blockio/mgmt", b"add_device A4 filename=/dev/loop0")


def _py_form(backend, path: str, how: str, data):
    """-> errno (0 = ok) of doing the form through the backend."""
    if backend.name == "fuse":
        p = backend._p(path)
        try:
            if how == "O_WRONLY":
                os.close(os.open(p, os.O_WRONLY))
            else:
                with open(p, how) as f:
                    if data is not None:
                        f.write(data)
        except OSError as e:
            return e.errno
        return 0
    k = backend.kernel
    try:
        if how == "O_WRONLY":
            k.check_open(path, write=True)
        else:
            k.check_open(path, write=True, create=True)
            if data is not None:
                k.write(path, data.encode(), create=True)
    except OSError as e:
        return e.errno
    return 0


def parse_list_group(text: str) -> dict:
    """``scstadmin -list_group`` output -> {(driver, target, group|None): (luns, initiators)}."""
    out: dict = {}
    driver = target = group = None
    mode = None
    for line in text.splitlines():
        m = re.match(r"^(Driver|Target|Group): (\S+)$", line)
        if m:
            mode = None
            if m.group(1) == "Driver":
                driver, target, group = m.group(2), None, None
                continue
            if m.group(1) == "Target":
                target, group = m.group(2), None
            else:
                group = m.group(2)
            out.setdefault((driver, target, group), ({}, []))
            continue
        if line.startswith("Assigned LUNs:"):
            mode = "luns"
        elif line.startswith("Assigned Initiators:"):
            mode = "inits"
        elif line.startswith("\t") and mode and (driver, target, group) in out:
            row = line.strip()
            if not row or set(row) == {"-"} or row.startswith(("LUN ", "Initiator")) or row == "(none)":
                continue
            luns, inits = out[(driver, target, group)]
            if mode == "luns":
                lun, dev = row.split()
                luns[int(lun)] = dev
            else:
                inits.append(row)
    return out


def backend_groups(backend, driver: str, target: str) -> dict:
    """What the tree shows, in parse_list_group's shape, for one target."""
    base = "targets/%s/%s" % (driver, target)

    def luns_of(path):
        out = {}
        for name in backend.listdir(path):
            if name != "mgmt":
                link = backend.readlink(path + "/" + name + "/device")
                out[int(name)] = link.rsplit("/", 1)[1]
        return out

    res = {(driver, target, None): (luns_of(base + "/luns"), [])}
    for g in backend.listdir(base + "/ini_groups"):
        if g == "mgmt":
            continue
        inits = sorted(n for n in backend.listdir(base + "/ini_groups/%s/initiators" % g) if n != "mgmt")
        res[(driver, target, g)] = (luns_of(base + "/ini_groups/%s/luns" % g), inits)
    return res


def replay_forms(text: str, backend, tgt_path: str) -> tuple:
    """
    Run forms.txt against ``backend`` (a fresh SCST, /dev/loop0-2 free, as in the
    capture: the copy manager's LUNs start at 0). scstadmin runs are replaced by the
    sysfs writes they make (or, for refusals, by checks that the kernel state is
    what made scstadmin refuse). -> (checks, problems).
    """
    lines = text.splitlines()
    ops = {op.lineno: op for op in parse_ops(text)}
    problems: list = []
    checks = 0
    driver, target = tgt_path.split("/")[1:3]

    def check(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            problems.append(what)

    def first_line(path):
        try:
            return backend.read(path).decode().split("\n", 1)[0]
        except OSError as e:
            return "<%s>" % errno.errorcode[e.errno]

    i = 0
    while i < len(lines):
        line, lineno = lines[i], i + 1
        if lineno in ops:
            op = ops[lineno]
            err, where = backend.echo(op.path, op.data)
            check(err == op.errno, "line %d %r: errno %s, capture %s" % (lineno, op.text, err, op.errno))
            res = backend.read("last_sysfs_mgmt_res").decode().strip()
            check(res == str(op.last_res), "line %d: last_sysfs_mgmt_res %s != %s" % (lineno, res, op.last_res))
            i += 1
            continue
        m = re.match(r"^(\w+) ((?:\w+=\S+ ?)+)$", line)
        if m:  # "A1 blocksize=4096 rotational=0": attribute values read back
            for pair in m.group(2).split():
                attr, val = pair.split("=")
                got = first_line("devices/%s/%s" % (m.group(1), attr))
                check(got == val, "line %d: %s/%s = %s, capture %s" % (lineno, m.group(1), attr, got, val))
            i += 1
            continue
        m = re.match(r"^no-newline write rc=(\d+) (\w+)=/sys/kernel/scst_tgt/(\S+)$", line)
        if m:
            path, data = NO_NEWLINE_WRITE
            assert m.group(2).encode() in data
            err, _ = backend.echo(path, data)
            check(err == 0 and backend.exists(m.group(3)), "line %d: no-newline add_device" % lineno)
            i += 1
            continue
        m = re.match(r"^py (.+?) (?:OSError (E\w+) .*|ok)$", line)
        if m:
            form = PY_FORMS.get(m.group(1))
            check(form is not None, "line %d: unknown python form %r" % (lineno, m.group(1)))
            if form:
                path, how, data = form
                err = _py_form(backend, path.format(tgt=tgt_path), how, data)
                want = getattr(errno, m.group(2)) if m.group(2) else 0
                check(err == want, "line %d: py %s -> %s, capture %s" % (lineno, m.group(1), err, want))
            i += 1
            continue
        m = re.match(r"^groups after: \[(.*)\]$", line)
        if m:
            want = [x.strip().strip("'") for x in m.group(1).split(",")]
            got = sorted(backend.listdir(tgt_path + "/ini_groups"))
            check(got == want, "line %d: groups %s, capture %s" % (lineno, got, want))
            i += 1
            continue
        m = re.match(r"^\$ scstadmin (.*)$", line)
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("[rc="):
                j += 1
            output = "\n".join(lines[i + 1 : j])
            rc = int(re.match(r"^\[rc=(\d+)\]", lines[j]).group(1))
            _scstadmin(backend, m.group(1), output, rc, tgt_path, driver, target, check, lineno)
            i = j + 1
            continue
        i += 1
    return checks, problems


def _scstadmin(backend, args: str, output: str, rc: int, tgt_path, driver, target, check, lineno) -> None:
    fatal = re.search(r"FATAL: Received the following error:\s+(.+)", output)
    fatal = fatal.group(1).strip() if fatal else None

    def write_expect(path, data, want):
        err, _ = backend.echo(path, data.encode())
        check(err == want, "line %d: scstadmin %s: sysfs write %r -> %s, expected %s" % (lineno, args, data, err, want))

    m = re.match(r"^-close_dev (\w+) ", args)
    if m:  # refused without a write: the device is exported
        exported = backend.listdir("devices/%s/exported" % m.group(1))
        check(rc == 1 and "still in use" in fatal and exported, "line %d: close_dev refusal" % lineno)
        return
    m = re.match(r"^-rem_group (\w+) ", args)
    if m:  # refused without a write: the group has LUNs
        luns = [n for n in backend.listdir(tgt_path + "/ini_groups/%s/luns" % m.group(1)) if n != "mgmt"]
        check(rc == 1 and "still in use" in fatal and luns, "line %d: rem_group refusal" % lineno)
        return
    if args.startswith("-set_drv_attr ib_srpt"):  # no driver attribute 'enabled' for ib_srpt
        check(rc == 0 and not backend.exists("targets/ib_srpt/enabled"), "line %d: ib_srpt enabled" % lineno)
        return
    m = re.match(r"^-add_init (\S+) -driver \S+ -target \S+ -group (\w+)$", args)
    if m:
        name, group = m.groups()
        if "already belongs to group" in output:
            other = re.search(r"already belongs to group '(\w+)'", output).group(1)
            inits = backend.listdir(tgt_path + "/ini_groups/%s/initiators" % other)
            check(rc == 0 and name in inits, "line %d: add_init refusal" % lineno)
        else:
            write_expect(tgt_path + "/ini_groups/%s/initiators/mgmt" % group, "add %s\n" % name, 0)
        return
    if args == "-list_group":
        listed = parse_list_group(output)
        for drv, tgt in {(d, t) for d, t, _ in listed}:
            got = backend_groups(backend, drv, tgt)
            want = {k: v for k, v in listed.items() if k[:2] == (drv, tgt)}
            check(got == want, "line %d: -list_group %s/%s:\n  tree %s\n  scstadmin %s" % (lineno, drv, tgt, got, want))
        return
    m = re.match(r"^-open_dev (\w+) -handler (\w+) -attributes (\S+)$", args)
    if m:  # SCST.pm: "add_device NAME k=v;" -> "A fatal error occurred" = an errno other than EINVAL/EEXIST
        name, handler, attrs = m.groups()
        params = "".join("%s;" % a for a in attrs.split(","))
        assert fatal == 'A fatal error occurred. See "dmesg" for more information.'
        write_expect("handlers/%s/mgmt" % handler, "add_device %s %s\n" % (name, params), errno.ENOENT)
        return
    m = re.match(r"^-add_lun (\d+) -driver \S+ -target \S+ -group (\w+) -device (\w+)$", args)
    if m:  # "LUN already exists."
        lun, group, dev = m.groups()
        assert fatal == "LUN already exists."
        write_expect(tgt_path + "/ini_groups/%s/luns/mgmt" % group, "add %s %s\n" % (dev, lun), errno.EEXIST)
        return
    m = re.match(r"^-rem_lun (\d+) -driver \S+ -target \S+ -group (\w+)", args)
    if m:  # "No such LUN exists."
        lun, group = m.groups()
        assert fatal == "No such LUN exists."
        write_expect(tgt_path + "/ini_groups/%s/luns/mgmt" % group, "del %s\n" % lun, errno.EINVAL)
        return
    check(False, "line %d: scstadmin %s not mapped to sysfs writes" % (lineno, args))


# --------------------------------------------------------------------------
# reapply.txt: logout, scstadmin -clear_config, -config of the written file
# --------------------------------------------------------------------------

_TGT = r"'(?P<d>\w+)/(?P<t>[^/']+)'"
_GRP = r"'(?P<d>\w+)/(?P<t>[^/']+)/(?P<g>[^']+)'"
_T = "targets/{d}/{t}"
_G = "targets/{d}/{t}/ini_groups/{g}"

# scstadmin's "-> ...: done." progress lines and the sysfs write each one made.
SCSTADMIN_WRITES = [
    (r"Removing all LUNs from driver/target/group " + _GRP, _G + "/luns/mgmt", "clear"),
    (r"Removing all initiators driver/target/group " + _GRP, _G + "/initiators/mgmt", "clear"),
    (r"Removing all LUNs from driver/target " + _TGT, _T + "/luns/mgmt", "clear"),
    (r"Removing group '(?P<g>[^']+)' from driver/target " + _TGT, _T + "/ini_groups/mgmt", "del {g}"),
    (r"Closing device '(?P<n>\w+)' using handler '(?P<h>\w+)'", "handlers/{h}/mgmt", "del_device {n}"),
    (r"Disabling driver/target " + _TGT, _T + "/enabled", "0"),
    (r"Enabling driver/target " + _TGT, _T + "/enabled", "1"),
    (r"Opening device '(?P<n>\w+)' using handler '(?P<h>\w+)'", "handlers/{h}/mgmt", "add_device {n} {params}"),
    (
        r"Setting device attribute '(?P<a>\w+)' to value '(?P<v>[^']*)' for device '(?P<n>\w+)'",
        "devices/{n}/{a}",
        "{v}",
    ),
    (r"Adding device '(?P<n>\w+)' at LUN (?P<l>\d+) to driver/target/group " + _GRP, _G + "/luns/mgmt", "add {n} {l}"),
    (r"Adding device '(?P<n>\w+)' at LUN (?P<l>\d+) to driver/target " + _TGT, _T + "/luns/mgmt", "add {n} {l}"),
    (r"Adding new group '(?P<g>[^']+)' to driver/target " + _TGT, _T + "/ini_groups/mgmt", "create {g}"),
    (r"Adding new initiator '(?P<i>[^']+)' to driver/target/group " + _GRP, _G + "/initiators/mgmt", "add {i}"),
]


def parse_scst_conf_devices(text: str) -> dict:
    """{device: (handler, [(attr, value)])} from an scst.conf's HANDLER blocks."""
    out: dict = {}
    handler = device = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"^HANDLER (\S+) \{$", line)
        if m:
            handler = m.group(1)
            continue
        m = re.match(r"^DEVICE (\S+) \{$", line)
        if m and handler:
            device = m.group(1)
            out[device] = (handler, [])
            continue
        if line == "}":
            if device:
                device = None
            else:
                handler = None
            continue
        if device and line:
            attr, _, value = line.partition(" ")
            out[device][1].append((attr, value.strip()))
    return out


def replay_reapply(text: str, conf_text: str, backend, kernel, on_stage=None) -> tuple:
    """
    Run reapply.txt: the initiator's logout (a kernel hook), scstadmin's
    -clear_config and -config (as the sysfs writes their progress lines name),
    then the kernel del_device of an exported device. ``on_stage(name)`` is called
    after each scstadmin run ('clear_config', 'config'). -> (checks, problems).
    """
    from .scstkernel import ADD_DEV_PARAMS

    devices = parse_scst_conf_devices(conf_text)
    lines = text.splitlines()
    ops = {op.lineno: op for op in parse_ops(text)}
    problems: list = []
    checks = 0
    stage = None

    def check(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            problems.append(what)

    for i, line in enumerate(lines):
        lineno = i + 1
        if lineno in ops:
            op = ops[lineno]
            err, _ = backend.echo(op.path, op.data)
            check(err == op.errno, "line %d: %r errno %s" % (lineno, op.text, err))
            res = backend.read("last_sysfs_mgmt_res").decode().strip()
            check(res == str(op.last_res), "line %d: last_sysfs_mgmt_res %s" % (lineno, res))
            continue
        if re.match(r"^\$ echo 1 > /sys/class/srp_remote_ports/\S+/delete$", line):
            for tgt in kernel.drivers["ib_srpt"].values():
                for ini in {s.initiator_name for s in tgt.sessions.values()}:
                    kernel.sessions_logout(tgt.name, ini)
            continue
        m = re.match(r"^\$ scstadmin -(\w+)", line)
        if m:
            stage = m.group(1)
            continue
        if line.startswith("[rc=") and stage:
            check(line.startswith("[rc=0]"), "line %d: scstadmin -%s failed in the capture" % (lineno, stage))
            if on_stage and stage in ("clear_config", "config"):
                on_stage(stage)
            stage = None
            continue
        m = re.match(r"^\t-> (.*): done\.$", line)
        if m and stage in ("clear_config", "config"):
            for pattern, path, data in SCSTADMIN_WRITES:
                w = re.fullmatch(pattern, m.group(1))
                if w:
                    fields = w.groupdict()
                    if "{params}" in data:
                        handler, attrs = devices[fields["n"]]
                        fields["params"] = "".join("%s=%s;" % (a, v) for a, v in attrs if a in ADD_DEV_PARAMS[handler])
                    p, d = path.format(**fields), data.format(**fields)
                    err, _ = backend.echo(p, (d + "\n").encode())
                    check(err == 0, "line %d: %r > %s -> errno %s" % (lineno, d, p, err))
                    break
            else:
                check(False, "line %d: no sysfs write known for %r" % (lineno, m.group(1)))
            continue
        m = re.match(r"^(\w+) luns now: (.*)$", line)
        if m:
            tgt = next(iter(kernel.drivers["ib_srpt"]))
            got = sorted(backend.listdir("targets/ib_srpt/%s/ini_groups/%s/luns" % (tgt, m.group(1))))
            check(got == m.group(2).split(), "line %d: %s luns %s" % (lineno, m.group(1), got))
    return checks, problems
