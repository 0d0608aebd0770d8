"""Per-sample open-loop planning records built from nuScenes tables with the devkit.

One record per keyframe (``sample``), everything in the *current* ego frame
(x forward, y left, origin at the ego pose: the rear axle for FastDrive
worlds), metres / seconds / radians:

* ``gt_traj`` ``(6, 2)``: ego positions of the next 6 keyframes (0.5 s apart),
  ``gt_valid`` ``(6,)`` bool (False past the end of the scene, zeros there);
* ``past_traj`` ``(4, 2)``: ego positions of the previous 4 keyframes, oldest
  first (t = -2.0, -1.5, -1.0, -0.5 s); where the scene has none
  (``past_valid`` False) they are extrapolated backwards at the current speed;
* ``speed`` (m/s), ``accel`` (m/s^2), ``yaw_rate`` (rad/s), ``command``
  ('left' | 'right' | 'straight') from ``fastdrive_gt/ego_states.json`` when
  the dataroot is a FastDrive world (``motion_source='log'``), else finite
  differences of ``ego_pose`` and the ST-P3 / VAD rule on the future
  lateral offset (``motion_source='ego_pose'``);
* ``cams``: per camera the image path relative to the dataroot, the 3x3
  intrinsics, sensor->ego translation / quaternion and the camera's own
  ego pose (global);
* ``future_boxes``: 6 arrays ``(M_t, 5)`` ``[x, y, length, width, yaw]`` of
  every annotated object of future keyframe t (the boxes the collision metric
  uses), with ``future_instances`` (instance tokens, to match per instance);
  ``boxes_now`` / ``instances_now`` the same at t = 0;
* ``drivable_wkt``: the map's drivable area within ``map_radius`` of the
  ego, as WKT (see ``_drivable.from_wkt``).
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ...constants import COMMANDS, NUM_FUTURE, NUM_PAST, STEP_S

from ._drivable import DRIVABLE_LAYERS, drivable_area_ego, to_wkt
from ._frames import global_to_ego_xy, pose_2d, quaternion_yaw, wrap_angle

COMMAND_THRESHOLD_M = 2.0
COMMAND_INDEX: Dict[str, int] = {c: i for i, c in enumerate(COMMANDS)}
DEFAULT_CAMERAS: Tuple[str, ...] = ("CAM_FRONT",)
EGO_STATES_FILE = os.path.join("fastdrive_gt", "ego_states.json")


def read_ego_states(data_root: str) -> Optional[Dict[str, dict]]:
    """``fastdrive_gt/ego_states.json`` of a FastDrive world (sample token -> state), or None."""
    path = os.path.join(data_root, EGO_STATES_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, "r", encoding="utf-8") as fh:
        return json.load(fh)


def derive_command(gt_traj: np.ndarray, gt_valid: np.ndarray, threshold: float = COMMAND_THRESHOLD_M) -> str:
    """ST-P3 / VAD command rule on the ego-frame future.

    Args:
        gt_traj: ``(T, 2)`` future waypoints (x forward, y left).
        gt_valid: ``(T,)`` bool.
        threshold: lateral offset (m) of the last valid waypoint (3 s when complete).

    Returns:
        'left' if y > threshold, 'right' if y < -threshold, else 'straight'.
    """
    idx = np.flatnonzero(np.asarray(gt_valid, bool))
    if idx.size == 0:
        return "straight"
    y = float(gt_traj[idx[-1], 1])
    return "left" if y > threshold else "right" if y < -threshold else "straight"


def _chain(nusc, sample: dict, key: str, n: int) -> List[dict]:
    """Up to ``n`` samples following ``sample`` along ``key`` ('next' | 'prev')."""
    out, cur = [], sample
    while len(out) < n and cur[key]:
        cur = nusc.get("sample", cur[key])
        out.append(cur)
    return out


def _ego_pose(nusc, sample: dict, channel: str) -> dict:
    sd = nusc.get("sample_data", sample["data"][channel])
    return nusc.get("ego_pose", sd["ego_pose_token"])


def _boxes_ego(nusc, sample: dict, ego_xy: np.ndarray, ego_yaw: float) -> Tuple[np.ndarray, List[str]]:
    """``(M, 5)`` boxes ``[x, y, length, width, yaw]`` of a sample's annotations in the ego frame."""
    boxes, insts = [], []
    for tok in sample["anns"]:
        ann = nusc.get("sample_annotation", tok)
        x, y = global_to_ego_xy(np.asarray(ann["translation"][:2]), ego_xy, ego_yaw)
        w, length = float(ann["size"][0]), float(ann["size"][1])
        yaw = float(wrap_angle(quaternion_yaw(ann["rotation"]) - ego_yaw))
        boxes.append([x, y, length, w, yaw])
        insts.append(ann["instance_token"])
    return np.asarray(boxes, np.float64).reshape(-1, 5), insts


