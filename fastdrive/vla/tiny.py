"""A tiny random Qwen2.5-VL for tests and CPU experiments, plus synthetic inputs.

The tiny model has the real architecture (windowed vision tower with a 2x2
merger, grouped-query attention, 3D M-RoPE) at toy widths, so that every code
path of the adapter runs in milliseconds. :func:`synthetic_image_inputs`
builds what the Qwen2.5-VL processor would produce for an image, without a
processor: flattened ``pixel_values`` patches, ``image_grid_thw``, the
``input_ids`` with ``<|vision_start|>``, image pad tokens and
``<|vision_end|>``, the attention mask and ``mm_token_type_ids``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

# Special token ids of the tiny vocabulary (the real ones are 151652..151656).
TINY_VOCAB = 512
TINY_IMAGE_TOKEN = 500
TINY_VIDEO_TOKEN = 501
TINY_VISION_START = 502
TINY_VISION_END = 503
TINY_EOS = 504


def mrope_section(head_dim: int) -> List[int]:
    """(t, h, w) split of the ``head_dim // 2`` rotary frequencies in Qwen2.5-VL's
    proportions: 128 -> [16, 24, 24], 16 -> [2, 3, 3]."""
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def tiny_qwen25vl_config(**overrides: Any) -> Qwen2_5_VLConfig:
    """A small :class:`Qwen2_5_VLConfig` (about 0.3M parameters).

    Text model: 4 layers, hidden 64, 4 heads / 2 KV heads (head dim 16, M-RoPE
    sections [2, 3, 3], derived from the head dim when widths are overridden),
    MLP 128, vocab 512. Vision tower: 2 blocks, hidden
    32, patch 4, 2x2 merge, window 16 px (2x2 merged tokens), block 1 full
    attention, output width 64.

    Args:
        **overrides: top-level keys of ``Qwen2_5_VLConfig`` or text-config
            keys (e.g. ``num_hidden_layers=2``); ``vision_config`` may be a
            dict of vision keys, merged into the defaults.
    """
    vision = dict(
        depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=4,
        spatial_merge_size=2, temporal_patch_size=2, window_size=16,
        fullatt_block_indexes=[1], tokens_per_second=2,
    )
    vision.update(overrides.pop("vision_config", {}) or {})
    text = dict(
        vocab_size=TINY_VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        rms_norm_eps=1e-6, bos_token_id=TINY_EOS, eos_token_id=TINY_EOS, pad_token_id=0,
    )
    top = dict(
        image_token_id=TINY_IMAGE_TOKEN, video_token_id=TINY_VIDEO_TOKEN,
        vision_start_token_id=TINY_VISION_START, vision_end_token_id=TINY_VISION_END,
        tie_word_embeddings=False,
    )
    for key in list(overrides):
        if key in top or key in ("attn_implementation",):
            top[key] = overrides.pop(key)
    text.update(overrides)
    if "rope_parameters" not in text:
        head_dim = text["hidden_size"] // text["num_attention_heads"]
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0,
                                   "mrope_section": mrope_section(head_dim)}
    vision["out_hidden_size"] = text["hidden_size"]  # the merger feeds the LLM
    attn = top.pop("attn_implementation", "sdpa")
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **top)
    config._attn_implementation = attn
    return config


def build_tiny_qwen25vl(seed: int = 0, **overrides: Any) -> Qwen2_5_VLForConditionalGeneration:
    """A randomly initialised tiny Qwen2.5-VL in eval mode, float32.

    Args:
        seed: torch seed used for the weights (the global RNG state is
            restored afterwards).
        **overrides: passed to :func:`tiny_qwen25vl_config`.
    """
    config = tiny_qwen25vl_config(**overrides)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.random.set_rng_state(state)
    return model.float().eval()


def _patch_dim(config: Qwen2_5_VLConfig) -> int:
    v = config.vision_config
    return v.in_channels * v.temporal_patch_size * v.patch_size * v.patch_size


def synthetic_image_inputs(
    config: Qwen2_5_VLConfig,
    grids: Sequence[Sequence[Tuple[int, int]]],
    prompt_before: Sequence[Sequence[int]],
    prompt_after: Sequence[Sequence[int]],
    seed: int = 0,
    pad_token_id: int = 0,
) -> Dict[str, torch.Tensor]:
    """Processor-free inputs for a batch of image(s) + text prompts.

    Sample ``b`` is ``prompt_before[b] + [vision_start, image_pad * n, vision_end]
    per image + prompt_after[b]``; shorter samples are left-padded (mask 0).

    Args:
        config: the model config (token ids, patch and merge sizes).
        grids: per sample, per image the merged-token grid ``(H, W)``; the
            patch grid is ``(2H, 2W)`` for merge size 2.
        prompt_before: per sample, token ids before the first image.
        prompt_after: per sample, token ids after the last image.
        seed: seed of the random pixel patches.
        pad_token_id: id used for left padding.

    Returns:
        ``input_ids (B, L)``, ``attention_mask (B, L)`` long,
        ``mm_token_type_ids (B, L)`` int (1 on image pads),
        ``pixel_values (P, C*T*p*p)`` float32 over all images in order,
        ``image_grid_thw (num_images, 3)`` long (patch grid, T=1).
    """
    m = config.vision_config.spatial_merge_size
    gen = torch.Generator().manual_seed(seed)
    rows: List[List[int]] = []
    types: List[List[int]] = []
    thw: List[List[int]] = []
    for b, sample_grids in enumerate(grids):
        ids = list(prompt_before[b])
        tt = [0] * len(ids)
        for gh, gw in sample_grids:
            n = gh * gw
            ids += [config.vision_start_token_id] + [config.image_token_id] * n + [config.vision_end_token_id]
            tt += [0] + [1] * n + [0]
            thw.append([1, gh * m, gw * m])
        ids += list(prompt_after[b])
        tt += [0] * len(prompt_after[b])
        rows.append(ids)
        types.append(tt)
    length = max(len(r) for r in rows)
    bsz = len(rows)
    input_ids = torch.full((bsz, length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((bsz, length), dtype=torch.long)
    mm_types = torch.zeros((bsz, length), dtype=torch.int32)
    for b, (ids, tt) in enumerate(zip(rows, types)):
        off = length - len(ids)
        input_ids[b, off:] = torch.tensor(ids)
        attention_mask[b, off:] = 1
        mm_types[b, off:] = torch.tensor(tt, dtype=torch.int32)
    grid_thw = torch.tensor(thw, dtype=torch.long).reshape(-1, 3)
    n_patches = int(grid_thw.prod(-1).sum())
    pixel_values = torch.randn(n_patches, _patch_dim(config), generator=gen)
    return dict(
        input_ids=input_ids, attention_mask=attention_mask, mm_token_type_ids=mm_types,
        pixel_values=pixel_values, image_grid_thw=grid_thw,
    )


def random_prompt(length: int, seed: int = 0, low: int = 1, high: Optional[int] = None) -> List[int]:
    """``length`` random ordinary token ids in ``[low, high)`` (default: below the special ids)."""
    high = high if high is not None else TINY_IMAGE_TOKEN
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (length,), generator=gen).tolist()
