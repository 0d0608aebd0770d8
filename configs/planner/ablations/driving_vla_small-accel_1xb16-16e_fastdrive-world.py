"""Variant: the shipped recipe, but the model sees the current acceleration (the past trajectory
stays hidden)."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(keep_accel=True)
