{#- Initiator side of the seed's runbook: log in to the peer's LUN over SRP
    ("modprobe ib_srp", "srp_daemon -oacd", echo ... > add_target), from data. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, pillar_errors, peer_facts, mine with context %}
{%- set i = mdtmirror.initiator %}
{{ pillar_errors("initiator") }}

include:
  - mdtmirror.modules

{#- Which target port: given; else discovered with srp_daemon when the pillar
    narrows discovery (match); else the peer's, from the mine: the login_info
    its ib_srpt target publishes, over InfiniBand as it is, over RoCE (no
    subnet manager) with its RDMA/CM address; else discovered. #}
{%- set target = i.target %}
{%- set match = i.match %}
{%- if not target and not match and mdtmirror.peer and peer_facts.mdtmirror_targets %}
{%-   set peer_target = (peer_facts.mdtmirror_targets | selectattr("enabled") | list or peer_facts.mdtmirror_targets) | first %}
{%-   set info = peer_target.login_info %}
{%-   if peer_target.get("link_layer") == "Ethernet" and peer_facts.mdtmirror_ips %}
{#-     The pair shares its target settings: the peer listens where this node's settings say. #}
{%-     if mdtmirror.target.backend == "lio" %}
{%-       set cm_port = mdtmirror.target.lio.rdma_cm_port or 5555 %}
{%-     else %}
{%-       set cm_port = mdtmirror.target.module_options.get("ib_srpt", {}).get("rdma_cm_port", 5555) %}
{%-     endif %}
{%-     set address = mdtmirror.get("peer_address") or peer_facts.mdtmirror_ips[0] %}
{%-     set target = {"id_ext": info.tid_ext, "ioc_guid": info.ioc_guid, "dest": address ~ ":" ~ cm_port} %}
{%-   elif info.get("dgid") %}
{%-     set target = {"id_ext": info.tid_ext, "ioc_guid": info.ioc_guid, "dgid": info.dgid, "pkey": info.pkey, "service_id": info.service_id} %}
{%-   endif %}
{%- endif %}

{#- "srp_daemon -oacd/dev/infiniband/umad0" + add_target: the peer's port,
    discovered or given, never a GUID typed by hand. #}
mdtmirror-srp-login:
  srp.connected:
{%- if target %}
    - target: {{ target | json }}
{%- else %}
    - discover: {{ i.discover }}
    - match: {{ match | json }}
{%- endif %}
    - options: {{ i.login_options | json }}
    {#- The peer may enable its target seconds later (both nodes applying at once). #}
    - retry: {{ i.login_retry | json }}
    - require:
      - srp: mdtmirror-srp-module

{%- if i.persist %}

{#- srp_daemon re-logs in at boot and after path loss, to exactly this target. #}
mdtmirror-srp-persistent:
  srp.persistent:
{%- if target %}
    - targets: {{ [target] | json }}
{%- else %}
    - discover: {{ i.discover }}
    - match: {{ match | json }}
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
