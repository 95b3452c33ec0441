"""Prometheus counters shared by the API adapters.

``api`` is the remote API code (``OR11``, ``STO01`` for Mirakl; the Magento client may use its
route name) and ``status`` the HTTP status as text, or ``network`` when no response came back.
The counters live in the default registry so that ``/metrics`` exposes them without wiring.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

API_CALLS = Counter(
    "marketbridge_api_calls",
    "Calls made to remote APIs, by API code and HTTP status ('network' = no response).",
    ["api", "status"],
)
#: The same calls of the marketplace's API by the flow they were made for (``call_flow``): who
#: spends each API's per-shop budget. Only the Mirakl client sets it (Magento has no such budget).
API_CALLS_BY_FLOW = Counter(
    "marketbridge_api_flow_calls",
    "Calls made to the marketplace API, by API code and by the flow that made them.",
    ["api", "flow"],
)
API_429 = Counter(
    "marketbridge_api_429",
    "HTTP 429 (rate limited) answers received, by API code.",
    ["api"],
)

#: Our database's write lock (``adapters/db/slow_writes.py``): how long a transaction's first write
#: waited for it, and how long the transaction then held it. On SQLite, where one writer at a time
#: holds the whole file, a rising wait is the first sign that the process has outgrown it.
_LOCK_BUCKETS = (0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
DB_WRITE_WAIT = Histogram("marketbridge_db_write_wait_seconds",
                          "Time a transaction's first write waited for the database's write lock.",
                          buckets=_LOCK_BUCKETS)
DB_WRITE_HOLD = Histogram("marketbridge_db_write_hold_seconds",
                          "Time a transaction held its write, from its first write to commit or rollback.",
                          buckets=_LOCK_BUCKETS)


def record_call(api: str, status: int | str) -> None:
    API_CALLS.labels(api=api, status=str(status)).inc()
    if str(status) == "429":
        API_429.labels(api=api).inc()


def record_flow_call(api: str, flow: str) -> None:
    API_CALLS_BY_FLOW.labels(api=api, flow=flow).inc()


__all__ = ["API_429", "API_CALLS", "API_CALLS_BY_FLOW", "record_flow_call", "DB_WRITE_HOLD", "DB_WRITE_WAIT", "record_call"]
