"""ReconPruner for a real Qwen2.5-VL-3B / Impromptu-VLA host on a real nuScenes-FG (FastDriveVLA's recipe).

Host: the checkpoint directory ``host_path`` (``save_pretrained`` layout),
frozen, bfloat16; input 1596x1596 = 57x57 = 3249 visual tokens of width 2048
(DESIGN.md section 4). Pruner layer initialised from the host's LLM layer 0;
6 reconstruction decoder layers at the host's width; lam 0.2, alpha 0.5;
AdamW lr 2e-5, cosine, 10 epochs. No feature cache (241k images x 3249
tokens x 2048 do not fit on a disk worth having); the vision tower runs in
every step.

Needs GPUs (it cannot run on a CPU machine); a test builds it with a tiny
checkpoint substituted and runs one iteration. Launch::

    python -m data_tools.build_fg --dataroot data/nuscenes --version v1.0-trainval --out data/nuscenes_fg \\
        --segmenter sam --sam-checkpoint sam_vit_h_4b8939.pth --device cuda
    # one node, 2 GPUs:
    mim train fastdrive configs/recon_pruner/recon_pruner_qwen25vl-3b_2xb4-10e_nuscenes-fg.py \\
        --gpus 2 --launcher pytorch --cfg-options model.host.path=checkpoints/Impromptu-VLA-3B
    # slurm, 2 nodes x 8 GPUs (scale lr with the total batch if you change it):
    mim train fastdrive configs/recon_pruner/recon_pruner_qwen25vl-3b_2xb4-10e_nuscenes-fg.py \\
        --launcher slurm --gpus 16 --gpus-per-node 8 --partition <partition> \\
        --cfg-options model.host.path=checkpoints/Impromptu-VLA-3B
"""

from mmengine.config import read_base
from mmengine.optim import AmpOptimWrapper, CosineAnnealingLR, LinearLR
from torch.optim import AdamW

with read_base():
    from .._base_.recon_pruner.recon_pruner_tiny import *  # noqa: F401,F403

data_root = "data/nuscenes"
fg_root = "data/nuscenes_fg"
image_size = (1596, 1596)
host_path = "checkpoints/Qwen2.5-VL-3B-Instruct"

model = dict(model, host=dict(kind="qwen25vl", path=host_path, image_size=image_size, dtype="bfloat16"),
             decoder_depth=6, init_layer=0, recon_unit=None,
             ste="identity", init_score_bias=None)  # the paper's straight-through estimator and init
_dataset = dict(type=ReconFGDataset, image_size=image_size, cache_dir=None,  # noqa: F405
                data_prefix=dict(img_path=data_root, mask_path=fg_root))
train_dataloader = dict(train_dataloader, batch_size=4, num_workers=4, persistent_workers=True,  # noqa: F405
                        dataset=dict(_dataset, ann_file=fg_root + "/nuscenes_fg_infos_train.json"))
val_dataloader = dict(val_dataloader, batch_size=4, num_workers=4,  # noqa: F405
                      dataset=dict(_dataset, ann_file=fg_root + "/nuscenes_fg_infos_val.json", test_mode=True))
test_dataloader = val_dataloader
custom_hooks = [dict(type=ReconVisHook, interval=500, ratio=0.5)]  # noqa: F405

optim_wrapper = dict(type=AmpOptimWrapper, dtype="bfloat16", optimizer=dict(type=AdamW, lr=2e-5, weight_decay=0.01),
                     clip_grad=dict(max_norm=1.0))
max_epochs = 10
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.01, by_epoch=False, begin=0, end=500),
    dict(type=CosineAnnealingLR, by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs, eta_min_ratio=0.0,
         convert_to_iter_based=True),
]
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend="nccl"))
