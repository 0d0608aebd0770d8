"""The session-7 embedded driving VLA: a small Qwen2.5-VL that reads its camera (issue 10).

Shipped from session 7 to session 8; superseded by
``driving_vla_qwen25vl-small-throttle-x2_1xb16-8e_fastdrive-world.py`` (braking hidden, two
training worlds). Its file is kept in ``docs/bench/issue10/previous_planner/``.

Same network as the first planner (CAM_FRONT at 448x252 = 16x9 = 144 windowed
visual tokens, 6-layer LLM, plan queries + waypoint head), trained so that
what is in view decides the plan:

* a perception head on the visual tokens (the merger output every pruner
  sees) learns the share of each of the 17 semantic classes in each token's
  cell from the world's ground truth (``aux_weight``);
* ``ego_history=False, keep_accel=True``: the model never sees the past
  trajectory (the current speed, acceleration, yaw rate and command remain),
  so where the ego is going must come from the camera, not from where it
  has been;
* ``event_weight``: samples whose future departs from constant velocity
  (stops, starts, turns) weigh more;
* ``token_drop``: half of the batches are planned from a random 20-100% of
  the visual tokens (through the pruning adapter), so that a pruned plan
  loses what the dropped tokens showed, not its footing;
* the training world cycles crossing / lead / junction / red-light scenes
  (``fastdrive.sim.scenario.SCENE_CYCLE``) and has 100 scenes rendered from
  CAM_FRONT only.

Reproduce (CPU, 2 cores; wall times in docs/results.md)::

    python -m data_tools.make_world --out data/fastdrive_world --scenes 100 --seed 1 --cameras CAM_FRONT
    mim train fastdrive configs/planner/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world.py --gpus 0
    python -m fastdrive.tools.export_planner \\
        configs/planner/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world.py \\
        work_dirs/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world/epoch_16.pth \\
        --out docs/bench/issue10/previous_planner/driving_vla_qwen25vl-small-aux_fastdrive-world.pth
"""

from mmengine.config import read_base

with read_base():
    from .._base_.planner.driving_vla_small_aux_16e import *  # noqa: F401,F403
