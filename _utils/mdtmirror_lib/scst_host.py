"""
The SCST target's host outside its sysfs tree: which kernel modules are loaded
(``/sys/module``) and with which parameters, the options each gets at its next
load (``/etc/modprobe.d/<module>.conf``, and the old ``/etc/default/scst`` line
moved from there), loading them with modprobe, and ``scst.conf`` written from
the running configuration. The caller hands in resolved paths, the modprobe
binary and its command runner (``__salt__["cmd.run_all"]``).
"""

import os
import re

from salt.exceptions import CommandExecutionError

from mdtmirror_lib import hostio, scst_tree
from mdtmirror_lib.scst_rules import check_name, format_options


def module_list(modules):
    """``"scst, ib_srpt"`` or a list -> a list of module names."""
    if isinstance(modules, str):
        return [m.strip() for m in modules.split(",") if m.strip()]
    return modules


def modules_loaded(sys_module, modules):
    """``{module: loaded}``: a loaded module has its directory under ``sys_module``."""
    return {mod: os.path.isdir(os.path.join(sys_module, mod)) for mod in module_list(modules)}


def module_parameters(sys_module, module):
    """The parameters a loaded module runs with (``<sys_module>/<module>/parameters``), or None if not loaded."""
    check_name("module", module)
    base = os.path.join(sys_module, module)
    if not os.path.isdir(base):
        return None
    params = {}
    pdir = os.path.join(base, "parameters")
    for name in hostio.listdir(pdir):
        try:
            params[name] = scst_tree.read_raw(os.path.join(pdir, name), 0)
        except OSError:
            continue
        params[name] = params[name].strip()
    return params


def persist_options(path, default, module, options, test=False):
    """
    Write ``options <module> k=v ...`` as the whole of ``path``
    (``/etc/modprobe.d/<module>.conf``) and remove a ``<module>_parameters``
    line left in ``default`` (``/etc/default/scst``). True if a file changed
    (or would, with ``test``).
    """
    check_name("module", module)
    parts = format_options(options)
    wanted = f"# Written by mdtmirror (scst.persist_options): {module}'s options at load time.\n"
    wanted += f"options {module} {' '.join(parts)}\n" if parts else ""
    changed = hostio.read_text(path) != wanted
    legacy = hostio.read_text(default)
    var = re.compile(rf"^\s*{re.escape(module)}_parameters=")
    kept = None if legacy is None else [line for line in legacy.splitlines() if not var.match(line)]
    migrate = legacy is not None and kept != legacy.splitlines()
    if not test:
        # Atomic (fsync'ed, then renamed): a crash mid-write must not leave the boot a truncated
        # modprobe.d file (ib_srpt would load without rdma_cm_port) or a half /etc/default/scst.
        if changed:
            hostio.write_text(path, wanted)
        if migrate:
            hostio.write_text(default, "\n".join(kept) + ("\n" if kept else ""), mode=None)
    return changed or migrate


def load(modules, options, sys_module, var_lib_scst, modprobe, run):
    """
    ``modprobe`` each module of ``modules`` not loaded yet, in order, with its
    ``options``; first make ``<var_lib_scst>/pr`` and ``vdev_mode_pages``
    (without them SCST keeps no persistent reservations). ``run(cmd)`` runs a
    command (argument list) and returns ``{"retcode", "stdout", "stderr"}``.
    Returns the modules loaded now.
    """
    modules = module_list(modules)
    options = options or {}
    for sub in ("pr", "vdev_mode_pages"):
        os.makedirs(os.path.join(var_lib_scst, sub), exist_ok=True)
    loaded_now = []
    state = modules_loaded(sys_module, modules)
    for mod in modules:
        check_name("module", mod)
        if state[mod]:
            continue
        cmd = [modprobe, mod] + format_options(options.get(mod))
        ret = run(cmd)
        if ret["retcode"] != 0:
            raise CommandExecutionError(
                f"modprobe {mod} failed ({ret['retcode']}): {(ret.get('stderr') or ret.get('stdout') or '').strip()}"
            )
        loaded_now.append(mod)
    return loaded_now


def write_config(path, text, test=False):
    """
    Make ``path`` hold ``text`` (written atomically unless ``test``):
    ``{"path", "changed", "existed", "text", "current" (what the file held)}``.
    """
    current = hostio.read_text(path)
    changed = current != text
    existed = current is not None
    if changed and not test:
        hostio.write_text(path, text)
    return {"path": path, "changed": changed, "existed": existed, "text": text, "current": current}
