"""One pruned forward (or generate): the per-call state the adapter's hooks act on.

A :class:`PruningCall` is made for each request, holds everything that
belongs to that call (pruner, budget, ground-truth context, the temporal
state handed in and the one handed out, the run state shared by the
prefill and its decode steps, the provenance record) and is found by the
hooks through a context variable (see :mod:`.adapter`). Nothing of it is
left on the model, so concurrent calls on one model do not see each other.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Dict, Mapping, Optional, Sequence

import torch
from torch import nn
from transformers.cache_utils import DynamicCache

from ..pruning.base import KeepSpec, PruningContext, TokenPruner
from . import _in_llm, _pre_llm
from ._attention import layer_attention_rows
from ._gather import build_plan, gather_seq, image_layout
from ._state import PruningRecord, RunState, kept_grid_coords


def device_seconds(device: torch.device) -> float:
    """``time.perf_counter()`` after the device's queued work is done (CUDA is asynchronous)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class PruningCall:
    """The pruning request of one forward / generate of a Qwen2.5-VL model.

    Args:
        vlm: the model's ``Qwen2_5_VLModel`` (``model.model``).
        pruner: the method; ``keep`` its int count or float share.
        context: extra per-call inputs handed to the pruner in
            ``PruningContext.extra`` (e.g. the oracles' ground truth).
        state: temporal state of the ``B`` samples from their previous
            call (per sample None or the pruner's entry), or None.
        action_attention: ``(B, N)`` tensor, or ``B`` entries of ``(N,)`` /
            None: each sample's action->vision attention of its previous call.
        action_layer: LLM layer whose attention on the visual tokens is the
            action signal of this call (stateful pruners; None disables).
        action_rows: ``R`` plan-query rows at the end of the prompt whose
            prefill attention is the action signal (models that read their
            actions in one prefill); None: decode steps are the actions.

    After the call: :attr:`last` (provenance), :attr:`state_out` (the
    pruner's new per-sample state, or None) and :meth:`action_out`.
    """

    def __init__(self, vlm: nn.Module, pruner: TokenPruner, keep: KeepSpec = 1.0,
                 context: Optional[Mapping[str, Any]] = None, state: Any = None,
                 action_attention: Any = None, action_layer: Optional[int] = None,
                 action_rows: Optional[int] = None, session_id: Optional[str] = None) -> None:
        self._vlm = vlm
        self._layers = vlm.language_model.layers
        self.pruner = pruner
        self.keep = keep
        self.context = dict(context or {})
        self.state_in = state
        self.action_in = action_attention
        self.session_id = session_id
        self.action_rows = int(action_rows) if action_rows else None
        self.adapter: Any = None  # set by the adapter that runs it
        self.last: Optional[PruningRecord] = None
        self.state_out: Any = None
        self._action_out: Optional[torch.Tensor] = None
        self._run: Optional[RunState] = None
        self._last_visual_grid: Optional[torch.Tensor] = None
        n_layers = len(self._layers)
        stage = getattr(pruner, "stage", "pre_llm")
        if stage not in ("pre_llm", "in_llm"):
            raise ValueError(f"unknown pruner stage {stage!r}")
        self.stage = stage
        self.layer = int(getattr(pruner, "layer", 0)) if stage == "in_llm" else 0
        if stage == "in_llm":
            if not 0 <= self.layer < n_layers:
                raise ValueError(f"in-LLM pruner layer {self.layer} outside [0, {n_layers})")
            needs = getattr(pruner, "attention_rows", "none") != "none" or getattr(pruner, "needs_keys", False)
            if needs and self.layer < 1:
                raise ValueError("a pruner that needs attention rows or keys must act at layer >= 1")
        if action_layer is None and getattr(pruner, "stateful", False):
            action_layer = n_layers - 1
        self.action_layer = action_layer
        hooked = set()
        if stage == "in_llm":  # layer 0 records the visual embeddings, K-1 its input, K.. get sliced
            hooked.update([0, *range(max(self.layer - 1, 0), n_layers)])
        if action_layer is not None:
            hooked.add(int(action_layer))
        self.hooked_layers = frozenset(hooked)

    # ------------------------------------------------------------ outputs
    def action_out(self) -> Optional[torch.Tensor]:
        """``(B, N)`` mean action->vision attention of this call (None if not measured)."""
        self.finish()
        return self._action_out

    def finish(self) -> None:
        """File the action signal of the current run (called when a new run starts, and at the end)."""
        run = self._run
        if run is not None and run.action_attention is not None and run.action_steps:
            self._action_out = run.action_attention / run.action_steps

    # --------------------------------------------------------------- hooks
    def visual_hook(self, args: tuple, kwargs: dict) -> None:
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        if grid is not None:
            self._last_visual_grid = grid

    def model_hook(self, args: tuple, kwargs: dict):
        if args:
            params = list(inspect.signature(self._vlm.forward).parameters)
            kwargs = {**dict(zip(params, args)), **kwargs}
        cache = kwargs.get("past_key_values")
        past = cache.get_seq_length() if cache is not None else 0
        input_ids = kwargs.get("input_ids")
        has_image = (
            input_ids is not None
            and (kwargs.get("pixel_values") is not None
                 or (kwargs.get("mm_encoder_outputs") or {}).get("image") is not None)
            and bool((input_ids == self._vlm.config.image_token_id).any())
        )
        if has_image and past == 0:
            self.finish()
            return (), self._prefill(kwargs)
        run = self._run
        if run is not None and cache is not None and cache is run.cache and past > 0:
            run.phase = "decode"
            return (), self._decode(run, kwargs, past)
        self.finish()
        self._run = None
        return ((), kwargs) if args else None

    def layer_hook(self, idx: int, module: nn.Module, args: tuple, kwargs: dict):
        run = self._run
        if run is None or idx not in self.hooked_layers:
            return None
        hidden = args[0] if args else kwargs.pop("hidden_states")
        in_llm = self.stage == "in_llm"
        if run.phase == "prefill" and in_llm:
            if idx == 0 and run.rope_deltas is None:  # the stock forward has just computed them
                run.rope_deltas = self._vlm.rope_deltas
            if idx == self.layer - 1 and run.plan is None:
                cos, sin = kwargs["position_embeddings"]
                run.prev_input = (hidden, cos, sin, kwargs.get("attention_mask"))
            if idx == 0 and run.visual_embeds is None:  # layer 0's input: the merged embeddings
                run.visual_embeds = gather_seq(hidden, run.layout.visual_positions)
            if idx == self.layer:
                if hidden.shape[1] != run.full_len:
                    raise RuntimeError("in-LLM hook saw an unexpected sequence length")
                prev = self._layers[self.layer - 1] if self.layer >= 1 else None
                sel, seconds = _in_llm.select_in_llm(
                    self.pruner, self.keep, run, prev, hidden, self._context_extra(), self.session_id,
                    self.state_in, final_norm=self._vlm.language_model.norm)
                run.prev_input = None
                plan = _in_llm.build_in_llm_plan(run, sel)
                self._record(run, sel, plan, seconds)
                run.layer_kwargs = _in_llm.prefill_layer_kwargs(plan, kwargs)
                run.extra_tokens = sel.extra_tokens
            if idx == self.layer:  # later layers receive the pruned output of layer K
                hidden = _in_llm.gather_hidden(hidden, run.plan, run.extra_tokens)
            if idx >= self.layer and run.plan is not None:
                kwargs.update(run.layer_kwargs)
        elif run.phase == "decode" and in_llm and idx >= self.layer and run.plan is not None:
            lk = run.layer_kwargs
            if idx == self.layer:
                lk["sliced"] = _in_llm.decode_layer_kwargs(run.plan, kwargs, lk["kv_full"], lk["q_len"])
            kwargs.update(lk["sliced"])
        if idx == self.action_layer and run.plan is not None:
            if run.phase == "decode" and self.action_rows is None:
                att = _in_llm.decode_visual_attention(module, hidden, kwargs, run.cache, idx)
                self._accumulate_action(run, idx, att)
            elif run.phase == "prefill" and self.action_rows is not None:
                self._accumulate_action(run, idx, self._prefill_action_attention(module, hidden, kwargs))
        return (hidden,) + tuple(args[1:]), kwargs

    # ------------------------------------------------------------- prefill
    def _prefill(self, kw: dict) -> dict:
        vlm = self._vlm
        cfg = vlm.config
        input_ids = kw["input_ids"]
        attn2d = kw.get("attention_mask")
        if attn2d is not None and attn2d.dim() != 2:
            raise ValueError("the pruning adapter needs a 2D attention_mask (or None)")
        mm_types = kw.get("mm_token_type_ids")
        if mm_types is None:
            if kw.get("position_ids") is not None:
                raise ValueError(
                    "mm_token_type_ids is missing: transformers 5.x then builds 1D positions for the image "
                    "tokens (it silently drops M-RoPE); pass mm_token_type_ids to forward/generate")
            mm_types = (input_ids == cfg.image_token_id).int() + 2 * (input_ids == cfg.video_token_id).int()
            kw["mm_token_type_ids"] = mm_types
        grid_thw = kw.get("image_grid_thw")
        if grid_thw is None and (kw.get("mm_encoder_outputs") or {}).get("image") is not None:
            grid_thw = self._last_visual_grid
        if grid_thw is None:
            raise ValueError("image_grid_thw is needed to locate the image tokens")
        merge = cfg.vision_config.spatial_merge_size
        layout = image_layout(input_ids, cfg.image_token_id, grid_thw, merge, attn2d,
                              structural_ids=(cfg.vision_start_token_id, cfg.vision_end_token_id))
        use_cache = kw.get("use_cache")
        cache = kw.get("past_key_values")
        if cache is None and use_cache is not False and vlm.language_model.config.use_cache:
            cache = DynamicCache(config=vlm.language_model.config)
            kw["past_key_values"] = cache
        if cache is not None and type(cache) is not DynamicCache:
            raise NotImplementedError(
                f"pruning needs a DynamicCache (per-layer lengths), got {type(cache).__name__}")
        run = RunState(phase="prefill", cache=cache, layout=layout, attention_mask_2d=attn2d,
                       full_len=int(input_ids.shape[1]), layer0_len=int(input_ids.shape[1]))
        run.grid_thw = grid_thw
        self._run = run
        if self.stage == "pre_llm":
            return self._prefill_pre_llm(run, kw)
        embed = vlm.get_input_embeddings()
        run.text_embeds = embed(gather_seq(input_ids, layout.text_rows))
        return kw

    def _prefill_pre_llm(self, run: RunState, kw: dict) -> dict:
        embeds, pos = _pre_llm.full_inputs(self._vlm, kw, run)
        lay = run.layout
        run.visual_embeds = tokens = gather_seq(embeds, lay.visual_positions)
        run.text_embeds = gather_seq(embeds, lay.text_rows)
        t0 = device_seconds(tokens.device)
        extra = self._context_extra()
        # the tokens' own (t, h, w) M-RoPE positions (the last three rows of 3- or 4-row position ids)
        extra.setdefault("visual_position_ids", gather_seq(pos[-3:], lay.visual_positions, dim=-1))
        ctx = PruningContext(grid_hw=lay.grids[0], sample_grids=lay.grids, text_embeds=run.text_embeds,
                             text_mask=lay.text_mask, session_id=self.session_id, state=self.state_in, extra=extra)
        sel = self.pruner.select(tokens, self.keep, ctx)
        seconds = device_seconds(tokens.device) - t0
        num_extra = 0 if sel.extra_tokens is None else int(sel.extra_tokens.shape[1])
        plan = build_plan(run.full_len, lay.visual_positions, [sel.row(b) for b in range(tokens.shape[0])],
                          num_extra)
        self._record(run, sel, plan, seconds)
        return _pre_llm.pruned_kwargs(kw, run, embeds, pos, plan, sel.extra_tokens)

    # -------------------------------------------------------------- decode
    def _decode(self, run: RunState, kw: dict, past: int) -> dict:
        ref = kw.get("input_ids") if kw.get("input_ids") is not None else kw.get("inputs_embeds")
        q_len = int(ref.shape[1])
        attn2d = kw.get("attention_mask")
        full_past = past + (run.full_len - run.layer0_len)
        if attn2d is not None and attn2d.shape[-1] != full_past + q_len:
            raise ValueError(
                f"decode attention_mask covers {attn2d.shape[-1]} tokens, expected the full (unpruned) "
                f"sequence length {full_past + q_len}")
        if kw.get("position_ids") is None:
            # what the stock model means (its own fallback mis-sizes positions when a
            # 2D mask is given without position ids); the deltas of this call's prefill
            deltas = run.rope_deltas if run.rope_deltas is not None else 0
            if attn2d is not None:
                pos = attn2d.long().cumsum(-1)[:, -q_len:] - 1
            else:
                pos = torch.arange(full_past, full_past + q_len,
                                   device=ref.device)[None].expand(ref.shape[0], -1)
            kw["position_ids"] = (pos + deltas).unsqueeze(0).expand(3, -1, -1)
        if self.stage == "in_llm":
            run.layer_kwargs = {"kv_full": past + q_len, "q_len": q_len}
            return kw
        if run.prefix_mask is not None or attn2d is not None:
            prefix = run.prefix_mask
            if prefix is None:
                prefix = torch.ones(ref.shape[0], run.layer0_len, dtype=torch.long, device=ref.device)
            if attn2d is not None:
                tail = attn2d[:, run.full_len:].to(prefix.dtype)
            else:
                tail = torch.ones(ref.shape[0], past + q_len - run.layer0_len, dtype=prefix.dtype,
                                  device=ref.device)
            kw["attention_mask"] = torch.cat([prefix, tail], dim=1)
        return kw

    # ------------------------------------------------------------- helpers
    def _context_extra(self) -> Dict[str, Any]:
        extra: Dict[str, Any] = dict(self.context)
        if self.action_in is not None and not _all_none(self.action_in):
            extra["action_attention"] = self.action_in
        return extra

    def _record(self, run: RunState, sel, plan, seconds: float) -> None:
        run.plan = plan
        if sel.state is not None:
            self.state_out = sel.state
        lay = run.layout
        kept = [kept_grid_coords(sel.row(b), lay.grids[b]) for b in range(plan.cols.shape[0])]
        run.kept_slots = _in_llm.kept_slots(plan, lay.visual_positions, sel)
        run.selection = sel
        self.last = PruningRecord(sel, plan, lay.visual_positions, lay.grids, kept, self.stage,
                                  self.layer, seconds)

    def _prefill_action_attention(self, module: nn.Module, hidden: torch.Tensor, kwargs: dict) -> torch.Tensor:
        """``(B, L')`` head- and row-mean attention of the last ``action_rows`` prefill rows."""
        bsz, length, _ = hidden.shape
        rows = torch.arange(length - self.action_rows, length, device=hidden.device)[None].expand(bsz, -1)
        cos, sin = kwargs["position_embeddings"]
        att = layer_attention_rows(module, hidden, cos, sin, kwargs.get("attention_mask"), rows)
        return att.mean(dim=1)

    def _accumulate_action(self, run: RunState, idx: int, att: Optional[torch.Tensor]) -> None:
        """Add one step's ``(B, L')`` attention over the layer's columns, scattered onto the N visual tokens."""
        if att is None:
            return
        vis = run.layout.visual_positions
        bsz, n = vis.shape
        out = torch.zeros(bsz, n, dtype=att.dtype, device=att.device)
        pruned_here = self.stage == "pre_llm" or idx >= self.layer
        for b in range(bsz):
            if pruned_here:
                kept = run.selection.row(b)
                out[b, kept] = att[b, run.kept_slots[b]]
            else:
                out[b] = att[b, vis[b]]
        run.action_attention = out if run.action_attention is None else run.action_attention + out
        run.action_steps += 1


def _all_none(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, torch.Tensor) and all(v is None for v in value)


__all__ = ["PruningCall", "device_seconds"]
