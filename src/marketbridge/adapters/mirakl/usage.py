"""The record of marketplace calls per API and per flow, cheap enough to keep on every call.

Why this shape. The console's budget page must see the calls of every worker process on one
database, so the counts have to be stored; but on SQLite every write takes the whole file's write
lock, and the service is already sensitive to extra writes (see ``adapters/db/slow_writes``). A row
per call would add a write to each Mirakl call. Instead each process adds up its calls in memory,
per 10-second bucket (``domain.budgets.BUCKET_SECONDS``), API and flow, and a daemon thread writes
what piled up every ``flush_seconds`` (10 s) in **one** transaction: one upsert per (bucket, API,
flow) that saw calls, typically a handful of rows. No flow's thread ever writes (a flow may be
inside its own write transaction while it calls Mirakl; writing from there on another connection
would wait for itself). A flush that fails keeps its counts for the next one and is logged.

Nothing durable existed to derive the counts from: the limiter's SQLite buckets hold only paced
APIs, only with a shared limiter file, and not the flow.

The price: the page lags the calls by up to ``flush_seconds``, except for the reading process's
own calls (:meth:`CallUsage.pending` is merged in). The Prometheus counter
``marketbridge_api_flow_calls_total{api,flow}`` is incremented at once, per process.

Deferrals (a flow refused a call because the API is not due: our limiter's pace or Mirakl's
``Retry-After``) ride on the same flush: the latest per flow, so a flow that defers every few
seconds still costs one row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from marketbridge.adapters.metrics import record_flow_call
from marketbridge.domain.budgets import BUCKET_SECONDS, CallCount, Deferral
from marketbridge.ports.budgets import CallBudgetStore

log = structlog.get_logger(__name__)


class CallUsage:
    def __init__(self, store: CallBudgetStore | None, *, flush_seconds: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[float, str, str], list[float]] = {}  # -> [calls, last_at]
        self._deferrals: dict[str, Deferral] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def called(self, api: str, flow: str) -> None:
        """One HTTP attempt of ``api`` for ``flow`` (each attempt spends the API's allowance)."""
        record_flow_call(api, flow)
        now = self._clock()
        key = (float(int(now // BUCKET_SECONDS) * BUCKET_SECONDS), api, flow)
        with self._lock:
            entry = self._counts.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] = max(entry[1], now)
        self._ensure_thread()

    def deferred(self, flow: str, api: str, seconds: float, reason: str = "") -> Deferral:
        now = self._clock()
        deferral = Deferral(flow, api, now, now + max(0.0, seconds), reason[:300])
        with self._lock:
            self._deferrals[flow] = deferral
        self._ensure_thread()
        return deferral

    def pending(self) -> tuple[list[CallCount], list[Deferral]]:
        """What this process has not written yet."""
        with self._lock:
            counts = [CallCount(start, api, flow, int(v[0]), v[1]) for (start, api, flow), v in self._counts.items()]
            return counts, list(self._deferrals.values())

    def flush(self) -> bool:
        """Write what piled up (one transaction); False when the store refused (kept for next time)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            deferrals, self._deferrals = self._deferrals, {}
        if self._store is None or (not counts and not deferrals):
            return True
        rows = [CallCount(start, api, flow, int(v[0]), v[1]) for (start, api, flow), v in counts.items()]
        try:
            self._store.add(rows, list(deferrals.values()))
        except Exception as error:  # noqa: BLE001 - a busy database must not lose the counts or kill the thread
            log.warning("mirakl.usage_flush_failed", error=str(error)[:300], rows=len(rows))
            with self._lock:
                for key, (calls, last_at) in counts.items():
                    entry = self._counts.setdefault(key, [0, 0.0])
                    entry[0] += calls
                    entry[1] = max(entry[1], last_at)
                for flow, deferral in deferrals.items():
                    if flow not in self._deferrals:
                        self._deferrals[flow] = deferral
            return False
        return True

    def _ensure_thread(self) -> None:
        if self._store is None or self._thread is not None:
            return
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="mirakl-usage", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        self.flush()


__all__ = ["CallUsage"]
