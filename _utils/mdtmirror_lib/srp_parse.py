"""
ib_srp's language, pure: the ``add_target`` line (:py:func:`parse_login_spec`
checks and normalises a target the way ib_srp.c's srp_parse_options does,
:py:func:`format_target` writes it back), srp_daemon's ``-o`` output
(:py:func:`parse_srp_daemon`), a login as the SCSI host's and remote port's
sysfs attributes tell it (:py:func:`parse_login_attrs`), and the files that
persist ib_srp's setup: the module options of ``/etc/modprobe.d/ib_srp.conf``
(:py:func:`check_module_options`, :py:func:`modprobe_conf_text`),
``/etc/srp_daemon.conf`` (:py:func:`render_srp_daemon_conf`) and
``/etc/rdma/rdma.conf`` (:py:func:`rdma_conf_text`). No I/O.
"""

import ipaddress
import re

from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import modprobe

MODULE = "ib_srp"

_HOST_RE = re.compile(r"^host(\d+)$")

# The add_target options of ib_srp (srp_opt_tokens in ib_srp.c; max_it_iu_size
# and ch_count were added in late 2019, older kernels refuse them), in the
# order format_target writes them: identity first, then the kernel table's.
IB_CM_KEYS = ("id_ext", "ioc_guid", "dgid", "pkey", "service_id")


RDMA_CM_KEYS = ("id_ext", "ioc_guid", "dest")


TARGET_KEYS = (
    "id_ext",
    "ioc_guid",
    "dgid",
    "pkey",
    "service_id",
    "src",
    "dest",
    "max_sect",
    "max_cmd_per_lun",
    "target_can_queue",
    "io_class",
    "initiator_ext",
    "cmd_sg_entries",
    "allow_ext_sg",
    "sg_tablesize",
    "comp_vector",
    "tl_retry_count",
    "queue_size",
    "max_it_iu_size",
    "ch_count",
)


# SCST's ib_srpt prints its target identity in ``login_info`` as
# ``tid_ext=...,ioc_guid=...,pkey=ffff,dgid=...,service_id=...``: the same
# value ib_srp calls ``id_ext`` (the real capture logged in with it).
_KEY_ALIASES = {"tid_ext": "id_ext"}


# Decimal add_target options: (minimum, maximum or None), the kernel's checks.
_INT_RANGES = {
    "max_sect": (1, None),
    "max_cmd_per_lun": (1, None),
    "target_can_queue": (1, None),
    "cmd_sg_entries": (1, 255),
    "allow_ext_sg": (0, 1),
    "sg_tablesize": (1, 2048),
    "comp_vector": (0, None),
    "tl_retry_count": (2, 7),
    "queue_size": (1, None),
    "max_it_iu_size": (0, None),
    "ch_count": (1, None),
}


# Hex add_target options and their width in digits (printed zero-padded,
# lowercase, no 0x, as srp_daemon prints them).
_HEX_WIDTHS = {"id_ext": 16, "ioc_guid": 16, "service_id": 16, "initiator_ext": 16, "pkey": 4, "io_class": 4}


_IO_CLASSES = ("ff00", "0100")  # SRP rev. 10 and rev. 16a, the only ones ib_srp takes


def as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _tmo(value):
    """A recovery timer as the kernel prints it: seconds, or ``off``."""
    if value is None:
        return None
    return value if value == "off" else as_int(value)


def _check_raw_value(key, value):
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, (str, int)):
        raise SaltInvocationError(f"invalid value {value!r} for SRP option {key!r}: give a string or a number")
    value = str(value).strip()
    if value == "" or "," in value or "\n" in value or "\r" in value:
        raise SaltInvocationError(
            f"invalid value {value!r} for SRP option {key!r}: it must be non-empty and contain no ',' or line break "
            "(the kernel splits add_target on them)"
        )
    return value


def _norm_hex(key, value, width):
    text = value.lower()
    if text.startswith("0x"):
        text = text[2:]
    if not text or not re.fullmatch(r"[0-9a-f]+", text) or len(text.lstrip("0")) > width:
        raise SaltInvocationError(f"invalid {key} {value!r}: expected a hexadecimal number of at most {width} digits")
    return text.rjust(width, "0")[-width:]


