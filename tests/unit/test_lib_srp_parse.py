"""The library's ib_srp language (mdtmirror_lib.srp_parse), on real ib_srp texts (captures) and documented formats."""

import re

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from mdtmirror_lib import srp_parse as sp
from tests.captures import captures_dir, scst_capture


def srp_capture(name):
    return captures_dir() / "linux-6.1-openzfs-2.3.2" / "srp" / name


def dump_blocks(text):
    """
    The attribute dumps of the captures: a ``== <path>[ -> <target>]`` line,
    then ``attr=value`` (login.txt) or ``attr: value `` (srp_remote_ports.txt)
    lines. Unreadable attributes keep the ``cat: ...`` error text.
    """
    blocks, current = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            current = blocks.setdefault(line[3:].split(" -> ")[0].strip(), {})
            continue
        match = re.match(r"^([a-z_]+)(?:=|: )(.*)$", line) if current is not None else None
        if match:
            current[match.group(1)] = match.group(2).rstrip()
        else:
            current = None
    return blocks


def add_target_lines(text):
    return re.findall(r"echo '([^']*)' > /sys/class/infiniband_srp/srp-rxe0-1/add_target", text)


# ---------------------------------------------------------------- login specs


def test_captured_add_target_lines_round_trip_exactly():
    lines = add_target_lines(scst_capture("login.txt").read_text())
    lines += add_target_lines(scst_capture("pathloss.txt").read_text())
    # login.txt: the first login; pathloss.txt: one with ch_count, then the duplicate.
    assert lines == [
        "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555",
        "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555,ch_count=1",
        "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555",
    ]
    for line in lines:
        assert sp.format_target(sp.parse_login_spec(line)) == line
    assert sp.parse_login_spec(lines[1]) == {
        "id_ext": "005400fffe123456",
        "ioc_guid": "005400fffe123456",
        "dest": "10.0.2.15:5555",
        "ch_count": "1",
    }


def test_scst_login_info_reads_as_ib_cm_target():
    # login.txt line 2: SCST ib_srpt's login_info names the id extension tid_ext;
    # the login that worked used the same value as id_ext.
    info = scst_capture("login.txt").read_text().splitlines()[1]
    assert info.startswith("tid_ext=")
    spec = sp.parse_login_spec(info)
    assert spec == {
        "id_ext": "005400fffe123456",
        "ioc_guid": "005400fffe123456",
        "dgid": "fe80000000000000505400fffe123456",
        "pkey": "ffff",
        "service_id": "005400fffe123456",
    }
    assert sp.format_target(info) == (
        "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dgid=fe80000000000000505400fffe123456,"
        "pkey=ffff,service_id=005400fffe123456"
    )


def test_gid_in_sysfs_form_normalises_to_add_target_form():
    # The SCSI host's sgid (sysfs %pI6 form) is the target port's GID that
    # login_info prints as dgid (32 hex digits): the same GID.
    host = dump_blocks(scst_capture("login.txt").read_text())["/sys/class/scsi_host/host2"]
    info = sp.parse_login_spec(scst_capture("login.txt").read_text().splitlines()[1])
    spec = sp.parse_login_spec(dict(info, dgid=host["sgid"]))
    assert host["sgid"] == "fe80:0000:0000:0000:5054:00ff:fe12:3456"
    assert spec["dgid"] == info["dgid"]


def test_hex_values_are_normalised_and_ids_from_sysfs_accepted():
    host = dump_blocks(scst_capture("login.txt").read_text())["/sys/class/scsi_host/host2"]
    assert host["id_ext"] == "0x005400fffe123456"  # what sysfs prints
    spec = sp.parse_login_spec(
        {"id_ext": host["id_ext"], "ioc_guid": host["ioc_guid"].upper(), "dest": "10.0.2.15:5555"}
    )
    assert spec["id_ext"] == spec["ioc_guid"] == "005400fffe123456"
    assert sp.parse_login_spec("id_ext=5400,ioc_guid=1,dest=10.0.2.15:5555")["id_ext"] == "0000000000005400"
    with pytest.raises(SaltInvocationError, match="at most 16 digits"):
        sp.parse_login_spec("id_ext=10005400fffe123456,ioc_guid=1,dest=10.0.2.15:5555")
    ib = sp.parse_login_spec(
        "id_ext=20030003BA27CC7A,ioc_guid=0005ad00000013e7,dgid=FE800000000000000005AD00000013E9,"
        "pkey=0xFFFF,service_id=66"
    )
    assert ib["id_ext"] == "20030003ba27cc7a"
    assert ib["dgid"] == "fe800000000000000005ad00000013e9"
    assert ib["pkey"] == "ffff"
    assert ib["service_id"] == "0000000000000066"


