"""In-LLM pruning before layer K == full model with the pruned tokens masked
out for layers >= K only (prefill and decode), with every layer on SDPA."""

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from fastdrive.vla import attach_pruner
from vla_testing import (FixedPruner, LayerMaskReference, greedy_decode, hidden_columns,  # noqa: F401
                         kept_columns, single_inputs, tiny_dir, tiny_eager, tiny_model)

ROWS = [[1, 2, 6, 9, 10, 15, 17, 22, 23]]
K = 2


class CountSDPA(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.scaled_dot_product_attention:
            self.calls += 1
        return func(*args, **(kwargs or {}))


def _pruner(rows="last", keys=True):
    return FixedPruner(ROWS, stage="in_llm", layer=K, attention_rows=rows, needs_keys=keys)


def test_prefill_and_decode_match_per_layer_masked_reference(tiny_model, single_inputs):
    ids = single_inputs["input_ids"]
    kept = kept_columns(ids, tiny_model.config.image_token_id, ROWS)[0]
    hidden = hidden_columns(ids, tiny_model.config.image_token_id, ROWS)
    with torch.no_grad():
        stock = tiny_model(**single_inputs).logits
        with LayerMaskReference(tiny_model, K, hidden):
            ref = tiny_model(**single_inputs).logits
            ref_tok, ref_logits = greedy_decode(tiny_model, single_inputs, 5)
            ref_gen = tiny_model.generate(**single_inputs, max_new_tokens=5, do_sample=False)
        with attach_pruner(tiny_model, _pruner()) as handle:
            out = tiny_model(**single_inputs).logits
            tok, logits = greedy_decode(tiny_model, single_inputs, 5)
            gen = tiny_model.generate(**single_inputs, max_new_tokens=5, do_sample=False)
    assert torch.equal(handle.last.plan.cols[0], kept)
    assert torch.allclose(out[0], ref[0, kept], atol=1e-5, rtol=0)
    assert (out[0, -1] - stock[0, -1]).abs().max() > 1e-3
    assert torch.equal(tok, ref_tok)
    for a, b in zip(logits, ref_logits):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)
    assert torch.equal(gen, ref_gen)


def test_cache_is_shorter_from_layer_k_and_decode_grows_it(tiny_model, single_inputs):
    length = single_inputs["input_ids"].shape[1]
    n_pruned = 24 - len(ROWS[0])
    with torch.no_grad(), attach_pruner(tiny_model, _pruner()):
        out = tiny_model(**single_inputs, use_cache=True)
        cache = out.past_key_values
        before = [cache.get_seq_length(i) for i in range(4)]
        step = tiny_model(input_ids=out.logits[:, -1:].argmax(-1), past_key_values=cache, use_cache=True)
        after = [step.past_key_values.get_seq_length(i) for i in range(4)]
    assert before == [length] * K + [length - n_pruned] * (4 - K)
    assert after == [n + 1 for n in before]


@pytest.mark.parametrize("rows", ["last", "text", "all"])
def test_attention_rows_equal_eager_attention_of_layer_k_minus_1(tiny_eager, tiny_model, single_inputs, rows):
    pruner = _pruner(rows=rows)
    with torch.no_grad():
        with attach_pruner(tiny_model, pruner):
            tiny_model(**single_inputs)
        att = tiny_eager(**single_inputs, output_attentions=True).attentions[K - 1].mean(1)  # (B, L, L)
        cache = tiny_model(**single_inputs, use_cache=True).past_key_values
    ctx = pruner.calls[-1]["context"]
    length = single_inputs["input_ids"].shape[1]
    expected_rows = {"last": torch.tensor([length - 1]), "text": torch.arange(length - 7, length),
                     "all": torch.arange(length)}[rows]
    assert ctx.attention.shape == (1, expected_rows.numel(), length)
    assert torch.allclose(ctx.attention[0], att[0, expected_rows], atol=1e-6, rtol=0)
    # keys: the post-rotary keys layer K-1 stored in its (full) cache
    keys = cache.layers[K - 1].keys  # (B, KV, L, hd)
    assert torch.allclose(ctx.keys, keys.transpose(1, 2).reshape(1, length, -1), atol=1e-6, rtol=0)
    assert torch.equal(ctx.visual_positions[0], (single_inputs["input_ids"][0] == 500).nonzero()[:, 0])


def test_every_layer_stays_on_sdpa(tiny_model, single_inputs):
    with torch.no_grad():
        with CountSDPA() as stock:
            tiny_model(**single_inputs)
        with attach_pruner(tiny_model, _pruner(rows="all")), CountSDPA() as pruned:
            tiny_model(**single_inputs)
    assert tiny_model.config._attn_implementation == "sdpa"
    assert pruned.calls == stock.calls > 0


def test_in_llm_needs_layer_k_at_least_1_for_attention(tiny_model):
    with pytest.raises(ValueError, match="layer >= 1"):
        attach_pruner(tiny_model, FixedPruner(ROWS, stage="in_llm", layer=0, attention_rows="last"))
    with pytest.raises(ValueError, match="outside"):
        attach_pruner(tiny_model, FixedPruner(ROWS, stage="in_llm", layer=9))


def test_attention_without_cache_is_recomputed_identically(tiny_model, single_inputs):
    with_cache, without = _pruner(rows="text"), _pruner(rows="text")
    with torch.no_grad():
        with attach_pruner(tiny_model, with_cache):
            tiny_model(**single_inputs, use_cache=True)
        with attach_pruner(tiny_model, without):
            tiny_model(**single_inputs, use_cache=False)
    a, b = with_cache.calls[-1]["context"], without.calls[-1]["context"]
    assert torch.allclose(a.attention, b.attention, atol=1e-6, rtol=0)
    assert torch.allclose(a.keys, b.keys, atol=1e-6, rtol=0)