def _norm_gid(key, value):
    """A GID as add_target wants it: 32 hex digits. Also takes the ``fe80:0000:...`` form sysfs prints."""
    text = value.lower()
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text).packed.hex()
        except ValueError:
            raise SaltInvocationError(f"invalid {key} {value!r}: not a GID") from None
    if text.startswith("0x"):
        text = text[2:]
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise SaltInvocationError(f"invalid {key} {value!r}: expected 32 hexadecimal digits (a GID)")
    return text


def _norm_addr(key, value, need_port):
    """``<ipv4>[:<port>]`` or ``[<ipv6>[%scope]][:<port>]`` (srp_parse_in in ib_srp.c)."""
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", value) or re.fullmatch(r"([^:\[\]]+)(?::(\d+))?", value)
    if not match:
        raise SaltInvocationError(f"invalid {key} {value!r}: expected <IPv4>:<port> or [<IPv6>]:<port>")
    host, port = match.group(1), match.group(2)
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise SaltInvocationError(f"invalid {key} {value!r}: {host!r} is not an IP address") from None
    if need_port and port is None:
        raise SaltInvocationError(f"invalid {key} {value!r}: the port is missing (ib_srp needs <ip>:<port>)")
    if port is not None and not 0 < int(port) < 65536:
        raise SaltInvocationError(f"invalid {key} {value!r}: port {port} is out of range")
    text = f"[{addr}]" if addr.version == 6 else str(addr)
    return text if port is None else f"{text}:{int(port)}"


