"""Per-API minimum-interval limiter: the client never calls an API more often than Mirakl allows.

Mirakl publishes a *maximum call frequency* per API (OR11 once a minute, STO02 every 15 s...).
The limit is per shop, so every process talking to the same shop must share it: use
:class:`SqliteCallLimiter` (pyrate-limiter's SQLite bucket with a file lock) when several worker
processes run on one machine, :class:`InProcessCallLimiter` otherwise (tests, a single worker).
Both implement :class:`CallLimiter`, the only thing the client depends on.

``acquire`` blocks until the call may go out, but never longer than ``max_wait``: an API limited
to once a day (A01, SH21) must be cached by the caller, not waited for.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Protocol


class CallLimiter(Protocol):
    def acquire(self, key: str, interval: float, max_wait: float) -> bool:
        """Wait until a call of ``key`` is allowed (one per ``interval`` seconds) and claim it.

        Returns False, without claiming, if that would take longer than ``max_wait`` seconds.
        """
        ...


class InProcessCallLimiter:
    """Exact, thread-safe, one process. Claims a slot before sleeping so threads queue fairly."""

    def __init__(self) -> None:
        self._next_allowed: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, interval: float, max_wait: float) -> bool:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_allowed.get(key, now))
            wait = slot - now
            if wait > max_wait:
                return False
            self._next_allowed[key] = slot + interval
        if wait > 0:
            time.sleep(wait)
        return True


class SqliteCallLimiter:
    """Shared across processes through one SQLite file (pyrate-limiter ``SQLiteBucket``).

    One bucket (table) per API code and interval, each allowing a single call per interval in a
    sliding window. pyrate-limiter's non-blocking mode fails with its file lock, so we always block
    with ``timeout=max_wait``.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._limiters: dict[tuple[str, int], object] = {}
        self._lock = threading.Lock()

    def _limiter(self, key: str, interval_ms: int) -> object:
        from pyrate_limiter import Limiter, Rate, SQLiteBucket

        with self._lock:
            ident = (key, interval_ms)
            if ident not in self._limiters:
                table = "mirakl_" + re.sub(r"[^A-Za-z0-9]", "_", key) + f"_{interval_ms}"
                bucket = SQLiteBucket.init_from_file([Rate(1, interval_ms)], table=table, db_path=self._path,
                                                     use_file_lock=True)
                self._limiters[ident] = Limiter(bucket, buffer_ms=5)
            return self._limiters[ident]

    def acquire(self, key: str, interval: float, max_wait: float) -> bool:
        interval_ms = max(1, int(round(interval * 1000)))
        limiter = self._limiter(key, interval_ms)
        return bool(limiter.try_acquire(key, blocking=True, timeout=max(max_wait, 0.001)))  # type: ignore[attr-defined]


__all__ = ["CallLimiter", "InProcessCallLimiter", "SqliteCallLimiter"]
