"""Service settings: command-line flags and ``FASTDRIVE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

from typing import Annotated, List, Optional, Tuple

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from fastdrive.pruning import list_pruners

DEFAULT_METHODS: Tuple[str, ...] = ("recon", "fastv", "sparsevlm", "divprune", "vispruner", "dart", "vla_pruner",
                                    "lightvla", "random", "grid")


class ServiceSettings(BaseSettings):
    """Everything ``python -m service`` / ``fastdrive-serve`` can be told.

    Every field is a flag (``--max-batch-size 8``) and an environment
    variable (``FASTDRIVE_MAX_BATCH_SIZE=8``); flags win.
    """

    model_config = SettingsConfigDict(env_prefix="FASTDRIVE_", extra="forbid", cli_kebab_case=True,
                                      cli_prog_name="fastdrive-serve", cli_implicit_flags=True)

    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8000, ge=0, le=65535, description="port to listen on (0: any free port)")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes (stateless replicas)")
    model_path: Optional[str] = Field(
        None, description="a driving-VLA checkpoint file (default: the one shipped with FastDrive), or a "
                          "Qwen2.5-VL / Impromptu-VLA checkpoint directory")
    text_mode: str = Field("dist-dtheta", description="answer format of a Qwen2.5-VL checkpoint directory")
    cameras: Annotated[List[str], NoDecode] = Field(default_factory=lambda: ["CAM_FRONT"],
                               description="cameras a Qwen2.5-VL checkpoint reads, in prompt order")
    device: str = Field("cpu", description="torch device of the model (cpu, cuda, cuda:1, ...)")
    threads: int = Field(0, ge=0, description="torch CPU threads (0: torch's default)")
    default_method: str = Field("none", description="pruning method when a request gives none")
    default_ratio: float = Field(0.0, ge=0.0, lt=1.0, description="pruning ratio when a request gives none")
    methods: Annotated[List[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_METHODS),
                               description="pruning methods served (built at start-up)")
    recon_weights: Optional[str] = Field(
        None, description="ReconPruner weights for this model (default: the shipped ones, which fit the shipped "
                          "planner; train others with configs/recon_pruner/)")
    max_batch_size: int = Field(8, ge=1, le=256, description="most requests planned in one forward")
    max_wait_ms: float = Field(5.0, ge=0.0, le=1000.0,
                               description="how long the first request of a batch waits for more")
    max_queue: int = Field(64, ge=1, description="requests waiting beyond this answer 503 with Retry-After")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest request body (413 beyond)")
    max_image_pixels: int = Field(1600 * 900, ge=28 * 28, description="largest decoded image (413 beyond)")
    session_ttl_s: float = Field(600.0, gt=0.0, description="temporal pruning state is forgotten after this idle time")
    max_sessions: int = Field(4096, ge=1, description="temporal pruning sessions kept (least recent dropped)")
    request_timeout_s: float = Field(30.0, gt=0.0, description="a request waiting longer answers 503")
    api_key: Optional[SecretStr] = Field(None, description="when set, requests need the header X-API-Key")

    @field_validator("methods", "cameras", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):  # FASTDRIVE_METHODS=recon,fastv or --methods recon,fastv
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _check_methods(self) -> "ServiceSettings":
        known = list_pruners()
        bad = [m for m in self.methods if m not in known]
        if bad:
            raise ValueError(f"unknown pruning method(s) {bad}; servable: {', '.join(known)}")
        if self.default_method != "none" and self.default_method not in self.methods:
            raise ValueError(f"default_method {self.default_method!r} is not among methods {self.methods}")
        return self
