"""Lever: the shipped recipe with only the non-negative part of the acceleration shown.

Braking is the driver's reaction to what is in view (a pedestrian, a braking lead, a red
light, a bend ahead): showing it hands the plan the answer the camera should give. Pulling
towards the driver's own set speed is intent no camera shows, so it stays an input.

Measured (docs/results.md, issue #10 ablation): it plans worse than the shipped recipe (L2
0.436 m against 0.323 m on the seed-1 val split) and reads its camera about as much (swap
1.13x / 1.27x on seed 1 / seed 7): the small vision tower does not replace the measured
deceleration. Not shipped."""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403

model.update(keep_accel="throttle")
