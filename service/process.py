"""``ServerProcess``: a real ``python -m service`` process on 127.0.0.1 (tests, benchmarks, the closed loop)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import List, Optional

import httpx



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the directory holding this ``service`` package: the subprocess imports the same copy as the caller
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ServerProcess:
    """``with ServerProcess(["--api-key", "k"]) as server: httpx.get(server.url + "/readyz")``."""

    def __init__(self, args: Optional[List[str]] = None, env: Optional[dict] = None, ready_s: float = 180.0) -> None:
        """``args``: flags of ``python -m service`` (host and port are chosen here); ``ready_s``: start-up limit."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--host", "127.0.0.1", "--port", str(self.port), *(args or [])]
        self.env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **(env or {})}
        path = self.env.get("PYTHONPATH", "")
        self.env["PYTHONPATH"] = _PACKAGE_PARENT + (os.pathsep + path if path else "")
        self.ready_s = ready_s
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"fastdrive-service-{self.port}.log")

    def start(self) -> "ServerProcess":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "service", *self.args], env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + self.ready_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the service was not ready within {self.ready_s} s:\n{self.log()}")

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux /proc)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
