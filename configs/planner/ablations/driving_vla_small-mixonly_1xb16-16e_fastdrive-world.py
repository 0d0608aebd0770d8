"""Ablation: the shipped recipe with every training lever off (ego history shown, no perception
head, no event weighting): what the scenario mix of the training world does alone."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(aux_weight=0.0, ego_history=True, event_weight=0.0)
train_dataloader["dataset"].update(token_grid=None)
