"""Ablation (issue 11, at 2 epochs): masks from `build_fg --segmenter box` (projected box hulls: what a data engineer without SAM weights has) instead of the world's ground-truth masks.

Results: docs/results.md, "ReconPruner ablations"."""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

# training masks only: validation stays on the ground truth, so the rows compare
train_dataloader["dataset"]["data_prefix"] = dict(img_path=data_root, mask_path=fg_root)
