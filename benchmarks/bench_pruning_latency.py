"""Prefill / decode latency and FLOPs of every pruner on the Qwen2.5-VL-3B LLM.

The LLM has the real Qwen2.5-VL-3B widths (hidden 2048, 16 heads, 2 KV heads,
head dim 128, SwiGLU MLP 11008, M-RoPE sections [16, 24, 24], vocab 151936,
tied embeddings) with random weights and ``--layers`` decoder layers (CPU:
few layers; the cost per layer is what matters; on a GPU use 36). The
vision tower is skipped: ``--tokens`` merged visual embeddings (57x57 = 3249
by default, random, width 2048) enter through ``mm_encoder_outputs``, the
library's own precomputed-features path, with ``image_grid_thw`` giving the
grid, after a ``--prompt-tokens`` driving prompt split around the image.
Post-merger pruning does not reduce the vision tower, so it is not timed.

Per (method, ratio): the pruned prefill (``logits_to_keep=1`` as in
``generate``) and ``--decode-steps`` greedy decode steps, timed with the
whole model (not a kernel), each right after an unpruned run in the same
process (paired, so both see the same machine load); speed-ups are medians
of the paired ratios over ``--repeats`` interleaved rounds. FLOPs come from
``torch.utils.flop_counter.FlopCounterMode`` (one untimed prefill per
configuration, which doubles as its warm-up; ``--no-flop-counter`` skips
it) and from the analytic formula
``5.55e9 n + 2.95e5 n^2`` per 36 layers (DESIGN.md section 5), scaled to
the layer count. In-LLM methods act before layer ``min(K, layers - 1)``
(``K`` their default); the last two columns give, for the full 36-layer
model with the method's own ``K``, the FLOP bound and the pruner's share of
an unpruned prefill extrapolated from the measured cost per layer.

Run from the repository root::

    python benchmarks/bench_pruning_latency.py            # random + fastv, ~4 min on 2 cores
    python benchmarks/bench_pruning_latency.py --layers 2 --tokens 3249 --methods all --repeats 1
"""

from __future__ import annotations

import argparse
import math
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

from fastdrive.pruning import build_pruner, keep_from_ratio, list_pruners  # noqa: E402
from fastdrive.vla import attach_pruner  # noqa: E402

FULL_LAYERS = 36
LIN, QUAD = 5.55e9, 2.95e5  # FLOPs per token / per token^2 over 36 layers


def analytic_flops(n: int, layers: int) -> float:
    return (LIN * n + QUAD * n * n) * layers / FULL_LAYERS


def build_model(layers: int, dtype: torch.dtype, device: str,
                seed: int) -> Qwen2_5_VLForConditionalGeneration:
    text = dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=layers,
                num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000,
                rms_norm_eps=1e-6, tie_word_embeddings=True,
                rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]})
    vision = dict(depth=1, hidden_size=64, intermediate_size=64, num_heads=1, out_hidden_size=2048,
                  fullatt_block_indexes=[0])  # never run: features are fed precomputed
    cfg = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(cfg)
    return model.to(device=device, dtype=dtype).eval()


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


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.inference_mode()
def run_once(model, inputs: Dict, decode_steps: int, device: str) -> Dict[str, float]:
    """One prefill + greedy decode; seconds of each."""
    kw = dict(inputs)
    kw["mm_encoder_outputs"] = dict(inputs["mm_encoder_outputs"])
    sync(device)
    t0 = time.perf_counter()
    out = model(**kw, use_cache=True, logits_to_keep=1)
    sync(device)
    prefill = time.perf_counter() - t0
    cache, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
    steps = []
    for _ in range(decode_steps):
        sync(device)
        t0 = time.perf_counter()
        out = model(input_ids=tok, past_key_values=cache, use_cache=True, logits_to_keep=1)
        sync(device)
        steps.append(time.perf_counter() - t0)
        cache, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
    return {"prefill": prefill, "decode": statistics.median(steps) if steps else float("nan")}


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


def make_pruner(name: str, layers: int):
    """The pruner at 3B widths; in-LLM ones clamped to act before layer <= layers-1."""
    pruner = build_pruner(name)
    default_k = int(getattr(pruner, "layer", 0))
    if pruner.stage == "in_llm" and default_k > layers - 1:
        pruner = build_pruner(name, layer=max(1, layers - 1))
    return pruner.eval(), default_k


