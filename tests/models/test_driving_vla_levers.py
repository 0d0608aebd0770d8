"""The driving VLA's levers against the ego-status shortcut (issue 10) and its perception head."""

from __future__ import annotations

import pytest
import torch

from fastdrive.models import DrivingVLA
from fastdrive.models.driving_vla import constant_velocity_past, constant_velocity_rollout
from fastdrive.models.driving_vla_io import export_driving_vla, load_driving_vla

from tiny_vla import TINY_VLM as SMALL  # noqa: E402  (tests/models, on sys.path via tests/conftest.py)

GRID = (2, 4)  # (56 / 28) x (112 / 28)


def _batch(b: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.rand(b, 1, 3, 56, 112, generator=g)
    command = torch.arange(b) % 3
    state = torch.tensor([[6.0, -2.5, 0.05], [3.0, 1.4, -0.1], [0.0, 2.0, 0.0]])[:b]
    past = torch.rand(b, 4, 2, generator=g) - torch.tensor([4.0, 0.0])
    return imgs, command, state, past


def _random_head(model: DrivingVLA) -> DrivingVLA:
    with torch.no_grad():
        model.head[-1].weight.normal_(0, 0.5)
    return model


def test_constant_velocity_past_mirrors_the_rollout():
    state = torch.tensor([[4.0, 0.0, 0.0], [4.0, 0.0, 0.3]])
    past = constant_velocity_past(state, 4)
    assert torch.allclose(past[0], torch.tensor([[-8.0, 0.0], [-6.0, 0.0], [-4.0, 0.0], [-2.0, 0.0]]))
    future = constant_velocity_rollout(state, 4)
    assert torch.allclose(past[1].flip(0)[:, 0], -future[1][:, 0]) and torch.allclose(past[1].flip(0)[:, 1],
                                                                                         future[1][:, 1])


def test_without_ego_history_the_plan_ignores_acceleration_and_past():
    imgs, cmd, state, past = _batch()
    blind = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56), ego_history=False)).eval()
    seeing = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56))).eval()
    other_state = state.clone()
    other_state[:, 1] += 1.5
    with torch.no_grad():
        a = blind.plan(imgs[:, 0], cmd, state, past)
        b = blind.plan(imgs[:, 0], cmd, other_state, past * 2.0)
        c = seeing.plan(imgs[:, 0], cmd, state, past)
        d = seeing.plan(imgs[:, 0], cmd, other_state, past * 2.0)
    assert torch.allclose(a, b)
    assert not torch.allclose(c, d)


def test_throttle_shows_only_the_non_negative_acceleration():
    imgs, cmd, state, past = _batch()  # accelerations -2.5, 1.4, 2.0
    model = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56), ego_history=False, keep_accel="throttle")).eval()
    hidden, _ = model.hide_history(state)
    assert torch.allclose(hidden[:, 1], torch.tensor([0.0, 1.4, 2.0])) and torch.equal(hidden[:, [0, 2]], state[:, [0, 2]])
    harder_brake, more_throttle = state.clone(), state.clone()
    harder_brake[0, 1] = -4.0
    more_throttle[1, 1] = 0.2
    with torch.no_grad():
        base = model.plan(imgs[:, 0], cmd, state, past)
        assert torch.allclose(base, model.plan(imgs[:, 0], cmd, harder_brake, past))  # braking is not an input
        assert not torch.allclose(base[1], model.plan(imgs[:, 0], cmd, more_throttle, past)[1])
    with pytest.raises(ValueError, match="keep_accel"):
        DrivingVLA(vlm=SMALL, image_size=(112, 56), ego_history=False, keep_accel="brake")


def test_ego_dropout_acts_in_training_only():
    imgs, cmd, state, past = _batch()
    model = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56), ego_dropout=1.0))
    gt, valid = torch.zeros(3, 6, 2), torch.ones(3, 6, dtype=torch.bool)
    hidden_state, hidden_past = model.hide_history(state)
    model.train()
    loss = model(imgs, cmd, state, past, gt, valid, mode="loss")["loss_plan"]
    ref = model(imgs, cmd, hidden_state, hidden_past, gt, valid, mode="loss")["loss_plan"]
    assert torch.allclose(loss, ref)  # every sample dropped: the same as feeding the hidden history
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(imgs, cmd, state, past), model(imgs, cmd, hidden_state, hidden_past))


