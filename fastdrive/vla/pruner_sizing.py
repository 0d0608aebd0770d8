"""Constructor arguments that size a learned pruner to its host Qwen2.5-VL LLM."""

from __future__ import annotations

import inspect
from typing import Any, Dict

from ..registry import PRUNERS


def init_parameters(cls: type) -> Dict[str, inspect.Parameter]:
    """Named constructor parameters of ``cls``, following ``**kwargs`` up to the parent classes."""
    out: Dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters
        out.update({k: v for k, v in params.items() if k != "self" and k not in out
                    and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)})
        if not any(v.kind == v.VAR_KEYWORD for v in params.values()):
            break
    return out


def host_pruner_kwargs(method: str, config: Any) -> Dict[str, Any]:
    """Arguments of pruner ``method`` that must match the host LLM, read from ``config.text_config``.

    Methods with learned parts (ReconPruner's decoder layer, LightVLA*'s
    queries) default to Qwen2.5-VL-3B widths; this returns the host's
    ``hidden_size``, heads, KV heads, MLP width, RMS-norm epsilon, M-RoPE
    sections and rope theta for the arguments the method's constructor takes
    (nothing for parameter-free methods). Weights stay as built.
    """
    params = init_parameters(PRUNERS.get(method))
    text = config.text_config
    rope = getattr(text, "rope_parameters", None) or {}
    known = dict(hidden_size=text.hidden_size, num_heads=text.num_attention_heads,
                 num_kv_heads=text.num_key_value_heads, intermediate_size=text.intermediate_size,
                 rms_norm_eps=text.rms_norm_eps, mrope_section=rope.get("mrope_section"),
                 rope_theta=rope.get("rope_theta"))
    return {k: v for k, v in known.items() if k in params and v is not None}
