{#- Make this node the standby (mdtmirror.switchover runs it on the active
    with pillar mdtmirror_role: standby): export the pool (never forced: a
    busy pool stops here, still imported), log out of the peer's LUN, then
    export this node's own disk, which the pool no longer holds. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, plan, pillar_errors with context %}
{{ pillar_errors("standby") }}
{%- if not mdtmirror.errors %}

include:
  - mdtmirror.target
  - mdtmirror.initiator
  - mdtmirror.mirror

mdtmirror-pool-export:
  zfsmirror.pool_exported:
    - name: {{ mdtmirror.mirror.pool }}
    - order: 2
    - require_in:
{%- if plan.get("logout") %}
      - srp: mdtmirror-srp-logout
{%- endif %}
{%- if mdtmirror.target.backend == "lio" %}
      - lio: mdtmirror-lio-backstore
{%- else %}
      - scst: mdtmirror-scst-device
{%- endif %}
{%- endif %}
