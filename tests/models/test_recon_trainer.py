"""ReconPruner training model: the loss, the straight-through gradient and what the background branch does."""

from __future__ import annotations

import pytest
import torch
from tiny_vla import tiny_vlm

from fastdrive.models import DrivingVLA, ReconPrunerTrainer
from fastdrive.models.driving_vla_io import export_driving_vla
from fastdrive.models.recon_decoder import reconstruction_loss, token_shares

SIZE = (112, 84)  # 4 x 3 = 12 visual tokens


@pytest.fixture(scope="module")
def host_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("host") / "tiny_vla.pth"
    export_driving_vla(DrivingVLA(vlm=tiny_vlm(), image_size=SIZE), path, half=False)
    return str(path)


def _model(host_file: str, **kw) -> ReconPrunerTrainer:
    return ReconPrunerTrainer(host=dict(kind="embedded", path=host_file), decoder_depth=1, **kw)


def _batch(b: int = 4, seed: int = 0):
    """Images of two flat halves, each of a random colour: the lower half is the foreground ('road').

    Each half's colour can only be known from the tokens that see it, so
    each reconstruction branch needs its own half's tokens.
    """
    g = torch.Generator().manual_seed(seed)
    upper, lower = torch.rand(b, 3, 1, 1, generator=g), torch.rand(b, 3, 1, 1, generator=g)
    h = SIZE[1] // 2
    img = torch.cat([upper.expand(b, 3, h, SIZE[0]), lower.expand(b, 3, SIZE[1] - h, SIZE[0])], dim=2)
    img = (img * 255).round().to(torch.uint8)
    fg = torch.zeros(b, 1, SIZE[1], SIZE[0], dtype=torch.uint8)
    fg[:, :, h:] = 255
    return img, fg


def test_loss_matches_a_hand_computation_on_constant_images():
    a, b, c1 = 0.3, 0.7, (0.01 * 1.0) ** 2
    x, y = torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b)
    # SSIM of constant images: the variances and the covariance are 0
    hand_ssim = (2 * a * b + c1) / (a * a + b * b + c1)
    assert float(reconstruction_loss(x, y, lam=0.2)) == pytest.approx(0.2 * (1 - hand_ssim) + 0.8 * (a - b) ** 2,
                                                                     rel=1e-5)
    assert float(reconstruction_loss(x, y, lam=0.0)) == pytest.approx((a - b) ** 2, rel=1e-6)
    assert float(reconstruction_loss(y, y, lam=0.2)) == pytest.approx(0.0, abs=1e-6)


def test_branch_losses_are_alpha_weighted_reconstructions_of_the_masked_images(host_file):
    model = _model(host_file, alpha=0.7, lam=0.2).eval()
    img, fg = _batch()
    with torch.no_grad():
        out = model(img, fg, mode="tensor")
        losses = model(img, fg, mode="loss")
    image = img.float() / 255
    assert torch.allclose(out["target_fg"], image * (fg.float() / 255))
    assert torch.allclose(out["target_bg"], image * (1 - fg.float() / 255))
    assert float(losses["loss_fg"]) == pytest.approx(0.7 * float(reconstruction_loss(out["recon_fg"], out["target_fg"])),
                                                     rel=1e-5)
    assert float(losses["loss_bg"]) == pytest.approx(0.3 * float(reconstruction_loss(out["recon_bg"], out["target_bg"])),
                                                     rel=1e-5)
    assert out["scores"].shape == (4, 12) and out["recon_fg"].shape == (4, 3, SIZE[1], SIZE[0])
    assert torch.allclose(out["fg_share"], token_shares(fg.float() / 255, 28))
    assert float(losses["pos_share"]) == pytest.approx(float((out["scores"] > 0).float().mean()))


def test_region_loss_scores_each_branch_on_its_own_region_only(host_file):
    model = _model(host_file, alpha=0.5, lam=0.0, region_loss=True).eval()
    img, fg = _batch()
    with torch.no_grad():
        out = model(img, fg, mode="tensor")
        losses = model(img, fg, mode="loss")
    m = fg.float() / 255  # the lower half of every image
    hand_fg = ((out["recon_fg"] - out["target_fg"]).pow(2) * m).sum() / (m.sum() * 3)
    hand_bg = ((out["recon_bg"] - out["target_bg"]).pow(2) * (1 - m)).sum() / ((1 - m).sum() * 3)
    assert float(losses["loss_fg"]) == pytest.approx(0.5 * float(hand_fg), rel=1e-5)
    assert float(losses["loss_bg"]) == pytest.approx(0.5 * float(hand_bg), rel=1e-5)
    # what a branch paints outside its region costs nothing
    outside = out["recon_fg"] * m + 0.7 * (1 - m)
    assert float(reconstruction_loss(outside, out["target_fg"], lam=0.2, region=m)) == pytest.approx(
        float(reconstruction_loss(out["recon_fg"] * m, out["target_fg"], lam=0.2, region=m)), rel=1e-6)
    # an empty region costs nothing (no objects in the frame)
    assert float(reconstruction_loss(out["recon_fg"], torch.zeros_like(img, dtype=torch.float), lam=0.0,
                                      region=torch.zeros_like(m))) == 0.0


