"""Tables of ``bench_pruning_latency.py``: measured at the run's depth, and projected to 36 layers.

Each timed round gives a pair: an unpruned prefill and, right after it, the
pruned one, with the seconds of every decoder layer (``layers``,
``base_layers``), the pruner's own seconds (``pruner``) and the whole
prefill (``prefill``, ``base_prefill``). :func:`project_pair` turns one pair
into full-depth prefill times; the tables give medians over rounds of the
paired ratios.

On a shared CPU, whole-run slowdowns of 10% and more come and go between
runs, so single paired ratios scatter (random and grid, which do identical
LLM work at 75%, have measured 84% and 113% of the bound in one run). The
cost of a pruned decoder layer depends only on how many tokens it sees, so
the projection also gives a **pooled** estimate: the per-layer times of
every unpruned run, and of every pruned run with the same ``(K, kept)``, are
pooled (median), and each method contributes only what is its own -- the
pruner, its gathers and fixed cost, and layer ``K`` for in-LLM methods.
"""

from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Tuple

FULL_LAYERS = 36
LIN, QUAD = 5.55e9, 2.95e5  # FLOPs per token / per token^2 over 36 layers (DESIGN.md section 5)


def analytic_flops(n: int, layers: int, causal: bool = False) -> float:
    """Prefill FLOPs of ``layers`` Qwen2.5-VL-3B decoder layers over ``n`` tokens; ``causal``
    counts only the causal half of the attention scores (what SDPA's causal kernels compute)."""
    quad = 0.5 * QUAD if causal else QUAD
    return (LIN * n + quad * n * n) * layers / FULL_LAYERS


def flop_bound(n_full: int, n_kept: int, k: int, layers: int = FULL_LAYERS, causal: bool = False) -> float:
    """Analytic speed-up bound: layers before ``k`` see ``n_full`` tokens, the rest ``n_kept``."""
    return analytic_flops(n_full, layers, causal) / (
        analytic_flops(n_full, k, causal) + analytic_flops(n_kept, layers - k, causal))


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
    fixed0 = res["base_prefill"] - sum(base)
    fixed = res["prefill"] - sum(layers) - (pr if k == 0 else 0.0)
    if k == 0:
        full, first, lp = l0, 0.0, _mean(layers)
    else:
        full = _mean(layers[:k])
        first = layers[k] - pr
        lp = _mean(layers[k + 1:]) if len(layers) > k + 1 else first
    parts = {"fixed0": fixed0, "fixed": fixed, "first": first, "pruner": pr, "base_layer": l0,
             "layer_full": full, "layer_pruned": lp}
    return dict(parts, unpruned=fixed0 + depth * l0,
                pruned=compose(parts, full, lp, k, k36, depth))


def compose(parts: Dict[str, float], full: float, lp: float, k: int, k36: int,
            depth: int = FULL_LAYERS) -> float:
    """Pruned full-depth prefill from its parts, with ``full`` / ``lp`` s per full / pruned layer."""
    if k == 0:
        return parts["fixed"] + depth * lp + parts["pruner"]
    return parts["fixed"] + k36 * full + parts["first"] + (depth - k36 - 1) * lp + parts["pruner"]


def pooled_speedup(proj: List[Dict[str, float]], l0_pool: float, lp_pool: float, k: int, k36: int,
                   depth: int = FULL_LAYERS) -> Tuple[float, float]:
    """``(unpruned s, pooled speed-up)``: medians of the method's own parts, pooled layer times."""
    parts = {key: statistics.median(p[key] for p in proj) for key in ("fixed0", "fixed", "first", "pruner")}
    unpruned = parts["fixed0"] + depth * l0_pool
    return unpruned, unpruned / compose(parts, l0_pool, lp_pool, k, k36, depth)


def _med(rs: List[Dict], key: str) -> float:
    return statistics.median(r[key] for r in rs)


