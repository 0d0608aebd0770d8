"""DART through the adapter: the host's final norm, the post-image prompt
tokens and the padding mask reach it, and it selects as on a context built
by hand from the stock model."""

import pytest
import torch

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.vla import attach_pruner
from vla_testing import pair_inputs, sample_alone, single_inputs, tiny_dir, tiny_model  # noqa: F401

K = 2


class Recording(torch.nn.Module):
    """Wraps a pruner and keeps the context of its last call."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.stage, self.layer = inner.stage, inner.layer
        self.attention_rows, self.needs_keys = inner.attention_rows, inner.needs_keys
        self.stateful = self.adaptive = False
        self.context = None

    def select(self, tokens, keep, context=None):
        self.context = context
        return self.inner.select(tokens, keep, context)


@pytest.mark.parametrize("budget", ["exact", "authors"])
def test_adapter_selection_equals_a_hand_built_context(tiny_model, single_inputs, budget):
    ids = single_inputs["input_ids"]
    vis = (ids[0] == tiny_model.config.image_token_id).nonzero()[:, 0].unsqueeze(0)
    norm = tiny_model.model.language_model.norm
    pruner = Recording(build_pruner("dart", layer=K, budget=budget))
    with torch.no_grad():
        with attach_pruner(tiny_model, pruner, keep=0.5) as handle:
            tiny_model(**single_inputs)
        out = tiny_model(**single_inputs, output_hidden_states=True, use_cache=True)
        hidden = out.hidden_states[K]  # layer K-1's output
        keys = out.past_key_values.layers[K - 1].keys.transpose(1, 2).flatten(2)
        ctx = PruningContext(hidden_states=hidden, keys=keys, visual_positions=vis,
                             extra={"final_norm": norm})
        ref = pruner.inner.select(hidden.gather(1, vis.unsqueeze(-1).expand(-1, -1, hidden.shape[-1])),
                                  0.5, ctx)
    assert pruner.context.extra["final_norm"] is norm
    assert torch.equal(pruner.context.extra["sequence_mask"], single_inputs["attention_mask"])
    assert handle.last.selection.row(0).tolist() == ref.row(0).tolist()
    assert handle.last.num_kept.tolist() == [12]  # 24 tokens at 0.5: 4 + (12 // 8) * 8 either way


def test_left_padded_batch_selects_as_each_samplesample_alone(tiny_model, pair_inputs):
    n_patches = int(pair_inputs["image_grid_thw"][0].prod())
    pruner = build_pruner("dart", layer=K, budget="authors")
    with torch.no_grad():
        with attach_pruner(tiny_model, pruner, keep=0.5) as handle:
            tiny_model(**pair_inputs)
            batch = [handle.last.selection.row(b).tolist() for b in range(2)]
            alone = []
            for b in range(2):
                tiny_model(**sample_alone(pair_inputs, b, n_patches))
                alone.append(handle.last.selection.row(0).tolist())
    assert not bool(pair_inputs["attention_mask"].all()), "one sample must be padded"
    assert batch == alone
