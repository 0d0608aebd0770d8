"""Decode-time action->vision attention handed to temporal pruners."""

import torch

from fastdrive.vla import attach_pruner
from vla_testing import (FixedPruner, LayerMaskReference, hidden_columns, single_inputs, tiny_dir,  # noqa: F401
                         tiny_eager, tiny_model)


def test_action_attention_is_the_decode_rows_of_the_action_layer(tiny_eager, tiny_model, single_inputs):
    layer = 3
    ids = single_inputs["input_ids"]
    vis = (ids[0] == tiny_model.config.image_token_id).nonzero()[:, 0]
    pruner = FixedPruner([range(vis.numel())])
    with torch.no_grad():
        with attach_pruner(tiny_model, pruner, action_layer=layer, session_id="s") as handle:
            gen = tiny_model.generate(**single_inputs, max_new_tokens=3, do_sample=False)
            tiny_model(**single_inputs)  # the next prefill of the session receives it
        got = pruner.calls[-1]["context"].extra["action_attention"]
        # eager reference: the same two decode steps, their attention rows at that layer
        eager = tiny_eager
        out = eager(**single_inputs, use_cache=True)
        cache, rows = out.past_key_values, []
        _, deltas = eager.model.get_rope_index(ids, single_inputs["mm_token_type_ids"],
                                               single_inputs["image_grid_thw"])
        for step in range(2):
            tok = gen[:, ids.shape[1] + step:ids.shape[1] + step + 1]
            pos = torch.full((3, 1, 1), ids.shape[1] + step) + deltas
            o = eager(input_ids=tok, past_key_values=cache, position_ids=pos, use_cache=True,
                      output_attentions=True)
            cache = o.past_key_values
            rows.append(o.attentions[layer].mean(1)[0, -1, vis])
    assert got.shape == (1, vis.numel())
    assert torch.allclose(got[0], torch.stack(rows).mean(0), atol=1e-6, rtol=0)


def test_prefill_action_rows_give_the_last_rows_attention(tiny_eager, tiny_model, single_inputs):
    """``action_rows=R``: the action signal is the prefill attention of the last R rows (plan queries)."""
    layer, r = 2, 3
    ids = single_inputs["input_ids"]
    vis = (ids[0] == tiny_model.config.image_token_id).nonzero()[:, 0]
    kept = list(range(0, vis.numel(), 2))
    pruner = FixedPruner([kept])
    with torch.no_grad():
        with attach_pruner(tiny_model, pruner, action_layer=layer, action_rows=r, session_id="s") as handle:
            tiny_model(**single_inputs)
            memory = handle.memory()
        got = memory["action"]["s"]
        # eager reference: the full model with the pruned visual columns hidden from every layer
        drop = torch.ones(vis.numel(), dtype=torch.bool)
        drop[kept] = False
        hidden = hidden_columns(ids, tiny_model.config.image_token_id, [kept])
        with LayerMaskReference(tiny_eager, 0, hidden, single_inputs["attention_mask"]):
            out = tiny_eager(**single_inputs, output_attentions=True)
        ref = out.attentions[layer].mean(1)[0, -r:].mean(0)[vis]
    assert got.shape == (1, vis.numel())
    assert torch.all(got[0, drop] == 0)
    assert torch.allclose(got[0, kept], ref[kept], atol=1e-5, rtol=0)
