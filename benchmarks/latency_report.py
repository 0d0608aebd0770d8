"""Tables of ``bench_pruning_latency.py``: measured at the run's depth, and projected to 36 layers.

Each timed round gives a pair: an unpruned prefill and, right after it, the
pruned one, with the seconds of every decoder layer (``layers``,
``base_layers``), the pruner's own seconds (``pruner``) and the whole
prefill (``prefill``, ``base_prefill``). :func:`project_pair` turns one pair
into full-depth prefill times; the tables give medians over rounds of the
paired ratios.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional

FULL_LAYERS = 36
LIN, QUAD = 5.55e9, 2.95e5  # FLOPs per token / per token^2 over 36 layers (DESIGN.md section 5)


def analytic_flops(n: int, layers: int) -> float:
    """Prefill FLOPs of ``layers`` Qwen2.5-VL-3B decoder layers over ``n`` tokens."""
    return (LIN * n + QUAD * n * n) * layers / FULL_LAYERS


def flop_bound(n_full: int, n_kept: int, k: int, layers: int = FULL_LAYERS) -> float:
    """Analytic speed-up bound: layers before ``k`` see ``n_full`` tokens, the rest ``n_kept``."""
    return analytic_flops(n_full, layers) / (analytic_flops(n_full, k) + analytic_flops(n_kept, layers - k))


def _mean(xs: List[float]) -> float:
    return sum(xs) / len(xs)


def project_pair(res: Dict, k: int, k36: int, depth: int = FULL_LAYERS) -> Dict[str, float]:
    """Full-depth prefill seconds of one (unpruned, pruned) pair.

    Unpruned: its fixed cost (prefill minus the layers) + ``depth`` x its mean
    layer. Pruned before the LLM (``k == 0``): fixed cost (without the
    pruner) + ``depth`` x the mean pruned layer + the pruner. Pruned before
    layer ``k`` (in-LLM): fixed cost + ``k36`` full-length layers + layer
    ``k``'s own time (its pre-hook ran the pruner and the gathers; the pruner
    is taken out and added once) + the remaining layers at the mean of the
    layers after ``k`` + the pruner. Returns ``unpruned``, ``pruned`` (s) and
    ``layer_full``, ``layer_pruned`` (s per layer).
    """
    base, layers, pr = res["base_layers"], res["layers"], res["pruner"]
    l0 = _mean(base)
    unpruned = res["base_prefill"] - sum(base) + depth * l0
    fixed = res["prefill"] - sum(layers)
    if k == 0:
        lp = _mean(layers)
        pruned = fixed - pr + depth * lp + pr
        return {"unpruned": unpruned, "pruned": pruned, "layer_full": l0, "layer_pruned": lp}
    full = _mean(layers[:k])
    first = layers[k] - pr
    lp = _mean(layers[k + 1:]) if len(layers) > k + 1 else first
    pruned = fixed + k36 * full + first + (depth - k36 - 1) * lp + pr
    return {"unpruned": unpruned, "pruned": pruned, "layer_full": full, "layer_pruned": lp}


def _med(rs: List[Dict], key: str) -> float:
    return statistics.median(r[key] for r in rs)


def _tf(flops: Optional[float]) -> str:
    return "-" if flops is None else f"{flops / 1e12:.3f}"


def print_tables(args, methods, ratios, pruners, runs, extra, base_flops, n0, n_vis,
                 vision: Optional[Dict] = None) -> None:
    """Print the measured table and the 36-layer projection (markdown)."""
    L = args.layers
    all_runs = [r for rs in runs.values() for r in rs]
    t0, d0 = _med(all_runs, "base_prefill"), _med(all_runs, "base_decode")
    l0 = statistics.median(_mean(r["base_layers"]) for r in all_runs)
    print(f"\n## Pruning latency: Qwen2.5-VL-3B widths, {L} layers, {n_vis} visual + {n0 - n_vis} text "
          f"tokens, {args.device}, {args.dtype}, median of {args.repeats}\n")
    print(f"Unpruned (median of all {len(all_runs)} paired runs): prefill {t0 * 1e3:.0f} ms, of which "
          f"{l0 * 1e3:.0f} ms per decoder layer; decode {d0 * 1e3:.1f} ms/token; TFLOPs "
          f"{_tf(base_flops)} counted, {_tf(analytic_flops(n0, L))} formula.\n")
    print("| method | K | ratio | kept | seq | prefill ms | unpruned ms | decode ms/tok | TFLOPs counted | "
          "TFLOPs formula | bound | speed-up | of bound | decode speed-up | pruner ms | pruner share |")
    print("|" + "---|" * 16)
    proj_rows = []
    for m in methods:
        pruner, k36 = pruners[m]
        k = int(pruner.layer) if pruner.stage == "in_llm" else 0
        for r in ratios:
            rs = runs[(m, r)]
            kept = rs[0]["kept"]
            n1 = n0 - (n_vis - kept)
            tp, tb, pr = _med(rs, "prefill"), _med(rs, "base_prefill"), _med(rs, "pruner")
            fp = analytic_flops(n0, k) + analytic_flops(n1, L - k)
            bound = analytic_flops(n0, L) / fp
            speed = statistics.median(x["base_prefill"] / x["prefill"] for x in rs)
            dspeed = statistics.median(x["base_decode"] / x["decode"] for x in rs)
            cells = [m, k if k else "pre", f"{r:.2f}", kept, n1, f"{tp * 1e3:.0f}", f"{tb * 1e3:.0f}",
                     f"{_med(rs, 'decode') * 1e3:.1f}", _tf(extra.get((m, r))), _tf(fp), f"{bound:.2f}x",
                     f"{speed:.2f}x", f"{100 * speed / bound:.0f}%", f"{dspeed:.2f}x", f"{pr * 1e3:.1f}",
                     f"{100 * pr / tb:.1f}%"]
            print("| " + " | ".join(str(c) for c in cells) + " |")
            proj_rows.append(_projection_row(m, r, kept, n0, n1, k, k36, rs, vision))
    print("\nbound = analytic FLOPs unpruned / pruned at this depth; speed-up = unpruned / pruned prefill "
          "(paired runs, median of the ratios); pruner share = pruner time (select + attention/key "
          "recomputation) / unpruned prefill at this depth.")
    _print_projection(proj_rows, vision)


def _projection_row(m, r, kept, n0, n1, k, k36, rs, vision) -> List[str]:
    proj = [project_pair(x, k, k36) for x in rs]
    b36 = flop_bound(n0, n1, k36)
    s36 = statistics.median(p["unpruned"] / p["pruned"] for p in proj)
    T0 = statistics.median(p["unpruned"] for p in proj)
    pr = _med(rs, "pruner")
    cells = [m, k36 if k36 else "pre", f"{r:.2f}", kept,
             f"{statistics.median(p['layer_full'] for p in proj) * 1e3:.0f}",
             f"{statistics.median(p['layer_pruned'] for p in proj) * 1e3:.0f}", f"{pr * 1e3:.1f}",
             f"{100 * pr / T0:.1f}%", f"{b36:.2f}x", f"{s36:.2f}x", f"{100 * s36 / b36:.0f}%"]
    if vision is not None:
        v = vision["projected"]
        vb = (v + T0) / (v + T0 / b36)
        vs = statistics.median((v + p["unpruned"]) / (v + p["pruned"]) for p in proj)
        cells += [f"{vb:.2f}x", f"{vs:.2f}x", f"{100 * vs / vb:.0f}%"]
    return cells


def _print_projection(rows: List[List[str]], vision: Optional[Dict]) -> None:
    head = ["method", "K (36L)", "ratio", "kept", "ms/layer full", "ms/layer pruned", "pruner ms",
            "pruner share", "LLM bound", "LLM speed-up", "of bound"]
    if vision is not None:
        head += ["VLA bound", "VLA speed-up", "of bound"]
    print(f"\n### Projected to the full {FULL_LAYERS}-layer LLM"
          + ("" if vision is None else f" and the 32-block vision tower ({vision['projected']:.1f} s)") + "\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for cells in rows:
        print("| " + " | ".join(str(c) for c in cells) + " |")
    print(f"\nPer pair: unpruned = fixed + {FULL_LAYERS} x its mean layer; pruned = fixed + K x full layers + "
          f"pruned layers + pruner (measured layer times, fixed = prefill minus layers); pruner share = "
          f"pruner ms / projected unpruned prefill; LLM bound = analytic FLOP ratio at {FULL_LAYERS} layers "
          "with the method's own K."
          + ("" if vision is None else " VLA = vision tower + LLM prefill; the tower is not pruned, so "
             "VLA bound = (V + T0) / (V + T0 / LLM bound)."))
