{#- The whole runbook on one node, in the seed's order. Run twice on both
    nodes it converges; mdtmirror.orch runs the stages in the only safe
    order across the pair in one go. -#}
include:
  - mdtmirror.target
  - mdtmirror.initiator
  - mdtmirror.mirror
  - mdtmirror.snapshots
  - mdtmirror.watch
