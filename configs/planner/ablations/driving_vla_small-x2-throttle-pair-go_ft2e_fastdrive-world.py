"""Experiment (session 11): the two-frame planner fine-tuned 2 epochs with a standstill "go" head.

Starts from the two-frame run (``driving_vla_small-x2-throttle-pair_1xb16-8e_fastdrive-world.py``,
its ``epoch_8.pth``) and adds ``go_weight=1.0``: a head on the visual tokens alone learns, at a
standstill with no throttle, whether the logged ego moves more than 1 m in the next 3 s. Two
frames alone did not make the planner tell "go" from "wait" (standstill AUC 0.47 / 0.50,
docs/results.md, issue #10); this asks whether a direct perception target does.

Reproduce::

    mim train fastdrive configs/planner/ablations/driving_vla_small-x2-throttle-pair_1xb16-8e_fastdrive-world.py \\
        --gpus 0 --work-dir work_dirs/s11_pair
    mim train fastdrive configs/planner/ablations/driving_vla_small-x2-throttle-pair-go_ft2e_fastdrive-world.py \\
        --gpus 0 --work-dir work_dirs/s11_pair_go
"""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_x2_objdrop_8e import *  # noqa: F401,F403

from mmengine.optim import CosineAnnealingLR, LinearLR

max_epochs = 2
model.update(keep_accel="throttle", frame_pair=True, go_weight=1.0)  # noqa: F405
for _ds in train_dataloader["dataset"]["datasets"]:  # noqa: F405
    _ds.update(prev_frame=True)
val_dataloader["dataset"].update(prev_frame=True)  # noqa: F405
test_dataloader = val_dataloader  # noqa: F405
load_from = "work_dirs/s11_pair/epoch_8.pth"
optim_wrapper["optimizer"].update(lr=3e-4)  # noqa: F405
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(type=LinearLR, start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type=CosineAnnealingLR, T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True,
         eta_min=1e-5),
]
