{#- Initiator side of the seed's runbook, by role (mdtmirror.plan): the active
    logs in to the standby's LUN over SRP ("modprobe ib_srp", "srp_daemon
    -oacd", echo ... > add_target), from data; the standby logs out of the
    peer (the active exports nothing). -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, plan, pillar_errors with context %}
{%- set i = mdtmirror.initiator %}
{{ pillar_errors("initiator") }}
{%- if not mdtmirror.errors %}
{%- if whole_formula is not defined %}

include:
  - mdtmirror.modules
{%- endif %}
{%- if plan.get("login") %}
{%-   set target = plan.login.get("target") %}

{#- The peer's target port: given, or its login_info from the mine (over
    RoCE with its RDMA/CM address), or discovered with srp_daemon (match). #}
mdtmirror-srp-login:
  srp.connected:
{%-   if target %}
    - target: {{ target | json }}
{%-   else %}
    - discover: {{ plan.login.discover }}
    - match: {{ plan.login.match | json }}
{%-   endif %}
    - options: {{ i.login_options | json }}
    {#- The peer may enable its target seconds later (both nodes applying at once). #}
    - retry: {{ i.login_retry | json }}
    - require:
      - srp: mdtmirror-srp-module
{%-   if i.persist %}

{#- srp_daemon re-logs in at boot and after path loss, to exactly this target. #}
mdtmirror-srp-persistent:
  srp.persistent:
{%-     if target %}
    - targets: {{ [target] | json }}
{%-     else %}
    - discover: {{ plan.login.discover }}
    - match: {{ plan.login.match | json }}
{%-     endif %}
    - require:
      - srp: mdtmirror-srp-login
{%-     if i.enable_daemon %}

mdtmirror-srp-daemon:
  service.enabled:
    - name: {{ i.daemon_service }}
    - require:
      - srp: mdtmirror-srp-persistent
{%-     endif %}
{%-   endif %}
{%- elif plan.get("logout") %}

{#- Standby: no login to the peer, which exports nothing while active. #}
mdtmirror-srp-logout:
  srp.disconnected:
    - target: {{ plan.logout.target | json }}
    - require:
      - srp: mdtmirror-srp-module
{%- endif %}
{%- endif %}
