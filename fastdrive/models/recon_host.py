"""The frozen host of ReconPruner training: a VLA's vision tower and merger.

ReconPruner scores the visual tokens a host Qwen2.5-VL hands its LLM (the
merger output). Training needs those tokens and nothing of the LLM except,
optionally, one decoder layer to initialise the pruner layer from. Two hosts:

* ``kind='embedded'``: FastDrive's embedded driving VLA, loaded from its
  exported file (default: the checkpoint shipped with FastDrive);
* ``kind='qwen25vl'``: a Qwen2.5-VL / Impromptu-VLA checkpoint directory
  (``save_pretrained`` layout), loaded with transformers.

Images are turned into patches exactly as the host's planner does
(:func:`~fastdrive.vla.image_patches.images_to_patches`: CLIP
normalisation, 14 px patches, 2x2 merge), at ``image_size``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from ..vla.image_patches import images_to_patches
from ..vla.pruner_sizing import host_pruner_kwargs


class ReconHost(nn.Module):
    """Frozen vision tower + merger of a host Qwen2.5-VL.

    Args:
        kind: 'embedded' or 'qwen25vl'.
        path: the exported driving-VLA file (embedded; None: the shipped one)
            or the checkpoint directory (qwen25vl).
        image_size: ``(width, height)`` fed to the vision tower, multiples of
            28; default: the embedded planner's own input size (required for
            'qwen25vl').
        dtype: 'float32', 'bfloat16' or 'float16' for the tower's weights.
        keep_layer: index of the LLM decoder layer whose weights are kept
            (:meth:`layer_state`, to initialise the pruner layer); the rest of
            the LLM is dropped after loading.
    """

    DTYPES = ("float32", "bfloat16", "float16")

    def __init__(self, kind: str = "embedded", path: Optional[str] = None,
                 image_size: Optional[Tuple[int, int]] = None, dtype: str = "float32",
                 keep_layer: Optional[int] = None) -> None:
        super().__init__()
        if dtype not in self.DTYPES:
            raise ValueError(f"host dtype must be one of {self.DTYPES}, got {dtype!r}")
        self.dtype_name = dtype
        torch_dtype = getattr(torch, dtype)
        if kind == "embedded":
            from ..planner.embedded import DEFAULT_CHECKPOINT
            from .driving_vla_io import load_driving_vla

            path = path or DEFAULT_CHECKPOINT
            vla = load_driving_vla(path)
            vlm = vla.vlm
            size = tuple(image_size or vla.image_size)
        elif kind == "qwen25vl":
            if not path or not os.path.isdir(path):
                raise FileNotFoundError(f"Qwen2.5-VL checkpoint directory not found: {path!r}")
            if image_size is None:
                raise ValueError("image_size is required for a qwen25vl host")
            from transformers import Qwen2_5_VLForConditionalGeneration

            vlm = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch_dtype)
            size = tuple(image_size)
        else:
            raise ValueError(f"host kind must be 'embedded' or 'qwen25vl', got {kind!r}")
        self.kind, self.path = kind, os.path.abspath(path)
        self.config = vlm.config
        vcfg = self.config.vision_config
        unit = vcfg.patch_size * vcfg.spatial_merge_size
        if size[0] % unit or size[1] % unit:
            raise ValueError(f"image_size {size} must be multiples of {unit}")
        self.image_size: Tuple[int, int] = (int(size[0]), int(size[1]))
        self.unit = unit
        self.grid_hw: Tuple[int, int] = (self.image_size[1] // unit, self.image_size[0] // unit)
        self.visual = vlm.model.visual.to(torch_dtype)
        layers = vlm.model.language_model.layers
        self.num_llm_layers = len(layers)
        self._layer: Dict[int, Dict[str, torch.Tensor]] = {}
        if keep_layer is not None:
            if not -len(layers) <= keep_layer < len(layers):
                raise ValueError(f"init_layer {keep_layer} is outside the host's {len(layers)} LLM layers")
            self._layer[int(keep_layer)] = {k: v.detach().float().clone()
                                            for k, v in layers[keep_layer].state_dict().items()}
        del vlm  # the LLM is not needed: only the vision tower (and that one layer's weights) stay
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "ReconHost":
        """The host stays frozen in eval mode whatever the trainer asks."""
        return super().train(False)

    @property
    def num_tokens(self) -> int:
        """``N`` visual tokens per image."""
        return self.grid_hw[0] * self.grid_hw[1]

    @property
    def hidden_size(self) -> int:
        """``D`` of the tokens (the LLM width)."""
        return int(self.config.text_config.hidden_size)

    def pruner_kwargs(self) -> Dict[str, Any]:
        """ReconPruner constructor arguments that fit this host's LLM."""
        return host_pruner_kwargs("recon", self.config)

    def layer_state(self, index: int) -> Dict[str, torch.Tensor]:
        """State dict (float32 copy) of LLM decoder layer ``index``, kept at load time (``keep_layer``)."""
        if int(index) not in self._layer:
            raise ValueError(f"LLM layer {index} was not kept when the host was loaded (keep_layer)")
        return {k: v.clone() for k, v in self._layer[int(index)].items()}

    def fingerprint(self) -> str:
        """Short hash of the host's weights and input size (keys the feature cache)."""
        h = hashlib.sha1(f"{self.kind}|{self.image_size}|{self.dtype_name}".encode())
        files = [self.path] if os.path.isfile(self.path) else sorted(
            os.path.join(self.path, f) for f in os.listdir(self.path) if f.endswith((".safetensors", ".bin")))
        for f in files:  # name, size and the first and last MiB: content-keyed, cheap for 7 GB shards
            size = os.path.getsize(f)
            h.update(f"{os.path.basename(f)}|{size}".encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                fh.seek(max(0, size - (1 << 20)))
                h.update(fh.read(1 << 20))
        return h.hexdigest()[:12]

    @torch.no_grad()
    def encode(self, imgs: torch.Tensor) -> torch.Tensor:
        """``(B, 3, h, w)`` float images in [0, 1] at ``image_size`` -> tokens ``(B, N, D)`` float32."""
        w, h = self.image_size
        if tuple(imgs.shape[-2:]) != (h, w):
            raise ValueError(f"images must be {w}x{h}, got {tuple(imgs.shape[-2:])[::-1]}")
        vcfg = self.config.vision_config
        dtype = next(self.visual.parameters()).dtype
        pixels, grid = images_to_patches(imgs, vcfg.patch_size, vcfg.spatial_merge_size, vcfg.temporal_patch_size)
        out = self.visual(pixels.to(dtype), grid_thw=grid)
        feats = out.pooler_output if hasattr(out, "pooler_output") else out
        return feats.reshape(imgs.shape[0], self.num_tokens, -1).float()
