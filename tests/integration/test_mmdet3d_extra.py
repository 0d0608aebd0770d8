"""The ``mmdet3d`` extra end to end on a generated world (CI: ``.ci/mmdet3d_extra.sh``).

mmdet3d's own nuScenes info converter -> ``build_fg --mmdet3d-infos`` ->
mmdet3d's ``NuScenesDataset`` (six cameras) with ``LoadFGMask`` in its
pipeline. Skipped when mmdet3d (with mmcv's compiled ops) is not importable.
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.integration

try:  # the datasets import mmcv.ops: a plain `import mmdet3d` is not enough
    import mmdet3d.datasets  # noqa: F401
except Exception as exc:  # noqa: BLE001 - any failure means the extra is not usable
    pytest.skip(
        f"mmdet3d extra not importable ({type(exc).__name__}: {exc}); install it with .ci/mmdet3d_extra.sh",
        allow_module_level=True,
    )

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets"))
from nuscenes_fg_world import SAMPLES, SCENES, VERSION, build_cmd, fg_world  # noqa: E402

from data_tools.build_fg import main as build_fg  # noqa: E402
from data_tools.mmdet3d_nuscenes_infos import create_infos  # noqa: E402
from fastdrive.datasets.nuscenes_fg.index import mask_path_for  # noqa: E402

CAMS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")


@pytest.fixture(scope="module")
def pipeline_inputs(tmp_path_factory):
    world = fg_world(tmp_path_factory)
    infos = create_infos(str(world), VERSION, str(tmp_path_factory.mktemp("infos")), max_sweeps=2)
    fg_out = tmp_path_factory.mktemp("fg") / "out"
    assert build_fg(build_cmd(world, fg_out, "--mmdet3d-infos", infos["train"], infos["val"])[3:]) == 0
    return world, infos, fg_out


def test_converter_covers_our_splits(pipeline_inputs):
    _, infos, fg_out = pipeline_inputs
    counts = {}
    for split, path in infos.items():
        with open(path, "rb") as f:
            data = pickle.load(f)
        assert data["metainfo"]["version"] == VERSION and data["metainfo"]["info_version"] == "1.1"
        counts[split] = len(data["data_list"])
        with open(fg_out / (os.path.basename(path)[:-4] + "_fg.pkl"), "rb") as f:
            aug = pickle.load(f)
        for info in aug["data_list"]:
            assert set(info["images"]) == set(CAMS)
            for cam, cam_info in info["images"].items():
                assert cam_info["fg_mask_path"] == mask_path_for(f"samples/{cam}/{cam_info['img_path']}")
                assert (fg_out / cam_info["fg_mask_path"]).is_file()
    assert counts["train"] > 0 and counts["val"] > 0 and sum(counts.values()) == SCENES * SAMPLES


def test_nuscenes_dataset_yields_images_with_masks(pipeline_inputs):
    from mmdet3d.datasets import NuScenesDataset
    from mmdet3d.utils import register_all_modules

    import fastdrive.datasets.transforms  # noqa: F401 - registers LoadFGMask

    register_all_modules(init_default_scope=True)
    world, infos, fg_out = pipeline_inputs
    prefix = dict(pts="samples/LIDAR_TOP", **{cam: f"samples/{cam}" for cam in CAMS})
    ds = NuScenesDataset(
        data_root=str(world),
        ann_file=str(fg_out / "nuscenes_infos_train_fg.pkl"),
        data_prefix=prefix,
        modality=dict(use_camera=True, use_lidar=False),
        pipeline=[
            dict(type="LoadMultiViewImageFromFiles", to_float32=False, num_views=6),
            dict(type="fastdrive.LoadFGMask", mask_root=str(fg_out)),
        ],
        filter_empty_gt=False,
    )
    assert len(ds) > 0
    any_fg = False
    for i in range(len(ds)):
        item = ds[i]
        imgs, masks = item["img"], item["fg_masks"]
        assert len(imgs) == len(masks) == 6
        for img_path, img, mask in zip(item["filename"], imgs, masks):
            assert mask.shape == img.shape[:2] == (360, 640) and mask.dtype == np.uint8
            rel = os.path.relpath(img_path, world)
            expected = np.asarray(Image.open(fg_out / mask_path_for(rel)))
            np.testing.assert_array_equal(mask, expected)  # the mask of this very camera image
            any_fg = any_fg or bool(mask.any())
        assert "gt_bboxes_3d" in item["ann_info"]  # mmdet3d parsed the converter's boxes
    assert any_fg
