{#- "modprobe scst; modprobe ib_srpt; modprobe scst_vdisk" and "modprobe
    ib_srp": once loaded, the facts peers need (target login_info, initiator
    port GIDs) exist, so they are published to the mine right away. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, pillar_errors with context %}
{{ pillar_errors("modules") }}
{%- set packages = mdtmirror.initiator.packages + mdtmirror.mirror.packages %}
{%- if mdtmirror.manage_packages and packages %}

mdtmirror-packages:
  pkg.installed:
    - pkgs: {{ packages | json }}
    - require_in:
      - scst: mdtmirror-scst-modules
      - srp: mdtmirror-srp-module
{%- endif %}

mdtmirror-scst-modules:
  scst.modules_loaded:
    - modules: {{ mdtmirror.target.modules | json }}
    - options: {{ mdtmirror.target.module_options | json }}
    - publish: true

mdtmirror-srp-module:
  srp.module_loaded:
    - options: {{ mdtmirror.initiator.module_options | json }}
    - publish: true
