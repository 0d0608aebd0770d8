"""``fastdrive.tools._common``: --data-root re-roots every dataloader, a multi-world one included."""

from __future__ import annotations

import argparse
from pathlib import Path

from fastdrive.tools._common import load_config

ROOT = Path(__file__).resolve().parents[2]
TWO_WORLDS = ROOT / "configs" / "planner" / "ablations" / "driving_vla_small-x2-objdrop_1xb16-8e_fastdrive-world.py"


def _args(**kw) -> argparse.Namespace:
    base = dict(config=str(TWO_WORLDS), cfg_options=None, data_root=None, launcher="none", work_dir=None)
    return argparse.Namespace(**{**base, **kw})


def test_two_world_planner_config_trains_on_two_worlds():
    cfg = load_config(_args())
    roots = [d["data_root"] for d in cfg.train_dataloader.dataset.datasets]
    assert roots == ["data/fastdrive_world", "data/fastdrive_world_extra_seed3"]
    assert cfg.val_dataloader.dataset.data_root == "data/fastdrive_world"
    assert cfg.model.token_drop_objects == 0.5 and cfg.train_cfg.max_epochs == 8


def test_data_root_reads_that_world_alone_and_cfg_options_still_apply(tmp_path, capsys):
    cfg = load_config(_args(data_root=str(tmp_path), cfg_options=["train_dataloader.dataset.indices=8"]))
    train = cfg.train_dataloader.dataset
    assert "datasets" not in train and train["data_root"] == str(tmp_path)
    assert train["cache_file"] == str(tmp_path / "planning_cache" / "train.pkl") and train["indices"] == 8
    assert cfg.val_dataloader.dataset.data_root == str(tmp_path)
    assert cfg.val_dataloader.dataset.cache_file == str(tmp_path / "planning_cache" / "val.pkl")
    assert "left out: data/fastdrive_world_extra_seed3" in capsys.readouterr().out
