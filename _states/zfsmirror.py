"""
Declarative ZFS side of an MDT mirror on top of the ``zfsmirror`` execution module.

.. code-block:: yaml

    mdtpool:
      zfsmirror.pool_mirrored:
        - local: /dev/disk/by-id/wwn-0x6001405a0000000a
        - remote: /dev/disk/by-id/wwn-0x6001405b0000000b   # the peer's LUN over SRP
        - properties: {ashift: 12}
        - filesystem_properties: {canmount: "off"}

    shps-meta/MDT:                  # only where there is no hardware RAID under the LUN
      zfsmirror.zvol_present:
        - size: 300G
        - properties: {volblocksize: 16K}

    mdt0-snapshots:
      zfsmirror.snapshot_schedule_present:
        - dataset: mdtpool/mdt0
        - policy: {frequently: 4, hourly: 48, daily: 90, monthly: 6}
        - interval: 15

    mdt0-backup:
      zfsmirror.backups_configured:
        - dataset: mdtpool/mdt0
        - destination: ssh:backup@bk01:tank/mdt0
        - on_calendar: "*-*-* 02:30:00"

Every state asks the execution module for its plan first (the module's
``test=True``: only reading commands run) and either reports it
(``test=True``: result None, the same changes) or has the module carry it
out, so predictions and real runs come from the same code. Refusals (a disk in
use, a pool imported elsewhere, a device heal must not touch) fail in test
mode too, naming the disk or pool.

The periodic jobs are systemd timers written by the module (see
``zfsmirror.snapshot_job`` for why not the minion's scheduler or cron); they
run ``salt-call --local``, so the modules must be installed on the servers
(pip) or synced (``saltutil.sync_all``).
"""

from salt.exceptions import CommandExecutionError, SaltInvocationError

import mdtmirror_lib

mdtmirror_lib = mdtmirror_lib.current()  # the copy on disk now (after a saltutil.sync_all upgrade)
from mdtmirror_lib import stateplan  # noqa: E402  (after current(): the fresh copy)

__virtualname__ = "zfsmirror"


def __virtual__():
    if "zfsmirror.status" in __salt__:
        return __virtualname__
    return (False, "the zfsmirror execution module is not available")


_ret = stateplan.new_ret
_fail = stateplan.fail


def _planned(ret, call, ok_comment, what):
    """Report (test) or carry out the plan of a module function that takes ``test``."""
    return stateplan.planned(ret, call, __opts__["test"], ok_comment, what)


def _health_words(name, health):
    """``health`` is a zfsmirror.heal result."""
    scan = health.get("resilver") or {}
    if scan.get("state") == "scanning":
        percent = scan.get("percent")
        return f"pool {name} is resilvering" + (f" ({percent:.1f}% done)" if percent is not None else "")
    if health.get("redundant"):
        return f"pool {name} is a healthy mirror of its local and remote sides"
    return f"pool {name} is not redundant: " + ("; ".join(health.get("problems") or []) or "unknown reason")