def test_unknown_key_from_the_real_bad_login_is_refused_by_name():
    # bad_key_login.txt: the kernel's answer to an unknown option.
    text = srp_capture("bad_key_login.txt").read_text()
    bad = re.search(r"unknown parameter or missing value '([^']+)'", text).group(1)
    assert bad == "bogus_key=1"
    line = "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555," + bad
    with pytest.raises(SaltInvocationError, match="unknown SRP login option 'bogus_key'"):
        sp.parse_login_spec(line)
    with pytest.raises(SaltInvocationError, match="'bogus_key'"):
        sp.format_target({"id_ext": "1", "ioc_guid": "1", "dest": "10.0.2.15:5555", "bogus_key": 1})


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"max_sect": "8192,dest=10.9.9.9:1"}, r"no ',' or line break"),
        ({"max_sect": "8192\nid_ext=1"}, r"no ',' or line break"),
        ({"max_sect": ""}, r"non-empty"),
        ({"tl_retry_count": 8}, r"tl_retry_count 8: ib_srp accepts 2\.\.7"),
        ({"cmd_sg_entries": 0}, r"1\.\.255"),
        ({"io_class": "0200"}, r"ff00 .* or 0100"),
        ({"ch_count": True}, r"expected a number"),
        ({"dgid": "fe800000000000000005ad00000013e9"}, r"both dest \(RDMA/CM\) and dgid"),
        ({"dest": "10.0.2.15"}, r"port is missing"),
        ({"dest": "host.example:5555"}, r"not an IP address"),
    ],
)
def test_values_are_checked_like_the_kernel(extra, message):
    base = {"id_ext": "005400fffe123456", "ioc_guid": "005400fffe123456", "dest": "10.0.2.15:5555"}
    with pytest.raises(SaltInvocationError, match=message):
        sp.parse_login_spec(dict(base, **extra))


def test_address_kinds_and_missing_keys():
    with pytest.raises(SaltInvocationError, match="lacks dgid, service_id"):
        sp.parse_login_spec("id_ext=1,ioc_guid=2,pkey=ffff")
    with pytest.raises(SaltInvocationError, match="src only goes with dest"):
        sp.parse_login_spec({"id_ext": "1", "ioc_guid": "2", "src": "10.0.2.15"})
    with pytest.raises(SaltInvocationError, match="lacks ioc_guid"):
        sp.parse_login_spec({"id_ext": "1", "dest": "10.0.2.15:5555"})
    with pytest.raises(SaltInvocationError, match="src only goes with dest"):
        sp.parse_login_spec(
            "id_ext=1,ioc_guid=2,dgid=fe800000000000000005ad00000013e9,pkey=ffff,service_id=1,src=1.2.3.4"
        )
    # YAML would have turned 005400123456 into a number: hex must come as text.
    with pytest.raises(SaltInvocationError, match="as strings"):
        sp.parse_login_spec({"id_ext": 5400123456, "ioc_guid": "1", "dest": "10.0.2.15:5555"})
    v6 = sp.parse_login_spec("id_ext=1,ioc_guid=1,dest=[fe80::5054:ff:fe12:3456%2]:5555,src=[fe80::1%2]")
    assert v6["dest"] == "[fe80::5054:ff:fe12:3456%2]:5555"
    assert list(v6) == ["id_ext", "ioc_guid", "src", "dest"]


def test_options_merge_and_salt_pub_kwargs_are_ignored():
    line = "id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555"
    spec = sp.parse_login_spec(line, ch_count=1, allow_ext_sg=True, __pub_fun="srp.login")
    assert sp.format_target(spec) == line + ",allow_ext_sg=1,ch_count=1"
    with pytest.raises(SaltInvocationError, match="given twice"):
        sp.parse_login_spec(line + ",ch_count=2", ch_count=1)


# ---------------------------------------------------------------- srp_daemon output

