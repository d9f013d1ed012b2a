{#- The seed's layout with the lio backend: the standby's LUN is a zvol of a
    local pool (zfsmirror.zvol_present, as the formula's node:zvol does),
    exported over SRP as LUN 1 beside MDT0, and logged in to. -#}
{%- set serial = salt["lio.default_serial"]("realkernel-guest", "MDT1") %}
include:
  - lio_target

mdt1-zvol:
  zfsmirror.zvol_present:
    - name: lpool/mdt1
    - size: 128M

MDT1:
  lio.backstore_present:
    - dev: /dev/zvol/lpool/mdt1
    - serial: {{ serial | json }}
    - require:
      - zfsmirror: mdt1-zvol
      - lio: srpt

mdt1-export:
  lio.lun_exported:
    - backstore: MDT1
    - lun: 1
    - initiators: [{{ pillar["gid"] | json }}]
    - require:
      - lio: MDT1
      - lio: srp-target
    - require_in:
      - lio: lio-config  # the saved configuration includes this LUN

zvol-lun:
  srp.connected:
    - target:
        id_ext: {{ pillar["guid"] | json }}
        ioc_guid: {{ pillar["guid"] | json }}
        dest: {{ pillar["dest"] | json }}
    - require:
      - lio: mdt1-export