def test_event_weight_favours_samples_that_depart_from_constant_velocity():
    imgs, cmd, state, past = _batch(2)
    gt = constant_velocity_rollout(state, 6).clone()
    gt[1] *= 0.3  # sample 1 brakes hard: far from constant velocity
    valid = torch.ones(2, 6, dtype=torch.bool)
    plain = DrivingVLA(vlm=SMALL, image_size=(112, 56)).train()
    weighted = DrivingVLA(vlm=SMALL, image_size=(112, 56), event_weight=2.0).train()  # same seed, same weights
    # the untrained head predicts constant velocity: only sample 1 has an error, so its share of the
    # normaliser decides the loss: weighted, the braking sample counts for more
    with torch.no_grad():
        l_plain = plain(imgs, cmd, state, past, gt, valid, mode="loss")["loss_plan"]
        l_weighted = weighted(imgs, cmd, state, past, gt, valid, mode="loss")["loss_plan"]
    assert l_weighted > 1.2 * l_plain


def test_perception_head_loss_and_export(tmp_path):
    imgs, cmd, state, past = _batch()
    model = DrivingVLA(vlm=SMALL, image_size=(112, 56), aux_weight=0.5, num_semantic=5, ego_history=False).train()
    n = GRID[0] * GRID[1]
    target = torch.zeros(3, n, 5)
    target[..., 2] = 1.0
    target[2] = 0.0  # a sample without ground truth is ignored
    out = model(imgs, cmd, state, past, torch.zeros(3, 6, 2), torch.ones(3, 6, dtype=torch.bool), mode="loss",
                token_sem=target)
    assert set(out) == {"loss_plan", "loss_token"} and out["loss_token"] > 0
    opt = torch.optim.Adam(model.token_head.parameters(), lr=0.1)
    for _ in range(30):
        opt.zero_grad()
        loss = model(imgs, cmd, state, past, torch.zeros(3, 6, 2), torch.ones(3, 6, dtype=torch.bool),
                     mode="loss", token_sem=target)["loss_token"]
        loss.backward()
        opt.step()
    assert loss < 0.5 * out["loss_token"]  # the head learns the class of each token
    path = tmp_path / "p.pth"
    export_driving_vla(model, path, half=False)
    again = load_driving_vla(path)
    assert again.ego_history is False and again.token_head is not None
    with torch.no_grad():
        assert torch.allclose(again.plan(imgs[:, 0], cmd, state, past), model.eval().plan(imgs[:, 0], cmd, state, past))


def test_bad_dropout_is_refused():
    with pytest.raises(ValueError, match="ego_dropout"):
        DrivingVLA(vlm=SMALL, image_size=(112, 56), ego_dropout=1.5)


