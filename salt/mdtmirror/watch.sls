{#- The mdtmirror beacon, as the pillar says.
    What it does and why: stages.jinja (this stage's macro). -#}
{%- from tpldir ~ "/stages.jinja" import watch with context %}
{{ watch() }}
