"""
What ``salt-call sys.doc zfsmirror`` shows: the docstring of each public function of the ``zfsmirror``
loader module, with its CLI example. The loader module attaches them at load
(:py:func:`mdtmirror_lib.publicdoc.attach`), so its code stays a thin face; the text is the admin's.
"""

DOCS = {}

DOCS["version"] = """
    Return the OpenZFS version of the ``zpool`` tool and the loaded module, and
    whether the tools print JSON (``-j``, OpenZFS >= 2.3).

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.version
    """

DOCS["status"] = """
    Return the parsed ``zpool status`` of one pool (see
    :py:func:`parse_status_text` for the structure), from ``zpool status -j
    --json-int -P`` on OpenZFS >= 2.3 and ``zpool status -p -P`` before.
    With ``local``/``remote`` path prefixes, ``sides`` classifies the mirror's
    sides (:py:func:`classify_sides`). ``output`` forces ``json`` or ``text``.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.status mdtpool
        salt '*' zfsmirror.status mdtpool local=/dev/disk/by-id/scsi-36001 remote=/dev/disk/by-id/scsi-36002
    """

DOCS["health"] = """
    Return the health of a mirrored MDT pool: each data side classified
    ``local``/``remote`` by the given path prefixes with its state, error
    counts and a ``why`` (``REMOVED: device removed (SRP path lost?)``,
    ``OFFLINE: ...``, ``resilvering 45.2%``), whether the pool is
    ``redundant`` and the ``problems`` in words (see :py:func:`classify_sides`).

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.health mdtpool local=/dev/disk/by-id/scsi-36001 remote=/dev/disk/by-id/scsi-36002
    """

DOCS["disk_in_use"] = """
    Tell whether a disk carries anything that a new pool would destroy, and
    what. Nothing is written. Two independent checks, because each misses
    cases the other sees:

    - ``blkid -p -o export <dev>``: a low-level probe (no blkid cache, which
      can be stale for a LUN that just appeared over SRP) for any filesystem,
      RAID/LVM member, ZFS label or partition table. zpool's own check only
      looks inside EFI partitions and ignores a bare partition table, so a
      partitioned but unformatted LUN of another system would pass it.
    - ``zpool create -n <probe> <dev>``: ZFS's own in-use logic without
      writing: the exclusive open (mounted, held by dm/md/another imported
      pool), ZFS labels of active/exported pools, libblkid types per partition.
      Its messages are parsed by :py:func:`parse_label_check`.

    Returns ``{"path", "in_use", "reasons": [sentences], "signatures": {blkid
    keys}, "zfs_label": {"pool", "pool_guid", "vdev_guid"} or None,
    "problems": [parse_label_check problems]}``. An unreadable answer raises:
    a disk is never declared free on doubt.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.disk_in_use /dev/disk/by-id/scsi-36001405abcdef
    """

DOCS["hostid"] = """
    Return this host's ZFS hostid from ``/etc/hostid`` as ``0x%08x``, or None
    if it has none. With ``multihost=on`` the two MDS servers must have
    different, non-zero hostids.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.hostid
    """

DOCS["hostid_present"] = """
    Return True if ``/etc/hostid`` holds a valid non-zero hostid. Without one,
    a ``multihost=on`` pool cannot be imported ("pool has the multihost
    property on and the system's hostid is not set").

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.hostid_present
    """

DOCS["ensure_hostid"] = """
    Make sure ``/etc/hostid`` holds a hostid, running ``zgenhostid`` (random
    value, or ``hostid`` if given as 8 hex digits) when it is missing, empty
    or zero. An existing valid hostid is never changed: if it differs from
    ``hostid`` this raises instead (multihost pools record the importing
    host's id, so changing it under an imported pool is dangerous).

    Returns ``{"changed", "hostid", "path", "comment"}``; with ``test=True``
    nothing is run and ``changed`` says what would happen.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.ensure_hostid
        salt '*' zfsmirror.ensure_hostid hostid=0x1a2b3c4d test=True
    """

DOCS["list_pools"] = """
    Return the pools imported on this host, ``{name: {"size", "alloc",
    "free", "health", "guid"}}`` (``zpool list -H -p``; sizes in bytes).

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.list_pools
    """

