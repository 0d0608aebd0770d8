"""ReconPruner: query + one Qwen2.5-VL decoder layer (full attention) + Hadamard scorer."""

import pytest
import torch
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLDecoderLayer

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.pruning.recon_pruner import (SHIPPED_WEIGHTS, ReconCheckpointError, ReconPruner,
                                            straight_through_mask, visual_mrope_positions)

CFG = dict(hidden_size=32, num_heads=4, num_kv_heads=2, intermediate_size=64)


def _pruner(**kw):
    torch.manual_seed(0)
    return build_pruner("recon_untrained", **{**CFG, **kw})


def test_structure_scores_and_keep_count():
    pruner = _pruner()
    assert isinstance(pruner.decoder_layer, Qwen2_5_VLDecoderLayer)
    assert pruner.query.shape == (1, 1, 32)
    tokens = torch.randn(2, 24, 32)
    scores = pruner.scores(tokens)
    assert scores.shape == (2, 24)
    sel = pruner.select(tokens, 0.25)
    assert sel.indices.shape == (2, 6)
    assert torch.equal(sel.indices, scores.detach().topk(6).indices.sort().values)


def test_gradient_reaches_query_scorer_and_layer():
    pruner = _pruner().train()
    pruner.scores(torch.randn(2, 10, 32)).pow(2).sum().backward()
    for p in (pruner.query, pruner.scorer.weight, pruner.decoder_layer.self_attn.q_proj.weight,
              pruner.decoder_layer.mlp.down_proj.weight):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0


def test_full_non_causal_attention():
    pruner = _pruner()
    tokens = torch.randn(1, 12, 32)
    changed = tokens.clone()
    changed[0, -1] += 3.0
    with torch.no_grad():
        a, b = pruner.scores(tokens), pruner.scores(changed)
    assert abs(float(a[0, 0] - b[0, 0])) > 1e-4, "the last token must influence the first one's score"


def test_eager_and_sdpa_agree():
    tokens = torch.randn(1, 9, 32)
    sdpa = _pruner(attn_implementation="sdpa")
    eager = _pruner(attn_implementation="eager")
    eager.load_state_dict(sdpa.state_dict())
    with torch.no_grad():
        assert torch.allclose(sdpa.scores(tokens), eager.scores(tokens), atol=1e-5)


def test_position_mode_none_is_permutation_equivariant_sequential_is_not():
    tokens = torch.randn(1, 10, 32)
    perm = torch.randperm(10)
    with torch.no_grad():
        flat = _pruner(position_mode="none")
        assert torch.allclose(flat.scores(tokens)[0, perm], flat.scores(tokens[:, perm])[0], atol=1e-5)
        seq = _pruner()
        assert not torch.allclose(seq.scores(tokens)[0, perm], seq.scores(tokens[:, perm])[0], atol=1e-5)


def test_explicit_mrope_positions_are_used():
    pruner = _pruner()
    tokens = torch.randn(1, 6, 32)
    hw = torch.stack(torch.meshgrid(torch.arange(2), torch.arange(3), indexing="ij")).flatten(1)  # (2, 6)
    pos = torch.cat([torch.zeros(1, 6, dtype=torch.long), hw]).unsqueeze(1) + 5  # (3, 1, 6)
    with torch.no_grad():
        a = pruner.scores(tokens, PruningContext(extra={"visual_position_ids": pos}))
        b = pruner.scores(tokens)
    assert a.shape == (1, 6) and not torch.allclose(a, b)


def test_checkpoint_round_trip(tmp_path):
    pruner = _pruner()
    with torch.no_grad():
        pruner.scorer.weight.add_(1.0)
    tokens = torch.randn(2, 8, 32)
    path = tmp_path / "recon.pth"
    torch.save(pruner.checkpoint_dict({"note": "test"}), path)
    for loaded in (ReconPruner.from_checkpoint(path), build_pruner("recon", **CFG, weights=str(path))):
        assert loaded.trained and loaded.weights_path == str(path)
        with torch.no_grad():
            assert torch.equal(loaded.scores(tokens), pruner.scores(tokens))
    # an mmengine checkpoint of the trainer: keys under 'pruner.', sizes given by the caller
    path2 = tmp_path / "model.pth"
    torch.save({"state_dict": {f"pruner.{k}": v for k, v in pruner.state_dict().items()},
                "meta": {"epoch": 1}}, path2)
    loaded2 = build_pruner("recon", **CFG, weights=str(path2))
    with torch.no_grad():
        assert torch.equal(loaded2.scores(tokens), pruner.scores(tokens))
    with pytest.raises(ReconCheckpointError, match="do not fit"):
        build_pruner("recon", **{**CFG, "intermediate_size": 128}, weights=str(path2))