# Format from documentation (no real `srp_daemon -oacd` capture exists: it needs
# an InfiniBand subnet manager). linux-rdma/rdma-core, Documentation/ibsrpdm.md
# (commit 691953d8d502), "ibsrpdm -c" example; srp_daemon -c prints the same
# line (snprintf "id_ext=%s,ioc_guid=%016llx,dgid=%016llx%016llx,pkey=%04x,
# service_id=%016llx" in srp_daemon/srp_daemon.c), then ",io_class=...",
# ",initiator_ext=...", rule options and ",max_it_iu_size=..." when they apply.
DOCUMENTED_SRP_DAEMON_OUTPUT = """\
id_ext=20030003BA27CC7A,ioc_guid=0005ad00000013e7,dgid=fe800000000000000005ad00000013e9,pkey=ffff,service_id=0000000000000066
id_ext=20030003BA27CF53,ioc_guid=0005ad00000013e7,dgid=fe800000000000000005ad00000013e9,pkey=ffff,service_id=0000000000000066
"""


def test_parse_srp_daemon_documented_example():
    text = "\n" + DOCUMENTED_SRP_DAEMON_OUTPUT.replace("\n", "\n\n") + "   \n"
    targets = sp.parse_srp_daemon(text)
    assert targets == [
        {
            "id_ext": "20030003ba27cc7a",
            "ioc_guid": "0005ad00000013e7",
            "dgid": "fe800000000000000005ad00000013e9",
            "pkey": "ffff",
            "service_id": "0000000000000066",
        },
        {
            "id_ext": "20030003ba27cf53",
            "ioc_guid": "0005ad00000013e7",
            "dgid": "fe800000000000000005ad00000013e9",
            "pkey": "ffff",
            "service_id": "0000000000000066",
        },
    ]
    # Each is a valid login as printed.
    for target, line in zip(targets, DOCUMENTED_SRP_DAEMON_OUTPUT.splitlines()):
        assert sp.format_target(target) == line.replace(target["id_ext"].upper(), target["id_ext"])


def test_parse_srp_daemon_keeps_extra_keys():
    line = DOCUMENTED_SRP_DAEMON_OUTPUT.splitlines()[0] + ",io_class=ff00,max_it_iu_size=8260,future_key=X"
    (target,) = sp.parse_srp_daemon(line)
    assert target["io_class"] == "ff00"
    assert target["max_it_iu_size"] == "8260"
    assert target["future_key"] == "X"
    with pytest.raises(CommandExecutionError, match="cannot parse srp_daemon output line 'garbage'"):
        sp.parse_srp_daemon("garbage\n")


# ---------------------------------------------------------------- login attributes


def test_parse_login_attrs_real_rdma_cm_login():
    blocks = dump_blocks(scst_capture("login.txt").read_text())
    host = blocks["/sys/class/scsi_host/host2"]
    rport = blocks["/sys/class/srp_remote_ports/port-2:1"]
    assert host["dgid"].startswith("cat: ")  # RDMA/CM: ENOENT
    entry = sp.parse_login_attrs(host, rport, host="host2", remote_port="port-2:1")
    assert entry["transport"] == "rdma_cm"
    assert (entry["id_ext"], entry["ioc_guid"]) == ("005400fffe123456", "005400fffe123456")
    assert entry["dgid"] is entry["orig_dgid"] is entry["pkey"] is entry["service_id"] is None
    assert entry["dest"] is None
    assert entry["sgid"] == "fe80:0000:0000:0000:5054:00ff:fe12:3456"
    assert (entry["local_ib_device"], entry["local_ib_port"], entry["port"]) == ("rxe0", 1, "srp-rxe0-1")
    assert entry["allow_ext_sg"] is False
    assert (entry["req_lim"], entry["zero_req_lim"], entry["comp_vector"]) == (64, 0, 0)
    assert (entry["tl_retry_count"], entry["cmd_sg_entries"]) == (7, 12)
    assert entry["state"] == "running"
    assert (entry["dev_loss_tmo"], entry["fast_io_fail_tmo"], entry["reconnect_delay"]) == (600, 15, 10)
    assert entry["host_no"] == 2
    assert entry["target"] == {"id_ext": "005400fffe123456", "ioc_guid": "005400fffe123456"}
    # The remote port's id is id_ext followed by ioc_guid.
    assert entry["port_id"].replace(":", "") == entry["id_ext"] + entry["ioc_guid"]