DOCS["pool_names"] = """
    Return the names of the pools imported on this host, sorted, read from
    the zfs module's kstat tree (a directory per imported pool,
    ``/proc/spl/kstat/zfs/<pool>/state``) without running ``zpool``: what
    the node plan asks on every apply. ``zpool list`` waits for the pool
    configuration lock and can hang behind a suspended pool; the kstat tree
    does not (Pacemaker's ZFS agent reads it for that reason). Without
    that tree (the zfs module not loaded) it asks ``zpool list``.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.pool_names
    """

DOCS["pool_properties"] = """
    Return every property of an imported pool, ``{property: {"value",
    "source"}}`` (``zpool get -H -p all``; sizes in bytes, ``-`` as None).
    With ``missing_ok=True`` a pool not imported here gives None instead of
    an error (one ``zpool get`` when it is imported: what a state asks first).

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.pool_properties mdtpool
    """

DOCS["set_pool_properties"] = """
    Give an imported pool these property values (``zpool set``, one call per
    property that differs; ``multihost`` may only be turned on, ``cachefile``
    only set to ``none``). Returns ``{"changed", "test", "changes", "commands",
    "current"}`` (``current``: the properties read before, as
    :py:func:`pool_properties` gives them; pass them as ``current`` when just
    read, and they are not read again).

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.set_pool_properties mdtpool '{multihost: on, autotrim: on}' test=True
    """

DOCS["import_listing"] = """
    The pools on the visible disks that are not imported here (``zpool
    import -d <import_dir>``), ``{name: parse_import_list entry}``. With
    ``reread`` (default), an empty answer makes this kernel re-read the
    partition tables of the disks first (a disk partitioned by the peer over
    SRP shows no label until then) and look again. Nothing is imported.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' zfsmirror.import_listing
    """

DOCS["create"] = """
    Create the MDT pool as a two-way mirror of the local LUN and the peer's
    LUN seen over SRP: ``zpool create -o multihost=on -o cachefile=none
    [-o prop=value...] [-O prop=value...] <pool> mirror <local> <remote>``.

    - Devices are recorded by stable name: ``/dev/sdX`` style paths are
      replaced by their best ``/dev/disk/by-id`` link (a warning says when
      there is none).
    - A hostid is made first if there is none (:py:func:`ensure_hostid`):
      ``multihost=on`` needs one.
    - Refused when a pool of that name is imported here or is on the visible
      disks (``zpool import`` lists it: import it instead), and for any disk
      :py:func:`disk_in_use` finds a label, partition table, filesystem or
      other pool on, naming the disk and why, unless ``force=True`` is given
      (a real boolean): then, and only then, ``-f`` is passed. A disk that
      is open elsewhere or belongs to an active pool is refused even then
      (zpool could not override it either).

    ``properties`` are pool properties (``ashift: 12``); ``multihost`` and
    ``cachefile`` are always on/none and may not be set otherwise.
    ``filesystem_properties`` go to the root dataset (``canmount: off``).
    With ``test=True`` only reading commands run; with ``remote_pending=True``
    too, a ``remote`` disk that is not there yet (its SRP login is a pending
    change of the same run) is planned by its expected name instead of
    refused. Returns ``{"changed", "test", "pool", "devices", "forced",
    "changes", "commands", "warnings"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.create mdtpool /dev/disk/by-id/wwn-0x6001405a /dev/disk/by-id/wwn-0x6001405b \\
            properties='{ashift: 12}' filesystem_properties='{canmount: off}' test=True
    """

DOCS["disk_label"] = """
    The ZFS label on the disk ``path`` (its first partition when ZFS
    partitioned it whole): ``{"pool", "pool_guid", "vdev_guid"}``, or None.
    Read with ``blkid -p``, an open without O_EXCL: it answers also for a
    disk another holder keeps open (a standby's disk exported by its SCSI
    target), which ``zpool import`` skips.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' zfsmirror.disk_label /dev/disk/by-id/scsi-35000c500a1b2c3d4
    """

