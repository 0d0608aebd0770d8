"""Synthetic regression data for the training-plumbing smoke test."""

from __future__ import annotations

from typing import Dict

import torch
from torch.utils.data import Dataset

from ..registry import DATASETS


@DATASETS.register_module()
class ToyRegressionDataset(Dataset):
    """``y = W x + noise`` with a fixed random ``W`` (seeded).

    Each item is ``{'inputs': (in_dim,), 'targets': (out_dim,)}``.
    """

    def __init__(self, size: int = 256, in_dim: int = 8, out_dim: int = 2, seed: int = 0,
                 noise: float = 0.01) -> None:
        gen = torch.Generator().manual_seed(seed)
        weight = torch.randn(out_dim, in_dim, generator=torch.Generator().manual_seed(1234))
        self.x = torch.randn(size, in_dim, generator=gen)
        self.y = self.x @ weight.T + noise * torch.randn(size, out_dim, generator=gen)
        self.metainfo = dict(name="toy_regression")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, idx: int) -> Dict[str, torch.Tensor]:
        return {"inputs": self.x[idx], "targets": self.y[idx]}
