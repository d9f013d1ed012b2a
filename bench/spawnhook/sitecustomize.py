"""Process-spawn recorder for the benchmark's Salt daemons (bench/rollout.py).

The bench starts the salt-master and salt-minions with this directory first
on ``PYTHONPATH`` and ``MDTMIRROR_BENCH_SPAWN_LOG`` set, so every Python
process of theirs (and the emulated tools they run, which are Python too)
imports this module at start-up. It installs an audit hook (PEP 578) that
appends one JSON line per process creation to that log:

- ``subprocess.Popen`` / ``os.posix_spawn`` / ``os.system``: a program is
  run (what ``cmd.run_all`` ends up doing);
- ``os.fork`` / ``os.forkpty``: a Python fork (Salt's per-job process).

Each line carries the Salt daemon it happened in (the minion id, from the
daemon's ``--config-dir``; tools inherit it through the environment), the
state being run (``salt.state.State.call``'s low chunk), the functions
of the synced mdtmirror modules on the stack, and the SLS being
rendered. Without ``MDTMIRROR_BENCH_SPAWN_LOG`` this module does nothing.
"""

import os
import sys

_LOG = os.environ.get("MDTMIRROR_BENCH_SPAWN_LOG")
_TAG_ENV = "MDTMIRROR_BENCH_SPAWN_DAEMON"
_EVENTS = {
    "subprocess.Popen": "exec",
    "os.posix_spawn": "exec",
    "os.system": "exec",
    "os.fork": "fork",
    "os.forkpty": "fork",
}


def _daemon_of(argv):
    """``mds01`` from ``--config-dir=<root>/mds01/conf`` (saltfactories' layout)."""
    for i, arg in enumerate(argv):
        value = None
        if arg.startswith("--config-dir="):
            value = arg.split("=", 1)[1]
        elif arg in ("-c", "--config-dir") and i + 1 < len(argv):
            value = argv[i + 1]
        if value:
            return os.path.basename(os.path.dirname(os.path.abspath(value)))
    return None


def _where(frame):
    """(state, mdtmirror module functions innermost first, sls being rendered) behind a spawn."""
    state = sls = None
    fns = []
    while frame is not None:
        code = frame.f_code
        name = code.co_filename
        if "/extmods/" in name or "/mdtmirror_loader/" in name:
            fn = "%s.%s" % (os.path.splitext(os.path.basename(name))[0], code.co_name)
            if not fns or fns[-1] != fn:
                fns.append(fn)
        elif name.endswith(os.path.join("salt", "state.py")):
            if state is None and code.co_name == "call":
                low = frame.f_locals.get("low")
                if isinstance(low, dict):
                    state = "%s.%s %s" % (low.get("state"), low.get("fun"), low.get("__id__"))
            elif sls is None and code.co_name == "render_state":
                sls = frame.f_locals.get("sls")
        frame = frame.f_back
    return state, fns[:8], sls


def _install():
    import json
    import time

    inherited = os.environ.get(_TAG_ENV)
    daemon = _daemon_of(sys.argv)
    if daemon:
        origin = "salt"
        os.environ[_TAG_ENV] = daemon  # the programs it runs inherit it
    else:
        origin = "tool"
        daemon = inherited or "?"
    me = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"

    def hook(event, args):
        kind = _EVENTS.get(event)
        if kind is None:
            return
        try:
            if event == "subprocess.Popen":
                argv = args[1]
                argv = [os.fsdecode(a) for a in argv] if isinstance(argv, (list, tuple)) else [os.fsdecode(argv)]
            elif event == "os.posix_spawn":
                argv = [os.fsdecode(a) for a in args[1]]
            elif event == "os.system":
                argv = [os.fsdecode(args[0])]
            else:
                argv = []
            state, fns, sls = _where(sys._getframe(1))
            line = {
                "t": time.time(),
                "pid": os.getpid(),
                "daemon": daemon,
                "origin": origin,
                "process": me,
                "kind": kind,
                "argv": [a[:200] for a in argv[:12]],
                "state": state,
                "fns": fns,
                "sls": sls,
            }
            data = (json.dumps(line) + "\n").encode()
            fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except Exception:  # never break the daemon being measured
            pass

    sys.addaudithook(hook)


if _LOG:
    _install()
