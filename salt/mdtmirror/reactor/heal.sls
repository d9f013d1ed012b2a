{#- Reactor (master): a side of a pair is reachable again. Converge the
    pair's active node: state.apply logs in again if needed and heals the
    mirror (online/clear, or detach + attach of a disk back under a new name).

    * export/ready from a standby (its target enabled with its LUN again: a
      target restart, a node's return): the active is its peer;
    * path/running from the active (ib_srp reconnected a blocked path by
      itself): the active is the node that saw it.

    Nothing destructive can follow: state.apply never exports or destroys
    a pool, imports one only on the node that had it imported when it went
    down (README, "Roles"), and a node that is not active only keeps its
    standby role. queue: an operation's own state run on that node goes first.

    Master configuration (README, "Watch and heal"):

      reactor:
        - 'salt/beacon/*/mdtmirror/*/export/ready':
          - salt://mdtmirror/reactor/heal.sls
        - 'salt/beacon/*/mdtmirror/*/path/running':
          - salt://mdtmirror/reactor/heal.sls
-#}
{%- set beacon = data.get("data", data) %}
{%- if beacon.get("role") == "standby" and beacon.get("what") == "export/ready" %}
{%-   set active = beacon.get("peer") %}
{%- elif beacon.get("role") == "active" and beacon.get("what") == "path/running" %}
{%-   set active = beacon.get("node") %}
{%- else %}
{%-   set active = none %}
{%- endif %}
{%- if active %}
mdtmirror-heal-{{ active }}:
  local.state.apply:
    - tgt: {{ active | json }}
    - args:
      - mods: mdtmirror
      - queue: true
{%- endif %}
