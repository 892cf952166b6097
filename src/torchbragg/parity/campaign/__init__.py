"""Parity campaigns: many command lines, both sides, exact verdicts (docs/campaign.md).

The flow is one way: a YAML spec (:mod:`.spec`) expands into cases (:mod:`.cases`); each case
runs on both sides (:mod:`.execute`), its outputs are compared role by role
(:mod:`.compare`), a divergent case is traced and shrunk (:mod:`.diagnose`, :mod:`.shrink`),
and the records make the bundle (:mod:`.report`), which shards merge into (:mod:`.merge`).
"""
