"""Smallest end-to-end training config: proves `mim train fastdrive` works.

Trains an MLP on synthetic linear-regression data for 4 epochs on CPU in a
few seconds. Usage::

    mim train fastdrive configs/toy/toy_regressor_1xb16-4e_synthetic.py --gpus 0
"""

from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *  # noqa: F401,F403

from mmengine.dataset import DefaultSampler, default_collate
from mmengine.optim import OptimWrapper
from torch.optim import Adam

from fastdrive.datasets import ToyRegressionDataset
from fastdrive.evaluation import RegressionMSE
from fastdrive.models import ToyRegressor

model = dict(type=ToyRegressor, in_dim=8, out_dim=2, hidden=32)

train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=True),
    collate_fn=dict(type=default_collate),
    dataset=dict(type=ToyRegressionDataset, size=256, seed=0),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=default_collate),
    dataset=dict(type=ToyRegressionDataset, size=64, seed=1),
)
val_evaluator = dict(type=RegressionMSE)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=4, val_interval=2)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=Adam, lr=1e-2))
