"""Glue between FastDrive and mmengine (checkpoint safety, hooks)."""

from .checkpoint import register_checkpoint_safe_globals
from .recon_hooks import ReconFeatureCacheHook, ReconVisHook

__all__ = ["ReconFeatureCacheHook", "ReconVisHook", "register_checkpoint_safe_globals"]
