"""ReconFGDataset: resizing like the planner, binary foreground shares, the prepared-input cache, tokens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fastdrive.datasets import ReconFGDataset
from fastdrive.datasets.nuscenes_fg import recon_dataset
from fastdrive.datasets.nuscenes_fg.recon_dataset import prepare_image, prepare_mask
from recon_fg_files import recon_fg_world

W, H = 112, 56  # the model input; files are 4x larger


def test_prepare_image_matches_the_planner_resize(tmp_path):
    from fastdrive.models import DrivingVLA

    rgb = (np.random.default_rng(0).random((200, 300, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = prepare_image(str(tmp_path / "a.png"), (112, 84))
    ref = DrivingVLA.resize_images(type("M", (), {"image_size": (112, 84)})(),
                                   torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)
    assert out.shape == (3, 84, 112) and out.dtype == torch.uint8
    assert (out.float() - ref[0] * 255).abs().max() <= 0.5 + 1e-4


def test_prepare_mask_gives_area_shares_and_class_filter(tmp_path):
    ids = np.zeros((4, 8), dtype=np.uint8)
    ids[:, :3] = 2  # 3 of each 4-pixel-wide output column's pixels on the left
    Image.fromarray(ids).save(tmp_path / "m.png")
    share = prepare_mask(str(tmp_path / "m.png"), (2, 1))
    assert share.tolist() == [[[191, 0]]]  # 3/4 of the left cell, rounded
    assert prepare_mask(str(tmp_path / "m.png"), (2, 1), fg_classes=[1]).tolist() == [[[0, 0]]]


def test_items_cache_and_tokens(tmp_path, monkeypatch):
    ann = recon_fg_world(tmp_path)
    cache = tmp_path / "cache"
    ds = ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False)
    item = ds[1]
    assert item["img"].shape == (3, H, W) and item["fg"].shape == (1, H, W)
    assert item["meta"]["sample_data_token"] == "sd1" and "tokens" not in item
    # left half class 2 and top-right class 1: everything is foreground but the bottom-right quarter
    assert int(item["fg"][0, 0, 0]) == 255 and int(item["fg"][0, -1, -1]) == 0
    assert int(item["img"][0, 5, 5]) == pytest.approx(40, abs=2)
    assert sorted(f.name.split(".", 1)[1] for f in cache.iterdir()) == ["fg.u8", "img.u8"]
    # a second dataset reads the cache instead of the files
    monkeypatch.setattr(recon_dataset, "prepare_image", lambda *a: (_ for _ in ()).throw(AssertionError("read")))
    again = ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False)
    assert torch.equal(again[2]["img"], ds[2]["img"])
    # another size is another cache entry
    assert ReconFGDataset(ann_file=ann, image_size=(56, 28), cache_dir=str(cache)).cache_key() != ds.cache_key()
    with pytest.raises(ValueError, match="2 cached token rows for 3 items"):
        ds.set_tokens(torch.zeros(2, 8, 4))
    ds.set_tokens(torch.arange(3.0)[:, None, None].expand(3, 8, 4))
    assert torch.equal(ds[2]["tokens"], torch.full((8, 4), 2.0))


def test_mask_root_override_reads_another_mask_set(tmp_path):
    ann = recon_fg_world(tmp_path, n=1)
    other = tmp_path / "gt" / "samples" / "CAM_FRONT"
    other.mkdir(parents=True)
    Image.fromarray(np.zeros((224, 448), dtype=np.uint8)).save(other / "img0.png")
    ds = ReconFGDataset(ann_file=ann, image_size=(W, H), data_prefix=dict(mask_path=str(tmp_path / "gt")))
    assert int(ds[0]["fg"].max()) == 0


def test_interrupted_preparation_resumes_where_it_stopped(tmp_path, monkeypatch):
    ann = recon_fg_world(tmp_path)
    cache = tmp_path / "cache"
    reference = ReconFGDataset(ann_file=ann, image_size=(W, H), progress=False).prepared()
    calls = []
    real = recon_dataset.prepare_image

    def fails_on_third(path, size):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path, size)

    monkeypatch.setattr(recon_dataset, "prepare_image", fails_on_third)
    monkeypatch.setattr(ReconFGDataset, "progress_every", 1)  # record the count after every item
    with pytest.raises(KeyboardInterrupt):  # killed while preparing the third item
        ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False).prepared()
    assert not list(cache.glob("*.img.u8")) and list(cache.glob("*.img.u8.partial"))
    calls.clear()
    again = ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False).prepared()
    assert len(calls) == 1  # only the item that was not done
    assert torch.equal(again["img"], reference["img"]) and torch.equal(again["fg"], reference["fg"])
    assert sorted(f.name.split(".", 1)[1] for f in cache.iterdir()) == ["fg.u8", "img.u8"]


def test_a_truncated_cache_file_is_a_clear_error(tmp_path):
    ann = recon_fg_world(tmp_path)
    cache = tmp_path / "cache"
    ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False).prepared()
    img = next(cache.glob("*.img.u8"))
    img.write_bytes(img.read_bytes()[:100])
    with pytest.raises(ValueError, match="delete it to rebuild"):
        ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False).prepared()


def test_cached_inputs_are_read_only_maps(tmp_path):
    ann = recon_fg_world(tmp_path)
    cache = tmp_path / "cache"
    first = ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False).prepared()
    first["img"][2].zero_()  # a private copy-on-write page: the file keeps its bytes
    again = ReconFGDataset(ann_file=ann, image_size=(W, H), cache_dir=str(cache), progress=False).prepared()
    assert int(again["img"][2].max()) == 80
