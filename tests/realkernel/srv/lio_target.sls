{#- The target side with the lio backend, as the formula lays it out: this
    guest's loop device exported over SRP to the guest's own port. -#}
{%- set serial = salt["lio.default_serial"]("realkernel-guest", "MDT0") %}
lio-modules:
  kmod.present:
    - mods: [target_core_mod, target_core_file, ib_srpt, ib_srp]

srpt:
  lio.fabric_ready:
    - rdma_cm_port: {{ pillar["rdma_cm_port"] }}
    - require:
      - kmod: lio-modules

MDT0:
  lio.backstore_present:
    - dev: {{ pillar["lun_dev"] | json }}
    - serial: {{ serial | json }}
    - attributes: {is_nonrot: 1}
    - require:
      - lio: srpt

mdt0-export:
  lio.lun_exported:
    - backstore: MDT0
    - lun: 0
    - initiators: [{{ pillar["gid"] | json }}]
    - require:
      - lio: MDT0

srp-target:
  lio.target_enabled:
    - require:
      - lio: mdt0-export

lio-config:
  lio.config_saved:
    - path: /etc/rtslib-fb-target/saveconfig.json
    - require:
      - lio: srp-target
