{#- The pillar of this node, checked before anything changes anywhere:
    mdtmirror.orch runs this on every node first (mdtmirror.settings has the
    rules; each problem is one failing state naming its pillar key). It also
    says which role the node has and why (mdtmirror.plan). -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, plan, pillar_errors with context %}
{{ pillar_errors("validate") }}
{%- if not mdtmirror.errors %}

{%- set summary = "pillar of " ~ grains["id"] ~ ": pair " ~ mdtmirror.pair ~ ", peer " ~ mdtmirror.peer
      ~ ", owner " ~ mdtmirror.mirror.owner ~ "; role " ~ plan.role ~ ": " ~ plan.why %}

mdtmirror-pillar-valid:
  test.succeed_without_changes:
    - name: {{ summary | json }}
{%- for warning in mdtmirror.warnings %}

mdtmirror-pillar-warning-{{ loop.index }}:
  test.show_notification:
    - text: {{ warning | json }}
{%- endfor %}
{%- endif %}
