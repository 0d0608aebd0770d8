"""Per-part timing for ``bench_pruning_latency.py``: decoder layers and the vision tower.

Two pieces the latency benchmark needs to project a full-depth model from a
few measured layers without folding fixed costs (embedding, M-RoPE index,
output head) into the per-layer time:

* :class:`LayerTimer` times every call of a list of modules with forward
  pre-/post-hooks (it removes them on exit and never touches the modules'
  code);
* :func:`time_vision_tower` times the Qwen2.5-VL-3B vision tower at its real
  widths, one windowed block and one full-attention block, and projects the
  32-block tower from them (pre-LLM pruning acts after the merger, so this
  cost is the same with and without pruning; it is what end-to-end latency
  adds to the LLM's prefill).
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List, Sequence

import torch
from torch import nn
from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

# Qwen2.5-VL-3B's vision tower (config.json of Qwen/Qwen2.5-VL-3B-Instruct)
VISION_3B = dict(hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                 patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                 hidden_act="silu", in_channels=3)
VISION_DEPTH, VISION_FULL_BLOCKS = 32, 4  # blocks 7, 15, 23, 31 attend over the whole image


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


class LayerTimer:
    """Wall time of every forward call of ``modules``, in call order.

    ``timer.times`` is a list of ``(module_index, seconds)``; :meth:`reset`
    clears it between runs. On a GPU each boundary synchronises, so use it
    for measurement runs, not production.
    """

    def __init__(self, modules: Sequence[nn.Module], device: str = "cpu") -> None:
        self.modules = list(modules)
        self.device = device
        self.times: List[tuple] = []
        self._start: Dict[int, float] = {}
        self._handles: List = []

    def __enter__(self) -> "LayerTimer":
        for i, mod in enumerate(self.modules):
            # prepend: start the clock before any other pre-hook (e.g. an in-LLM
            # pruner's), so a layer's time includes the work hooked onto it
            self._handles.append(mod.register_forward_pre_hook(self._pre(i), prepend=True))
            self._handles.append(mod.register_forward_hook(self._post(i)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def reset(self) -> None:
        self.times.clear()
        self._start.clear()

    def _pre(self, i: int) -> Callable:
        def hook(module, args):
            sync(self.device)
            self._start[i] = time.perf_counter()
        return hook

    def _post(self, i: int) -> Callable:
        def hook(module, args, output):
            sync(self.device)
            self.times.append((i, time.perf_counter() - self._start.pop(i)))
        return hook

    def per_module(self, first_n_calls: int) -> List[float]:
        """Seconds of each module's first call among the first ``first_n_calls``
        recorded (a prefill is the first call of every layer)."""
        out = [0.0] * len(self.modules)
        for i, sec in self.times[:first_n_calls]:
            out[i] += sec
        return out


def build_vision_tower(dtype: torch.dtype, device: str, seed: int,
                       widths: Dict = VISION_3B) -> Qwen2_5_VisionTransformerPretrainedModel:
    """Two blocks of the vision tower: block 0 windowed, block 1 full attention."""
    cfg = Qwen2_5_VLVisionConfig(depth=2, fullatt_block_indexes=[1], **widths)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    return Qwen2_5_VisionTransformerPretrainedModel(cfg).to(device=device, dtype=dtype).eval()


@torch.inference_mode()
def time_vision_tower(vision: Qwen2_5_VisionTransformerPretrainedModel, grid_hw: tuple, repeats: int,
                      device: str, depth: int = VISION_DEPTH,
                      full_blocks: int = VISION_FULL_BLOCKS) -> Dict[str, float]:
    """Median seconds of the tower on one image of ``grid_hw`` merged tokens.

    ``grid_hw``: the merged-token grid (57x57 for 3249 tokens); the tower sees
    ``4 h w`` patches. Returns ``windowed`` and ``full`` (one block each),
    ``other`` (patch embedding, rotary, window permutation, merger) and
    ``projected`` = other + (depth - full_blocks) windowed + full_blocks full.
    """
    cfg = vision.config
    merge = cfg.spatial_merge_size
    gh, gw = grid_hw[0] * merge, grid_hw[1] * merge
    patch_dim = cfg.in_channels * cfg.temporal_patch_size * cfg.patch_size ** 2
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(gh * gw, patch_dim, generator=gen).to(device=device, dtype=vision.dtype)
    grid_thw = torch.tensor([[1, gh, gw]], device=device)
    vision(pixels, grid_thw=grid_thw)  # warm-up
    rows = []
    with LayerTimer(vision.blocks, device) as timer:
        for _ in range(max(1, repeats)):
            timer.reset()
            sync(device)
            t0 = time.perf_counter()
            vision(pixels, grid_thw=grid_thw)
            sync(device)
            total = time.perf_counter() - t0
            win, full = timer.per_module(2)
            rows.append({"windowed": win, "full": full, "other": total - win - full})
    out = {k: statistics.median(r[k] for r in rows) for k in ("windowed", "full", "other")}
    out["projected"] = out["other"] + (depth - full_blocks) * out["windowed"] + full_blocks * out["full"]
    out["patches"] = float(gh * gw)
    return out
