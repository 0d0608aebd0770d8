"""ReconPruner: query + one Qwen2.5-VL decoder layer (full attention) + Hadamard scorer."""

import pytest
import torch
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLDecoderLayer

from fastdrive.pruning import PruningContext, build_pruner
from fastdrive.pruning.recon_pruner import ReconPruner, straight_through_mask

CFG = dict(hidden_size=32, num_heads=4, num_kv_heads=2, intermediate_size=64)


def _pruner(**kw):
    torch.manual_seed(0)
    return build_pruner("recon", **{**CFG, **kw})


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
    torch.save(pruner.checkpoint_dict(), path)
    loaded = ReconPruner.from_checkpoint(path)
    with torch.no_grad():
        assert torch.equal(loaded.scores(tokens), pruner.scores(tokens))
    # A larger model's state dict (mmengine-style) with a prefix and constructor args given.
    path2 = tmp_path / "model.pth"
    torch.save({"state_dict": {f"pruner.{k}": v for k, v in pruner.state_dict().items()}}, path2)
    loaded2 = ReconPruner.from_checkpoint(path2, num_heads=4, num_kv_heads=2, intermediate_size=64)
    with torch.no_grad():
        assert torch.equal(loaded2.scores(tokens), pruner.scores(tokens))
    with pytest.raises(RuntimeError):
        ReconPruner.from_checkpoint(path2, num_heads=4, num_kv_heads=2, intermediate_size=128)


def test_straight_through_mask_value_and_gradient():
    s = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    m = straight_through_mask(s)
    assert m.tolist() == [0.0, 1.0, 1.0]
    (m * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert s.grad.tolist() == [1.0, 2.0, 3.0]


def test_training_select_returns_soft_mask_and_wrong_width_errors():
    pruner = _pruner().train()
    sel = pruner.select(torch.randn(1, 8, 32), 4)
    assert sel.soft_mask is not None and sel.soft_mask.requires_grad
    with pytest.raises(ValueError, match="hidden_size=32"):
        pruner.scores(torch.randn(1, 8, 16))
