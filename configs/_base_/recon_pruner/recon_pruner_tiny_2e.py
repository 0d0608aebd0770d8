"""The tiny ReconPruner recipe on a 2-epoch schedule (the ablations' length; the shipped run kept epoch 2 of 4)."""

from mmengine.config import read_base
from mmengine.optim import CosineAnnealingLR, LinearLR

with read_base():
    from .recon_pruner_tiny import *  # noqa: F401,F403

max_epochs = 2
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs, eta_min_ratio=0.01,
         convert_to_iter_based=True),
]
