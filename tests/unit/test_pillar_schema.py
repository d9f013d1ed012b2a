"""The pillar's schema (salt/mdtmirror/schema.yaml) is the one list of keys:
pillar.example documents exactly its keys, the formula's defaults obey it, and
the rules built from it hold for generated pillars (hypothesis):

- a value that breaks its key's rule, put anywhere a pillar may hold it (the
  top level, a pair's override, a node's entry), never makes
  ``mdtmirror.resolve`` raise and always gives an error naming that key;
- a value the schema allows, put at a key no cross-key rule reads, gives no
  error at all.

The generators read the schema's declarations (type, range, pattern's regex,
enum values) and build the values themselves: what is "invalid" is decided
here from the declaration (a wrong type, one past a bound, an empty or
multi-line string), not by calling the code under test.
"""

import copy
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdtmirror_lib import pillar_rules
from tests.captures import REPO
from tests.unit.test_mdtmirror_settings import DEFAULTS, SCHEMA, example, resolve

PATTERNS = pillar_rules.PATTERNS
PAIR = "fs1-mdt0"
SECTION_NAMES = [key for key, spec in SCHEMA["keys"].items() if spec.get("pair")]


# --------------------------------------------------------------------------
# the schema as documentation
# --------------------------------------------------------------------------


def schema_paths(spec, prefix):
    """Key paths of the schema's sections (mappings with fixed keys), with each key's spec."""
    for key, sub in spec["keys"].items():
        path = f"{prefix}:{key}"
        yield path, sub
        if sub["type"] == "section" and key != "pairs":
            yield from schema_paths(sub, path)


def example_paths(data, prefix):
    """Key paths of pillar.example, not descending into mappings whose keys are free (maps)."""
    spec_of = dict(schema_paths(SCHEMA, "mdtmirror"))
    for key, value in data.items():
        path = f"{prefix}:{key}"
        yield path
        spec = spec_of.get(path)
        if isinstance(value, dict) and spec is not None and spec["type"] == "section":
            yield from example_paths(value, path)


def test_pillar_example_documents_exactly_the_schemas_keys():
    text = (REPO / "pillar.example").read_text()
    documented = set(example_paths(yaml.safe_load(text)["mdtmirror"], "mdtmirror"))
    declared = {path for path, _ in schema_paths(SCHEMA, "mdtmirror")}
    # A section shown as null (node:zvol) documents its keys in its comment: "e.g. {name: ..., size: ...}".
    for path in sorted(declared - documented):
        parent, key = path.rsplit(":", 1)
        parent_key = parent.rsplit(":", 1)[1]
        comment = re.search(rf"^\s*{parent_key}: null\s+#.*(\n\s+#.*)*", text, re.M)
        if parent in documented and comment and re.search(rf"\b{key}:", comment.group(0)):
            documented.add(path)
    assert sorted(declared - documented) == [], "in schema.yaml, not documented in pillar.example"
    assert sorted(documented - declared) == [], "in pillar.example, not declared in schema.yaml"


def test_every_key_says_what_it_means():
    undocumented = [path for path, spec in schema_paths(SCHEMA, "mdtmirror") if not spec.get("doc")]
    assert undocumented == []


def test_every_pattern_the_schema_names_exists():
    lines = (REPO / "salt/mdtmirror/schema.yaml").read_text().splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    named = set(re.findall(r"(?:pattern|keys): (\w+)", code))
    assert named and sorted(named - set(PATTERNS) - {"keys"}) == []


def test_the_formulas_defaults_obey_the_schema():
    families = yaml.safe_load((REPO / "salt/mdtmirror/osfamilymap.yaml").read_text())
    for family, entry in {"(none)": {}, **families}.items():
        errors = []
        pillar_rules.check(SCHEMA, pillar_rules.merge(DEFAULTS, entry), "mdtmirror", errors)
        assert errors == [], family


def test_the_keys_the_modules_read_are_allowed():
    """config.get keys of the execution modules (mdtmirror:<key>) are keys of the schema, and back."""
    read = set()
    for module in (REPO / "_modules").glob("*.py"):
        read |= set(re.findall(r'"mdtmirror:([a-z_]+)(?::|")', module.read_text()))
    assert read, "no config.get reads found: the pattern is stale"
    assert sorted(read - set(SCHEMA["keys"])) == []


# --------------------------------------------------------------------------
# generators from the declarations
# --------------------------------------------------------------------------


def _regex(pattern):
    rule = PATTERNS[pattern][0]
    if callable(rule):  # the one predicate: an IP address
        return st.ip_addresses().map(str)
    return st.from_regex(rf"\A(?:{rule})\Z", fullmatch=True)


