"""load_qwen25vl: local directories only, clear errors for anything else."""

import json

import pytest
import torch

from fastdrive.vla import CheckpointError, build_tiny_qwen25vl, load_qwen25vl
from vla_testing import single_inputs, tiny_dir, tiny_model  # noqa: F401  (fixtures)


def test_roundtrip_by_path(tiny_dir, tiny_model, single_inputs):
    built = build_tiny_qwen25vl(seed=0)
    loaded = dict(tiny_model.state_dict())
    for name, value in built.state_dict().items():
        assert torch.equal(loaded[name], value), name
    assert not tiny_model.training
    assert tiny_model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        assert torch.equal(built(**single_inputs).logits, tiny_model(**single_inputs).logits)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_qwen25vl(tmp_path / "nope")


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_qwen25vl(tmp_path)


def test_wrong_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="llama"):
        load_qwen25vl(tmp_path)


def test_config_without_weights(tmp_path, tiny_dir):
    (tmp_path / "config.json").write_text((tiny_dir / "config.json").read_text())
    with pytest.raises(CheckpointError, match="no weights"):
        load_qwen25vl(tmp_path)
