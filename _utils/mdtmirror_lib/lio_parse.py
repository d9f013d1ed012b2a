"""
LIO's names and texts, pure: a backstore's ``info`` and unit serial files
(:py:func:`parse_info`, :py:func:`parse_unit_serial`), the names ib_srpt
checks (:py:func:`acl_name`, :py:func:`target_name`), the identifiers LIO
derives from a unit serial (:py:func:`naa_designator`), the name and LUN
checks, the local RDMA ports as srpt targets, and the systemd-tmpfiles line
that sets srpt's RDMA/CM port. No I/O: :py:mod:`mdtmirror_lib.lio_tree` reads
the kernel's tree.
"""

import re
import uuid

from salt.exceptions import CommandExecutionError, SaltInvocationError

# Backstore plugins by configfs HBA directory prefix (rtslib's names).
PLUGINS = {"iblock": "block", "fileio": "fileio", "pscsi": "pscsi", "rd_mcp": "ramdisk", "user": "user"}
_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+$")
_HEX32 = re.compile(r"^(0x)?([0-9a-f]{32})$")
# LIO's company_id for the NAA identifier it derives from the unit serial.
LIO_COMPANY_ID = "001405"
TPG = "tpgt_1"
DEFAULT_ROOT = "/sys/kernel/config/target"


def check_name(kind, name):
    # "." and ".." fit the characters but name a directory above (a path out of configfs' object).
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise SaltInvocationError(f"invalid LIO {kind} name {name!r}: use letters, digits and _ . : -")


def check_lun(lun):
    try:
        lun = int(lun)
    except (TypeError, ValueError):
        raise SaltInvocationError(f"invalid LUN {lun!r}: an integer 0..65535") from None
    if not 0 <= lun <= 65535:
        raise SaltInvocationError(f"invalid LUN {lun}: an integer 0..65535")
    return lun


def parse_info(text):
    """
    A backstore's ``info`` file -> dict: ``Status: ACTIVATED  Max Queue Depth: 0 ...
    iBlock device: loop0  UDEV PATH: /dev/loop0 ...`` (keys as LIO prints them).
    """
    info = {}
    for match in re.finditer(r"([A-Za-z][A-Za-z0-9 ]*?):\s+(\S+)", text or ""):
        info[match.group(1).strip()] = match.group(2)
    return info


def parse_unit_serial(text):
    """``T10 VPD Unit Serial Number: abc`` -> ``abc`` (empty: no serial)."""
    return (text or "").split(":", 1)[-1].strip() if text else ""


def saveconfig_value(value):
    """An attribute's value as rtslib's saveconfig keeps it: an integer when it reads as one."""
    return int(value) if re.fullmatch(r"-?\d+", value) else value


def acl_name(initiator, initiator_ext=0):
    """
    The ACL name ib_srpt checks for an initiator under a GID-named target:
    ``0x`` + initiator_ext (16 hex digits) + the initiator port's GUID.

    ``initiator``: the peer's port GID (``fe80:0000:...:5054:00ff:fe12:3456``,
    the GUID is its last 64 bits), or already an initiator port ID
    (``0x`` + 32 hex digits, or rtslib's ``ib.`` + 32).
    """
    text = str(initiator).strip().lower()
    if text.startswith("ib."):
        text = "0x" + text[3:]
    match = _HEX32.match(text)
    if match:
        return "0x" + match.group(2)
    digits = text.replace(":", "")
    if text.count(":") == 7 and re.fullmatch(r"[0-9a-f]{32}", digits):
        return f"0x{int(initiator_ext):016x}{digits[16:]}"
    raise SaltInvocationError(
        f"invalid SRP initiator {initiator!r} for LIO: give the peer port's GID "
        "(fe80:0000:0000:0000:xxxx:xxxx:xxxx:xxxx) or its initiator port ID (0x + 32 hex digits)"
    )


