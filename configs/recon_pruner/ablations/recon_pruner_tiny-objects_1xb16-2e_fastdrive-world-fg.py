"""Ablation (issue 11, at 2 epochs): objects only as foreground (no road).

nuScenes-FG counts the road as foreground, and road cells are most of the
foreground cells (33% of the pixels against 6% for vehicles, people, signs,
lights and barriers together), so a pruner trained on it spends a tight
budget on road. Here the masks are the world's ground-truth semantic masks
with only the object classes (car ... traffic light, ids 8-16) counted as
foreground, in training and in validation.

Evaluate in the planner with
``bench_planner_pruning.py --recon-weights <exported file>``.

Results: docs/results.md, "ReconPruner ablations"."""

from mmengine.config import read_base

with read_base():
    from ..._base_.recon_pruner.recon_pruner_tiny_2e import *  # noqa: F401,F403

_objects = dict(img_path=data_root, mask_path=data_root + "/fastdrive_gt/semantic")
for _loader in (train_dataloader, val_dataloader):
    _loader["dataset"].update(data_prefix=_objects, fg_classes=list(range(8, 17)))
test_dataloader = val_dataloader
