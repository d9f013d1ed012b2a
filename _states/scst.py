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
from mdtmirror_lib.stateplan import Plan as _Plan  # noqa: E402

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


_ret = stateplan.new_ret
_fail = stateplan.fail


def _run(name, build_plan, ok_comment, done_comment, pending=True):
    """Build the plan, then report it (test) or carry it out."""

    def remember(plan):
        # config_saved reads this to predict the scst.conf the real run will write once these changes exist.
        __context__.setdefault(_pending_key(), []).append((name, list(plan.edits)))

    on_prediction = remember if pending else None
    return stateplan.run(name, build_plan, __opts__["test"], ok_comment, done_comment, on_prediction=on_prediction)


def _not_loaded_yet():
    """
    True when SCST is not loaded and this is a test run: the modules state
    would load it, so plans are made against an empty SCST (everything to be
    created) instead of failing.
    """
    return __opts__["test"] and not __salt__["scst.is_loaded"]()


def _devices():
    if _not_loaded_yet():
        return {}
    return __salt__["scst.list_devices"]()


def _resolve_target(target, hca, port, driver):
    if target:
        return target
    if _not_loaded_yet():
        # SCST >= 3.1 will name the port's target by its GID 0.
        ports = [
            p
            for p in __salt__["scst.local_ports"]()
            if (hca is None or p["hca"] == hca) and (port is None or p["port"] == int(port))
        ]
        if len(ports) != 1 or not ports[0]["gid"]:
            raise CommandExecutionError(
                f"SCST is not loaded and {len(ports)} local RDMA ports match hca={hca} port={port}: "
                "cannot predict which ib_srpt target to use; set hca and port"
            )
        return ports[0]["gid"]
    return __salt__["scst.port_target"](hca=hca, port=port, driver=driver)


def _target_info(driver, target):
    if _not_loaded_yet():
        return scst_plan.empty_target()
    targets = __salt__["scst.list_targets"](driver=driver)[driver]
    if target not in targets:
        # Raises with the list of existing targets and the pre-3.1 hint.
        __salt__["scst.list_groups"](target, driver=driver)
    return targets[target]


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
        plan = _Plan()
        for mod in options:
            if mod not in modules:
                raise SaltInvocationError(f"options given for {mod!r}, which is not in modules {modules}")
        loaded = __salt__["scst.modules_loaded"](modules)
        for mod in modules:
            if not loaded[mod]:
                plan.add(
                    f"module:{mod}",
                    "not loaded",
                    "loaded",
                    lambda mod=mod: __salt__["scst.load"]([mod], options={mod: options.get(mod) or {}}),
                )
        if persist:
            for mod, opts in options.items():
                wanted = {k: scst_plan.norm(v) for k, v in (opts or {}).items()}
                current = __salt__["scst.persisted_options"](mod)
                legacy = __salt__["scst.legacy_options"](mod)
                if legacy is not None:  # an old /etc/default/scst line: moved to modprobe.d
                    current = {"/etc/default/scst": f"{mod}_parameters={legacy}", **current}
                if current != wanted:
                    plan.add(
                        f"options:{mod}",
                        current,
                        wanted,
                        lambda mod=mod, opts=opts: __salt__["scst.persist_options"](mod, opts),
                    )
        return plan

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
        plan = _Plan()
        devices = _devices()
        if name not in devices:
            args = dict(attributes)
            new = {
                "handler": handler,
                "filename": filename,
                "attributes": {k: scst_plan.norm(v) for k, v in args.items()},
            }
            # Validates names and metadata-safety rules before anything runs; under test=True a backing
            # device an earlier state of this run makes (a zvol) cannot be looked at yet.
            to_be = __opts__["test"] and filename in __context__.get("mdtmirror.devices_to_be", ())
            __salt__["scst.validate_device"](
                name, handler, filename=filename, allow_nv_cache=allow_nv_cache, check_backing=not to_be, **args
            )
            plan.add(
                name,
                None,
                new,
                lambda: __salt__["scst.open_dev"](
                    name, handler, filename=filename, allow_nv_cache=allow_nv_cache, **args
                ),
            )
            return plan
        info = devices[name]
        problems = []
        if info["handler"] != handler:
            problems.append(f"handler is {info['handler']}, declared {handler}")
        if filename is not None and info["filename"] != filename:
            problems.append(f"filename is {info['filename']}, declared {filename}")
        current = info["attributes"]
        if current.get("nv_cache", "0") != "0" and not allow_nv_cache:
            problems.append("nv_cache is 1 (SCST ignores cache flushes: metadata at risk)")
        for attr, value in sorted(attributes.items()):
            want = scst_plan.norm(value)
            have = current.get(attr)
            if have is None:
                problems.append(f"it has no attribute {attr!r}")
            elif scst_plan.same(have, want):
                continue
            elif attr in info["writable"]:
                plan.add(
                    f"{name}:{attr}",
                    have,
                    want,
                    lambda attr=attr, want=want: __salt__["scst.set_dev_attr"](name, attr, want),
                    edit=scst_plan.attr_edit(scst_plan.device_attrs(name), attr, want),
                )
            else:
                problems.append(f"read-only attribute {attr} is {have}, declared {want}")
        if problems:
            raise CommandExecutionError(
                f"SCST device {name} exists but differs: {'; '.join(problems)}. Changing this means "
                "closing and re-opening the device (its LUNs go away while it is closed); "
                "do it explicitly with scst.device_absent first"
            )
        return plan

    return _run(name, build, f"SCST device {name} is as declared", f"SCST device {name}")


