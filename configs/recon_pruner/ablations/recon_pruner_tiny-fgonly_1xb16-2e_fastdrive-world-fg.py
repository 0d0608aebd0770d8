"""Ablation (issue 11, at 2 epochs): foreground-only reconstruction (no background branch) on raw scores: the paper's degenerate case; the share of tokens scored positive tells.

Results: docs/results.md, "ReconPruner ablations"."""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

model.update(objective="fg_only", standardize=False)
