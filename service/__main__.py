"""``python -m service`` / ``fastdrive-serve``: run the planning service with uvicorn.

Flags and ``FASTDRIVE_*`` environment variables set the same options
(``--help`` lists them); ``--workers N`` starts N stateless replicas.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import List, Optional

from pydantic import ValidationError
from pydantic_settings import SettingsError


def main(argv: Optional[List[str]] = None) -> int:
    import uvicorn

    from .settings import ServiceSettings

    argv = sys.argv[1:] if argv is None else argv
    try:
        settings = ServiceSettings(_cli_parse_args=argv)
    except (ValidationError, SettingsError) as exc:
        print(f"fastdrive-serve: bad settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.workers > 1:
        # each worker process builds its own app from the environment
        for name, value in settings.model_dump(exclude={"host", "port", "workers"}).items():
            if value is None:
                continue
            if name == "api_key":
                value = value.get_secret_value()
            elif isinstance(value, list):
                value = ",".join(value)
            os.environ[f"FASTDRIVE_{name.upper()}"] = str(value)
        uvicorn.run("service.app:app_from_env", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level="info")
        return 0
    from .app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
