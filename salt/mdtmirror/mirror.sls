{#- The mirror, by role (mdtmirror.plan): on the active node, "zpool create ...
    mirror <local LUN> <peer's LUN over SRP>" by stable by-id paths,
    multihost on, or the heal of that mirror; the standby only keeps a
    hostid (multihost needs one to import on a switchover or takeover). -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, plan, pillar_errors with context %}
{%- set m = mdtmirror.mirror %}
{{ pillar_errors("mirror") }}
{%- if not mdtmirror.errors %}
{%- if plan.get("pool") %}
{%-   set p = plan.pool %}
{%-   if not p.local or not p.remote %}

mdtmirror-mirror-disks-unknown:
  mdtmirror.problem:
    - name: {{ ("; ".join(plan.problems) or "cannot build pool " ~ p.name ~ ": local LUN unknown (set mdtmirror:node:lun_path)") | json }}
{%-   else %}
{%-     if p.get("import") %}

{#- This node was the active one when it went down (its disk's label names
    it, not exported): the pool is imported again, only with both sides
    seen, after this run's SRP login. #}
mdtmirror-pool-reimport:
  zfsmirror.pool_imported:
    - name: {{ p.name }}
    - whole: True
    - remote_pending: {{ p.remote_pending }}
    - publish: True
{%-     endif %}

{#- publish: where the pool is imported is what the peer's plan reads (mine
    function mdtmirror_node); published when it changes here, not at the
    next mine_interval (until then the peer reads its disk's labels). #}
mdtmirror-pool:
  zfsmirror.pool_mirrored:
    - name: {{ p.name }}
    - local: {{ p.local }}
    - remote: {{ p.remote }}
    - properties: {{ m.properties | json }}
    - filesystem_properties: {{ m.filesystem_properties | json }}
    - force: {{ m.force }}
    - remote_pending: {{ p.remote_pending }}
    - publish: True
{%-     if p.get("import") %}
    - imported_first: True
    - require:
      - zfsmirror: mdtmirror-pool-reimport
{%-     endif %}

{%-   endif %}
{%- elif plan.get("role") %}

mdtmirror-hostid:
  zfsmirror.hostid_present:
    - name: {{ ("standby for pool " ~ m.pool ~ ": " ~ plan.why) | json }}
{%- endif %}
{%- endif %}
