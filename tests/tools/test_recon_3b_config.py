"""The Qwen2.5-VL-3B ReconPruner config builds and trains one iteration with a tiny checkpoint substituted.

The real run needs GPUs and a 3B checkpoint; here the host directory is a
tiny random Qwen2.5-VL written with ``save_pretrained``, the input size and
data are tiny, and the bf16 AMP optimiser wrapper (CUDA only) is swapped for
the plain one. Everything else (decoder depth, init layer, lr, schedule, the
host loading path) is the config's.
"""

from __future__ import annotations

from pathlib import Path

import torch
from mmengine.config import Config
from recon_fg_files import recon_fg_world

from fastdrive.vla import build_tiny_qwen25vl

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "recon_pruner" / \
    "recon_pruner_qwen25vl-3b_2xb4-10e_nuscenes-fg.py"


def test_3b_config_builds_and_runs_one_iteration(tmp_path):
    from mmengine.runner import Runner

    cfg = Config.fromfile(str(CONFIG))
    assert cfg.model.decoder_depth == 6 and cfg.model.init_layer == 0 and cfg.model.host.kind == "qwen25vl"
    assert cfg.optim_wrapper.optimizer.lr == 2e-5 and cfg.train_cfg.max_epochs == 10
    assert tuple(cfg.model.host.image_size) == (1596, 1596)  # 57 x 57 = 3249 tokens
    host_dir = tmp_path / "tiny_qwen"
    build_tiny_qwen25vl(seed=0).save_pretrained(host_dir)
    size = (48, 32)  # the tiny checkpoint merges 4 px patches 2x2: multiples of 8
    ann = recon_fg_world(tmp_path)
    cfg.model.host.update(path=str(host_dir), image_size=size, dtype="float32")
    for key in ("train_dataloader",):
        cfg[key].update(batch_size=2, num_workers=0, persistent_workers=False)
        cfg[key].dataset.update(ann_file=ann, image_size=size, indices=2,
                                data_prefix=dict(img_path=str(tmp_path / "root"), mask_path=str(tmp_path / "fg")))
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.optim_wrapper.type = "OptimWrapper"
    cfg.optim_wrapper.pop("dtype")
    cfg.custom_hooks[0].interval = 1
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(tmp_path / "wd")
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.pruner.state_dict().items()}
    text = runner.model.host.config.text_config
    assert runner.model.pruner.hidden_size == text.hidden_size and len(runner.model.decoder.layers) == 6
    layer0 = build_tiny_qwen25vl(seed=0).model.language_model.layers[0].state_dict()
    assert all(torch.equal(before[f"decoder_layer.{k}"], v) for k, v in layer0.items())  # init_layer=0
    assert not any(k.startswith("host.") for k in runner.model.state_dict())  # checkpoints skip the host
    runner.train()
    assert runner.iter == 1
    after = runner.model.pruner.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # one optimiser step moved the pruner
