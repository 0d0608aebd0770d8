"""Index bookkeeping for dropping visual tokens from a Qwen2.5-VL sequence.

Coordinates: ``L`` is the full (unpruned) sequence length, ``N`` the visual
tokens per sample, ``L'`` the pruned length. A :class:`KeepPlan` lists, per
sample, the full-sequence column each pruned slot comes from. Slots are in
ascending column order, so causality and the original M-RoPE positions of
every kept token are preserved.

When samples keep different numbers of visual tokens (adaptive methods), the
shorter rows get *padding slots* right after their last kept visual token:
they duplicate that token's column (its embedding, position and mask row)
and are marked invalid, so the adapter hides them from every query through
the attention mask. Recycled tokens (``Selection.extra_tokens``) take slots
at the same place, are valid, and have their hidden state replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch


@dataclass
class ImageLayout:
    """Where the visual tokens are.

    Attributes:
        visual_positions: ``(B, N)`` long, column of each visual token.
        grids: per sample, per image the merged grid ``(H, W)``.
        text_rows: ``(B, T)`` long, columns of the prompt text (valid tokens
            after the last visual token, ``<|vision_end|>`` excluded),
            right-padded by repeating the last valid token's column.
        text_mask: ``(B, T)`` bool, False on those repeats.
        last_rows: ``(B, 1)`` long, column of the last valid token.
    """

    visual_positions: torch.Tensor
    grids: List[List[Tuple[int, int]]]
    text_rows: torch.Tensor
    text_mask: torch.Tensor
    last_rows: torch.Tensor


@dataclass
class KeepPlan:
    """Which full-sequence columns survive, per sample.

    Attributes:
        cols: ``(B, L')`` long, source column of each slot (non-decreasing).
        valid: ``(B, L')`` bool, False on padding slots.
        extra_slots: ``(B, R)`` long slot indices taking recycled tokens, or None.
        full_len: ``L``.
    """

    cols: torch.Tensor
    valid: torch.Tensor
    extra_slots: Optional[torch.Tensor]
    full_len: int

    @property
    def padded(self) -> bool:
        return not bool(self.valid.all())


def image_layout(
    input_ids: torch.Tensor,
    image_token_id: int,
    image_grid_thw: torch.Tensor,
    merge_size: int,
    attention_mask: Optional[torch.Tensor] = None,
    structural_ids: Sequence[int] = (),
) -> ImageLayout:
    """Locate the image placeholder tokens and assign images to samples.

    Args:
        input_ids: ``(B, L)``.
        image_token_id: id of ``<|image_pad|>``.
        image_grid_thw: ``(num_images, 3)`` patch grids of all images in
            batch order (what the processor returns).
        merge_size: spatial merge size (2 for Qwen2.5-VL).
        attention_mask: ``(B, L)`` 1 = real token, or None.
        structural_ids: ids never counted as prompt text
            (``<|vision_start|>``, ``<|vision_end|>``).

    Raises:
        ValueError: if samples hold different numbers of visual tokens (the
            pruner's ``(B, N, D)`` input needs one N), or the grids do not
            account for the placeholders.
    """
    is_img = input_ids == image_token_id
    counts = is_img.sum(-1)
    if int(counts.min()) != int(counts.max()):
        raise ValueError(
            f"every sample of a batch must hold the same number of visual tokens, got {counts.tolist()}; "
            "run such samples in separate calls")
    bsz, length = input_ids.shape
    n = int(counts[0])
    visual_positions = is_img.nonzero()[:, 1].view(bsz, n)
    grids: List[List[Tuple[int, int]]] = []
    thw = image_grid_thw.tolist() if image_grid_thw is not None else []
    it = iter(thw)
    for b in range(bsz):
        left, sample = n, []
        while left > 0:
            try:
                t, h, w = next(it)
            except StopIteration as exc:
                raise ValueError("image_grid_thw has fewer images than the image placeholders need") from exc
            gh, gw = h // merge_size, w // merge_size
            sample.append((gh, gw))
            left -= t * gh * gw
        if left != 0:
            raise ValueError("image placeholders do not match image_grid_thw")
        grids.append(sample)
    valid = attention_mask.bool() if attention_mask is not None else torch.ones_like(is_img)
    cols = torch.arange(length, device=input_ids.device)
    last_vis = visual_positions[:, -1:] if n else torch.full((bsz, 1), -1, device=input_ids.device)
    text_sel = valid & (cols[None] > last_vis) & ~is_img
    for sid in structural_ids:
        text_sel &= input_ids != sid
    t_counts = text_sel.sum(-1)
    t_max = max(int(t_counts.max()), 1)
    last_rows = torch.where(valid, cols[None], torch.zeros_like(cols[None])).max(-1, keepdim=True).values
    text_rows = last_rows.expand(bsz, t_max).clone()
    text_mask = torch.zeros(bsz, t_max, dtype=torch.bool, device=input_ids.device)
    for b in range(bsz):
        idx = text_sel[b].nonzero()[:, 0]
        text_rows[b, : idx.numel()] = idx
        text_mask[b, : idx.numel()] = True
    return ImageLayout(visual_positions, grids, text_rows, text_mask, last_rows)


def build_plan(
    full_len: int,
    visual_positions: torch.Tensor,
    kept: Sequence[torch.Tensor],
    num_extra: int = 0,
) -> KeepPlan:
    """Columns that survive when sample ``b`` keeps visual tokens ``kept[b]``.

    Args:
        full_len: ``L``.
        visual_positions: ``(B, N)`` columns of the visual tokens.
        kept: B index tensors into ``[0, N)``, ascending.
        num_extra: recycled tokens appended after the kept ones (same R for
            every sample).
    """
    bsz, n = visual_positions.shape
    device = visual_positions.device
    k_max = max(int(k.numel()) for k in kept) if kept else 0
    is_vis = torch.zeros(bsz, full_len, dtype=torch.bool, device=device)
    if n:
        is_vis.scatter_(1, visual_positions, True)
    rows, valids, extras = [], [], []
    for b in range(bsz):
        k = kept[b].to(device).long()
        if k.numel() and (int(k.min()) < 0 or int(k.max()) >= n or bool((k[1:] <= k[:-1]).any())):
            raise ValueError(f"sample {b}: kept indices must be unique, ascending and in [0, {n}), "
                             f"got {k.tolist()[:16]}...")
        text_cols = (~is_vis[b]).nonzero()[:, 0]
        kept_cols = visual_positions[b, k]
        base = torch.cat([text_cols, kept_cols]).sort().values
        n_fill = num_extra + (k_max - k.numel())
        if n_fill:
            if kept_cols.numel():
                anchor_col = kept_cols[-1]
            else:  # nothing kept: anchor on the token before the visual span
                anchor_col = torch.clamp(visual_positions[b, 0] - 1, min=0) if n else base[-1]
            anchor = int((base <= anchor_col).nonzero()[-1, 0])
            fill = base[anchor].repeat(n_fill)
            cols = torch.cat([base[: anchor + 1], fill, base[anchor + 1:]])
            valid = torch.ones_like(cols, dtype=torch.bool)
            valid[anchor + 1 + num_extra: anchor + 1 + n_fill] = False
            extras.append(torch.arange(anchor + 1, anchor + 1 + num_extra, device=device))
        else:
            cols = base
            valid = torch.ones_like(cols, dtype=torch.bool)
            extras.append(torch.zeros(0, dtype=torch.long, device=device))
        rows.append(cols)
        valids.append(valid)
    cols = torch.stack(rows)
    valid = torch.stack(valids)
    extra_slots = torch.stack(extras) if num_extra else None
    return KeepPlan(cols, valid, extra_slots, full_len)


def gather_seq(x: torch.Tensor, cols: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Per-sample gather along the sequence dim.

    Args:
        x: ``(B, L, ...)`` with ``dim=1``, or ``(k, B, L)`` position ids with
            ``dim=-1`` (batch on dim -2).
        cols: ``(B, L')`` long.
    """
    if dim in (-1, x.dim() - 1) and x.dim() == 3 and dim != 1:
        idx = cols.unsqueeze(0).expand(x.shape[0], -1, -1)
        return x.gather(-1, idx)
    if x.dim() == 2:
        return x.gather(1, cols)
    idx = cols.view(*cols.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
    return x.gather(1, idx)


def mask_allows(mask: torch.Tensor) -> torch.Tensor:
    """Boolean 'may attend' view of a bool or additive float 4D mask."""
    if mask.dtype == torch.bool:
        return mask
    return mask > torch.finfo(mask.dtype).min / 2


def apply_allowed(mask_like: Optional[torch.Tensor], allowed: torch.Tensor) -> torch.Tensor:
    """Return ``allowed`` in the dtype convention of ``mask_like`` (bool if None)."""
    if mask_like is None or mask_like.dtype == torch.bool:
        return allowed
    out = torch.zeros(allowed.shape, dtype=mask_like.dtype, device=allowed.device)
    return out.masked_fill(~allowed, torch.finfo(mask_like.dtype).min)


def slice_square_mask(mask: Optional[torch.Tensor], plan: KeepPlan) -> Optional[torch.Tensor]:
    """The prefill mask ``(B, 1, L, L)`` restricted to the kept slots.

    Returns None (SDPA's causal fast path) when there is no mask and no
    padding slot; otherwise a 4D mask over slots that also hides padding.
    """
    cols, valid = plan.cols, plan.valid
    bsz, lp = cols.shape
    if mask is None and not plan.padded:
        return None
    slot = torch.arange(lp, device=cols.device)
    allowed = (slot[None, :] <= slot[:, None]).unsqueeze(0).expand(bsz, -1, -1)
    if mask is not None:
        m = mask_allows(mask).expand(bsz, -1, -1, -1)[:, 0]
        m = m.gather(1, cols.unsqueeze(-1).expand(-1, -1, m.shape[-1]))
        m = m.gather(2, cols.unsqueeze(1).expand(-1, lp, -1))
        allowed = allowed & m
    # padding slots are hidden from every query; a padding row still sees
    # its anchor and everything before it, so no row is fully masked
    allowed = allowed & valid[:, None, :]
    return apply_allowed(mask, allowed.unsqueeze(1))


def slice_decode_mask(mask: Optional[torch.Tensor], plan: KeepPlan, kv_full: int,
                      q_len: int) -> Optional[torch.Tensor]:
    """A decode-step mask ``(B, 1, q, kv_full)`` restricted to the kept prefix.

    The key axis becomes ``plan.cols`` followed by every column after the
    prefill (``[L, kv_full)``), matching a KV cache that holds the pruned
    prefill plus all decoded tokens.
    """
    cols, valid = plan.cols, plan.valid
    bsz = cols.shape[0]
    if mask is None and not plan.padded:
        return None
    device = cols.device
    tail = torch.arange(plan.full_len, kv_full, device=device)
    key_cols = torch.cat([cols, tail[None].expand(bsz, -1)], dim=1)
    key_valid = torch.cat([valid, torch.ones(bsz, tail.numel(), dtype=torch.bool, device=device)], dim=1)
    q_cols = torch.arange(kv_full - q_len, kv_full, device=device)
    allowed = (key_cols[:, None, :] <= q_cols[None, :, None]) & key_valid[:, None, :]
    if mask is not None:
        m = mask_allows(mask).expand(bsz, -1, -1, -1)[:, 0]
        m = m.gather(2, key_cols.unsqueeze(1).expand(-1, m.shape[1], -1))
        allowed = allowed & m
    return apply_allowed(mask, allowed.unsqueeze(1))
