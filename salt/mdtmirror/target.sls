{#- The target side: the standby exports its LUN, the active exports nothing.
    What it does and why: stages.jinja (this stage's macro). -#}
{%- from tpldir ~ "/stages.jinja" import target with context %}
{{ target(alone=true) }}
