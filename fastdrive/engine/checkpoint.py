"""Let mmengine resume and ``load_from`` under torch's ``weights_only=True``.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True`` and refuses
any pickled global it does not know. mmengine 0.10.7 calls ``torch.load``
without that argument, and its checkpoints carry more than tensors: the
``message_hub`` holds :class:`mmengine.logging.HistoryBuffer` objects with
numpy arrays inside, and ``meta`` may hold numpy scalars. Resuming therefore
fails with ``UnpicklingError: Weights only load failed``.

The proper fix keeps the safe loader and *allow-lists* exactly the types an
mmengine checkpoint contains, through torch's public
``torch.serialization.add_safe_globals``. One wrinkle: a used
``HistoryBuffer`` pickles a dict of *bound methods*, which unpickles through
``builtins.getattr`` -- allow-listing ``getattr`` would re-open arbitrary
attribute access, so instead we register (with the standard ``copyreg``
dispatch table, no library file touched) a reduction that saves a
``HistoryBuffer`` as its three data fields and rebuilds it with
:func:`_rebuild_history_buffer`, which is allow-listed. Checkpoints written
after :func:`register_checkpoint_safe_globals` therefore load with
``weights_only=True``; arbitrary code in a checkpoint is still refused.
Callers (our ``tools/train.py`` and ``tools/test.py``, the service's model
loader) call :func:`register_checkpoint_safe_globals` once at start-up.
"""

from __future__ import annotations

import copyreg
from typing import Any, List, Sequence, Tuple

import numpy as np
import torch


def _numpy_globals() -> List[Any]:
    """Numpy types that pickled arrays and scalars reference."""
    out: List[Any] = [np.ndarray, np.dtype]
    # Array reconstruction helpers; numpy 1.x keeps them in numpy.core,
    # numpy 2.x in numpy._core.
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar  # type: ignore
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore
    out += [_reconstruct, scalar]
    # Concrete dtype classes (numpy >= 1.25 pickles e.g. Float64DType).
    dtypes_mod = getattr(np, "dtypes", None)
    if dtypes_mod is not None:
        for name in dir(dtypes_mod):
            obj = getattr(dtypes_mod, name)
            if isinstance(obj, type) and issubclass(obj, np.dtype):
                out.append(obj)
    # Scalar types (np.float64(...) stored in meta or the message hub).
    for name in ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                 "uint64", "float16", "float32", "float64", "complex64", "complex128"):
        out.append(getattr(np, name))
    return out


def _mmengine_globals() -> List[Any]:
    """mmengine classes stored inside its own checkpoints."""
    from mmengine.logging import HistoryBuffer

    out: List[Any] = [HistoryBuffer]
    try:
        from mmengine.config import ConfigDict

        out.append(ConfigDict)
    except ImportError:  # pragma: no cover - very old mmengine
        pass
    return out


def _rebuild_history_buffer(log_history: Sequence, count_history: Sequence, max_length: int) -> Any:
    """Inverse of :func:`_reduce_history_buffer` (allow-listed for ``torch.load``)."""
    from mmengine.logging import HistoryBuffer

    return HistoryBuffer(log_history, count_history, max_length)


def _reduce_history_buffer(buf: Any) -> Tuple[Any, Tuple[Any, Any, int]]:
    """Pickle a ``HistoryBuffer`` as data only (no bound methods)."""
    return _rebuild_history_buffer, (buf._log_history, buf._count_history, int(buf.max_length))


def register_checkpoint_safe_globals() -> None:
    """Allow-list the globals of mmengine checkpoints for safe ``torch.load``.

    Idempotent. After this call ``Runner.resume`` / ``load_from`` and
    :func:`mmengine.runner.load_checkpoint` work with torch's default
    ``weights_only=True`` loader.
    """
    from mmengine.logging import HistoryBuffer

    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    torch.serialization.add_safe_globals(
        _numpy_globals() + _mmengine_globals() + [_rebuild_history_buffer])
