"""mmengine hooks of ReconPruner training: the frozen-feature cache and the picture log."""

from __future__ import annotations

import os
from typing import Any, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS

DataBatch = Optional[Any]


def _unwrap(model: Any) -> Any:
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class ReconFeatureCacheHook(Hook):
    """Encode every image of the train / val sets once with the frozen host and reuse the tokens.

    The host's vision tower is frozen, so its tokens never change during
    training: computing them once (and keeping them on disk next to the
    dataset's prepared inputs, ``cache_dir`` of
    :class:`~fastdrive.datasets.ReconFGDataset`) leaves only the pruner and
    the decoder to run per step. The file name holds the host's fingerprint
    and the dataset's cache key, so another host or split never reads stale
    tokens. Datasets without ``cache_dir`` are left alone; a ``ConcatDataset``
    (several worlds) gets one cache per member.

    Args:
        batch_size: images per host forward while the cache is built.
        progress: show a progress bar.
    """

    priority = "VERY_HIGH"

    def __init__(self, batch_size: int = 32, progress: bool = True) -> None:
        self.batch_size = int(batch_size)
        self.progress = progress

    def before_train(self, runner: Any) -> None:
        self.attach(_unwrap(runner.model), runner.train_dataloader.dataset, runner.logger)

    def before_val(self, runner: Any) -> None:
        self.attach(_unwrap(runner.model), runner.val_dataloader.dataset, runner.logger)

    def before_test(self, runner: Any) -> None:
        self.attach(_unwrap(runner.model), runner.test_dataloader.dataset, runner.logger)

    @torch.no_grad()
    def attach(self, model: Any, dataset: Any, logger: Any = None) -> None:
        """Load or build the token cache of ``dataset`` (of each member of a ``ConcatDataset``) and attach it."""
        members = getattr(dataset, "datasets", None)
        if members is not None and getattr(dataset, "cache_dir", None) is None:
            for member in members:
                self.attach(model, member, logger)
            return
        if getattr(dataset, "cache_dir", None) is None or getattr(dataset, "tokens", None) is not None:
            return
        path = os.path.join(dataset.cache_dir, f"recon-tokens-{model.host.fingerprint()}-{dataset.cache_key()}.pt")
        if os.path.isfile(path):  # memory-mapped: pages come from the file as batches need them
            dataset.set_tokens(torch.load(path, map_location="cpu", weights_only=True, mmap=True))
            return
        from tqdm import tqdm

        prep = dataset.prepared()
        device = next(model.pruner.parameters()).device
        tokens = None  # (M, N, D) float16, allocated once the first batch gives N and D
        for start in tqdm(range(0, len(dataset), self.batch_size), desc="caching frozen visual tokens",
                          unit="batch", disable=not self.progress):
            imgs = prep["img"][start:start + self.batch_size].to(device).float() / 255.0
            chunk = model.host.encode(imgs).half().cpu()
            if tokens is None:
                tokens = torch.empty((len(dataset),) + tuple(chunk.shape[1:]), dtype=torch.float16)
            tokens[start:start + chunk.shape[0]] = chunk
        tmp = f"{path}.tmp-{os.getpid()}"
        torch.save(tokens, tmp)
        os.replace(tmp, path)
        if logger is not None:
            logger.info(f"cached {tuple(tokens.shape)} visual tokens in {path}")
        dataset.set_tokens(tokens)


@HOOKS.register_module()
class ReconVisHook(Hook):
    """Every ``interval`` training iterations, log one picture through the runner's visualizer.

    The picture (:func:`~fastdrive.evaluation.recon_panel.recon_panel`): the
    image, its scores as a heat map, the tokens kept at ``ratio``, and the
    foreground and background reconstructions. With a
    ``TensorboardVisBackend`` in the visualizer config it lands in
    TensorBoard; with the default local backend, under the work dir's
    ``vis_data/vis_image``.
    """

    priority = "LOW"

    def __init__(self, interval: int = 50, ratio: float = 0.5) -> None:
        self.interval = int(interval)
        self.ratio = float(ratio)

    def after_train_iter(self, runner: Any, batch_idx: int, data_batch: DataBatch = None,
                         outputs: Optional[dict] = None) -> None:
        if data_batch is None or not self.every_n_train_iters(runner, self.interval):
            return
        from ..evaluation.recon_panel import recon_panel

        model = _unwrap(runner.model)
        first = {k: (v[:1] if isinstance(v, torch.Tensor) else list(v)[:1] if isinstance(v, (list, tuple)) else v)
                 for k, v in data_batch.items() if k != "meta"}
        data = model.data_preprocessor(first, False)
        with torch.no_grad():
            out = model(**data, mode="tensor")
        panel = recon_panel(data["img"][0], out["scores"][0], model.grid_hw, self.ratio,
                            [out[k][0] if k in out else None for k in ("recon_fg", "recon_bg")])
        runner.visualizer.add_image("recon_pruner", panel, step=runner.iter + 1)
