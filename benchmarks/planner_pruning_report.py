"""Tables and plot of the open-loop pruning sweep, drawn from its JSON (``bench_planner_pruning --out-json``).

Everything here reads the data of :func:`fastdrive.evaluation.sweep_report.sweep_to_json`,
so ``--from-json`` redraws the tables and the plot without planning again.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

MAIN_HEADER = ("row", "ratio", "L2_avg (m)", "L2 vs unpruned [95% CI]", "critical L2 vs unpruned [95% CI]",
               "collision %", "collision Δpp [95% CI]", "intersection Δpp", "tokens", "obj coverage",
               "fg precision", "fg recall", "road recall", "latency ms (x)", "pruner ms")
REFERENCE_NAMES = {"constant_velocity": "constant velocity", "camera_swap": "camera swap (other scene's frame)",
                   "blind": "grey frame (out of distribution)"}
SUBSET_ORDER = ("all", "critical", "critical_moving", "pedestrian", "lead", "red_light", "start", "turn", "cruise")
MARKERS = "osD^vP*Xph<>"


def _f(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def fmt_interval(entry: Optional[Mapping[str, Any]], stat: str) -> str:
    """``1.31x [1.18, 1.45]*`` / ``+0.42 [+0.10, +0.77]*``; ``*`` where the interval excludes no change."""
    if not entry or entry.get("point") is None:
        return "-"
    p, lo, hi = entry["point"], entry.get("low"), entry.get("high")
    star = "*" if entry.get("excludes_null") else ""
    if stat == "ratio":
        return f"{p:.2f}x [{_f(lo, 2)}, {_f(hi, 2)}]{star}"
    sign = (lambda v: "-" if v is None else f"{v:+.2f}")  # noqa: E731
    return f"{p:+.2f} [{sign(lo)}, {sign(hi)}]{star}"


def _name(row: Mapping[str, Any]) -> str:
    if row["method"] == "none":
        return "unpruned"
    return REFERENCE_NAMES.get(row["method"], row["method"])


def main_rows(data: Mapping[str, Any]) -> List[List[str]]:
    """One line per row: unpruned, references, then every method x ratio (oracles included)."""
    tokens = data.get("token_metrics", {})
    out = []
    for row in data["rows"]:
        if row.get("error"):
            out.append([_name(row), f"{row['ratio']:.2f}", f"error: {row['error']}"] + [""] * (len(MAIN_HEADER) - 3))
            continue
        subs = row["subsets"]
        all_, crit = subs.get("all", {}), subs.get("critical", {})
        m = all_.get("metrics", {})
        vs, vs_c = all_.get("vs_unpruned", {}), crit.get("vs_unpruned", {})
        tm = tokens.get(f"{row['method']}@{row['ratio']:g}", {})
        is_ref = row["method"] in REFERENCE_NAMES
        lat = row.get("latency_ms")
        lat_rel = (lat / row["unpruned_latency_ms"]) if lat and row.get("unpruned_latency_ms") else None
        out.append([
            _name(row), "-" if is_ref else f"{row['ratio']:.2f}", _f(m.get("L2_avg")),
            fmt_interval(vs.get("L2_avg"), "ratio"), fmt_interval(vs_c.get("L2_avg"), "ratio"), _f(m.get("collision_avg"), 2),
            fmt_interval(vs.get("collision_avg"), "diff"), fmt_interval(vs.get("intersection_avg"), "diff"),
            _f(row.get("tokens_kept"), 1), _f(tm.get("instance_coverage"), 2), _f(tm.get("fg_precision"), 2),
            _f(tm.get("fg_recall"), 2), _f(tm.get("road_recall"), 2),
            "-" if lat is None or row["method"] == "constant_velocity" else f"{lat:.1f} ({_f(lat_rel, 2)}x)",
            _f(row.get("pruner_ms"), 2) if not is_ref else "-",
        ])
    return out


def subset_rows(data: Mapping[str, Any], ratio: Optional[float] = None) -> List[List[str]]:
    """L2 avg per event subset (``n`` in the header) for unpruned, references and methods at ``ratio``."""
    header = ["row"] + [f"{s} (n={data['subsets'].get(s, 0)})" for s in SUBSET_ORDER if data["subsets"].get(s)]
    out = [header]
    for row in data["rows"]:
        if row.get("error") or (row["method"] not in REFERENCE_NAMES and row["method"] != "none"
                                and ratio is not None and abs(row["ratio"] - ratio) > 1e-9):
            continue
        name = _name(row) + ("" if row["method"] in REFERENCE_NAMES or row["method"] == "none"
                             else f" @{row['ratio']:.2f}")
        cells = []
        for s in SUBSET_ORDER:
            if not data["subsets"].get(s):
                continue
            entry = row["subsets"].get(s, {})
            val = entry.get("metrics", {}).get("L2_avg")
            rel = entry.get("vs_unpruned", {}).get("L2_avg")
            cells.append(_f(val) + (f" ({rel['point']:.2f}x{'*' if rel.get('excludes_null') else ''})"
                                    if rel and rel.get("point") is not None else ""))
        out.append([name] + cells)
    return out


def diagnostics_lines(data: Mapping[str, Any]) -> List[str]:
    """Can this table tell pruners apart? Camera swap, constant velocity and the oracle range, with intervals."""
    out = []
    rows = {r["method"]: r for r in data["rows"] if r["ratio"] == 0.0 and not r.get("error")}
    for method in ("camera_swap", "blind", "constant_velocity"):
        row = rows.get(method)
        if row is None or "all" not in row["subsets"]:
            continue
        vs = row["subsets"]["all"].get("vs_unpruned", {})
        crit = row["subsets"].get("critical", {}).get("vs_unpruned", {})
        out.append(f"{REFERENCE_NAMES[method]}: L2 avg {fmt_interval(vs.get('L2_avg'), 'ratio')} of unpruned "
                   f"(critical {fmt_interval(crit.get('L2_avg'), 'ratio')}), collision {fmt_interval(vs.get('collision_avg'), 'diff')} pp")
    for ratio, entry in sorted(data.get("oracle_range", {}).items(), key=lambda kv: float(kv[0])):
        for subset in ("all", "critical"):
            e = entry.get(subset)
            if not e:
                continue
            pos = e.get("random_position")
            out.append(f"oracle range at {float(ratio):.0%} pruning ({subset}): oracle_bg / {e['best']} = "
                       f"{fmt_interval(e['bg_vs_best'], 'ratio')}" + ("" if pos is None else
                                                             f"; random at {pos:.2f} of the range"))
    return out


def format_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) if i < len(r) else 0 for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [header, *rows])


def format_markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_plot(data: Mapping[str, Any], path: str, title: str) -> None:
    """L2 avg (all samples and critical) against the share of tokens kept, with the reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.4))
    rows = [r for r in data["rows"] if not r.get("error")]
    base = next(r for r in rows if r["method"] == "none")
    methods = list(dict.fromkeys(r["method"] for r in rows if r["method"] not in REFERENCE_NAMES
                                 and r["method"] != "none"))
    for ax, subset in zip(axes, ("all", "critical")):
        def l2(r: Mapping[str, Any]) -> Optional[float]:
            return r["subsets"].get(subset, {}).get("metrics", {}).get("L2_avg")
        for i, method in enumerate(methods):
            pts = sorted((r["tokens_kept"] / r["num_visual"], l2(r)) for r in rows
                         if r["method"] == method and l2(r) is not None and r.get("tokens_kept"))
            pts = [(1.0, l2(base))] + pts
            xs, ys = zip(*sorted(pts))
            oracle = method.startswith("oracle")
            color = "k" if oracle else (plt.get_cmap("tab10")(i % 10) if i < 10 else plt.get_cmap("tab20")(i % 20))
            ax.plot(xs, ys, marker=MARKERS[i % len(MARKERS)], ms=5, color=color, ls="--" if oracle else "-",
                    lw=1.6 if oracle else 1.0, label=method)
        styles = {"constant_velocity": ("grey", "--"), "camera_swap": ("tab:red", "-."), "blind": ("tab:pink", ":")}
        for r in rows:
            if r["method"] in styles and l2(r) is not None:
                c, ls = styles[r["method"]]
                ax.axhline(l2(r), color=c, ls=ls, lw=1.2, label=REFERENCE_NAMES[r["method"]])
        n = data["subsets"].get(subset, 0)
        ax.set(xlabel="share of visual tokens kept", ylabel="L2 avg (m)", title=f"{subset} samples (n={n})")
        ax.set_xlim(0.0, 1.05)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06 + 0.04 * ((len(labels) - 1) // 8), 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_report(data: Mapping[str, Any], command: str, caption: str, subset_ratio: Optional[float]) -> str:
    """Command, caption, the main table and the per-subset table, ready for ``docs/results.md``."""
    subs = subset_rows(data, subset_ratio)
    diag = "".join(f"- {line}\n" for line in diagnostics_lines(data))
    return (f"```bash\n{command}\n```\n\n{caption}\n\n{diag}\n{format_markdown(MAIN_HEADER, main_rows(data))}\n"
            f"L2 avg (m) per event subset (in parentheses: ratio to unpruned on that subset; "
            f"`*`: its 95% interval excludes 1), methods at ratio {subset_ratio}:\n\n"
            f"{format_markdown(subs[0], subs[1:])}{selection_markdown(data)}")


def selection_markdown(data: Mapping[str, Any]) -> str:
    """Token-selection ranking per ratio with the best-vs-next interval (empty without ground truth)."""
    from fastdrive.evaluation.selection_intervals import selection_lines

    lines = selection_lines(data.get("selection") or {})
    if not lines:
        return ""
    return ("\nToken selection, mean over images (best - next best: paired 95% scene-bootstrap interval of the "
            "difference; 'best' only where it excludes 0):\n\n" + "".join(f"- {line}\n" for line in lines))


def token_lines(data: Mapping[str, Any]) -> Dict[str, Any]:
    """The pooled token metrics by row key."""
    return dict(data.get("token_metrics", {}))
