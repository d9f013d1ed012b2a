"""
What SCST and a metadata target accept, pure: names and values SCST's mgmt
tokenizer would split (:py:func:`check_name`, :py:func:`check_value`...), the
metadata-safety rules (:py:func:`check_metadata_attrs`), which vdisk attributes
exist (:py:data:`VDISK_CREATE_PARAMS`, :py:data:`VDISK_WRITABLE_ATTRS`), a device
declaration checked before any write (:py:func:`validate_device`), the name an
initiator's udev gives an exported device (:py:func:`initiator_by_id`) and the
choice of the ib_srpt target serving a port (:py:func:`choose_port_target`).
No I/O: what needs the host (the backing path, the handler's parameters) the
caller hands in.
"""

import re

from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib.scst_parse import default_t10_dev_id, split_create_attrs

# SCST's mgmt tokenizer splits on blanks and '=' and splits parameter lists on
# ';' and newlines: none of these may appear in a name or value we send, or a
# caller could smuggle a second parameter or command into a write.
NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
INITIATOR_RE = re.compile(r"^[A-Za-z0-9_.:\-*?!@]+$")
VALUE_FORBIDDEN = re.compile(r"[\s=;#]")

# Logical block sizes a metadata LUN may have. SCST takes a power of two >= 512
# up to its limit (3.11-pre refuses 131072 with EINVAL, and a size above the
# backend's logical block size; older SCST took 131072 on a 128K zvol, which
# initiators then mis-handled); the MDT file system is made on 512 or 4096.
SAFE_BLOCKSIZES = (512, 4096)

# What SCST 3.11 takes for vdisk devices (notes/scst.md, the captured tree): add_device's
# parameters when the handler is not loaded yet to ask it, and the device attributes that can be
# written after add_device (mode 0644 under devices/<name>/). Anything else is refused before any
# write: SCST would create the device, refuse the attribute, and the device would have to go again.
_VDISK_COMMON = ("active", "bind_alua_state", "blocksize", "cluster_mode", "dif_filename", "dif_mode",
                 "dif_static_app_tag", "dif_type", "filename", "numa_node_id", "nv_cache", "read_only",
                 "removable", "rotational", "thin_provisioned", "tst", "t10_dev_id", "write_through")  # fmt: skip
VDISK_CREATE_PARAMS = {
    "vdisk_blockio": _VDISK_COMMON,
    "vdisk_fileio": (*_VDISK_COMMON, "async", "o_direct"),
}
VDISK_WRITABLE_ATTRS = frozenset(
    (
        "active",
        "bind_alua_state",
        "block",
        "cluster_mode",
        "eui64_id",
        "expl_alua",
        "filename",
        "inq_vend_specific",
        "lb_per_pb_exp",
        "max_tgt_dev_commands",
        "naa_id",
        "numa_node_id",
        "opt_trans_len",
        "pr_file_name",
        "prod_id",
        "prod_rev_lvl",
        "scsi_device_name",
        "size",
        "size_mb",
        "t10_dev_id",
        "t10_vend_id",
        "threads_num",
        "threads_pool_type",
        "usn",
        "vend_specific_id",
    )
)


def check_name(kind, name):
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 64:
        raise SaltInvocationError(f"invalid {kind} name {name!r}: use letters, digits, '_', '.', ':', '-' (at most 64)")
    return name


def check_initiator(name):
    if not isinstance(name, str) or not name or not INITIATOR_RE.match(name):
        raise SaltInvocationError(f"invalid initiator name {name!r}: no blanks, '=', ';' or '#' allowed")
    return name


def check_value(attr, value, mgmt=True):
    """
    Validate an attribute value. ``mgmt`` values go into a mgmt command, where
    SCST's tokenizer would split them; a direct attribute write only has to be
    one line.
    """
    if not isinstance(attr, str) or not NAME_RE.match(attr):
        raise SaltInvocationError(f"invalid attribute name {attr!r}")
    if isinstance(value, bool):
        value = int(value)
    value = str(value)
    bad = VALUE_FORBIDDEN.search(value) if mgmt else re.search(r"[\n\r]", value)
    if value == "" or bad:
        what = "blanks, '=', ';' or '#' (SCST would split it)" if mgmt else "line breaks"
        raise SaltInvocationError(
            f"invalid value {value!r} for attribute {attr!r}: it must be non-empty and contain no {what}"
        )
    return value


def check_lun(lun):
    try:
        lun = int(lun)
    except (TypeError, ValueError):
        raise SaltInvocationError(f"invalid LUN {lun!r}: must be an integer 0..16383") from None
    if not 0 <= lun <= 16383:
        raise SaltInvocationError(f"invalid LUN {lun}: must be 0..16383")
    return lun


def format_options(options):
    """Module options as ``["key=value", ...]`` (sorted; each value checked like a mgmt value)."""
    parts = []
    for key, value in sorted((options or {}).items()):
        if isinstance(value, bool):
            value = int(value)
        check_value(key, value)
        parts.append(f"{key}={value}")
    return parts


