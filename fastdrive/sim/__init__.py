"""The synthetic nuScenes-format driving world (the embedded default).

Modules: ``types`` (data model), ``town`` (procedural map), ``agents`` and
``ego`` (behaviour), ``scenario`` (scene logs), ``rig`` (six-camera nuScenes
rig), ``render`` (pinhole rasteriser), ``lidar`` (ray caster),
``nuscenes_export`` / ``map_expansion`` (writers).
"""
