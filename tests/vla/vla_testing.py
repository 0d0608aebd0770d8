"""Shared helpers of the VLA adapter tests: fixture pruners and masked references.

The pruners here are test fixtures (they keep indices chosen by the test),
not the thing under test; the references are built from the stock model
with hand-made 4D masks, independently of the adapter.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import pytest
import torch

from fastdrive.pruning.base import PruningContext, Selection, TokenPruner, pad_rows
from fastdrive.vla import build_tiny_qwen25vl, load_qwen25vl, random_prompt, synthetic_image_inputs

# ----------------------------------------------------------------- fixtures
# A tiny random Qwen2.5-VL saved with save_pretrained and loaded back by path.
# (Kept here, imported by the test modules, so tests/vla needs no conftest.)

@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_qwen25vl")
    build_tiny_qwen25vl(seed=0).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_dir):
    torch.manual_seed(0)
    return load_qwen25vl(tiny_dir, dtype=torch.float32, device="cpu")


@pytest.fixture(scope="session")
def tiny_eager(tiny_dir):
    """The same checkpoint on eager attention (reference attention maps)."""
    return load_qwen25vl(tiny_dir, dtype=torch.float32, device="cpu", attn_implementation="eager")


@pytest.fixture(scope="session")
def single_inputs(tiny_model):
    """One 4x6-token image between a 5-token and a 7-token prompt."""
    return synthetic_image_inputs(tiny_model.config, [[(4, 6)]], [random_prompt(5, 1)], [random_prompt(7, 2)],
                                  seed=3)


@pytest.fixture(scope="session")
def pair_inputs(tiny_model):
    """Two different images and prompts of different lengths (sample 1 left-padded)."""
    return synthetic_image_inputs(tiny_model.config, [[(4, 6)], [(4, 6)]],
                                  [random_prompt(5, 1), random_prompt(3, 3)],
                                  [random_prompt(7, 2), random_prompt(6, 4)], seed=1)


# ---------------------------------------------------------------- helpers


class FixedPruner(TokenPruner):
    """Keeps ``rows[b]`` (indices into N) for sample b; records its context."""

    def __init__(self, rows: Sequence[Sequence[int]], stage: str = "pre_llm", layer: int = 0,
                 attention_rows: str = "none", needs_keys: bool = False,
                 extra: Optional[torch.Tensor] = None) -> None:
        super().__init__()
        self.rows = [torch.tensor(list(r), dtype=torch.long) for r in rows]  # as given (may be invalid)
        self.stage = stage
        self.layer = layer
        self.attention_rows = attention_rows
        self.needs_keys = needs_keys
        self.extra = extra
        self.calls: List[Dict] = []

    def select(self, tokens: torch.Tensor, keep, context: Optional[PruningContext] = None) -> Selection:
        self.calls.append(dict(tokens=tokens, keep=keep, context=context))
        rows = [self.rows[b % len(self.rows)] for b in range(tokens.shape[0])]
        idx, counts = pad_rows(rows, device=tokens.device)
        return Selection(indices=idx, counts=counts, extra_tokens=self.extra)


def visual_columns(input_ids: torch.Tensor, image_token_id: int) -> torch.Tensor:
    """``(B, N)`` columns of the image placeholders."""
    b = input_ids.shape[0]
    return (input_ids == image_token_id).nonzero()[:, 1].view(b, -1)


def hidden_columns(input_ids, image_token_id, rows) -> List[torch.Tensor]:
    """Per sample, the columns of the visual tokens NOT in ``rows[b]``."""
    vis = visual_columns(input_ids, image_token_id)
    out = []
    for b in range(vis.shape[0]):
        keep = torch.zeros(vis.shape[1], dtype=torch.bool)
        keep[torch.tensor(rows[b % len(rows)], dtype=torch.long)] = True
        out.append(vis[b, ~keep])
    return out


def kept_columns(input_ids, image_token_id, rows) -> List[torch.Tensor]:
    """Per sample, every column that survives pruning (text + kept visual)."""
    length = input_ids.shape[1]
    hidden = hidden_columns(input_ids, image_token_id, rows)
    out = []
    for h in hidden:
        m = torch.ones(length, dtype=torch.bool)
        m[h] = False
        out.append(m.nonzero()[:, 0])
    return out


def additive_mask(length_q: int, length_kv: int, hidden_cols: Sequence[torch.Tensor],
                  pad_mask: Optional[torch.Tensor] = None, q_offset: int = 0) -> torch.Tensor:
    """``(B, 1, q, kv)`` float additive mask: causal, padding and ``hidden_cols`` hidden."""
    bsz = len(hidden_cols)
    q = torch.arange(q_offset, q_offset + length_q)[:, None]
    k = torch.arange(length_kv)[None, :]
    allowed = (k <= q).expand(bsz, -1, -1).clone()
    for b, cols in enumerate(hidden_cols):
        allowed[b, :, cols] = False
    if pad_mask is not None:
        allowed &= pad_mask.bool()[:, None, :length_kv]
    out = torch.zeros(bsz, 1, length_q, length_kv)
    return out.masked_fill(~allowed[:, None], torch.finfo(torch.float32).min)


class LayerMaskReference:
    """Stock model with pruned columns hidden from layers ``>= K`` only.

    Forward pre-hooks on decoder layers ``K..`` replace their mask by a 4D
    additive mask that is causal, respects the 2D padding mask and hides
    ``hidden_cols[b]`` for every query (prefill and decode steps alike).
    """

    def __init__(self, model, layer: int, hidden_cols, pad_mask: Optional[torch.Tensor] = None):
        self.hidden_cols = hidden_cols
        self.pad_mask = pad_mask
        self.handles = [
            lyr.register_forward_pre_hook(self._hook, with_kwargs=True)
            for lyr in model.model.language_model.layers[layer:]
        ]

    def _hook(self, module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        q_len = hidden.shape[1]
        cache = kwargs.get("past_key_values")
        past = cache.get_seq_length(module.self_attn.layer_idx) if cache is not None else 0
        kv = past + q_len
        pad = self.pad_mask
        if pad is not None and pad.shape[1] < kv:
            pad = torch.cat([pad, pad.new_ones(pad.shape[0], kv - pad.shape[1])], dim=1)
        kwargs["attention_mask"] = additive_mask(q_len, kv, self.hidden_cols, pad, q_offset=past)
        return args, kwargs

    def remove(self):
        for h in self.handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def greedy_decode(model, inputs: dict, steps: int):
    """Prefill + ``steps`` greedy steps by hand.

    Decode positions are computed here from the full sequence (the stock
    model's own fallback mis-sizes them when a 2D mask is passed), so the
    same call drives the stock, the reference and the pruned model.

    Returns:
        tokens ``(B, steps)`` and the list of last-row logits ``(B, V)``.
    """
    ids, mask = inputs["input_ids"], inputs.get("attention_mask")
    _, deltas = model.model.get_rope_index(ids, inputs["mm_token_type_ids"], inputs["image_grid_thw"],
                                           attention_mask=mask)
    full_mask = mask if mask is not None else torch.ones_like(ids)
    out = model(**inputs, use_cache=True)
    cache = out.past_key_values
    logits = [out.logits[:, -1]]
    tok = out.logits[:, -1].argmax(-1, keepdim=True)
    toks = [tok]
    for _ in range(steps - 1):
        full_mask = torch.cat([full_mask, full_mask.new_ones(full_mask.shape[0], 1)], dim=1)
        pos = (full_mask.long().cumsum(-1)[:, -1:] - 1 + deltas).unsqueeze(0).expand(3, -1, -1)
        out = model(input_ids=tok, past_key_values=cache, position_ids=pos,
                    attention_mask=full_mask if mask is not None else None, use_cache=True)
        cache = out.past_key_values
        logits.append(out.logits[:, -1])
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        toks.append(tok)
    return torch.cat(toks, dim=1), logits


def sample_alone(inputs, b, n_patches):
    """Sample ``b`` of a padded batch as a batch of one, its padding removed (``n_patches`` patches per image)."""
    keep = inputs["attention_mask"][b].bool()
    return dict(
        input_ids=inputs["input_ids"][b:b + 1, keep], attention_mask=inputs["attention_mask"][b:b + 1, keep],
        mm_token_type_ids=inputs["mm_token_type_ids"][b:b + 1, keep],
        pixel_values=inputs["pixel_values"][b * n_patches:(b + 1) * n_patches],
        image_grid_thw=inputs["image_grid_thw"][b:b + 1],
    )
