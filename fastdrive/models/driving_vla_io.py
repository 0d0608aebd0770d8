"""Save / load the embedded driving VLA as one small, safely loadable file.

The file is a ``torch.save`` of plain containers (loadable with
``weights_only=True``)::

    {'format': 'fastdrive-driving-vla', 'format_version': 1,
     'init_kwargs': {...DrivingVLA arguments...},
     'state_dict': {name: tensor (float16 for floating tensors)},
     'meta': {'config': ..., 'source_checkpoint': ..., 'metrics': {...}}}
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Union

import torch

from ..errors import ModelError
from .driving_vla import DrivingVLA

FORMAT = "fastdrive-driving-vla"
FORMAT_VERSION = 1


class PlannerCheckpointError(ModelError, RuntimeError):
    """A planner checkpoint is missing, unreadable or not a FastDrive driving-VLA file."""


def export_driving_vla(model: DrivingVLA, path: Union[str, os.PathLike], meta: Optional[Dict[str, Any]] = None,
                       half: bool = True) -> int:
    """Write ``model`` to ``path`` atomically; returns the file size in bytes.

    Args:
        model: the trained model.
        path: output file (``.pth``).
        meta: JSON-like provenance (config name, metrics, command).
        half: store floating tensors as float16 (halves the size; the
            loader casts back to float32).
    """
    state = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().clone()
             for k, v in model.state_dict().items()}
    blob = dict(format=FORMAT, format_version=FORMAT_VERSION, init_kwargs=model.init_kwargs,
                state_dict=state, meta=dict(meta or {}))
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return os.path.getsize(path)


def read_driving_vla_file(path: Union[str, os.PathLike]) -> Dict[str, Any]:
    """The checked contents of an exported file (``weights_only=True``)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PlannerCheckpointError(f"planner checkpoint not found: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, or a pickle with arbitrary objects
        raise PlannerCheckpointError(f"cannot read planner checkpoint {path}: {exc}") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise PlannerCheckpointError(
            f"{path} is not a FastDrive driving-VLA file (export one with python -m fastdrive.tools.export_planner)")
    if int(blob.get("format_version", 0)) > FORMAT_VERSION:
        raise PlannerCheckpointError(f"{path} has format version {blob['format_version']}; this FastDrive reads "
                                     f"up to {FORMAT_VERSION}")
    return blob


def load_driving_vla(path: Union[str, os.PathLike], device: Union[str, torch.device] = "cpu") -> DrivingVLA:
    """Rebuild the model of an exported file, float32, in eval mode."""
    blob = read_driving_vla_file(path)
    try:
        model = DrivingVLA(**blob["init_kwargs"])
        missing, unexpected = model.load_state_dict({k: v.float() if v.is_floating_point() else v
                                                     for k, v in blob["state_dict"].items()}, strict=False)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise PlannerCheckpointError(f"{os.fspath(path)} does not fit DrivingVLA: {exc}") from None
    if missing or unexpected:
        raise PlannerCheckpointError(
            f"{os.fspath(path)} does not fit DrivingVLA: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.meta = dict(blob.get("meta", {}))
    return model.to(device).eval()
