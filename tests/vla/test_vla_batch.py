"""Batches, uneven kept counts, recycled tokens, detach, and every registered pruner."""

import pytest
import torch

from fastdrive.pruning import build_pruner, list_pruners
from fastdrive.vla import attach_pruner
from vla_testing import (FixedPruner, LayerMaskReference, greedy_decode, hidden_columns,  # noqa: F401
                         pair_inputs, sample_alone, single_inputs, tiny_dir, tiny_model)

PAIR_ROWS = [[0, 3, 5, 7, 11, 12, 20, 23], [1, 2, 3, 9, 10, 13, 17, 18]]
UNEVEN_ROWS = [[0, 3, 5, 7, 11, 12, 20, 23], [1, 2, 3, 9, 10, 17]]
STAGES = [("pre_llm", 0), ("in_llm", 2)]


@pytest.mark.parametrize("stage,layer", STAGES)
def test_batch_of_two_equals_eachsample_alone(tiny_model, pair_inputs, stage, layer):
    n_patches = int(pair_inputs["image_grid_thw"][0].prod())
    kw = dict(stage=stage, layer=layer, attention_rows="last" if layer else "none")
    with torch.no_grad():
        with attach_pruner(tiny_model, FixedPruner(PAIR_ROWS, **kw)):
            batch = tiny_model(**pair_inputs).logits[:, -1]
            batch_gen = tiny_model.generate(**pair_inputs, max_new_tokens=4, do_sample=False)[:, -4:]
        for b in range(2):
            alone_in = sample_alone(pair_inputs, b, n_patches)
            with attach_pruner(tiny_model, FixedPruner([PAIR_ROWS[b]], **kw)):
                alone = tiny_model(**alone_in).logits[:, -1]
                alone_gen = tiny_model.generate(**alone_in, max_new_tokens=4, do_sample=False)[:, -4:]
            assert torch.allclose(batch[b], alone[0], atol=1e-5, rtol=0)
            assert torch.equal(batch_gen[b], alone_gen[0])
    assert not torch.allclose(batch[0], batch[1], atol=1e-3)


@pytest.mark.parametrize("stage,layer", STAGES)
def test_uneven_kept_counts_are_padded_and_hidden(tiny_model, pair_inputs, stage, layer):
    hidden = hidden_columns(pair_inputs["input_ids"], tiny_model.config.image_token_id, UNEVEN_ROWS)
    mask = pair_inputs["attention_mask"]
    with torch.no_grad():
        with LayerMaskReference(tiny_model, layer, hidden, pad_mask=mask):
            ref_tok, ref_logits = greedy_decode(tiny_model, pair_inputs, 4)
            ref_gen = tiny_model.generate(**pair_inputs, max_new_tokens=4, do_sample=False)
        pruner = FixedPruner(UNEVEN_ROWS,
                             stage=stage,
                             layer=layer,
                             attention_rows="text" if layer else "none")
        with attach_pruner(tiny_model, pruner) as handle:
            tok, logits = greedy_decode(tiny_model, pair_inputs, 4)
            gen = tiny_model.generate(**pair_inputs, max_new_tokens=4, do_sample=False)
    plan = handle.last.plan
    assert handle.last.num_kept.tolist() == [8, 6]
    assert int((~plan.valid[1]).sum()) == 2 and bool(plan.valid[0].all())
    assert torch.equal(tok, ref_tok) and torch.equal(gen, ref_gen)
    for a, b in zip(logits, ref_logits):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)


def test_recycled_tokens_take_slots_after_the_kept_ones(tiny_model, single_inputs):
    ids = single_inputs["input_ids"]
    extra = torch.randn(1,
                        2,
                        tiny_model.config.text_config.hidden_size,
                        generator=torch.Generator().manual_seed(5))
    rows = [[0, 3, 5, 7, 11]]
    vis = (ids[0] == tiny_model.config.image_token_id).nonzero()[:, 0]
    vlm = tiny_model.model
    with torch.no_grad():
        with attach_pruner(tiny_model, FixedPruner(rows, extra=extra * 0.02)) as handle:
            out = tiny_model(**single_inputs).logits
        # independent construction: kept tokens, then the 2 extra ones at the last kept token's position
        pos, _ = vlm.get_rope_index(ids, single_inputs["mm_token_type_ids"], single_inputs["image_grid_thw"])
        emb = vlm.get_input_embeddings()(ids)
        feats = torch.cat(
            vlm.get_image_features(single_inputs["pixel_values"],
                                   single_inputs["image_grid_thw"],
                                   return_dict=True).pooler_output)
        emb = emb.masked_scatter((ids == tiny_model.config.image_token_id)[..., None], feats)
        last = int(vis[rows[0][-1]])
        cols = [
            c for c in range(ids.shape[1]) if c not in set(vis.tolist()) or c in set(vis[rows[0]].tolist())
        ]
        at = cols.index(last) + 1
        seq = torch.cat([emb[0, cols[:at]], extra[0] * 0.02, emb[0, cols[at:]]])[None]
        pcols = cols[:at] + [last, last] + cols[at:]
        ref = tiny_model(inputs_embeds=seq, position_ids=pos[:, :, pcols]).logits
    assert out.shape[1] == len(cols) + 2 == handle.last.plan.cols.shape[1]
    assert torch.allclose(out, ref, atol=1e-5, rtol=0)