def _norm_option(key, value):
    if (key in _HEX_WIDTHS or key == "dgid") and not isinstance(value, str):
        # YAML reads 005400123456 as an (octal) number: the digits are lost.
        raise SaltInvocationError(f"invalid {key} {value!r}: give hexadecimal values as strings (quote them in YAML)")
    if isinstance(value, bool) and key != "allow_ext_sg":
        raise SaltInvocationError(f"invalid {key} {value!r}: expected a number")
    value = _check_raw_value(key, value)
    if key in ("dgid",):
        return _norm_gid(key, value)
    if key in _HEX_WIDTHS:
        text = _norm_hex(key, value, _HEX_WIDTHS[key])
        if key == "io_class" and text not in _IO_CLASSES:
            raise SaltInvocationError(f"invalid io_class {value!r}: ib_srp takes ff00 (SRP rev. 10) or 0100 (rev. 16a)")
        return text
    if key == "dest":
        return _norm_addr(key, value, need_port=True)
    if key == "src":
        return _norm_addr(key, value, need_port=False)
    low, high = _INT_RANGES[key]
    if key == "allow_ext_sg" and value.lower() in ("true", "false"):
        value = "1" if value.lower() == "true" else "0"
    if not re.fullmatch(r"\d+", value):
        raise SaltInvocationError(f"invalid {key} {value!r}: expected a decimal number")
    number = int(value)
    if number < low or (high is not None and number > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise SaltInvocationError(f"invalid {key} {number}: ib_srp accepts {span}")
    return str(number)


def _split_line(line):
    """Split an add_target line into ``[(key, value)]`` like the kernel (strsep on ',' and newline)."""
    pairs = []
    for token in re.split(r"[,\n]", line):
        token = token.strip()
        if not token:
            continue
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise SaltInvocationError(f"invalid SRP login option {token!r}: expected key=value")
        pairs.append((key.strip(), value.strip()))
    return pairs


def parse_login_spec(spec, **options):
    """
    Validate and normalise one SRP target port (a login specification).

    ``spec`` is an add_target line (``id_ext=...,ioc_guid=...,dest=...``, as
    written to add_target or printed by ``srp_daemon -c``) or a dict; keyword
    options are added to it. Every key must be one of ib_srp's add_target
    options (:py:data:`TARGET_KEYS`; ``tid_ext`` from SCST's ``login_info`` is
    read as ``id_ext``), every value is checked the way the kernel checks it.
    Hex values come back lowercase, zero-padded, without ``0x``; GIDs as 32
    hex digits. Either IB/CM (``id_ext, ioc_guid, dgid, pkey, service_id``)
    or RDMA/CM (``id_ext, ioc_guid, dest=<ip>:<port>``, optionally ``src``).
    Returns a dict in :py:data:`TARGET_KEYS` order.
    """
    if isinstance(spec, str):
        pairs = _split_line(spec)
    elif isinstance(spec, dict):
        pairs = list(spec.items())
    elif spec is None:
        pairs = []
    else:
        raise SaltInvocationError(f"invalid SRP target {spec!r}: give an add_target line or a dict")
    pairs += [(k, v) for k, v in options.items() if not str(k).startswith("__")]
    values = {}
    for key, value in pairs:
        key = _KEY_ALIASES.get(key, key)
        if key not in TARGET_KEYS:
            raise SaltInvocationError(
                f"unknown SRP login option {key!r}: ib_srp's add_target accepts {', '.join(TARGET_KEYS)}"
            )
        normalised = _norm_option(key, value)
        if key in values and values[key] != normalised:
            raise SaltInvocationError(f"SRP login option {key!r} given twice ({values[key]} and {normalised})")
        values[key] = normalised
    ib = [k for k in IB_CM_KEYS[2:] if k in values]
    if "dest" in values:
        if ib:
            raise SaltInvocationError(
                f"SRP target gives both dest (RDMA/CM) and {', '.join(ib)} (IB/CM): give one kind of address"
            )
        missing = [k for k in RDMA_CM_KEYS if k not in values]
    else:
        if "src" in values:
            raise SaltInvocationError("SRP option src only goes with dest (RDMA/CM)")
        missing = [k for k in IB_CM_KEYS if k not in values]
    if missing:
        raise SaltInvocationError(
            f"SRP target lacks {', '.join(missing)}: IB/CM needs {', '.join(IB_CM_KEYS)}; "
            f"RDMA/CM (RoCE, iWARP) needs {', '.join(RDMA_CM_KEYS)}=<ip>:<port>"
        )
    return {key: values[key] for key in TARGET_KEYS if key in values}


def format_target(target):
    """Return the add_target line (no newline) for a target dict or line, validated by :py:func:`parse_login_spec`."""
    spec = parse_login_spec(target)
    return ",".join(f"{key}={value}" for key, value in spec.items())


def describe(spec):
    where = f"dest {spec['dest']}" if "dest" in spec else f"dgid {spec.get('dgid')}"
    return f"SRP target id_ext={spec['id_ext']} ioc_guid={spec['ioc_guid']} ({where})"


def parse_srp_daemon(text):
    """
    Parse what ``srp_daemon -o -a -c`` (or ``ibsrpdm -c``) prints: one
    add_target line per target port. Blank lines are skipped; known keys are
    normalised like :py:func:`parse_login_spec`, other keys are kept as
    printed. Returns a list of dicts.
    """
    targets = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            pairs = _split_line(line)
        except SaltInvocationError as exc:
            raise CommandExecutionError(f"cannot parse srp_daemon output line {line!r}: {exc}") from None
        entry = {}
        for key, value in pairs:
            key = _KEY_ALIASES.get(key, key)
            entry[key] = _norm_option(key, value) if key in TARGET_KEYS else value
        if "id_ext" not in entry or "ioc_guid" not in entry:
            raise CommandExecutionError(f"srp_daemon output line {line!r} has no id_ext/ioc_guid")
        targets.append(entry)
    return targets


def _clean(value):
    """None for an unreadable attribute (a ``cat: ...`` error in a capture, or nothing)."""
    if value is None:
        return None
    value = value.rstrip("\n").strip()
    return None if value.startswith("cat: ") else value


def _opt_hex(value, width):
    if value is None:
        return None
    try:
        return _norm_hex("value", value, width)
    except SaltInvocationError:
        return value


def _opt_gid(value):
    if value is None:
        return None
    try:
        return _norm_gid("gid", value)
    except SaltInvocationError:
        return value


def parse_login_attrs(host_attrs, rport_attrs=None, host=None, remote_port=None):
    """
    Build one login entry from the raw attribute texts of its SCSI host
    (``/sys/class/scsi_host/hostN/<attr>``) and remote port
    (``/sys/class/srp_remote_ports/port-N:M/<attr>``); None or a missing key
    is an unreadable attribute.

    ``id_ext``, ``ioc_guid``, ``service_id``, ``pkey`` come back without
    ``0x``; ``dgid``/``orig_dgid`` as 32 hex digits (add_target's form);
    ``sgid`` as the kernel prints it (the form of the port's GID).
    ``transport`` is ``ib_cm`` or ``rdma_cm``: RDMA/CM logins have no
    ``dgid``/``orig_dgid``/``pkey``/``service_id`` (reading them gives
    ENOENT). The kernel exposes no ``dest`` for RDMA/CM logins anywhere in
    sysfs (only the "new target ... dest" kernel log line has it), so
    ``target`` holds what identifies the login to ib_srp: id_ext + ioc_guid
    (+ the IB/CM address) on the local port.
    """
    raw = {k: _clean(v) for k, v in (host_attrs or {}).items()}
    rraw = {k: _clean(v) for k, v in (rport_attrs or {}).items()}
    orig_dgid = _opt_gid(raw.get("orig_dgid"))
    dgid = _opt_gid(raw.get("dgid"))
    ib_cm = orig_dgid is not None or dgid is not None
    allow_ext_sg = raw.get("allow_ext_sg")
    entry = {
        "host": host,
        "host_no": int(host[4:]) if host and _HOST_RE.match(host) else None,
        "remote_port": remote_port,
        "proc_name": raw.get("proc_name"),
        "transport": "ib_cm" if ib_cm else "rdma_cm",
        "id_ext": _opt_hex(raw.get("id_ext"), 16),
        "ioc_guid": _opt_hex(raw.get("ioc_guid"), 16),
        "dgid": dgid,
        "orig_dgid": orig_dgid,
        "pkey": _opt_hex(raw.get("pkey"), 4),
        "service_id": _opt_hex(raw.get("service_id"), 16),
        "dest": None,  # not exposed by the kernel (see above)
        "sgid": raw.get("sgid"),
        "local_ib_device": raw.get("local_ib_device"),
        "local_ib_port": as_int(raw.get("local_ib_port")),
        "req_lim": as_int(raw.get("req_lim")),
        "zero_req_lim": as_int(raw.get("zero_req_lim")),
        "allow_ext_sg": None if allow_ext_sg is None else allow_ext_sg == "true",
        "ch_count": as_int(raw.get("ch_count")),
        "comp_vector": as_int(raw.get("comp_vector")),
        "tl_retry_count": as_int(raw.get("tl_retry_count")),
        "cmd_sg_entries": as_int(raw.get("cmd_sg_entries")),
        "port_id": rraw.get("port_id"),
        "roles": rraw.get("roles"),
        "state": rraw.get("state"),
        "dev_loss_tmo": _tmo(rraw.get("dev_loss_tmo")),
        "fast_io_fail_tmo": _tmo(rraw.get("fast_io_fail_tmo")),
        "reconnect_delay": _tmo(rraw.get("reconnect_delay")),
        "failed_reconnects": as_int(rraw.get("failed_reconnects")),
    }
    if entry["local_ib_device"] is not None and entry["local_ib_port"] is not None:
        entry["port"] = f"srp-{entry['local_ib_device']}-{entry['local_ib_port']}"
    else:
        entry["port"] = None
    target = {"id_ext": entry["id_ext"], "ioc_guid": entry["ioc_guid"]}
    if ib_cm:
        target.update(dgid=orig_dgid or dgid, pkey=entry["pkey"], service_id=entry["service_id"])
    entry["target"] = target
    return entry


# --------------------------------------------------------------------------
# the persisted setup: modprobe.d, srp_daemon.conf, rdma.conf
# --------------------------------------------------------------------------

HEADER = "# Written by mdtmirror (salt srp.{fun}); local changes are overwritten."

# srp_daemon.conf: the identity keys a rule may match on and the options an
# allow rule may carry (parse_main_option/parse_other_option in rdma-core's
# srp_daemon.c); anything else makes srp_daemon refuse the whole file.
RULE_MATCH_KEYS = ("id_ext", "ioc_guid", "dgid", "service_id", "pkey")
RULE_OPTIONS = (
    "allow_ext_sg",
    "ch_count",
    "cmd_sg_entries",
    "comp_vector",
    "max_cmd_per_lun",
    "max_sect",
    "queue_size",
    "sg_tablesize",
    "tl_retry_count",
)

# ib_srp module parameters (module_param*() in ib_srp.c).
TMO_PARAMS = ("reconnect_delay", "fast_io_fail_tmo", "dev_loss_tmo")
TMO_DEFAULTS = {"reconnect_delay": 10, "fast_io_fail_tmo": 15, "dev_loss_tmo": 600}
SCSI_DEVICE_BLOCK_MAX_TIMEOUT = 600
MODULE_PARAMS = {
    "cmd_sg_entries": ("int", 1, 255),
    "indirect_sg_entries": ("int", 0, 2048),
    "allow_ext_sg": ("bool", None, None),
    "topspin_workarounds": ("int", 0, None),
    "register_always": ("bool", None, None),
    "never_register": ("bool", None, None),
    "reconnect_delay": ("tmo", None, None),
    "fast_io_fail_tmo": ("tmo", None, None),
    "dev_loss_tmo": ("tmo", None, None),
    "use_imm_data": ("bool", None, None),
    "max_imm_data": ("int", 0, None),
    "ch_count": ("int", 0, None),
}


def parse_modprobe_conf(text):
    """Return the ib_srp options of a modprobe.d file: ``{name: value}`` (later lines win)."""
    return modprobe.options(text, MODULE)


def check_module_options(options):
    """Validate ib_srp module options; return ``{name: text}`` sorted by name."""
    if not isinstance(options, dict):
        raise SaltInvocationError(f"invalid ib_srp options {options!r}: give a dict")
    out = {}
    for key, value in options.items():
        if key == "srp_sg_tablesize":
            raise SaltInvocationError("ib_srp option srp_sg_tablesize is the deprecated name of cmd_sg_entries")
        if key not in MODULE_PARAMS:
            raise SaltInvocationError(f"unknown ib_srp module option {key!r}: known are {', '.join(MODULE_PARAMS)}")
        kind, low, high = MODULE_PARAMS[key]
        text = str(int(value) if isinstance(value, bool) and kind != "bool" else value).strip()
        if kind == "bool":
            lowered = text.lower()
            if value is True or lowered in ("1", "y", "yes", "true", "on"):
                text = "Y"
            elif value is False or lowered in ("0", "n", "no", "false", "off"):
                text = "N"
            else:
                raise SaltInvocationError(f"invalid ib_srp option {key}={value!r}: expected a boolean")
        elif kind == "tmo":
            if text.lower() == "off":
                text = "off"
            elif not re.fullmatch(r"-?\d+", text):
                raise SaltInvocationError(f"invalid ib_srp option {key}={value!r}: seconds or 'off'")
            elif int(text) < 0:
                text = "off"  # the kernel stores "off" as -1
        else:
            if not re.fullmatch(r"\d+", text) or int(text) < low or (high is not None and int(text) > high):
                span = f"{low}..{high}" if high is not None else f">= {low}"
                raise SaltInvocationError(f"invalid ib_srp option {key}={value!r}: expected a number {span}")
            text = str(int(text))
        out[key] = text
    check_tmo(out)
    return dict(sorted(out.items()))


def check_tmo(options):
    """srp_tmo_valid() of scsi_transport_srp.c on the timers as they will be at load time."""
    values = {}
    for key in TMO_PARAMS:
        text = options.get(key)
        values[key] = TMO_DEFAULTS[key] if text is None else (-1 if text == "off" else int(text))
    delay, fast, loss = (values[k] for k in TMO_PARAMS)
    shown = ", ".join(f"{k}={options.get(k, TMO_DEFAULTS[k])}" for k in TMO_PARAMS)
    if delay < 0 and fast < 0 and loss < 0:
        problem = "all three timers are off"
    elif delay == 0:
        problem = "reconnect_delay 0 is not allowed (use off)"
    elif fast > SCSI_DEVICE_BLOCK_MAX_TIMEOUT:
        problem = f"fast_io_fail_tmo exceeds {SCSI_DEVICE_BLOCK_MAX_TIMEOUT}"
    elif fast < 0 and loss > SCSI_DEVICE_BLOCK_MAX_TIMEOUT:
        problem = f"with fast_io_fail_tmo off, dev_loss_tmo must be at most {SCSI_DEVICE_BLOCK_MAX_TIMEOUT}"
    elif fast >= 0 and loss >= 0 and fast >= loss:
        problem = "fast_io_fail_tmo must be smaller than dev_loss_tmo"
    else:
        return
    raise SaltInvocationError(f"invalid ib_srp timers ({shown}): {problem} (the kernel would refuse them)")


def modprobe_conf_text(current, wanted):
    """
    The modprobe.d file ``current`` (its text, None if it does not exist) with
    ``wanted`` (checked options, :py:func:`check_module_options`) as its one
    ``options ib_srp ...`` line in place of any other, the rest kept; None if
    that changes no line.
    """
    lines = (current or "").splitlines()
    new_line = f"options {MODULE} " + " ".join(f"{k}={v}" for k, v in wanted.items()) if wanted else None
    out, placed = [], False
    for group in modprobe.logical_lines(current):
        if modprobe.is_options_of(group, MODULE):
            if new_line and not placed:
                out.append(new_line)
            placed = True
        else:
            out.extend(group)
    if new_line and not placed:
        if current is None:
            out.append(HEADER.format(fun="persist_module_options"))
        out.append(new_line)
    if out == lines:
        return None
    return "\n".join(out) + "\n"


def render_srp_daemon_conf(targets):
    """
    Render an ``/etc/srp_daemon.conf`` that lets srp_daemon log in to exactly
    ``targets`` (add_target lines or dicts) and nothing else: one ``a`` rule
    per target, matching its id_ext, ioc_guid and (IB/CM) dgid, service_id,
    pkey, carrying the options srp_daemon passes on (``max_sect``,
    ``queue_size``...), then ``d`` (deny the rest). RDMA/CM targets have no
    IB address: their rule matches id_ext and ioc_guid only (srp_daemon only
    discovers over InfiniBand anyway).
    """
    if isinstance(targets, (str, dict)):
        targets = [targets]
    rules = []
    for target in targets or []:
        spec = parse_login_spec(target)
        match = [f"{k}={spec[k]}" for k in RULE_MATCH_KEYS if k in spec]
        opts = []
        for key, value in spec.items():
            if key in RULE_MATCH_KEYS or key in ("dest", "src"):
                continue
            if key not in RULE_OPTIONS:
                raise SaltInvocationError(
                    f"{describe(spec)}: srp_daemon.conf rules cannot carry {key!r} (srp_daemon takes "
                    f"{', '.join(RULE_OPTIONS)} and refuses the whole file otherwise)"
                )
            opts.append(f"{key}={value}")
        # srp_daemon keeps an allow rule's options in 128 bytes (",k=v" each)
        # and reads lines into a 255-byte buffer.
        if sum(len(o) + 1 for o in opts) >= 128:
            raise SaltInvocationError(f"{describe(spec)}: too many options for one srp_daemon.conf rule")
        rule = "a " + ",".join(match + opts)
        if len(rule) >= 254:
            raise SaltInvocationError(f"{describe(spec)}: srp_daemon.conf rule longer than srp_daemon reads")
        if rule not in rules:
            rules.append(rule)
    # Comments must start in column 0 and no line may be blank-but-not-empty:
    # srp_daemon's parser takes any other line as a rule.
    header = [
        HEADER.format(fun="persist_daemon_conf"),
        "# srp_daemon logs in to these target ports only; the last rule denies the rest.",
    ]
    return "\n".join(header + rules + ["d"]) + "\n"


def rdma_conf_text(current):
    """
    ``/etc/rdma/rdma.conf`` (its text) with ``SRP_LOAD=yes`` in place of any
    ``SRP_LOAD=`` line (the first; the others dropped), or added at the end;
    None if that changes no line.
    """
    lines = current.splitlines()
    out, placed = [], False
    for line in lines:
        if re.match(r"^\s*SRP_LOAD\s*=", line):
            if not placed:
                out.append("SRP_LOAD=yes")
            placed = True
        else:
            out.append(line)
    if not placed:
        out.append("SRP_LOAD=yes")
    if out == lines:
        return None
    return "\n".join(out) + "\n"
