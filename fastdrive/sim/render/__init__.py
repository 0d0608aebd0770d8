"""Pinhole rasteriser of the synthetic world.

Public API: :func:`render_camera` -> :class:`CameraImage` (rgb, semantic,
depth, instance). Modules: ``camera`` (orchestration and culling),
``ground`` (sky, ground plane, per-camera caches), ``shapes`` (object kinds
as part cuboids), ``raster`` (z-buffered cuboid rasterisation, facade and
stripe textures), ``shadows`` (sun shadows on the ground), ``shading``
(palettes, lighting, noise), ``toy`` (a small hand-made scene for tests,
benchmarks and previews).
"""

from fastdrive.sim.render.camera import CameraImage, render_camera

__all__ = ["CameraImage", "render_camera"]
