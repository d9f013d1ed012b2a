"""
SCST's texts, pure: a sysfs attribute with its ``[key]`` marker
(:py:func:`parse_attr`), a handler's ``add_device`` parameter list, a LUN's
export link, ib_srpt's ``login_info``, the identifiers SCST derives for a
device (``t10_dev_id``), the running configuration made of the tree's
listings (:py:func:`running_config`), ``/etc/scst.conf`` as scstadmin writes
it (:py:func:`render_config`) and the old ``/etc/default/scst``. No I/O.
"""

import re

# Help line of a handler's mgmt file that lists add_device parameters.
_PARAMS_LINE = "The following parameters available:"


def parse_attr(content):
    """
    Split what SCST returns for an attribute into ``(value, is_key)``.

    SCST appends a ``[key]`` line to attributes that differ from their
    default and must be saved; multi-line values (``pr_state``) stay whole.
    """
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    lines = content.rstrip("\n").split("\n")
    is_key = False
    if lines and lines[-1] == "[key]":
        is_key = True
        lines = lines[:-1]
    return "\n".join(lines).rstrip("\n"), is_key


def parse_create_params(mgmt_help):
    """Parse the ``The following parameters available: a, b`` line of a mgmt help text."""
    for line in mgmt_help.splitlines():
        if line.startswith(_PARAMS_LINE):
            rest = line[len(_PARAMS_LINE) :]
            return [p.strip() for p in rest.split(",") if p.strip()]
    return []


def parse_export_link(link):
    """
    Turn an ``exported/exportN`` link target into ``{driver, target, group, lun}``.

    ``../../../targets/ib_srpt/T/ini_groups/MDS/luns/0`` -> group ``MDS``;
    ``.../T/luns/0`` -> the target's default LUN set (group ``None``).
    """
    parts = link.split("/")
    idx = parts.index("targets")
    rest = parts[idx + 1 :]
    driver, target = rest[0], rest[1]
    group = None
    if len(rest) >= 6 and rest[2] == "ini_groups":
        group = rest[3]
    return {"driver": driver, "target": target, "group": group, "lun": int(rest[-1])}


def parse_login_info(text):
    """``tid_ext=..,ioc_guid=..,pkey=ffff,dgid=..,service_id=..`` -> dict (empty for no text)."""
    info = {}
    for item in (text or "").strip().split(","):
        key, sep, value = item.partition("=")
        if sep:
            info[key.strip()] = value.strip()
    return info


def split_create_attrs(create_params, attributes):
    """
    Split requested device attributes into ``add_device`` parameters and the
    ones that must be written to the device after creation (``t10_vend_id``,
    ``usn``, ``prod_id``...: SCST rejects them in add_device with EINVAL).
    ``cluster_mode`` goes last (t10_dev_id is refused once it is on).
    """
    allowed = {p.lower() for p in create_params}
    create, later = {}, {}
    for attr, value in attributes.items():
        (create if attr.lower() in allowed else later)[attr] = value
    if "cluster_mode" in create:
        create["cluster_mode"] = create.pop("cluster_mode")
    return create, later


