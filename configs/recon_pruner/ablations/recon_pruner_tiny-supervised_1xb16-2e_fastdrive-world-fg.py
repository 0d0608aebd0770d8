"""Ablation (issue 11, at 2 epochs): direct mask supervision, no reconstruction: per-token BCE of the scores against the ground-truth foreground share of each token's cell (the supervised reference).

Results: docs/results.md, "ReconPruner ablations"."""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

model.update(objective="supervised")
