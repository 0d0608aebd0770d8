"""ReconPruner for the embedded planner on the synthetic nuScenes-FG, road included (the paper's definition).

Shipped until session 7; the shipped weights now come from
``recon_pruner_tiny-objects_1xb16-2e_fastdrive-world.py`` (objects only as
foreground: docs/results.md, issue #11). Exporting this run with the command
below replaces them.

FastDriveVLA's adversarial foreground/background reconstruction (lam 0.2
SSIM + 0.8 MSE per branch, alpha 0.5) with a 2-layer reconstruction decoder
at the host's width; the frozen visual tokens are cached on the first run.

Validated every epoch; the checkpoint with the best token precision at 50%
pruning is kept (``best_*.pth``) and is the one shipped: on this host the
ranking is learned in the first epochs, while the foreground set is still
nearly empty, and can collapse later (an 8-epoch run flipped to "every token
foreground" with an inverted ranking at epoch 4: docs/results.md).

Reproduce (CPU, 2 cores; wall time in docs/results.md)::

    python -m data_tools.make_world --out data/fastdrive_world --scenes 100 --seed 1 --cameras CAM_FRONT
    python -m data_tools.build_fg --dataroot data/fastdrive_world --version v1.0-fastdrive \\
        --out data/fastdrive_world_fg --segmenter box --cameras CAM_FRONT --split all
    mim train fastdrive configs/recon_pruner/recon_pruner_tiny_1xb16-4e_fastdrive-world-fg.py --gpus 0
    python -m fastdrive.tools.export_recon \\
        configs/recon_pruner/recon_pruner_tiny_1xb16-4e_fastdrive-world-fg.py \\
        work_dirs/recon_pruner_tiny_1xb16-4e_fastdrive-world-fg/best_recon_precision@0.5_epoch_N.pth (the best epoch by validation) \\
        --out fastdrive/checkpoints/recon_pruner_tiny_fastdrive-world.pth
"""

from mmengine.config import read_base
from mmengine.optim import CosineAnnealingLR, LinearLR

with read_base():
    from .._base_.recon_pruner.recon_pruner_tiny import *  # noqa: F401,F403

max_epochs = 4
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
default_hooks["checkpoint"].update(save_best="recon/precision@0.5", rule="greater")  # noqa: F405
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]
