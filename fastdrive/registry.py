"""The one registry module of FastDrive.

Every registry is a child of mmengine's root registry so that mmengine's
``Runner`` can build our models, datasets, transforms and metrics from config
dicts (``type='ReconPrunerTrainer'``) and fall back to mmengine's own
components (optimizers, hooks, schedulers) by the same name lookup.

``PRUNERS`` has no mmengine parent: pruners are FastDrive's own concept,
built by name by the service, the evaluation and the trainers.
"""

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import Registry

MODELS = Registry("model", parent=MMENGINE_MODELS, locations=["fastdrive.models"])
DATASETS = Registry("dataset", parent=MMENGINE_DATASETS, locations=["fastdrive.datasets"])
DATA_SAMPLERS = Registry(
    "data sampler", parent=MMENGINE_DATA_SAMPLERS, locations=["fastdrive.datasets"]
)
TRANSFORMS = Registry("transform", parent=MMENGINE_TRANSFORMS, locations=["fastdrive.datasets"])
METRICS = Registry("metric", parent=MMENGINE_METRICS, locations=["fastdrive.evaluation"])
HOOKS = Registry("hook", parent=MMENGINE_HOOKS, locations=["fastdrive.engine"])
PRUNERS = Registry("pruner", locations=["fastdrive.pruning"])

__all__ = ["MODELS", "DATASETS", "DATA_SAMPLERS", "TRANSFORMS", "METRICS", "HOOKS", "PRUNERS"]