def warm_state(handle, pruner, n: int, device: str) -> None:
    """Temporal pruners prune only once their window is full: fill it."""
    window = int(getattr(pruner, "window", 0))
    if window:
        hist = [torch.rand(1, n, device=device) for _ in range(window - 1)]
        handle.set_state({"history": hist}, session_id=handle.session_id)
        handle.set_action_attention(torch.rand(1, n, device=device), session_id=handle.session_id)


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=2, help="decoder layers (36 = full Qwen2.5-VL-3B)")
    ap.add_argument("--tokens",
                    type=int,
                    default=3249,
                    help="visual tokens (57x57 = 3249, the paper's input)")
    ap.add_argument("--prompt-tokens", type=int, default=60)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--methods", nargs="+", default=["random", "fastv"],
                    help="pruner names, or 'all' for every registered one (about 13 min on 2 CPU cores)")
    ap.add_argument("--ratios", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75])
    ap.add_argument("--repeats", type=int, default=1, help="interleaved rounds (median)")
    ap.add_argument("--decode-steps", type=int, default=3)
    ap.add_argument("--no-flop-counter", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = list_pruners() if args.methods == ["all"] else args.methods
    unknown = sorted(set(methods) - set(list_pruners()))
    if unknown:
        ap.error(f"unknown methods {unknown}; registered: {list_pruners()}")
    dtype = getattr(torch, args.dtype)
    t_start = time.perf_counter()
    model = build_model(args.layers, dtype, args.device, args.seed)
    inputs = build_inputs(model, args.tokens, args.prompt_tokens, args.device, args.seed)
    n_vis = int((inputs["input_ids"] == model.config.image_token_id).sum())
    n0 = int(inputs["input_ids"].shape[1])
    ratios = [r for r in args.ratios if r > 0]
    pruners = {m: make_pruner(m, args.layers) for m in methods}
    print(f"# model built in {time.perf_counter() - t_start:.1f}s: {args.layers} layers, {n_vis} visual + "
          f"{n0 - n_vis} text tokens, {args.device}/{args.dtype}, {torch.get_num_threads()} threads")
    run_once(model, inputs, 1, args.device)  # warm-up
    count = not args.no_flop_counter
    base_flops = count_flops(model, inputs) if count else None
    runs: Dict = {(m, r): [] for m in methods for r in ratios}
    extra: Dict = {}
    for rep in range(args.repeats):
        for m in methods:
            pruner, _ = pruners[m]
            for r in ratios:
                with attach_pruner(model, pruner, keep=keep_from_ratio(r), session_id="bench") as h:
                    if rep == 0 and count:  # untimed pass, doubles as this configuration's warm-up
                        warm_state(h, pruner, n_vis, args.device)
                        extra[(m, r)] = count_flops(model, inputs)
                    h.detach()  # the unpruned run right before the pruned one (same load)
                    base = run_once(model, inputs, args.decode_steps, args.device)
                with attach_pruner(model, pruner, keep=keep_from_ratio(r), session_id="bench") as h:
                    warm_state(h, pruner, n_vis, args.device)
                    res = run_once(model, inputs, args.decode_steps, args.device)
                    res.update(pruner=h.last.pruner_seconds, kept=int(h.last.num_kept[0]),
                               base_prefill=base["prefill"], base_decode=base["decode"])
                runs[(m, r)].append(res)
                print(f"#  round {rep} {m:>13s} p={r:.2f}: prefill {res['prefill'] * 1e3:8.1f} ms "
                      f"(unpruned {base['prefill'] * 1e3:8.1f} ms), kept {res['kept']}", flush=True)
    print_table(args, methods, ratios, pruners, runs, extra, base_flops, n0, n_vis)
    print(f"\n# total wall time {time.perf_counter() - t_start:.0f}s")


def med(rs: List[Dict], key: str) -> float:
    return statistics.median(r[key] for r in rs)


def fmt_tflops(flops: Optional[float]) -> str:
    return "-" if flops is None else f"{flops / 1e12:.3f}"


def print_table(args, methods, ratios, pruners, runs, extra, base_flops, n0, n_vis) -> None:
    L = args.layers
    all_runs = [r for rs in runs.values() for r in rs]
    t0, d0 = med(all_runs, "base_prefill"), med(all_runs, "base_decode")
    f0 = analytic_flops(n0, L)
    print(f"\n## Pruning latency: Qwen2.5-VL-3B widths, {L} layers, {n_vis} visual + {n0 - n_vis} text "
          f"tokens, {args.device}, {args.dtype}, median of {args.repeats}\n")
    print(f"Unpruned (median of all {len(all_runs)} paired runs): prefill {t0 * 1e3:.0f} ms "
          f"({t0 * 1e3 / L:.0f} ms/layer), decode {d0 * 1e3:.1f} ms/token, TFLOPs {fmt_tflops(base_flops)} "
          f"counted, {fmt_tflops(f0)} formula.\n")
    print("| method | K | ratio | kept | seq | prefill ms | unpruned ms | decode ms/tok | TFLOPs counted | "
          "TFLOPs formula | bound | speed-up | of bound | decode speed-up | pruner ms | pruner share | "
          "36L bound | 36L pruner share | 36L speed-up (proj.) | 36L of bound |")
    print("|" + "---|" * 20)
    for m in methods:
        pruner, k_def = pruners[m]
        k = int(pruner.layer) if pruner.stage == "in_llm" else 0
        for r in ratios:
            rs = runs[(m, r)]
            tp, dp, pr = med(rs, "prefill"), med(rs, "decode"), med(rs, "pruner")
            tb = med(rs, "base_prefill")
            speed = statistics.median(x["base_prefill"] / x["prefill"] for x in rs)  # paired
            dspeed = statistics.median(x["base_decode"] / x["decode"] for x in rs)
            n1 = n0 - (n_vis - rs[0]["kept"])
            fp = analytic_flops(n0, k) + analytic_flops(n1, L - k)
            bound = f0 / fp
            # the full 36-layer model with the method's default K: FLOP bound, and the
            # pruner's share of an unpruned prefill extrapolated from the measured ms/layer
            l0 = t0 / L
            k36 = k_def if pruner.stage == "in_llm" else 0
            f36 = analytic_flops(n0, k36) + analytic_flops(n1, FULL_LAYERS - k36)
            b36 = analytic_flops(n0, FULL_LAYERS) / f36
            # projected 36-layer speed-up: the measured per-layer times (full before K, pruned
            # after) times the full depth, plus the pruner's own (depth-independent) time
            lp = (tp - pr - k * l0) / max(L - k, 1)
            s36 = FULL_LAYERS * l0 / (k36 * l0 + (FULL_LAYERS - k36) * lp + pr)
            stage = k if pruner.stage == "in_llm" else "pre"
            cells = [m, stage, f"{r:.2f}", rs[0]["kept"], n1, f"{tp * 1e3:.0f}", f"{tb * 1e3:.0f}",
                     f"{dp * 1e3:.1f}", fmt_tflops(extra.get((m, r))), fmt_tflops(fp), f"{bound:.2f}x",
                     f"{speed:.2f}x", f"{100 * speed / bound:.0f}%", f"{dspeed:.2f}x", f"{pr * 1e3:.1f}",
                     f"{100 * pr / tb:.1f}%", f"{b36:.2f}x", f"{100 * pr / (FULL_LAYERS * l0):.1f}%",
                     f"{s36:.2f}x", f"{100 * s36 / b36:.0f}%"]
            print("| " + " | ".join(str(c) for c in cells) + " |")
    print("\nbound = analytic FLOPs unpruned / pruned at this depth; speed-up = unpruned / pruned prefill "
          "(paired runs); 'of bound' = speed-up / bound; pruner "
          "share = pruner time (select + attention/key recomputation) / unpruned prefill at this depth; "
          "36L: the full model with the method's default K (bound from the formula; share = pruner ms / "
          "(36 x measured ms/layer)); 36L speed-up (proj.) = 36 x unpruned ms/layer / (K36 x unpruned "
          "ms/layer + (36 - K36) x measured pruned ms/layer + pruner ms).")


if __name__ == "__main__":
    main()
