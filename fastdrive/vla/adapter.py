"""Plug a :class:`~fastdrive.pruning.base.TokenPruner` into a Qwen2.5-VL model.

``handle = attach_pruner(model, pruner, keep=0.25)`` registers forward
pre-hooks (nothing in transformers is edited or replaced); afterwards the
stock ``model(**inputs)`` and ``model.generate(**inputs)`` prune, and
``handle.detach()`` removes every hook, leaving the stock model.

Hook points:

* pre-LLM (``pruner.stage == 'pre_llm'``), a pre-hook on ``model.model``
  (``Qwen2_5_VLModel``): on a prefill with images it runs the vision tower +
  merger (``get_image_features``), computes 3D M-RoPE ``position_ids`` over
  the full sequence with the model's own ``get_rope_index`` (and sets
  ``rope_deltas`` from it), asks the pruner, then hands the language model
  ``inputs_embeds`` and the ``position_ids`` / ``attention_mask`` /
  ``mm_token_type_ids`` columns of the kept tokens only: every kept token
  keeps its original position.
* in-LLM (``'in_llm'``, acting before layer ``K = pruner.layer``),
  pre-hooks on decoder layers ``K-1 .. end``: layer ``K-1``'s input is
  recorded so its attention rows / keys can be recomputed for the pruner
  (every layer stays on SDPA), then layers ``>= K`` get their hidden states,
  ``(cos, sin)``, mask and position ids sliced (see :mod:`._in_llm`).

Decode steps after a pruned prefill are recognised by their KV cache (the
same object) and get their 2D mask / positions / per-layer masks mapped
onto the pruned cache; decode positions continue from the full sequence
(``rope_deltas``), as in the unpruned model.

Batches: all samples must hold the same number of visual tokens. A pruner
may keep different counts per sample (``Selection.counts``); shorter rows
are padded with hidden slots (see :mod:`._gather`), so outputs stay
rectangular: ``logits`` of a pruned forward are ``(B, L', V)`` over the
slots of ``handle.last.plan``.

A handle is not thread-safe: one forward/generate at a time.
"""

from __future__ import annotations

import inspect
import time
import weakref
from typing import Any, Dict, List, Mapping, Optional

import torch
from torch import nn
from transformers.cache_utils import DynamicCache

from ..pruning.base import KeepSpec, PruningContext, TokenPruner
from . import _in_llm, _pre_llm
from ._attention import layer_attention_rows
from ._gather import build_plan, gather_seq, image_layout
from ._state import PruningRecord, RunState, kept_grid_coords


# model.model -> its attached handle (one pruner per model at a time)
_ATTACHED: "weakref.WeakKeyDictionary[nn.Module, PruningHandle]" = weakref.WeakKeyDictionary()


