"""Ablation: the shipped recipe without event weighting (no ego history, perception head kept)."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(event_weight=0.0)
