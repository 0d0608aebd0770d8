"""Segmenters: turn an image's prompts into per-object masks.

* :class:`BoxSegmenter` fills each object's clipped projected hull; needs no
  image and no weights.
* :class:`SamSegmenter` runs segment-anything's ``SamPredictor``: one
  ``set_image`` per image, then all of that image's box prompts batched
  through ``predict_torch``; under fp16 autocast on CUDA. Each mask is
  clipped to its prompt box.

The road is not segmented here: both modes take it from the HD map (see
``prompts.py``), which is exact where a box prompt around a whole road is not.
"""

from __future__ import annotations

import contextlib
from typing import List, Optional, Protocol, Sequence

import numpy as np
import torch

from .compose import ObjectMask
from .prompts import ImagePrompts


class Segmenter(Protocol):
    """What the builder needs from a segmenter."""

    name: str
    needs_image: bool

    def segment(self, image: Optional[np.ndarray], prompts: ImagePrompts) -> List[ObjectMask]:
        """Masks for ``prompts.objects`` (same order); ``image`` is ``(H, W, 3)`` uint8 RGB or None."""
        ...


class BoxSegmenter:
    """Fills the projected, clipped 3D-box hulls (no weights, no image)."""

    name = "box"
    needs_image = False

    def segment(self, image: Optional[np.ndarray], prompts: ImagePrompts) -> List[ObjectMask]:
        """One polygon :class:`ObjectMask` per object prompt."""
        return [ObjectMask(p.class_id, p.depth, polygon=p.polygon) for p in prompts.objects]


def _box_window(box: np.ndarray, width: int, height: int) -> tuple:
    """Integer pixel window ``(x0, y0, x1, y1)`` covering a float box, inside the image."""
    x0 = int(np.clip(np.floor(box[0]), 0, width))
    y0 = int(np.clip(np.floor(box[1]), 0, height))
    x1 = int(np.clip(np.ceil(box[2]), 0, width))
    y1 = int(np.clip(np.ceil(box[3]), 0, height))
    return x0, y0, x1, y1


class SamSegmenter:
    """segment-anything with box prompts.

    Args:
        model: a ``segment_anything.modeling.Sam`` (see ``sam_models.load_sam``).
        device: ``'cpu'`` or ``'cuda'`` (fp16 autocast on CUDA).
        batch_size: boxes per ``predict_torch`` call (bounds GPU memory for
            images with many objects).
    """

    name = "sam"
    needs_image = True

    def __init__(self, model, device: str = "cpu", batch_size: int = 64) -> None:
        from segment_anything import SamPredictor

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.predictor = SamPredictor(self.model)
        self.batch_size = int(batch_size)

    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def set_image(self, image: np.ndarray) -> None:
        """Embed one ``(H, W, 3)`` uint8 RGB image (the expensive step)."""
        with self._autocast():
            self.predictor.set_image(image, image_format="RGB")

    @torch.inference_mode()
    def predict_boxes(self, boxes: np.ndarray) -> torch.Tensor:
        """Masks for ``(B, 4)`` xyxy pixel boxes on the current image -> ``(B, H, W)`` bool tensor."""
        h, w = self.predictor.original_size
        out = []
        for start in range(0, len(boxes), self.batch_size):
            chunk = torch.as_tensor(
                np.asarray(boxes[start : start + self.batch_size], dtype=np.float32), device=self.device
            )
            chunk = self.predictor.transform.apply_boxes_torch(chunk, (h, w))
            with self._autocast():
                masks, _, _ = self.predictor.predict_torch(None, None, boxes=chunk, multimask_output=False)
            out.append(masks[:, 0])
        if not out:
            return torch.zeros((0, h, w), dtype=torch.bool)
        return torch.cat(out)

    def segment(self, image: Optional[np.ndarray], prompts: ImagePrompts) -> List[ObjectMask]:
        """One bitmap :class:`ObjectMask` per object prompt, cropped to its prompt box."""
        if image is None:
            raise ValueError("SamSegmenter needs the image")
        if image.shape[:2] != (prompts.height, prompts.width):
            raise ValueError(
                f"image is {image.shape[1]}x{image.shape[0]}, calibration says "
                f"{prompts.width}x{prompts.height}"
            )
        if not prompts.objects:
            return []
        self.set_image(image)
        boxes = np.stack([p.box for p in prompts.objects])
        masks = self.predict_boxes(boxes)
        out: List[ObjectMask] = []
        for p, m in zip(prompts.objects, masks):
            x0, y0, x1, y1 = _box_window(p.box, prompts.width, prompts.height)
            crop = m[y0:y1, x0:x1].cpu().numpy().astype(bool)
            out.append(ObjectMask(p.class_id, p.depth, mask=crop, origin=(x0, y0)))
        self.predictor.reset_image()
        return out


def build_segmenter(
    name: str, checkpoint: Optional[str] = None, model_type: str = "auto", device: str = "cpu"
) -> Segmenter:
    """``'box'`` or ``'sam'`` (then ``checkpoint`` is required; see ``sam_models.load_sam``)."""
    if name == "box":
        return BoxSegmenter()
    if name == "sam":
        from .sam_models import SamCheckpointError, load_sam

        if not checkpoint:
            raise SamCheckpointError("--segmenter sam needs --sam-checkpoint PATH")
        return SamSegmenter(load_sam(checkpoint, model_type, device), device=device)
    raise ValueError(f"unknown segmenter {name!r}; choose 'box' or 'sam'")


def segmenter_names() -> Sequence[str]:
    """Names accepted by :func:`build_segmenter`."""
    return ("sam", "box")
