"""Run mmdet3d's own nuScenes info converter on any nuScenes-format version.

mmdet3d 1.x ships ``tools/create_data.py`` and its converters only inside
the installed package (``mmdet3d/.mim/tools/dataset_converters/``), and
``create_nuscenes_infos`` accepts only ``v1.0-trainval``, ``v1.0-test`` and
``v1.0-mini`` because it takes the split scene names from the devkit. This
tool calls the same converter functions with the scene splits of the
dataroot itself (FastDrive worlds: their ``splits.json``, see
``fastdrive.sim.splits``; real versions: the devkit's lists):

1. ``nuscenes_converter.get_available_scenes`` and ``_fill_trainval_infos``
   with our train / val scene tokens -> the legacy (v1) info dicts;
2. ``update_infos_to_v2.update_nuscenes_infos`` -> mmdet3d 1.x infos
   (``info_version`` 1.1). That function opens ``NuScenes(dataroot=
   './data/nuscenes')``, so it runs in a temporary folder holding
   ``data/nuscenes`` -> DATAROOT (a symlink), exactly the layout
   ``create_data.py`` expects.

Output: ``OUT/<prefix>_infos_train.pkl`` and ``OUT/<prefix>_infos_val.pkl``,
each moved into place only when complete. Example::

    python -m data_tools.mmdet3d_nuscenes_infos --dataroot outputs/world --version v1.0-fastdrive \\
        --out-dir outputs/world
    python -m data_tools.build_fg --out outputs/fg --mmdet3d-infos outputs/world/nuscenes_infos_train.pkl

Needs the ``mmdet3d`` extra (``pip install .[mmdet3d]``, mmcv built with ops).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Optional, Sequence


def converter_module(name: str) -> ModuleType:
    """Load ``<name>.py`` of the installed mmdet3d's ``tools/dataset_converters`` as a module.

    Looks in ``mmdet3d/.mim/tools`` (wheel installs) and in the source
    checkout's ``tools`` (editable installs).
    """
    import mmdet3d

    pkg = Path(mmdet3d.__file__).resolve().parent
    for tools in (pkg / ".mim" / "tools", pkg.parent / "tools"):
        path = tools / "dataset_converters" / f"{name}.py"
        if path.is_file():
            spec = importlib.util.spec_from_file_location(f"_mmdet3d_tools_{name}", path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError(
        f"mmdet3d {mmdet3d.__version__} at {pkg} has no tools/dataset_converters/{name}.py"
    )


def create_infos(
    dataroot: str,
    version: str,
    out_dir: str,
    info_prefix: str = "nuscenes",
    max_sweeps: int = 10,
    splits: Optional[Dict[str, List[str]]] = None,
) -> Dict[str, str]:
    """Write mmdet3d 1.x ``<prefix>_infos_{train,val}.pkl`` for ``version`` of ``dataroot``.

    Args:
        dataroot: nuScenes dataroot.
        version: table folder (any name, e.g. ``v1.0-fastdrive``).
        out_dir: where the pkls go.
        info_prefix: file name prefix (``create_data.py``'s ``--extra-tag``).
        max_sweeps: lidar sweeps per keyframe (as ``create_data.py``).
        splits: ``{'train': [scene names], 'val': [...]}``; default: the
            dataroot's own splits (``fastdrive.datasets.nuscenes_fg.splits``).

    Returns:
        ``{'train': path, 'val': path}``.
    """
    import mmengine
    from nuscenes.nuscenes import NuScenes

    from fastdrive.datasets.nuscenes_fg.splits import scene_splits

    conv = converter_module("nuscenes_converter")
    update = converter_module("update_infos_to_v2")
    dataroot = os.path.abspath(dataroot)
    out_dir = os.path.abspath(out_dir)
    splits = splits if splits is not None else scene_splits(dataroot, version)
    nusc = NuScenes(version=version, dataroot=dataroot, verbose=False)
    token_of = {s["name"]: s["token"] for s in conv.get_available_scenes(nusc)}
    tokens = {k: {token_of[n] for n in splits.get(k, []) if n in token_of} for k in ("train", "val")}
    train, rest = conv._fill_trainval_infos(
        nusc, tokens["train"], tokens["val"], test=False, max_sweeps=max_sweeps
    )
    # _fill_trainval_infos puts every non-train sample into val; keep only the val scenes'.
    val = [i for i in rest if nusc.get("sample", i["token"])["scene_token"] in tokens["val"]]
    os.makedirs(out_dir, exist_ok=True)
    written: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".mmdet3d_infos.") as tmp:
        os.makedirs(os.path.join(tmp, "data"))
        os.symlink(dataroot, os.path.join(tmp, "data", "nuscenes"))
        v1_dir, v2_dir = os.path.join(tmp, "v1"), os.path.join(tmp, "v2")
        os.makedirs(v1_dir)
        os.makedirs(v2_dir)
        cwd = os.getcwd()
        try:
            os.chdir(tmp)  # update_nuscenes_infos opens NuScenes(dataroot='./data/nuscenes')
            for split, infos in (("train", train), ("val", val)):
                name = f"{info_prefix}_infos_{split}.pkl"
                mmengine.dump(dict(infos=infos, metadata=dict(version=version)), os.path.join(v1_dir, name))
                update.update_nuscenes_infos(pkl_path=os.path.join(v1_dir, name), out_dir=v2_dir)
        finally:
            os.chdir(cwd)
        for split in ("train", "val"):
            name = f"{info_prefix}_infos_{split}.pkl"
            written[split] = os.path.join(out_dir, name)
            shutil.move(os.path.join(v2_dir, name), written[split])
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    """CLI; returns the exit code (2 on bad input)."""
    p = argparse.ArgumentParser(
        prog="python -m data_tools.mmdet3d_nuscenes_infos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dataroot", required=True)
    p.add_argument("--version", required=True, help="e.g. v1.0-fastdrive, v1.0-mini")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--info-prefix", default="nuscenes")
    p.add_argument("--max-sweeps", type=int, default=10)
    args = p.parse_args(argv)
    if not os.path.isdir(os.path.join(args.dataroot, args.version)):
        sys.stderr.write(
            f"mmdet3d_nuscenes_infos: error: no table folder {args.version} in {args.dataroot}\n"
        )
        return 2
    try:
        import mmdet3d  # noqa: F401
    except ImportError as exc:
        sys.stderr.write(f"mmdet3d_nuscenes_infos: error: needs the mmdet3d extra ({exc})\n")
        return 2
    for split, path in create_infos(
        args.dataroot, args.version, args.out_dir, args.info_prefix, args.max_sweeps
    ).items():
        print(f"{split}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