def valid(spec, depth=0):
    kind = spec["type"]
    if kind == "bool":
        out = st.booleans()
    elif kind == "int":
        out = st.integers(spec.get("min", -(2**31)), spec.get("max", spec.get("min", 0) + 10**6))
    elif kind == "number":
        low = spec.get("min", 0)
        out = st.one_of(st.integers(low, low + 10**6), st.floats(low, low + 10**6, allow_nan=False))
    elif kind == "str":
        out = _regex(spec["pattern"])
    elif kind == "enum":
        out = st.sampled_from(spec["values"])
    elif kind == "scalar":
        out = st.one_of(st.text(max_size=8), st.integers(), st.booleans())
    elif kind == "list":
        out = st.lists(valid(spec["items"], depth + 1), min_size=spec.get("min_items", 0), max_size=3)
    elif kind == "map":
        known = spec.get("known") or {}
        free = st.dictionaries(_regex(spec["keys"]).filter(lambda k: k not in known), valid(spec["values"]), max_size=2)
        fixed = st.fixed_dictionaries({}, optional={k: valid(v, depth + 1) for k, v in known.items()})
        out = st.tuples(free, fixed).map(lambda parts: {**parts[0], **parts[1]})
    elif kind == "section":
        out = st.fixed_dictionaries({}, optional={k: valid(v, depth + 1) for k, v in spec["keys"].items()})
    else:
        raise AssertionError(f"schema type {kind!r} has no generator")
    return st.one_of(st.none(), out) if spec.get("nullable") else out


# Values YAML yields that are of none of the given kinds.
_ANY = {
    "bool": st.booleans(),
    "int": st.integers(),
    "float": st.floats(allow_nan=False).filter(lambda f: f != int(f) if f == f and abs(f) < 1e300 else True),
    "str": st.text(min_size=1, max_size=6),
    "list": st.lists(st.integers(), max_size=2),
    "map": st.dictionaries(st.text(min_size=1, max_size=4), st.integers(), max_size=2),
}


def _other_than(*kinds):
    return st.one_of(*(strategy for kind, strategy in _ANY.items() if kind not in kinds))


# A string no pattern accepts: empty, or with a line break inside.
_BAD_STRING = st.one_of(st.just(""), st.builds(lambda a, b: f"{a}\n{b}", st.text(max_size=4), st.text(max_size=4)))


def invalid(spec):
    """``(value, suffix)``: a value ``spec`` refuses and the key path below it that the error must name."""
    kind = spec["type"]
    here = st.tuples(st.just(None), st.just("")) if not spec.get("nullable") else st.nothing()
    if kind == "bool":
        bad = _other_than("bool")
    elif kind == "int":
        outside = [st.just(spec["min"] - 1)] if "min" in spec else []
        outside += [st.just(spec["max"] + 1)] if "max" in spec else []
        bad = st.one_of(_other_than("int"), *outside)
    elif kind == "number":
        bad = st.one_of(_other_than("int", "float"), st.just(spec.get("min", 0) - 1))
    elif kind == "str":
        bad = st.one_of(_other_than("str"), _BAD_STRING)
    elif kind == "enum":
        bad = st.one_of(_ANY["str"], _ANY["int"], _ANY["bool"], _ANY["list"]).filter(
            lambda v: not any(v == good and type(v) is type(good) for good in spec["values"])
        )
    elif kind == "scalar":
        bad = st.one_of(_ANY["list"], _ANY["map"])
    elif kind == "list":
        wrong_item = st.tuples(invalid(spec["items"]), st.lists(valid(spec["items"]), max_size=2)).map(
            lambda parts: (parts[1] + [parts[0][0]], f":{len(parts[1])}{parts[0][1]}")
        )
        short = [st.just(([], ""))] if spec.get("min_items") else []
        return st.one_of(here, st.tuples(_other_than("list"), st.just("")), wrong_item, *short)
    elif kind in ("map", "section"):
        keys = spec["keys"] if kind == "section" else spec.get("known") or {}
        choices = [here, st.tuples(_other_than("map"), st.just(""))]
        if keys:
            choices.append(
                st.sampled_from(sorted(keys)).flatmap(
                    lambda key: invalid(keys[key]).map(lambda bad: ({key: bad[0]}, f":{key}{bad[1]}"))
                )
            )
        if kind == "section":
            choices.append(st.just(({"no_such_key": 1}, ":no_such_key")))
        else:
            choices.append(st.just(({"bad key": 1}, ":bad key")))
            choices.append(invalid(spec["values"]).map(lambda bad: ({"x_generated": bad[0]}, f":x_generated{bad[1]}")))
        return st.one_of(*choices)
    else:
        raise AssertionError(f"schema type {kind!r} has no generator")
    return st.one_of(here, st.tuples(bad, st.just("")))


# --------------------------------------------------------------------------
# where a pillar holds values: (pillar path, the key path errors use, spec)
# --------------------------------------------------------------------------


