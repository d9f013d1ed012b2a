{#- The mirror: "zpool create ... mirror <local LUN> <peer's LUN over SRP>",
    on the node that owns the pool, by stable by-id paths, multihost on. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, pillar_errors with context %}
{%- set m = mdtmirror.mirror %}
{{ pillar_errors("mirror") }}
{%- set local = m.local or mdtmirror.get("node", {}).get("lun_path") %}
{%- set remote = m.remote %}
{%- set remote_pending = false %}
{%- if not remote %}
{#-   The peer's LUN is what this node's SRP login yields (mdtmirror.initiator). #}
{%-   set logins = salt["srp.list_logins"]() %}
{%-   if logins | length == 1 %}
{%-     set disks = salt["srp.disks"](logins[0], timeout=10) %}
{%-     if disks and disks[0].by_id %}
{%-       set remote = disks[0].by_id[0] %}
{%-     endif %}
{%-   endif %}
{%-   if not remote and m.owner == grains["id"] and mdtmirror.peer and m.pool not in salt["zfsmirror.list_pools"]() %}
{#-     No login yet (a first run, or test=True): the name udev will give the
        peer's LUN follows from its SCST identifiers, so the pool can be
        planned now and created once the login of this same run brought it
        (SCST: from the device's t10_dev_id; LIO: from the peer's unit serial). #}
{%-     if mdtmirror.target.backend == "lio" %}
{%-       set remote = salt["lio.initiator_by_id"](salt["lio.default_serial"](mdtmirror.peer, mdtmirror.target.device)) %}
{%-     else %}
{%-       set remote = salt["scst.initiator_by_id"](mdtmirror.target.device, mdtmirror.target.attributes) %}
{%-     endif %}
{%-     set remote_pending = true %}
{%-   endif %}
{%- endif %}

{%- if not m.owner %}
mdtmirror-pillar-invalid-owner:
  mdtmirror.problem:
    - name: "pillar key mdtmirror:mirror:owner is missing: the minion id that owns pool {{ m.pool }}"
    - failhard: true
    - order: 1
{%- elif m.owner == grains["id"] %}
{%-   if not local or not remote %}
mdtmirror-mirror-disks-unknown:
  mdtmirror.problem:
    - name: >-
        cannot build pool {{ m.pool }}: local LUN {{ local or "unknown (set mdtmirror:node:lun_path)" }},
        peer LUN {{ remote or "not visible: no single SRP login with a by-id disk (apply mdtmirror.initiator first)" }}
{%-   else %}

mdtmirror-pool:
  zfsmirror.pool_mirrored:
    - name: {{ m.pool }}
    - local: {{ local }}
    - remote: {{ remote }}
    - properties: {{ m.properties | json }}
    - filesystem_properties: {{ m.filesystem_properties | json }}
    - force: {{ m.force }}
    - remote_pending: {{ remote_pending }}
{%-   endif %}
{%- else %}

{#- The standby imports the pool on failover: multihost needs its hostid too. #}
mdtmirror-hostid:
  zfsmirror.hostid_present:
    - name: "standby for pool {{ m.pool }} (owned by {{ m.owner }})"
{%- endif %}
