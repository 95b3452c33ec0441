"""Prometheus counters shared by the API adapters.

``api`` is the remote API code (``OR11``, ``STO01`` for Mirakl; the Magento client may use its
route name) and ``status`` the HTTP status as text, or ``network`` when no response came back.
The counters live in the default registry so that ``/metrics`` exposes them without wiring.
"""

from __future__ import annotations

from prometheus_client import Counter

API_CALLS = Counter(
    "marketbridge_api_calls",
    "Calls made to remote APIs, by API code and HTTP status ('network' = no response).",
    ["api", "status"],
)
API_429 = Counter(
    "marketbridge_api_429",
    "HTTP 429 (rate limited) answers received, by API code.",
    ["api"],
)


def record_call(api: str, status: int | str) -> None:
    API_CALLS.labels(api=api, status=str(status)).inc()
    if str(status) == "429":
        API_429.labels(api=api).inc()


__all__ = ["API_429", "API_CALLS", "record_call"]
