"""SAM loading (tiny model saved and loaded by path), checkpoint errors, and SamSegmenter mechanics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pyquaternion import Quaternion

from fastdrive.datasets.nuscenes_fg._geometry import CameraModel
from fastdrive.datasets.nuscenes_fg.compose import compose_mask
from fastdrive.datasets.nuscenes_fg.prompts import ImagePrompts, ObjectPrompt
from fastdrive.datasets.nuscenes_fg.sam_models import (
    SamCheckpointError,
    build_sam_from_config,
    infer_sam_config,
    load_sam,
    preset_config,
    tiny_sam_config,
)
from fastdrive.datasets.nuscenes_fg.segmenters import BoxSegmenter, SamSegmenter, build_segmenter


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = build_sam_from_config(tiny_sam_config())
    path = tmp_path_factory.mktemp("sam") / "tiny_sam.pth"
    torch.save(model.state_dict(), path)
    return path, model


def test_tiny_sam_round_trips_through_a_checkpoint(tiny_ckpt):
    path, model = tiny_ckpt
    loaded = load_sam(str(path), "auto")
    assert sum(p.numel() for p in loaded.parameters()) < 200_000
    ref = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ref[k]), k
    assert infer_sam_config(ref) == tiny_sam_config()


@pytest.mark.parametrize("name", ["vit_b", "vit_l", "vit_h"])
def test_released_architectures_are_recognised(name):
    with torch.device("meta"):  # shapes only, no memory
        sd = build_sam_from_config(preset_config(name)).state_dict()
    assert infer_sam_config(sd) == preset_config(name)


def test_size_mismatch_gives_a_clear_error(tiny_ckpt):
    path, _ = tiny_ckpt
    with pytest.raises(SamCheckpointError) as err:
        load_sam(str(path), "vit_b")
    msg = str(err.value)
    assert "does not match --sam-model vit_b" in msg
    assert "embed_dim=32" in msg and "embed_dim=768" in msg
    assert "\n" not in msg


def test_missing_corrupt_and_foreign_checkpoints(tmp_path, tiny_ckpt):
    with pytest.raises(SamCheckpointError, match="not found"):
        load_sam(str(tmp_path / "nope.pth"), "vit_h")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"this is no checkpoint")
    with pytest.raises(SamCheckpointError, match="not a readable PyTorch state dict"):
        load_sam(str(bad), "vit_h")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(tiny_ckpt[0].read_bytes()[:5000])
    with pytest.raises(SamCheckpointError, match="not a readable"):
        load_sam(str(truncated), "auto")
    foreign = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3)}, foreign)
    with pytest.raises(SamCheckpointError, match="not a segment-anything SAM"):
        load_sam(str(foreign), "auto")
    with pytest.raises(SamCheckpointError, match="needs --sam-checkpoint"):
        build_segmenter("sam", None)


def prompts_with(boxes, width=80, height=48):
    cam = CameraModel(np.eye(3), width, height, np.zeros(3), Quaternion(), np.zeros(3), Quaternion())
    objs = [
        ObjectPrompt(
            cid,
            np.array([[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]]),
            np.array(b),
            depth,
            "annotation",
            f"t{i}",
            "vehicle.car",
        )
        for i, (cid, b, depth) in enumerate(boxes)
    ]
    return ImagePrompts("sd", "s", "CAM_FRONT", "samples/CAM_FRONT/x.jpg", width, height, cam, objs)


def test_sam_segmenter_batches_boxes_and_crops_masks_to_them(tiny_ckpt):
    path, _ = tiny_ckpt
    seg = build_segmenter("sam", str(path), "auto", "cpu")
    assert isinstance(seg, SamSegmenter) and seg.needs_image
    seg.batch_size = 2  # 3 boxes -> two predict_torch calls
    calls = []
    original = seg.predictor.predict_torch

    def counting(*args, **kwargs):
        calls.append(kwargs["boxes"].shape[0])
        return original(*args, **kwargs)

    seg.predictor.predict_torch = counting
    image = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    p = prompts_with(
        [
            (2, (5.2, 4.0, 30.7, 20.0), 10.0),
            (3, (20.0, 10.0, 60.0, 40.0), 5.0),
            (5, (70.0, 30.0, 79.9, 47.5), 7.0),
        ]
    )
    masks = seg.segment(image, p)
    assert calls == [2, 1]
    assert [m.origin for m in masks] == [(5, 4), (20, 10), (70, 30)]
    assert [m.mask.shape for m in masks] == [(16, 26), (30, 40), (18, 10)]
    assert all(m.mask.dtype == bool for m in masks)
    assert [m.class_id for m in masks] == [2, 3, 5]
    out = compose_mask(48, 80, masks)
    assert out.shape == (48, 80)
    assert set(np.unique(out)) <= {0, 2, 3, 5}
    assert not out[:4].any() and not out[:, :5].any()  # nothing outside the prompt boxes
    assert seg.segment(image, prompts_with([])) == []
    with pytest.raises(ValueError, match="calibration"):
        seg.segment(image[:40], p)


def test_box_segmenter_needs_no_image():
    seg = BoxSegmenter()
    masks = seg.segment(None, prompts_with([(2, (1.0, 1.0, 10.0, 10.0), 3.0)]))
    assert len(masks) == 1 and masks[0].polygon.shape == (4, 2) and not seg.needs_image