def test_object_first_token_drop_keeps_the_ground_truth_objects():
    """``token_drop_objects=1``: a dropped batch keeps its tokens in the ``oracle_obj`` order of its
    ``token_sem`` (the same loss as planning by hand with that oracle), not a random subset."""
    from fastdrive.pruning.oracle import CONTEXT_KEY, OBJECT_IDS, ROAD_IDS, OracleObjects
    from fastdrive.pruning.random_pruner import RandomPruner
    from fastdrive.vla.adapter import install_adapter

    imgs, cmd, state, past = _batch()
    gt, valid = torch.rand(3, 6, 2), torch.ones(3, 6, dtype=torch.bool)
    sem = torch.zeros(3, GRID[0] * GRID[1], 17)
    sem[:, :, 0] = 1.0  # background everywhere ...
    for b, (obj, road) in enumerate([(1, 6), (7, 2), (3, 4)]):
        sem[b, obj] = 0.0
        sem[b, obj, OBJECT_IDS[0]] = 1.0  # ... but one object cell and one road cell per sample
        sem[b, road] = 0.0
        sem[b, road, ROAD_IDS[0]] = 1.0
    model = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56), token_drop=1.0, token_drop_keep=(0.25, 0.25),
                                    token_drop_objects=1.0))
    model.train()
    torch.manual_seed(5)
    loss = model(imgs, cmd, state, past, gt, valid, token_sem=sem, mode="loss")["loss_plan"]
    adapter = install_adapter(model.vlm, action_rows=model.num_waypoints)
    model.eval()
    with torch.no_grad():
        with adapter.pruning(OracleObjects(), 0.25, context={CONTEXT_KEY: sem}) as call:
            by_hand = model.plan(imgs[:, 0], cmd, state, past)
        kept = call.last.selection.indices  # (B, K)
        with adapter.pruning(RandomPruner(), 0.25, context={"seed": 0}):
            randomly = model.plan(imgs[:, 0], cmd, state, past)
    assert [sorted(k.tolist()) for k in kept] == [[1, 6], [2, 7], [3, 4]]
    err = torch.nn.functional.smooth_l1_loss(by_hand, gt, reduction="sum", beta=0.5) / (3 * 6 * 2)
    assert torch.allclose(err, loss, atol=1e-5)
    err_random = torch.nn.functional.smooth_l1_loss(randomly, gt, reduction="sum", beta=0.5) / (3 * 6 * 2)
    assert not torch.allclose(err_random, loss, atol=1e-5)
    # without ground truth (all-zero shares, as on real nuScenes) a dropped batch falls back to random
    torch.manual_seed(5)
    model.train()
    fallback = model(imgs, cmd, state, past, gt, valid, token_sem=torch.zeros_like(sem), mode="loss")["loss_plan"]
    assert not torch.allclose(fallback, loss, atol=1e-5)
    with pytest.raises(ValueError, match="token_drop_objects"):
        DrivingVLA(vlm=SMALL, image_size=(112, 56), token_drop_objects=1.5)


def test_token_drop_trains_through_the_pruning_adapter():
    """A dropped batch is planned from a random token subset (gradients flow) as a per-call request:
    a forward outside the training step is the stock model."""
    from fastdrive.vla.adapter import install_adapter
    from fastdrive.pruning.random_pruner import RandomPruner

    imgs, cmd, state, past = _batch()
    gt, valid = torch.rand(3, 6, 2), torch.ones(3, 6, dtype=torch.bool)
    model = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56), token_drop=1.0, token_drop_keep=(0.5, 0.5)))
    model.train()
    torch.manual_seed(3)
    loss = model(imgs, cmd, state, past, gt, valid, mode="loss")["loss_plan"]
    loss.backward()
    assert model.vlm.model.visual.merger.mlp[0].weight.grad.abs().sum() > 0
    # the same forward by hand: the random pruner at keep 0.5 with the seed the model drew
    torch.manual_seed(3)
    torch.rand(())
    torch.rand(())
    seed = int(torch.randint(0, 2**31 - 1, ()))
    model.eval()
    adapter = install_adapter(model.vlm, action_rows=model.num_waypoints)  # the one the training step used
    with torch.no_grad(), adapter.pruning(RandomPruner(), 0.5, context={"seed": seed}):
        by_hand = model.plan(imgs[:, 0], cmd, state, past)
    with torch.no_grad():
        full = model.plan(imgs[:, 0], cmd, state, past)  # no request: the stock model
        adapter.remove()
        assert torch.allclose(full, model.plan(imgs[:, 0], cmd, state, past))
        model.train()
        torch.manual_seed(3)
        again = model(imgs, cmd, state, past, gt, valid, mode="loss")["loss_plan"]
    assert torch.allclose(loss, again)
    assert not torch.allclose(by_hand, full)
    err = torch.nn.functional.smooth_l1_loss(by_hand, gt, reduction="sum", beta=0.5) / (3 * 6 * 2)
    assert torch.allclose(err, loss, atol=1e-5)


