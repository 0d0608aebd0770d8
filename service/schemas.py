"""Request and response bodies of ``POST /plan`` (pydantic v2), with the examples shown at ``/docs``."""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fastdrive.constants import CAMERA_NAMES, COMMANDS, NUM_FUTURE, NUM_PAST, STEP_S

_PAST_EXAMPLE = [[-9.8, 0.1], [-7.4, 0.0], [-4.9, 0.0], [-2.5, 0.0]]


def _example_png() -> str:
    """A small grey road-like PNG, so that the schema's example is a request that really plans."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    img = np.full((36, 64, 3), 120, np.uint8)
    img[20:, :] = 70
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


_IMAGE_EXAMPLE = _example_png()


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


class EgoStateBody(BaseModel):
    """Ego motion now (ego frame: x forward, y left; SI units)."""

    model_config = ConfigDict(extra="forbid")

    speed: float = Field(..., ge=-20.0, le=80.0, description="m/s", examples=[5.2])
    accel: float = Field(0.0, ge=-30.0, le=30.0, description="longitudinal acceleration, m/s^2", examples=[-0.3])
    yaw_rate: float = Field(0.0, ge=-5.0, le=5.0, description="rad/s, positive = left", examples=[0.01])
    past_xy: Optional[List[List[float]]] = Field(
        None, description=f"{NUM_PAST} ego-frame positions (m) at t = -2.0, -1.5, -1.0, -0.5 s; "
                          "omitted: extrapolated back at constant speed", examples=[_PAST_EXAMPLE])

    @field_validator("speed", "accel", "yaw_rate")
    @classmethod
    def _finite_scalar(cls, v: float, info) -> float:
        return _finite(v, info.field_name)

    @field_validator("past_xy")
    @classmethod
    def _past_shape(cls, v: Optional[List[List[float]]]) -> Optional[List[List[float]]]:
        if v is None:
            return v
        if len(v) != NUM_PAST or any(len(p) != 2 for p in v):
            raise ValueError(f"past_xy must be {NUM_PAST} [x, y] pairs (t = -2.0 ... -0.5 s)")
        for p in v:
            for x in p:
                _finite(x, "past_xy")
                if abs(x) > 500.0:
                    raise ValueError(f"past_xy values must be within 500 m of the ego, got {x}")
        return v


class PruningBody(BaseModel):
    """Which pruner acts on this request's visual tokens, and how much it removes."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field("none", description="a method of GET /v1/pruners, or 'none'", examples=["recon"])
    ratio: float = Field(0.0, ge=0.0, lt=1.0, description="share of visual tokens removed: presets 0, 0.25, "
                                                            "0.5, 0.75, or any value in [0, 1)", examples=[0.5])
    options: Dict[str, Union[bool, int, float]] = Field(
        default_factory=dict, description="per-request options the method allows (GET /v1/pruners)",
        examples=[{}])

    @field_validator("ratio")
    @classmethod
    def _finite_ratio(cls, v: float) -> float:
        return _finite(v, "ratio")


class PlanBody(BaseModel):
    """``POST /plan``: camera images, ego state and command."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "images": {"CAM_FRONT": _IMAGE_EXAMPLE},
        "ego_state": {"speed": 5.2, "accel": -0.3, "yaw_rate": 0.01, "past_xy": _PAST_EXAMPLE},
        "command": "straight", "pruning": {"method": "recon", "ratio": 0.5}, "session_id": "car-17"}]})

    images: Dict[str, str] = Field(..., description=f"base64 JPEG/PNG per camera; any of {', '.join(CAMERA_NAMES)}, "
                                                    "including the ones the model reads")
    prev_images: Optional[Dict[str, str]] = Field(
        None, description="the same cameras at the previous keyframe (0.5 s before `images`), base64 JPEG/PNG. "
                          "A model that reads a two-frame clip (GET /readyz: reads_prev_frames) plans from a "
                          "still without them; other models ignore them")
    ego_state: EgoStateBody
    command: str = Field(..., description=f"navigation command: {', '.join(COMMANDS)}", examples=["straight"])
    pruning: Optional[PruningBody] = Field(None, description="default: the service's default method and ratio")
    session_id: Optional[str] = Field(None, min_length=1, max_length=128,
                                      description="key of the temporal pruner state (one per vehicle / episode)")
    return_kept: bool = Field(False, description="also return the (row, col) of every kept token")

    @field_validator("command")
    @classmethod
    def _command(cls, v: str) -> str:
        if v.lower() not in COMMANDS:
            raise ValueError(f"command must be one of {', '.join(COMMANDS)}")
        return v.lower()

    @field_validator("images", "prev_images")
    @classmethod
    def _cameras(cls, v: Optional[Dict[str, str]]) -> Optional[Dict[str, str]]:
        if v is None:
            return v
        unknown = [c for c in v if c not in CAMERA_NAMES]
        if unknown:
            raise ValueError(f"unknown camera(s) {unknown}; cameras are {', '.join(CAMERA_NAMES)}")
        return v


class TokensBody(BaseModel):
    total: int = Field(..., description="visual tokens before pruning (all cameras)")
    kept: int = Field(..., description="visual tokens the language model saw")


class KeptCellsBody(BaseModel):
    camera: str
    grid: List[int] = Field(..., description="token grid [rows, cols] of this camera")
    cells: List[List[int]] = Field(..., description="[row, col] of every kept token")


class PlanResponse(BaseModel):
    """Six waypoints in the ego frame, what they cost and who planned them."""

    waypoints: List[List[float]] = Field(..., description=f"{NUM_FUTURE} x [x, y] (m, ego frame: x forward, y left)")
    timestamps: List[float] = Field(default_factory=lambda: [STEP_S * (i + 1) for i in range(NUM_FUTURE)],
                                    description="seconds ahead of each waypoint")
    tokens: TokensBody
    kept_cells: Optional[List[KeptCellsBody]] = Field(None, description="with return_kept: true")
    timings_ms: Dict[str, float] = Field(..., description="decode, queue, model, pruner, total (ms)")
    model: str = Field(..., description="model identifier")
    pruner: str = Field(..., description="method@ratio that acted, or 'none'")
    batch_size: int = Field(..., description="requests planned in the same forward")


class ErrorBody(BaseModel):
    error: str = Field(..., description="error type")
    detail: Union[str, List[Dict[str, object]]] = Field(..., description="what was wrong, and what is allowed")


class PrunerInfo(BaseModel):
    method: str
    stage: str
    options: List[str] = Field(..., description="options a request may set")


class PrunersResponse(BaseModel):
    methods: List[PrunerInfo]
    ratios: List[float] = Field(..., description="presets; any value in [0, 1) is accepted")
    default: PruningBody