@pytest.mark.parametrize("ste", ["identity", "sigmoid"])
def test_straight_through_mask_passes_gradient_to_the_scorer(host_file, ste):
    model = _model(host_file, ste=ste).train()
    img, fg = _batch()
    losses = model(img, fg, mode="loss")
    sum(v for k, v in losses.items() if k.startswith("loss")).backward()
    for p in (model.pruner.scorer.weight, model.pruner.query, model.pruner.decoder_layer.self_attn.q_proj.weight):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0
    assert all(p.grad is None for p in model.host.parameters())  # the host stays frozen
    assert not model.host.training


def _train(model: ReconPrunerTrainer, steps: int) -> float:
    torch.manual_seed(0)
    img, fg = _batch(8, seed=1)
    tokens = model.tokens(img)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for _ in range(steps):
        losses = model(img, fg, tokens=tokens, mode="loss")
        opt.zero_grad()
        sum(v for k, v in losses.items() if k.startswith("loss")).backward()
        opt.step()
    with torch.no_grad():
        return float((model.scores(tokens) > 0).float().mean())


def test_background_branch_is_what_stops_scoring_everything_positive(host_file):
    fg_only = _train(_model(host_file, objective="fg_only", ste="sigmoid"), 60)
    adversarial = _train(_model(host_file, objective="adversarial", ste="sigmoid"), 60)
    assert fg_only >= 0.95, fg_only  # the degenerate solution: keep everything
    assert adversarial <= fg_only - 0.3, (adversarial, fg_only)


def test_supervised_reference_and_bad_arguments(host_file):
    model = _model(host_file, objective="supervised")
    assert model.decoder is None
    img, fg = _batch()
    losses = model(img, fg, mode="loss")
    assert set(losses) == {"loss_bce", "pos_share"}
    preds = model(img, fg, mode="predict", meta=[{"i": i} for i in range(4)])
    assert len(preds) == 4 and preds[0]["scores"].shape == (12,) and preds[2]["meta"] == {"i": 2}
    with pytest.raises(ValueError, match="objective"):
        _model(host_file, objective="nope")
    with pytest.raises(ValueError, match="recon_unit"):
        _model(host_file, recon_unit=10)
    with pytest.raises(ValueError, match="surrogate"):
        _model(host_file, ste="tanh")


def test_init_layer_copies_the_host_llm_layer_and_half_resolution(host_file):
    from fastdrive.models.driving_vla_io import load_driving_vla

    model = _model(host_file, init_layer=1, recon_unit=14)
    ref = load_driving_vla(host_file).vlm.model.language_model.layers[1].state_dict()
    for k, v in model.pruner.decoder_layer.state_dict().items():
        assert torch.equal(v, ref[k])
    img, fg = _batch()
    with torch.no_grad():
        out = model(img, fg, mode="tensor")
    assert out["recon_fg"].shape == (4, 3, SIZE[1] // 2, SIZE[0] // 2) == out["target_fg"].shape
    with pytest.raises(ValueError, match="outside"):
        _model(host_file, init_layer=5)


def test_standardized_threshold_keeps_both_branches_and_the_ranking(host_file):
    model = _model(host_file, standardize=True)
    scores = torch.tensor([[5.0, 6.0, 7.0, 9.0], [-3.0, -2.5, -2.0, -1.0]])  # raw: all in / all out
    z = model.mask_scores(scores)
    assert ((z > 0).sum(1) > 0).all() and ((z <= 0).sum(1) > 0).all()
    assert torch.equal(z.argsort(1), scores.argsort(1))
    img, fg = _batch()
    losses = model(img, fg, mode="loss")
    assert 0.0 < float(losses["pos_share"]) < 1.0


def test_negative_score_bias_starts_with_an_empty_foreground_set(host_file):
    model = _model(host_file, init_score_bias=-4.0, ste="sigmoid")
    assert torch.all(model.pruner.scorer.bias == -4.0)
    img, fg = _batch()
    with torch.no_grad():
        losses = model(img, fg, mode="loss")
    assert float(losses["pos_share"]) == 0.0


def test_checkpoints_leave_the_frozen_host_out_and_load_back(host_file):
    model = _model(host_file, seed=1)
    state = model.state_dict()
    assert state and not any(k.startswith("host.") for k in state)
    assert any(k.startswith("pruner.") for k in state) and any(k.startswith("decoder.") for k in state)
    other = _model(host_file, seed=2)
    other.load_state_dict(state, strict=True)  # the host's tensors come from the model itself
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in state.items())
    with pytest.raises(ValueError, match="dtype"):
        ReconPrunerTrainer(host=dict(kind="embedded", path=host_file, dtype="bf16"))
