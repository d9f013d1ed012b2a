"""
The SCST states' planning, pure: how a declared value compares with what sysfs
reads back (:py:func:`norm`, :py:func:`same`), the initiator list a group may
declare (:py:func:`check_initiators`), and the *edits* each planned change
makes to the running configuration (``scst.running_config``'s data), from
which ``scst.config_saved`` predicts, under ``test=True``, the ``scst.conf``
the real run will write (:py:func:`repaired_configs`). An edit maps one
configuration to the list of configurations the change may give (none: the
result cannot be told before the kernel has done it).

:py:class:`Planner` builds each SCST state's plan (``stateplan.Plan``) by
reading only, through the ``scst`` execution module: the state hands in its
``__salt__``, whether this is a test run, and the backing devices an earlier
state of the run will make.
"""

import copy

from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib.stateplan import Plan

WILDCARD_CHARS = set("*?!")

# A few attribute writes give 2**n possible results; more than this and a write is predicted.
MAX_RESULTS = 64


def norm(value):
    """Normalise a value for comparison with what sysfs reads back."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value).strip()


def same(have, want):
    if have == want:
        return True
    try:
        return int(have, 0) == int(want, 0)
    except ValueError:
        return False


def check_initiators(initiators, allow_wildcard):
    if isinstance(initiators, str):
        raise SaltInvocationError("initiators must be a list of initiator names")
    for ini in initiators:
        if WILDCARD_CHARS & set(str(ini)) and not allow_wildcard:
            raise SaltInvocationError(
                f"initiator {ini!r} is a pattern: it would let any matching host see the LUN. "
                "List initiator names, or set allow_wildcard: True to mean it"
            )
    if len(set(initiators)) != len(initiators):
        raise SaltInvocationError(f"initiators list has duplicates: {initiators}")


def empty_target():
    """What a target SCST has not made yet looks like (test=True before SCST is loaded)."""
    return {"enabled": False, "groups": {}, "luns": {}, "attributes": {}, "writable": []}


def lun_set(info, group):
    """The LUNs of ``group`` of a target's info (its default set when ``group`` is None)."""
    if group is None:
        return info["luns"]
    # A group that does not exist yet (test=True before group_present ran)
    # has no LUNs; in a real run scst.add_lun reports a missing group.
    return info["groups"].get(group, {}).get("luns", {})


# -- edits of the running configuration ----------------------------------------


def unchanged(config):
    """The edit of a change the saved configuration does not show (module options, driver attributes)."""
    return [config]


def edit(change):
    """An edit that changes one copy of the configuration in place (``change(config)``); a missing
    object (KeyError) means the result cannot be told."""

    def apply(config):
        out = copy.deepcopy(config)
        try:
            change(out)
        except (KeyError, StopIteration):
            return []
        return [out]

    return apply


def attr_edit(where, attr, want):
    """
    An attribute written back: SCST renders it in the saved configuration
    when it marks it ``[key]``, which depends on the attribute and its value
    (a default value is not key); both outcomes are possible results.
    """
    rendered = edit(lambda config: where(config).__setitem__(attr, want))
    not_rendered = edit(lambda config: where(config).pop(attr, None))
    return lambda config: rendered(config) + not_rendered(config)


def device_attrs(name):
    return lambda config: next(devices[name] for devices in config["handlers"].values() if name in devices)


def target_conf(driver, target):
    return lambda config: config["drivers"][driver][target]


def group_conf(driver, target, group):
    def where(config):
        tinfo = config["drivers"][driver][target]
        return tinfo["groups"][group] if group else tinfo

    return where


def initiators_edit(config, driver, target, group, add=None, remove=None):
    ginfo = config["drivers"][driver][target]["groups"][group]
    names = set(ginfo["initiators"]) - {remove} | ({add} if add else set())
    ginfo["initiators"] = sorted(names)  # as scst.running_config lists them


def enabled_edit(config, driver, target, enabled):
    tinfo = config["drivers"][driver][target]
    if enabled and "rel_tgt_id" not in tinfo["attributes"]:
        # The first enable makes SCST assign rel_tgt_id (then [key]): its value cannot be told.
        raise KeyError("rel_tgt_id")
    tinfo["enabled"] = enabled