def _places():
    places = []
    node_spec = SCHEMA["keys"]["node"]
    for section in SECTION_NAMES:
        for key, spec in SCHEMA["keys"][section]["keys"].items():
            places.append(((section, key), f"mdtmirror:{section}:{key}", spec))
            places.append((("pairs", PAIR, section, key), f"mdtmirror:pairs:{PAIR}:{section}:{key}", spec))
    for key, spec in node_spec["keys"].items():
        places.append((("pairs", PAIR, "nodes", "mds01", key), f"mdtmirror:pairs:{PAIR}:nodes:mds01:{key}", spec))
        # The other node of the pair, and a pair this minion is not in: reported too (fleet errors).
        places.append((("pairs", PAIR, "nodes", "mds02", key), f"mdtmirror:pairs:{PAIR}:nodes:mds02:{key}", spec))
    for key in ("manage_packages", "peer_address", "sysroot", "paths", "bin", "zpool_output"):
        places.append(((key,), f"mdtmirror:{key}", SCHEMA["keys"][key]))
    for key in ("scst_eagain_timeout", "srp_login_wait"):
        places.append(((key,), f"mdtmirror:{key}", SCHEMA["keys"][key]))
    pair_keys = SCHEMA["keys"]["pairs"]["values"]["keys"]
    for key in ("owner", "pool"):
        places.append((("pairs", PAIR, key), f"mdtmirror:pairs:{PAIR}:{key}", pair_keys[key]))
    return places


PLACES = _places()


def _put(pillar, path, value):
    node = pillar
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def _names(error, key):
    return re.search(rf"(?:^|\s){re.escape(key)}(?:\s|:|,|$)", error) is not None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_value_breaking_its_rule_is_an_error_naming_its_key(data):
    path, key, spec = data.draw(st.sampled_from(PLACES), label="place")
    value, suffix = data.draw(invalid(spec), label="invalid value")
    pillar = example()
    _put(pillar, path, copy.deepcopy(value))
    for minion in ("mds01", "mds02"):
        cfg = resolve(pillar, minion)  # never raises
        found = cfg["errors"] + cfg["fleet_errors"]
        assert any(_names(error, key + suffix) for error in found), (key + suffix, value, found)


# Keys a cross-key rule reads (their good values depend on other keys): left to the hand-written cases.
CROSS = {"pairs", "node", "owner", "lun_path", "zvol", "initiators"}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_value_the_schema_allows_is_no_error(data):
    path, key, spec = data.draw(st.sampled_from([p for p in PLACES if not CROSS & set(p[0])]), label="place")
    value = data.draw(valid(spec), label="valid value")
    pillar = example()
    _put(pillar, path, copy.deepcopy(value))
    cfg = resolve(pillar, "mds01")
    assert (cfg["errors"], cfg["fleet_errors"]) == ([], []), (key, value)


_YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), children, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_no_pillar_makes_resolve_raise(data):
    """Any YAML value anywhere the pillar has a key, including a whole section or pair."""
    pillar = example()
    paths = [p[0] for p in PLACES] + [(s,) for s in SECTION_NAMES] + [("pairs",), ("pairs", PAIR), ("node",)]
    for _ in range(data.draw(st.integers(1, 3), label="how many")):
        _put(pillar, data.draw(st.sampled_from(paths), label="where"), data.draw(_YAML_VALUES, label="value"))
    for minion in ("mds01", "mds02", "mds07", 1):
        cfg = resolve(pillar, minion)
        assert all(isinstance(error, str) for error in cfg["errors"] + cfg["fleet_errors"])


