"""Lever (session 11): CAM_FRONT read as a two-frame clip, the keyframe 0.5 s before and now.

The shipped recipe (``driving_vla_qwen25vl-small-throttle-x2_1xb16-8e_fastdrive-world.py``:
braking hidden, two training worlds, object-first drops) with ``frame_pair=True``: the vision
tower reads the previous keyframe and the current one as one temporal patch, the way
Qwen2.5-VL groups two consecutive video frames. The number of visual tokens (144) does not
change, so every pruner and the pruning adapter work as before.

Why: the shipped planner's ``start`` samples (the ego stopped, moving off within 3 s; half of
the critical subset's L2) do not read the frame at all: at a standstill with no throttle it
predicts 0.5-1.8 m whether the log moves off within 3 s or keeps waiting (ROC AUC 0.52 / 0.53,
docs/results.md, issue #10, session 11). Probes on its frozen visual tokens cannot tell the two
apart on new scenes either (AUC 0.45-0.61).
From one frame, a walker on the zebra may be about to enter the ego's lane or have just left
it; a stopped lead may be about to pull away. Two frames show the motion.

Reproduce::

    mim train fastdrive configs/planner/ablations/driving_vla_small-x2-throttle-pair_1xb16-8e_fastdrive-world.py --gpus 0
"""

from mmengine.config import read_base

with read_base():
    from ..._base_.planner.driving_vla_small_x2_objdrop_8e import *  # noqa: F401,F403

model.update(keep_accel="throttle", frame_pair=True)  # noqa: F405
for _ds in train_dataloader["dataset"]["datasets"]:  # noqa: F405
    _ds.update(prev_frame=True)
val_dataloader["dataset"].update(prev_frame=True)  # noqa: F405
test_dataloader = val_dataloader  # noqa: F405