def pool_mirrored(
    name,
    local,
    remote,
    properties=None,
    filesystem_properties=None,
    force=False,
    remote_pending=False,
    imported_first=False,
    publish=False,
):
    """
    Ensure pool ``name`` is imported here as a mirror of the ``local`` LUN and
    the ``remote`` one (the peer's, over SRP), both best given as
    ``/dev/disk/by-id`` paths.

    - Not imported here: it is created (``zfsmirror.create``: multihost on,
      cachefile none, a hostid made if missing). Refused when the pool is on
      the disks already (exported, or imported by the peer: importing is a
      failover decision, not this state's), or when a disk is in use, unless
      ``force: True`` (then ``zpool create -f``).
    - Imported: ``properties`` (and ``multihost=on``) are set where they
      differ, and a degraded mirror is healed (``zfsmirror.heal``: online,
      clear, replace or attach the side that came back). A side whose device
      is not there makes the state fail, naming it. A running resilver is
      reported, not waited for.

    A healthy, matching pool gives no changes. ``remote_pending``: the
    remote disk comes with an SRP login made earlier in the same run, so
    under ``test=True`` it may be missing still (see ``zfsmirror.create``).
    ``imported_first``: a ``pool_imported`` state of the same run imports the
    pool before this one (a node back as the active one): never created
    here; under ``test=True`` that import is the prediction.
    ``publish``: a pool created here is published to the Salt mine
    (``mine.update``: the peer's plan reads where the pool is imported).
    """
    ret = _ret(name)
    test = __opts__["test"]
    try:
        # One `zpool get` tells an imported pool (the no-op path) and gives its properties.
        current = __salt__["zfsmirror.pool_properties"](name, missing_ok=True)
        if current is None and imported_first:
            if test:
                ret.update(
                    result=None, comment=f"Pool {name} is imported first by this run; its sides are checked then"
                )
            else:
                ret.update(result=False, comment=f"pool {name} is not imported: its import in this run did not happen")
            return ret
        if current is None:
            kwargs = dict(properties=properties, filesystem_properties=filesystem_properties, force=force)
            plan = __salt__["zfsmirror.create"](name, local, remote, test=True, remote_pending=remote_pending, **kwargs)
            notes = plan["warnings"]
            if test:
                ret.update(
                    result=None,
                    changes=plan["changes"],
                    comment="\n".join([f"Would create pool {name}: mirror of {' and '.join(plan['devices'])}", *notes]),
                )
                return ret
            done = __salt__["zfsmirror.create"](
                name, local, remote, test=False, remote_pending=remote_pending, **kwargs
            )
            ret["changes"] = done["changes"]
            health = __salt__["zfsmirror.heal"](name, local, remote, test=True)
            ret["comment"] = "\n".join([f"Created pool {name}: {_health_words(name, health)}", *notes])
            return stateplan.publish(ret, __salt__) if publish else ret

        notes = []
        wanted = dict(properties or {})
        wanted["multihost"] = "on"
        props = __salt__["zfsmirror.set_pool_properties"](name, wanted, test=True, current=current)
        if (current.get("cachefile") or {}).get("value") is None:
            notes.append(
                f"pool {name} is in the default cache file: zfs-import-cache.service imports it at boot; "
                f"'zpool set cachefile=none {name}' leaves importing to the HA layer"
            )
        if not __salt__["zfsmirror.hostid_present"]():
            notes.append("this host has no /etc/hostid: the next boot's hostid will differ (zgenhostid)")
        healing = __salt__["zfsmirror.heal"](name, local, remote, test=True)
        changes = dict(props["changes"])
        changes.update(healing["changes"])
        if test or not changes:
            ret["changes"] = changes
            if healing["waits"] and test and remote_pending and remote in healing.get("missing", []):
                # The remote disk comes with the SRP login this same run makes (a degraded active whose
                # peer came back): what heal then does (online, or detach + attach) is known only then.
                ret["changes"] = dict(changes, **{remote: {"old": "not there", "new": "healed after the login"}})
                ret.update(
                    result=None,
                    comment="\n".join(
                        [
                            f"Would heal pool {name} once the pending SRP login brings {remote}",
                            *healing["waits"],
                            *notes,
                        ]
                    ),
                )
            elif healing["waits"]:
                ret.update(result=False, comment="\n".join(healing["waits"] + notes))
            elif changes:
                ret.update(result=None, comment="\n".join([f"Would apply: pool {name} properties/healing", *notes]))
            else:
                ret["comment"] = "\n".join([_health_words(name, healing), *notes])
            return ret
        done = {}
        if props["changes"]:
            done.update(__salt__["zfsmirror.set_pool_properties"](name, wanted, test=False)["changes"])
        ret["changes"] = done
        healed = __salt__["zfsmirror.heal"](name, local, remote, test=False)
        done.update(healed["changes"])
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    if healed["waits"]:
        ret.update(result=False, comment="\n".join(healed["waits"] + notes))
        return ret
    ret["comment"] = "\n".join([f"Applied: {_health_words(name, healed)}", *notes])
    return ret


def hostid_present(name):
    """
    Ensure this host has a hostid (``/etc/hostid``, made with ``zgenhostid``
    when missing). Multihost needs a unique one on every node that may import
    the pool, the standby included. An existing hostid is never changed.
    """
    ret = _ret(name)
    try:
        plan = __salt__["zfsmirror.ensure_hostid"](test=True)
        if not plan["changed"]:
            ret["comment"] = f"hostid {plan['hostid']} is set"
            return ret
        change = {"hostid": {"old": None, "new": plan["path"]}}
        if __opts__["test"]:
            ret.update(result=None, changes=change, comment=plan["comment"])
            return ret
        done = __salt__["zfsmirror.ensure_hostid"]()
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    ret.update(changes=change, comment=done["comment"])
    return ret


def pool_exported(name):
    """
    Ensure pool ``name`` is not imported here (``zfsmirror.export_pool``:
    never forced; a busy pool, e.g. a mounted MDT, fails naming zpool's
    reason). The first step of a switchover on the active node.
    """
    return _planned(
        _ret(name),
        lambda test: __salt__["zfsmirror.export_pool"](name, test=test),
        f"pool {name} is not imported here",
        f"pool {name} exported",
    )


