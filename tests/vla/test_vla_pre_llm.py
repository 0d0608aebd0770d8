"""Pre-LLM pruning == the full sequence with the pruned visual tokens masked out."""

import pytest
import torch

from fastdrive.vla import attach_pruner
from vla_testing import (
    FixedPruner,
    LayerMaskReference,
    additive_mask,
    greedy_decode,
    hidden_columns,  # noqa: F401
    kept_columns,
    single_inputs,
    tiny_dir,
    tiny_model)

ROWS = [[0, 3, 5, 7, 11, 12, 20, 23]]  # 8 of the 24 tokens of a 4x6 grid


def _full_positions(model, inputs):
    pos, _ = model.model.get_rope_index(inputs["input_ids"], inputs["mm_token_type_ids"],
                                        inputs["image_grid_thw"], attention_mask=inputs.get("attention_mask"))
    return pos


def _masked_reference(model, inputs, rows):
    """Stock model, full sequence, 4D additive mask hiding the pruned columns for every query."""
    ids = inputs["input_ids"]
    length = ids.shape[1]
    hidden = hidden_columns(ids, model.config.image_token_id, rows)
    mask = additive_mask(length, length, hidden, inputs.get("attention_mask"))
    kw = {k: v for k, v in inputs.items() if k != "attention_mask"}
    return model(**kw, attention_mask=mask, position_ids=_full_positions(model, inputs)).logits


@pytest.mark.parametrize("stage,layer", [("pre_llm", 0), ("in_llm", 1), ("in_llm", 3)])
def test_keep_everything_is_the_stock_model(tiny_model, single_inputs, stage, layer):
    n = int((single_inputs["input_ids"] == tiny_model.config.image_token_id).sum())
    with torch.no_grad():
        stock = tiny_model(**single_inputs).logits
        with attach_pruner(tiny_model, FixedPruner([range(n)], stage=stage, layer=layer,
                                                   attention_rows="last" if layer else "none")):
            ours = tiny_model(**single_inputs).logits
    assert ours.shape == stock.shape
    assert torch.allclose(ours, stock, atol=1e-6, rtol=0)


def test_pre_llm_equals_masked_full_sequence(tiny_model, single_inputs):
    ids = single_inputs["input_ids"]
    kept = kept_columns(ids, tiny_model.config.image_token_id, ROWS)[0]
    with torch.no_grad():
        ref = _masked_reference(tiny_model, single_inputs, ROWS)
        stock = tiny_model(**single_inputs).logits
        with attach_pruner(tiny_model, FixedPruner(ROWS)) as handle:
            out = tiny_model(**single_inputs).logits
    assert out.shape[1] == kept.numel() == ids.shape[1] - 16
    assert torch.equal(handle.last.plan.cols[0], kept)
    assert torch.allclose(out[0], ref[0, kept], atol=1e-5, rtol=0)
    # pruning really changes the answer, so the comparison above can fail
    assert (out[0, -1] - stock[0, -1]).abs().max() > 1e-3


def test_kept_tokens_keep_their_3d_positions(tiny_model, single_inputs):
    seen = {}

    def grab(module, args, kwargs):
        seen["pos"] = kwargs["position_ids"]

    kept = kept_columns(single_inputs["input_ids"], tiny_model.config.image_token_id, ROWS)[0]
    full = _full_positions(tiny_model, single_inputs)
    hook = tiny_model.model.language_model.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad(), attach_pruner(tiny_model, FixedPruner(ROWS)):
            tiny_model(**single_inputs)
    finally:
        hook.remove()
    assert torch.equal(seen["pos"][-3:, 0], full[:, 0, kept])


