"""Widths of the small ``DrivingVLA`` the tests build (one spelling for every test file)."""

from __future__ import annotations

from typing import Any, Dict

TINY_VLM: Dict[str, Any] = dict(hidden_size=32, num_layers=2, num_heads=2, num_kv_heads=1, intermediate_size=64,
                                vision_hidden=32, vision_depth=1, vision_heads=2)


def tiny_vlm(**overrides: Any) -> Dict[str, Any]:
    """``TINY_VLM`` with ``overrides`` (e.g. ``num_layers=4`` so in-LLM pruners at layer 2-3 fit)."""
    return dict(TINY_VLM, **overrides)
