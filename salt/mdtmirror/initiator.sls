{#- Initiator side of the seed's runbook: log in to the peer's LUN over SRP
    ("modprobe ib_srp", "srp_daemon -oacd", echo ... > add_target), from data. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror with context %}
{%- set i = mdtmirror.initiator %}

mdtmirror-srp-module:
  srp.module_loaded:
    - options: {{ i.module_options | json }}

{#- "srp_daemon -oacd/dev/infiniband/umad0" + add_target: the peer's port,
    discovered or given, never a GUID typed by hand. #}
mdtmirror-srp-login:
  srp.connected:
{%- if i.target %}
    - target: {{ i.target | json }}
{%- else %}
    - discover: {{ i.discover }}
    - match: {{ i.match | json }}
{%- endif %}
    - options: {{ i.login_options | json }}
    - require:
      - srp: mdtmirror-srp-module

{%- if i.persist %}

{#- srp_daemon re-logs in at boot and after path loss, to exactly this target. #}
mdtmirror-srp-persistent:
  srp.persistent:
{%- if i.target %}
    - targets: {{ [i.target] | json }}
{%- else %}
    - discover: {{ i.discover }}
    - match: {{ i.match | json }}
{%- endif %}
    - require:
      - srp: mdtmirror-srp-login
{%- if i.enable_daemon %}

mdtmirror-srp-daemon:
  service.enabled:
    - name: {{ i.daemon_service }}
    - require:
      - srp: mdtmirror-srp-persistent
{%- endif %}
{%- endif %}
