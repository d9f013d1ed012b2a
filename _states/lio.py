"""
Declarative LIO SRP target configuration on top of the ``lio`` execution
module: the target side of mdtmirror for nodes whose target framework is the
kernel's own (``mdtmirror:target:backend: lio``).

Each state reads the running configfs tree, computes a plan (changes, each
with the call that makes it) and reports it (``test=True``) or carries it
out, so the prediction and the real run come from the same code.

.. code-block:: yaml

    srpt:
      lio.fabric_ready:
        - rdma_cm_port: 5555

    MDT0:
      lio.backstore_present:
        - dev: /dev/disk/by-id/scsi-35000c500a1b2c3d4
        - serial: 6f1c...                # lio.default_serial <node> MDT0

    mdt0-lun:
      lio.lun_exported:
        - backstore: MDT0
        - lun: 0
        - initiators:
          - fe80:0000:0000:0000:0002:c903:0003:cca7    # the peer port's GID

    srp-target:
      lio.target_enabled: []

    lio-config:
      lio.config_saved:
        - path: /etc/rtslib-fb-target/saveconfig.json
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import lio_tree, stateplan  # noqa: E402  (after current(): the fresh copy)
from mdtmirror_lib.stateplan import Plan as _Plan  # noqa: E402

__virtualname__ = "lio"

_PENDING = "mdtmirror.lio.pending"


def __virtual__():
    if "lio.list_backstores" in __salt__:
        return __virtualname__
    return (False, "the lio execution module is not available")


_ret = stateplan.new_ret
_fail = stateplan.fail


def _run(name, build_plan, ok_comment, done_comment):
    def pending(plan):
        __context__.setdefault(_PENDING, []).append(name)

    return stateplan.run(name, build_plan, __opts__["test"], ok_comment, done_comment, on_prediction=pending)


def _not_ready_yet():
    """Under test=True before the modules are loaded, plan against an empty LIO."""
    return __opts__["test"] and not __salt__["lio.is_loaded"]()


def _backstores():
    return {} if _not_ready_yet() else __salt__["lio.list_backstores"]()


def _targets():
    return {} if _not_ready_yet() else __salt__["lio.list_targets"]()


def _target(target, hca, port):
    return target or __salt__["lio.port_target"](hca=hca, port=port)


def _publish(ret):
    """Once the fabric exists, the facts the peer needs are there: refresh this minion's mine data."""
    return stateplan.publish(ret, __salt__)


def fabric_ready(name, rdma_cm_port=None, publish=False):
    """
    Ensure LIO's srpt fabric directory exists and, for RoCE/iWARP, its RDMA/CM
    listener port is ``rdma_cm_port``. ``name`` is a label. With
    ``publish``, a run that changes something then runs ``mine.update``.
    """

    def build():
        plan = _Plan()
        ready = __salt__["lio.is_loaded"]()
        if not ready:
            plan.add("fabric", None, "srpt", lambda: __salt__["lio.fabric_ready"]())
        if rdma_cm_port is not None:
            current = None
            if ready:
                current = __salt__["lio.running_rdma_cm_port"]()
            if current != int(rdma_cm_port):
                plan.add(
                    "rdma_cm_port",
                    current,
                    int(rdma_cm_port),
                    lambda: __salt__["lio.fabric_ready"](rdma_cm_port=rdma_cm_port),
                )
        return plan

    ret = _run(name, build, "LIO's srpt fabric is ready", "LIO srpt fabric")
    return _publish(ret) if publish else ret


def backstore_present(name, dev, serial, attributes=None):
    """
    Ensure an iblock backstore ``name`` exports block device ``dev`` with T10
    unit serial ``serial`` (the peer's ``/dev/disk/by-id`` name comes from it)
    and the given ``attributes`` (configfs ``attrib/`` names).

    A backstore that exists on another device or with another serial is an
    error, not re-made: that would take the LUN away from the peer (and a new
    serial renames the peer's disk under its pool).
    """
    attributes = dict(attributes or {})

    def build():
        plan = _Plan()
        stores = _backstores()
        known = lio_tree.backstore_entry(stores, name) is not None
        __salt__["lio.validate_backstore"](name, dev, new=not known)
        if not known:
            plan.add(
                name,
                None,
                {"dev": dev, "serial": serial, "attributes": {k: str(v) for k, v in attributes.items()}},
                lambda: __salt__["lio.create_backstore"](name, dev, serial, attributes=attributes),
            )
            return plan
        info = stores[name]
        problems = []
        if info["plugin"] != "block":
            problems.append(f"it is a {info['plugin']} backstore, not iblock (exclusive, no page cache)")
        if info["dev"] != dev:
            problems.append(f"its device is {info['dev']}, declared {dev}")
        if info["serial"] != serial:
            problems.append(f"its unit serial is {info['serial'] or 'empty'}, declared {serial}")
        if problems:
            raise CommandExecutionError(
                f"LIO backstore {name} exists but differs: {'; '.join(problems)}. Re-making it takes the LUN "
                "away from the peer; remove it explicitly first"
            )
        current = __salt__["lio.backstore_attributes"](name)
        for attr, value in sorted(attributes.items()):
            have = current.get(attr)
            if have is None:
                raise CommandExecutionError(f"LIO backstore {name} has no attribute {attr!r}")
            if str(have) != str(value):
                plan.add(
                    f"{name}:{attr}",
                    have,
                    str(value),
                    lambda attr=attr, value=value: __salt__["lio.set_backstore_attr"](name, attr, value),
                )
        if not info["enabled"]:
            raise CommandExecutionError(f"LIO backstore {name} exists but is not enabled ({info['status']})")
        return plan

    return _run(name, build, f"LIO backstore {name} is as declared", f"LIO backstore {name}")


