"""Pre-LLM pruning: the merged inputs of the full sequence, and the pruned
kwargs handed on to ``Qwen2_5_VLModel.forward``.

The stock forward would embed ``input_ids``, run the vision tower + merger,
scatter the visual features into the image placeholders and compute 3D
M-RoPE ``position_ids`` with ``get_rope_index``. Here the same library
functions run first, on the full sequence, so that after selection the
model receives ``inputs_embeds`` and the ``position_ids`` /
``attention_mask`` / ``mm_token_type_ids`` columns of the kept tokens only.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from ._gather import KeepPlan, gather_seq
from ._in_llm import gather_hidden
from ._state import RunState


def image_embeds(vlm: nn.Module, kw: dict, grid_thw: torch.Tensor) -> torch.Tensor:
    """``(N_total, D)`` merger output of every image of the batch, in order
    (precomputed ``mm_encoder_outputs['image']`` when given)."""
    enc = (kw.get("mm_encoder_outputs") or {}).get("image")
    if enc is None:
        enc = vlm.get_image_features(kw["pixel_values"], grid_thw, return_dict=True)
    return torch.cat(list(enc.pooler_output), dim=0)


def full_inputs(vlm: nn.Module, kw: dict, run: RunState) -> Tuple[torch.Tensor, torch.Tensor]:
    """Embeddings ``(B, L, D)`` with visual features scattered in, and 3D
    position ids ``(3 or 4, B, L)`` (the caller's, else ``get_rope_index``,
    whose deltas go to ``run.rope_deltas`` for the decode steps)."""
    input_ids = kw["input_ids"]
    embeds = vlm.get_input_embeddings()(input_ids)
    feats = image_embeds(vlm, kw, run.grid_thw).to(embeds.device, embeds.dtype)
    img_mask = (input_ids == vlm.config.image_token_id).unsqueeze(-1)
    embeds = embeds.masked_scatter(img_mask, feats)
    pos = kw.get("position_ids")
    if pos is None:
        pos, deltas = vlm.get_rope_index(input_ids, kw["mm_token_type_ids"], image_grid_thw=run.grid_thw,
                                         attention_mask=run.attention_mask_2d)
        vlm.rope_deltas = deltas  # as the stock forward does; decode steps read run.rope_deltas
        run.rope_deltas = deltas
    return embeds, pos


def pruned_kwargs(kw: dict, run: RunState, embeds: torch.Tensor, pos: torch.Tensor, plan: KeepPlan,
                  extra_tokens: Optional[torch.Tensor]) -> dict:
    """Replace the full-sequence inputs of ``kw`` by the kept columns.

    Padding slots get a 0 in the 2D mask (hidden from every query); the
    pruned 2D mask is kept in ``run.prefix_mask`` for the decode steps.
    """
    input_ids = kw["input_ids"]
    base = run.attention_mask_2d
    if base is None and not plan.padded:
        mask = None
    else:
        base = torch.ones_like(input_ids) if base is None else base
        mask = gather_seq(base, plan.cols) * plan.valid.to(base.dtype)
    run.prefix_mask = mask
    run.layer0_len = int(plan.cols.shape[1])
    kw.update(input_ids=None, inputs_embeds=gather_hidden(embeds, plan, extra_tokens),
              position_ids=gather_seq(pos, plan.cols, dim=-1), attention_mask=mask,
              mm_token_type_ids=gather_seq(kw["mm_token_type_ids"], plan.cols), pixel_values=None,
              image_grid_thw=None, mm_encoder_outputs=None)
    return kw
