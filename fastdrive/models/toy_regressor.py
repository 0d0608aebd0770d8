"""A tiny mmengine model used to prove the training plumbing end to end.

It learns a fixed random linear map with an MLP; ``mim train`` smoke tests
and the resume test use it until the real models (planner, ReconPruner)
exist, and it stays as the cheapest sanity check of the launcher.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from torch import nn

from ..registry import MODELS


@MODELS.register_module()
class ToyRegressor(BaseModel):
    """MLP regressor ``(B, in_dim) -> (B, out_dim)`` trained with MSE.

    Args:
        in_dim: input width.
        out_dim: output width.
        hidden: hidden width.
    """

    def __init__(self, in_dim: int = 8, out_dim: int = 2, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(
        self,
        inputs: torch.Tensor,
        targets: Optional[torch.Tensor] = None,
        mode: str = "tensor",
    ) -> Union[Dict[str, torch.Tensor], List[Dict[str, torch.Tensor]], torch.Tensor]:
        """Run the model.

        Args:
            inputs: ``(B, in_dim)``.
            targets: ``(B, out_dim)`` (needed for 'loss' and 'predict').
            mode: 'loss' -> ``{'loss': mse}``; 'predict' -> list of dicts
                with ``pred`` and ``target``; 'tensor' -> ``(B, out_dim)``.
        """
        pred = self.net(inputs)
        if mode == "loss":
            return {"loss": nn.functional.mse_loss(pred, targets)}
        if mode == "predict":
            return [dict(pred=p, target=t) for p, t in zip(pred, targets)]
        return pred