def _tf(flops: Optional[float]) -> str:
    return "-" if flops is None else f"{flops / 1e12:.3f}"


def print_tables(data: Dict) -> None:
    """Print the measured table and the 36-layer projection (markdown).

    ``data`` (JSON-serialisable, what ``--save-json`` writes): ``layers``,
    ``device``, ``dtype``, ``repeats``, ``n0`` (prefill tokens), ``n_vis``,
    ``methods``, ``ratios``, ``pruners`` ({method: {"k": K here (0: before
    the LLM), "k36": K at 36 layers}}), ``runs`` ({"method|ratio": [pair,
    ...]}), ``flops`` ({"method|ratio": counted FLOPs}), ``base_flops`` and
    ``vision`` (:func:`latency_parts.time_vision_tower` or None).
    """
    L, n0, n_vis = data["layers"], data["n0"], data["n_vis"]
    runs = data["runs"]
    all_runs = [r for rs in runs.values() for r in rs]
    t0, d0 = _med(all_runs, "base_prefill"), _med(all_runs, "base_decode")
    l0 = statistics.median(_mean(r["base_layers"]) for r in all_runs)
    print(f"\n## Pruning latency: Qwen2.5-VL-3B widths, {L} layers, {n_vis} visual + {n0 - n_vis} text "
          f"tokens, {data['device']}, {data['dtype']}, median of {data['repeats']}\n")
    print(f"Unpruned (median of all {len(all_runs)} paired runs): prefill {t0 * 1e3:.0f} ms, of which "
          f"{l0 * 1e3:.0f} ms per decoder layer; decode {d0 * 1e3:.1f} ms/token; TFLOPs "
          f"{_tf(data.get('base_flops'))} counted, {_tf(analytic_flops(n0, L))} formula.\n")
    print("| method | K | ratio | kept | seq | prefill ms | unpruned ms | decode ms/tok | TFLOPs counted | "
          "TFLOPs formula | bound | speed-up | of bound | decode speed-up | pruner ms | pruner share |")
    print("|" + "---|" * 16)
    for m in data["methods"]:
        k = data["pruners"][m]["k"]
        for r in data["ratios"]:
            rs = runs[run_key(m, r)]
            kept = rs[0]["kept"]
            n1 = n0 - (n_vis - kept)
            tp, tb, pr = _med(rs, "prefill"), _med(rs, "base_prefill"), _med(rs, "pruner")
            fp = analytic_flops(n0, k) + analytic_flops(n1, L - k)
            bound = analytic_flops(n0, L) / fp
            speed = statistics.median(x["base_prefill"] / x["prefill"] for x in rs)
            dspeed = statistics.median(x["base_decode"] / x["decode"] for x in rs)
            cells = [m, k if k else "pre", f"{r:.2f}", kept, n1, f"{tp * 1e3:.0f}", f"{tb * 1e3:.0f}",
                     f"{_med(rs, 'decode') * 1e3:.1f}", _tf(data.get("flops", {}).get(run_key(m, r))),
                     _tf(fp), f"{bound:.2f}x", f"{speed:.2f}x", f"{100 * speed / bound:.0f}%", f"{dspeed:.2f}x",
                     f"{pr * 1e3:.1f}", f"{100 * pr / tb:.1f}%"]
            print("| " + " | ".join(str(c) for c in cells) + " |")
    print("\nbound = analytic FLOPs unpruned / pruned at this depth; speed-up = unpruned / pruned prefill "
          "(paired runs, median of the ratios); pruner share = pruner time (select + attention/key "
          "recomputation) / unpruned prefill at this depth.")
    _print_projection(data)


def run_key(method: str, ratio: float) -> str:
    return f"{method}|{ratio:g}"


