"""The shipped embedded driving VLA: a small Qwen2.5-VL that reads its camera (issue 10).

Same network as the first planner (CAM_FRONT at 448x252 = 16x9 = 144 windowed
visual tokens, 6-layer LLM, plan queries + waypoint head), trained so that
what is in view decides the plan:

* a perception head on the visual tokens (the merger output every pruner
  sees) learns the share of each of the 17 semantic classes in each token's
  cell from the world's ground truth (``aux_weight``);
* ``ego_dropout``: a third of the training samples hide their acceleration
  and past trajectory (constant-velocity past instead);
* ``event_weight``: samples whose future departs from constant velocity
  (stops, starts, turns) weigh more;
* the training world cycles crossing / lead / junction / red-light scenes
  (``fastdrive.sim.scenario.SCENE_CYCLE``) and has 100 scenes rendered from
  CAM_FRONT only.

Reproduce (CPU, 2 cores; wall times in docs/results.md)::

    python -m data_tools.make_world --out data/fastdrive_world --scenes 100 --seed 1 --cameras CAM_FRONT
    mim train fastdrive configs/planner/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world.py --gpus 0
    python -m fastdrive.tools.export_planner \\
        configs/planner/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world.py \\
        work_dirs/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world/epoch_16.pth \\
        --out fastdrive/checkpoints/driving_vla_qwen25vl-small-aux_fastdrive-world.pth
"""

from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.planner.driving_vla_small import *  # noqa: F401,F403

from mmengine.hooks import CheckpointHook
from mmengine.optim import CosineAnnealingLR, LinearLR

max_epochs = 16
token_grid = (9, 16)  # (448 / 28) x (252 / 28) visual tokens, rows x columns

model.update(aux_weight=0.5, num_semantic=17, ego_dropout=0.3, event_weight=1.0)
train_dataloader["dataset"].update(token_grid=token_grid)

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True,
         eta_min=1e-5),
]
default_hooks.update(checkpoint=dict(type=CheckpointHook, interval=2, max_keep_ckpts=2, save_best="plan/L2_avg",
                                     rule="less"))