def test_frame_pair_reads_the_previous_keyframe_and_exports(tmp_path):
    """``frame_pair``: the previous frame changes the plan, None is the still (current frame twice),
    the token count does not change, and the option survives export."""
    imgs, cmd, state, past = _batch()
    prev = torch.rand(3, 3, 56, 112, generator=torch.Generator().manual_seed(5))
    model = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56), frame_pair=True)).eval()
    single = _random_head(DrivingVLA(vlm=SMALL, image_size=(112, 56))).eval()
    with torch.no_grad():
        p_pair = model.plan(imgs[:, 0], cmd, state, past, imgs_prev=prev)
        p_still = model.plan(imgs[:, 0], cmd, state, past)
        p_twice = model.plan(imgs[:, 0], cmd, state, past, imgs_prev=imgs[:, 0])
        assert not torch.allclose(p_pair, p_still, atol=1e-4)
        torch.testing.assert_close(p_still, p_twice)
        # a single-frame model ignores the previous frame
        torch.testing.assert_close(single.plan(imgs[:, 0], cmd, state, past, imgs_prev=prev),
                                   single.plan(imgs[:, 0], cmd, state, past))
        assert model.build_inputs(imgs[:, 0], cmd, state, prev)["pixel_values"].shape[0] == \
            single.build_inputs(imgs[:, 0], cmd, state)["pixel_values"].shape[0]
    # mmengine's entry point takes the dataset's (B, num_cams, 3, H, W) previous frames
    out = model.train()(imgs, cmd, state, past, torch.zeros(3, 6, 2), torch.ones(3, 6, dtype=torch.bool),
                        mode="loss", imgs_prev=prev[:, None])
    with pytest.warns(UserWarning, match="training on stills"):
        still_loss = model(imgs, cmd, state, past, torch.zeros(3, 6, 2), torch.ones(3, 6, dtype=torch.bool),
                           mode="loss")
    assert not torch.allclose(out["loss_plan"], still_loss["loss_plan"])  # the loss saw the previous frame
    out["loss_plan"].backward()
    assert model.vlm.model.visual.patch_embed.proj.weight.grad is not None
    path = tmp_path / "pair.pth"
    export_driving_vla(model.eval(), path, half=False)
    again = load_driving_vla(path)
    assert again.frame_pair is True and single.frame_pair is False
    with torch.no_grad():
        torch.testing.assert_close(again.plan(imgs[:, 0], cmd, state, past, imgs_prev=prev), p_pair)
    with pytest.raises(ValueError, match="does not match"):
        model.plan(imgs[:, 0], cmd, state, past, imgs_prev=prev[:2])


def test_go_head_learns_at_a_standstill_only():
    """``go_weight``: a BCE on the visual tokens for "moves > 1 m in 3 s", counted on standstill
    samples only (stopped, no throttle); moving samples add nothing."""
    from fastdrive.models.go_head import standstill_mask

    imgs, cmd, _, past = _batch()
    state = torch.tensor([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [6.0, 0.5, 0.0]])  # two standstill, one moving
    assert standstill_mask(state).tolist() == [True, True, False]
    assert standstill_mask(torch.tensor([[0.0, 1.2, 0.0]])).tolist() == [False]  # pulling away: throttle shows
    gt = torch.zeros(3, 6, 2)
    gt[0, :, 0] = torch.linspace(0.2, 4.0, 6)  # sample 0 goes, sample 1 waits
    valid = torch.ones(3, 6, dtype=torch.bool)
    model = DrivingVLA(vlm=SMALL, image_size=(112, 56), go_weight=1.0).train()
    out = model(imgs, cmd, state, past, gt, valid, mode="loss")
    assert set(out) == {"loss_plan", "loss_go"} and out["loss_go"] > 0
    moving = model(imgs, cmd, state[2:].repeat(3, 1), past, gt, valid, mode="loss")
    assert float(moving["loss_go"]) == 0.0
    opt = torch.optim.Adam(model.go_head.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        loss = model(imgs, cmd, state, past, gt, valid, mode="loss")["loss_go"]
        loss.backward()
        opt.step()
    assert loss < 0.3 * out["loss_go"]
    assert DrivingVLA(vlm=SMALL, image_size=(112, 56)).go_head is None
    # the standstill test reads the logged state: ego dropout hiding a pull-away does not make it "still"
    drop = DrivingVLA(vlm=SMALL, image_size=(112, 56), go_weight=1.0, ego_dropout=1.0).train()
    pulling = torch.tensor([[0.1, 1.5, 0.0]]).repeat(3, 1)
    assert float(drop(imgs, cmd, pulling, past, gt, valid, mode="loss")["loss_go"]) == 0.0
