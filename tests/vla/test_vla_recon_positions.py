"""The pre-LLM adapter hands ReconPruner the tokens' own M-RoPE positions, the ones training uses."""

from __future__ import annotations

import torch

from fastdrive.pruning.random_pruner import RandomPruner
from fastdrive.pruning.recon_pruner import visual_mrope_positions
from fastdrive.vla import attach_pruner
from vla_testing import pair_inputs, single_inputs, tiny_dir, tiny_model  # noqa: F401


class _Spy(RandomPruner):
    def __init__(self) -> None:
        super().__init__()
        self.seen = []

    def select(self, tokens, keep, context=None):
        self.seen.append(context.extra["visual_position_ids"].clone())
        return super().select(tokens, keep, context)


def test_positions_equal_training_positions_up_to_an_offset(tiny_model, pair_inputs):
    spy = _Spy()
    with attach_pruner(tiny_model, spy, 0.5), torch.no_grad():
        tiny_model(**pair_inputs)
    pos = spy.seen[0]  # (3, B, N)
    assert pos.shape == (3, 2, 24)
    train = visual_mrope_positions((4, 6), 2)
    offset = pos[:, :, :1]  # every axis starts at the image's first position
    assert torch.equal(pos - offset, train)
    assert int(offset[0, 0]) != int(offset[0, 1])  # the two prompts differ: only the offset moves
