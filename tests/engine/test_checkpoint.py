"""mmengine checkpoints load with torch's weights_only=True after registration."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from fastdrive.engine import register_checkpoint_safe_globals


def _checkpoint_bytes() -> bytes:
    hub = MessageHub.get_instance("fastdrive_ckpt_test")
    for i in range(5):
        hub.update_scalar("train/loss", float(10 - i))
    buf = io.BytesIO()
    torch.save({"state_dict": {"w": torch.ones(2)}, "message_hub": hub.state_dict(),
                "meta": {"seed": np.int64(3), "lr": np.float64(0.1)}}, buf)
    return buf.getvalue()


def test_history_buffer_round_trips_safely() -> None:
    register_checkpoint_safe_globals()
    data = _checkpoint_bytes()
    ckpt = torch.load(io.BytesIO(data), weights_only=True)
    loss = ckpt["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(loss, HistoryBuffer)
    assert loss.current() == 6.0 and loss.mean() == pytest.approx(8.0)
    assert ckpt["meta"]["seed"] == 3


def test_arbitrary_globals_are_still_refused() -> None:
    register_checkpoint_safe_globals()

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    buf = io.BytesIO()
    torch.save({"x": Evil()}, buf)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
