"""Ablation (issue 11, at 2 epochs): the shipped recipe without the negative start bias of the scorer.

Results: docs/results.md, "ReconPruner ablations"."""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

model.update(init_score_bias=None)