DOCS["pool_label"] = """
    What the ZFS label on the disk ``path`` (its first partition when ZFS
    partitioned it whole) says of its pool's last import: ``{"pool",
    "pool_guid", "vdev_guid", "state", "txg", "hostid", "hostname",
    "labels"}`` (:py:func:`parse_zdb_label`; ``state`` ``active``: the pool
    was imported when the label was last written and never exported since,
    by the host ``hostid``), or None when the disk carries no label. Read
    with ``zdb -l``, an open without O_EXCL, after ``blockdev --flushbufs``:
    the label may have been written by the peer over SRP, past this host's
    page cache (a standby's exported disk).

    CLI Example:

    .. code-block:: bash

        salt '*mds*' zfsmirror.pool_label /dev/disk/by-id/scsi-35000c500a1b2c3d4
    """

DOCS["last_importer_here"] = """
    True when the label on this node's disk ``path`` says pool ``pool`` was
    imported by this host (its hostid) and not exported: the pool was
    imported here when the host went down (a reboot or crash of the active
    node). False otherwise, also when this host has no hostid. A label that
    names another host (a takeover imported the pool there since) or says
    exported (a switchover) is never this host's to import by itself.

    CLI Example:

    .. code-block:: bash

        salt '*mds*' zfsmirror.last_importer_here mdtpool /dev/disk/by-id/scsi-35000c500a1b2c3d4
    """

DOCS["heal"] = """
    Bring the mirror back to local + remote after the peer's LUN (or the
    local one) returned: for each side, by its path (``local``/``remote``,
    best given as ``/dev/disk/by-id`` paths; the pool's ``-partN`` names
    match):

    - in the pool but OFFLINE, REMOVED or UNAVAIL, and the device is there
      again: ``zpool online <pool> <dev>``; FAULTED or DEGRADED (too many
      errors): ``zpool clear <pool> <dev>``;
    - not in the pool and the device is there: ``zpool replace`` the dead
      device the pool still lists in its place, else ``zpool attach`` it to
      the healthy side (after :py:func:`disk_in_use` found the disk free);
    - the device is not there: nothing can be done yet (``waits``).

    It never detaches, offlines or replaces a working device: a device that
    is ONLINE but neither side is an error. ``zpool online`` that leaves the
    device faulted is an error. After acting, the pool is read again for the
    resilver's progress.

    Returns ``{"pool", "test", "actions": [{"action", "device", "command",
    "old", "new"}], "changes", "commands", "waits", "redundant", "resilver":
    {"state", "percent", ...} or None, "problems", "missing": [side paths
    whose device is not there], "state" (the pool's), "sides": [{"side",
    "name", "state", "read", "write", "cksum", "note"}]}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.heal mdtpool /dev/disk/by-id/wwn-0x6001405a /dev/disk/by-id/wwn-0x6001405b test=True
    """

DOCS["import_pool"] = """
    Import the pool on this host (failover): ``zpool import -d <import_dir>
    -o cachefile=none [-f] <pool>``, after the ``zpool import`` listing
    (:py:func:`parse_import_list`) and :py:func:`import_decision` said it is
    safe. ``cachefile=none`` keeps the pool out of ``/etc/zfs/zpool.cache``:
    no server imports it at boot by itself. A missing hostid is refused
    first (a multihost pool cannot be imported without one). Nothing to do
    when it is imported here already. ``whole=True`` (the import of a node
    that comes back as the active one) refuses a pool the listing does not
    show ONLINE: with a side missing, the disks this host sees may be the
    older copy of a mirror another host has written since.

    Returns ``{"changed", "test", "pool", "forced", "note", "changes",
    "commands", "health"}``.

    CLI Example:

    .. code-block:: bash

        salt mds02 zfsmirror.import_pool mdtpool test=True
        salt mds02 zfsmirror.import_pool mdtpool force=True
    """

DOCS["export_pool"] = """
    Export the pool from this host (failover): ``zpool export <pool>``,
    never ``-f`` (a busy pool, e.g. a mounted MDT, is refused by zpool and
    the message passed on: stop Lustre on it first). Nothing to do when the
    pool is not imported here.

    Returns ``{"changed", "test", "pool", "changes", "commands"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.export_pool mdtpool
    """

