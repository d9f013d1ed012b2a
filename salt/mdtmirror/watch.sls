{#- Watch the pair from each node: the mdtmirror beacon fires an event on
    the master's bus for every change of the pool (state, each side), of
    the SRP paths and of the export (salt/beacon/<minion>/mdtmirror/<pair>/...);
    a reactor may act on them (reactor/, README). The minion's beacon list
    (and beacons.conf) follows the pillar. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, pillar_errors with context %}
{{ pillar_errors("watch") }}
{%- if not mdtmirror.errors %}
{%- set w = mdtmirror.watch %}
{%- set node = mdtmirror.node or {} %}
{%- set local = mdtmirror.mirror.local or ("/dev/zvol/" ~ node.zvol.name if node.get("zvol") else node.get("lun_path")) %}

{%- if w.enabled and mdtmirror.pair %}
mdtmirror-beacon:
  mdtmirror.beacon_present:
    - name: mdtmirror
    - config:
      - interval: {{ w.interval }}
      {#- A state run is a change in progress: look again once it is over. #}
      - disable_during_state_run: true
      {#- What a look needs of this node's settings: it reads no pillar. #}
      - pair: {{ mdtmirror.pair | json }}
      - peer: {{ mdtmirror.peer | json }}
      - pool: {{ mdtmirror.mirror.pool | json }}
      - local: {{ local | json }}
      - backend: {{ mdtmirror.target.backend | json }}
      - device: {{ mdtmirror.target.device | json }}
      - group: {{ mdtmirror.target.group | json }}
      - driver: {{ mdtmirror.target.driver | json }}
{%- elif not w.enabled %}
mdtmirror-beacon:
  mdtmirror.beacon_absent:
    - name: mdtmirror
    - save: true
{%- endif %}
{%- endif %}
