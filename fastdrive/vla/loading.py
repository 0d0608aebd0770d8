"""Load a Qwen2.5-VL checkpoint from a local directory (never from the Hub)."""

from __future__ import annotations

import json
import os
from typing import Optional, Union

import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from ..errors import ModelError

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")


class CheckpointError(ModelError, ValueError):
    """The directory is missing or does not hold a Qwen2.5-VL checkpoint."""


def check_qwen25vl_dir(checkpoint_dir: Union[str, os.PathLike]) -> str:
    """Validate a checkpoint directory and return its path as a string.

    Raises:
        CheckpointError: the directory does not exist, has no ``config.json``,
            its ``model_type`` is not ``qwen2_5_vl`` or it holds no weights.
    """
    path = os.fspath(checkpoint_dir)
    if not os.path.isdir(path):
        raise CheckpointError(f"checkpoint directory not found: {path!r}")
    cfg_path = os.path.join(path, "config.json")
    if not os.path.isfile(cfg_path):
        raise CheckpointError(f"{path!r} is not a transformers checkpoint: no config.json")
    try:
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {cfg_path!r}: {exc}") from exc
    model_type = cfg.get("model_type")
    if model_type != "qwen2_5_vl":
        raise CheckpointError(
            f"{path!r} holds a {model_type!r} checkpoint, expected a Qwen2.5-VL one (model_type 'qwen2_5_vl')"
        )
    if not any(os.path.isfile(os.path.join(path, w)) for w in _WEIGHT_FILES):
        raise CheckpointError(f"{path!r} has a Qwen2.5-VL config but no weights ({', '.join(_WEIGHT_FILES)})")
    return path


def load_qwen25vl(
    checkpoint_dir: Union[str, os.PathLike],
    dtype: Optional[torch.dtype] = torch.float32,
    device: Union[str, torch.device] = "cpu",
    attn_implementation: str = "sdpa",
) -> Qwen2_5_VLForConditionalGeneration:
    """Load ``Qwen2_5_VLForConditionalGeneration`` from a local directory, in eval mode.

    Args:
        checkpoint_dir: directory written by ``save_pretrained`` (config.json
            plus safetensors/bin weights). Nothing is fetched from the network
            (``local_files_only=True``).
        dtype: parameter dtype (e.g. ``torch.bfloat16`` on GPU).
        device: where to put the model.
        attn_implementation: 'sdpa' (default; the adapter never needs eager).

    Raises:
        CheckpointError: see :func:`check_qwen25vl_dir`.
    """
    path = check_qwen25vl_dir(checkpoint_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        path, local_files_only=True, dtype=dtype, attn_implementation=attn_implementation)
    return model.to(device).eval()
