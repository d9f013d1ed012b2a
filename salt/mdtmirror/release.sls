{#- The first step of a switchover, on the active (pillar mdtmirror_role:
    standby): export the pool (never forced: a busy pool stops here, still
    imported) and log out of the peer's LUN. Its own disk is exported later
    (mdtmirror.standby), once the peer has closed its export: one node
    exports at a time. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, plan, pillar_errors with context %}
{{ pillar_errors("release") }}
{%- if not mdtmirror.errors %}

include:
  - mdtmirror.initiator

mdtmirror-pool-export:
  zfsmirror.pool_exported:
    - name: {{ mdtmirror.mirror.pool }}
    - order: 2
{%- if plan.get("logout") %}
    - require_in:
      - srp: mdtmirror-srp-logout
{%- endif %}
{%- endif %}
