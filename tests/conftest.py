"""Shared fixtures: the tiny generated planning world (made once per session)."""

from __future__ import annotations

import os
import sys

import pytest

# the world helpers live beside the dataset tests; one module object for all users
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "datasets"))
# the tiny DrivingVLA widths live beside the model tests (``from tiny_vla import tiny_vlm``)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))

from planning_world import planning_world  # noqa: E402


@pytest.fixture(scope="session")
def planning_world_root(tmp_path_factory) -> str:
    """Dataroot of the 2-scene planning world of ``tests/datasets/planning_world.py``."""
    return str(planning_world(tmp_path_factory))


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tiny models on one torch thread (restored afterwards): on a busy
    2-core machine extra threads only oversubscribe it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
