"""Prometheus metrics of one service instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
TOKEN_BUCKETS = (1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


class ServiceMetrics:
    """Request latency, batch size, tokens kept, queue depth, sessions, errors by type."""

    def __init__(self, queue_depth: Callable[[], float], sessions: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.latency = Histogram("fastdrive_request_latency_seconds", "POST /plan latency, received to answered",
                                 ["status"], buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("fastdrive_batch_size", "requests per plan_batch forward",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.tokens_kept = Histogram("fastdrive_tokens_kept", "visual tokens the language model saw, per request",
                                     ["method"], buckets=TOKEN_BUCKETS, registry=r)
        self.errors = Counter("fastdrive_errors_total", "failed requests by error type", ["type"], registry=r)
        self.queue_depth = Gauge("fastdrive_queue_depth", "requests waiting for a batch", registry=r)
        self.queue_depth.set_function(queue_depth)
        self.sessions = Gauge("fastdrive_sessions", "temporal pruning sessions held", registry=r)
        self.sessions.set_function(sessions)

    def render(self) -> bytes:
        return generate_latest(self.registry)
