{#- Reactor (master): a standby's export is ready again (its target enabled
    with its LUN: back after a reboot, a target restart, a node's return).
    Converge its peer, the active: state.apply logs in again and heals the
    mirror (online, or detach + attach of a disk back under a new name).
    Nothing destructive can follow: state.apply never imports, exports or
    destroys a pool, and a node that is not active only keeps its standby
    role. queue: an operation's own state run on that node goes first.

    Master configuration (README, "Watch and heal"):

      reactor:
        - 'salt/beacon/*/mdtmirror/*/export/ready':
          - salt://mdtmirror/reactor/heal.sls
-#}
{%- set beacon = data.get("data", data) %}
{%- if beacon.get("role") == "standby" and beacon.get("peer") %}
mdtmirror-heal-{{ beacon.peer }}:
  local.state.apply:
    - tgt: {{ beacon.peer | json }}
    - args:
      - mods: mdtmirror
      - queue: true
{%- endif %}