def test_detach_gives_back_the_stock_model(tiny_model, single_inputs):
    vlm = tiny_model.model
    hooks_before = (len(vlm._forward_pre_hooks),
                    [len(m._forward_pre_hooks) for m in vlm.language_model.layers])
    with torch.no_grad():
        stock = tiny_model(**single_inputs).logits
        stock_gen = tiny_model.generate(**single_inputs, max_new_tokens=4, do_sample=False)
        handle = attach_pruner(tiny_model,
                               FixedPruner([[1, 2, 3]], stage="in_llm", layer=1, attention_rows="all"))
        pruned = tiny_model(**single_inputs).logits
        handle.detach()
        after = tiny_model(**single_inputs).logits
        after_gen = tiny_model.generate(**single_inputs, max_new_tokens=4, do_sample=False)
    assert pruned.shape[1] < stock.shape[1]
    assert torch.equal(after, stock) and torch.equal(after_gen, stock_gen)
    assert (len(vlm._forward_pre_hooks), [len(m._forward_pre_hooks) for m in vlm.language_model.layers]) \
        == hooks_before
    assert not handle.attached


def _tiny_kwargs(name, cfg):
    t = cfg.text_config
    if name in ("recon", "recon_untrained"):
        return dict(hidden_size=t.hidden_size,
                    num_heads=t.num_attention_heads,
                    num_kv_heads=t.num_key_value_heads,
                    intermediate_size=t.intermediate_size,
                    mrope_section=[2, 3, 3], weights=None)
    if name == "lightvla_star":
        return dict(hidden_size=t.hidden_size, num_queries=8)
    return {}


@pytest.mark.parametrize("name", list_pruners())
def test_every_registered_pruner_runs_through_the_adapter(tiny_model, pair_inputs, name):
    torch.manual_seed(0)
    pruner = build_pruner(name, **_tiny_kwargs(name, tiny_model.config)).eval()
    with torch.no_grad(), attach_pruner(tiny_model, pruner, keep=0.5, session_id="s") as handle:
        gen = tiny_model.generate(**pair_inputs, max_new_tokens=3, do_sample=False)
        rec = handle.last
    assert gen.shape == (2, pair_inputs["input_ids"].shape[1] + 3)
    kept = rec.num_kept
    assert bool((kept >= 1).all()) and bool((kept <= 24).all())
    if not (pruner.adaptive or pruner.stateful):
        assert kept.tolist() == [12, 12]
    for b in range(2):
        assert rec.kept_grid[b][0].shape == (int(kept[b]), 2)


def test_wrapper_switches_pruners_and_detaches(tiny_dir, tiny_model, single_inputs):
    from fastdrive.vla import PrunedQwen25VL

    with torch.no_grad():
        stock = tiny_model(**single_inputs).logits
        wrapped = PrunedQwen25VL(tiny_model)
        assert torch.equal(wrapped(**single_inputs).logits, stock) and wrapped.last is None
        wrapped.set_pruner(FixedPruner([[0, 1, 2, 3]]), keep=4)
        assert wrapped(**single_inputs).logits.shape[1] == stock.shape[1] - 20
        assert wrapped.keep == 4 and wrapped.last.num_kept.tolist() == [4]
        wrapped.set_pruner(FixedPruner([range(10)], stage="in_llm", layer=1, attention_rows="last"))
        assert wrapped(**single_inputs).logits.shape[1] == stock.shape[1] - 14
        assert wrapped.detach() is tiny_model
        assert torch.equal(tiny_model(**single_inputs).logits, stock)


def test_mm_token_type_ids_are_derived_or_required(tiny_model, single_inputs):
    no_types = {k: v for k, v in single_inputs.items() if k != "mm_token_type_ids"}
    with torch.no_grad(), attach_pruner(tiny_model, FixedPruner([[0, 5, 9]])):
        with_types = tiny_model(**single_inputs).logits
        derived = tiny_model(**no_types).logits
        # generate() without them would build 1D positions for the image: refused loudly
        with pytest.raises(ValueError, match="mm_token_type_ids"):
            tiny_model.generate(**no_types, max_new_tokens=2, do_sample=False)
    assert torch.equal(with_types, derived)


def test_bad_selections_are_refused(tiny_model, single_inputs):
    with torch.no_grad():
        for rows in ([[3, 1]], [[0, 24]], [[2, 2]]):
            with attach_pruner(tiny_model, FixedPruner(rows)), pytest.raises(ValueError, match="ascending"):
                tiny_model(**single_inputs)


def test_one_pruner_per_model(tiny_model):
    with attach_pruner(tiny_model, FixedPruner([[0]])):
        with pytest.raises(RuntimeError, match="already attached"):
            attach_pruner(tiny_model, FixedPruner([[1]]))
    attach_pruner(tiny_model, FixedPruner([[1]])).detach()  # fine once detached