def backstore_absent(name):
    """
    Ensure backstore ``name`` does not exist, nor any LUN or ACL mapping
    that exports it (the active node's disk belongs to its pool, not to
    an export).
    """

    def build():
        plan = _Plan()
        info = lio_tree.backstore_entry(_backstores(), name)
        if info is not None:
            plan.add(
                name,
                {"dev": info["dev"], "exports": info["exports"]},
                None,
                lambda: __salt__["lio.delete_backstore"](name),
            )
        return plan

    return _run(name, build, f"LIO backstore {name} is absent", f"LIO backstore {name} removed")


def lun_exported(name, backstore, lun, initiators, target=None, hca=None, port=None):
    """
    Ensure the local port's srpt target (TPG 1) exports ``backstore`` as
    LUN ``lun`` to exactly ``initiators`` (the peer ports' GIDs, or initiator
    port IDs ``0x`` + 32 hex digits): one ACL each, mapping that LUN. ACLs of
    initiators not listed are removed. ``name`` is a label.
    """
    initiators = [str(i) for i in (initiators or [])]

    def build():
        acls = sorted({__salt__["lio.acl_name"](i) for i in initiators})
        tgt = _target(target, hca, port)
        info = _targets().get(tgt) or {"tpg": False, "luns": {}, "acls": {}}
        plan = _Plan()
        lun_number = int(lun)
        have = info["luns"].get(lun_number)
        if have is None:
            plan.add(
                f"{tgt}:lun_{lun_number}",
                None,
                backstore,
                lambda: __salt__["lio.add_lun"](tgt, lun_number, backstore),
            )
        elif have["backstore"] != backstore:
            raise CommandExecutionError(
                f"LUN {lun_number} of srpt target {tgt} exports {have['backstore']}, declared {backstore}; "
                "remove that LUN explicitly first"
            )
        for acl in acls:
            if info["acls"].get(acl, {}).get(lun_number) != lun_number:
                plan.add(
                    f"{tgt}:acl:{acl}",
                    None if acl not in info["acls"] else "without this LUN",
                    f"lun_{lun_number}",
                    lambda acl=acl: __salt__["lio.add_acl"](tgt, acl, lun_number),
                )
        for acl in sorted(info["acls"]):
            if acl not in acls:
                plan.add(f"{tgt}:acl:{acl}", "present", None, lambda acl=acl: __salt__["lio.del_acl"](tgt, acl))
        return plan

    return _run(name, build, f"LUN {lun} exports {backstore} as declared", f"LUN {lun} of {backstore}")


def target_enabled(name, target=None, hca=None, port=None):
    """Ensure the local port's srpt target accepts logins (TPG 1 enabled). ``name`` is a label."""

    def build():
        tgt = _target(target, hca, port)
        info = _targets().get(tgt)
        plan = _Plan()
        if not info or not info["enabled"]:
            plan.add(tgt, "disabled", "enabled", lambda: __salt__["lio.enable_target"](tgt))
        return plan

    return _run(name, build, "the srpt target is enabled", "enabling the srpt target")


def config_saved(name, path):
    """
    Ensure ``path`` (rtslib's saveconfig.json: Debian
    ``/etc/rtslib-fb-target/saveconfig.json``) holds the running LIO
    configuration, which the distribution's restore service
    (``rtslib-fb-targetctl``/``target``) loads at boot. ``name`` is a label.
    Under ``test=True`` a rewrite is predicted also when earlier LIO states
    of the run have changes pending.
    """
    ret = _ret(name)
    if not str(path).startswith("/"):
        return _fail(ret, SaltInvocationError(f"config path {path!r} must be absolute"))
    pending = __context__.get(_PENDING, [])
    try:
        result = {"changed": True, "path": path} if _not_ready_yet() else __salt__["lio.save_config"](path, test=True)
    except (CommandExecutionError, SaltInvocationError, OSError) as exc:
        return _fail(ret, exc)
    if not result["changed"] and not (__opts__["test"] and pending):
        ret["comment"] = f"{path} matches the running LIO configuration"
        return ret
    change = {path: {"old": "stale or missing", "new": "running configuration"}}
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = change
        ret["comment"] = f"Would write {path}"
        return ret
    try:
        __salt__["lio.save_config"](path)
    except (CommandExecutionError, SaltInvocationError, OSError) as exc:
        return _fail(ret, exc)
    ret["changes"] = change
    ret["comment"] = f"Wrote {path}"
    return ret