def test_renumbered_positions_would_not_match(tiny_model, single_inputs):
    """The wrong way (positions re-numbered after dropping tokens) differs from the reference."""
    ids = single_inputs["input_ids"]
    kept = kept_columns(ids, tiny_model.config.image_token_id, ROWS)[0]
    vlm = tiny_model.model
    with torch.no_grad():
        ref = _masked_reference(tiny_model, single_inputs, ROWS)
        embeds = vlm.get_input_embeddings()(ids)
        feats = torch.cat(
            vlm.get_image_features(single_inputs["pixel_values"],
                                   single_inputs["image_grid_thw"],
                                   return_dict=True).pooler_output)
        embeds = embeds.masked_scatter((ids == tiny_model.config.image_token_id)[..., None], feats)
        pruned = embeds[:, kept]
        right = tiny_model(inputs_embeds=pruned,
                           position_ids=_full_positions(tiny_model, single_inputs)[:, :, kept]).logits
        renumbered = torch.arange(kept.numel())[None, None].expand(3, 1, -1)
        wrong = tiny_model(inputs_embeds=pruned, position_ids=renumbered).logits
    assert torch.allclose(right[0], ref[0, kept], atol=1e-5, rtol=0)
    assert (wrong[0, -1] - ref[0, kept[-1]]).abs().max() > 1e-3


def test_pre_llm_decode_and_generate_match_masked_model(tiny_model, single_inputs):
    hidden = hidden_columns(single_inputs["input_ids"], tiny_model.config.image_token_id, ROWS)
    with torch.no_grad():
        with LayerMaskReference(tiny_model, 0, hidden):
            ref_tok, ref_logits = greedy_decode(tiny_model, single_inputs, 5)
            ref_gen = tiny_model.generate(**single_inputs, max_new_tokens=5, do_sample=False)
        with attach_pruner(tiny_model, FixedPruner(ROWS)) as handle:
            tok, logits = greedy_decode(tiny_model, single_inputs, 5)
            gen = tiny_model.generate(**single_inputs, max_new_tokens=5, do_sample=False)
            cache_len = handle.last.plan.cols.shape[1]
    assert torch.equal(tok, ref_tok)
    for a, b in zip(logits, ref_logits):
        assert torch.allclose(a, b, atol=1e-5, rtol=0)
    assert torch.equal(gen, ref_gen)
    assert cache_len == single_inputs["input_ids"].shape[1] - 16


def test_context_and_provenance(tiny_model, single_inputs):
    pruner = FixedPruner(ROWS)
    ids = single_inputs["input_ids"]
    vlm = tiny_model.model
    with torch.no_grad(), attach_pruner(tiny_model, pruner) as handle:
        tiny_model(**single_inputs)
        feats = vlm.get_image_features(single_inputs["pixel_values"], single_inputs["image_grid_thw"],
                                       return_dict=True).pooler_output[0]
        prompt = vlm.get_input_embeddings()(ids[:, -7:])
    call = pruner.calls[-1]
    assert torch.equal(call["tokens"][0], feats)  # the merger output, in raster order
    ctx = call["context"]
    assert list(ctx.grid_hw) == [(4, 6)]
    assert torch.equal(ctx.text_embeds, prompt) and bool(ctx.text_mask.all())
    rec = handle.last
    expected = torch.tensor([[i // 6, i % 6] for i in ROWS[0]])
    assert torch.equal(rec.kept_grid[0][0], expected)
    assert int(rec.kept_mask(0, 0).sum()) == 8 and bool(rec.kept_mask(0, 0)[1, 5])
    assert rec.stage == "pre_llm" and rec.num_visual == 24 and rec.pruner_seconds >= 0


def test_two_images_per_sample(tiny_model):
    """Several cameras in one prompt: per-image provenance, positions still exact."""
    from fastdrive.vla import random_prompt, synthetic_image_inputs

    inputs = synthetic_image_inputs(tiny_model.config, [[(4, 6), (2, 4)]], [random_prompt(4, 5)],
                                    [random_prompt(6, 6)], seed=7)
    rows = [[1, 7, 23, 24, 30, 31]]  # 3 tokens of image 0 (24 tokens), 3 of image 1 (8 tokens)
    kept = kept_columns(inputs["input_ids"], tiny_model.config.image_token_id, rows)[0]
    with torch.no_grad():
        ref = _masked_reference(tiny_model, inputs, rows)
        with attach_pruner(tiny_model, FixedPruner(rows)) as handle:
            out = tiny_model(**inputs).logits
    assert torch.allclose(out[0], ref[0, kept], atol=1e-5, rtol=0)
    rec = handle.last
    assert rec.grids == [[(4, 6), (2, 4)]]
    assert rec.kept_grid[0][0].tolist() == [[0, 1], [1, 1], [3, 5]]
    assert rec.kept_grid[0][1].tolist() == [[0, 0], [1, 2], [1, 3]]
