"""
States of the mdtmirror formula itself.
"""

__virtualname__ = "mdtmirror"


def __virtual__():
    return __virtualname__


def problem(name):
    """
    Fail, with ``name`` as the comment, also under ``test=True``: the formula
    renders one such state per pillar problem or missing peer fact, so that a
    dry run says what is wrong. (``test.fail_without_changes`` only says it
    "would fail" under test=True; ``test.configurable_test_state``'s
    ``allow_test_mode_failure`` does not exist on Salt 3006.)

    .. code-block:: yaml

        mdtmirror-pillar-error-1:
          mdtmirror.problem:
            - name: "pillar key mdtmirror:target:lun must be a LUN number 0..16383, not 'zero'"
    """
    return {"name": name, "changes": {}, "result": False, "comment": name}


def _configured():
    """
    The beacons this job's minion ran with when the job started: the minion process's ``beacons``
    option, which ``beacons.add``/``delete`` change and forked jobs inherit. Read without
    ``beacons.list``'s event round trip to the minion process (~70 ms of every apply); only a
    beacon found exactly as wanted is taken from it, anything else is asked the minion process.
    """
    return __opts__.get("beacons") or {}


def beacon_present(name, config, save=True):
    """
    The minion runs beacon ``name`` with ``config`` (a list of one-key
    mappings), saved to its beacons.conf with ``save``. Salt's
    ``beacon.present`` reports no change when it adds a beacon and raises
    under test=True when it would modify one (Salt 3006-3008); this one
    reports ``{"old", "new"}`` either way, from the same comparison in both
    modes.

    .. code-block:: yaml

        mdtmirror-beacon:
          mdtmirror.beacon_present:
            - name: mdtmirror
            - config: [{interval: 10}, {pair: mdt0}, {pool: mdtpool}]
    """
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    config = [dict(item) for item in config]
    if _configured().get(name) == config:
        ret["comment"] = f"beacon {name} is configured"
        return ret
    current = (__salt__["beacons.list"](return_yaml=False, include_opts=True, include_pillar=False) or {}).get(name)
    if current == config:
        ret["comment"] = f"beacon {name} is configured"
        return ret
    ret["changes"] = {"old": current, "new": config}
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"beacon {name} would be {'added' if current is None else 'changed'}"
        return ret
    verb = "add" if current is None else "modify"
    done = __salt__[f"beacons.{verb}"](name, config)
    if not done.get("result"):
        ret["changes"] = {}
        ret["result"] = False
        ret["comment"] = f"beacon {name} could not be {verb}ed: {done.get('comment')}"
        return ret
    if save:
        saved = __salt__["beacons.save"]()
        if not saved.get("result"):
            ret["result"] = False
            ret["comment"] = f"beacon {name} is running but was not saved: {saved.get('comment')}"
            return ret
    ret["comment"] = f"beacon {name} {'added' if current is None else 'changed'}" + (" and saved" if save else "")
    return ret


def beacon_absent(name, save=True):
    """
    The minion does not run beacon ``name`` (Salt's ``beacon.absent``, with
    ``save``), asking the minion process only when this job's options list it.

    .. code-block:: yaml

        mdtmirror-beacon:
          mdtmirror.beacon_absent:
            - name: mdtmirror
    """
    if name not in _configured():
        return {"name": name, "changes": {}, "result": True, "comment": f"beacon {name} is not configured"}
    return __states__["beacon.absent"](name, save=save)
