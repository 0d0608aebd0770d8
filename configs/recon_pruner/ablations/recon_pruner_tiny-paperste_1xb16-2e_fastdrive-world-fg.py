"""Ablation (issue 11, at 2 epochs): FastDriveVLA's straight-through estimator as published.

Identity surrogate (``S + stopgrad(1[S > 0] - S)``) and the default scorer
bias, instead of the shipped sigmoid surrogate and the negative start bias.

Results: docs/results.md, "ReconPruner ablations"."""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

model.update(ste="identity", init_score_bias=None)
