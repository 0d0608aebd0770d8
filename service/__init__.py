"""FastDrive's planning service: ``POST /plan`` over FastAPI/uvicorn.

Start it with ``python -m service`` (or ``fastdrive-serve``); build the app
in code with :func:`create_app`; call it with :class:`~service.client.PlanClient`.
"""

from .settings import ServiceSettings

__all__ = ["ServiceSettings", "create_app"]


def __getattr__(name: str):
    if name == "create_app":  # the app pulls in FastAPI and torch: only when asked for
        from .app import create_app

        return create_app
    raise AttributeError(name)
