"""Ablation (issue 11, at 2 epochs): no SSIM: each branch's loss is the MSE alone (lam = 0).

Results: docs/results.md, "ReconPruner ablations"."""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

model.update(lam=0.0)
