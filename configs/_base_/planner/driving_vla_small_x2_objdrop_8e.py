"""Two training worlds and object-first token drops, 8 epochs: the recipe of the session-8 levers.

The shipped recipe's levers (``driving_vla_small_aux_16e``) plus a second training world of
another seed and other towns (``data/fastdrive_world_extra_seed3``: 125 train scenes, 5000
frames) and ``token_drop_objects=0.5``; 8 epochs over the 8000 frames (4000 iterations).
``configs/planner/driving_vla_qwen25vl-small-throttle-x2_1xb16-8e_fastdrive-world.py`` (shipped)
and ``configs/planner/ablations/driving_vla_small-x2-objdrop_1xb16-8e_fastdrive-world.py`` use it.
"""


from mmengine.config import read_base

with read_base():
    from .driving_vla_small_aux_16e import *  # noqa: F401,F403

from mmengine.dataset import ConcatDataset
from mmengine.optim import CosineAnnealingLR, LinearLR

max_epochs = 8
extra_root = "data/fastdrive_world_extra_seed3"

model.update(token_drop_objects=0.5)
train_dataloader["dataset"] = dict(
    type=ConcatDataset,
    datasets=[train_dataloader["dataset"],
              dict(train_dataloader["dataset"], data_root=extra_root,
                   cache_file=extra_root + "/planning_cache/train.pkl")])
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True,
         eta_min=1e-5),
]
