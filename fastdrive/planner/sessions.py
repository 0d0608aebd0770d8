"""``SessionStore``: the one owner of temporal pruning state, bounded in count and age."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Optional, Tuple


@dataclass
class SessionEntry:
    """What one session carries from one call to the next for one pruning configuration.

    Attributes:
        state: the pruner's per-sample state entry (``Selection.state[b]``).
        action: ``(N,)`` action->vision attention of the previous call, or None.
        touched: clock reading of the last read or write (the TTL counts from it).
    """

    state: Any = None
    action: Any = None
    touched: float = 0.0


class SessionStore:
    """LRU + TTL map ``(session_id, pruning key) -> SessionEntry``, safe across threads.

    Temporal pruners (VLA-Pruner) are pure functions of the state they get;
    the planner reads each sample's entry here before the forward and writes
    the new one after. A session that has not been written for ``ttl_s``
    seconds (read or written) is gone; beyond ``max_sessions`` entries the least recently used
    go first.

    Args:
        max_sessions: bound on the number of entries (>= 1).
        ttl_s: age bound in seconds (None: no age limit).
        clock: monotonic time source (tests pass a fake one).
    """

    def __init__(self, max_sessions: int = 4096, ttl_s: Optional[float] = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive (or None), got {ttl_s}")
        self.max_sessions = int(max_sessions)
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: "OrderedDict[Tuple[str, Hashable], SessionEntry]" = OrderedDict()
        self.evicted = 0

    def get(self, session_id: str, key: Hashable) -> Optional[SessionEntry]:
        """The live entry of ``(session_id, key)``, or None (unknown or expired)."""
        with self._lock:
            self._expire()
            entry = self._entries.get((session_id, key))
            if entry is not None:
                entry.touched = self._clock()
                self._entries.move_to_end((session_id, key))
            return entry

    def put(self, session_id: str, key: Hashable, state: Any = None, action: Any = None) -> None:
        """Store the state a session's next call of this configuration receives."""
        with self._lock:
            k = (session_id, key)
            self._entries[k] = SessionEntry(state=state, action=action, touched=self._clock())
            self._entries.move_to_end(k)
            while len(self._entries) > self.max_sessions:
                self._entries.popitem(last=False)
                self.evicted += 1
            self._expire()

    def reset(self, session_id: Optional[str] = None) -> None:
        """Forget one session (every configuration of it), or everything."""
        with self._lock:
            if session_id is None:
                self._entries.clear()
            else:
                for k in [k for k in self._entries if k[0] == session_id]:
                    del self._entries[k]

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def _expire(self) -> None:
        if self.ttl_s is None:
            return
        cutoff = self._clock() - self.ttl_s
        # entries are in use order and every write moves to the end: drop from the front
        while self._entries:
            k, entry = next(iter(self._entries.items()))
            if entry.touched >= cutoff:
                break
            del self._entries[k]
            self.evicted += 1
