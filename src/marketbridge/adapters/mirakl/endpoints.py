"""Every Mirakl seller API we call, declared as data.

One :class:`Endpoint` per Mirakl API code carries what both the client and the simulator need to
agree on: method, path template, the documented *maximum* call frequency (MIRAKL.md §2.5, from the
"Call Frequency" block of each operation in the seller OpenAPI), how the list is paginated, and
whether the very same call may be repeated blindly after a failure.

``min_interval`` is in seconds between two calls of the same API for one shop; ``None`` means
"per business event" (OR21, OR23, OR28 ...): not limited by count, one call per event.
The client multiplies every interval by ``rate_scale`` (1.0 in production); so does the sandbox.

Mirakl enforces its limits as a count of calls **per hour** (General Notes: a 429 "Too many
requests" means "too many requests in the last hour", with a ``Retry-After`` in seconds); the
"Call Frequency" block of each API gives that count as a pace ("once per minute" is 60 an hour).
:func:`hourly_quota` turns an interval into that count. :func:`pacing` gives the intervals one shop
must keep, from the documented table plus the shop's settings: a key registered as an **External
Partner** integration may call OR11 only every 15 minutes (the OR11 "Call Frequency" block has a
separate "External Partner" persona: "Asynchronous: every 15 minutes"), and an operator may set
slower paces for any API, never faster ones.

``once_per_url`` marks a download that Mirakl allows once per URL (OR15: "Once per file URL
returned by OR14"): a 429 on it is final, since waiting never makes the same URL callable again.

``retry_safe`` is True for reads and for status/report downloads. It is False for every write:
OR21/OR23/OR24/OR28/OR29 change order state and a second attempt after a time-out can fail with
an invalid-state error or, worse, create a second refund; the caller must re-read state (OR11 by
``order_ids``) before trying again. Imports (OF01, STO01, PRI01, P41) are not retried either: a
duplicate upload is another import (OF01/OF24 de-duplicate, the others do not).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


class Paginator(StrEnum):
    NONE = "none"
    OFFSET = "offset"  # max/offset, total_count in the body (OR11, OF21, P51)
    SEEK = "seek"  # limit/page_token, next_page_token in the body (ST11, OF04, PRI02)


@dataclass(frozen=True)
class Endpoint:
    code: str
    method: str
    path: str  # template with {name} placeholders, relative to the base URL
    min_interval: float | None = None
    paginator: Paginator = Paginator.NONE
    retry_safe: bool = False
    items_key: str | None = None  # where the list lives in a paginated body
    summary: str = ""
    once_per_url: bool = False
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", r"[^/]+", re.escape(self.path)) + "$"
        object.__setattr__(self, "_regex", re.compile(pattern))

    def url_path(self, **params: object) -> str:
        from urllib.parse import quote

        return self.path.format(**{k: quote(str(v), safe="") for k, v in params.items()})

    def matches(self, method: str, path: str) -> bool:
        return method.upper() == self.method and bool(self._regex.match(path))

    @property
    def rate_limited(self) -> bool:
        return self.min_interval is not None


_E = Endpoint
ENDPOINTS: dict[str, Endpoint] = {
    e.code: e
    for e in [
        # --- orders ---------------------------------------------------------------------------
        _E("OR11", "GET", "/api/orders", MINUTE, Paginator.OFFSET, True, "orders", "list orders"),
        _E("OR21", "PUT", "/api/orders/{order_id}/accept", summary="accept or refuse order lines"),
        _E("OR23", "PUT", "/api/orders/{order_id}/tracking", summary="update carrier tracking"),
        _E("OR24", "PUT", "/api/orders/{order_id}/ship", summary="confirm shipment"),
        _E("OR28", "PUT", "/api/orders/refund", summary="refund order lines"),
        _E("OR29", "PUT", "/api/orders/{order_id}/cancel", summary="cancel an order"),
        _E("OR30", "PUT", "/api/orders/cancel", summary="cancel order lines"),
        # OR13 starts an export (not retried: a repeat after a time-out meets "only one export
        # request" for the shop); OR14 is paced per export (limit key OR14:<tracking_id>); OR15's
        # URL is whatever OR14 returned (this path is the simulator's choice, see api-notes).
        _E("OR13", "POST", "/api/orders/async-export", 5 * MINUTE, summary="start an order export"),
        _E("OR14", "GET", "/api/orders/async-export/status/{tracking_id}", 2.0, retry_safe=True,
           summary="order export status"),
        _E("OR15", "GET", "/api/orders/async-export/file/{tracking_id}", None, retry_safe=True,
           summary="download one order export chunk", once_per_url=True),
        # --- multi-shipment ------------------------------------------------------------------
        _E("ST01", "POST", "/api/shipments", summary="create shipments"),
        _E("ST11", "GET", "/api/shipments", None, Paginator.SEEK, True, "data", "list shipments"),
        _E("ST23", "POST", "/api/shipments/tracking", summary="update shipment tracking"),
        _E("ST24", "PUT", "/api/shipments/ship", summary="ship shipments"),
        # --- offers, stock, prices -----------------------------------------------------------
        _E("OF01", "POST", "/api/offers/imports", MINUTE, summary="import offers file"),
        _E("OF02", "GET", "/api/offers/imports/{import_id}", MINUTE, retry_safe=True, summary="offer import status"),
        _E("OF03", "GET", "/api/offers/imports/{import_id}/error_report", MINUTE, retry_safe=True,
           summary="offer import error report"),
        _E("OF21", "GET", "/api/offers", None, Paginator.OFFSET, True, "offers", "list offers"),
        _E("OF24", "POST", "/api/offers", MINUTE, summary="create/update/delete offers (JSON, resets omitted fields)"),
        _E("OF52", "POST", "/api/offers/export/async", MINUTE, summary="start an offer export"),
        _E("OF53", "GET", "/api/offers/export/async/status/{tracking_id}", 10.0, retry_safe=True,
           summary="offer export status"),
        _E("OF54", "GET", "/api/offers/export/async/file/{tracking_id}", None, retry_safe=True,
           summary="download one offer export chunk"),
        _E("STO01", "POST", "/api/offers/stock/imports", MINUTE, summary="import stock file"),
        _E("STO02", "GET", "/api/offers/stock/imports/{import_id}/status", 15.0, retry_safe=True,
           summary="stock import status"),
        _E("STO03", "GET", "/api/offers/stock/imports/{import_id}/error_report", MINUTE, retry_safe=True,
           summary="stock import error report"),
        _E("PRI01", "POST", "/api/offers/pricing/imports", MINUTE, summary="import price file"),
        _E("PRI02", "GET", "/api/offers/pricing/imports", MINUTE, Paginator.SEEK, True, "data",
           "price imports (status)"),
        _E("PRI03", "GET", "/api/offers/pricing/imports/{import_id}/error_report", MINUTE, retry_safe=True,
           summary="price import error report"),
        # --- catalogue -------------------------------------------------------------------------
        _E("P41", "POST", "/api/products/imports", 15 * MINUTE, summary="import products file"),
        _E("P42", "GET", "/api/products/imports/{import_id}", MINUTE, retry_safe=True, summary="product import status"),
        _E("P44", "GET", "/api/products/imports/{import_id}/error_report", None, retry_safe=True,
           summary="product import error report"),
        _E("P45", "GET", "/api/products/imports/{import_id}/new_product_report", None, retry_safe=True,
           summary="product import added-products report"),
        _E("P47", "GET", "/api/products/imports/{import_id}/transformation_error_report", None, retry_safe=True,
           summary="product import transformation error report"),
        _E("PM11", "GET", "/api/products/attributes", HOUR, retry_safe=True, summary="product attributes"),
        _E("H11", "GET", "/api/hierarchies", HOUR, retry_safe=True, summary="category hierarchy"),
        _E("VL11", "GET", "/api/values_lists", HOUR, retry_safe=True, summary="value lists"),
        # --- reference data --------------------------------------------------------------------
        _E("SH12", "GET", "/api/shipping/types", DAY, retry_safe=True, summary="shipping methods"),
        _E("SH21", "GET", "/api/shipping/carriers", DAY, retry_safe=True, summary="carriers"),
        _E("RE01", "GET", "/api/reasons", DAY, retry_safe=True, summary="reasons"),
        _E("A01", "GET", "/api/account", DAY, retry_safe=True, summary="shop account"),
    ]
}

#: OF52 without ``last_request_date`` is a *full* export: at most once a day (MIRAKL.md §2.5).
OF52_FULL_KEY = "OF52:full"
OF52_FULL_INTERVAL = DAY


#: OR13 without an update-date range is a *full* export: at most every 24 hours (seller OpenAPI,
#: OR13 "Call Frequency"), on top of the 5-minute pace every OR13 call keeps.
OR13_FULL_KEY = "OR13:full"
OR13_FULL_INTERVAL = DAY


def or14_key(tracking_id: str) -> str:
    """OR14's pace is "every 2 seconds per OR13 call": one limiter key per export."""
    return f"OR14:{tracking_id}"


