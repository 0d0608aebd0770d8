"""The session-7 planner's recipe (issue 10): no past trajectory (the current speed, acceleration
and yaw rate remain), perception head, event weighting, random token drop, 16 epochs.

``configs/planner/driving_vla_qwen25vl-small-aux_1xb16-16e_fastdrive-world.py`` is this
recipe; the ablations under ``configs/planner/ablations/`` switch its levers off one by one.
"""

from mmengine.config import read_base

with read_base():
    from ..default_runtime import *  # noqa: F401,F403
    from .driving_vla_small import *  # noqa: F401,F403

from mmengine.hooks import CheckpointHook
from mmengine.optim import CosineAnnealingLR, LinearLR

max_epochs = 16
token_grid = (9, 16)  # (252 / 28) x (448 / 28) visual tokens, rows x columns

model.update(aux_weight=0.5, num_semantic=17, ego_history=False, keep_accel=True, ego_dropout=0.0,
             event_weight=1.0, token_drop=0.5, token_drop_keep=(0.2, 1.0))
train_dataloader["dataset"].update(token_grid=token_grid)

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True,
         eta_min=1e-5),
]
default_hooks.update(checkpoint=dict(type=CheckpointHook, interval=2, max_keep_ckpts=2, save_best="plan/L2_avg",
                                     rule="less"))
