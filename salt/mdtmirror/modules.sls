{#- "modprobe scst; modprobe ib_srpt; modprobe scst_vdisk" and "modprobe
    ib_srp": once loaded, the facts peers need (target login_info, initiator
    port GIDs) exist, so they are published to the mine right away. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, pillar_errors with context %}
{{ pillar_errors("modules") }}
{%- if not mdtmirror.errors %}
{%- set packages = mdtmirror.initiator.packages + mdtmirror.mirror.packages %}
{%- if mdtmirror.target.backend == "lio" %}
{%-   set packages = mdtmirror.target.lio.packages + packages %}
{%- endif %}
{%- if mdtmirror.manage_packages and packages %}

mdtmirror-packages:
  pkg.installed:
    - pkgs: {{ packages | json }}
    - require_in:
      - {{ "lio: mdtmirror-lio-fabric" if mdtmirror.target.backend == "lio" else "scst: mdtmirror-scst-modules" }}
      - srp: mdtmirror-srp-module
{%- endif %}
{%- if mdtmirror.target.backend == "lio" %}

{#- LIO: the kernel's own target; its configuration lives in configfs. #}
mdtmirror-lio-kernel-modules:
  kmod.present:
    - mods: {{ mdtmirror.target.lio.modules | json }}

mdtmirror-lio-fabric:
  lio.fabric_ready:
    - rdma_cm_port: {{ mdtmirror.target.lio.rdma_cm_port | json }}
    - publish: true
    - require:
      - kmod: mdtmirror-lio-kernel-modules
{%- else %}

mdtmirror-scst-modules:
  scst.modules_loaded:
    - modules: {{ mdtmirror.target.modules | json }}
    - options: {{ mdtmirror.target.module_options | json }}
    - publish: true
{%- endif %}

mdtmirror-srp-module:
  srp.module_loaded:
    - options: {{ mdtmirror.initiator.module_options | json }}
    - publish: true
{%- endif %}
