"""Ablation: the shipped recipe without random token drop in training."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(token_drop=0.0)