def test_parse_login_attrs_real_lio_remote_port():
    blocks = dump_blocks(srp_capture("srp_remote_ports.txt").read_text())
    rport = blocks["/sys/class/srp_remote_ports/port-2:1"]
    assert rport["delete"].startswith("cat: ")  # write-only
    entry = sp.parse_login_attrs({"id_ext": "0x505400fffe123456", "ioc_guid": "0x505400fffe123456"}, rport)
    assert entry["roles"] == "SRP Target"
    assert entry["failed_reconnects"] == 0
    assert entry["port_id"].replace(":", "") == entry["id_ext"] + entry["ioc_guid"]
    off = sp.parse_login_attrs({}, {"fast_io_fail_tmo": "off\n", "dev_loss_tmo": "30\n"})
    assert (off["fast_io_fail_tmo"], off["dev_loss_tmo"]) == ("off", 30)


def test_parse_login_attrs_ib_cm_uses_orig_dgid():
    attrs = {
        "id_ext": "0x0002c90300b77f40",
        "ioc_guid": "0x0002c90300b77f40",
        "dgid": "fe80:0000:0000:0000:0002:c903:00b7:7f99",  # after a port redirect
        "orig_dgid": "fe80:0000:0000:0000:0002:c903:00b7:7f41",
        "pkey": "0xffff",
        "service_id": "0x0002c90300b77f40",
    }
    entry = sp.parse_login_attrs(attrs)
    assert entry["transport"] == "ib_cm"
    assert entry["target"] == {
        "id_ext": "0002c90300b77f40",
        "ioc_guid": "0002c90300b77f40",
        "dgid": "fe800000000000000002c90300b77f41",
        "pkey": "ffff",
        "service_id": "0002c90300b77f40",
    }


# ---------------------------------------------------------------- srp_daemon.conf


