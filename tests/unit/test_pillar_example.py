"""pillar.example documents every key the formula reads."""

import re

import yaml

from tests.captures import REPO


def key_paths(data, prefix=""):
    for key, value in data.items():
        path = f"{prefix}:{key}" if prefix else key
        yield path
        opaque = (
            "module_options",
            "attributes",
            "match",
            "login_options",
            "login_retry",
            "properties",
            "filesystem_properties",
            "policy",
        )
        if isinstance(value, dict) and key not in opaque:
            yield from key_paths(value, path)


def test_every_default_key_is_in_pillar_example():
    defaults = yaml.safe_load((REPO / "salt/mdtmirror/defaults.yaml").read_text())
    example = yaml.safe_load((REPO / "pillar.example").read_text())
    documented = set(key_paths(example))
    missing = [path for path in key_paths(defaults) if path not in documented]
    assert missing == []


def test_every_pillar_key_the_sls_reads_is_documented():
    example = set(key_paths(yaml.safe_load((REPO / "pillar.example").read_text())))
    read = set()
    for sls in (REPO / "salt/mdtmirror").glob("*.sls"):
        text = sls.read_text()
        read |= {f"mdtmirror:target:{k}" for k in re.findall(r"\bt\.(\w+)", text)}
        read |= {f"mdtmirror:initiator:{k}" for k in re.findall(r"\bi\.(\w+)", text)}
        read |= {f"mdtmirror:mirror:{k}" for k in re.findall(r"\bm\.(\w+)", text)}
        read |= {f"mdtmirror:mirror:{k}" for k in re.findall(r"mdtmirror\.mirror\.(\w+)", text)}
        read |= {f"mdtmirror:snapshots:{k}" for k in re.findall(r"\bs\.(\w+)", text)}
        read |= {f"mdtmirror:backup:{k}" for k in re.findall(r"\bb\.(\w+)", text)}
        read |= {f"mdtmirror:node:{k}" for k in re.findall(r'node\.get\("(\w+)"', text)}
    assert read, "no pillar reads found: the pattern is stale"
    assert sorted(read - example) == []
