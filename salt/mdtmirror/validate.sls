{#- The pillar of this node, checked before anything changes anywhere:
    mdtmirror.orch runs this on every node first (mdtmirror.settings has the
    rules; each problem is one failing state naming its pillar key). -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, pillar_errors with context %}
{{ pillar_errors("validate") }}

mdtmirror-pillar-valid:
  test.succeed_without_changes:
    - name: "pillar of {{ grains['id'] }}: pair {{ mdtmirror.pair }}, peer {{ mdtmirror.peer }}, owner {{ mdtmirror.mirror.owner }}"