def projection_rows(data: Dict) -> Tuple[List[Dict], float, Dict[Tuple[int, int], float]]:
    """Numbers of the 36-layer projection, one dict per (method, ratio).

    Returns ``(rows, l0_pool, lp_pools)``: each row has ``method``, ``ratio``,
    ``kept``, ``k36``, ``layer_full`` / ``layer_pruned`` / ``pruner`` (s),
    ``unpruned`` (s, pooled), ``bound``, ``causal_bound``, ``paired``,
    ``pooled`` and, with a timed vision tower, ``vla_bound`` and ``vla``.
    """
    n0, n_vis, vision, runs = data["n0"], data["n_vis"], data.get("vision"), data["runs"]
    proj = {}
    for m in data["methods"]:
        k, k36 = data["pruners"][m]["k"], data["pruners"][m]["k36"]
        for r in data["ratios"]:
            proj[(m, r)] = [project_pair(x, k, k36) for x in runs[run_key(m, r)]]
    l0_pool = statistics.median(p["base_layer"] for ps in proj.values() for p in ps)
    groups: Dict[Tuple[int, int], List[float]] = {}
    for (m, r), ps in proj.items():
        key = (data["pruners"][m]["k"], runs[run_key(m, r)][0]["kept"])
        groups.setdefault(key, []).extend(p["layer_pruned"] for p in ps)
    pools = {key: statistics.median(v) for key, v in groups.items()}
    rows = []
    for (m, r), ps in proj.items():
        k, k36 = data["pruners"][m]["k"], data["pruners"][m]["k36"]
        kept = runs[run_key(m, r)][0]["kept"]
        n1 = n0 - (n_vis - kept)
        unpruned, pooled = pooled_speedup(ps, l0_pool, pools[(k, kept)], k, k36)
        row = dict(method=m, ratio=r, kept=kept, k36=k36, unpruned=unpruned, pooled=pooled,
                   layer_full=statistics.median(p["layer_full"] for p in ps),
                   layer_pruned=statistics.median(p["layer_pruned"] for p in ps),
                   pruner=statistics.median(p["pruner"] for p in ps),
                   bound=flop_bound(n0, n1, k36), causal_bound=flop_bound(n0, n1, k36, causal=True),
                   paired=statistics.median(p["unpruned"] / p["pruned"] for p in ps))
        if vision is not None:
            v = vision["projected"]
            row["vla_bound"] = (v + unpruned) / (v + unpruned / row["bound"])
            row["vla"] = (v + unpruned) / (v + unpruned / pooled)
        rows.append(row)
    return rows, l0_pool, pools


def _print_projection(data: Dict) -> None:
    vision = data.get("vision")
    rows, l0_pool, pools = projection_rows(data)
    head = ["method", "K (36L)", "ratio", "kept", "ms/layer full", "ms/layer pruned", "pruner ms",
            "pruner share", "bound", "causal bound", "speed-up (paired)", "speed-up (pooled)", "of bound",
            "of causal bound"]
    if vision is not None:
        head += ["VLA bound", "VLA speed-up (pooled)", "of VLA bound"]
    print(f"\n### Projected to the full {FULL_LAYERS}-layer LLM"
          + ("" if vision is None else f" and the 32-block vision tower ({vision['projected']:.1f} s)") + "\n")
    print(f"Pooled per-layer prefill: {l0_pool * 1e3:.0f} ms unpruned; pruned: "
          + ", ".join(f"{v * 1e3:.0f} ms (K={k or 'pre'}, {kept} kept)" for (k, kept), v in sorted(pools.items()))
          + ".\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        cells = [row["method"], row["k36"] or "pre", f"{row['ratio']:.2f}", row["kept"],
                 f"{row['layer_full'] * 1e3:.0f}", f"{row['layer_pruned'] * 1e3:.0f}", f"{row['pruner'] * 1e3:.1f}",
                 f"{100 * row['pruner'] / row['unpruned']:.1f}%", f"{row['bound']:.2f}x",
                 f"{row['causal_bound']:.2f}x", f"{row['paired']:.2f}x", f"{row['pooled']:.2f}x",
                 f"{100 * row['pooled'] / row['bound']:.0f}%", f"{100 * row['pooled'] / row['causal_bound']:.0f}%"]
        if vision is not None:
            cells += [f"{row['vla_bound']:.2f}x", f"{row['vla']:.2f}x", f"{100 * row['vla'] / row['vla_bound']:.0f}%"]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    print(f"\nPer pair: unpruned = fixed + {FULL_LAYERS} x its mean layer; pruned = fixed + K x full layers + "
          "layer K + the other pruned layers + pruner (measured layer times; fixed = prefill minus layers "
          "minus pruner); 'paired' = median of the per-pair ratios; 'pooled' = the method's own fixed cost, "
          "layer K and pruner with the per-layer times pooled over every run with the same (K, kept); "
          f"pruner share = pruner ms / pooled unpruned {FULL_LAYERS}-layer prefill; bound = analytic FLOP "
          f"ratio at {FULL_LAYERS} layers with the method's own K (dense n^2 attention, DESIGN.md); causal "
          "bound = the same with the causal half of the attention scores, what SDPA's causal kernels compute."
          + ("" if vision is None else " VLA = vision tower + LLM prefill; the tower is not pruned, so "
             "VLA bound = (V + T0) / (V + T0 / bound), VLA speed-up = (V + T0) / (V + T0 / pooled speed-up)."))


