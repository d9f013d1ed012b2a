{#- "ZFS snapshots for MDT backup" and "we always backup the metadata also":
    a snapshot/prune timer, and a backup timer when a destination is set.
    Installed on both nodes: each job skips itself where the pool is not
    imported, so it follows the pool through a failover. -#}
{%- from tpldir ~ "/map.jinja" import mdtmirror, pillar_errors with context %}
{{ pillar_errors("snapshots") }}
{%- if not mdtmirror.errors %}
{%- set s = mdtmirror.snapshots %}
{%- set b = mdtmirror.backup %}
{%- set dataset = s.dataset or mdtmirror.mirror.pool %}

{%- if s.enabled %}
mdtmirror-snapshots:
  zfsmirror.snapshot_schedule_present:
    - name: {{ mdtmirror.mirror.pool }}
    - dataset: {{ dataset }}
    - policy: {{ s.policy | json }}
    - prefix: {{ s.prefix }}
    - interval: {{ s.interval }}
{%- endif %}

{%- if b.destination %}

mdtmirror-backup:
  zfsmirror.backups_configured:
    - name: {{ mdtmirror.mirror.pool }}
    - dataset: {{ dataset }}
    - destination: {{ b.destination }}
    - prefix: {{ s.prefix }}
    - on_calendar: {{ b.on_calendar }}
{%- endif %}

{%- if not s.enabled and not b.destination %}

mdtmirror-snapshots:
  test.succeed_without_changes:
    - name: "snapshots and backups are disabled in the pillar (mdtmirror:snapshots:enabled, mdtmirror:backup:destination)"
{%- endif %}
{%- endif %}
