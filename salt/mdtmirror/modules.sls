{#- The modules stage: SCST (or LIO) and ib_srp loaded, their facts published.
    What it does and why: stages.jinja (this stage's macro). -#}
{%- from tpldir ~ "/stages.jinja" import modules with context %}
{{ modules() }}
