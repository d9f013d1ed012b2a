{#- The mirror: the pool on the active (created, or checked and healed), a hostid on the standby.
    What it does and why: stages.jinja (this stage's macro). -#}
{%- from tpldir ~ "/stages.jinja" import mirror with context %}
{{ mirror() }}
