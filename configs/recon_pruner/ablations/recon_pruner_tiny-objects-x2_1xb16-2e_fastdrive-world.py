"""Ablation (session 8): the shipped objects recipe on two worlds' images.

The shipped ``recon_pruner_tiny-objects_1xb16-2e_fastdrive-world.py`` trains on the 3000
images of the default world's train split. Its instance coverage at 75% pruning ties with
DivPrune; it misses small objects (cones, pedestrians, barriers). This run adds the 5000
images of the planner's second training world (seed 3, other towns; see
``configs/planner/ablations/driving_vla_small-x2-objdrop_*``). The host, the recipe, the two
epochs and the validation split (seed-1 val) are unchanged.

Reproduce::

    python -m data_tools.make_world --out data/fastdrive_world_extra_seed3 --scenes 126 --seed 3 \\
        --val-fraction 0 --cameras CAM_FRONT
    python -m data_tools.build_fg --dataroot data/fastdrive_world_extra_seed3 --version v1.0-fastdrive \\
        --out data/fastdrive_world_extra_seed3_fg --segmenter box --cameras CAM_FRONT --split train
    mim train fastdrive configs/recon_pruner/ablations/recon_pruner_tiny-objects-x2_1xb16-2e_fastdrive-world.py --gpus 0
"""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

from mmengine.dataset import ConcatDataset

extra_root = "data/fastdrive_world_extra_seed3"
extra_fg_root = extra_root + "_fg"

_objects = dict(img_path=data_root, mask_path=data_root + "/fastdrive_gt/semantic")
for _loader in (train_dataloader, val_dataloader):
    _loader["dataset"].update(data_prefix=_objects, fg_classes=list(range(8, 17)))
test_dataloader = val_dataloader
_extra = dict(train_dataloader["dataset"], ann_file=extra_fg_root + "/nuscenes_fg_infos_train.json",
              cache_dir=extra_fg_root + "/recon_cache",
              data_prefix=dict(img_path=extra_root, mask_path=extra_root + "/fastdrive_gt/semantic"))
# each world's index names its own dataroot in its metainfo
train_dataloader["dataset"] = dict(type=ConcatDataset, datasets=[train_dataloader["dataset"], _extra],
                                   ignore_keys=["nuscenes_dataroot"])
train_cfg.update(val_interval=1)
default_hooks["checkpoint"].update(save_best="recon/precision@0.5", rule="greater")