def device_absent(name, force=False):
    """
    Ensure an SCST device does not exist. Refused while a LUN exports it,
    unless ``force=True``.
    """

    def build():
        plan = _Plan()
        devices = _devices()
        if name in devices:
            info = devices[name]
            exports = [e for e in info["exported"] if e["driver"] != "copy_manager"]
            if exports and not force:
                # Same check as scst.close_dev, made at plan time so that
                # test=True predicts the refusal.
                __salt__["scst.close_dev"](name, force=False)
            plan.add(
                name,
                {"handler": info["handler"], "filename": info["filename"]},
                None,
                lambda: __salt__["scst.close_dev"](name, force=force),
            )
        return plan

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
        __salt__["scst.validate_name"]("group", name)
        scst_plan.check_initiators(initiators, allow_wildcard)
        for ini in initiators:
            __salt__["scst.validate_initiator"](ini)
        tgt = _resolve_target(target, hca, port, driver)
        info = _target_info(driver, tgt)
        plan = _Plan()
        group = info["groups"].get(name)
        if group is None:
            plan.add(
                f"{tgt}:{name}",
                None,
                "created",
                lambda: __salt__["scst.add_group"](tgt, name, driver=driver),
                edit=scst_plan.edit(
                    lambda c: scst_plan.target_conf(driver, tgt)(c)["groups"].setdefault(
                        name, {"luns": {}, "initiators": []}
                    )
                ),
            )
            have = []
        else:
            have = group["initiators"]
        for other, ginfo in info["groups"].items():
            if other == name:
                continue
            clash = sorted(set(ginfo["initiators"]) & set(initiators))
            if clash:
                raise CommandExecutionError(
                    f"initiator(s) {', '.join(clash)} already belong to group {other} of {driver}/{tgt}; "
                    f"remove them there first"
                )
        for ini in initiators:
            if ini not in have:
                plan.add(
                    f"{tgt}:{name}:initiator:{ini}",
                    None,
                    "added",
                    lambda ini=ini: __salt__["scst.add_init"](tgt, name, ini, driver=driver),
                    edit=scst_plan.edit(lambda c, ini=ini: scst_plan.initiators_edit(c, driver, tgt, name, add=ini)),
                )
        for ini in have:
            if ini not in initiators:
                plan.add(
                    f"{tgt}:{name}:initiator:{ini}",
                    "present",
                    None,
                    lambda ini=ini: __salt__["scst.del_init"](tgt, name, ini, driver=driver),
                    edit=scst_plan.edit(lambda c, ini=ini: scst_plan.initiators_edit(c, driver, tgt, name, remove=ini)),
                )
        return plan

    return _run(name, build, f"SCST group {name} is as declared", f"SCST group {name}")


def group_absent(name, target=None, driver="ib_srpt", hca=None, port=None, force=False):
    """
    Ensure a security group does not exist. A group that still has LUNs or
    initiators is removed only with ``force=True``.
    """

    def build():
        __salt__["scst.validate_name"]("group", name)
        tgt = _resolve_target(target, hca, port, driver)
        info = _target_info(driver, tgt)
        plan = _Plan()
        group = info["groups"].get(name)
        if group is not None:
            if (group["luns"] or group["initiators"]) and not force:
                raise CommandExecutionError(
                    f"SCST group {name} on {driver}/{tgt} still has {len(group['luns'])} LUNs and "
                    f"{len(group['initiators'])} initiators; set force: True to remove it"
                )
            plan.add(
                f"{tgt}:{name}",
                "present",
                None,
                lambda: __salt__["scst.del_group"](tgt, name, driver=driver, force=force),
                edit=scst_plan.edit(lambda c: scst_plan.target_conf(driver, tgt)(c)["groups"].pop(name)),
            )
        return plan

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
        lun_number = __salt__["scst.validate_lun"](lun)
        __salt__["scst.validate_name"]("device", device)
        if group is not None:
            __salt__["scst.validate_name"]("group", group)
        tgt = _resolve_target(target, hca, port, driver)
        info = _target_info(driver, tgt)
        plan = _Plan()
        current = scst_plan.lun_set(info, group).get(lun_number)
        where = f"{driver}/{tgt}" + (f" group {group}" if group else "")
        if current is None:
            plan.add(
                f"{tgt}:{group or '-'}:lun{lun_number}",
                None,
                {"device": device, "read_only": bool(read_only)},
                lambda: __salt__["scst.add_lun"](
                    tgt, lun_number, device, group=group, driver=driver, read_only=read_only
                ),
                edit=scst_plan.edit(
                    lambda c: scst_plan.lun_edit(c, driver, tgt, group, lun_number, device, bool(read_only))
                ),
            )
        elif current["device"] != device:
            raise CommandExecutionError(
                f"LUN {lun_number} of {where} maps device {current['device']}, declared {device}; "
                "remove it explicitly (scst.lun_absent) to remap"
            )
        elif current["read_only"] != bool(read_only):
            raise CommandExecutionError(
                f"LUN {lun_number} of {where} has read_only={int(current['read_only'])}, declared "
                f"{int(bool(read_only))}; remove and re-add it explicitly"
            )
        return plan

    return _run(name, build, f"LUN {lun} maps {device}", f"LUN {lun} -> {device}")


