"""The embedded driving VLA (small Qwen2.5-VL + plan queries) on the default training world.

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

from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.hooks import CheckpointHook
from mmengine.optim import CosineAnnealingLR, LinearLR, OptimWrapper
from torch.optim import AdamW

from fastdrive.datasets import PlanningDataset
from fastdrive.evaluation import PlanningMetric
from fastdrive.models import DrivingVLA

data_root = "data/fastdrive_world"
image_size = (448, 252)
max_epochs = 12

model = dict(
    type=DrivingVLA,
    vlm=dict(hidden_size=128, num_layers=6, num_heads=4, num_kv_heads=2, intermediate_size=384,
             vision_hidden=64, vision_depth=2, vision_heads=4,
             # every vision block windowed (112 px): each visual token describes its own part of the
             # frame, so pruning removes information (with full attention every token carried the
             # whole frame and 75% random pruning cost < 1% L2; docs/results.md)
             vision_fullatt_blocks=()),
    image_size=image_size,
)

_dataset = dict(type=PlanningDataset, data_root=data_root, version="v1.0-fastdrive", cameras=("CAM_FRONT",),
                image_size=image_size, cache_images=True)
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(_dataset, split="train", cache_file=data_root + "/planning_cache/train.pkl"),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(_dataset, split="val", cache_file=data_root + "/planning_cache/val.pkl", test_mode=True),
)
test_dataloader = val_dataloader
val_evaluator = dict(type=PlanningMetric)
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=4)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=1e-3, weight_decay=0.01),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True,
         eta_min=1e-5),
]
default_hooks.update(checkpoint=dict(type=CheckpointHook, interval=2, max_keep_ckpts=2, save_best="plan/L2_avg",
                                     rule="less"))
