{#- The snapshot and backup timers.
    What it does and why: stages.jinja (this stage's macro). -#}
{%- from tpldir ~ "/stages.jinja" import snapshots with context %}
{{ snapshots() }}