@pytest.mark.parametrize(
    "breakage, key",
    [
        # The six places the fuzzer of the issue found a Python exception.
        (lambda p: p["snapshots"].update(policy="48h"), "mdtmirror:snapshots:policy"),
        (lambda p: p["pairs"][PAIR].update(owner=["mds01"]), f"mdtmirror:pairs:{PAIR}:owner"),
        (
            lambda p: p["pairs"][PAIR].update(nodes={1: {"lun_path": "/dev/sdb"}, "mds02": {}}, owner=7),
            f"mdtmirror:pairs:{PAIR}:nodes:1",
        ),
        (lambda p: p.update(node="x"), "mdtmirror:node"),
        (lambda p: p["target"].update(lio={1: "a", "b": 2}), "mdtmirror:target:lio:1"),
        (lambda p: p.update(paths={"scst_tgt": 5}), "mdtmirror:paths:scst_tgt"),
        (lambda p: p.update(sysroot=["/"]), "mdtmirror:sysroot"),
        (
            lambda p: p["pairs"][PAIR]["nodes"]["mds01"].update(zvol="local/mdt0"),
            f"mdtmirror:pairs:{PAIR}:nodes:mds01:zvol",
        ),
        # Safety values and whole families the issue found unchecked.
        (lambda p: p["target"]["attributes"].update(blocksize=131072), "mdtmirror:target:attributes:blocksize"),
        (lambda p: p["target"]["attributes"].update(nv_cache=1), "mdtmirror:target:attributes:nv_cache"),
        (lambda p: p["target"].update(modules="scst"), "mdtmirror:target:modules"),
        (lambda p: p["target"].update(service=""), "mdtmirror:target:service"),
        (lambda p: p["target"].update(config_file="/"), "mdtmirror:target:config_file"),
        (lambda p: p["target"].update(config_file="scst.conf"), "mdtmirror:target:config_file"),
        (lambda p: p["mirror"].update(local="sdb"), "mdtmirror:mirror:local"),
        (lambda p: p["mirror"].update(remote="/etc/passwd"), "mdtmirror:mirror:remote"),
        (lambda p: p["snapshots"].update(prefix="a/b@"), "mdtmirror:snapshots:prefix"),
        (lambda p: p["snapshots"].update(dataset="/mdtpool"), "mdtmirror:snapshots:dataset"),
        (lambda p: p["backup"].update(destination="ssh:"), "mdtmirror:backup:destination"),
        (lambda p: p["backup"].update(destination="ssh:bk01"), "mdtmirror:backup:destination"),
        (lambda p: p["backup"].update(on_calendar=""), "mdtmirror:backup:on_calendar"),
        (lambda p: p.update(peer_address="10.0.0.300"), "mdtmirror:peer_address"),
        (lambda p: p["pairs"][PAIR]["nodes"]["mds01"].update(hca="mlx5 0"), f"mdtmirror:pairs:{PAIR}:nodes:mds01:hca"),
        (lambda p: p["pairs"][PAIR]["nodes"]["mds01"].update(port=0), f"mdtmirror:pairs:{PAIR}:nodes:mds01:port"),
        (lambda p: p["initiator"].update(login_retry={"attempts": 0}), "mdtmirror:initiator:login_retry:attempts"),
        (lambda p: p["initiator"].update(login_retry={"tries": 3}), "mdtmirror:initiator:login_retry:tries"),
        (
            lambda p: p["target"].update(module_options={"ib_srpt": {"rdma_cm_port": 70000}}),
            "mdtmirror:target:module_options:ib_srpt:rdma_cm_port",
        ),
        (lambda p: p.update(bin={"zpool": "zpool --force"}), "mdtmirror:bin:zpool"),
        (lambda p: p.update(eagain_timeout=5), "mdtmirror:eagain_timeout"),
        # A pair no minion of the fleet is in, and a pair that does not name this minion.
        (lambda p: p["pairs"].update(empty={"nodes": {}, "owner": "mds09"}), "mdtmirror:pairs:empty:nodes"),
        (
            lambda p: p["pairs"].update(other={"nodes": {"mds03": {"lun_path": "sdb"}, "mds04": {}}, "owner": "mds03"}),
            "mdtmirror:pairs:other:nodes:mds03:lun_path",
        ),
        # A wildcard initiator without allow_wildcard: refused by the pillar, before any stage runs.
        (lambda p: p["pairs"][PAIR]["nodes"]["mds01"].update(initiators=["*"]), "mdtmirror:node:initiators"),
    ],
)
def test_what_the_fuzzer_of_the_issue_found(breakage, key):
    pillar = example()
    breakage(pillar)
    cfg = resolve(pillar)
    found = cfg["errors"] + cfg["fleet_errors"]
    assert any(_names(error, key) for error in found), found


def test_other_pairs_problems_do_not_stop_this_node():
    """A broken entry of another pair is a fleet error: reported, and this node's own pillar stays valid."""
    pillar = example()
    pillar["pairs"]["other"] = {"nodes": {"mds03": {"lun_path": "sdb"}, "mds04": {}}, "owner": "mds03"}
    cfg = resolve(pillar, "mds01")
    assert cfg["errors"] == []
    assert cfg["fleet_errors"] == [
        "pillar key mdtmirror:pairs:other:nodes:mds03:lun_path must be a /dev path without blanks or commas "
        "(the local block device to export (a stable /dev/disk/by-id path)), not 'sdb'"
    ]
    assert resolve(pillar, "mds03")["errors"] == cfg["fleet_errors"]


def test_a_broken_pairs_mapping_is_one_error():
    pillar = example()
    pillar["pairs"] = ["fs1-mdt0"]
    assert resolve(pillar)["errors"] == ["pillar key mdtmirror:pairs must be a mapping, not ['fs1-mdt0']"]


def test_allow_wildcard_lets_a_pattern_through():
    pillar = example()
    pillar["pairs"][PAIR]["nodes"]["mds01"]["initiators"] = ["fe80:*"]
    pillar["target"]["allow_wildcard"] = True
    assert resolve(pillar)["errors"] == []
