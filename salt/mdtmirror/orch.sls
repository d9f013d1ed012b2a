{#- salt-run state.orchestrate mdtmirror.orch [pillar='{"tgt": "mds0[12]", "tgt_type": "glob"}']
    The only safe order across a pair. This file is rendered once, before
    any step runs, so it reads no peer facts: the minions' own SLS do, when
    their step runs. -#}
{%- set tgt = salt["pillar.get"]("tgt", "*mds*") %}
{%- set tgt_type = salt["pillar.get"]("tgt_type", "glob") %}

mdtmirror-sync:
  salt.function:
    - name: saltutil.sync_all
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}

{#- Every node's pillar is checked before any node changes anything. #}
mdtmirror-validate:
  salt.state:
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - sls: mdtmirror.validate
    - require:
      - salt: mdtmirror-sync

mdtmirror-modules:
  salt.state:
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - sls: mdtmirror.modules
    - require:
      - salt: mdtmirror-validate

{#- Peers' facts (target login_info, initiator GIDs, addresses) exist now:
    publish them. Pillar-defined mine functions need the pillar refresh first. #}
mdtmirror-refresh-pillar:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - require:
      - salt: mdtmirror-modules

mdtmirror-mine-update:
  salt.function:
    - name: mine.update
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - require:
      - salt: mdtmirror-refresh-pillar

{#- The target side by role: the standby exports its disk to the active's
    initiators (from the mine), the active exports nothing. #}
mdtmirror-targets:
  salt.state:
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - sls: mdtmirror.target
    - require:
      - salt: mdtmirror-mine-update

mdtmirror-initiators:
  salt.state:
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - sls: mdtmirror.initiator
    - require:
      - salt: mdtmirror-targets

{#- Only the active node (pool imported there, or the owner of a fresh pair)
    renders a pool state; the standby keeps a hostid. #}
mdtmirror-mirror:
  salt.state:
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - sls: mdtmirror.mirror
    - require:
      - salt: mdtmirror-initiators

mdtmirror-snapshots:
  salt.state:
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - sls: mdtmirror.snapshots
    - require:
      - salt: mdtmirror-mirror
