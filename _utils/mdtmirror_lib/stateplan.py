"""
The one plan/apply machinery of every mdtmirror state: a state builds its plan
(ordered steps, each ``(key, {"old", "new"}, action)``) by reading only; then
``test=True`` reports exactly that plan (result None, the same ``changes``)
and a real run carries out exactly those steps. The prediction and the real
run come from one path, so they cannot drift apart.

Salt's dunders stay in the state modules: they hand in ``test``
(``__opts__["test"]``) and, for :py:func:`publish`, ``__salt__``.
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

# What a plan or a step may raise for a reason the user can act on: it becomes result False with its message.
ERRORS = (CommandExecutionError, SaltInvocationError)


class Plan:
    """
    Ordered changes: ``(key, {"old":..., "new":...}, action)``. Each may carry
    an ``edit`` (what it does to data a later state predicts from, e.g. the
    SCST running configuration scst.conf is written from; None when that
    cannot be told before the kernel has done it).
    """

    def __init__(self):
        self.steps = []
        self.edits = []

    def add(self, key, old, new, action, edit=None):
        self.steps.append((key, {"old": old, "new": new}, action))
        self.edits.append(edit)

    def __bool__(self):
        return bool(self.steps)


def new_ret(name):
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def fail(ret, exc):
    ret.update(result=False, comment=str(exc))
    return ret


def carry_out(ret, steps, test, ok_comment, what, notes=()):
    """
    Report (``test``) or carry out ``steps`` in order. A step that fails stops
    the run: result False with its message and what was done before it.
    """
    if not steps:
        ret["comment"] = "\n".join([ok_comment, *notes])
        return ret
    if test:
        ret.update(result=None, changes={key: change for key, change, _ in steps})
        ret["comment"] = "\n".join([f"Would apply: {what}", *notes])
        return ret
    for key, change, action in steps:
        try:
            action()
        except ERRORS as exc:
            fail(ret, exc)
            if ret["changes"]:
                ret["comment"] += " (done before the failure: " + ", ".join(ret["changes"]) + ")"
            return ret
        ret["changes"][key] = change
    ret["comment"] = "\n".join([f"Applied: {what}", *notes])
    return ret


def run(name, build_plan, test, ok_comment, what, on_prediction=None):
    """
    A state's whole run: build the plan (a refusal fails the state, also under
    ``test``), then :py:func:`carry_out`. ``on_prediction(plan)`` is called for a
    non-empty plan under ``test`` (a later state predicts from it).
    """
    ret = new_ret(name)
    try:
        plan = build_plan()
    except ERRORS as exc:
        return fail(ret, exc)
    if test and plan and on_prediction is not None:
        on_prediction(plan)
    return carry_out(ret, plan.steps, test, ok_comment, what)


def planned(ret, call, test, ok_comment, what):
    """
    The same for an execution function that plans itself (takes ``test``): its
    ``test=True`` answer is the prediction, its real run the changes it made.
    """
    try:
        plan = call(test=True)
        if not plan["changes"]:
            ret["comment"] = ok_comment
            return ret
        if test:
            ret.update(result=None, changes=plan["changes"], comment=f"Would apply: {what}")
            return ret
        done = call(test=False)
    except ERRORS as exc:
        return fail(ret, exc)
    ret.update(changes=done["changes"], comment=f"Applied: {what}")
    return ret


def publish(ret, salt):
    """After a change that makes facts the peer needs (a target, a port), refresh this minion's mine data."""
    if ret["result"] is True and ret["changes"] and "mine.update" in salt:
        try:
            salt["mine.update"]()
            ret["comment"] += "\nPublished to the Salt mine (mine.update)"
        except Exception as exc:  # noqa: BLE001  (a masterless minion has no mine; not an error here)
            ret["comment"] += f"\nmine.update failed: {exc}"
    return ret