def lun_edit(config, driver, target, group, lun, device, read_only):
    luns = group_conf(driver, target, group)(config)["luns"]
    luns[lun] = {"device": device, "read_only": read_only}
    ordered = dict(sorted(luns.items()))
    luns.clear()
    luns.update(ordered)


def repaired_configs(running, pending):
    """The running configurations ``running`` may become once ``pending`` (``[(state, edits)]``) is
    made, or None when a change's effect cannot be told (or too many results are possible)."""
    configs = [running]
    for _, edits in pending:
        for change in edits:
            if change is None:
                return None
            configs = [result for config in configs for result in change(config)]
            if not configs or len(configs) > MAX_RESULTS:
                return None
    return configs


class Planner:
    """
    The plans of the SCST states, made by reading only (``salt``: the state's
    ``__salt__``; ``test``: ``__opts__["test"]``; ``devices_to_be``: backing
    paths an earlier state of this run makes, which test=True cannot look at yet).
    Each method returns a ``stateplan.Plan`` or raises what the state reports.
    """

    def __init__(self, salt, test, devices_to_be=()):
        self.salt = salt
        self.test = test
        self.devices_to_be = devices_to_be

    def not_loaded_yet(self):
        """
        True when SCST is not loaded and this is a test run: the modules state
        would load it, so plans are made against an empty SCST (everything to be
        created) instead of failing.
        """
        return self.test and not self.salt["scst.is_loaded"]()

    def device(self, name):
        """Device ``name`` as ``scst.list_devices`` shows it, None when there is none (or SCST is not
        loaded yet, under test=True). The other devices are not read."""
        if self.not_loaded_yet() or not self.salt["scst.device_exists"](name):
            return None
        return self.salt["scst.list_devices"](name)[name]

    def resolve_target(self, target, hca, port, driver):
        if target:
            return target
        if self.not_loaded_yet():
            # SCST >= 3.1 will name the port's target by its GID 0.
            ports = [
                p
                for p in self.salt["scst.local_ports"]()
                if (hca is None or p["hca"] == hca) and (port is None or p["port"] == int(port))
            ]
            if len(ports) != 1 or not ports[0]["gid"]:
                raise CommandExecutionError(
                    f"SCST is not loaded and {len(ports)} local RDMA ports match hca={hca} port={port}: "
                    "cannot predict which ib_srpt target to use; set hca and port"
                )
            return ports[0]["gid"]
        return self.salt["scst.port_target"](hca=hca, port=port, driver=driver)

    def target_info(self, driver, target, parts):
        """One target's ``parts`` (``scst.show_target``): a state reads what it decides on, no more."""
        if self.not_loaded_yet():
            return empty_target()
        return self.salt["scst.show_target"](target, driver=driver, parts=parts)

    def modules_loaded(self, modules, options, persist):
        plan = Plan()
        for mod in options:
            if mod not in modules:
                raise SaltInvocationError(f"options given for {mod!r}, which is not in modules {modules}")
        loaded = self.salt["scst.modules_loaded"](modules)
        for mod in modules:
            if not loaded[mod]:
                plan.add(
                    f"module:{mod}",
                    "not loaded",
                    "loaded",
                    lambda mod=mod: self.salt["scst.load"]([mod], options={mod: options.get(mod) or {}}),
                )
        if persist:
            for mod, opts in options.items():
                wanted = {k: norm(v) for k, v in (opts or {}).items()}
                current = self.salt["scst.persisted_options"](mod)
                legacy = self.salt["scst.legacy_options"](mod)
                if legacy is not None:  # an old /etc/default/scst line: moved to modprobe.d
                    current = {"/etc/default/scst": f"{mod}_parameters={legacy}", **current}
                if current != wanted:
                    plan.add(
                        f"options:{mod}",
                        current,
                        wanted,
                        lambda mod=mod, opts=opts: self.salt["scst.persist_options"](mod, opts),
                    )
        return plan

    def device_present(self, name, handler, filename, attributes, allow_nv_cache):
        plan = Plan()
        info = self.device(name)
        if info is None:
            args = dict(attributes)
            new = {
                "handler": handler,
                "filename": filename,
                "attributes": {k: norm(v) for k, v in args.items()},
            }
            # Validates names and metadata-safety rules before anything runs; under test=True a backing
            # device an earlier state of this run makes (a zvol) cannot be looked at yet.
            to_be = self.test and filename in self.devices_to_be
            self.salt["scst.validate_device"](
                name, handler, filename=filename, allow_nv_cache=allow_nv_cache, check_backing=not to_be, **args
            )
            plan.add(
                name,
                None,
                new,
                lambda: self.salt["scst.open_dev"](
                    name, handler, filename=filename, allow_nv_cache=allow_nv_cache, **args
                ),
            )
            return plan
        problems = []
        if info["handler"] != handler:
            problems.append(f"handler is {info['handler']}, declared {handler}")
        if filename is not None and info["filename"] != filename:
            problems.append(f"filename is {info['filename']}, declared {filename}")
        current = info["attributes"]
        if current.get("nv_cache", "0") != "0" and not allow_nv_cache:
            problems.append("nv_cache is 1 (SCST ignores cache flushes: metadata at risk)")
        for attr, value in sorted(attributes.items()):
            want = norm(value)
            have = current.get(attr)
            if have is None:
                problems.append(f"it has no attribute {attr!r}")
            elif same(have, want):
                continue
            elif attr in info["writable"]:
                plan.add(
                    f"{name}:{attr}",
                    have,
                    want,
                    lambda attr=attr, want=want: self.salt["scst.set_dev_attr"](name, attr, want),
                    edit=attr_edit(device_attrs(name), attr, want),
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

    def device_absent(self, name, force):
        plan = Plan()
        info = self.device(name)
        if info is not None:
            exports = [e for e in info["exported"] if e["driver"] != "copy_manager"]
            if exports and not force:
                # Same check as scst.close_dev, made at plan time so that
                # test=True predicts the refusal.
                self.salt["scst.close_dev"](name, force=False)
            plan.add(
                name,
                {"handler": info["handler"], "filename": info["filename"]},
                None,
                lambda: self.salt["scst.close_dev"](name, force=force),
            )
        return plan

    def group_present(self, name, initiators, target, driver, hca, port, allow_wildcard):
        self.salt["scst.validate_name"]("group", name)
        check_initiators(initiators, allow_wildcard)
        for ini in initiators:
            self.salt["scst.validate_initiator"](ini)
        tgt = self.resolve_target(target, hca, port, driver)
        info = self.target_info(driver, tgt, ["groups"])
        plan = Plan()
        group = info["groups"].get(name)
        if group is None:
            plan.add(
                f"{tgt}:{name}",
                None,
                "created",
                lambda: self.salt["scst.add_group"](tgt, name, driver=driver),
                edit=edit(
                    lambda c: target_conf(driver, tgt)(c)["groups"].setdefault(name, {"luns": {}, "initiators": []})
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
                    lambda ini=ini: self.salt["scst.add_init"](tgt, name, ini, driver=driver),
                    edit=edit(lambda c, ini=ini: initiators_edit(c, driver, tgt, name, add=ini)),
                )
        for ini in have:
            if ini not in initiators:
                plan.add(
                    f"{tgt}:{name}:initiator:{ini}",
                    "present",
                    None,
                    lambda ini=ini: self.salt["scst.del_init"](tgt, name, ini, driver=driver),
                    edit=edit(lambda c, ini=ini: initiators_edit(c, driver, tgt, name, remove=ini)),
                )
        return plan

    def group_absent(self, name, target, driver, hca, port, force):
        self.salt["scst.validate_name"]("group", name)
        tgt = self.resolve_target(target, hca, port, driver)
        info = self.target_info(driver, tgt, ["groups"])
        plan = Plan()
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
                lambda: self.salt["scst.del_group"](tgt, name, driver=driver, force=force),
                edit=edit(lambda c: target_conf(driver, tgt)(c)["groups"].pop(name)),
            )
        return plan

    def lun_present(self, name, lun, device, group, target, driver, hca, port, read_only):
        lun_number = self.salt["scst.validate_lun"](lun)
        self.salt["scst.validate_name"]("device", device)
        if group is not None:
            self.salt["scst.validate_name"]("group", group)
        tgt = self.resolve_target(target, hca, port, driver)
        info = self.target_info(driver, tgt, ["groups"] if group is not None else ["luns"])
        plan = Plan()
        current = lun_set(info, group).get(lun_number)
        where = f"{driver}/{tgt}" + (f" group {group}" if group else "")
        if current is None:
            plan.add(
                f"{tgt}:{group or '-'}:lun{lun_number}",
                None,
                {"device": device, "read_only": bool(read_only)},
                lambda: self.salt["scst.add_lun"](
                    tgt, lun_number, device, group=group, driver=driver, read_only=read_only
                ),
                edit=edit(lambda c: lun_edit(c, driver, tgt, group, lun_number, device, bool(read_only))),
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

    def lun_absent(self, name, lun, group, target, driver, hca, port):
        lun_number = self.salt["scst.validate_lun"](lun)
        tgt = self.resolve_target(target, hca, port, driver)
        info = self.target_info(driver, tgt, ["groups"] if group is not None else ["luns"])
        plan = Plan()
        current = lun_set(info, group).get(lun_number)
        if current is not None:
            plan.add(
                f"{tgt}:{group or '-'}:lun{lun_number}",
                current,
                None,
                lambda: self.salt["scst.del_lun"](tgt, lun_number, group=group, driver=driver),
                edit=edit(lambda c: group_conf(driver, tgt, group)(c)["luns"].pop(lun_number)),
            )
        return plan

    def target_enabled(self, enabled, target, driver, hca, port):
        tgt = self.resolve_target(target, hca, port, driver)
        info = self.target_info(driver, tgt, ["enabled"])
        plan = Plan()
        if info["enabled"] is None:
            raise CommandExecutionError(f"SCST target {driver}/{tgt} has no enabled attribute")
        if info["enabled"] != enabled:
            func = "scst.enable_target" if enabled else "scst.disable_target"
            plan.add(
                f"{tgt}:enabled",
                info["enabled"],
                enabled,
                lambda: self.salt[func](tgt, driver=driver),
                edit=edit(lambda c: enabled_edit(c, driver, tgt, enabled)),
            )
        return plan

    def target_attributes(self, attributes, target, driver, hca, port):
        tgt = self.resolve_target(target, hca, port, driver)
        info = self.target_info(driver, tgt, ["attributes"])
        plan = Plan()
        for attr, value in sorted((attributes or {}).items()):
            want = norm(value)
            if attr == "enabled":
                raise SaltInvocationError("use scst.target_enabled for 'enabled'")
            if attr not in info["attributes"]:
                raise CommandExecutionError(f"SCST target {driver}/{tgt} has no attribute {attr!r}")
            have = info["attributes"][attr]
            if not same(have, want):
                if attr not in info["writable"]:
                    raise CommandExecutionError(f"attribute {attr!r} of SCST target {driver}/{tgt} is read-only")
                plan.add(
                    f"{tgt}:{attr}",
                    have,
                    want,
                    lambda attr=attr, want=want: self.salt["scst.set_tgt_attr"](tgt, attr, want, driver=driver),
                    edit=attr_edit(lambda c: target_conf(driver, tgt)(c)["attributes"], attr, want),
                )
        return plan

    def driver_attributes(self, name, attributes):
        drivers = self.salt["scst.list_drivers"]()
        if name not in drivers:
            raise CommandExecutionError(f"SCST target driver {name!r} is not loaded")
        info = drivers[name]
        plan = Plan()
        for attr, value in sorted((attributes or {}).items()):
            want = norm(value)
            have = info["attributes"].get(attr)
            if have is None:
                hint = ""
                if name == "ib_srpt" and attr == "enabled":
                    hint = "; since SCST 3.1 ib_srpt has no driver-level enabled: use scst.target_enabled"
                raise CommandExecutionError(f"SCST driver {name} has no attribute {attr!r}{hint}")
            if not same(have, want):
                plan.add(
                    f"{name}:{attr}",
                    have,
                    want,
                    lambda attr=attr, want=want: self.salt["scst.set_drv_attr"](name, attr, want),
                    edit=unchanged,
                )
        return plan
