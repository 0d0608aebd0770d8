"""The embedded driving VLA: a small Qwen2.5-VL with a waypoint head on plan queries.

Architecture (one camera, CAM_FRONT by default):

* a transformers ``Qwen2_5_VLForConditionalGeneration`` at small widths
  (:func:`driving_vla_config`): vision tower with patch 14 and a 2x2
  merger, so a 448x252 frame gives a 16x9 = 144-token grid, and a short
  language model with 3D M-RoPE;
* the prompt of :mod:`.driving_prompt` (command and binned ego state as
  tokens, the image, six plan-query tokens);
* a head on the last hidden states of the plan queries, fused with an
  embedding of the continuous ego state and the past trajectory, that
  predicts a residual over the constant-velocity rollout;
* optionally (``aux_weight > 0``) a perception head on the visual tokens
  (merger output, what every pruner sees) that predicts the share of each
  semantic class in each token's cell, trained from the world's ground
  truth: it gives each token a local meaning and the vision tower a reason
  to see objects, lights and the road.

Three levers weaken the ego-status shortcut (open-loop planners that copy
their own history: "Is Ego Status All You Need", CVPR 2024):
``ego_history=False`` never shows the model the acceleration and the past
trajectory (acceleration 0 and the constant-velocity past instead, in
training and at inference: the plan must come from the current speed, yaw
rate, command and what the camera shows); ``ego_dropout`` (training only)
hides them for a share of the samples; ``event_weight`` (training only)
weighs each sample by how far its future departs from the constant-velocity
rollout (stops, starts, turns: where the scene decides).

``token_drop`` (training only) plans a share of the batches from a random
subset of the visual tokens (kept share drawn from ``token_drop_keep``),
through the same removable pruning adapter as inference: the model learns to
plan from what pruning leaves, so that which tokens a pruner keeps, not how
many, decides what a pruned plan loses.

The language model is called through ``vlm.model`` (``Qwen2_5_VLModel``), so
a pruner attached with :func:`fastdrive.vla.attach_pruner` acts on every
forward without any change here.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import nn
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from ..constants import STEP_S
from ..registry import MODELS
from ..vla.image_patches import images_to_patches
from ..vla.tiny import tiny_qwen25vl_config
from .driving_prompt import DrivingVocab, driving_input_ids
from .go_head import GoHead
from .patch_linear import use_linear_patch_embed


def driving_vla_config(
    hidden_size: int = 128,
    num_layers: int = 6,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    intermediate_size: int = 384,
    vision_hidden: int = 96,
    vision_depth: int = 4,
    vision_heads: int = 4,
    vision_full_attention: bool = True,
    vision_fullatt_blocks: Optional[Sequence[int]] = None,
) -> Qwen2_5_VLConfig:
    """Config of the embedded VLA: Qwen2.5-VL's architecture at small widths.

    Vision: patch 14, 2x2 merge, temporal patch 2, window 112 px (4x4 merged
    tokens). ``vision_full_attention`` (default) gives every block full
    attention: at 576 patches per frame, windows only add many tiny attention
    calls (about 1.7x slower on CPU); False keeps Qwen2.5-VL's layout of
    windowed blocks with full attention in the last one.
    ``vision_fullatt_blocks`` (if given) lists the full-attention blocks
    explicitly; ``()`` keeps every block windowed, so that each merged token
    describes its own 112 px window rather than the whole frame (then
    dropping tokens drops information, as pruning a real VLA does). Text:
    ``num_layers`` decoder layers of width ``hidden_size`` with grouped-query
    attention; vocabulary of 512 (the driving tokens of
    :class:`~.driving_prompt.DrivingVocab` + image ids 500-503).
    """
    return tiny_qwen25vl_config(
        hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads, intermediate_size=intermediate_size,
        vision_config=dict(depth=vision_depth, hidden_size=vision_hidden, intermediate_size=2 * vision_hidden,
                           num_heads=vision_heads, patch_size=14, window_size=112,
                           fullatt_block_indexes=list(vision_fullatt_blocks) if vision_fullatt_blocks is not None
                           else list(range(vision_depth)) if vision_full_attention else [vision_depth - 1]),
    )


def constant_velocity_rollout(ego_state: torch.Tensor, num_steps: int = 6, dt: float = STEP_S) -> torch.Tensor:
    """``(B, 3)`` ``[speed, accel, yaw rate]`` -> ``(B, num_steps, 2)`` waypoints of constant speed and yaw rate."""
    v = ego_state[:, 0].clamp(min=0.0)[:, None]
    w = ego_state[:, 2][:, None]
    t = dt * torch.arange(1, num_steps + 1, device=ego_state.device, dtype=ego_state.dtype)[None]
    small = w.abs() < 1e-4
    w_safe = torch.where(small, torch.ones_like(w), w)
    x = torch.where(small, v * t, v / w_safe * torch.sin(w_safe * t))
    y = torch.where(small, 0.5 * v * w * t * t, v / w_safe * (1.0 - torch.cos(w_safe * t)))
    return torch.stack([x, y], dim=-1)


def constant_velocity_past(ego_state: torch.Tensor, num_past: int = 4, dt: float = STEP_S) -> torch.Tensor:
    """``(B, 3)`` ego state -> ``(B, num_past, 2)`` past positions (oldest first) on the constant-speed arc."""
    back = constant_velocity_rollout(ego_state, num_past, dt)  # (B, P, 2) at +dt ... +P dt
    back = torch.stack([-back[..., 0], back[..., 1]], dim=-1)  # the same arc driven up to now
    return back.flip(1)


class _MLP(nn.Sequential):
    def __init__(self, dims: Sequence[int]) -> None:
        layers: List[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < len(dims) - 2:
                layers.append(nn.GELU())
        super().__init__(*layers)


@MODELS.register_module()
class DrivingVLA(BaseModel):
    """Qwen2.5-VL planner: camera + command + ego state -> 6 waypoints at 0.5 s (ego frame).

    Args:
        vlm: keyword arguments of :func:`driving_vla_config`.
        image_size: model input ``(width, height)``, multiples of 28.
        num_waypoints: plan queries / output waypoints.
        num_past: past positions fed to the head.
        state_scale: divisors of ``[speed, accel, yaw rate]`` for the head.
        past_scale: divisor (m) of the past positions.
        loss_weight: weight of the masked smooth-L1 waypoint loss.
        aux_weight: weight of the per-token semantic loss (0: no perception head).
        num_semantic: semantic classes of the perception head (17 in a FastDrive world).
        ego_history: False hides the acceleration and the past trajectory
            from the model, in training and at inference (the callers still
            pass them; the model replaces them by 0 and the constant-velocity past).
        keep_accel: with ``ego_history=False``, still show the acceleration
            (only the past trajectory is hidden); ``"throttle"`` shows only its
            non-negative part: pulling towards the driver's own set speed stays
            known, braking (the reaction to what is in view) must come from
            the camera.
        ego_dropout: training only: share of samples whose acceleration and
            past trajectory are hidden (acceleration 0, constant-velocity past).
        token_drop: training only: probability that a batch is planned from a
            random subset of its visual tokens.
        token_drop_keep: ``(low, high)`` range of the kept share of those batches.
        token_drop_objects: training only: share of those batches whose kept
            tokens are chosen object-first from the ground truth (the
            ``oracle_obj`` order on ``token_sem``: objects, then road, then the
            rest) instead of at random, so that the concentrated selections of a
            foreground pruner (ReconPruner) are in the training distribution,
            not only the spread-out ones of random drops.
        event_weight: training only: a sample's waypoint loss is weighted by
            ``1 + event_weight * min(d, 3)``, ``d`` the mean distance (m) of its
            logged future from the constant-velocity rollout.
        frame_pair: read CAM_FRONT as a two-frame clip, the keyframe 0.5 s
            earlier and the current one, in one temporal patch of the vision
            tower (Qwen2.5-VL's video layout: the same number of visual tokens,
            so every pruner works unchanged). One frame cannot show which way a
            walker goes or whether a stopped lead pulls away; two can.
        go_weight: training only: weight of a perception loss at a standstill. A head on the
            visual tokens alone (attention pooling, then an MLP; no ego state) predicts whether
            the logged ego moves more than ``GO_METRES`` in the next 3 s, on the samples where
            it stands still with no throttle (binary cross-entropy). The planning loss alone
            did not teach the vision tower to tell "go" from "wait" (docs/results.md, issue #10).
        seed: weight initialisation seed.
        data_preprocessor: mmengine data preprocessor config.
    """

    def __init__(
        self,
        vlm: Optional[Dict[str, Any]] = None,
        image_size: Tuple[int, int] = (448, 252),
        num_waypoints: int = 6,
        num_past: int = 4,
        state_scale: Sequence[float] = (10.0, 3.0, 0.3),
        past_scale: float = 10.0,
        loss_weight: float = 1.0,
        aux_weight: float = 0.0,
        num_semantic: int = 17,
        ego_history: bool = True,
        keep_accel: Union[bool, str] = False,
        ego_dropout: float = 0.0,
        event_weight: float = 0.0,
        token_drop: float = 0.0,
        token_drop_keep: Tuple[float, float] = (0.2, 1.0),
        token_drop_objects: float = 0.0,
        frame_pair: bool = False,
        go_weight: float = 0.0,
        seed: int = 0,
        data_preprocessor: Optional[dict] = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.init_kwargs: Dict[str, Any] = dict(
            vlm=dict(vlm or {}), image_size=list(image_size), num_waypoints=num_waypoints, num_past=num_past,
            state_scale=list(state_scale), past_scale=past_scale, loss_weight=loss_weight, seed=seed)
        if aux_weight or ego_dropout or event_weight or token_drop or not ego_history:  # older files load unchanged
            self.init_kwargs.update(aux_weight=aux_weight, num_semantic=num_semantic, ego_history=bool(ego_history),
                                    ego_dropout=ego_dropout, event_weight=event_weight, token_drop=token_drop,
                                    token_drop_keep=list(token_drop_keep))
            if keep_accel:
                self.init_kwargs.update(keep_accel=keep_accel if keep_accel == "throttle" else True)
            if token_drop_objects:
                self.init_kwargs.update(token_drop_objects=float(token_drop_objects))
        if frame_pair:
            self.init_kwargs.update(frame_pair=True)
        if go_weight:
            self.init_kwargs.update(go_weight=float(go_weight))
        self.go_weight = float(go_weight)
        self.frame_pair = bool(frame_pair)
        self._warned_still = False
        if not 0.0 <= token_drop_objects <= 1.0:
            raise ValueError(f"token_drop_objects must be in [0, 1], got {token_drop_objects}")
        self.token_drop_objects = float(token_drop_objects)
        if keep_accel not in (False, True, "throttle"):
            raise ValueError(f"keep_accel must be False, True or 'throttle', got {keep_accel!r}")
        self.keep_accel: Union[bool, str] = "throttle" if keep_accel == "throttle" else bool(keep_accel)
        if not (0.0 < token_drop_keep[0] <= token_drop_keep[1] <= 1.0):
            raise ValueError(f"token_drop_keep must satisfy 0 < low <= high <= 1, got {token_drop_keep}")
        self.token_drop = float(token_drop)
        self.token_drop_keep = (float(token_drop_keep[0]), float(token_drop_keep[1]))
        self.ego_history = bool(ego_history)
        if not 0.0 <= ego_dropout <= 1.0:
            raise ValueError(f"ego_dropout must be in [0, 1], got {ego_dropout}")
        self.aux_weight = float(aux_weight)
        self.ego_dropout = float(ego_dropout)
        self.event_weight = float(event_weight)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.num_waypoints = int(num_waypoints)
        self.num_past = int(num_past)
        self.past_scale = float(past_scale)
        self.loss_weight = float(loss_weight)
        self.vocab = DrivingVocab()
        config = driving_vla_config(**self.init_kwargs["vlm"])
        vcfg = config.vision_config
        unit = vcfg.patch_size * vcfg.spatial_merge_size
        if self.image_size[0] % unit or self.image_size[1] % unit:
            raise ValueError(f"image_size {self.image_size} must be multiples of {unit}")
        self.grid_hw = (self.image_size[1] // unit, self.image_size[0] // unit)
        self.num_visual = self.grid_hw[0] * self.grid_hw[1]
        rng = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            self.vlm = Qwen2_5_VLForConditionalGeneration(config)
            use_linear_patch_embed(self.vlm)  # same parameters, one matmul instead of N tiny convolutions
            d = config.text_config.hidden_size
            self.state_embed = _MLP([3 + 2 * self.num_past, d, d])
            self.head = _MLP([2 * d, d, 2])
            self.token_head = nn.Linear(d, int(num_semantic)) if self.aux_weight > 0 else None
            # "moves off within 3 s?" from the visual tokens alone, at a standstill (training signal)
            self.go_head = GoHead(d) if self.go_weight > 0 else None
        finally:
            torch.random.set_rng_state(rng)
        nn.init.zeros_(self.head[-1].weight)  # start at the constant-velocity rollout
        nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("state_scale", torch.tensor(state_scale, dtype=torch.float32), persistent=False)

    # ------------------------------------------------------------------ inputs
    def resize_images(self, imgs: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> ``(B, 3, h, w)`` at ``image_size`` (antialiased bilinear; no-op at that size)."""
        w, h = self.image_size
        if tuple(imgs.shape[-2:]) == (h, w):
            return imgs
        return nn.functional.interpolate(imgs, size=(h, w), mode="bilinear", align_corners=False, antialias=True)

    def build_inputs(self, imgs: torch.Tensor, command: torch.Tensor, ego_state: torch.Tensor,
                     imgs_prev: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Qwen2.5-VL forward kwargs for ``imgs (B, 3, H, W)`` at ``image_size``, ``command (B,)``, ``ego_state (B, 3)``.

        With ``frame_pair`` the vision tower reads ``(imgs_prev, imgs)`` as one
        temporal patch (a two-frame clip, oldest first: the same 144 tokens);
        ``imgs_prev`` ``(B, 3, H, W)`` is the frame one keyframe (0.5 s) earlier,
        None for a still (the current frame twice). Without ``frame_pair`` it is ignored.
        """
        imgs = self.resize_images(imgs)
        if self.frame_pair:
            prev = imgs if imgs_prev is None else self.resize_images(imgs_prev.to(imgs.device))
            if prev.shape != imgs.shape:
                raise ValueError(f"imgs_prev {tuple(prev.shape)} does not match imgs {tuple(imgs.shape)}")
            imgs = torch.stack([prev, imgs], dim=1)  # (B, 2, 3, h, w)
        vcfg = self.vlm.config.vision_config
        pixel_values, grid = images_to_patches(imgs, vcfg.patch_size, vcfg.spatial_merge_size,
                                               vcfg.temporal_patch_size)
        ids = driving_input_ids(self.vlm.config, command, ego_state, self.num_visual, self.num_waypoints,
                                self.vocab)
        return dict(ids, pixel_values=pixel_values, image_grid_thw=grid)

    # ------------------------------------------------------------------ forward
    def plan(self, imgs: torch.Tensor, command: torch.Tensor, ego_state: torch.Tensor,
             past_traj: torch.Tensor, imgs_prev: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Waypoints ``(B, num_waypoints, 2)`` (m, ego frame, t = 0.5 ... 3 s).

        Args:
            imgs: ``(B, 3, H, W)`` CAM_FRONT in [0, 1] (resized to ``image_size`` if needed).
            command: ``(B,)`` long (left, right, straight).
            ego_state: ``(B, 3)`` ``[speed, accel, yaw rate]``.
            past_traj: ``(B, num_past, 2)`` past positions (oldest first, ego frame).
            imgs_prev: ``(B, 3, H, W)`` CAM_FRONT one keyframe (0.5 s) earlier, read
                with ``frame_pair`` (None: a still, the current frame twice).
        """
        return self._plan(imgs, command, ego_state, past_traj, imgs_prev=imgs_prev)[0]

    def _plan(self, imgs: torch.Tensor, command: torch.Tensor, ego_state: torch.Tensor, past_traj: torch.Tensor,
              visual_tokens: bool = False, imgs_prev: Optional[torch.Tensor] = None
              ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Waypoints ``(B, T, 2)`` and, if asked, the merger output ``(B, N, D)`` of the same forward."""
        dev = self.state_scale.device
        imgs, command = imgs.to(dev), command.to(dev)
        ego_state, past_traj = ego_state.to(dev).float(), past_traj.to(dev).float()
        if not self.ego_history:
            ego_state, past_traj = self.hide_history(ego_state)
        inputs = self.build_inputs(imgs, command, ego_state, imgs_prev)
        captured: List[torch.Tensor] = []
        hook = None
        if visual_tokens:  # read the merger output of this forward (removed right after it)
            hook = self.vlm.model.visual.register_forward_hook(
                lambda _m, _i, out: captured.append(out.pooler_output))
        try:
            out = self.vlm.model(**inputs, use_cache=False)
        finally:
            if hook is not None:
                hook.remove()
        plan_h = out.last_hidden_state[:, -self.num_waypoints:]  # (B, T, D): plan queries are last
        feats = torch.cat([ego_state / self.state_scale, past_traj.flatten(1) / self.past_scale], dim=1)
        s = self.state_embed(feats)[:, None].expand_as(plan_h)
        steps = self.head(torch.cat([plan_h, s], dim=-1))  # (B, T, 2) residual per step
        pred = constant_velocity_rollout(ego_state, self.num_waypoints) + steps.cumsum(dim=1)
        tokens = captured[0].reshape(imgs.shape[0], self.num_visual, -1) if captured else None
        return pred, tokens

    @staticmethod
    def _stack(x: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        return x if isinstance(x, torch.Tensor) else torch.stack(list(x))

    def forward(self, imgs: Any, command: Any, ego_state: Any, past_traj: Any, gt_traj: Any = None,
                gt_valid: Any = None, meta: Any = None, mode: str = "tensor",
                **unused: Any) -> Union[Dict[str, torch.Tensor], List[Dict[str, Any]], torch.Tensor]:
        """mmengine entry point over collated :class:`~fastdrive.datasets.PlanningDataset` items.

        ``imgs`` is ``(B, num_cams, 3, H, W)`` (or a list of ``(num_cams, 3, H, W)``);
        the first camera is used, and so is that of ``imgs_prev`` (keyword,
        ``PlanningDataset(prev_frame=True)``) with ``frame_pair``. 'loss' ->
        ``{'loss_plan'}`` (smooth L1 over valid future steps); 'predict' -> one ``{'pred_traj': (6, 2), 'meta'}``
        per sample (what :class:`~fastdrive.evaluation.PlanningMetric` reads);
        'tensor' -> ``(B, 6, 2)``.
        """
        imgs = self._stack(imgs)
        if imgs.dim() == 5:
            imgs = imgs[:, 0]
        imgs_prev = unused.get("imgs_prev")
        if imgs_prev is None and self.frame_pair and mode == "loss" and not self._warned_still:
            warnings.warn("a frame_pair model is training on stills: build its datasets with prev_frame=True")
            self._warned_still = True
        if imgs_prev is not None:  # PlanningDataset(prev_frame=True): (B, num_cams, 3, H, W)
            imgs_prev = self._stack(imgs_prev)
            imgs_prev = imgs_prev[:, 0] if imgs_prev.dim() == 5 else imgs_prev
        if mode == "loss":
            return self._loss(imgs, self._stack(command), self._stack(ego_state), self._stack(past_traj),
                              self._stack(gt_traj), self._stack(gt_valid), unused.get("token_sem"), imgs_prev)
        pred = self.plan(imgs, self._stack(command), self._stack(ego_state), self._stack(past_traj), imgs_prev)
        if mode == "tensor":
            return pred
        if mode == "predict":
            metas = list(meta) if meta is not None else [None] * pred.shape[0]
            return [dict(pred_traj=p.detach().cpu(), **({"meta": m} if m is not None else {}))
                    for p, m in zip(pred, metas)]
        raise ValueError(f"unknown mode {mode!r}")

    def hide_history(self, ego_state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3)`` state -> the same with acceleration 0 (kept with ``keep_accel``), and the
        ``(B, num_past, 2)`` constant-velocity past."""
        hidden = ego_state.clone()
        if not self.keep_accel:
            hidden[:, 1] = 0.0
        elif self.keep_accel == "throttle":  # braking is the reaction the camera must explain
            hidden[:, 1] = hidden[:, 1].clamp(min=0.0)
        return hidden, constant_velocity_past(hidden, self.num_past)

    def _loss(self, imgs: torch.Tensor, command: torch.Tensor, ego_state: torch.Tensor, past_traj: torch.Tensor,
              gt_traj: torch.Tensor, gt_valid: torch.Tensor, token_sem: Any = None,
              imgs_prev: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """Training losses: weighted smooth-L1 waypoint loss and, with a perception head, ``loss_token``.

        ``token_sem``: ``(B, N, C)`` class shares per token cell (rows that sum to 0 are ignored).
        """
        dev = self.state_scale.device
        ego_state, past_traj = ego_state.to(dev).float(), past_traj.to(dev).float()
        logged_state = ego_state  # the go head's standstill test reads the log, not what dropout hides
        token_sem = self._stack(token_sem).to(dev) if token_sem is not None else None  # (B, N, C), once
        if self.training and self.ego_dropout > 0 and self.ego_history:
            drop = torch.rand(ego_state.shape[0], device=dev) < self.ego_dropout
            hidden_state, hidden_past = self.hide_history(ego_state)
            ego_state = torch.where(drop[:, None], hidden_state, ego_state)
            past_traj = torch.where(drop[:, None, None], hidden_past, past_traj)
        want_tokens = self.token_head is not None or self.go_head is not None
        if self.training and self.token_drop > 0 and float(torch.rand(())) < self.token_drop:
            from ..pruning.oracle import CONTEXT_KEY, OracleObjects
            from ..pruning.random_pruner import RandomPruner
            from ..vla.adapter import install_adapter

            low, high = self.token_drop_keep
            keep = low + (high - low) * float(torch.rand(()))
            seed = int(torch.randint(0, 2**31 - 1, ()))  # from the run's seeded RNG: reproducible
            pruner, context = RandomPruner(), {"seed": seed}
            if token_sem is not None and self.token_drop_objects > 0 and bool(token_sem.sum() > 0) \
                    and float(torch.rand(())) < self.token_drop_objects:  # (no ground truth: random)
                pruner, context = OracleObjects(), {CONTEXT_KEY: token_sem}
            # the planner's own adapter (installed once, shared); this forward's request only
            adapter = install_adapter(self.vlm, action_rows=self.num_waypoints)
            with adapter.pruning(pruner, keep, context=context):
                pred, tokens = self._plan(imgs, command, ego_state, past_traj,
                                          visual_tokens=want_tokens, imgs_prev=imgs_prev)
        else:
            pred, tokens = self._plan(imgs, command, ego_state, past_traj, visual_tokens=want_tokens,
                                      imgs_prev=imgs_prev)
        gt = gt_traj.to(pred)
        valid = gt_valid.to(dev).float()[..., None]  # (B, T, 1)
        weight = torch.ones(pred.shape[0], device=dev)
        if self.event_weight > 0:
            cv = constant_velocity_rollout(ego_state, self.num_waypoints)
            dev_m = ((gt - cv).norm(dim=-1) * valid[..., 0]).sum(1) / valid[..., 0].sum(1).clamp(min=1.0)
            weight = 1.0 + self.event_weight * dev_m.clamp(max=3.0)
        err = nn.functional.smooth_l1_loss(pred, gt, reduction="none", beta=0.5) * valid
        per_sample = err.sum(dim=(1, 2))
        denom = (valid.sum(dim=(1, 2)) * 2 * weight).sum().clamp(min=1.0)
        losses = {"loss_plan": self.loss_weight * (weight * per_sample).sum() / denom}
        if self.token_head is not None and tokens is not None and token_sem is not None:
            target = token_sem.to(tokens)
            logp = torch.log_softmax(self.token_head(tokens), dim=-1)  # (B, N, C)
            rows = target.sum(-1) > 0
            ce = -(target * logp).sum(-1)
            losses["loss_token"] = self.aux_weight * (ce * rows).sum() / rows.sum().clamp(min=1)
        if self.go_head is not None and tokens is not None:
            losses["loss_go"] = self.go_weight * self.go_head.loss(tokens, logged_state, gt, valid[:, -1, 0] > 0)
        return losses
