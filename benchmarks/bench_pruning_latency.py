"""Prefill / decode latency and FLOPs of every pruner on Qwen2.5-VL-3B, projected to full depth.

The LLM has the real Qwen2.5-VL-3B widths (hidden 2048, 16 heads, 2 KV heads,
head dim 128, SwiGLU MLP 11008, M-RoPE sections [16, 24, 24], vocab 151936,
tied embeddings) with random weights and ``--layers`` decoder layers (CPU:
few layers, the cost per layer is what matters; on a GPU use 36).
``--tokens`` merged visual embeddings (57x57 = 3249 by default, random,
width 2048) enter through ``mm_encoder_outputs``, the library's own
precomputed-features path, with ``image_grid_thw`` giving the grid, after a
``--prompt-tokens`` driving prompt split around the image.

The vision tower is timed on its own (``latency_parts.time_vision_tower``:
real 3B widths, one windowed and one full-attention block on the ``4 x
tokens`` patches, projected to its 32 blocks): every method here prunes
after the merger, so the tower costs the same with or without pruning, and
end-to-end (vision + LLM) speed-ups are reported beside the LLM-only ones.

Per (method, ratio): the pruned prefill (``logits_to_keep=1`` as in
``generate``) and ``--decode-steps`` greedy decode steps, timed with the
whole model (not a kernel), each right after an unpruned run in the same
process (paired, so both see the same machine load). Every decoder layer is
timed with hooks (``latency_parts.LayerTimer``), so the 36-layer projection
uses measured per-layer times and keeps the fixed costs (embedding, M-RoPE
index, output head, the adapter's gathers) out of the per-layer figure.
Speed-ups are medians of the per-round paired ratios over ``--repeats``
interleaved rounds. FLOPs come from ``torch.utils.flop_counter`` (one
untimed prefill per configuration, which doubles as its warm-up;
``--no-flop-counter`` skips it) and from the analytic formula
``5.55e9 n + 2.95e5 n^2`` per 36 layers (DESIGN.md section 5). In-LLM
methods act before layer ``min(K, layers - 1)`` here and at their own ``K``
in the 36-layer projection. Tables: ``latency_report.py``.

Run from the repository root::

    python benchmarks/bench_pruning_latency.py            # random + fastv, ~5 min on 2 cores
    python benchmarks/bench_pruning_latency.py --layers 2 --methods all --ratios 0.75 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.modeling_outputs import BaseModelOutputWithPooling

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_parts import LayerTimer, build_vision_tower, sync, time_vision_tower  # noqa: E402
from latency_report import plot_projection, print_tables, run_key  # noqa: E402

from fastdrive.pruning import build_pruner, keep_from_ratio, list_pruners  # noqa: E402
from fastdrive.vla import attach_pruner  # noqa: E402
from fastdrive.vla.pruner_sizing import host_pruner_kwargs  # noqa: E402
from fastdrive.vla.tiny import mrope_section  # noqa: E402

# Qwen2.5-VL-3B's LLM; TINY keeps the same structure at toy widths (the test suite's smoke run)
LLM_3B = dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_attention_heads=16,
              num_key_value_heads=2)
LLM_TINY = dict(vocab_size=160000, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                num_key_value_heads=2)
VISION_TINY = dict(hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                   spatial_merge_size=2, temporal_patch_size=2, window_size=112, hidden_act="silu",
                   in_channels=3)


def build_model(layers: int, dtype: torch.dtype, device: str, seed: int,
                widths: Dict = LLM_3B) -> Qwen2_5_VLForConditionalGeneration:
    """The LLM with ``layers`` decoder layers (head dim = hidden / heads; 128 for 3B)."""
    text = dict(widths, num_hidden_layers=layers, max_position_embeddings=128000, rms_norm_eps=1e-6,
                tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                 "mrope_section": mrope_section(widths["hidden_size"] // widths["num_attention_heads"])})
    vision = dict(depth=1, hidden_size=32, intermediate_size=32, num_heads=1,
                  out_hidden_size=widths["hidden_size"], fullatt_block_indexes=[0])  # never run: fed precomputed
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    return model.to(device=device, dtype=dtype).eval()


def decoder_layers(model) -> List[torch.nn.Module]:
    return list(model.model.language_model.layers)


def build_inputs(model, n_tokens: int, prompt_tokens: int, device: str, seed: int) -> Dict:
    cfg = model.config
    h = int(math.isqrt(n_tokens))
    w = math.ceil(n_tokens / h)
    if h * w != n_tokens:
        print(f"note: {n_tokens} tokens is not a grid; using {h}x{w} = {h * w}")
    gen = torch.Generator().manual_seed(seed)
    before = prompt_tokens // 4
    after = prompt_tokens - before
    ids = (torch.randint(10, 150000, (before,), generator=gen).tolist()
           + [cfg.vision_start_token_id] + [cfg.image_token_id] * (h * w) + [cfg.vision_end_token_id]
           + torch.randint(10, 150000, (after,), generator=gen).tolist())
    input_ids = torch.tensor([ids], device=device)
    mm = (input_ids == cfg.image_token_id).int()
    feats = torch.randn(h * w, cfg.text_config.hidden_size, generator=gen).to(device, model.dtype)
    return dict(input_ids=input_ids, mm_token_type_ids=mm,
                image_grid_thw=torch.tensor([[1, 2 * h, 2 * w]], device=device),
                mm_encoder_outputs={"image": BaseModelOutputWithPooling(pooler_output=(feats,))})


@torch.inference_mode()
def run_once(model, inputs: Dict, decode_steps: int, device: str,
             timer: Optional[LayerTimer] = None) -> Dict:
    """One prefill + greedy decode: seconds of each, and (with ``timer``
    around the decoder layers) ``layers``, the prefill's seconds per layer."""
    kw = dict(inputs)
    kw["mm_encoder_outputs"] = dict(inputs["mm_encoder_outputs"])
    if timer is not None:
        timer.reset()
    sync(device)
    t0 = time.perf_counter()
    out = model(**kw, use_cache=True, logits_to_keep=1)
    sync(device)
    prefill = time.perf_counter() - t0
    layers = timer.per_module(len(timer.modules)) if timer is not None else []
    cache, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
    steps = []
    for _ in range(decode_steps):
        sync(device)
        t0 = time.perf_counter()
        out = model(input_ids=tok, past_key_values=cache, use_cache=True, logits_to_keep=1)
        sync(device)
        steps.append(time.perf_counter() - t0)
        cache, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
    return {"prefill": prefill, "layers": layers,
            "decode": statistics.median(steps) if steps else float("nan")}


def cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """QK^T + AV FLOPs of SDPA, ``4 b h s_q s_k d`` (as torch counts its GPU kernels).

    torch 2.14's ``FlopCounterMode`` has no formula for the CPU kernel
    ``_scaled_dot_product_flash_attention_for_cpu`` and would count 0.
    """
    b, h, s_q, d = query_shape
    return 4 * b * h * s_q * key_shape[-2] * d


@torch.inference_mode()
def count_flops(model, inputs: Dict) -> float:
    """FLOPs of one prefill, counted by ``FlopCounterMode`` (an untimed pass)."""
    kw = dict(inputs)
    kw["mm_encoder_outputs"] = dict(inputs["mm_encoder_outputs"])
    mapping = {}
    if hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu] = cpu_sdpa_flop
    with FlopCounterMode(display=False, custom_mapping=mapping) as fc:
        model(**kw, use_cache=True, logits_to_keep=1)
    return float(fc.get_total_flops())


def make_pruner(name: str, layers: int, model):
    """The pruner sized to ``model``'s LLM; in-LLM ones clamped to act before
    layer <= layers-1. Returns it and its default ``K`` (0 for pre-LLM)."""
    kwargs = host_pruner_kwargs(name, model.config)
    pruner = build_pruner(name, **kwargs)
    default_k = int(getattr(pruner, "layer", 0)) if pruner.stage == "in_llm" else 0
    if pruner.stage == "in_llm" and default_k > layers - 1:
        pruner = build_pruner(name, layer=max(1, layers - 1), **kwargs)
    return pruner.to(device=model.device, dtype=model.dtype).eval(), default_k


def warm_state(handle, pruner, n: int, device: str) -> None:
    """Temporal pruners prune only once their window is full: fill it."""
    window = int(getattr(pruner, "window", 0))
    if window:
        hist = [torch.rand(n, device=device) for _ in range(window - 1)]
        handle.set_state([{"history": hist}], session_id=handle.session_id)
        handle.set_action_attention(torch.rand(1, n, device=device), session_id=handle.session_id)


