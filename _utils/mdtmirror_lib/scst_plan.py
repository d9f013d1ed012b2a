"""
The SCST states' planning, pure: how a declared value compares with what sysfs
reads back (:py:func:`norm`, :py:func:`same`), the initiator list a group may
declare (:py:func:`check_initiators`), and the *edits* each planned change
makes to the running configuration (``scst.running_config``'s data), from
which ``scst.config_saved`` predicts, under ``test=True``, the ``scst.conf``
the real run will write (:py:func:`repaired_configs`). An edit maps one
configuration to the list of configurations the change may give (none: the
result cannot be told before the kernel has done it).
"""

import copy

from salt.exceptions import SaltInvocationError

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