def srp_daemon_rules(text):
    """
    Python port of get_rules_file()/parse_main_option()/parse_other_option()/
    copy_till_comma() of rdma-core's srp_daemon/srp_daemon.c: raises where
    srp_daemon would refuse the file, returns the rules it would use.
    """
    main = {"id_ext": 16, "ioc_guid": 16, "dgid": 32, "service_id": 16, "pkey": 9}
    other = (
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
    assert text.endswith("\n")
    rules = []
    for line in text.splitlines():
        assert len(line) + 1 < 255, "longer than srp_daemon's line buffer"
        if line == "" or line[0] == "#":
            continue
        assert line[0] in "aAdD", f"bad first character: {line!r}"
        rule = {"allow": line[0] in "aA"}
        body = line[1:].lstrip(" \t")
        for token in filter(None, re.split(r"[, \t]+", body)):
            key, _, value = token.partition("=")
            if key in main:
                assert re.fullmatch(r"[0-9a-fA-F]+", value) and len(value) <= main[key], token
            else:
                assert rule["allow"] and key in other, f"srp_daemon refuses {token!r}"
                assert re.fullmatch(r"[0-9]+", value), token
            rule[key] = value
        rules.append(rule)
    return rules


def test_render_srp_daemon_conf_allows_exactly_the_targets():
    first, second = sp.parse_srp_daemon(DOCUMENTED_SRP_DAEMON_OUTPUT)
    text = sp.render_srp_daemon_conf([dict(first, max_sect=8192), second, sp.format_target(second)])
    rules = srp_daemon_rules(text)
    assert rules == [
        dict({"allow": True}, **first, max_sect="8192"),
        dict({"allow": True}, **second),
        {"allow": False},
    ]
    assert text.splitlines()[-1] == "d"
    assert sp.render_srp_daemon_conf([]).splitlines()[-1] == "d"
    # An RDMA/CM target: matched by its identity only.
    rdma = sp.render_srp_daemon_conf("id_ext=005400fffe123456,ioc_guid=005400fffe123456,dest=10.0.2.15:5555")
    assert srp_daemon_rules(rdma)[0] == {"allow": True, "id_ext": "005400fffe123456", "ioc_guid": "005400fffe123456"}


def test_render_srp_daemon_conf_refuses_options_srp_daemon_rejects():
    first = sp.parse_srp_daemon(DOCUMENTED_SRP_DAEMON_OUTPUT)[0]
    with pytest.raises(SaltInvocationError, match="cannot carry 'io_class'"):
        sp.render_srp_daemon_conf([dict(first, io_class="ff00")])
    with pytest.raises(SaltInvocationError, match="unknown SRP login option 'bogus'"):
        sp.render_srp_daemon_conf([dict(first, bogus="1")])


# ---------------------------------------------------------------- modprobe.d


def test_parse_modprobe_conf():
    text = (
        "# comment\n"
        "options ib_srpt rdma_cm_port=5555\n"
        "options ib_srp dev_loss_tmo=60 \\\n"
        "   fast_io_fail_tmo=5\n"
        "options ib-srp ch_count=2 # trailing comment\n"
    )
    assert sp.parse_modprobe_conf(text) == {"dev_loss_tmo": "60", "fast_io_fail_tmo": "5", "ch_count": "2"}
    assert sp.parse_modprobe_conf("") == {}


def test_check_module_options_normalises_like_modprobe_takes_them():
    assert sp.check_module_options(
        {"dev_loss_tmo": -1, "fast_io_fail_tmo": "5", "reconnect_delay": 3, "allow_ext_sg": True, "ch_count": "02"}
    ) == {"allow_ext_sg": "Y", "ch_count": "2", "dev_loss_tmo": "off", "fast_io_fail_tmo": "5", "reconnect_delay": "3"}
    assert sp.check_module_options({}) == {}
    with pytest.raises(SaltInvocationError, match="deprecated name of cmd_sg_entries"):
        sp.check_module_options({"srp_sg_tablesize": 12})
    with pytest.raises(SaltInvocationError, match="unknown ib_srp module option 'bogus'"):
        sp.check_module_options({"bogus": 1})
    with pytest.raises(SaltInvocationError, match="give a dict"):
        sp.check_module_options("dev_loss_tmo=30")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"reconnect_delay": "off", "fast_io_fail_tmo": "off", "dev_loss_tmo": "off"}, "all three timers are off"),
        ({"reconnect_delay": 0}, "reconnect_delay 0 is not allowed"),
        ({"fast_io_fail_tmo": 601, "dev_loss_tmo": 700}, "fast_io_fail_tmo exceeds 600"),
        ({"fast_io_fail_tmo": "off", "dev_loss_tmo": 601}, "dev_loss_tmo must be at most 600"),
        ({"fast_io_fail_tmo": 30, "dev_loss_tmo": 30}, "must be smaller than dev_loss_tmo"),
    ],
)
def test_check_tmo_is_srp_tmo_valid(options, message):
    with pytest.raises(SaltInvocationError, match=message):
        sp.check_module_options(options)


def test_modprobe_conf_text_replaces_the_ib_srp_line_only():
    wanted = sp.check_module_options({"dev_loss_tmo": 30, "fast_io_fail_tmo": 5})
    new = sp.modprobe_conf_text(None, wanted)
    assert (
        new == sp.HEADER.format(fun="persist_module_options") + "\noptions ib_srp dev_loss_tmo=30 fast_io_fail_tmo=5\n"
    )
    assert sp.modprobe_conf_text(new, wanted) is None
    current = (
        "# mine\noptions ib_srpt x=1\noptions ib_srp dev_loss_tmo=60 \\\n  ch_count=2\noptions ib-srp ch_count=1\n"
    )
    assert sp.modprobe_conf_text(current, wanted) == (
        "# mine\noptions ib_srpt x=1\noptions ib_srp dev_loss_tmo=30 fast_io_fail_tmo=5\n"
    )
    assert sp.modprobe_conf_text(current, {}) == "# mine\noptions ib_srpt x=1\n"
    assert sp.modprobe_conf_text(None, {}) is None


def test_rdma_conf_text_sets_srp_load():
    assert sp.rdma_conf_text("ISER_LOAD=yes\nSRP_LOAD=no\n SRP_LOAD = no\n") == "ISER_LOAD=yes\nSRP_LOAD=yes\n"
    assert sp.rdma_conf_text("ISER_LOAD=yes\n") == "ISER_LOAD=yes\nSRP_LOAD=yes\n"
    assert sp.rdma_conf_text("ISER_LOAD=yes\nSRP_LOAD=yes\n") is None
    assert sp.rdma_conf_text("SRP_LOAD=yes") is None  # no line changes: a missing final newline is left alone
