{#- The whole runbook on one node, in the seed's order. Run twice on both
    nodes it converges; mdtmirror.orch runs the stages in the only safe
    order across the pair in one go.
    The stages are rendered here as one file (Jinja include, with this
    file's context): one template environment, map.jinja fetched once, one
    node plan. As separate SLS files each would cost Salt a fetch and a new
    environment (~15-20 ms each on every apply). Each stage SLS still runs
    on its own (state.apply mdtmirror.target...); whole_formula tells it
    that modules.sls is rendered here, before it. A run of this SLS and a
    stage SLS together is refused by Salt (conflicting IDs), before any
    state. -#}
{%- set whole_formula = true %}
{%- for stage in ("modules", "target", "initiator", "mirror", "snapshots", "watch") %}
{% include tpldir ~ "/" ~ stage ~ ".sls" %}
{%- endfor %}