def save_plot(data: Dict, path: Optional[str]) -> None:
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        plot_projection(data, path)
        print(f"# wrote {path}")


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=2, help="decoder layers (36 = full Qwen2.5-VL-3B)")
    ap.add_argument("--tokens", type=int, default=3249, help="visual tokens (57x57 = 3249, the paper's input)")
    ap.add_argument("--prompt-tokens", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--methods", nargs="+", default=["random", "fastv"],
                    help="pruner names, or 'all' for every registered one")
    ap.add_argument("--ratios", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75])
    ap.add_argument("--repeats", type=int, default=1, help="interleaved rounds (median of paired ratios)")
    ap.add_argument("--decode-steps", type=int, default=3)
    ap.add_argument("--no-flop-counter", action="store_true")
    ap.add_argument("--no-vision", action="store_true", help="skip timing the vision tower (LLM-only tables)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="toy widths, for the test suite's smoke run")
    ap.add_argument("--save-json", metavar="FILE", help="also write every timing to FILE (for --from-json)")
    ap.add_argument("--from-json", metavar="FILE", help="print the tables of a saved run; measure nothing")
    ap.add_argument("--out-png", metavar="FILE", help="also plot the projected speed-ups against tokens kept")
    args = ap.parse_args(argv)
    if args.from_json:
        try:
            with open(args.from_json) as f:
                data = json.load(f)
            print_tables(data)
        except (OSError, ValueError, KeyError) as err:
            ap.error(f"cannot read {args.from_json}: {err}")
        save_plot(data, args.out_png)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = list_pruners() if args.methods == ["all"] else args.methods
    unknown = sorted(set(methods) - set(list_pruners()))
    if unknown:
        ap.error(f"unknown methods {unknown}; registered: {list_pruners()}")
    if args.layers < 1 or args.repeats < 1 or args.tokens < 4:
        ap.error("--layers and --repeats must be >= 1, --tokens >= 4")
    dtype = getattr(torch, args.dtype)
    t_start = time.perf_counter()
    model = build_model(args.layers, dtype, args.device, args.seed, LLM_TINY if args.tiny else LLM_3B)
    inputs = build_inputs(model, args.tokens, args.prompt_tokens, args.device, args.seed)
    n_vis = int((inputs["input_ids"] == model.config.image_token_id).sum())
    n0 = int(inputs["input_ids"].shape[1])
    ratios = [r for r in args.ratios if r > 0]
    pruners = {m: make_pruner(m, args.layers, model) for m in methods}
    print(f"# model built in {time.perf_counter() - t_start:.1f}s: {args.layers} layers, {n_vis} visual + "
          f"{n0 - n_vis} text tokens, {args.device}/{args.dtype}, {torch.get_num_threads()} threads", flush=True)
    vision = None
    if not args.no_vision:
        grid = tuple(int(x) // 2 for x in inputs["image_grid_thw"][0, 1:].tolist())
        tower = build_vision_tower(dtype, args.device, args.seed, VISION_TINY) if args.tiny else \
            build_vision_tower(dtype, args.device, args.seed)
        vision = time_vision_tower(tower, grid, args.repeats, args.device)
        del tower
        print(f"# vision tower ({int(vision['patches'])} patches): windowed block {vision['windowed'] * 1e3:.0f} ms, "
              f"full-attention block {vision['full'] * 1e3:.0f} ms, other {vision['other'] * 1e3:.0f} ms, "
              f"32 blocks projected {vision['projected'] * 1e3:.0f} ms", flush=True)
    count = not args.no_flop_counter
    runs: Dict = {(m, r): [] for m in methods for r in ratios}
    extra: Dict = {}
    with LayerTimer(decoder_layers(model), args.device) as timer:
        run_once(model, inputs, 1, args.device, timer)  # warm-up
        base_flops = count_flops(model, inputs) if count else None
        for rep in range(args.repeats):
            for m in methods:
                pruner, _ = pruners[m]
                for r in ratios:
                    if rep == 0 and count:  # untimed pass, doubles as this configuration's warm-up
                        with attach_pruner(model, pruner, keep=keep_from_ratio(r), session_id="bench") as h:
                            warm_state(h, pruner, n_vis, args.device)
                            extra[(m, r)] = count_flops(model, inputs)
                    base = run_once(model, inputs, args.decode_steps, args.device, timer)  # same load
                    with attach_pruner(model, pruner, keep=keep_from_ratio(r), session_id="bench") as h:
                        warm_state(h, pruner, n_vis, args.device)
                        res = run_once(model, inputs, args.decode_steps, args.device, timer)
                        res.update(pruner=h.last.pruner_seconds, kept=int(h.last.num_kept[0]),
                                   base_prefill=base["prefill"], base_decode=base["decode"],
                                   base_layers=base["layers"])
                    runs[(m, r)].append(res)
                    print(f"#  round {rep} {m:>13s} p={r:.2f}: prefill {res['prefill'] * 1e3:8.1f} ms "
                          f"(unpruned {base['prefill'] * 1e3:8.1f} ms), kept {res['kept']}", flush=True)
    data = dict(layers=args.layers, device=args.device, dtype=args.dtype, repeats=args.repeats, n0=n0, n_vis=n_vis,
                methods=methods, ratios=ratios, base_flops=base_flops, vision=vision,
                pruners={m: {"k": int(p.layer) if p.stage == "in_llm" else 0, "k36": k36}
                         for m, (p, k36) in pruners.items()},
                runs={run_key(m, r): rs for (m, r), rs in runs.items()},
                flops={run_key(m, r): f for (m, r), f in extra.items()})
    print_tables(data)
    if args.save_json:
        os.makedirs(os.path.dirname(os.path.abspath(args.save_json)), exist_ok=True)
        with open(args.save_json, "w") as f:
            json.dump(data, f, indent=1)
        print(f"# wrote {args.save_json}")
    save_plot(data, args.out_png)
    print(f"\n# total wall time {time.perf_counter() - t_start:.0f}s")


if __name__ == "__main__":
    main()
