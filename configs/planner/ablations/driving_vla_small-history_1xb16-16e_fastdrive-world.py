"""Ablation: the shipped recipe with the ego history shown (acceleration and past trajectory),
hidden for 70% of the training samples (ego-status dropout) instead of always."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(ego_history=True, keep_accel=False, ego_dropout=0.7)