#: OR11 for a key registered as an External Partner integration (seller OpenAPI, OR11 description).
OR11_EXTERNAL_PARTNER_INTERVAL = 15 * MINUTE


def hourly_quota(interval: float | None) -> int | None:
    """Calls allowed in one rolling hour for an API paced at ``interval`` seconds (unscaled).

    ``None`` for per-event APIs and for APIs slower than hourly (their interval is the tighter
    rule). Mirakl publishes paces, and counts calls per hour: 60 s -> 60, 15 min -> 4, 15 s -> 240.
    """
    if interval is None or interval <= 0 or interval > HOUR:
        return None
    return max(1, int(HOUR // interval))


def pacing(overrides: Mapping[str, float] | None = None, *, external_partner: bool = False) -> dict[str, float]:
    """Minimum interval (seconds, unscaled) of every paced API for one shop.

    ``overrides`` are the operator's or the merchant's slower paces per API code; asking for a pace
    faster than the documented maximum is refused (``ValueError``) rather than risking 429s.
    """
    intervals = {code: e.min_interval for code, e in ENDPOINTS.items() if e.min_interval is not None}
    if external_partner:
        intervals["OR11"] = max(intervals["OR11"], OR11_EXTERNAL_PARTNER_INTERVAL)
    for code, seconds in (overrides or {}).items():
        endpoint = ENDPOINTS.get(code)
        if endpoint is None:
            raise ValueError(f"unknown Mirakl API code {code!r}")
        if seconds <= 0:
            raise ValueError(f"the interval of {code} must be > 0 seconds")
        floor = intervals.get(code, 0.0)
        if seconds < floor:
            raise ValueError(f"{code} may be called at most once every {floor:g} s; {seconds:g} s is faster")
        intervals[code] = float(seconds)
    return intervals


def resolve(method: str, path: str) -> Endpoint | None:
    """The endpoint serving ``method path`` (path without query string), or ``None``."""
    for endpoint in ENDPOINTS.values():
        if endpoint.matches(method, path):
            return endpoint
    return None


__all__ = ["DAY", "ENDPOINTS", "HOUR", "MINUTE", "OF52_FULL_INTERVAL", "OF52_FULL_KEY", "OR11_EXTERNAL_PARTNER_INTERVAL",
           "OR13_FULL_INTERVAL", "OR13_FULL_KEY", "Endpoint", "Paginator", "hourly_quota", "or14_key", "pacing",
           "resolve"]
