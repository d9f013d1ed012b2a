{#- salt-run state.orchestrate mdtmirror.takeover pillar='{"pair": "<pair>", "to": "<node>"}'
    The active node is lost: the standby closes its export (the lost node's
    sessions are gone) and imports the pool, which comes up DEGRADED and
    serving. Refused while the other node answers and holds the pool; on the
    node, multihost refuses the import while another host writes to the pool
    (never forced past that). When the lost node returns, `state.apply
    mdtmirror` makes it the standby and the active heals the mirror. -#}
{%- set tgt = salt["pillar.get"]("tgt", "*mds*") %}
{%- set tgt_type = salt["pillar.get"]("tgt_type", "glob") %}
{%- set op = salt["saltutil.runner"]("mdtmirror.operation_plan", arg=["takeover"], kwarg={
      "pair": salt["pillar.get"]("pair"), "to": salt["pillar.get"]("to"), "tgt": tgt, "tgt_type": tgt_type,
      "timeout": salt["pillar.get"]("timeout", 15)}) %}
{%- if op.refusal %}

mdtmirror-takeover-refused:
  test.fail_without_changes:
    - name: {{ op.refusal | json }}
    - failhard: true
{%- else %}

mdtmirror-takeover-activate:
  salt.state:
    - tgt: {{ op.new | json }}
    - sls: mdtmirror.activate
    - pillar: {mdtmirror_role: active, mdtmirror_operation: takeover}
    - failhard: true
    - queue: true  # after a state run already there (the heal reactor's)

mdtmirror-takeover-mine-update:
  salt.function:
    - name: mine.update
    - tgt: {{ op.new | json }}
    - require:
      - salt: mdtmirror-takeover-activate
{%- endif %}