DOCS["create_zvol"] = """
    Make sure a zvol exists to back the exported LUN where there is no
    hardware RAID (the seed's ``zfs create -V 300G shps-meta/MDT`` and
    ``zfs set canmount=off shps-meta``): ``zfs create -V <size> [-o
    prop=value...] <name>`` when it is missing, ``zfs set canmount=off
    <parent>`` when the parent dataset can still mount, ``zfs set`` for a
    property that drifted. The zvol is thick (refreservation), so the LUN
    never runs out of space under the peer.

    An existing zvol of another size is an error (growing a LUN under SCST
    and the peer's mirror is a procedure of its own), as is a drifted
    create-time property (``volblocksize``) or a dataset of that name that
    is not a volume. Reads ``zfs get -H -p -r -t filesystem,volume type,
    volsize,volblocksize,canmount[,props] <parent>`` (one call).

    Returns ``{"changed", "test", "name", "changes", "commands"}``.

    CLI Example:

    .. code-block:: bash

        salt '*' zfsmirror.create_zvol shps-meta/MDT 300G properties='{volblocksize: 16K, compression: lz4}' test=True
    """

DOCS["snapshot"] = """
    Take one snapshot of ``dataset`` named ``<prefix><UTC
    %Y%m%dT%H%M%SZ>`` (``zfs snapshot``, one call; ``now`` as epoch seconds
    for a fixed time). A ZFS snapshot of one MDT is crash-consistent for that
    target; for a consistent snapshot of a whole Lustre file system use
    ``lctl snapshot_create`` (write barrier) on the MGS instead.

    Returns ``{"changed", "test", "snapshot", "changes", "commands"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.snapshot mdtpool/mdt0
        salt mds01 zfsmirror.snapshot mdtpool/mdt0 prefix=before-upgrade- test=True
    """

DOCS["list_snapshots"] = """
    The snapshots of ``dataset`` (not of its children) in creation order:
    ``zfs list -H -p -t snapshot -d 1 -s createtxg -o
    name,creation,used,userrefs <dataset>``, one call. ``-s createtxg`` makes
    the row order the order of creation txgs, the order ``zfs destroy
    a%b`` uses, so each row's position is given as ``createtxg`` (its rank:
    an order, not the txg number). Used by prune, backup and the status view.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.list_snapshots mdtpool
    """

DOCS["prune"] = """
    Apply a retention policy to the ``<prefix>`` snapshots of ``dataset``:
    one ``zfs list`` (:py:func:`list_snapshots`), :py:func:`plan_prune`,
    then as few ``zfs destroy -v <dataset>@a,b,c%d`` calls as the argument
    size allows (usually one). Held snapshots (``userrefs`` > 0: the backup
    chain, ``zfs hold``), snapshots with clones, snapshots of another prefix
    and the newest of ours are never destroyed. ``-v`` makes zfs name what it
    destroyed; anything but what the plan listed is an error.

    ``policy``: counts per period (``frequently``, ``hourly``, ``daily``,
    ``weekly``, ``monthly``, ``yearly``), as a mapping or
    ``hourly=48,daily=90``; see :py:func:`plan_prune` for the semantics.

    Returns ``{"changed", "test", "destroyed" (or, in test mode, would be),
    "kept", "held", "foreign", "kept_by", "calls", "reclaimed"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.prune mdtpool/mdt0 policy=hourly=48,daily=90,monthly=6 test=True
    """

DOCS["backup"] = """
    Send the newest ``<prefix>`` snapshot of ``dataset`` to a backup
    destination (:py:func:`parse_destination`: ``file:<dir>`` or
    ``ssh:<host>:<dataset>``), incrementally (``zfs send -i``) from the
    snapshot sent last, which a ``zfs hold <hold_tag>`` keeps (prune never
    destroys a held snapshot); the previous hold is released after the new
    one is placed, so the chain always has a held base.

    The stream is piped without a shell: sender stdout -> file or ``ssh
    <host> zfs recv -u <dataset>`` stdin, and -> ``zstream dump`` when it is
    installed. Both exit codes are checked and the stream is verified
    (:py:func:`parse_zstream_dump`: every record checksum and the END
    record), else its byte count must be > 0. A file is written as
    ``<name>.partial`` and renamed only once all checks passed; on failure
    nothing is held or released.

    Reads: one ``zfs list`` and, when some snapshot has user holds, one
    ``zfs holds``. With ``test=True`` nothing else runs.

    Returns ``{"changed", "test", "snapshot", "base", "incremental",
    "destination", "file", "bytes", "verified", "commands"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.backup mdtpool/mdt0 file:/backup/mdt0 test=True
        salt mds01 zfsmirror.backup mdtpool/mdt0 ssh:backup@bk01:tank/mdt0
    """

