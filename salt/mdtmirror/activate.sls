{#- Make this node the active one (mdtmirror.switchover and mdtmirror.takeover
    run it with pillar mdtmirror_role: active): close its own export (its
    disk becomes the pool's), log in to the peer's LUN (switchover only: on
    a takeover the peer is lost), import the pool (multihost refuses it
    while another host has it imported; a takeover may import a pool the
    lost node did not export), then heal (switchover). -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, plan, pillar_errors with context %}
{%- set takeover = salt["pillar.get"]("mdtmirror_operation") == "takeover" %}
{{ pillar_errors("activate") }}
{%- if not mdtmirror.errors %}

include:
  - mdtmirror.target
{%- if not takeover %}
  - mdtmirror.initiator
  - mdtmirror.mirror
{%- endif %}

mdtmirror-pool-import:
  zfsmirror.pool_imported:
    - name: {{ mdtmirror.mirror.pool }}
    - force: {{ takeover }}
    - require:
{%- if mdtmirror.target.backend == "lio" %}
      - lio: mdtmirror-lio-unexport
{%- else %}
      - scst: mdtmirror-scst-unexport-device
{%- endif %}
{%- if not takeover %}
      - srp: mdtmirror-srp-login
    - require_in:
      - zfsmirror: mdtmirror-pool
{%- endif %}
{%- endif %}
