{#- salt-run state.orchestrate mdtmirror.orch [pillar='{"tgt": "mds*", "tgt_type": "glob", "batch": 1, "degraded": false, "timeout": 30}']
    The formula over any number of pairs, never disrupting both nodes of a
    pair at once. The master's mdtmirror runner asks every node where its
    pool is (rollout_plan, one call) and sorts the pairs:

    * whole pairs (one node holds the pool, both sides ONLINE) go node by
      node: the standby's whole formula, then the runner waits until the
      mirror is whole again (wait_whole), then the active's, then whole
      again; `batch` pairs at a time, in parallel;
    * pairs where no node holds the pool (fresh) go stage by stage across
      both nodes, the only safe order there: modules, targets, logins, the
      pool on the owner, snapshots, watch;
    * a pair not whole is skipped with its reason (degraded=true: stage by
      stage, which logs in again and heals), as is one with a silent node.

    `timeout`: seconds the nodes have to say where their pools are (a node
    silent that long has its pair skipped; raise it for loaded nodes).

    Every node's pillar is validated before any node changes anything. This
    file is rendered once, before any step runs: the minions' own SLS read
    the peers' facts when their step runs. Formula mode: `salt-run
    saltutil.sync_all` first (the runner and its library). -#}
{%- set tgt = salt["pillar.get"]("tgt", "*mds*") %}
{%- set tgt_type = salt["pillar.get"]("tgt_type", "glob") %}
{%- set plan = salt["saltutil.runner"]("mdtmirror.rollout_plan", kwarg={
      "tgt": tgt, "tgt_type": tgt_type, "batch": salt["pillar.get"]("batch", 1),
      "degraded": salt["pillar.get"]("degraded", False), "timeout": salt["pillar.get"]("timeout", 30)}) %}

{%- if plan is not mapping %}
{#- Salt hands a runner's refusal (SaltInvocationError) back as "Passed invalid arguments: <why>" and
    its docstring, any other exception as a traceback whose last line says what was wrong. #}
{%-   set lines = (plan | string).strip().splitlines() or [""] %}
{%-   set why = namespace(line=lines[-1]) %}
{%-   for line in lines if line.startswith("Passed invalid arguments:") %}
{%-     set why.line = line %}
{%-   endfor %}
mdtmirror-rollout-plan:
  test.fail_without_changes:
    - comment: {{ ("the mdtmirror runner's rollout plan failed (formula mode: salt-run saltutil.sync_all first): "
                   ~ why.line) | json }}
    - failhard: true
{%- else %}

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

{%-   for pair, why in plan.skipped | dictsort %}

mdtmirror-skipped-{{ pair }}:
  test.show_notification:
    - text: {{ ("pair " ~ pair ~ " skipped: " ~ why) | json }}
{%-   endfor %}

{%-   if plan.stagewise %}
{%-     set nodes = plan.stagewise %}

mdtmirror-modules:
  salt.state:
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - sls: mdtmirror.modules
    - queue: true
    - require:
      - salt: mdtmirror-validate

{#- Peers' facts (target login_info, initiator GIDs, addresses) exist now:
    publish them. Pillar-defined mine functions need the pillar refresh first. #}
mdtmirror-refresh-pillar:
  salt.function:
    - name: saltutil.refresh_pillar
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - require:
      - salt: mdtmirror-modules

mdtmirror-mine-update:
  salt.function:
    - name: mine.update
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - require:
      - salt: mdtmirror-refresh-pillar

{#- The target side by role: the standby exports its disk to the active's
    initiators (from the mine), the active exports nothing. #}
mdtmirror-targets:
  salt.state:
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - sls: mdtmirror.target
    - queue: true
    - require:
      - salt: mdtmirror-mine-update

mdtmirror-initiators:
  salt.state:
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - sls: mdtmirror.initiator
    - queue: true
    - require:
      - salt: mdtmirror-targets

{#- Only the active node (pool imported there, or the owner of a fresh pair)
    renders a pool state; the standby keeps a hostid. #}
mdtmirror-mirror:
  salt.state:
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - sls: mdtmirror.mirror
    - queue: true
    - require:
      - salt: mdtmirror-initiators

mdtmirror-snapshots:
  salt.state:
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - sls: mdtmirror.snapshots
    - queue: true
    - require:
      - salt: mdtmirror-mirror

mdtmirror-watch:
  salt.state:
    - tgt: {{ nodes | json }}
    - tgt_type: list
    - sls: mdtmirror.watch
    - queue: true
    - require:
      - salt: mdtmirror-snapshots
{%-   endif %}

{%-   set previous = namespace(step="mdtmirror-validate") %}
{%-   for group in plan.batches %}
{%-     set n = loop.index %}
{%-     for half in ("first", "second") %}

{#- One batch of pairs: their standbys (first), then their actives (second). #}
mdtmirror-batch{{ n }}-{{ half }}:
  salt.state:
    - tgt: {{ group[half] | json }}
    - tgt_type: list
    - sls: mdtmirror
    - queue: true
    - failhard: true
    - require:
      - salt: {{ previous.step }}

mdtmirror-batch{{ n }}-{{ half }}-whole:
  salt.runner:
    - name: mdtmirror.wait_whole
    - pairs: {{ group.pairs | json }}
    - tgt: {{ tgt | json }}
    - tgt_type: {{ tgt_type }}
    - failhard: true
    - require:
      - salt: mdtmirror-batch{{ n }}-{{ half }}
{%-       set previous.step = "mdtmirror-batch" ~ n ~ "-" ~ half ~ "-whole" %}
{%-     endfor %}
{%-   endfor %}
{%- endif %}