DOCS["restore_points"] = """
    What can be restored from a backup destination (``file:<dir>`` or
    ``ssh:[user@]host:<dataset>``, as :py:func:`backup` writes them): one
    entry per snapshot, oldest first, ``{"dataset", "snapshot", "streams"
    (how many files to receive, file: only), "bytes", "problem" (why it
    cannot be restored, or None)}``. ``dataset`` narrows a directory that
    holds backups of several datasets. Nothing is changed.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.restore_points file:/backup/mdt0
        salt mds01 zfsmirror.restore_points ssh:backup@bk01:tank/mdt0
    """

DOCS["restore"] = """
    Receive a backup into ``target``, a dataset that must not exist yet
    (``mdtpool/restore``, or a dataset of another pool): the live MDT is
    never written over unless ``force=True`` (then ``zfs recv -F``
    replaces what ``target`` holds). From ``file:<dir>``: the full stream
    and every incremental one up to ``snapshot`` (default: the newest that
    can be restored), each checked by ``zstream dump`` before it is
    received; from ``ssh:[user@]host:<dataset>``: ``zfs send`` of that
    snapshot there, piped into ``zfs recv`` here and through ``zstream
    dump``. ``zfs recv`` verifies every record's checksum too. The copy is
    received unmounted (``-u``). ``dataset``: which dataset's backups, when
    the directory holds several.

    Returns ``{"changed", "test", "target", "snapshot", "streams",
    "verified", "commands"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.restore file:/backup/mdt0 mdtpool/restore test=True
        salt mds01 zfsmirror.restore file:/backup/mdt0 mdtpool/restore snapshot=mdtmirror-20261206T120000Z
        salt mds01 zfsmirror.restore ssh:backup@bk01:tank/mdt0 mdtpool/restore
    """

DOCS["snapshot_job"] = """
    Install the periodic snapshot job of ``dataset`` as a systemd timer,
    ``mdtmirror-snapshot-<name>.timer`` + ``.service`` in
    ``/etc/systemd/system``: the service runs ``salt-call --local
    zfsmirror.snapshot <dataset> prefix=<prefix>`` then ``salt-call --local
    zfsmirror.prune <dataset> policy=<policy> prefix=<prefix>``, only where
    the dataset exists (``ExecCondition=zfs list -H -o name <dataset>``: on
    the standby server, where the pool is not imported, the run is skipped,
    not failed; systemd < 243 ignores ExecCondition and the run fails there
    instead). The files and the ``timers.target.wants`` link are written
    only when they differ, then ``systemctl daemon-reload`` and ``systemctl
    restart <unit>.timer`` run.

    Why a systemd timer and not the minion's scheduler (``schedule.present``)
    or cron: snapshots and retention must go on when the salt-minion is
    stopped or broken (as sanoid runs from cron/systemd), a oneshot service
    never runs twice at once (overlapping runs made duplicate snapshots for
    sanoid users), ``Persistent=true`` catches up a run missed while the
    server was down, and each run's output and exit status are in the
    journal (``systemctl status``). ``on_calendar`` takes any systemd
    calendar expression; ``interval`` (minutes) is the simple form.

    Returns ``{"changed", "test", "unit", "changes", "commands"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.snapshot_job mdt0 mdtpool/mdt0 policy=frequently=4,hourly=48,daily=90 interval=15
    """

DOCS["backup_job"] = """
    Install the periodic backup of ``dataset`` as a systemd timer,
    ``mdtmirror-backup-<name>.timer`` + ``.service``, running ``salt-call
    --local zfsmirror.backup <dataset> destination=<destination>
    prefix=<prefix> hold_tag=<tag>`` where the dataset exists (same
    machinery and reasons as :py:func:`snapshot_job`). The destination is
    checked now (:py:func:`parse_destination`; a ``file:`` directory must
    exist). Default: daily (the Lustre manual asks for frequent device-level
    MDT backups).

    Returns ``{"changed", "test", "unit", "changes", "commands"}``.

    CLI Example:

    .. code-block:: bash

        salt mds01 zfsmirror.backup_job mdt0 mdtpool/mdt0 ssh:backup@bk01:tank/mdt0 on_calendar='*-*-* 02:30:00'
    """
