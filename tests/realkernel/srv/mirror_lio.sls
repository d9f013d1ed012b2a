{#- Scenario 1 of the real-kernel tier: LIO target, SRP login, ZFS mirror. -#}
{%- set serial = salt["lio.default_serial"]("realkernel-guest", "MDT0") %}
include:
  - lio_target

peer-lun:
  srp.connected:
    - target:
        id_ext: {{ pillar["guid"] | json }}
        ioc_guid: {{ pillar["guid"] | json }}
        dest: {{ pillar["dest"] | json }}
    - require:
      - lio: srp-target

mdtpool:
  zfsmirror.pool_mirrored:
    - local: {{ pillar["local"] | json }}
    - remote: {{ salt["lio.initiator_by_id"](serial) | json }}
    - remote_pending: true
    - require:
      - srp: peer-lun
