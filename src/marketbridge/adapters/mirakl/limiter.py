"""Per-API minimum-interval limiter: the client never calls an API more often than Mirakl allows.

Mirakl publishes a *maximum call frequency* per API (OR11 once a minute, STO02 every 15 s...).
The limit is per shop, so every process talking to the same shop must share it: use
:class:`SqliteCallLimiter` (pyrate-limiter's SQLite bucket with a file lock) when several worker
processes run on one machine, :class:`InProcessCallLimiter` otherwise (tests, a single worker).
Both implement :class:`CallLimiter`, the only thing the client depends on.

``acquire`` blocks until the call may go out, but never longer than ``max_wait``: an API limited
to once a day (A01, SH21) must be cached by the caller, not waited for.

``defer`` is how a 429 reaches every caller: Mirakl's ``Retry-After`` says how long the API is
closed for this shop, so the next call of that API, from any thread or worker, waits at least that
long (or is refused when that is longer than its ``max_wait``) instead of hammering.
"""

from __future__ import annotations

import re
import sqlite3
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

    def defer(self, key: str, seconds: float) -> None:
        """Allow no call of ``key`` for the next ``seconds`` (Mirakl answered 429 with Retry-After)."""
        ...

    def next_free(self, key: str, interval: float) -> float:
        """Seconds until a call of ``key`` (paced at ``interval``, as passed to :meth:`acquire`)
        could go, 0.0 if now. Read-only: claims nothing, waits for nothing (the budget page)."""
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

    def next_free(self, key: str, interval: float) -> float:
        with self._lock:
            return max(0.0, self._next_allowed.get(key, 0.0) - time.monotonic())

    def defer(self, key: str, seconds: float) -> None:
        with self._lock:
            until = time.monotonic() + max(0.0, seconds)
            self._next_allowed[key] = max(until, self._next_allowed.get(key, until))


class SqliteCallLimiter:
    """Shared across processes through one SQLite file (pyrate-limiter ``SQLiteBucket``).

    One bucket (table) per API code and interval, each allowing a single call per interval in a
    sliding window. pyrate-limiter's non-blocking mode fails with its file lock, so we always block
    with ``timeout=max_wait``. Deferrals after a 429 live in a table of their own
    (``mirakl_deferrals``: key, wall-clock time until which the API is closed), since monotonic clocks
    are not comparable between processes.
    """

    #: How long past ``max_wait`` a call may wait for the file lock alone (not for the pace).
    LOCK_GRACE = 2.0

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._limiters: dict[tuple[str, int], object] = {}
        self._lock = threading.Lock()
        self._deferrals_ready = False
        self._local = threading.local()

    @staticmethod
    def _table(key: str, interval_ms: int) -> str:
        return "mirakl_" + re.sub(r"[^A-Za-z0-9]", "_", key) + f"_{interval_ms}"

    @staticmethod
    def _interval_ms(interval: float) -> int:
        return max(1, int(round(interval * 1000)))

    def _limiter(self, key: str, interval_ms: int) -> object:
        from pyrate_limiter import Limiter, Rate, SQLiteBucket

        with self._lock:
            ident = (key, interval_ms)
            if ident not in self._limiters:
                table = self._table(key, interval_ms)
                bucket = SQLiteBucket.init_from_file([Rate(1, interval_ms)], table=table, db_path=self._path,
                                                     use_file_lock=True)
                self._limiters[ident] = Limiter(bucket, buffer_ms=5)
            return self._limiters[ident]

    def _deferrals(self) -> sqlite3.Connection:
        """This thread's connection to the deferrals table, opened once: every Mirakl call asks
        whether a 429 has closed its API, per-event APIs (OR21, OR24, OR28) included, and opening
        the file for each of those was a cost on every call for a row that is almost never there."""
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, timeout=30)
            if not self._deferrals_ready:
                with connection:
                    connection.execute("CREATE TABLE IF NOT EXISTS mirakl_deferrals (key TEXT PRIMARY KEY, until REAL NOT NULL)")
                self._deferrals_ready = True
            self._local.connection = connection
        return connection

    def _deferred_until(self, key: str) -> float:
        row = self._deferrals().execute("SELECT until FROM mirakl_deferrals WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else 0.0

    def defer(self, key: str, seconds: float) -> None:
        until = time.time() + max(0.0, seconds)
        with self._deferrals() as connection:  # one transaction; the connection stays open
            connection.execute(
                "INSERT INTO mirakl_deferrals (key, until) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET until = MAX(until, excluded.until)", (key, until))

    def next_free(self, key: str, interval: float) -> float:
        """From the deferrals table and the last call in pyrate-limiter's bucket table (its
        ``item_timestamp`` is epoch milliseconds); a table not created yet means never called."""
        now = time.time()
        free_at = self._deferred_until(key)
        if interval > 0:
            table = self._table(key, self._interval_ms(interval))
            try:
                query = f'SELECT MAX(item_timestamp) FROM "{table}"'  # nosec B608 # name is [A-Za-z0-9_] only (_table)
                row = self._deferrals().execute(query).fetchone()
            except sqlite3.OperationalError:  # no such table: this API was never called at this pace
                row = None
            if row and row[0] is not None:
                free_at = max(free_at, float(row[0]) / 1000.0 + interval)
        return max(0.0, free_at - now)

    def acquire(self, key: str, interval: float, max_wait: float) -> bool:
        closed_for = self._deferred_until(key) - time.time()
        if closed_for > max_wait:
            return False
        if closed_for > 0:
            time.sleep(closed_for)
            max_wait -= closed_for
        if interval <= 0:  # a per-event API: only a deferral holds it back
            return True
        limiter = self._limiter(key, self._interval_ms(interval))
        deadline = time.monotonic() + max_wait
        give_up = deadline + self.LOCK_GRACE
        while True:
            timeout = max(deadline - time.monotonic(), 0.001)
            if limiter.try_acquire(key, blocking=True, timeout=timeout):  # type: ignore[attr-defined]
                return True
            # Refused: either the pace says no, or the file lock was busy for longer than our
            # timeout. pyrate-limiter's background leaker holds that lock while it trims the
            # bucket, so an ``acquire(..., max_wait=0)`` on a free API lost to it now and then
            # and was counted as a deferral. Only the pace is a real refusal.
            if self.next_free(key, interval) > max(0.0, deadline - time.monotonic()):
                return False
            if time.monotonic() >= give_up:
                return False
            time.sleep(0.005)


__all__ = ["CallLimiter", "InProcessCallLimiter", "SqliteCallLimiter"]
