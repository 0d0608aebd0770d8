"""Class config, index format, merging, sharding math, journal and atomic writes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from pyquaternion import Quaternion

from fastdrive.datasets.nuscenes_fg import _io
from fastdrive.datasets.nuscenes_fg._geometry import CameraModel
from fastdrive.datasets.nuscenes_fg.builder import BuildError, shard_slice
from fastdrive.datasets.nuscenes_fg.classes import FGClasses, FGConfigError
from fastdrive.datasets.nuscenes_fg.index import (
    build_index,
    make_entry,
    mask_path_for,
    merge_indices,
    summarize,
)
from fastdrive.datasets.nuscenes_fg.prompts import ImagePrompts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "nuscenes_fg", "fg_classes.py")


@pytest.fixture(scope="module")
def classes() -> FGClasses:
    from mmengine.config import Config

    return FGClasses.from_config(Config.fromfile(CONFIG).to_dict())


def test_config_maps_categories_by_longest_prefix(classes):
    assert classes.names[0] == "background"
    assert classes.category_to_class("vehicle.car") == classes.class_id("vehicle")
    assert classes.category_to_class("vehicle.bus.rigid") == classes.class_id("vehicle")
    assert classes.category_to_class("human.pedestrian.adult") == classes.class_id("human")
    assert classes.category_to_class("movable_object.trafficcone") == classes.class_id("barrier")
    assert classes.category_to_class("movable_object.debris") is None
    assert classes.category_to_class("animal") is None
    assert classes.category_to_class("vehiclex") is None  # prefix means a whole name component
    custom = FGClasses.from_config(
        {
            "classes": [dict(id=0, name="background"), dict(id=1, name="vehicle"), dict(id=2, name="bus")],
            "category_map": {"vehicle": "vehicle", "vehicle.bus": "bus"},
        }
    )
    assert custom.category_to_class("vehicle.bus.bendy") == 2
    assert custom.category_to_class("vehicle.car") == 1
    assert custom.metainfo() == {"classes": ["background", "vehicle", "bus"], "palette": [[0, 0, 0]] * 3}


@pytest.mark.parametrize(
    "cfg,match",
    [
        ({"classes": [dict(id=0, name="background"), dict(id=2, name="x")]}, "without gaps"),
        ({"classes": [dict(id=0, name="road")]}, "background"),
        ({"classes": [dict(id=0, name="background")], "category_map": {"vehicle": "car"}}, "unknown class"),
        ({}, "no 'classes'"),
    ],
)
def test_bad_config_is_rejected(cfg, match):
    with pytest.raises(FGConfigError, match=match):
        FGClasses.from_config(cfg)


def fake_prompts(i: int) -> ImagePrompts:
    cam = CameraModel(
        np.eye(3),
        8,
        4,
        np.array([1.0, 2, 0]),
        Quaternion(axis=[0, 0, 1], angle=0.3),
        np.array([1.5, 0, 1.6]),
        Quaternion(),
    )
    return ImagePrompts(
        f"sd{i}", f"s{i}", "CAM_FRONT", f"samples/CAM_FRONT/img{i}.jpg", 8, 4, cam, timestamp=i
    )


def test_entry_records_paths_calibration_and_fg_share():
    e = make_entry(7, fake_prompts(7), [24, 6, 2])
    assert e["img_path"] == "samples/CAM_FRONT/img7.jpg"
    assert e["mask_path"] == "samples/CAM_FRONT/img7.png" == mask_path_for(e["img_path"])
    assert e["fg_share"] == pytest.approx(8 / 32)
    assert np.allclose(np.array(e["ego2global"])[:3, 3], [1, 2, 0])
    assert np.allclose(
        np.array(e["ego2global"])[:3, :3], Quaternion(axis=[0, 0, 1], angle=0.3).rotation_matrix
    )
    assert np.allclose(np.array(e["cam2ego"])[:3, 3], [1.5, 0, 1.6])
    assert e["cam2img"] == np.eye(3).tolist()
    json.dumps(e)  # plain JSON types only


def test_merge_of_shards_equals_single_index():
    meta = {"classes": ["background", "road"], "num_shards": 1, "shard_id": 0}
    entries = [make_entry(i, fake_prompts(i), [30 - i, 2 + i]) for i in range(10)]
    single = build_index(meta, reversed(entries))
    assert [e["idx"] for e in single["data_list"]] == list(range(10))
    shards = [build_index(dict(meta, num_shards=3, shard_id=k), shard_slice(entries, 3, k)) for k in range(3)]
    assert merge_indices(shards[::-1]) == single
    with pytest.raises(ValueError, match="more than one shard"):
        merge_indices([shards[0], shards[0]])
    other = build_index(dict(meta, classes=["background", "lane"], num_shards=3, shard_id=1), [])
    with pytest.raises(ValueError, match="classes"):
        merge_indices([shards[0], other])


@pytest.mark.parametrize("n,num_shards", [(10, 3), (7, 1), (2, 4)])
def test_shards_partition_the_items(n, num_shards):
    items = list(range(n))
    parts = [shard_slice(items, num_shards, k) for k in range(num_shards)]
    assert sorted(x for p in parts for x in p) == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_bad_shard_ids():
    with pytest.raises(BuildError):
        shard_slice([1, 2], 2, 2)
    with pytest.raises(BuildError):
        shard_slice([1, 2], 0, 0)


def test_summary_counts_classes_and_empty_images():
    entries = [make_entry(0, fake_prompts(0), [32, 0, 0]), make_entry(1, fake_prompts(1), [16, 8, 8])]
    s = summarize(
        entries, [{"idx": 3, "img_path": "x.jpg", "reason": "image not found"}], ["background", "a", "b"]
    )
    assert s["images"] == 2 and s["failures"] == 1
    assert s["images_without_foreground"] == 1
    assert s["class_pixel_share"] == {"background": 0.75, "a": 0.125, "b": 0.125}
    assert s["failure_list"][0]["reason"] == "image not found"


def test_journal_skips_a_torn_line_and_rewrites_cleanly(tmp_path):
    path = str(tmp_path / "journal.jsonl")
    j = _io.Journal(path, {"run": 1}, [])
    j.append({"ok": {"idx": 0}})
    j.append({"fail": {"idx": 1, "reason": "x"}})
    j.close()
    with open(path, "a") as f:
        f.write('{"ok": {"idx": 2')  # killed mid-write
    header, recs = _io.read_journal(path)
    assert header == {"run": 1}
    assert recs == [{"ok": {"idx": 0}}, {"fail": {"idx": 1, "reason": "x"}}]
    j = _io.Journal(path, header, recs[:1])
    j.append({"ok": {"idx": 2}})
    j.close()
    assert _io.read_journal(path)[1] == [{"ok": {"idx": 0}}, {"ok": {"idx": 2}}]
    assert _io.read_journal(str(tmp_path / "missing.jsonl")) == (None, [])


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "a" / "b.json"
    _io.atomic_write_json(str(target), {"x": [1, 2]}, tmp_dir=str(tmp_path))
    _io.atomic_write_json(str(target), {"x": [3]}, tmp_dir=str(tmp_path))
    assert _io.read_json(str(target)) == {"x": [3]}
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_index_loads_as_mmengine_dataset(tmp_path, classes):
    from fastdrive.datasets.nuscenes_fg import NuScenesFGDataset
    from fastdrive.registry import DATASETS

    meta = dict(classes.metainfo(), nuscenes_dataroot="/data/nuscenes", split="val")
    index = build_index(meta, [make_entry(i, fake_prompts(i), [30, 2, 0, 0, 0, 0]) for i in range(3)])
    ann = tmp_path / "nuscenes_fg_infos_val.json"
    _io.atomic_write_json(str(ann), index)
    ds = DATASETS.build(dict(type="NuScenesFGDataset", ann_file=str(ann)))
    assert isinstance(ds, NuScenesFGDataset)
    assert len(ds) == 3
    assert ds.metainfo["classes"] == list(classes.names)
    assert len(ds.metainfo["palette"]) == classes.num_classes
    item = ds[1]
    assert item["img_path"] == "/data/nuscenes/samples/CAM_FRONT/img1.jpg"
    assert item["mask_path"] == str(tmp_path / "samples/CAM_FRONT/img1.png") == item["seg_map_path"]
    assert item["sample_token"] == "s1"
    ds2 = NuScenesFGDataset(ann_file=str(ann), data_prefix=dict(img_path="/other", mask_path="/masks"))
    assert ds2[0]["img_path"] == "/other/samples/CAM_FRONT/img0.jpg"
    assert ds2[0]["mask_path"] == "/masks/samples/CAM_FRONT/img0.png"
