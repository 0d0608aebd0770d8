"""Shared parts of the embedded driving VLA's configs: model widths, planning data, optimiser, schedule.

Leaf configs set ``max_epochs``, the schedule's length through
``param_scheduler`` and any model option on top of this.
"""

from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.optim import OptimWrapper
from torch.optim import AdamW

from fastdrive.datasets import PlanningDataset
from fastdrive.evaluation import PlanningMetric
from fastdrive.models import DrivingVLA

data_root = "data/fastdrive_world"
image_size = (448, 252)

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

val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=1e-3, weight_decay=0.01),
                     clip_grad=dict(max_norm=1.0))