def _finite_difference_motion(
    ts: np.ndarray, xy: np.ndarray, yaw: np.ndarray
) -> Tuple[float, float, float]:
    """Speed, acceleration, yaw rate at index 0 of ``[prev?, now, next?]`` style arrays.

    Args:
        ts: ``(K,)`` seconds relative to now (contains 0), sorted.
        xy: ``(K, 2)`` positions; yaw: ``(K,)`` headings.
    """
    k0 = int(np.flatnonzero(ts == 0)[0])
    if len(ts) < 2:
        return 0.0, 0.0, 0.0
    lo, hi = max(k0 - 1, 0), min(k0 + 1, len(ts) - 1)
    dt = ts[hi] - ts[lo]
    speed = float(np.linalg.norm(xy[hi] - xy[lo]) / dt)
    yaw_rate = float(wrap_angle(yaw[hi] - yaw[lo]) / dt)
    accel = 0.0
    if 0 < k0 < len(ts) - 1:
        v_back = np.linalg.norm(xy[k0] - xy[k0 - 1]) / (ts[k0] - ts[k0 - 1])
        v_fwd = np.linalg.norm(xy[k0 + 1] - xy[k0]) / (ts[k0 + 1] - ts[k0])
        accel = float((v_fwd - v_back) / (0.5 * (ts[k0 + 1] - ts[k0 - 1])))
    return speed, accel, yaw_rate


def _camera_info(nusc, sample: dict, cam: str) -> dict:
    sd = nusc.get("sample_data", sample["data"][cam])
    cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", sd["ego_pose_token"])
    return {
        "img_path": sd["filename"],
        "width": int(sd["width"]),
        "height": int(sd["height"]),
        "cam_intrinsic": np.asarray(cs["camera_intrinsic"], np.float64),
        "sensor2ego_translation": np.asarray(cs["translation"], np.float64),
        "sensor2ego_rotation": np.asarray(cs["rotation"], np.float64),
        "ego2global_translation": np.asarray(pose["translation"], np.float64),
        "ego2global_rotation": np.asarray(pose["rotation"], np.float64),
    }


