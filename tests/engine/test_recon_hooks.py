"""The frozen-token cache hook and the training picture."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from recon_fg_files import recon_fg_world
from tiny_vla import tiny_vlm

from fastdrive.datasets import ReconFGDataset
from fastdrive.engine import ReconFeatureCacheHook
from fastdrive.evaluation.recon_panel import recon_panel
from fastdrive.models import DrivingVLA, ReconPrunerTrainer
from fastdrive.models.driving_vla_io import export_driving_vla


@pytest.fixture()
def model(tmp_path) -> ReconPrunerTrainer:
    path = tmp_path / "host.pth"
    export_driving_vla(DrivingVLA(vlm=tiny_vlm(), image_size=(112, 56)), path, half=False)
    return ReconPrunerTrainer(host=dict(kind="embedded", path=str(path)), decoder_depth=1)


def test_cache_hook_encodes_once_and_reuses_the_file(tmp_path, model):
    ann = recon_fg_world(tmp_path)
    ds = ReconFGDataset(ann_file=ann, image_size=(112, 56), cache_dir=str(tmp_path / "c"), progress=False)
    hook = ReconFeatureCacheHook(batch_size=2, progress=False)
    hook.attach(model, ds)
    files = list((tmp_path / "c").glob("recon-tokens-*.pt"))
    assert len(files) == 1 and ds.tokens.shape == (3, 8, 32) and ds.tokens.dtype == torch.float16
    expect = model.host.encode(ds.prepared()["img"].float() / 255)
    assert torch.allclose(ds.tokens.float(), expect, atol=2e-2 * float(expect.abs().max()))
    # a fresh dataset loads the file: the host is not run again
    fresh = ReconFGDataset(ann_file=ann, image_size=(112, 56), cache_dir=str(tmp_path / "c"), progress=False)
    model.host.encode = lambda *a: (_ for _ in ()).throw(AssertionError("encoded again"))
    hook.attach(model, fresh)
    assert torch.equal(fresh.tokens, ds.tokens) and "tokens" in fresh[0]
    # datasets without a cache_dir are left alone
    plain = ReconFGDataset(ann_file=ann, image_size=(112, 56))
    hook.attach(model, plain)
    assert plain.tokens is None


def test_cache_hook_caches_every_world_of_a_concat_dataset(tmp_path, model):
    from mmengine.dataset import ConcatDataset

    parts = []
    for name in ("a", "b"):
        ann = recon_fg_world(tmp_path / name)
        parts.append(ReconFGDataset(ann_file=ann, image_size=(112, 56), cache_dir=str(tmp_path / name / "c"),
                                    progress=False))
    both = ConcatDataset(parts, ignore_keys=["nuscenes_dataroot"])  # each world names its own dataroot
    ReconFeatureCacheHook(batch_size=2, progress=False).attach(model, both)
    for name, part in zip(("a", "b"), parts):
        assert part.tokens is not None and part.tokens.shape == (3, 8, 32)
        assert len(list((tmp_path / name / "c").glob("recon-tokens-*.pt"))) == 1
    assert "tokens" in both[4]  # an item of the second world


def test_host_fingerprint_keys_weights_size_and_dtype(tmp_path, model):
    from fastdrive.models.recon_host import ReconHost

    path = model.host.path
    base = ReconHost(path=path).fingerprint()
    assert base == model.host.fingerprint()
    assert ReconHost(path=path, dtype="bfloat16").fingerprint() != base
    assert ReconHost(path=path, image_size=(56, 56)).fingerprint() != base
    other = tmp_path / "other.pth"
    export_driving_vla(DrivingVLA(vlm=tiny_vlm(), image_size=(112, 56), seed=3), other, half=False)
    assert ReconHost(path=str(other)).fingerprint() != base


def test_recon_panel_layout():
    img = torch.zeros(3, 56, 112, dtype=torch.uint8)
    scores = torch.tensor([1.0, -1.0] * 4)
    panel = recon_panel(img, scores, (2, 4), 0.5, [torch.ones(3, 28, 56), None])
    assert panel.shape == (56, 112 * 4, 3) and panel.dtype == np.uint8
    assert panel[:, -112:].min() == 255  # the reconstruction, upsampled
