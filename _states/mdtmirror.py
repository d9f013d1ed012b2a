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
