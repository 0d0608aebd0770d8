"""Pieces shared by ``train.py`` and ``test.py`` (the mmengine entry points)."""

from __future__ import annotations

import argparse
import os
import os.path as osp
from typing import List


def hide_gpus_if_cpu(args: argparse.Namespace) -> None:
    """``--device cpu`` or ``--gpus 0``: hide GPUs before torch initialises CUDA."""
    if args.device == "cpu" or args.gpus == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def parse_cfg_options(items: List[str]) -> dict:
    """``KEY=VALUE`` overrides as a dict, parsed like mmengine's ``DictAction``."""
    from mmengine.config import DictAction

    action = DictAction(option_strings=[], dest="x")
    ns = argparse.Namespace()
    action(None, ns, items)
    return getattr(ns, "x", {}) or {}


def load_config(args: argparse.Namespace):
    """The config of ``args.config`` with overrides, launcher and work dir applied.

    Returns None when the file does not exist (the caller reports it).
    """
    from mmengine.config import Config

    if not osp.isfile(args.config):
        return None
    cfg = Config.fromfile(args.config)
    if getattr(args, "data_root", None):  # first, so that --cfg-options can still refine the datasets
        set_data_root(cfg, args.data_root)
    if args.cfg_options:
        cfg.merge_from_dict(parse_cfg_options(args.cfg_options))
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get("work_dir") or osp.join(
        "work_dirs", osp.splitext(osp.basename(args.config))[0])
    return cfg


def set_data_root(cfg, data_root: str) -> None:
    """Point every dataloader's dataset at ``data_root``.

    A config writes its dataroot into each dataset dict when it is parsed,
    so overriding the top-level ``data_root`` variable would change nothing;
    this replaces ``dataset.data_root`` of the train/val/test dataloaders and
    re-bases their ``cache_file`` paths that lived under the old root. A
    dataloader over several worlds (a ``ConcatDataset``, e.g. the shipped
    planner's two training worlds) reads ``data_root`` alone: its first
    dataset is re-rooted, the others are left out, and a line says so.
    """
    old = cfg.get("data_root")
    cfg.data_root = data_root
    for key in ("train_dataloader", "val_dataloader", "test_dataloader"):
        loader = cfg.get(key)
        dataset = loader.get("dataset") if loader else None
        if dataset and "data_root" not in dataset and dataset.get("datasets"):
            members = list(dataset["datasets"])
            left_out = [str(m.get("data_root")) for m in members[1:]]
            loader["dataset"] = dataset = members[0]
            if left_out:
                print(f"--data-root: {key} reads {data_root} only (left out: {', '.join(left_out)})")
        if not dataset or "data_root" not in dataset:
            continue
        prev = dataset["data_root"]
        dataset["data_root"] = data_root
        cache = dataset.get("cache_file")
        for base in {b for b in (old, prev) if b}:
            if cache and cache.startswith(base.rstrip("/") + "/"):
                dataset["cache_file"] = osp.join(data_root, cache[len(base.rstrip("/")) + 1:])
                break


def export_inputs(config: str, checkpoint: str, meta_json: "str | None") -> "tuple[dict | None, str | None]":
    """Check an export tool's inputs: ``(meta dict, None)`` or ``(None, error message)``."""
    import json

    for path, what in ((config, "config"), (checkpoint, "checkpoint")):
        if not osp.isfile(path):
            return None, f"{what} not found: {path}"
    try:
        return (json.loads(meta_json) if meta_json else {}), None
    except json.JSONDecodeError as exc:
        return None, f"--meta is not valid JSON: {exc}"


def read_training_checkpoint(path: str) -> "tuple[dict, dict]":
    """``(checkpoint, state_dict)`` of an mmengine checkpoint, loaded safely (``ValueError`` if it has none)."""
    import torch

    from fastdrive.engine import register_checkpoint_safe_globals

    register_checkpoint_safe_globals()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError("no state_dict inside")
    return ckpt, state


def provenance(config: str, checkpoint: str, ckpt: dict, meta: dict) -> dict:
    """What an exported file records about its source run."""
    run = ckpt.get("meta") or {}
    return dict(config=osp.basename(config), source_checkpoint=osp.basename(checkpoint), epoch=run.get("epoch"),
                iter=run.get("iter"), **meta)


def run_model_config(config_model: dict, ckpt: dict) -> "tuple[dict, list]":
    """The model config to export with: the one the run was trained with, as mmengine stored it.

    mmengine writes the run's full config (the file with every ``--cfg-options``
    applied) into ``checkpoint['meta']['cfg']``. Building from the config file
    instead pairs the weights with levers they were not trained with (a run
    trained with ``--cfg-options model.keep_accel=throttle`` exported with its
    base file plans with the acceleration it never saw). Returns ``(model cfg,
    differences)``: the run's ``model`` dict (``config_model`` when the
    checkpoint has none) and ``'key: file value -> run value'`` lines where
    the two disagree.
    """
    from mmengine.config import Config

    text = (ckpt.get("meta") or {}).get("cfg") if isinstance(ckpt, dict) else None
    if not isinstance(text, str):
        return config_model, []
    run = Config.fromstring(text, file_format=".py").get("model")
    if run is None:
        return config_model, []
    run = run.to_dict() if hasattr(run, "to_dict") else dict(run)
    given = config_model.to_dict() if hasattr(config_model, "to_dict") else dict(config_model)
    return run, _differences(_plain(given), _plain(run))


def _plain(value, key: str = ""):
    """Config values made comparable: tuples as lists; a ``type`` by its class name (a config file
    holds the class, mmengine's stored text its import path, e.g. ``'fastdrive.models.DrivingVLA'``)."""
    if isinstance(value, dict):
        return {k: _plain(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if key == "type":
        return value.__name__ if isinstance(value, type) else str(value).rsplit(".", 1)[-1]
    return value


def _differences(given: dict, run: dict, prefix: str = "model") -> list:
    out = []
    unset = object()
    for key in sorted(set(given) | set(run)):
        a, b = given.get(key, unset), run.get(key, unset)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}.{key}"))
        elif a != b:
            shown = ["unset" if v is unset else repr(v) for v in (a, b)]
            out.append(f"{prefix}.{key}: {shown[0]} in the config file -> {shown[1]} in the run")
    return out


def read_run(checkpoint: str, config_model: dict) -> "tuple[dict, dict, dict]":
    """``(checkpoint, state_dict, model cfg)`` for an export tool: the run's own model config
    (:func:`run_model_config`), with a ``note:`` line printed for each value that differs from the
    config file. Raises ``ValueError`` with a one-line reason when the checkpoint cannot be read."""
    try:
        ckpt, state = read_training_checkpoint(checkpoint)
    except Exception as exc:
        raise ValueError(f"cannot read {checkpoint}: {str(exc).splitlines()[0]}") from None
    model_cfg, differences = run_model_config(config_model, ckpt)
    for line in differences:  # the run's own values win: they are what the weights were trained with
        print(f"note: {line}; exporting with the run's value")
    return ckpt, state, model_cfg