class PruningHandle:
    """A pruner attached to a ``Qwen2_5_VLForConditionalGeneration``.

    Attributes:
        model: the wrapped model (unchanged apart from hooks).
        pruner: the :class:`TokenPruner`; ``keep`` its int/float budget
            (both may be changed between calls).
        session_id: passed to the pruner's context (temporal methods).
        last: :class:`PruningRecord` of the last pruned prefill, or None.
        action_layer: LLM layer whose decode-time attention on the visual
            tokens is averaged and handed to the next prefill of the session
            as ``context.extra['action_attention'] (B, N)`` (only for
            stateful pruners; None disables).
        action_rows: for models that read their actions from query tokens at
            the end of the prompt in one prefill (plan queries, parallel
            action decoding) instead of generating them: the number ``R`` of
            those last rows. Their prefill attention at ``action_layer``
            (mean over the ``R`` rows and the heads) is the action signal
            then; None: decode steps are the action tokens.
    """

    def __init__(self, model: nn.Module, pruner: TokenPruner, keep: KeepSpec = 1.0,
                 session_id: Optional[str] = None, action_layer: Optional[int] = None,
                 action_rows: Optional[int] = None, context: Optional[Mapping[str, Any]] = None) -> None:
        self.model = model
        self.context = dict(context or {})
        self.action_rows = int(action_rows) if action_rows else None
        self.pruner = pruner
        self.keep = keep
        self.session_id = session_id
        self.last: Optional[PruningRecord] = None
        self._run: Optional[RunState] = None
        self._states: Dict[Any, Any] = {}
        self._action: Dict[Any, torch.Tensor] = {}
        self._hooks: List[Any] = []
        vlm = model.model
        if _ATTACHED.get(vlm) is not None and _ATTACHED[vlm].attached:
            raise RuntimeError("a pruner is already attached to this model; detach it first")
        self._vlm = vlm
        self._layers = vlm.language_model.layers
        n_layers = len(self._layers)
        text_cfg = vlm.language_model.config
        if any(t != "full_attention" for t in text_cfg.layer_types):
            raise NotImplementedError("pruning with sliding-window layers is not supported")
        self._forward_params = list(inspect.signature(vlm.forward).parameters)
        stage = getattr(pruner, "stage", "pre_llm")
        if stage not in ("pre_llm", "in_llm"):
            raise ValueError(f"unknown pruner stage {stage!r}")
        self.stage = stage
        self.layer = int(getattr(pruner, "layer", 0)) if stage == "in_llm" else 0
        if stage == "in_llm":
            if not 0 <= self.layer < n_layers:
                raise ValueError(f"in-LLM pruner layer {self.layer} outside [0, {n_layers})")
            needs = getattr(pruner, "attention_rows", "none") != "none" or getattr(
                pruner, "needs_keys", False)
            if needs and self.layer < 1:
                raise ValueError("a pruner that needs attention rows or keys must act at layer >= 1")
        if action_layer is None and getattr(pruner, "stateful", False):
            action_layer = n_layers - 1
        self.action_layer = action_layer
        self._last_visual_grid: Optional[torch.Tensor] = None
        self._hooks.append(vlm.register_forward_pre_hook(self._model_hook, with_kwargs=True))
        # generate() encodes the images itself and then drops image_grid_thw;
        # remember the grids the vision tower was last called with
        self._hooks.append(vlm.visual.register_forward_pre_hook(self._visual_hook, with_kwargs=True))
        hooked = set()
        if stage == "in_llm":  # layer 0 records the visual embeddings, K-1 its input, K.. get sliced
            hooked.update([0, *range(max(self.layer - 1, 0), n_layers)])
        if action_layer is not None:
            hooked.add(int(action_layer))
        for idx in sorted(hooked):
            hook = self._layers[idx].register_forward_pre_hook(self._make_layer_hook(idx), with_kwargs=True)
            self._hooks.append(hook)
        _ATTACHED[vlm] = self

    # ------------------------------------------------------------------ API
    def detach(self) -> nn.Module:
        """Remove every hook; the model is the stock model again."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
        self._run = None
        if _ATTACHED.get(self._vlm) is self:
            del _ATTACHED[self._vlm]
        return self.model

    @property
    def attached(self) -> bool:
        return bool(self._hooks)

    def __enter__(self) -> "PruningHandle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def set_state(self, state: Any, session_id: Optional[str] = None) -> None:
        """Temporal state handed to the pruner (``context.state``) at the next
        prefill of ``session_id`` (e.g. restored by a stateless service)."""
        self._states[session_id] = state

    def set_action_attention(self, attention: torch.Tensor, session_id: Optional[str] = None) -> None:
        """``(B, N)`` action->vision attention handed to the next prefill of the
        session as ``context.extra['action_attention']`` (normally measured by
        the adapter during the previous decode)."""
        self._action[session_id] = attention

    def memory(self) -> Dict[str, Dict[Any, Any]]:
        """Temporal memory of every session (pruner states, action attention), to
        carry over to a later handle with :meth:`restore_memory`."""
        self._store_action()  # the action signal of the last call, not yet filed
        return {"states": dict(self._states), "action": dict(self._action)}

    def restore_memory(self, memory: Dict[str, Dict[Any, Any]]) -> None:
        """Take over the memory returned by another handle's :meth:`memory`."""
        self._states.update(memory.get("states", {}))
        self._action.update(memory.get("action", {}))

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget temporal state (pruner's and the adapter's action attention)."""
        if session_id is None:
            self._states.clear()
            self._action.clear()
        else:
            self._states.pop(session_id, None)
            self._action.pop(session_id, None)
        self.pruner.reset(session_id)

    # ---------------------------------------------------------- model hook
    def _visual_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        if grid is not None:
            self._last_visual_grid = grid

    def _model_hook(self, module: nn.Module, args: tuple, kwargs: dict):
        if args:
            kwargs = {**dict(zip(self._forward_params, args)), **kwargs}
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
            self._store_action()
            return (), self._prefill(kwargs)
        run = self._run
        if run is not None and cache is not None and cache is run.cache and past > 0:
            run.phase = "decode"
            return (), self._decode(run, kwargs, past)
        self._store_action()
        self._run = None
        return ((), kwargs) if args else None

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
        t0 = time.perf_counter()
        extra = self._context_extra()
        # the tokens' own (t, h, w) M-RoPE positions (the last three rows of 3- or 4-row position ids)
        extra.setdefault("visual_position_ids", gather_seq(pos[-3:], lay.visual_positions, dim=-1))
        ctx = PruningContext(grid_hw=lay.grids[0], text_embeds=run.text_embeds, text_mask=lay.text_mask,
                             session_id=self.session_id, state=self._states.get(self.session_id),
                             extra=extra)
        sel = self.pruner.select(tokens, self.keep, ctx)
        seconds = time.perf_counter() - t0
        num_extra = 0 if sel.extra_tokens is None else int(sel.extra_tokens.shape[1])
        plan = build_plan(run.full_len, lay.visual_positions, [sel.row(b) for b in range(tokens.shape[0])],
                          num_extra)
        self._record(run, sel, plan, seconds)
        return _pre_llm.pruned_kwargs(kw, run, embeds, pos, plan, sel.extra_tokens)

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
            # 2D mask is given without position ids)
            deltas = self._vlm.rope_deltas if self._vlm.rope_deltas is not None else 0
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

    # ---------------------------------------------------------- layer hook
    def _make_layer_hook(self, idx: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict):
            return self._layer_hook(idx, module, args, kwargs)
        return hook

    def _layer_hook(self, idx: int, module: nn.Module, args: tuple, kwargs: dict):
        run = self._run
        if run is None:
            return None
        hidden = args[0] if args else kwargs.pop("hidden_states")
        in_llm = self.stage == "in_llm"
        if run.phase == "prefill" and in_llm:
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
                    self._states.get(self.session_id), final_norm=self._vlm.language_model.norm)
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

    # ------------------------------------------------------------- helpers
    def _context_extra(self) -> Dict[str, Any]:
        extra: Dict[str, Any] = dict(self.context)
        if self.session_id in self._action:
            extra["action_attention"] = self._action[self.session_id]
        return extra

    def _record(self, run: RunState, sel, plan, seconds: float) -> None:
        run.plan = plan
        if sel.state is not None:
            self._states[self.session_id] = sel.state
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

    def _store_action(self) -> None:
        run = self._run
        if run is not None and run.action_attention is not None and run.action_steps:
            self._action[self.session_id] = run.action_attention / run.action_steps


def attach_pruner(model: nn.Module, pruner: TokenPruner, keep: KeepSpec = 1.0,
                  session_id: Optional[str] = None, action_layer: Optional[int] = None,
                  action_rows: Optional[int] = None, context: Optional[Mapping[str, Any]] = None) -> PruningHandle:
    """Attach ``pruner`` to a ``Qwen2_5_VLForConditionalGeneration``; see :class:`PruningHandle`.

    ``context``: extra per-call inputs handed to the pruner in ``PruningContext.extra``
    (e.g. the ground truth the evaluation-only oracle pruners read).
    """
    return PruningHandle(model, pruner, keep, session_id=session_id, action_layer=action_layer,
                         action_rows=action_rows, context=context)
