"""Data transforms, registered in ``fastdrive.registry.TRANSFORMS``.

Importing this package registers them (mmengine configs can also use
``custom_imports=dict(imports=['fastdrive.datasets.transforms'])``).
"""

from .load_fg_mask import LoadFGMask

__all__ = ["LoadFGMask"]
