{#- The initiator side: the active logs in to the standby's LUN, the standby logs out.
    What it does and why: stages.jinja (this stage's macro). -#}
{%- from tpldir ~ "/stages.jinja" import initiator with context %}
{{ initiator(alone=true) }}