def test_weight_file_recommends_a_selection_a_request_overrides(tmp_path):
    pruner = _pruner()
    path = tmp_path / "recon.pth"
    torch.save(pruner.checkpoint_dict(selection={"diverse_fill": 0.5}), path)
    loaded = build_pruner("recon", **CFG, weights=str(path))
    assert loaded.diverse_fill == 0.5 and not loaded.peaks_first  # the file's recommendation
    assert build_pruner("recon", **CFG, weights=str(path), diverse_fill=0.0).diverse_fill == 0.0  # the request's
    tokens = torch.randn(2, 16, 32)
    top_k = build_pruner("recon", **CFG, weights=str(path), diverse_fill=0.0).select(tokens, 8).indices
    assert not torch.equal(loaded.select(tokens, 8).indices, top_k)  # half of the budget is chosen by diversity
    # without a recommendation: the paper's top-K
    torch.save(pruner.checkpoint_dict(), tmp_path / "plain.pth")
    assert build_pruner("recon", **CFG, weights=str(tmp_path / "plain.pth")).diverse_fill == 0.0
    with pytest.raises(ReconCheckpointError, match="unknown selection options"):
        pruner.checkpoint_dict(selection={"diverse_fil": 0.5})
    with pytest.raises(ReconCheckpointError, match=r"diverse_fill must be in \[0, 1\)"):
        pruner.checkpoint_dict(selection={"diverse_fill": 1.5})


def test_wrong_host_missing_or_foreign_file_is_a_clear_error(tmp_path):
    path = tmp_path / "recon.pth"
    torch.save(_pruner().checkpoint_dict(), path)
    with pytest.raises(ReconCheckpointError, match=r"another host \(hidden_size: file 32 vs pruner 64"):
        build_pruner("recon", hidden_size=64, num_heads=4, num_kv_heads=2, intermediate_size=64, weights=str(path))
    with pytest.raises(ReconCheckpointError, match="not found"):
        build_pruner("recon", **CFG, weights=str(tmp_path / "nope.pth"))
    torch.save({"state_dict": {"a": torch.zeros(2)}}, tmp_path / "other.pth")
    with pytest.raises(ReconCheckpointError, match="no ReconPruner weights"):
        build_pruner("recon", **CFG, weights=str(tmp_path / "other.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ReconCheckpointError, match="cannot read"):
        build_pruner("recon", **CFG, weights=str(tmp_path / "junk.pth"))


def test_recon_loads_the_shipped_weights_untrained_only_when_asked():
    import os

    assert os.path.isfile(SHIPPED_WEIGHTS)
    from fastdrive.planner import EmbeddedPlanner
    from fastdrive.planner.types import PruningSpec

    planner = EmbeddedPlanner.from_checkpoint()
    shipped = planner.pool.pruner(PruningSpec("recon", 0.5))
    assert shipped.trained and shipped.weights_path == SHIPPED_WEIGHTS
    untrained = planner.pool.pruner(PruningSpec("recon_untrained", 0.5))
    assert not untrained.trained and untrained.weights_path is None
    assert "weights=untrained" in repr(untrained)
    assert untrained.hidden_size == shipped.hidden_size == 128  # sized from the host, like recon
    tokens = torch.randn(1, 144, 128)
    assert untrained.select(tokens, 0.5).indices.shape == (1, 72)
    assert not torch.equal(untrained.select(tokens, 0.5).indices, shipped.select(tokens, 0.5).indices)
    # the shipped file does not fit another host's width: a clear error, never random weights
    with pytest.raises(ReconCheckpointError, match="another host"):
        build_pruner("recon", **CFG)


def test_visual_mrope_positions_row_major():
    pos = visual_mrope_positions((2, 3), batch=2)
    assert pos.shape == (3, 2, 6)
    assert pos[0].eq(0).all()
    assert pos[1, 0].tolist() == [0, 0, 0, 1, 1, 1] and pos[2, 1].tolist() == [0, 1, 2, 0, 1, 2]


def test_straight_through_mask_value_and_gradient():
    s = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    m = straight_through_mask(s)
    assert m.tolist() == [0.0, 1.0, 1.0]
    (m * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert s.grad.tolist() == [1.0, 2.0, 3.0]
    s2 = torch.tensor([-1.0, 0.5, 20.0], requires_grad=True)
    m2 = straight_through_mask(s2, "sigmoid")
    assert m2.tolist() == [0.0, 1.0, 1.0]
    m2.sum().backward()
    sig = torch.sigmoid(s2.detach())
    assert torch.allclose(s2.grad, sig * (1 - sig)) and float(s2.grad[2]) < 1e-6  # bounded, fades
    with pytest.raises(ValueError, match="surrogate"):
        straight_through_mask(s2, "tanh")


def test_training_select_returns_soft_mask_and_wrong_width_errors():
    pruner = _pruner().train()
    sel = pruner.select(torch.randn(1, 8, 32), 4)
    assert sel.soft_mask is not None and sel.soft_mask.requires_grad
    with pytest.raises(ValueError, match="hidden_size=32"):
        pruner.scores(torch.randn(1, 8, 16))
