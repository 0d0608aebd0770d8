"""``TextWaypointPlanner``: a Qwen2.5-VL / Impromptu-VLA checkpoint that answers in text.

The model sees the camera images and an Impromptu-VLA-style planning prompt
(navigation command, speed / acceleration / yaw rate and past positions as
text) and answers with six bracketed pairs inside ``<PLANNING>...</PLANNING>``
(DESIGN.md section 4b); :func:`~fastdrive.vla.planning_text.parse_planning_text`
turns the answer into ``(6, 2)`` ego-frame waypoints. Greedy decoding runs
inside :meth:`PrunerPool.pruning` (a per-call request), so every pruner of
:func:`fastdrive.pruning.list_pruners` acts on the real prefill and the
decode steps that follow it.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from transformers import AutoProcessor

from ..vla.loading import CheckpointError, check_qwen25vl_dir, load_qwen25vl
from ..vla.planning_text import MODES, PlanningParseError, parse_planning_text
from ..vla._call import device_seconds
from .base import Frames, Planner
from .pruner_pool import PrunerPool
from .sessions import SessionStore
from .types import (NUM_PAST, NUM_WAYPOINTS, STEP_S, EgoState, PlanRequest, PruningSpec, Trajectory, as_frame,
                    command_index)

#: the navigation command as Impromptu-VLA-style prompts spell it, in :data:`COMMANDS` order
COMMAND_TEXT = ("TURN LEFT", "TURN RIGHT", "GO STRAIGHT")
#: what the six pairs mean in each mode (the prompt tells the model)
MODE_TEXT: Dict[str, str] = {
    "dist-dtheta": "[displacement, theta]: distance travelled in each 0.5 s step (m) and the change of "
                   "heading in that step (degrees, positive = left)",
    "dist-theta": "[displacement, theta]: distance travelled in each 0.5 s step (m) and the heading relative "
                  "to now (degrees, positive = left)",
    "polar": "[distance, angle]: distance from the current position (m) and polar angle (degrees, "
             "positive = left)",
    "dx-dy": "[dx, dy]: displacement in each 0.5 s step (m, positive y forward, positive x right)",
    "dist-curvature": "[displacement, curvature]: distance travelled in each 0.5 s step (m) and "
                      "curvature x 100",
    "x-y": "[x, y]: position (m, positive x forward, positive y left)",
}
DEFAULT_SYSTEM = "You are a helpful assistant."
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")
_PREPROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")


def check_processor_files(path: str) -> None:
    """Raise :class:`CheckpointError` naming the tokenizer / image-preprocessor files ``path`` lacks."""
    missing = []
    if not any(os.path.isfile(os.path.join(path, f)) for f in _TOKENIZER_FILES):
        missing.append(f"a tokenizer ({' or '.join(_TOKENIZER_FILES)}, plus tokenizer_config.json)")
    if not any(os.path.isfile(os.path.join(path, f)) for f in _PREPROCESSOR_FILES):
        missing.append(f"an image preprocessor config ({' or '.join(_PREPROCESSOR_FILES)})")
    if missing:
        raise CheckpointError(f"{path!r} has Qwen2.5-VL weights but no processor: missing "
                              f"{' and '.join(missing)}; save the checkpoint's AutoProcessor into the same "
                              "directory (processor.save_pretrained)")


def load_processor(path: str) -> Any:
    """``AutoProcessor`` of a local checkpoint directory.

    Raises:
        CheckpointError: files missing or unreadable (never a raw transformers traceback).
    """
    check_processor_files(path)
    try:
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"cannot load the processor of {path!r}: {type(exc).__name__}: {exc}") from None
    for part in ("tokenizer", "image_processor"):
        if getattr(processor, part, None) is None:
            raise CheckpointError(f"the processor of {path!r} has no {part} (got {type(processor).__name__})")
    return processor


class TextWaypointPlanner(Planner):
    """Plans with a ``Qwen2_5_VLForConditionalGeneration`` that writes its waypoints as text.

    Args:
        model: the Qwen2.5-VL model (eval mode is set here).
        processor: its ``Qwen2_5_VLProcessor`` (tokenizer + image processor;
            chat template optional).
        mode: how the answer encodes the waypoints, one of
            :data:`~fastdrive.vla.planning_text.MODES`.
        cameras: camera names fed to the model, in prompt order.
        max_new_tokens: decode budget of one answer.
        device: where the model runs.
        min_pixels / max_pixels: override the processor's image size bounds
            (pixels per image; None keeps the checkpoint's).
        methods / sessions / strict_options / method_options: see :class:`~.pruner_pool.PrunerPool`.
    """

    def __init__(self, model: torch.nn.Module, processor: Any, mode: str = "dist-dtheta",
                 cameras: Sequence[str] = ("CAM_FRONT",), max_new_tokens: int = 160,
                 device: Union[str, torch.device] = "cpu", min_pixels: Optional[int] = None,
                 max_pixels: Optional[int] = None, methods: Optional[Sequence[str]] = None,
                 sessions: Optional[SessionStore] = None, strict_options: bool = False,
                 method_options: Optional[Mapping[str, Mapping[str, Any]]] = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown planning mode {mode!r}; choose from {', '.join(MODES)}")
        if not cameras:
            raise ValueError("at least one camera is needed")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.mode = mode
        self.cameras = tuple(cameras)
        self.max_new_tokens = int(max_new_tokens)
        self.size: Optional[Dict[str, int]] = None
        if min_pixels is not None or max_pixels is not None:
            size = dict(getattr(processor.image_processor, "size", None) or {})
            if min_pixels is not None:
                size["shortest_edge"] = int(min_pixels)
            if max_pixels is not None:
                size["longest_edge"] = int(max_pixels)
            self.size = size
        cfg = model.config
        self.image_token_id = int(cfg.image_token_id)
        proc_image_id = getattr(processor, "image_token_id", None)
        if proc_image_id is not None and int(proc_image_id) != self.image_token_id:
            raise CheckpointError(f"the tokenizer's image token id {proc_image_id} differs from the model's "
                                  f"image_token_id {self.image_token_id}")
        self.merge = int(cfg.vision_config.spatial_merge_size)
        self.eos_token_ids = self._eos_ids()
        self.pool = PrunerPool(self.model, methods=methods, sessions=sessions, strict_options=strict_options,
                               method_options=method_options)

    @classmethod
    def from_pretrained(cls, checkpoint_dir: Union[str, os.PathLike], mode: str = "dist-dtheta",
                        cameras: Sequence[str] = ("CAM_FRONT",), max_new_tokens: int = 160,
                        device: Union[str, torch.device] = "cpu",
                        dtype: Optional[torch.dtype] = torch.float32,
                        min_pixels: Optional[int] = None, max_pixels: Optional[int] = None,
                        **kwargs: Any) -> "TextWaypointPlanner":
        """Load model and processor from one local directory (nothing is fetched from the network).

        Raises:
            CheckpointError: no / wrong config, no weights, no tokenizer or
                image-preprocessor files, or an unreadable processor.
        """
        path = check_qwen25vl_dir(checkpoint_dir)
        check_processor_files(path)
        processor = load_processor(path)
        model = load_qwen25vl(path, dtype=dtype, device=device)
        return cls(model, processor, mode=mode, cameras=cameras, max_new_tokens=max_new_tokens, device=device,
                   min_pixels=min_pixels, max_pixels=max_pixels, **kwargs)

    # ------------------------------------------------------------ prompt
    def _eos_ids(self) -> List[int]:
        ids: List[int] = []
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        for value in (gen_eos, self.tokenizer.eos_token_id, im_end):
            for v in (value if isinstance(value, (list, tuple)) else [value]):
                if isinstance(v, int) and v != self.tokenizer.unk_token_id and v not in ids:
                    ids.append(v)
        return ids

    def question(self, ego_state: EgoState, command: Union[str, int]) -> str:
        """The text part of the planning prompt (after the images).

        States speed (m/s), acceleration (m/s^2), yaw rate (rad/s), the four
        past positions (ego frame, m) and the command, and asks for six
        waypoints in :attr:`mode` inside ``<PLANNING>...</PLANNING>``.
        """
        cmd = COMMAND_TEXT[command_index(command)]
        speed, accel, yaw = (float(v) for v in ego_state.vector())
        past = ego_state.past()
        times = [-STEP_S * k for k in range(NUM_PAST, 0, -1)]
        hist = ", ".join(f"t{t:+.1f}s [{x:.2f}, {y:.2f}]" for t, (x, y) in zip(times, past))
        horizon = NUM_WAYPOINTS * STEP_S
        return ("As an autonomous driving system, plan the ego vehicle's trajectory.\n"
                f"Navigation command: {cmd}.\n"
                f"Ego state: speed {speed:.2f} m/s, acceleration {accel:.2f} m/s^2, "
                f"yaw rate {yaw:.3f} rad/s.\n"
                f"Past positions (x forward, y left, m): {hist}.\n"
                f"Predict the movement for the next {horizon:g} seconds as {NUM_WAYPOINTS} waypoints at "
                f"{STEP_S:g} s, formatted as {MODE_TEXT[self.mode]}. "
                "Answer inside <PLANNING></PLANNING>.")

    def messages(self, ego_state: EgoState, command: Union[str, int]) -> List[Dict[str, Any]]:
        """Chat messages: one user turn with a label + image per camera, then :meth:`question`."""
        content: List[Dict[str, Any]] = []
        for cam in self.cameras:
            content.append({"type": "text", "text": f"{cam}: "})
            content.append({"type": "image"})
        content.append({"type": "text", "text": "\n" + self.question(ego_state, command)})
        return [{"role": "user", "content": content}]

    def prompt(self, ego_state: EgoState, command: Union[str, int]) -> str:
        """The full prompt text, one image placeholder per camera (expanded by the processor).

        Uses the processor's chat template when it has one, else the Qwen
        chat layout written out (default system turn, user turn, open
        assistant turn).
        """
        msgs = self.messages(ego_state, command)
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        image = f"<|vision_start|>{self.processor.image_token}<|vision_end|>"
        body = "".join(part["text"] if part["type"] == "text" else image for part in msgs[0]["content"])
        return (f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
                f"<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n")

    def encode(self, frames: Frames, ego_state: EgoState,
               command: Union[str, int]) -> Dict[str, torch.Tensor]:
        """Validated inputs of one sample -> model inputs on :attr:`device` (see :meth:`encode_batch`)."""
        return self.encode_batch([PlanRequest(frames, ego_state, command)])

    def encode_batch(self, requests: Sequence[PlanRequest]) -> Dict[str, torch.Tensor]:
        """Validated requests -> one batch of model inputs on :attr:`device`, prompts left-padded.

        Returns:
            ``input_ids (B, L)``, ``attention_mask (B, L)`` (0 on the left padding),
            ``mm_token_type_ids (B, L)`` (1 on image pads), ``pixel_values (P, C*T*p*p)`` in the
            model dtype and ``image_grid_thw (B * num_cameras, 3)`` (sample-major).

        Raises:
            PlanningInputError: missing camera, bad frame, command or ego state.
        """
        texts, images = [], []
        for r in requests:
            selected = self.select_frames(r.frames)
            images += [np.ascontiguousarray(as_frame(selected[c], c)) for c in self.cameras]
            texts.append(self.prompt(r.ego_state, r.command))
        kwargs: Dict[str, Any] = {} if self.size is None else {"size": self.size}
        batch = self.processor(text=texts, images=images, return_tensors="pt", padding=True, padding_side="left",
                               **kwargs)
        inputs = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        ids = inputs["input_ids"]
        if inputs.get("mm_token_type_ids") is None:
            inputs["mm_token_type_ids"] = (ids == self.image_token_id).long()
        dtype = next(self.model.parameters()).dtype
        out = {k: v.to(self.device) for k, v in inputs.items()}
        out["pixel_values"] = out["pixel_values"].to(dtype)
        return out

    # -------------------------------------------------------------- plan
    def grids(self, image_grid_thw: torch.Tensor) -> List[Tuple[int, int]]:
        """Merged-token grid ``(rows, cols)`` per camera from ``image_grid_thw (num_cameras, 3)``."""
        return [(int(h) // self.merge, int(w) // self.merge) for _, h, w in image_grid_thw.tolist()]

    @torch.no_grad()
    def generate_texts(self, inputs: Mapping[str, torch.Tensor]) -> List[str]:
        """Greedy answers to a batch of ``inputs`` (the new tokens of each row, special tokens removed)."""
        out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1,
                                  eos_token_id=self.eos_token_ids or None,
                                  pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id
                                  is not None else (self.eos_token_ids or [None])[0])
        start = inputs["input_ids"].shape[1]
        return [self.tokenizer.decode(row[start:], skip_special_tokens=True) for row in out]

    def generate_text(self, inputs: Mapping[str, torch.Tensor]) -> str:
        """Greedy answer to the inputs of one sample."""
        return self.generate_texts(inputs)[0]

    def _plan_group(self, requests: Sequence[PlanRequest], spec: Optional[PruningSpec]) -> List[Trajectory]:
        """One batched greedy generation per frame size (left-padded prompts; every sample prunes as
        ``spec`` says, with its own session).

        Raises:
            PlanningParseError: an answer is not six waypoint pairs (the message names the request
                and quotes the raw answer).
        """
        by_size: Dict[tuple, List[int]] = {}
        for i, r in enumerate(requests):
            frames = self.select_frames(r.frames)
            by_size.setdefault(tuple(np.shape(frames[c]) for c in self.cameras), []).append(i)
        out: List[Optional[Trajectory]] = [None] * len(requests)
        for idx in by_size.values():
            for i, traj in zip(idx, self._plan_batch_of_one_size([requests[i] for i in idx], spec)):
                out[i] = traj
        return out  # type: ignore[return-value]

    def _plan_batch_of_one_size(self, requests: Sequence[PlanRequest],
                                spec: Optional[PruningSpec]) -> List[Trajectory]:
        t0 = device_seconds(self.device)
        inputs = self.encode_batch(requests)
        ncam = len(self.cameras)
        grid_thw = inputs["image_grid_thw"]
        t1 = device_seconds(self.device)
        with self.pool.pruning(spec, [r.session_id for r in requests]) as call:
            texts = self.generate_texts(inputs)
        record = call.last if call is not None else None
        t2 = device_seconds(self.device)
        out = []
        for b, text in enumerate(texts):
            try:
                waypoints = parse_planning_text(text, self.mode)
            except PlanningParseError as exc:
                prefix = f"request {b}: " if len(texts) > 1 else ""
                raise PlanningParseError(f"{prefix}{exc}; model answer: {text!r}") from None
            num_visual = int((inputs["input_ids"][b] == self.image_token_id).sum())
            kept = None if record is None else [g.cpu().numpy().astype(np.int64) for g in record.kept_grid[b]]
            out.append(Trajectory(
                waypoints=np.asarray(waypoints, np.float64),
                timings=dict(preprocess=t1 - t0, model=t2 - t1, pruner=record.pruner_seconds if record else 0.0,
                             total=device_seconds(self.device) - t0),
                num_visual=num_visual,
                num_kept=int(record.num_kept[b]) if record is not None else num_visual,
                kept_tokens=kept,
                grids=self.grids(grid_thw[b * ncam:(b + 1) * ncam]),
                cameras=list(self.cameras),
                pruning=spec or PruningSpec(),
                text=text,
                batch_size=len(texts),
            ))
        return out


__all__ = ["COMMAND_TEXT", "MODE_TEXT", "TextWaypointPlanner", "check_processor_files", "load_processor"]
