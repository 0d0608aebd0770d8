"""Helpers of the tests that launch ``mim`` as a subprocess."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Optional

import pytest


def mim_executable() -> str:
    """Path of openmim's ``mim`` (skips the test when it is not installed)."""
    exe = shutil.which("mim") or os.path.join(os.path.dirname(sys.executable), "mim")
    if not os.path.exists(exe):
        pytest.skip("openmim's `mim` executable is not installed")
    return exe


def installed_with(suffix: Optional[str] = None) -> bool:
    """fastdrive is pip-installed (and, with ``suffix``, ships a file ending in it, e.g. a config)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("fastdrive")
    except PackageNotFoundError:
        return False
    return suffix is None or any(str(f).endswith(suffix) for f in (dist.files or []))
