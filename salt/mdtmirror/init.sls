{#- The whole runbook on one node, in the seed's order. Run twice on both
    nodes it converges; mdtmirror.orch runs the stages in the only safe
    order across the pair in one go. The stages are macros of stages.jinja,
    rendered here in one template with one node plan; each stage SLS
    (state.apply mdtmirror.target...) renders its own. A run of this SLS and
    a stage SLS together is refused by Salt (conflicting IDs), before any
    state. -#}
{%- from tpldir ~ "/stages.jinja" import modules, target, initiator, mirror, snapshots, watch with context %}
{{ modules() }}
{{ target() }}
{{ initiator() }}
{{ mirror() }}
{{ snapshots() }}
{{ watch() }}