def target_name(gid):
    """The GID-named srpt target of a port: ``0x`` + the GID's 32 hex digits."""
    digits = str(gid).replace(":", "").lower()
    if not re.fullmatch(r"[0-9a-f]{32}", digits):
        raise CommandExecutionError(f"not a port GID: {gid!r}")
    return "0x" + digits


def default_serial(node, device):
    """
    The T10 unit serial a backstore gets unless one is declared: a UUID
    derived from the node and device names, so it is the same every time the
    backstore is made (the peer's ``/dev/disk/by-id`` name of the LUN comes
    from it) and the peer can compute it.
    """
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mdtmirror:{node}/{device}"))


def naa_designator(serial, company_id=LIO_COMPANY_ID):
    """
    The NAA IEEE Registered Extended designator (VPD 0x83) LIO derives from a
    unit serial: ``6`` + company_id + the serial's first 25 hex digits
    (other characters skipped), zero-padded to 32 hex digits.
    """
    digits = "".join(c for c in str(serial).lower() if c in "0123456789abcdef")[:25]
    return ("6" + company_id + digits).ljust(32, "0")


def initiator_by_id(serial):
    """
    The ``/dev/disk/by-id`` name the peer's udev gives a LIO LUN with this
    unit serial (``scsi-3`` + its NAA designator).
    """
    return "/dev/disk/by-id/scsi-3" + naa_designator(serial)


def rdma_cm_port_conf(port, root=DEFAULT_ROOT):
    """
    The systemd-tmpfiles line that sets srpt's RDMA/CM port (rtslib's
    saveconfig does not keep it); run with ``systemd-tmpfiles --create`` after
    the restore service.
    """
    port = int(port)
    return f"w {root}/srpt/discovery_auth/rdma_cm_port - - - - {port}\n"


# --------------------------------------------------------------------------
# the local RDMA ports as srpt targets
# --------------------------------------------------------------------------


def with_targets(ports):
    """``hostio.rdma_ports`` entries, each given the srpt target name its GID makes (None: no GID)."""
    for port in ports:
        port["target"] = target_name(port["gid"]) if port["gid"] else None
    return ports


def local_targets(ports, targets):
    """
    The srpt targets of the local ports (``with_targets`` entries), with what an
    initiator needs to log in, from ``targets`` (``list_targets``): same shape as
    ``scst.local_targets``, for the Salt mine.
    """
    result = []
    for port in ports:
        if not port["target"]:
            continue
        guid = (port["node_guid"] or "").replace(":", "")
        info = targets.get(port["target"], {})
        result.append(
            {
                "target": port["target"],
                "enabled": bool(info.get("enabled")),
                "scheme": "port_gid",
                "hca": port["hca"],
                "port": port["port"],
                "link_layer": port["link_layer"],
                "gid": port["gid"],
                "login_info": {
                    "tid_ext": guid,
                    "ioc_guid": guid,
                    "pkey": "ffff",
                    "dgid": port["gid"].replace(":", ""),
                    "service_id": guid,
                }
                if guid
                else {},
            }
        )
    return result


def port_target(ports, hca=None, port=None):
    """
    The srpt target name of the local port (``with_targets`` entries) that
    ``hca``/``port`` select; with neither, the one port (or the one active
    port) there is. Otherwise an error listing the ports.
    """
    chosen = [
        p
        for p in ports
        if (hca is None or p["hca"] == hca) and (port is None or p["port"] == int(port)) and p["target"]
    ]
    if len(chosen) > 1 and hca is None and port is None:
        active = [p for p in chosen if "ACTIVE" in (p["state"] or "")]
        if len(active) == 1:
            chosen = active
    if len(chosen) != 1:
        listing = ", ".join(f"{p['hca']} port {p['port']} ({p['state']})" for p in ports) or "none"
        raise CommandExecutionError(
            f"cannot choose one local RDMA port for the LIO SRP target (hca={hca} port={port}): "
            f"{len(chosen)} match; ports: {listing}. Set hca and port."
        )
    return chosen[0]["target"]
