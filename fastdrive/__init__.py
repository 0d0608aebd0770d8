"""FastDrive: plug-and-play visual-token pruning for driving VLAs.

Sub-packages:
    sim         synthetic nuScenes-format driving world (the embedded default)
    pruning     TokenPruner interface and one module per pruning method
    vla         Qwen2.5-VL adapter (prune between merger and LLM, or inside the LLM)
    models      trainable models (ReconPruner trainer, tiny driving VLA)
    datasets    mmengine datasets and transforms
    evaluation  planning metrics, foreground recall, efficiency
"""

from .version import __version__

__all__ = ["__version__"]
