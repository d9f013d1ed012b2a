"""What mdtmirror.plan's per-run cache relies on, asked of Salt itself (salt-call --local, a real state run).

The modules called while one ``state.apply`` renders its SLS files share one ``__context__`` dict (Salt's
state module makes it for the run: ``context=dict(__context__)``), and the modules' opts hold no job id:
a cache keyed by ``__opts__["jid"]`` never hits (mdtmirror.plan's did not, before).
"""

import json
import subprocess
import textwrap

from tests.conftest import salt_bin

PROBE = textwrap.dedent(
    """
    def look():
        __context__["calls"] = __context__.get("calls", 0) + 1
        return {"jid": __opts__.get("jid"), "calls": __context__["calls"], "context": id(__context__)}
    """
)
SLS = """
{% set look = salt["probe.look"]() %}
probe-{{ name }}:
  test.show_notification:
    - text: {{ look | json | yaml_dquote }}
"""


def _apply(config):
    ret = subprocess.run(
        [salt_bin("salt-call"), "-c", str(config), "--local", "--out=json", "state.apply", "one,two"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ret.returncode == 0, ret.stderr[-3000:]
    states = json.loads(ret.stdout)["local"]
    return {s["name"].split("-")[1]: json.loads(s["comment"]) for s in states.values()}


def test_one_context_per_state_run_and_no_jid_in_opts(tmp_path):
    srv = tmp_path / "srv"
    (srv / "_modules").mkdir(parents=True)
    (srv / "_modules" / "probe.py").write_text(PROBE)
    for name in ("one", "two"):
        (srv / f"{name}.sls").write_text(SLS.replace("{{ name }}", name))
    config = tmp_path / "etc"
    config.mkdir()
    (config / "minion").write_text(
        f"id: probe\nroot_dir: {tmp_path / 'root'}\nfile_client: local\nfile_roots: {{base: [{srv}]}}\n"
    )
    sync = subprocess.run(
        [salt_bin("salt-call"), "-c", str(config), "--local", "saltutil.sync_modules"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert sync.returncode == 0, sync.stderr[-3000:]
    looks = _apply(config)
    assert looks["one"]["jid"] is None and looks["two"]["jid"] is None, looks
    assert looks["one"]["context"] == looks["two"]["context"], looks
    assert sorted(look["calls"] for look in looks.values()) == [1, 2], looks
