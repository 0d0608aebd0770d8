"""Dynamic batching: concurrent requests become one ``plan_batch`` call, run off the event loop.

Requests wait in a bounded queue; a collector takes the first one, waits up
to ``max_wait_s`` for more (at most ``max_batch_size``), runs the batch in a
single worker thread (one model, one forward at a time) and resolves each
request's future. A full queue refuses at once (:class:`ServiceBusy`, HTTP
503 with Retry-After) instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence

from fastdrive.errors import FastDriveError

log = logging.getLogger("fastdrive.service")


class ServiceBusy(FastDriveError):
    """The request queue is full, or a request waited too long (HTTP 503, Retry-After)."""

    http_status = 503

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = int(retry_after_s)


@dataclass
class _Pending:
    item: Any
    future: "asyncio.Future[Any]"
    enqueued: float = field(default_factory=time.perf_counter)
    started: float = 0.0


@dataclass
class BatchResult:
    """What a request gets back: its result, and how long it queued / which batch size it ran in."""

    value: Any
    queue_s: float
    batch_size: int


class Batcher:
    """Collects requests into batches for ``run_batch(items) -> results`` (same order, same length).

    ``run_batch`` may return an exception instance in place of a result: that
    request fails, the others succeed. If it raises, a batch of several is
    retried one by one, so one bad request cannot fail its neighbours.

    Args:
        run_batch: the blocking batch function (runs in the worker thread).
        max_batch_size: most items per call.
        max_wait_s: how long the first item of a batch waits for company.
        max_queue: waiting items beyond this are refused with :class:`ServiceBusy`.
        on_batch: called with each batch size (metrics).
    """

    def __init__(self, run_batch: Callable[[Sequence[Any]], List[Any]], max_batch_size: int = 8,
                 max_wait_s: float = 0.005, max_queue: int = 64,
                 on_batch: Optional[Callable[[int], None]] = None) -> None:
        self.run_batch = run_batch
        self.max_batch_size = int(max_batch_size)
        self.max_wait_s = float(max_wait_s)
        self.max_queue = int(max_queue)
        self.on_batch = on_batch
        self._queue: Optional[asyncio.Queue] = None
        self._task: Optional[asyncio.Task] = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastdrive-model")
        self.last_batch_s = 0.05

    @property
    def depth(self) -> int:
        """Requests waiting (not yet in a running batch)."""
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._task = asyncio.create_task(self._collect(), name="fastdrive-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.set_exception(ServiceBusy("the service is shutting down"))
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, item: Any, timeout_s: Optional[float] = None) -> BatchResult:
        """Queue ``item`` and wait for its result.

        Raises:
            ServiceBusy: the queue is full, or the result took over ``timeout_s``.
            Exception: whatever ``run_batch`` returned or raised for this item.
        """
        if self._queue is None:
            raise ServiceBusy("the service is not started")
        pending = _Pending(item, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            retry = max(1, round(self.last_batch_s * (self.max_queue / self.max_batch_size)))
            raise ServiceBusy(f"{self.max_queue} requests are waiting; retry later", retry) from None
        try:
            value = await asyncio.wait_for(asyncio.shield(pending.future), timeout_s)
        except asyncio.TimeoutError:
            pending.future.cancel()  # a batch not yet started leaves it out
            raise ServiceBusy(f"no result within {timeout_s:g} s; retry later") from None
        return value

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_wait_s
            while len(batch) < self.max_batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    try:  # take what is already there without waiting
                        batch.append(self._queue.get_nowait())
                        continue
                    except asyncio.QueueEmpty:
                        break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # timed out while waiting
            if not batch:
                continue
            started = time.perf_counter()
            for p in batch:
                p.started = started
            if self.on_batch is not None:
                self.on_batch(len(batch))
            results = await loop.run_in_executor(self._executor, self._run_safely, [p.item for p in batch])
            self.last_batch_s = time.perf_counter() - started
            for p, result in zip(batch, results):
                if p.future.done():
                    continue
                if isinstance(result, BaseException):
                    p.future.set_exception(result)
                else:
                    p.future.set_result(BatchResult(result, p.started - p.enqueued, len(batch)))

    def _run_safely(self, items: List[Any]) -> List[Any]:
        try:
            results = self.run_batch(items)
            if len(results) != len(items):
                raise RuntimeError(f"run_batch returned {len(results)} results for {len(items)} items")
            return results
        except Exception as exc:  # noqa: BLE001 -- handed to the requests, never lost
            if len(items) == 1:
                return [exc]
            log.warning("a batch of %d failed (%s); planning its requests one by one", len(items), exc)
            return [self._run_safely([item])[0] for item in items]