def crc32c(crc, data):
    """Linux's ``crc32c()``: raw CRC32C (Castagnoli), no pre/post inversion."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc & 0xFFFFFFFF


def default_t10_dev_id(name, setup_id=0):
    """The ``t10_dev_id`` SCST gives device ``name``: ``"%llx-%s"`` of
    ``setup_id << 32 | crc32c(0, name with its NUL)`` and the name, cut to 25
    characters (scst_vdisk; ``80130d8a-MDT1`` in the captured tree)."""
    number = (int(setup_id) << 32) | crc32c(0, name.encode("latin-1") + b"\0")
    return f"{number:x}-{name}"[:25]


# Device attributes written to scst.conf: key attributes that are creation
# parameters or writable, minus these:
#  - size/size_mb: re-applying an old size after the backend grew shrinks
#    the LUN in SCST's view (scstadmin always writes it; we never do);
#  - runtime state that SCST derives (thin_provisioned is detected unless
#    given, pr_file_name, ...).
_CONF_SKIP_DEVICE_ATTRS = {
    "size",
    "size_mb",
    "pr_file_name",
    "pr_state",
    "type",
    "block",
    "threads_num",
    "threads_pool_type",
    "exported",
}
_CONF_SKIP_TARGET_ATTRS = {"enabled", "hw_target"}
CONF_SKIP_DRIVERS = {"copy_manager"}


def running_config(handlers, devices, targets):
    """
    The running configuration as data (what :py:func:`render_config` renders),
    from the tree's listings: ``handlers`` (``scst.list_handlers``), ``devices``
    (``scst.list_devices``) and ``targets`` (``scst.list_targets``).
    """
    config = {"handlers": {}, "drivers": {}}
    for handler, hinfo in handlers.items():
        if not hinfo["devices"]:
            continue
        create = {p.lower() for p in hinfo["create_params"]}
        for dev in sorted(hinfo["devices"]):
            info = devices.get(dev)
            if info is None:
                continue
            attrs = {}
            for attr in info["key_attributes"]:
                if attr in _CONF_SKIP_DEVICE_ATTRS:
                    continue
                if attr.lower() in create or attr in info["writable"]:
                    attrs[attr] = info["attributes"][attr]
            config["handlers"].setdefault(handler, {})[dev] = attrs
    for driver, drv_targets in targets.items():
        if driver in CONF_SKIP_DRIVERS:
            continue
        drv = {}
        for target, tinfo in drv_targets.items():
            attrs = {
                a: tinfo["attributes"][a]
                for a in tinfo["key_attributes"]
                if a not in _CONF_SKIP_TARGET_ATTRS and a in tinfo["writable"]
            }
            drv[target] = {
                "attributes": attrs,
                "enabled": tinfo["enabled"],
                "luns": tinfo["luns"],
                "groups": tinfo["groups"],
            }
        config["drivers"][driver] = drv
    return config


def _conf_quote(value):
    value = str(value).replace("\\", "\\\\").replace("#", "\\#")
    if re.search(r"\s", value) or value == "":
        return '"' + value + '"'
    return value


def render_config(config, header="# Written by mdtmirror (salt scst.write_config)."):
    """
    Render configuration data (see :py:func:`running_config`) as an
    ``/etc/scst.conf`` that ``scstadmin -config`` accepts.

    Deliberate differences from ``scstadmin -write_config``: no ``size`` for
    devices, no copy_manager (SCST re-creates its LUNs itself and would get
    duplicates), and ``enabled`` written for every target that has one.

    CLI Example:

    .. code-block:: bash

        salt '*' scst.render_config "$(salt-call --out=json scst.running_config | jq .local)"
    """
    out = [header, ""]
    for handler in sorted(config["handlers"]):
        out.append(f"HANDLER {handler} {{")
        devices = config["handlers"][handler]
        for i, dev in enumerate(sorted(devices)):
            if i:
                out.append("")
            out.append(f"\tDEVICE {dev} {{")
            for attr in sorted(devices[dev]):
                out.append(f"\t\t{attr} {_conf_quote(devices[dev][attr])}")
            out.append("\t}")
        out.append("}")
        out.append("")
    for driver in sorted(config["drivers"]):
        out.append(f"TARGET_DRIVER {driver} {{")
        targets = config["drivers"][driver]
        for i, target in enumerate(sorted(targets)):
            tinfo = targets[target]
            if i:
                out.append("")
            out.append(f"\tTARGET {target} {{")
            attrs = dict(tinfo["attributes"])
            if tinfo["enabled"] is not None:
                # Always explicit: scstadmin 3.9-3.10 disables targets whose
                # enabled line is missing, even without -force.
                attrs["enabled"] = 1 if tinfo["enabled"] else 0
            for attr in sorted(attrs):
                out.append(f"\t\t{attr} {_conf_quote(attrs[attr])}")
            if tinfo["luns"]:
                out.append("")
                for lun, linfo in tinfo["luns"].items():
                    out.append(_render_lun("\t\t", lun, linfo))
            for group in sorted(tinfo["groups"]):
                ginfo = tinfo["groups"][group]
                out.append("")
                out.append(f"\t\tGROUP {group} {{")
                for lun, linfo in ginfo["luns"].items():
                    out.append(_render_lun("\t\t\t", lun, linfo))
                for initiator in ginfo["initiators"]:
                    out.append("")
                    out.append(f"\t\t\tINITIATOR {_conf_quote(initiator)}")
                out.append("\t\t}")
            out.append("\t}")
        out.append("}")
        out.append("")
    return "\n".join(out)


def _render_lun(indent, lun, linfo):
    line = f"{indent}LUN {lun} {linfo['device']}"
    if linfo.get("read_only"):
        line += " {\n" + indent + "\tread_only 1\n" + indent + "}"
    return line


def parse_default_scst(text):
    """Parse ``/etc/default/scst`` into ``{variable: value}`` (shell assignments, quotes removed)."""
    result = {}
    for line in text.splitlines():
        match = re.match(r'^\s*([A-Za-z_][A-Za-z0-9_]*)=(["\']?)(.*)\2\s*$', line)
        if match:
            result[match.group(1)] = match.group(3)
    return result