def pool_imported(name, force=False, whole=False, remote_pending=False, publish=False):
    """
    Ensure pool ``name`` is imported here (``zfsmirror.import_pool``, with
    ``cachefile=none``). Multihost is the fence: a pool another host has
    imported is refused whatever ``force`` says; ``force: True`` only allows
    importing a pool that another host last used and did not export (it
    crashed: a takeover). ``whole: True`` imports only a pool whose sides
    are all seen (a node back as the active one after a reboot).
    ``remote_pending``: the peer's side comes with an SRP login made earlier
    in the same run, so under ``test=True`` it may be missing still. The
    comment gives the pool's health after import. ``publish``: an import
    is published to the Salt mine (``mine.update``).
    """
    ret = _ret(name)
    test = bool(__opts__["test"])
    try:
        # One call decides and, in a real run, imports: the import listing of a pool that was not exported
        # waits out multihost's activity check (~25 s on the real-kernel pair), so it is read once.
        try:
            done = __salt__["zfsmirror.import_pool"](name, force=force, test=test, whole=whole)
        except CommandExecutionError as exc:
            if not (test and whole and remote_pending):
                raise
            # The login this run makes brings the peer's side; the real run checks the listing again then.
            ret.update(
                result=None,
                changes={name: {"old": "exported", "new": "imported"}},
                comment=f"Would import pool {name} once this run's SRP login brings the peer's side (now: {exc})",
            )
            return ret
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _fail(ret, exc)
    if not done["changed"]:
        ret["comment"] = f"pool {name} is imported here ({done['health']})"
    elif test:
        ret.update(result=None, changes=done["changes"], comment=f"Would import pool {name}: {done['note']}")
    else:
        ret.update(changes=done["changes"], comment=f"Imported pool {name} ({done['health']}): {done['note']}")
        return stateplan.publish(ret, __salt__) if publish else ret
    return ret


def zvol_present(name, size, properties=None):
    """
    Ensure zvol ``name`` (``pool/volume``) exists with ``size`` and
    ``properties`` to back the exported LUN where there is no hardware RAID,
    and that its parent dataset does not mount (``canmount=off``). A zvol of
    another size or with another create-time property is an error, never
    resized or recreated.
    """
    ret = _planned(
        _ret(name),
        lambda test: __salt__["zfsmirror.create_zvol"](name, size, properties=properties, test=test),
        f"zvol {name} is as declared",
        f"zvol {name}",
    )
    if __opts__["test"] and ret["result"] is None:
        # The export of this run that reads /dev/zvol/<name> must not refuse it as missing under
        # test=True: the real run makes it first (scst.device_present reads this).
        __context__.setdefault("mdtmirror.devices_to_be", set()).add(f"/dev/zvol/{name}")
    return ret


def snapshot_schedule_present(name, dataset, policy, prefix="mdtmirror-", interval=60, on_calendar=None):
    """
    Ensure the systemd timer ``mdtmirror-snapshot-<name>`` snapshots
    ``dataset`` every ``interval`` minutes (or at ``on_calendar``) and prunes
    its ``<prefix>`` snapshots to ``policy`` (``{hourly: 48, daily: 90}``;
    held snapshots are never pruned). The job skips itself on the server
    where the dataset is not imported.
    """
    return _planned(
        _ret(name),
        lambda test: __salt__["zfsmirror.snapshot_job"](
            name, dataset, policy, prefix=prefix, interval=interval, on_calendar=on_calendar, test=test
        ),
        f"snapshot job {name} is installed",
        f"snapshot job {name}",
    )


def backups_configured(
    name, dataset, destination, prefix="mdtmirror-", hold_tag="mdtmirror-backup", interval=None, on_calendar="daily"
):
    """
    Ensure the systemd timer ``mdtmirror-backup-<name>`` sends the newest
    ``<prefix>`` snapshot of ``dataset`` to ``destination``
    (``file:/directory`` or ``ssh:[user@]host:pool/dataset``), incrementally
    from the one held with ``hold_tag``, at ``on_calendar`` (daily by
    default) or every ``interval`` minutes. The destination is checked
    (syntax; a ``file:`` directory must exist) but no connection is made.
    """
    return _planned(
        _ret(name),
        lambda test: __salt__["zfsmirror.backup_job"](
            name,
            dataset,
            destination,
            prefix=prefix,
            hold_tag=hold_tag,
            interval=interval,
            on_calendar=on_calendar,
            test=test,
        ),
        f"backup job {name} is installed",
        f"backup job {name}",
    )
