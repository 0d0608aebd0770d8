"""Ablation: the shipped recipe without the perception head (no ego history, event weighting kept)."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(aux_weight=0.0)
train_dataloader["dataset"].update(token_grid=None)