def lun_absent(name, lun, group=None, target=None, driver="ib_srpt", hca=None, port=None):
    """Ensure nothing is mapped at ``lun`` in ``group`` (or the default LUN set)."""

    def build():
        lun_number = __salt__["scst.validate_lun"](lun)
        tgt = _resolve_target(target, hca, port, driver)
        info = _target_info(driver, tgt)
        plan = _Plan()
        current = scst_plan.lun_set(info, group).get(lun_number)
        if current is not None:
            plan.add(
                f"{tgt}:{group or '-'}:lun{lun_number}",
                current,
                None,
                lambda: __salt__["scst.del_lun"](tgt, lun_number, group=group, driver=driver),
                edit=scst_plan.edit(lambda c: scst_plan.group_conf(driver, tgt, group)(c)["luns"].pop(lun_number)),
            )
        return plan

    return _run(name, build, f"LUN {lun} is free", f"LUN {lun} removed")


# --------------------------------------------------------------------------
# targets and drivers
# --------------------------------------------------------------------------


def _target_enabled_state(name, enabled, target, driver, hca, port):
    def build():
        tgt = _resolve_target(target, hca, port, driver)
        info = _target_info(driver, tgt)
        plan = _Plan()
        if info["enabled"] is None:
            raise CommandExecutionError(f"SCST target {driver}/{tgt} has no enabled attribute")
        if info["enabled"] != enabled:
            func = "scst.enable_target" if enabled else "scst.disable_target"
            plan.add(
                f"{tgt}:enabled",
                info["enabled"],
                enabled,
                lambda: __salt__[func](tgt, driver=driver),
                edit=scst_plan.edit(lambda c: scst_plan.enabled_edit(c, driver, tgt, enabled)),
            )
        return plan

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
        tgt = _resolve_target(target, hca, port, driver)
        info = _target_info(driver, tgt)
        plan = _Plan()
        for attr, value in sorted((attributes or {}).items()):
            want = scst_plan.norm(value)
            if attr == "enabled":
                raise SaltInvocationError("use scst.target_enabled for 'enabled'")
            if attr not in info["attributes"]:
                raise CommandExecutionError(f"SCST target {driver}/{tgt} has no attribute {attr!r}")
            have = info["attributes"][attr]
            if not scst_plan.same(have, want):
                if attr not in info["writable"]:
                    raise CommandExecutionError(f"attribute {attr!r} of SCST target {driver}/{tgt} is read-only")
                plan.add(
                    f"{tgt}:{attr}",
                    have,
                    want,
                    lambda attr=attr, want=want: __salt__["scst.set_tgt_attr"](tgt, attr, want, driver=driver),
                    edit=scst_plan.attr_edit(lambda c: scst_plan.target_conf(driver, tgt)(c)["attributes"], attr, want),
                )
        return plan

    return _run(name, build, "target attributes are as declared", "target attributes")


def driver_attributes(name, attributes):
    """
    Ensure target-driver attributes have the given values. ``name`` is the
    driver. ib_srpt has no driver attributes since SCST 3.1 (the seed's
    ``enabled=1``): asking for one is an error that says so.
    """

    def build():
        drivers = __salt__["scst.list_drivers"]()
        if name not in drivers:
            raise CommandExecutionError(f"SCST target driver {name!r} is not loaded")
        info = drivers[name]
        plan = _Plan()
        for attr, value in sorted((attributes or {}).items()):
            want = scst_plan.norm(value)
            have = info["attributes"].get(attr)
            if have is None:
                hint = ""
                if name == "ib_srpt" and attr == "enabled":
                    hint = "; since SCST 3.1 ib_srpt has no driver-level enabled: use scst.target_enabled"
                raise CommandExecutionError(f"SCST driver {name} has no attribute {attr!r}{hint}")
            if not scst_plan.same(have, want):
                plan.add(
                    f"{name}:{attr}",
                    have,
                    want,
                    lambda attr=attr, want=want: __salt__["scst.set_drv_attr"](name, attr, want),
                    edit=scst_plan.unchanged,
                )
        return plan

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
