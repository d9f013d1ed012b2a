{#- salt-run state.orchestrate mdtmirror.switchover pillar='{"pair": "<pair>", "to": "<node>", "force": false}'
    A planned switchover, both nodes up: the active exports the pool and
    logs out of the standby's LUN (mdtmirror.release); the standby closes its
    export (mdtmirror.target); the old active exports its own disk
    (mdtmirror.standby); the new active logs in to it and imports the pool
    (mdtmirror.activate): both sides ONLINE, no resilver.
    Who is active is asked of the nodes (the mdtmirror runner's
    operation_plan: where the pool is imported), never taken from the pillar.
    Every step is idempotent: a re-run with the same `to` completes an
    interrupted switchover. -#}
{%- set tgt = salt["pillar.get"]("tgt", "*mds*") %}
{%- set tgt_type = salt["pillar.get"]("tgt_type", "glob") %}
{%- set op = salt["saltutil.runner"]("mdtmirror.operation_plan", arg=["switchover"], kwarg={
      "pair": salt["pillar.get"]("pair"), "to": salt["pillar.get"]("to"), "force": salt["pillar.get"]("force", False),
      "tgt": tgt, "tgt_type": tgt_type}) %}
{%- if op.refusal %}

mdtmirror-switchover-refused:
  test.fail_without_changes:
    - name: {{ op.refusal | json }}
    - failhard: true
{%- else %}

{#- The issue's order, one exclusive holder per disk and one export at a time:
    the active exports the pool and logs out; the standby closes its export;
    the old active exports its disk; the new active logs in and imports. #}
mdtmirror-switchover-release:
  salt.state:
    - tgt: {{ op.old | json }}
    - sls: mdtmirror.release
    - pillar: {mdtmirror_role: standby, mdtmirror_operation: switchover}
    - failhard: true
    - queue: true  # after a state run already there (the heal reactor's)

mdtmirror-switchover-close:
  salt.state:
    - tgt: {{ op.new | json }}
    - sls: mdtmirror.target
    - pillar: {mdtmirror_role: active, mdtmirror_operation: switchover}
    - failhard: true
    - queue: true
    - require:
      - salt: mdtmirror-switchover-release

mdtmirror-switchover-standby:
  salt.state:
    - tgt: {{ op.old | json }}
    - sls: mdtmirror.standby
    - pillar: {mdtmirror_role: standby, mdtmirror_operation: switchover}
    - failhard: true
    - queue: true
    - require:
      - salt: mdtmirror-switchover-close

mdtmirror-switchover-activate:
  salt.state:
    - tgt: {{ op.new | json }}
    - sls: mdtmirror.activate
    - pillar: {mdtmirror_role: active, mdtmirror_operation: switchover}
    - failhard: true
    - queue: true
    - require:
      - salt: mdtmirror-switchover-standby

{#- The peers' facts (who holds the pool) for the next plans. #}
mdtmirror-switchover-mine-update:
  salt.function:
    - name: mine.update
    - tgt: {{ op.nodes | json }}
    - tgt_type: list
    - require:
      - salt: mdtmirror-switchover-activate
{%- endif %}
