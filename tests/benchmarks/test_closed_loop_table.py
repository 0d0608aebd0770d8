"""``benchmarks/closed_loop_table.py``: a closed-loop table redrawn from a run's JSON."""

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
table_script = importlib.import_module("closed_loop_table")


def _pdm(pdms, events):
    return {"nc": 1.0, "dac": 0.0 if events else 1.0, "tlc": 1.0, "ep": 1.0, "ttc": 1.0, "c": 1.0, "pdms": pdms,
            "events": events, "ego_progress": 30.0}


def test_table_from_json_with_clean_seconds_read_from_old_events(tmp_path, capsys):
    run = {"args": {"seconds": 15.0}, "episodes": {
        "unpruned": [{"scene": "a", "start_s": 0.0, "failure": None, "cost_ms": {"http": 50.0},
                      "pdm": _pdm(0.0, ["left the drivable area at t=4.0 s"])},
                     {"scene": "b", "start_s": 2.0, "failure": None, "cost_ms": {"http": 50.0},
                      "pdm": _pdm(0.0, ["collision with vehicle x at t=8.0 s (at fault)"])}],
        "recon 50%": [{"scene": "a", "start_s": 0.0, "failure": None, "cost_ms": {"http": 50.0},
                       "pdm": _pdm(1.0, [])},
                      {"scene": "b", "start_s": 2.0, "failure": "t=1.0 s: HTTP 500", "cost_ms": {}, "pdm": None}]}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run))
    assert table_script.main([str(path), "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    unpruned = next(line for line in out.splitlines() if line.startswith("| unpruned |"))
    recon = next(line for line in out.splitlines() if line.startswith("| recon 50% |"))
    assert "| 5.0 |" in unpruned  # (4.0 + (8.0 - 2.0)) / 2
    assert "| 15.0 | +11.0 |" in recon and "| 2 (1) |" in recon  # one scene paired: no interval
    assert table_script.main([str(path), "--rows", "nope"]) == 2
