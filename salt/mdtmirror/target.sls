{#- Target side of the seed's runbook, by role (mdtmirror.plan): the standby
    exports its local LUN over SRP (SCST vdisk_blockio or LIO iblock: an
    exclusive holder) to the peer's initiators; the active exports nothing,
    its disk belongs to its pool. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, plan, pillar_errors, mine with context %}
{%- set t = mdtmirror.target %}
{%- set node = mdtmirror.get("node", {}) %}
{%- set export = plan.get("export") or {} %}
{%- set lun_path = export.get("lun_path") %}
{%- set initiators = export.get("initiators") %}
{%- set peer_facts_missing = plan.get("export") and initiators is none %}
{#- The port's SCST target, as the plan found it (none before ib_srpt loads: each state finds it then). #}
{%- set port_target = mdtmirror.get("scst_port_target") %}
{{ pillar_errors("target") }}
{%- if not mdtmirror.errors %}
{%- if whole_formula is not defined %}

include:
  - mdtmirror.modules
{%- endif %}
{%- if plan.get("unexport") %}
{%-   set u = plan.unexport %}
{%-   if t.backend == "lio" %}

{#- Active: Its disk is the pool's: no LIO export of it. #}
mdtmirror-lio-unexport:
  lio.backstore_absent:
    - name: {{ u.device }}
    - require:
      - lio: mdtmirror-lio-fabric

mdtmirror-lio-config:
  lio.config_saved:
    - path: {{ t.lio.config_file | json }}
    - require:
      - lio: mdtmirror-lio-unexport
{%-   else %}

{#- Active: Its disk is the pool's: SCST must not hold it. #}
mdtmirror-scst-unexport-lun:
  scst.lun_absent:
    - lun: {{ u.lun }}
    - group: {{ u.group }}
{%- if port_target %}
    - target: {{ port_target | json }}
{%- endif %}
    - hca: {{ node.get("hca") | json }}
    - port: {{ node.get("port") | json }}
    - require:
      - scst: mdtmirror-scst-modules

mdtmirror-scst-unexport-device:
  scst.device_absent:
    - name: {{ u.device }}
    {#- Its LUN went in the state above (force: test=True predicts both). #}
    - force: true
    - require:
      - scst: mdtmirror-scst-unexport-lun

{#- The boot configuration must not export the pool's disk either. #}
mdtmirror-scst-config:
  scst.config_saved:
    - path: {{ t.config_file | json }}
    - require:
      - scst: mdtmirror-scst-unexport-device
{%-   endif %}
{%- endif %}
{%- if plan.get("export") %}

{%- if node.get("zvol") %}
{#- No hardware RAID LUN: a zvol of a local pool backs the export. #}
mdtmirror-zvol:
  zfsmirror.zvol_present:
    - name: {{ node.zvol.name }}
    - size: {{ node.zvol.size | string | json }}
    - properties: {{ (node.zvol.get("properties") or {}) | json }}
    - require_in:
      - {{ "lio: mdtmirror-lio-backstore" if t.backend == "lio" else "scst: mdtmirror-scst-device" }}

{%- endif %}
{%- if t.backend == "lio" %}
{%-   set lio = t.lio %}

{#- LIO: the LUN as an iblock backstore, with a unit serial the peer can
    compute (its /dev/disk/by-id name of the LUN comes from it). #}
mdtmirror-lio-backstore:
  lio.backstore_present:
    - name: {{ t.device }}
    - dev: {{ lun_path | json }}
    - serial: {{ salt["lio.default_serial"](grains["id"], t.device) | json }}
    - attributes: {{ lio.attributes | json }}
    - require:
      - lio: mdtmirror-lio-fabric
{%-   if peer_facts_missing %}

mdtmirror-lio-lun:
  mdtmirror.problem:
    - name: >-
        peer {{ mdtmirror.peer }} has not published {{ mine.missing | join(', ') }} in the Salt mine yet
        (apply mdtmirror.modules there, then mine.update; mdtmirror.orch does both)
{%-   else %}

{#- One ACL per peer initiator (its port ID), each seeing the LUN. #}
mdtmirror-lio-lun:
  lio.lun_exported:
    - name: {{ t.device }} as LUN {{ t.lun }}
    - backstore: {{ t.device }}
    - lun: {{ t.lun }}
    - initiators: {{ (initiators or []) | json }}
    - hca: {{ node.get("hca") | json }}
    - port: {{ node.get("port") | json }}
    - require:
      - lio: mdtmirror-lio-backstore
{%-   endif %}

mdtmirror-lio-target:
  lio.target_enabled:
    - hca: {{ node.get("hca") | json }}
    - port: {{ node.get("port") | json }}
    - require:
      - mdtmirror-lio-lun

{#- LIO's own persistence: rtslib's saveconfig.json, restored at boot by
    the distribution's service. #}
mdtmirror-lio-config:
  lio.config_saved:
    - path: {{ lio.config_file | json }}
    - require:
      - lio: mdtmirror-lio-target
{%-   if lio.rdma_cm_port %}

{#- rtslib does not save srpt's RDMA/CM port: set it after each restore. #}
mdtmirror-lio-rdma-cm-port-conf:
  file.managed:
    - name: /etc/mdtmirror/lio-rdma-cm-port.conf
    - makedirs: true
    - contents: {{ salt["lio.rdma_cm_port_conf"](lio.rdma_cm_port) | json }}
{%-     if grains.get("init") == "systemd" %}

mdtmirror-lio-rdma-cm-port-dropin:
  file.managed:
    - name: /etc/systemd/system/{{ lio.service }}.service.d/mdtmirror-rdma-cm-port.conf
    - makedirs: true
    - contents: |
        # Written by mdtmirror: rtslib's saveconfig does not keep srpt's RDMA/CM port.
        [Service]
        ExecStartPost=systemd-tmpfiles --create /etc/mdtmirror/lio-rdma-cm-port.conf
    - require:
      - file: mdtmirror-lio-rdma-cm-port-conf

mdtmirror-lio-systemd-reload:
  module.run:
    - service.systemctl_reload: []
    - onchanges:
      - file: mdtmirror-lio-rdma-cm-port-dropin
{%-     endif %}
{%-   endif %}
{%-   if t.enable_service %}

mdtmirror-lio-service:
  service.enabled:
    - name: {{ lio.service }}
    - require:
      - lio: mdtmirror-lio-config
{%-   endif %}
{%- else %}
{#- "scstadmin -open_dev MDT1 -handler vdisk_blockio -attributes filename=..." #}
mdtmirror-scst-device:
  scst.device_present:
    - name: {{ t.device }}
    - handler: {{ t.handler }}
    - filename: {{ lun_path | json }}
    - attributes: {{ t.attributes | json }}
    - require:
      - scst: mdtmirror-scst-modules

{#- "scstadmin --add_group MDS" and "-add_init": explicit initiators only.
    Without the peer's facts this fails (and so do the LUN and the target
    that need it), while the modules still load and publish this node's. #}
{%- if peer_facts_missing %}
mdtmirror-scst-group:
  mdtmirror.problem:
    - name: >-
        peer {{ mdtmirror.peer }} has not published {{ mine.missing | join(', ') }} in the Salt mine yet
        (apply mdtmirror.modules there, then mine.update; mdtmirror.orch does both)
{%- else %}
mdtmirror-scst-group:
  scst.group_present:
    - name: {{ t.group }}
    - initiators: {{ (initiators or []) | json }}
    - allow_wildcard: {{ t.allow_wildcard }}
{%- if port_target %}
    - target: {{ port_target | json }}
{%- endif %}
    - hca: {{ node.get("hca") | json }}
    - port: {{ node.get("port") | json }}
    - require:
      - scst: mdtmirror-scst-modules
{%- endif %}

{#- "scstadmin -add_lun 0 ... -group MDS -device MDT1" #}
mdtmirror-scst-lun:
  scst.lun_present:
    - lun: {{ t.lun }}
    - device: {{ t.device }}
    - group: {{ t.group }}
{%- if port_target %}
    - target: {{ port_target | json }}
{%- endif %}
    - hca: {{ node.get("hca") | json }}
    - port: {{ node.get("port") | json }}
    - require:
      - scst: mdtmirror-scst-device
      - mdtmirror-scst-group

{#- "scstadmin -enable_target": the port's target, after its ACLs exist. #}
mdtmirror-scst-target:
  scst.target_enabled:
{%- if port_target %}
    - target: {{ port_target | json }}
{%- endif %}
    - hca: {{ node.get("hca") | json }}
    - port: {{ node.get("port") | json }}
    - require:
      - scst: mdtmirror-scst-lun

{#- "scstadmin -write_config /etc/scst.conf" #}
mdtmirror-scst-config:
  scst.config_saved:
    - path: {{ t.config_file | json }}
    - require:
      - scst: mdtmirror-scst-target

{%- if t.enable_service %}

{#- "chkconfig --add scst": restore the configuration at boot. #}
mdtmirror-scst-service:
  service.enabled:
    - name: {{ t.service }}
    - require:
      - scst: mdtmirror-scst-config
{%- endif %}
{%- endif %}
{%- endif %}
{%- endif %}
