"""The first embedded driving VLA (session 2): the camera-blind recipe, kept for reference.

It plans as well with another scene's frame as with its own (issue 10,
docs/results.md): the ego state alone decides. The shipped planner is
``driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world.py``.

Make the default training world once (about 10 minutes on 2 cores)::

    python -m data_tools.make_world --out data/fastdrive_world --scenes 40 --seed 1

then train on CPU (16 min 22 s measured on 2 cores with OMP_NUM_THREADS=1) and evaluate::

    mim train fastdrive configs/planner/driving_vla_qwen25vl-small_1xb16-12e_fastdrive-world.py --gpus 0
    mim test fastdrive configs/planner/driving_vla_qwen25vl-small_1xb16-12e_fastdrive-world.py \\
        --checkpoint work_dirs/driving_vla_qwen25vl-small_1xb16-12e_fastdrive-world/epoch_12.pth --gpus 0

Input: CAM_FRONT resized to 448x252 (16x9 = 144 visual tokens), command,
speed / acceleration / yaw rate and the last 2 s of positions; output: 6
waypoints at 0.5 s. ``python -m fastdrive.tools.export_planner`` turns the
last checkpoint into the small file the service ships with.
"""

from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403
    from .._base_.planner.driving_vla_small import *  # noqa: F401,F403

from mmengine.hooks import CheckpointHook
from mmengine.optim import CosineAnnealingLR, LinearLR

max_epochs = 12

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True,
         eta_min=1e-5),
]
default_hooks.update(checkpoint=dict(type=CheckpointHook, interval=2, max_keep_ckpts=2, save_best="plan/L2_avg",
                                     rule="less"))