def build_record(
    nusc,
    sample_token: str,
    maps: Mapping[str, object],
    ego_states: Optional[Mapping[str, dict]] = None,
    cameras: Sequence[str] = DEFAULT_CAMERAS,
    map_radius: float = 60.0,
    drivable_layers: Sequence[str] = DRIVABLE_LAYERS,
) -> dict:
    """The planning record of one sample (see the module docstring for the fields).

    Args:
        nusc: a loaded ``nuscenes.NuScenes``.
        sample_token: the keyframe.
        maps: location name -> ``NuScenesMap`` (a missing location gives an
            empty ``drivable_wkt``).
        ego_states: FastDrive's ``ego_states.json`` content, or None for real nuScenes.
        cameras: camera channels whose images and calibration to record.
        map_radius: half side (m) of the drivable-area patch kept.
        drivable_layers: map layers that count as drivable.
    """
    sample = nusc.get("sample", sample_token)
    scene = nusc.get("scene", sample["scene_token"])
    location = nusc.get("log", scene["log_token"])["location"]
    channel = "LIDAR_TOP" if "LIDAR_TOP" in sample["data"] else cameras[0]
    pose = _ego_pose(nusc, sample, channel)
    ego_xy, ego_yaw = pose_2d(pose["translation"], pose["rotation"])
    t0 = sample["timestamp"]

    future = _chain(nusc, sample, "next", NUM_FUTURE)
    past = _chain(nusc, sample, "prev", NUM_PAST)[::-1]  # oldest first
    gt_traj = np.zeros((NUM_FUTURE, 2))
    gt_valid = np.zeros(NUM_FUTURE, dtype=bool)
    future_boxes: List[np.ndarray] = [np.zeros((0, 5)) for _ in range(NUM_FUTURE)]
    future_instances: List[List[str]] = [[] for _ in range(NUM_FUTURE)]
    fut_pose = []
    for k, s in enumerate(future):
        p = _ego_pose(nusc, s, channel)
        xy, yaw = pose_2d(p["translation"], p["rotation"])
        fut_pose.append(((s["timestamp"] - t0) * 1e-6, xy, yaw))
        gt_traj[k] = global_to_ego_xy(xy, ego_xy, ego_yaw)
        gt_valid[k] = True
        future_boxes[k], future_instances[k] = _boxes_ego(nusc, s, ego_xy, ego_yaw)
    past_pose = []
    for s in past:
        p = _ego_pose(nusc, s, channel)
        xy, yaw = pose_2d(p["translation"], p["rotation"])
        past_pose.append(((s["timestamp"] - t0) * 1e-6, xy, yaw))

    state = (ego_states or {}).get(sample_token)
    if state is not None:
        speed, accel, yaw_rate = float(state["speed"]), float(state["accel"]), float(state["yaw_rate"])
        command, source = str(state["command"]), "log"
    else:
        seq = past_pose[-1:] + [(0.0, ego_xy, ego_yaw)] + fut_pose[:1]
        speed, accel, yaw_rate = _finite_difference_motion(
            np.array([s[0] for s in seq]), np.array([s[1] for s in seq]), np.array([s[2] for s in seq])
        )
        command, source = derive_command(gt_traj, gt_valid), "ego_pose"

    past_traj = np.zeros((NUM_PAST, 2))
    past_valid = np.zeros(NUM_PAST, dtype=bool)
    for k in range(NUM_PAST):
        past_traj[k] = [-speed * STEP_S * (NUM_PAST - k), 0.0]
    for k, (_, xy, _) in enumerate(past_pose[::-1]):  # newest first
        j = NUM_PAST - 1 - k
        past_traj[j] = global_to_ego_xy(xy, ego_xy, ego_yaw)
        past_valid[j] = True

    nmap = maps.get(location)
    drivable = ""
    if nmap is not None:
        drivable = to_wkt(drivable_area_ego(nmap, ego_xy, ego_yaw, map_radius, drivable_layers))
    boxes_now, instances_now = _boxes_ego(nusc, sample, ego_xy, ego_yaw)
    return {
        "sample_token": sample_token,
        "scene_token": scene["token"],
        "scene_name": scene["name"],
        "location": location,
        "timestamp": int(t0),
        "ego2global_translation": np.asarray(pose["translation"], np.float64),
        "ego2global_rotation": np.asarray(pose["rotation"], np.float64),
        "gt_traj": gt_traj,
        "gt_valid": gt_valid,
        "past_traj": past_traj,
        "past_valid": past_valid,
        "speed": speed,
        "accel": accel,
        "yaw_rate": yaw_rate,
        "command": command,
        "command_index": COMMAND_INDEX.get(command, COMMAND_INDEX["straight"]),
        "motion_source": source,
        "cams": {cam: _camera_info(nusc, sample, cam) for cam in cameras},
        "future_boxes": future_boxes,
        "future_instances": future_instances,
        "boxes_now": boxes_now,
        "instances_now": instances_now,
        "drivable_wkt": drivable,
    }


def scene_sample_tokens(nusc, scene_names: Sequence[str]) -> List[str]:
    """Keyframe tokens of the named scenes, scene by scene in time order."""
    wanted = set(scene_names)
    tokens = []
    for scene in nusc.scene:
        if scene["name"] not in wanted:
            continue
        tok = scene["first_sample_token"]
        while tok:
            tokens.append(tok)
            tok = nusc.get("sample", tok)["next"]
    return tokens


def load_maps(data_root: str, locations: Sequence[str]) -> Dict[str, object]:
    """``NuScenesMap`` per location whose expansion JSON exists under ``maps/expansion``."""
    from nuscenes.map_expansion.map_api import NuScenesMap

    out = {}
    for loc in sorted(set(locations)):
        if os.path.isfile(os.path.join(data_root, "maps", "expansion", f"{loc}.json")):
            out[loc] = NuScenesMap(dataroot=data_root, map_name=loc)
    return out


def build_records(
    nusc,
    scene_names: Sequence[str],
    cameras: Sequence[str] = DEFAULT_CAMERAS,
    map_radius: float = 60.0,
) -> List[dict]:
    """Planning records of every keyframe of ``scene_names`` (see :func:`build_record`).

    Reads ``fastdrive_gt/ego_states.json`` and the map expansions from ``nusc.dataroot``.
    """
    ego_states = read_ego_states(nusc.dataroot)
    wanted = set(scene_names)
    locations = [nusc.get("log", s["log_token"])["location"] for s in nusc.scene if s["name"] in wanted]
    maps = load_maps(nusc.dataroot, locations)
    return [
        build_record(nusc, tok, maps, ego_states, cameras, map_radius)
        for tok in scene_sample_tokens(nusc, scene_names)
    ]
