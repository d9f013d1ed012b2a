"""
Declarative SCST target configuration on top of the ``scst`` execution module.

Every state works the same way: it reads the running configuration, computes
a *plan* (a list of changes, each with the call that makes it), and then
either reports the plan (``test=True``) or carries it out step by step. The
prediction and the real run therefore come from the same code; a failure
mid-way reports exactly the steps that were done.

.. code-block:: yaml

    MDT1:
      scst.device_present:
        - handler: vdisk_blockio
        - filename: /dev/zvol/shps-meta/MDT
        - attributes:
            blocksize: 4096
            rotational: 0

    MDS:
      scst.group_present:
        - initiators:
          - fe80:0000:0000:0000:0002:c903:0003:cca7

    mdt1-lun0:
      scst.lun_present:
        - device: MDT1
        - lun: 0
        - group: MDS

    srp-target:
      scst.target_enabled: []

    scst-config:
      scst.config_saved: []

``target`` may be omitted everywhere: the ib_srpt target serving the local
HCA port is chosen (``hca``/``port`` narrow it down when a server has several).
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import scst_plan, stateplan  # noqa: E402  (after current(): the fresh copy)

__virtualname__ = "scst"

_PENDING = "mdtmirror.scst.pending"


def __virtual__():
    if "scst.list_devices" in __salt__:
        return __virtualname__
    return (False, "the scst execution module is not available")


# --------------------------------------------------------------------------
# plan / apply machinery
# --------------------------------------------------------------------------


def _pending_key():
    # One state run's pending changes. What keeps runs apart is the run's own __context__ (state.apply
    # gives each run dict(__context__)); Salt puts no jid in the modules' opts, so the jid here is None
    # in state runs (tests/functional/test_state_run_context.py) and only a caller that sets one uses it.
    return (_PENDING, __opts__.get("jid"))


def _planner():
    return scst_plan.Planner(__salt__, __opts__["test"], __context__.get("mdtmirror.devices_to_be", ()))


_ret = stateplan.new_ret
_fail = stateplan.fail


def _run(name, build_plan, ok_comment, done_comment, pending=True):
    """Build the plan, then report it (test) or carry it out."""

    def remember(plan):
        # config_saved reads this to predict the scst.conf the real run will write once these changes exist.
        __context__.setdefault(_pending_key(), []).append((name, list(plan.edits)))

    on_prediction = remember if pending else None
    return stateplan.run(name, build_plan, __opts__["test"], ok_comment, done_comment, on_prediction=on_prediction)


# --------------------------------------------------------------------------
# kernel modules
# --------------------------------------------------------------------------


def _publish(ret):
    """After loading modules, refresh this minion's mine data: the facts the
    peer needs (target names, login_info) exist only from now on."""
    return stateplan.publish(ret, __salt__)


def modules_loaded(name, modules=None, options=None, persist=True, publish=False):
    """
    Ensure the SCST kernel modules are loaded (``scst``, ``scst_vdisk``,
    ``ib_srpt`` by default), with ``options`` per module
    (``{ib_srpt: {rdma_cm_port: 5555}}``) persisted in
    ``/etc/modprobe.d/<module>.conf``, where modprobe finds them at boot (an
    old ``<module>_parameters`` line of ``/etc/default/scst`` is moved there).

    Options of a module that is already loaded cannot change until it is
    reloaded, which would drop every SRP session: that is reported, not done.
    With ``publish``, a run that loads something then runs ``mine.update``.
    """
    modules = list(modules or __salt__["scst.modules_loaded"]().keys())
    options = options or {}
    warnings = []

    def build():
        return _planner().modules_loaded(modules, options, persist)

    ret = _run(name, build, "SCST modules are loaded", "SCST modules and options", pending=False)
    if ret["result"] is not False:
        for mod, opts in options.items():
            running = __salt__["scst.module_parameters"](mod)
            if running is None:
                continue
            for key, value in (opts or {}).items():
                if key in running and not scst_plan.same(running[key], scst_plan.norm(value)):
                    warnings.append(
                        f"{mod} runs with {key}={running[key]}, declared {scst_plan.norm(value)}: takes effect "
                        f"when {mod} is reloaded (which drops its sessions)"
                    )
    if warnings:
        ret["comment"] += "\n" + "\n".join(warnings)
    return _publish(ret) if publish else ret


# --------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------


def device_present(name, handler, filename=None, attributes=None, allow_nv_cache=False):
    """
    Ensure an SCST device exists on a backing path with the given attributes.

    A missing device is created (``add_device``); a writable attribute that
    drifted is written back. A device that exists with another handler or
    backing file, or whose read-only attribute (``blocksize``, ``nv_cache``,
    ``rotational``...) differs, is an error: fixing it means closing the
    device, which takes the LUN away from initiators, so it is left to an
    explicit ``scst.device_absent``.
    """
    attributes = {k: v for k, v in (attributes or {}).items()}

    def build():
        return _planner().device_present(name, handler, filename, attributes, allow_nv_cache)

    return _run(name, build, f"SCST device {name} is as declared", f"SCST device {name}")


def device_absent(name, force=False):
    """
    Ensure an SCST device does not exist. Refused while a LUN exports it,
    unless ``force=True``.
    """

    def build():
        return _planner().device_absent(name, force)

    return _run(name, build, f"SCST device {name} is absent", f"SCST device {name} closed")


# --------------------------------------------------------------------------
# groups and initiators
# --------------------------------------------------------------------------


def group_present(name, initiators=(), target=None, driver="ib_srpt", hca=None, port=None, allow_wildcard=False):
    """
    Ensure a security group exists on a target with exactly ``initiators``.

    Initiator names are port GIDs over InfiniBand, source IP addresses over
    RDMA/CM. Patterns (``*``, ``?``, ``!``) are refused unless
    ``allow_wildcard: True``. Initiators not listed are removed; a name that
    already belongs to another group of the target is an error (SCST would
    give the session to the first group).
    """
    initiators = [str(i) for i in (initiators or [])]

    def build():
        return _planner().group_present(name, initiators, target, driver, hca, port, allow_wildcard)

    return _run(name, build, f"SCST group {name} is as declared", f"SCST group {name}")


def group_absent(name, target=None, driver="ib_srpt", hca=None, port=None, force=False):
    """
    Ensure a security group does not exist. A group that still has LUNs or
    initiators is removed only with ``force=True``.
    """

    def build():
        return _planner().group_absent(name, target, driver, hca, port, force)

    return _run(name, build, f"SCST group {name} is absent", f"SCST group {name} removed")


# --------------------------------------------------------------------------
# LUNs
# --------------------------------------------------------------------------


def lun_present(name, lun, device, group=None, target=None, driver="ib_srpt", hca=None, port=None, read_only=False):
    """
    Ensure ``device`` is mapped at ``lun`` in ``group`` (or in the target's
    default LUN set when ``group`` is omitted). A LUN already used by another
    device is an error, never silently replaced.
    """

    def build():
        return _planner().lun_present(name, lun, device, group, target, driver, hca, port, read_only)

    return _run(name, build, f"LUN {lun} maps {device}", f"LUN {lun} -> {device}")


def lun_absent(name, lun, group=None, target=None, driver="ib_srpt", hca=None, port=None):
    """Ensure nothing is mapped at ``lun`` in ``group`` (or the default LUN set)."""

    def build():
        return _planner().lun_absent(name, lun, group, target, driver, hca, port)

    return _run(name, build, f"LUN {lun} is free", f"LUN {lun} removed")


# --------------------------------------------------------------------------
# targets and drivers
# --------------------------------------------------------------------------


def _target_enabled_state(name, enabled, target, driver, hca, port):
    def build():
        return _planner().target_enabled(enabled, target, driver, hca, port)

    word = "enabled" if enabled else "disabled"
    return _run(name, build, f"SCST target is {word}", f"SCST target {word}")


def target_enabled(name, target=None, driver="ib_srpt", hca=None, port=None):
    """
    Ensure a target is enabled (initiators may log in). Order it after the
    groups and LUNs: SCST picks a session's group at login.
    """
    return _target_enabled_state(name, True, target, driver, hca, port)


def target_disabled(name, target=None, driver="ib_srpt", hca=None, port=None):
    """Ensure a target is disabled (closes its sessions)."""
    return _target_enabled_state(name, False, target, driver, hca, port)


def target_attributes(name, attributes, target=None, driver="ib_srpt", hca=None, port=None):
    """Ensure target attributes (``port_id``, ``comment``, ``rel_tgt_id``...) have the given values."""

    def build():
        return _planner().target_attributes(attributes, target, driver, hca, port)

    return _run(name, build, "target attributes are as declared", "target attributes")


def driver_attributes(name, attributes):
    """
    Ensure target-driver attributes have the given values. ``name`` is the
    driver. ib_srpt has no driver attributes since SCST 3.1 (the seed's
    ``enabled=1``): asking for one is an error that says so.
    """

    def build():
        return _planner().driver_attributes(name, attributes)

    return _run(name, build, f"driver {name} attributes are as declared", f"driver {name} attributes")


# --------------------------------------------------------------------------
# persistence
# --------------------------------------------------------------------------


def config_saved(name, path=None):
    """
    Ensure ``/etc/scst.conf`` (or ``path``) reproduces the running SCST
    configuration, so SCST's init script restores it at boot. ``name`` is
    only a label.

    With ``test=True`` the earlier SCST states of this run have not changed
    the tree yet: the file is predicted from the running configuration with
    their pending changes applied (a drift they repair makes no write when
    the repaired configuration is the saved one). When a pending change's
    effect cannot be told beforehand (a new device: which attributes SCST
    marks ``[key]``; a target's first enable: its ``rel_tgt_id``), a write
    is predicted.
    """
    ret = _ret(name)
    if path is not None and not str(path).startswith("/"):
        return _fail(ret, SaltInvocationError(f"config path {path!r} must be absolute"))
    try:
        result = __salt__["scst.write_config"](path=path, test=True)
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    pending = __context__.get(_pending_key(), []) if __opts__["test"] else []
    names = [state for state, _ in pending]
    if result["text"] is None:
        names = names or ["loading SCST"]
    elif pending:
        repaired = _repaired_texts(pending)
        if repaired is not None and result["current"] in repaired:
            ret["comment"] = (
                f"{result['path']} will match the running SCST configuration once the pending changes of "
                f"{', '.join(names)} are made"
            )
            return ret
    if not result["changed"] and not names:
        ret["comment"] = f"{result['path']} matches the running SCST configuration"
        return ret
    change = {result["path"]: {"old": "stale" if result["existed"] else "missing", "new": "running configuration"}}
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = change
        ret["comment"] = f"Would write {result['path']}"
        if names:
            ret["comment"] += " after the pending changes of: " + ", ".join(names)
        return ret
    try:
        __salt__["scst.write_config"](path=result["path"])
    except (CommandExecutionError, SaltInvocationError, OSError) as exc:
        return _fail(ret, exc)
    ret["changes"] = change
    ret["comment"] = f"Wrote {result['path']}"
    return ret


def _repaired_texts(pending):
    """The scst.conf texts the running configuration may render once ``pending`` is made, or None when
    a change's effect cannot be told."""
    configs = scst_plan.repaired_configs(__salt__["scst.running_config"](), pending)
    return None if configs is None else {__salt__["scst.render_config"](config) for config in configs}