def plot_projection(data: Dict, path: str) -> None:
    """PNG: projected speed-up against the share of visual tokens kept, with the bounds.

    Left: the 36-layer LLM prefill (pooled speed-up per method and ratio; the
    dense and causal FLOP bounds of pre-LLM pruning as curves). Right: the
    whole VLA prefill, vision tower included (when it was timed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, _, _ = projection_rows(data)
    n0, n_vis, vision = data["n0"], data["n_vis"], data.get("vision")
    share = [i / 100 for i in range(2, 101)]
    kept = [max(1, round(x * n_vis)) for x in share]
    dense = [flop_bound(n0, n0 - (n_vis - k), 0) for k in kept]
    causal = [flop_bound(n0, n0 - (n_vis - k), 0, causal=True) for k in kept]
    panels = 2 if vision is not None else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.6), squeeze=False)
    ax = axes[0][0]
    ax.plot(share, dense, "k-", lw=1, label="bound, dense attention (pre-LLM)")
    ax.plot(share, causal, "k--", lw=1, label="bound, causal attention (pre-LLM)")
    cmap = plt.get_cmap("tab20")
    colours = {m: cmap(i % 20) for i, m in enumerate(data["methods"])}
    for m in data["methods"]:
        mine = [r for r in rows if r["method"] == m]
        marker = "^" if mine[0]["k36"] else "o"
        xs = [r["kept"] / n_vis for r in mine]
        ax.plot(xs, [r["pooled"] for r in mine], marker, color=colours[m], ms=7, label=m)
        if vision is not None:
            axes[0][1].plot(xs, [r["vla"] for r in mine], marker, color=colours[m], ms=7, label=m)
    ax.set_yscale("log")
    ax.set_xlabel("share of the visual tokens kept")
    ax.set_ylabel(f"prefill speed-up, {FULL_LAYERS}-layer LLM (projected)")
    ax.set_title(f"Qwen2.5-VL-3B LLM, {n_vis} visual tokens (o pre-LLM, ^ in-LLM)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    if vision is not None:
        v = vision["projected"]
        t0 = statistics.median(r["unpruned"] for r in rows)
        ax2 = axes[0][1]
        ax2.plot(share, [(v + t0) / (v + t0 / b) for b in dense], "k-", lw=1, label="bound (tower not pruned)")
        ax2.set_xlabel("share of the visual tokens kept")
        ax2.set_ylabel("prefill speed-up, vision tower + LLM")
        ax2.set_title(f"Whole VLA: tower {v:.0f} s + LLM {t0:.0f} s unpruned")
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
