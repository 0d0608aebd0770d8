"""The embedded driving VLA: inputs, constant-velocity start, masked loss, pruning hooks, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastdrive.datasets.planning import constant_velocity_plan
from fastdrive.models import DrivingVLA
from fastdrive.models.driving_prompt import PROMPT_PREFIX, DrivingVocab, driving_input_ids
from fastdrive.models.driving_vla import constant_velocity_rollout
from fastdrive.models.driving_vla_io import (PlannerCheckpointError, export_driving_vla, load_driving_vla,
                                             read_driving_vla_file)
from fastdrive.pruning import build_pruner
from fastdrive.registry import MODELS
from fastdrive.vla import attach_pruner

from tiny_vla import TINY_VLM as SMALL  # noqa: E402  (tests/models, on sys.path via tests/conftest.py)


def _model(seed: int = 0) -> DrivingVLA:
    return DrivingVLA(vlm=SMALL, image_size=(112, 56), seed=seed).eval()


def _batch(b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(b, 1, 3, 56, 112, generator=g)
    command = torch.arange(b) % 3
    state = torch.tensor([[6.0, -0.5, 0.05], [3.0, 0.4, -0.1]])[:b]
    past = torch.rand(b, 4, 2, generator=g) - torch.tensor([4.0, 0.0])
    return imgs, command, state, past


def test_prompt_layout_puts_plan_queries_last():
    model = _model()
    ids = driving_input_ids(model.vlm.config, torch.tensor([0, 2]), torch.tensor([[5.0, 0.0, 0.0], [20.0, -9, 1]]),
                            num_visual=8)
    v = DrivingVocab()
    row = ids["input_ids"][1].tolist()
    assert len(row) == PROMPT_PREFIX + 8 + 2 + 6
    assert row[1] == v.command_start + 2
    assert row[2] == v.speed_start + v.speed_bins - 1  # clipped into the last bin
    assert row[-6:] == list(range(v.plan_start, v.plan_start + 6))
    assert int(ids["mm_token_type_ids"].sum()) == 2 * 8
    assert max(v.plan_start + 6, v.yaw_start + v.yaw_bins) <= model.vlm.config.image_token_id


def test_untrained_head_starts_at_constant_velocity():
    model = _model()
    imgs, command, state, past = _batch()
    with torch.no_grad():
        pred = model(imgs, command, state, past, mode="tensor")
    assert pred.shape == (2, 6, 2)
    for b in range(2):
        ref = constant_velocity_plan(float(state[b, 0]), float(state[b, 2]))
        np.testing.assert_allclose(pred[b].numpy(), ref, atol=1e-4)
    # the rollout is continuous through a zero yaw rate
    s = torch.tensor([[5.0, 0.0, 1e-5], [5.0, 0.0, 2e-4]])
    r = constant_velocity_rollout(s)
    assert torch.allclose(r[0], r[1], atol=5e-3)


def test_loss_ignores_invalid_future_steps_and_trains():
    model = _model().train()
    imgs, command, state, past = _batch()
    # plausible futures (a few metres from the constant-velocity rollout), fixed seed
    gt = constant_velocity_rollout(state) + torch.rand(2, 6, 2, generator=torch.Generator().manual_seed(1))
    valid = torch.ones(2, 6, dtype=torch.bool)
    valid[1, 4:] = False
    loss = model(imgs, command, state, past, gt, valid, mode="loss")["loss_plan"]
    gt2 = gt.clone()
    gt2[1, 4:] += 100.0
    loss2 = model(imgs, command, state, past, gt2, valid, mode="loss")["loss_plan"]
    assert torch.allclose(loss, loss2)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(30):
        loss = model(imgs, command, state, past, gt, valid, mode="loss")["loss_plan"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first


def test_predict_outputs_feed_the_metric():
    model = _model()
    imgs, command, state, past = _batch()
    out = model(imgs, command, state, past, meta=["m0", "m1"], mode="predict")
    assert [o["meta"] for o in out] == ["m0", "m1"] and out[0]["pred_traj"].shape == (6, 2)


def test_pruning_adapter_acts_on_the_planner():
    """Keeping everything reproduces the plan; pruning changes what the LLM sees, not the output layout."""
    model = _model()
    with torch.no_grad():
        # make the head depend on the LLM output so that pruning can show
        model.head[-1].weight.normal_(0, 0.5)
        imgs, command, state, past = _batch()
        ref = model(imgs, command, state, past)
        with attach_pruner(model.vlm, build_pruner("grid"), keep=1.0):
            same = model(imgs, command, state, past)
        with attach_pruner(model.vlm, build_pruner("grid"), keep=0.25) as handle:
            pruned = model(imgs, command, state, past)
            kept = handle.last.num_kept
    torch.testing.assert_close(same, ref, rtol=1e-4, atol=1e-5)
    assert kept.tolist() == [model.num_visual // 4] * 2
    assert pruned.shape == ref.shape and not torch.allclose(pruned, ref, atol=1e-4)


def test_registered_and_rejects_bad_image_size():
    assert MODELS.get("DrivingVLA") is DrivingVLA
    with pytest.raises(ValueError, match="multiples of 28"):
        DrivingVLA(vlm=SMALL, image_size=(100, 56))


def test_export_round_trip_and_clear_errors(tmp_path):
    model = _model(seed=3)
    path = tmp_path / "planner.pth"
    size = export_driving_vla(model, path, meta={"note": "test"})
    assert size == path.stat().st_size
    loaded = load_driving_vla(path)
    assert loaded.meta["note"] == "test" and loaded.image_size == (112, 56)
    imgs, command, state, past = _batch()
    with torch.no_grad():
        model.head[-1].weight.normal_(0, 0.5)
        export_driving_vla(model, path)
        a = model(imgs, command, state, past)
        b = load_driving_vla(path)(imgs, command, state, past)
    torch.testing.assert_close(a, b, atol=2e-2, rtol=2e-2)  # float16 storage
    with pytest.raises(PlannerCheckpointError, match="not found"):
        read_driving_vla_file(tmp_path / "missing.pth")
    torch.save({"state_dict": {}}, tmp_path / "other.pth")
    with pytest.raises(PlannerCheckpointError, match="not a FastDrive driving-VLA"):
        load_driving_vla(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(PlannerCheckpointError, match="cannot read"):
        load_driving_vla(tmp_path / "junk.pth")