def check_metadata_attrs(device, attributes, allow_nv_cache=False):
    """
    Refuse attribute values that endanger an MDT (see the scst module's docs). A
    refused value is a CommandExecutionError: salt-call prints it as one
    line (a SaltInvocationError comes with the function's whole docstring).
    """
    if "blocksize" in attributes:
        try:
            blocksize = int(str(attributes["blocksize"]), 0)
        except ValueError:
            raise CommandExecutionError(
                f"device {device}: blocksize {attributes['blocksize']!r} is not a number"
            ) from None
        if blocksize not in SAFE_BLOCKSIZES:
            raise CommandExecutionError(
                f"device {device}: blocksize {blocksize} is not 512 or 4096. blocksize is the "
                "logical sector size initiators see, not the zvol's volblocksize (128K "
                "is right for the zvol, wrong here)"
            )
    if str(attributes.get("nv_cache", "0")) not in ("0", "False") and not allow_nv_cache:
        raise CommandExecutionError(
            f"device {device}: nv_cache=1 makes SCST ignore cache flushes, so acknowledged "
            "metadata can be lost on a crash; pass allow_nv_cache=True only for a truly "
            "non-volatile backend"
        )


def check_known_attrs(name, handler, create_params, later):
    """Refuse vdisk attributes that are neither add_device parameters nor writable afterwards."""
    if handler not in VDISK_CREATE_PARAMS:
        return
    unknown = sorted(attr for attr in later if attr not in VDISK_WRITABLE_ATTRS)
    if unknown:
        raise CommandExecutionError(
            f"device {name}: {handler} has no attribute {', '.join(unknown)} (add_device takes "
            f"{', '.join(sorted(create_params))}; written afterwards: {', '.join(sorted(VDISK_WRITABLE_ATTRS))})"
        )


def validate_device(name, handler, attributes, allow_nv_cache=False, backing_problem=None, create_params=None):
    """
    A device declaration checked, in this order, before any write: names,
    values SCST could mis-tokenize, the metadata-safety rules, the backing
    path (``backing_problem(handler, filename)``: what the kernel will refuse
    about it, or None; not called when None is given), that every attribute
    is one the handler takes or the device has. ``create_params()`` is the
    loaded handler's ``add_device`` parameters (raising for an unknown
    handler), or None when SCST is not loaded: then SCST 3.11's vdisk lists
    stand in and every attribute is returned as an add_device parameter.
    Returns ``(add_device params, attributes to write afterwards)``.
    """
    check_name("device", name)
    check_name("handler", handler)
    attributes = dict(attributes)
    if handler in ("vdisk_blockio", "vdisk_fileio") and not attributes.get("filename"):
        raise SaltInvocationError(f"device {name}: handler {handler} needs a filename")
    if "filename" in attributes and not str(attributes["filename"]).startswith("/"):
        raise SaltInvocationError(f"device {name}: filename {attributes['filename']!r} must be an absolute path")
    values = {attr: check_value(attr, value) for attr, value in attributes.items()}
    check_metadata_attrs(name, values, allow_nv_cache)
    if backing_problem is not None and handler in ("vdisk_blockio", "vdisk_fileio"):
        problem = backing_problem(handler, values["filename"])
        if problem:
            raise CommandExecutionError(f"device {name}: filename {values['filename']} {problem}")
    params = create_params() if create_params is not None else None
    if params is None:
        # No handler to ask yet (test=True on a fresh host): check against what SCST 3.11 takes.
        _create, later = split_create_attrs(VDISK_CREATE_PARAMS.get(handler, ()), values)
        check_known_attrs(name, handler, VDISK_CREATE_PARAMS.get(handler, ()), later)
        return values, {}
    create, later = split_create_attrs(params, values)
    check_known_attrs(name, handler, params, later)
    return create, later


def initiator_by_id(name, attributes=None, setup_id=0):
    """
    The ``/dev/disk/by-id`` path an initiator's udev gives device ``name``
    (``scsi-3<naa_id>``, else ``scsi-2<eui64_id>``, else ``scsi-2`` and the
    first eight bytes of ``t10_dev_id`` as hex): see ``scst.initiator_by_id``.
    """
    check_name("device", name)
    attributes = attributes or {}
    naa = str(attributes.get("naa_id") or "").lower().removeprefix("0x")
    if naa:
        return f"/dev/disk/by-id/scsi-3{naa}"
    eui = str(attributes.get("eui64_id") or "").lower().removeprefix("0x")
    if not eui:
        t10 = str(attributes.get("t10_dev_id") or default_t10_dev_id(name, setup_id))
        eui = (t10.encode("latin-1") + b"\0" * 8)[:8].hex()
    return f"/dev/disk/by-id/scsi-2{eui}"


def choose_port_target(targets, ports, hca=None, port=None, driver="ib_srpt"):
    """
    The one target of ``targets`` (``Driver.port_targets``) serving ``hca``/``port``;
    with neither given, the only candidate or the only one on an ACTIVE port
    (``ports()``: the local RDMA ports, asked only then). Else the error lists them.
    """
    candidates = [
        t
        for t in targets
        if (hca is None or t["hca"] == hca)
        and (port is None or t["port"] in (None, int(port)))
        and t["scheme"] != "unknown"
    ]
    if len(candidates) > 1 and hca is None and port is None:
        active = {(p["hca"], p["port"]) for p in ports() if "ACTIVE" in (p["state"] or "")}
        narrowed = [c for c in candidates if (c["hca"], c["port"]) in active]
        if len(narrowed) == 1:
            candidates = narrowed
    if len(candidates) != 1:
        listing = ", ".join(f"{t['target']} ({t['hca']} port {t['port']})" for t in targets) or "none"
        want = f"hca={hca} port={port}" if (hca or port) else "no hca/port given"
        raise CommandExecutionError(
            f"cannot choose one {driver} target for {want}: {len(candidates)} match; "
            f"targets: {listing}. Set hca and port."
        )
    return candidates[0]["target"]
