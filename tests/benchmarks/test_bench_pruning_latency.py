"""``benchmarks/bench_pruning_latency.py``: the projection arithmetic, the layer timer, a tiny end-to-end run."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
latency_parts = importlib.import_module("latency_parts")
latency_report = importlib.import_module("latency_report")
bench = importlib.import_module("bench_pruning_latency")


def test_pre_llm_projection_uses_measured_layers_and_fixed_cost():
    # fixed cost 0.5 s, unpruned layers 1 s, pruned layers 0.25 s, pruner 0.1 s
    pair = {"base_layers": [1.0, 1.0], "base_prefill": 2.5, "layers": [0.25, 0.25], "pruner": 0.1,
            "prefill": 0.5 + 0.5 + 0.1}
    p = latency_report.project_pair(pair, k=0, k36=0)
    assert p["unpruned"] == pytest.approx(0.5 + 36.0)
    assert p["pruned"] == pytest.approx(0.5 + 36 * 0.25 + 0.1)
    assert p["layer_pruned"] == pytest.approx(0.25)


def test_in_llm_projection_counts_full_layers_before_k_and_the_pruner_once():
    pr = 0.1
    layers = [1.0, 0.4 + pr, 0.25, 0.25]  # layer 1's pre-hook ran the pruner and the gathers
    pair = {"base_layers": [1.0] * 4, "base_prefill": 4.5, "layers": layers, "pruner": pr,
            "prefill": 0.5 + sum(layers)}
    p = latency_report.project_pair(pair, k=1, k36=2)
    assert p["pruned"] == pytest.approx(0.5 + 2 * 1.0 + 0.4 + 33 * 0.25 + pr)
    assert p["layer_full"] == pytest.approx(1.0)


def test_pooled_speedup_keeps_the_methods_own_costs_and_pools_layers():
    # two noisy pairs of one pre-LLM method: per-layer times differ, its own costs do not
    pairs = [{"base_layers": [1.2, 1.2], "base_prefill": 2.9, "layers": [0.3, 0.3], "pruner": 0.1,
              "prefill": 0.5 + 0.6 + 0.1},
             {"base_layers": [0.8, 0.8], "base_prefill": 2.1, "layers": [0.2, 0.2], "pruner": 0.1,
              "prefill": 0.5 + 0.4 + 0.1}]
    proj = [latency_report.project_pair(x, 0, 0) for x in pairs]
    unpruned, speed = latency_report.pooled_speedup(proj, l0_pool=1.0, lp_pool=0.25, k=0, k36=0)
    assert unpruned == pytest.approx(0.5 + 36.0)
    assert speed == pytest.approx((0.5 + 36.0) / (0.5 + 36 * 0.25 + 0.1))


def test_flop_bound_matches_the_design_numbers():
    # 3249 visual + 62 text tokens, 75% pruned before the LLM: 4.26x (DESIGN.md section 5)
    assert latency_report.flop_bound(3311, 874, 0) == pytest.approx(4.26, abs=0.01)
    assert latency_report.flop_bound(3311, 3311, 0) == pytest.approx(1.0)
    assert latency_report.flop_bound(3311, 874, 2) < latency_report.flop_bound(3311, 874, 0)
    # causal kernels skip half the scores: a lower bound (about 4.0x)
    causal = latency_report.flop_bound(3311, 874, 0, causal=True)
    assert 3.9 < causal < latency_report.flop_bound(3311, 874, 0)


def test_layer_timer_times_each_call_and_removes_its_hooks():
    mods = [nn.Linear(4, 4), nn.Linear(4, 4)]
    with latency_parts.LayerTimer(mods) as timer:
        x = torch.zeros(1, 4)
        for m in mods:
            x = m(x)
        mods[0](x)
        assert [i for i, _ in timer.times] == [0, 1, 0]
        assert all(sec >= 0 for _, sec in timer.times)
        assert len(timer.per_module(2)) == 2
        timer.reset()
        assert timer.times == []
    assert not mods[0]._forward_pre_hooks and not mods[0]._forward_hooks


def test_vision_tower_projection_adds_the_blocks():
    tower = latency_parts.build_vision_tower(torch.float32, "cpu", 0, bench.VISION_TINY)
    out = latency_parts.time_vision_tower(tower, (8, 8), repeats=1, device="cpu")
    assert out["patches"] == 16 * 16
    assert out["projected"] == pytest.approx(out["other"] + 28 * out["windowed"] + 4 * out["full"])


def test_tiny_run_prints_both_tables_and_replays_from_json(capsys, tmp_path):
    threads = torch.get_num_threads()
    saved = tmp_path / "runs" / "tiny.json"
    try:
        bench.main(["--tiny", "--layers", "3", "--tokens", "64", "--methods", "grid", "fastv",
                    "--ratios", "0.5", "--repeats", "1", "--decode-steps", "1", "--threads", "1",
                    "--save-json", str(saved)])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    png = tmp_path / "plots" / "tiny.png"
    bench.main(["--from-json", str(saved), "--out-png", str(png)])
    replay = capsys.readouterr().out
    tables = out[out.index("## Pruning latency"):out.index("# wrote")]
    assert replay[:replay.index("# wrote")].strip() == tables.strip()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "### Projected to the full 36-layer LLM and the 32-block vision tower" in out
    rows = [line for line in out.splitlines() if line.startswith("| grid") or line.startswith("| fastv")]
    assert len(rows) == 4  # one measured row and one projected row per method
    assert "| grid | pre | 0.50 | 32 |" in out


def test_unreadable_json_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SystemExit) as exc:
        bench.main(["--from-json", str(bad)])
    assert exc.value.code == 2
    assert "cannot read" in capsys.readouterr().err


def test_unknown_method_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--tiny", "--methods", "nope"])
    assert exc.value.code == 2
    assert "unknown methods" in capsys.readouterr().err
