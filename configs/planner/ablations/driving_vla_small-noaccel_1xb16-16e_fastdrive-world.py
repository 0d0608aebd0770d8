"""Ablation: the shipped recipe with the acceleration hidden too (speed, yaw rate and command only).

Reads its camera most (camera swap 1.31x) but plans poorly (L2 only 14% below constant velocity):
docs/results.md, issue #10 ablation."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(keep_accel=False)
