{#- Reactor (master): the standby saw the active's session to its export
    go (session/down: the active logged out, lost its path, or died).
    Hands over to the runner mdtmirror.failover, which takes over only if
    this standby's pillar says mdtmirror:failover:auto: true and the active
    does not answer at all (a node seen alive is never taken over); the
    import is fenced by multihost on the node. With failover:auto false (the
    default) the runner only fires mdtmirror/<pair>/failover/refused.

    SCST backend: LIO's configfs shows no sessions, so no session/down there.

    Master configuration (README, "Watch and heal"):

      reactor:
        - 'salt/beacon/*/mdtmirror/*/session/down':
          - salt://mdtmirror/reactor/failover.sls
-#}
{%- set beacon = data.get("data", data) %}
{%- if beacon.get("role") == "standby" and beacon.get("what") == "session/down" and beacon.get("pair") %}
mdtmirror-failover-{{ beacon.pair }}:
  runner.mdtmirror.failover:
    - args:
      - pair: {{ beacon.pair | json }}
      - to: {{ beacon.node | json }}
{%- endif %}
