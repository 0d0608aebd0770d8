"""mmdet3d info augmentation (``--mmdet3d-infos``) and ``LoadFGMask`` without mmdet3d installed."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from data_tools.build_fg import main
from fastdrive.datasets.nuscenes_fg.mmdet3d_infos import InfoFormatError, add_fg_mask_paths
from fastdrive.datasets.transforms import LoadFGMask
from fastdrive.registry import TRANSFORMS

CAMS = ("CAM_FRONT", "CAM_BACK")


def _info(sample: int) -> dict:
    """One mmdet3d 1.x data_list entry with two cameras (file names as update_infos_to_v2 writes)."""
    return {
        "token": f"s{sample}",
        "images": {
            cam: {
                "img_path": f"n000__{cam}__{sample}.jpg",
                "sample_data_token": f"sd-{cam}-{sample}",
                "cam2img": [],
            }
            for cam in CAMS
        },
    }


def _entry(cam: str, sample: int, token: bool = True) -> dict:
    img = f"samples/{cam}/n000__{cam}__{sample}.jpg"
    return {
        "camera": cam,
        "img_path": img,
        "mask_path": img[:-4] + ".png",
        "sample_data_token": f"sd-{cam}-{sample}" if token else "",
    }


@pytest.fixture()
def fg_out(tmp_path):
    """An FG output dir with masks for samples 0 and 1 (sample 1's CAM_BACK missing), distinct content."""
    out = tmp_path / "fg"
    entries = []
    rng = np.random.default_rng(0)
    for sample in (0, 1):
        for cam in CAMS:
            if (sample, cam) == (1, "CAM_BACK"):
                continue
            e = _entry(cam, sample)
            entries.append(e)
            path = out / e["mask_path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 4, size=(6, 8), dtype=np.uint8)).save(path)
    (out / "nuscenes_fg_infos_train.json").write_text(json.dumps({"metainfo": {}, "data_list": entries}))
    return out, entries


def test_add_fg_mask_paths_matches_by_token_then_name(fg_out):
    _, entries = fg_out
    infos = {"metainfo": {"version": "v"}, "data_list": [_info(0), _info(1)]}
    # sample 0 CAM_FRONT only by name: its index entry has no token
    front0 = _entry("CAM_FRONT", 0)["img_path"]
    entries = [dict(e, sample_data_token="") if e["img_path"] == front0 else e for e in entries]
    new, report = add_fg_mask_paths(infos, entries)
    assert report == {
        "images": 4,
        "with_mask": 3,
        "missing": 1,
        "missing_examples": ["samples/CAM_BACK/n000__CAM_BACK__1.jpg"],
    }
    imgs = new["data_list"][0]["images"]
    assert imgs["CAM_FRONT"]["fg_mask_path"] == "samples/CAM_FRONT/n000__CAM_FRONT__0.png"
    assert imgs["CAM_BACK"]["fg_mask_path"] == "samples/CAM_BACK/n000__CAM_BACK__0.png"
    assert new["data_list"][1]["images"]["CAM_BACK"]["fg_mask_path"] is None
    assert new["metainfo"] == {"version": "v", "fg_mask_key": "fg_mask_path"}
    assert "fg_mask_path" not in infos["data_list"][0]["images"]["CAM_FRONT"]  # input untouched


def test_token_wins_over_file_name():
    infos = {"data_list": [_info(0)]}
    wrong_name = dict(
        _entry("CAM_FRONT", 0), mask_path="elsewhere.png", img_path="samples/CAM_FRONT/other.jpg"
    )
    new, _ = add_fg_mask_paths(infos, [wrong_name])
    assert new["data_list"][0]["images"]["CAM_FRONT"]["fg_mask_path"] == "elsewhere.png"


def test_existing_masks_without_index():
    new, report = add_fg_mask_paths(
        {"data_list": [_info(2)]}, existing_masks=["samples/CAM_BACK/n000__CAM_BACK__2.png"]
    )
    assert report["with_mask"] == 1 and report["missing"] == 1
    assert (
        new["data_list"][0]["images"]["CAM_BACK"]["fg_mask_path"] == "samples/CAM_BACK/n000__CAM_BACK__2.png"
    )


@pytest.mark.parametrize("bad", [{"infos": []}, [], {"data_list": [{"token": "x"}]}])
def test_old_or_foreign_infos_are_refused(bad):
    with pytest.raises(InfoFormatError):
        add_fg_mask_paths(bad, [])


def test_load_fg_mask_multiview_order_binary_and_missing(fg_out):
    out, _ = fg_out
    infos, _ = add_fg_mask_paths({"data_list": [_info(0), _info(1)]}, fg_out[1])
    sample0 = infos["data_list"][0]
    t = TRANSFORMS.build(dict(type="LoadFGMask", mask_root=str(out), cameras=["CAM_BACK", "CAM_FRONT"]))
    res = t({"images": sample0["images"]})
    expect = [
        np.asarray(Image.open(out / sample0["images"][c]["fg_mask_path"])) for c in ("CAM_BACK", "CAM_FRONT")
    ]
    assert [m.shape for m in res["fg_masks"]] == [(6, 8), (6, 8)] == res["fg_mask_shapes"]
    for got, want in zip(res["fg_masks"], expect):
        np.testing.assert_array_equal(got, want)
    binary = LoadFGMask(mask_root=str(out), binary=True)({"images": sample0["images"]})
    np.testing.assert_array_equal(binary["fg_masks"][0], (expect[1] > 0).astype(np.uint8))  # CAM_FRONT first
    sample1 = {"images": infos["data_list"][1]["images"], "img": [np.zeros((6, 8, 3)), np.zeros((6, 8, 3))]}
    with pytest.raises(FileNotFoundError, match="CAM_BACK"):
        LoadFGMask(mask_root=str(out))(dict(sample1))
    zeros = LoadFGMask(mask_root=str(out), missing="zeros")(dict(sample1))
    assert zeros["fg_masks"][1].shape == (6, 8) and not zeros["fg_masks"][1].any()
    assert zeros["fg_masks"][0].any()


def test_cli_writes_augmented_pkl(fg_out, tmp_path):
    out, _ = fg_out
    pkl = tmp_path / "nuscenes_infos_train.pkl"
    pkl.write_bytes(pickle.dumps({"metainfo": {"dataset": "nuscenes"}, "data_list": [_info(0), _info(1)]}))
    assert main(["--out", str(out), "--mmdet3d-infos", str(pkl)]) == 0
    new = pickle.loads((out / "nuscenes_infos_train_fg.pkl").read_bytes())
    assert (
        new["data_list"][1]["images"]["CAM_FRONT"]["fg_mask_path"]
        == "samples/CAM_FRONT/n000__CAM_FRONT__1.png"
    )
    unrelated = tmp_path / "other.pkl"
    unrelated.write_bytes(pickle.dumps({"data_list": [_info(7)]}))
    assert main(["--out", str(out), "--mmdet3d-infos", str(unrelated)]) == 2  # no image has a mask
    assert main(["--out", str(tmp_path / "empty"), "--mmdet3d-infos", str(pkl)]) == 2  # no FG index


def test_load_fg_mask_single_view(fg_out):
    out, entries = fg_out
    path = out / entries[0]["mask_path"]
    res = LoadFGMask()({"mask_path": str(path), "img_path": "x.jpg"})  # absolute path, no mask_root
    np.testing.assert_array_equal(res["fg_masks"][0], np.asarray(Image.open(path)))
    with pytest.raises(KeyError):
        LoadFGMask()({"img_path": "x.jpg"})
