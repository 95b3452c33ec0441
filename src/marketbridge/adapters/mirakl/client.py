"""Synchronous client for the Mirakl seller (shop) API.

Wire conventions (MIRAKL.md §2): ``Authorization: <shop key>`` (the raw key, no ``Bearer``),
``Accept: application/json``, ``shop_id`` on every call when configured, ``Content-Length: 0`` on
body-less PUTs (OR24, OR29), ``;``-separated CSV files for imports.

Each call goes through three guards, in this order:

1. the **call-frequency limiter** (:mod:`.limiter`) waits until the API's pace allows the call
   (interval x ``rate_scale``), shared across processes when configured. Paces are the documented
   maximum frequencies, made slower by settings (:func:`.endpoints.pacing`: the External Partner
   OR11 pace, per-API overrides);
2. the **error mapping** turns every failure into :mod:`marketbridge.adapters.errors`;
3. the **retry policy** (stamina): a 429 is retried after its ``Retry-After`` (the request was
   not processed), provided that wait is within ``max_limiter_wait``, the same bound the limiter
   keeps; a longer one (an hourly quota spent) raises :class:`RateLimited` with Mirakl's
   ``retry_after`` so the caller defers its work. Either way the limiter is told
   (:meth:`CallLimiter.defer`): no call of that API leaves before ``Retry-After`` has passed, and
   the retry itself queues for a slot again. 5xx answers and network
   failures are retried only for calls marked ``retry_safe`` in :mod:`.endpoints` (reads, import
   status and reports). Writes (OR21, OR23, OR24, OR28, OR29, imports...) raise at once: a
   time-out may have taken effect, so the caller re-reads the order (``list_orders(order_ids=...)``)
   before deciding to send again. ``MiraklClient.is_retry_safe(code)`` exposes that rule.

Every HTTP attempt increments ``marketbridge_api_calls_total{api,status}`` and, for 429,
``marketbridge_api_429_total{api}``; with a :class:`~.usage.CallUsage` (the runtime's), it is
also counted per API and per flow (``call_flow``: who spends the API's budget), and every
:class:`RateLimited` the client raises is recorded as that flow's deferral, with the moment the API
is expected free again, for the console's budget page. :meth:`MiraklClient.next_free` reads when
the limiter would let the next call of an API go, without claiming anything.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

import httpx2
import stamina
import structlog
from pydantic import BaseModel

from marketbridge.adapters.errors import (
    AuthFailed,
    NetworkError,
    NotFound,
    RateLimited,
    Rejected,
    RemoteError,
    ServerError,
)
from marketbridge.adapters.metrics import record_call
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.adapters.mirakl import order_export
from marketbridge.adapters.mirakl.csvfiles import CsvFormatError, read_csv, read_csv_cells, write_csv
from marketbridge.adapters.mirakl.endpoints import (
    ENDPOINTS,
    OF52_FULL_INTERVAL,
    OF52_FULL_KEY,
    Endpoint,
    Paginator,
    pacing,
)
from marketbridge.adapters.mirakl.limiter import CallLimiter, InProcessCallLimiter
from marketbridge.adapters.mirakl.usage import CallUsage
from marketbridge.call_flow import current_flow

if TYPE_CHECKING:
    from marketbridge.settings import Settings

log = structlog.get_logger(__name__)
ModelT = TypeVar("ModelT", bound=BaseModel)

STOCK_COLUMNS = ["offer-sku", "quantity", "warehouse-code", "update-delete"]
PRICE_COLUMNS = ["offer-sku", "price", "discount-price", "discount-start-date", "discount-end-date"]
# P41's SENT is not here: it means "sent to the operator for integration" (Mirakl's own Magento
# connector labels it so and keeps polling); the products do not exist yet and P44/P45 are "filled
# when the import status is COMPLETE" (P42). Only COMPLETE or a failure ends an import.
TERMINAL_IMPORT_STATES = {"COMPLETE", "FAILED", "CANCELLED", "TRANSFORMATION_FAILED"}


@dataclass
class ImportLineError:
    line: int | None
    sku: str
    message: str
    row: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    """Outcome of one asynchronous import, per line and per SKU.

    ``results[sku]`` is ``"ok"`` or the error message Mirakl gave for that SKU's line. A SKU that
    appears on several lines is an error if any of its lines is.
    """

    api: str
    import_id: str
    status: str
    lines_in_success: int = 0
    lines_in_error: int = 0
    results: dict[str, str] = field(default_factory=dict)
    errors: list[ImportLineError] = field(default_factory=list)
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETE" and not self.errors

    def failed_skus(self) -> dict[str, str]:
        return {sku: message for sku, message in self.results.items() if message != "ok"}


def _parse_retry_after(value: str | None, default: float) -> float:
    """``Retry-After`` as seconds (integer, decimal or HTTP date); ``default`` when absent/garbled."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
        return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return default


class MiraklClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        shop_id: int | None = None,
        transport: httpx2.BaseTransport | None = None,
        timeout: float = 30.0,
        rate_scale: float = 1.0,
        limiter: CallLimiter | None = None,
        max_limiter_wait: float = 120.0,
        retry_attempts: int = 6,
        retry_wait_initial: float = 0.5,
        retry_wait_max: float = 30.0,
        intervals: Mapping[str, float] | None = None,
        usage: CallUsage | None = None,
    ) -> None:
        if not api_key:
            from marketbridge.adapters.errors import ConfigError

            raise ConfigError("the Mirakl API key is empty")
        if rate_scale <= 0:
            raise ValueError("rate_scale must be > 0")
        self.base_url = base_url.rstrip("/")
        self.shop_id = shop_id
        self.rate_scale = rate_scale
        #: unscaled minimum interval per paced API code (see :func:`.endpoints.pacing`)
        self.intervals: dict[str, float] = dict(intervals) if intervals is not None else pacing()
        self.limiter: CallLimiter = limiter or InProcessCallLimiter()
        self.max_limiter_wait = max_limiter_wait
        #: the per-API, per-flow call record (``None``: the Prometheus counters only)
        self.usage = usage if usage is not None else CallUsage(None)
        self.retry_attempts = retry_attempts
        self.retry_wait_initial = retry_wait_initial
        self.retry_wait_max = retry_wait_max
        self._http = httpx2.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"Authorization": api_key, "Accept": "application/json"},
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, transport: httpx2.BaseTransport | None = None,
                      limiter: CallLimiter | None = None, usage: CallUsage | None = None) -> MiraklClient:
        if limiter is None:
            path = getattr(settings, "mirakl_rate_limit_db", None)
            if path:
                from marketbridge.adapters.mirakl.limiter import SqliteCallLimiter

                limiter = SqliteCallLimiter(path)
        return cls(
            str(settings.mirakl_base_url),
            settings.mirakl_api_key.get_secret_value(),
            shop_id=settings.mirakl_shop_id,
            transport=transport,
            timeout=settings.mirakl_timeout_seconds,
            rate_scale=settings.mirakl_rate_limit_scale,
            limiter=limiter,
            intervals=pacing(settings.mirakl_min_intervals, external_partner=settings.mirakl_external_partner),
            usage=usage,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MiraklClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the key
        return f"MiraklClient(base_url={self.base_url!r}, shop_id={self.shop_id!r})"

    # ------------------------------------------------------------------ the one way out
    @staticmethod
    def is_retry_safe(code: str) -> bool:
        """Whether the client repeats ``code`` by itself after a 5xx or a network failure."""
        return ENDPOINTS[code].retry_safe

    def call(
        self,
        code: str,
        *,
        path_params: Mapping[str, object] | None = None,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        limit: bool = True,
        limit_key: tuple[str, float] | None = None,
        url: str | None = None,
    ) -> httpx2.Response:
        """Send one API call (with limiter, retries and error mapping); returns the 2xx response.

        A :class:`RateLimited` leaving here is recorded as the current flow's deferral."""
        try:
            return self._call(code, path_params=path_params, params=params, json=json, files=files, data=data,
                              limit=limit, limit_key=limit_key, url=url)
        except RateLimited as error:
            self._note_deferral(code, error)
            raise

    def _note_deferral(self, code: str, error: RateLimited) -> None:
        flow = current_flow()
        seconds = float(error.retry_after or 0.0)
        self.usage.deferred(flow, code, seconds, str(error))
        log.info("mirakl.deferred", api=code, flow=flow, retry_after=round(seconds, 1), status=error.status)

    def _call(
        self,
        code: str,
        *,
        path_params: Mapping[str, object] | None,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
        json: Any,
        files: Mapping[str, Any] | None,
        data: Mapping[str, str] | None,
        limit: bool,
        limit_key: tuple[str, float] | None,
        url: str | None,
    ) -> httpx2.Response:
        endpoint = ENDPOINTS[code]
        target = url or endpoint.url_path(**(path_params or {}))
        query = list(params.items() if isinstance(params, Mapping) else (params or []))
        if "?" in target:  # a URL handed to us by Mirakl (OF53): keep its own query string
            target, _, own_query = target.partition("?")
            query = list(parse_qsl(own_query, keep_blank_values=True)) + query
        query = [(k, v) for k, v in query if v is not None]
        if self.shop_id is not None and not any(k == "shop_id" for k, _ in query):
            query.append(("shop_id", self.shop_id))
        headers = {}
        if endpoint.method in ("PUT", "POST") and json is None and files is None and data is None:
            headers["Content-Length"] = "0"

        slot_key = limit_key[0] if limit_key else endpoint.code
        refused = False

        def retry_hook(error: Exception) -> bool | float:
            nonlocal refused
            if isinstance(error, RateLimited):
                # Our own limiter refusing to wait (status None) is final: the caller asked for an
                # API it must cache. A 429 from Mirakl closes the API for Retry-After seconds for
                # every caller; this call waits that long unless it is beyond our bound. A 429 on
                # a once-per-URL download (OR15) is final and closes nothing else.
                if error.status != 429 or endpoint.once_per_url:
                    return False
                wait = float(error.retry_after or 0.0)
                self.limiter.defer(slot_key, wait)
                refused = True
                return wait if wait <= self.max_limiter_wait else False
            return endpoint.retry_safe and isinstance(error, ServerError | NetworkError)

        for attempt in stamina.retry_context(on=retry_hook, attempts=self.retry_attempts, timeout=None,
                                             wait_initial=self.retry_wait_initial, wait_max=self.retry_wait_max):
            with attempt:
                # a retry after a 5xx reuses the call's slot; one after a 429 queues again, so it
                # never goes out together with another caller released by the same Retry-After
                if limit and (attempt.num == 1 or refused):
                    refused = False
                    self._wait_for_slot(endpoint, limit_key)
                return self._send_once(endpoint, target, query, json=json, files=files, data=data, headers=headers)
        raise AssertionError("unreachable")  # pragma: no cover

    def claim_slot(self, code: str) -> None:
        """Wait for (and claim) ``code``'s own limiter slot without calling; for a call that must
        also fit a second budget (a full OR13 export keeps the 5-minute pace and the daily one)."""
        try:
            self._wait_for_slot(ENDPOINTS[code], None)
        except RateLimited as error:
            self._note_deferral(code, error)
            raise

    def pace(self, code: str) -> float | None:
        """Seconds between two calls of ``code`` as this client keeps them (scaled by
        ``rate_scale``, without the jitter margin); ``None`` for a per-event API."""
        interval = self.intervals.get(code)
        return interval * self.rate_scale if interval else None

    def next_free(self, code: str) -> float:
        """Seconds until the limiter would let a call of ``code`` go (0.0: now), claiming nothing."""
        endpoint = ENDPOINTS[code]
        interval = self.intervals.get(code, 0.0)
        return self.limiter.next_free(endpoint.code, self._limiter_interval(interval) if interval else 0.0)

    def _limiter_interval(self, interval: float) -> float:
        """The interval the limiter keeps for an unscaled pace: scaled, plus a small margin (2 %,
        50 ms to 1 s) so network jitter never turns an on-time call into a 429."""
        interval *= self.rate_scale
        return interval + min(1.0, max(0.05, interval * 0.02))

    def instance_path(self, url: str, api: str) -> str:
        """``url`` (handed to us by Mirakl: OF53, OR14) as a path on the instance; another host is
        refused, since every request carries the shop key."""
        if not url.startswith(self.base_url + "/"):
            raise Rejected(f"export URL is not on the Mirakl instance ({httpx2.URL(url).host}); not sending the key there",
                           api=api)
        return url[len(self.base_url):]

    def _wait_for_slot(self, endpoint: Endpoint, limit_key: tuple[str, float] | None) -> None:
        key, interval = limit_key or (endpoint.code, self.intervals.get(endpoint.code, 0.0))
        if not interval:  # a per-event API: no pace, but a 429's Retry-After still holds it back
            if not self.limiter.acquire(key, 0.0, self.max_limiter_wait):
                raise RateLimited(f"{endpoint.code} is closed by Mirakl's Retry-After for longer than "
                                  f"{self.max_limiter_wait:g} s", api=endpoint.code, status=None,
                                  retry_after=self.max_limiter_wait)
            return
        interval = self._limiter_interval(interval)
        if not self.limiter.acquire(key, interval, self.max_limiter_wait):
            raise RateLimited(
                f"client-side limit: {endpoint.code} may be called once every {interval:g} s; "
                f"waiting would exceed {self.max_limiter_wait:g} s (cache this answer instead)",
                api=endpoint.code, status=None, retry_after=interval,
            )

    def _send_once(self, endpoint: Endpoint, target: str, query: list[tuple[str, Any]], *, json: Any,
                   files: Mapping[str, Any] | None, data: Mapping[str, str] | None,
                   headers: dict[str, str]) -> httpx2.Response:
        try:
            response = self._http.request(endpoint.method, target, params=query, json=json, files=files, data=data,
                                          headers=headers)
        except httpx2.TimeoutException as error:
            record_call(endpoint.code, "network")
            self.usage.called(endpoint.code, current_flow())
            raise NetworkError(f"time-out talking to Mirakl ({type(error).__name__}); the call may have taken effect",
                               api=endpoint.code) from None
        except httpx2.TransportError as error:
            record_call(endpoint.code, "network")
            raise NetworkError(f"network failure talking to Mirakl ({type(error).__name__})",
                               api=endpoint.code) from None
        record_call(endpoint.code, response.status_code)
        self.usage.called(endpoint.code, current_flow())
        if response.is_success:
            return response
        raise self._error_for(endpoint, response)

    def _error_for(self, endpoint: Endpoint, response: httpx2.Response) -> RemoteError:
        status = response.status_code
        body: Any = None
        message = response.reason_phrase or f"HTTP {status}"
        code = None
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]
        if isinstance(body, dict):
            parsed = mirakl_models.ErrorBody.model_validate(body)
            first = parsed.errors[0] if parsed.errors else {}
            message = parsed.message or str(first.get("message") or message)
            code = parsed.code or (str(first["code"]) if first.get("code") else None)
        elif isinstance(body, str) and body.strip():
            message = body.strip()[:200]
        kw: dict[str, Any] = {"api": endpoint.code, "status": status, "body": body, "code": code}
        if status == 429:
            default = (self.intervals.get(endpoint.code) or 1.0) * self.rate_scale
            retry_after = _parse_retry_after(response.headers.get("Retry-After"), default)
            log.warning("mirakl.rate_limited", api=endpoint.code, retry_after=retry_after)
            return RateLimited(message, retry_after=retry_after, **kw)
        if status in (401, 403):
            return AuthFailed(message, **kw)
        if status == 404:
            return NotFound(message, **kw)
        if status >= 500:
            return ServerError(message, **kw)
        return Rejected(message, **kw)

    # ------------------------------------------------------------------ helpers
    def _get_model(self, code: str, model: type[ModelT], **kw: Any) -> ModelT:
        return model.model_validate(self.call(code, **kw).json())

    def iter_offset(self, code: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of an offset-paginated list (``max``/``offset``, ``total_count``; each page's
        total is passed to ``on_total``).

        Only the first page counts against the API's call frequency: the follow-up pages belong
        to the same read (a decision documented in docs/api-notes.md, Mirakl section).
        """
        endpoint = ENDPOINTS[code]
        assert endpoint.paginator is Paginator.OFFSET and endpoint.items_key
        offset = 0
        while True:
            query = {**(params or {}), "max": page_size, "offset": offset}
            body = _json_object(self.call(code, params=query, limit=offset == 0), code)
            items = _items_of(body, endpoint.items_key, code)
            yield from items
            offset += len(items)
            total = body.get("total_count", 0)
            if isinstance(total, bool) or not isinstance(total, int | str) or not str(total).isdigit():
                raise ServerError(f"total_count is not a number: {str(total)[:40]!r}", api=code, status=200)
            if on_total is not None:
                on_total(int(total))
            if not items or offset >= int(total):
                return

    def iter_seek(self, code: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None, *,
                  limit: int = 100) -> Iterator[dict[str, Any]]:
        """Every item of a seek-paginated list: ``limit`` then ``page_token`` alone (Mirakl ignores
        every other parameter once a token is given)."""
        endpoint = ENDPOINTS[code]
        assert endpoint.paginator is Paginator.SEEK and endpoint.items_key
        base = list(params.items() if isinstance(params, Mapping) else (params or []))
        query: list[tuple[str, Any]] = [*base, ("limit", limit)]
        first = True
        while True:
            body = _json_object(self.call(code, params=query, limit=first), code)
            yield from _items_of(body, endpoint.items_key, code)
            token = body.get("next_page_token")
            if not token:
                return
            query, first = [("page_token", token)], False

    # ------------------------------------------------------------------ orders
    def list_orders(
        self,
        *,
        start_update_date: datetime | None = None,
        end_update_date: datetime | None = None,
        start_date: datetime | None = None,
        order_ids: Sequence[str] | None = None,
        order_state_codes: Sequence[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[mirakl_models.Order]:
        """OR11, every page. Poll by ``start_update_date`` (minus an overlap) and de-duplicate on
        ``(order_id, last_updated_date)``: Mirakl itself subtracts a safety delta."""
        if order_ids is not None and len(order_ids) > 100:
            raise ValueError("OR11 accepts at most 100 order_ids per call")
        params: dict[str, Any] = {
            "start_update_date": _iso(start_update_date),
            "end_update_date": _iso(end_update_date),
            "start_date": _iso(start_date),
            "order_ids": ",".join(order_ids) if order_ids else None,
            "order_state_codes": ",".join(order_state_codes) if order_state_codes else None,
        }
        for item in self.iter_offset("OR11", params, page_size=page_size):
            yield mirakl_models.Order.model_validate(item)

    def get_order(self, order_id: str) -> mirakl_models.Order:
        """One order through OR11 ``order_ids`` (OR12 is "no integration allowed")."""
        for order in self.list_orders(order_ids=[order_id]):
            if order.order_id == order_id:
                return order
        raise NotFound(f"order {order_id} not found", api="OR11", status=200)

    def accept_order(self, order_id: str, decisions: Mapping[str, bool] | mirakl_models.AcceptOrderRequest) -> None:
        """OR21: ``{order_line_id: accepted}`` for every line. Not retried on failure."""
        body = decisions if isinstance(decisions, mirakl_models.AcceptOrderRequest) else mirakl_models.AcceptOrderRequest(
            order_lines=[mirakl_models.AcceptLine(id=line_id, accepted=ok) for line_id, ok in decisions.items()])
        self.call("OR21", path_params={"order_id": order_id}, json=body.wire())

    def update_tracking(self, order_id: str, tracking: mirakl_models.TrackingRequest) -> None:
        """OR23. Not retried on failure."""
        self.call("OR23", path_params={"order_id": order_id}, json=tracking.wire())

    def ship_order(self, order_id: str) -> None:
        """OR24 (no body). Not retried on failure."""
        self.call("OR24", path_params={"order_id": order_id})

    def refund(self, request: mirakl_models.RefundRequest) -> mirakl_models.RefundResponse:
        """OR28. Not retried on failure: a repeat could refund twice; re-read the order first."""
        return mirakl_models.RefundResponse.model_validate(self.call("OR28", json=request.wire()).json())

    def cancel_order(self, order_id: str) -> None:
        """OR29 (no body). Check ``order.can_cancel`` first."""
        self.call("OR29", path_params={"order_id": order_id})

    def cancel_lines(self, request: mirakl_models.CancelLinesRequest) -> mirakl_models.CancelationResponse:
        """OR30 (needs the operator's partial-cancelation feature)."""
        return mirakl_models.CancelationResponse.model_validate(self.call("OR30", json=request.wire()).json())

    # ------------------------------------------------------------------ order export (module .order_export)
    def start_order_export(self, request: mirakl_models.OrderExportRequest) -> str:
        """OR13 -> tracking id. Differential (update-date range) at most every 5 minutes, full also once a day."""
        return order_export.start_order_export(self, request)

    def order_export_status(self, tracking_id: str) -> mirakl_models.OrderExportStatus:
        """OR14, at most every 2 s per export."""
        return order_export.order_export_status(self, tracking_id)

    def download_order_export_chunk(self, url: str) -> bytes:
        """OR15: one URL returned by OR14, once; only URLs on the Mirakl instance."""
        return order_export.download_order_export_chunk(self, url)

    def export_orders(self, request: mirakl_models.OrderExportRequest, *,
                      timeout: float = 3600.0) -> Iterator[mirakl_models.Order]:
        """OR13 + OR14 + OR15: every exported order as the OR11 model (a generator)."""
        return order_export.export_orders(self, request, timeout=timeout)

    def export_order_entries(self, request: mirakl_models.OrderExportRequest, *, timeout: float = 3600.0,
                             on_complete: Callable[[mirakl_models.OrderExportStatus], None] | None = None
                             ) -> Iterator[Any]:
        """OR13 + OR14 + OR15: every exported order as the raw JSON OR11's pages hold (a generator)."""
        return order_export.export_order_entries(self, request, timeout=timeout, on_complete=on_complete)

    # ------------------------------------------------------------------ multi-shipment
    def create_shipments(self, request: mirakl_models.CreateShipmentsRequest) -> mirakl_models.CreateShipmentsResponse:
        """ST01; per-shipment failures come back in ``shipment_errors`` with a 201."""
        return mirakl_models.CreateShipmentsResponse.model_validate(self.call("ST01", json=request.wire()).json())

    def list_shipments(self, *, order_ids: Sequence[str] = (), states: Sequence[str] = (),
                       limit: int = 100) -> Iterator[mirakl_models.Shipment]:
        """ST11 (seek pagination; ``order_id`` and ``shipment_state_code`` are repeated parameters)."""
        params = [("order_id", o) for o in order_ids] + [("shipment_state_code", s) for s in states]
        for item in self.iter_seek("ST11", params, limit=limit):
            yield mirakl_models.Shipment.model_validate(item)

    def update_shipment_tracking(self, request: mirakl_models.UpdateShipmentTrackingRequest) -> mirakl_models.ShipmentBatchResponse:
        """ST23; per-shipment failures come back in ``shipment_errors``."""
        return mirakl_models.ShipmentBatchResponse.model_validate(self.call("ST23", json=request.wire()).json())

    def ship_shipments(self, shipment_ids: Sequence[str]) -> mirakl_models.ShipmentBatchResponse:
        """ST24; per-shipment failures come back in ``shipment_errors``."""
        body = mirakl_models.ShipShipmentsRequest(shipments=[mirakl_models.ShipmentId(id=i) for i in shipment_ids])
        return mirakl_models.ShipmentBatchResponse.model_validate(self.call("ST24", json=body.wire()).json())

    # ------------------------------------------------------------------ offers
    def list_offers(self, *, sku: str | None = None, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[mirakl_models.Offer]:
        """OF21 (meant for page views; use the OF52 export for a full sync)."""
        for item in self.iter_offset("OF21", {"sku": sku}, page_size=page_size, on_total=on_total):
            yield mirakl_models.Offer.model_validate(item)

    def upsert_offers_json(self, offers: Sequence[mirakl_models.OfferUpsert]) -> str:
        """OF24. **Resets every field you leave out** (quantity to 0, description, discount...).
        Prefer STO01/PRI01/OF01 for partial updates. Returns the import id (poll with OF02)."""
        body = {"offers": [o.model_dump(mode="json", exclude_none=True) for o in offers]}
        return mirakl_models.ImportCreated.model_validate(self.call("OF24", json=body).json()).id

    def start_offer_export(self, request: mirakl_models.OfferExportRequest | None = None) -> str:
        """OF52 -> tracking id. Differential (``last_request_date``) at most once a minute, full once a day."""
        request = request or mirakl_models.OfferExportRequest()
        key = None if request.last_request_date else (OF52_FULL_KEY, OF52_FULL_INTERVAL)
        return mirakl_models.ExportStarted.model_validate(self.call("OF52", json=request.wire(), limit_key=key).json()).tracking_id

    def offer_export_status(self, tracking_id: str) -> mirakl_models.ExportStatus:
        return self._get_model("OF53", mirakl_models.ExportStatus, path_params={"tracking_id": tracking_id})

    def download_export_chunk(self, url: str) -> bytes:
        """OF54: GET one URL returned by OF53. Only URLs on the Mirakl instance itself are followed:
        the request carries the shop key, which must never go to another host."""
        return self.call("OF54", url=self.instance_path(url, "OF54")).content

    def export_offers(self, request: mirakl_models.OfferExportRequest | None = None, *, timeout: float = 3600.0) -> list[dict[str, Any]]:
        """OF52 + OF53 polling + OF54 downloads, as a list of offer dicts (JSON or CSV rows)."""
        request = request or mirakl_models.OfferExportRequest()
        tracking_id = self.start_offer_export(request)
        deadline = time.monotonic() + timeout
        while True:
            status = self.offer_export_status(tracking_id)
            if status.status == "COMPLETED":
                break
            if status.status in ("FAILED", "CANCELED"):
                detail = status.error.detail if status.error else status.status
                raise Rejected(f"offer export {tracking_id} {status.status}: {detail}", api="OF53")
            if time.monotonic() > deadline:
                raise NetworkError(f"offer export {tracking_id} not complete after {timeout:g} s", api="OF53")
        rows: list[dict[str, Any]] = []
        for url in status.urls:
            content = self.download_export_chunk(url)
            if request.export_type == "application/json":
                import json as _json

                rows.extend(_json.loads(content))
            else:
                rows.extend(read_csv(content)[1])
        return rows

    # ------------------------------------------------------------------ imports: submit
    def _upload(self, code: str, content: bytes, filename: str, fields: Mapping[str, str] | None = None) -> str:
        files = {"file": (filename, content, "text/csv")}
        response = self.call(code, files=files, data=dict(fields or {}))
        return mirakl_models.ImportCreated.model_validate(response.json()).id

    def submit_stock(self, rows: Iterable[Mapping[str, Any]]) -> str:
        """STO01: rows of ``offer-sku``, ``quantity`` (+ ``warehouse-code``, ``update-delete``)."""
        return self._upload("STO01", write_csv(STOCK_COLUMNS, rows), "stock.csv")

    def submit_prices(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
        """PRI01: rows of ``offer-sku``, ``price`` (+ discount columns, or ``columns``: channels, ranges...).
        **Replaces every price of each offer**: a price the file does not list is deleted."""
        return self._upload("PRI01", write_csv(list(columns or PRICE_COLUMNS), rows), "prices.csv")

    def submit_offers(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, mode: str = "NORMAL") -> str:
        """OF01 with only ``columns`` (NORMAL mode leaves absent columns untouched)."""
        if "sku" not in columns:
            raise ValueError("an offer file needs the 'sku' column")
        if mode not in ("NORMAL", "REPLACE"):
            raise ValueError("mode must be NORMAL or REPLACE")
        return self._upload("OF01", write_csv(columns, rows), "offers.csv", {"import_mode": mode})

    def submit_products(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
        """P41 in the operator's format: one column per PM11 attribute code."""
        rows = list(rows)
        if columns is None:
            columns = list(dict.fromkeys(k for row in rows for k in row))
        return self._upload("P41", write_csv(columns, rows), "products.csv")

    # ------------------------------------------------------------------ imports: status
    def stock_import_status(self, import_id: str) -> mirakl_models.StockImportStatus:
        return self._get_model("STO02", mirakl_models.StockImportStatus, path_params={"import_id": import_id})

    def offer_import_status(self, import_id: str) -> mirakl_models.OfferImportStatus:
        return self._get_model("OF02", mirakl_models.OfferImportStatus, path_params={"import_id": import_id})

    def price_import_status(self, import_id: str) -> mirakl_models.PriceImportStatus:
        page = self._get_model("PRI02", mirakl_models.PriceImportPage, params=[("import_id", import_id)])
        for item in page.data:
            if item.import_id == import_id:
                return item
        raise NotFound(f"price import {import_id} not found", api="PRI02", status=200)

    def product_import_status(self, import_id: str) -> mirakl_models.ProductImportStatus:
        return self._get_model("P42", mirakl_models.ProductImportStatus, path_params={"import_id": import_id})

    # ------------------------------------------------------------------ imports: reports
    def _report(self, code: str, import_id: str) -> list[dict[str, str]]:
        content = self.call(code, path_params={"import_id": import_id}).content
        try:
            return read_csv(content)[1]
        except CsvFormatError as error:
            raise Rejected(f"unreadable error report: {error}", api=code) from None

    def _positional_report(self, code: str, import_id: str) -> list[ImportLineError]:
        content = self.call(code, path_params={"import_id": import_id}).content
        try:
            header, cells = read_csv_cells(content)
        except CsvFormatError as error:
            raise Rejected(f"unreadable error report: {error}", api=code) from None
        return _positional_line_errors(header, cells, "offer-sku")

    def stock_error_report(self, import_id: str) -> list[ImportLineError]:
        """STO03, read by position: "The first column contains the line number in error. The second
        column contains the error reason", then the submitted row (SPEC; header names undocumented)."""
        return self._positional_report("STO03", import_id)

    def price_error_report(self, import_id: str) -> list[ImportLineError]:
        """PRI03: the same layout as STO03 (line number, reason, then the row)."""
        return self._positional_report("PRI03", import_id)

    def offer_error_report(self, import_id: str) -> list[ImportLineError]:
        return _line_errors(self._report("OF03", import_id), "sku")

    def product_error_report(self, import_id: str) -> list[ImportLineError]:
        return _line_errors(self._report("P44", import_id), "shop_sku")

    def new_product_report(self, import_id: str) -> list[dict[str, str]]:
        return self._report("P45", import_id)

    def transformation_error_report(self, import_id: str) -> list[dict[str, str]]:
        """P47: the rows of a product import that failed the operator's transformation, as read."""
        return self._report("P47", import_id)

    # ------------------------------------------------------------------ imports: whole round trips
    _IMPORT_KINDS: dict[str, tuple[str, str, str]] = {
        # api: (status method, report method, SKU column)
        "STO01": ("stock_import_status", "stock_error_report", "offer-sku"),
        "PRI01": ("price_import_status", "price_error_report", "offer-sku"),
        "OF01": ("offer_import_status", "offer_error_report", "sku"),
        "P41": ("product_import_status", "product_error_report", "shop_sku"),
    }

    def wait_for_import(self, api: str, import_id: str, *, timeout: float = 1800.0) -> Any:
        """Poll the status API (its own frequency limit paces the loop) until a terminal state."""
        status_method = getattr(self, self._IMPORT_KINDS[api][0])
        deadline = time.monotonic() + timeout
        while True:
            status = status_method(import_id)
            if status.status in TERMINAL_IMPORT_STATES:
                return status
            if time.monotonic() > deadline:
                raise NetworkError(f"{api} import {import_id} still {status.status} after {timeout:g} s", api=api)
            if self._status_unthrottled(api):  # a status API without a frequency limit still gets a pause
                time.sleep(0.05)

    @staticmethod
    def _status_unthrottled(api: str) -> bool:
        status_code = {"STO01": "STO02", "PRI01": "PRI02", "OF01": "OF02", "P41": "P42"}[api]
        return ENDPOINTS[status_code].min_interval is None

    def import_result(self, api: str, import_id: str, skus: Sequence[str], status: Any) -> ImportResult:
        """Combine a terminal status and the error report into per-SKU results."""
        report_method = getattr(self, self._IMPORT_KINDS[api][1])
        errors: list[ImportLineError] = []
        if status.has_error_report:
            errors = report_method(import_id)
        result = ImportResult(api=api, import_id=import_id, status=status.status,
                              lines_in_success=getattr(status, "lines_in_success", 0)
                              or getattr(status, "transform_lines_in_success", 0),
                              lines_in_error=getattr(status, "lines_in_error", 0)
                              or getattr(status, "transform_lines_in_error", 0),
                              errors=errors, reason=getattr(status, "reason_status", None) or None)
        failed = status.status in ("FAILED", "CANCELLED", "TRANSFORMATION_FAILED")
        for sku in skus:
            result.results[sku] = f"import {status.status}: {result.reason or 'no reason given'}" if failed else "ok"
        for error in errors:
            result.results[error.sku] = error.message
        return result

    def _round_trip(self, api: str, import_id: str, skus: Sequence[str], timeout: float) -> ImportResult:
        status = self.wait_for_import(api, import_id, timeout=timeout)
        return self.import_result(api, import_id, skus, status)

    def import_stock(self, rows: Iterable[Mapping[str, Any]], *, timeout: float = 1800.0) -> ImportResult:
        rows = list(rows)
        return self._round_trip("STO01", self.submit_stock(rows), [str(r["offer-sku"]) for r in rows], timeout)

    def import_prices(self, rows: Iterable[Mapping[str, Any]], *, timeout: float = 1800.0) -> ImportResult:
        rows = list(rows)
        return self._round_trip("PRI01", self.submit_prices(rows), [str(r["offer-sku"]) for r in rows], timeout)

    def import_offers(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, mode: str = "NORMAL",
                      timeout: float = 1800.0) -> ImportResult:
        rows = list(rows)
        return self._round_trip("OF01", self.submit_offers(rows, columns, mode=mode), [str(r["sku"]) for r in rows],
                                timeout)

    def import_products(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None, *,
                        timeout: float = 3600.0) -> ImportResult:
        rows = list(rows)
        return self._round_trip("P41", self.submit_products(rows, columns), [str(r["shop_sku"]) for r in rows],
                                timeout)

    # ------------------------------------------------------------------ reference data
    def carriers(self) -> list[mirakl_models.Carrier]:
        return self._get_model("SH21", mirakl_models.CarrierList).carriers

    def shipping_types(self) -> list[mirakl_models.ShippingType]:
        return self._get_model("SH12", mirakl_models.ShippingTypeList).shipping_types

    def reasons(self, reason_type: str | None = None) -> list[mirakl_models.Reason]:
        reasons = self._get_model("RE01", mirakl_models.ReasonList).reasons
        return [r for r in reasons if reason_type is None or r.type == reason_type]

    def attributes(self, hierarchy: str | None = None) -> list[mirakl_models.Attribute]:
        return self._get_model("PM11", mirakl_models.AttributeList, params={"hierarchy": hierarchy}).attributes

    def hierarchies(self, hierarchy: str | None = None, max_level: int | None = None) -> list[mirakl_models.Hierarchy]:
        return self._get_model("H11", mirakl_models.HierarchyList, params={"hierarchy": hierarchy, "max_level": max_level}).hierarchies

    def value_lists(self, code: str | None = None) -> list[mirakl_models.ValueList]:
        return self._get_model("VL11", mirakl_models.ValueListList, params={"code": code}).values_lists

    def account(self) -> mirakl_models.Account:
        return self._get_model("A01", mirakl_models.Account)


def _iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with offset, as the SDK sends it; httpx2 percent-encodes the ``+``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _json_object(response: httpx2.Response, code: str) -> dict[str, Any]:
    """The answer's JSON object; anything else (not JSON, nested thousands deep, an array, null) is
    the remote's fault and becomes a :class:`ServerError`, never a decoder exception."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        raise ServerError("the answer is not JSON", api=code, status=response.status_code) from None
    if not isinstance(body, dict):
        raise ServerError(f"the answer is a JSON {type(body).__name__}, not an object", api=code,
                          status=response.status_code)
    return body


def _items_of(body: dict[str, Any], key: str, code: str) -> list[Any]:
    items = body.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ServerError(f"{key!r} is a {type(items).__name__}, not a list", api=code, status=200)
    return items


def _positional_line_errors(header: list[str], cells: list[list[str]], sku_column: str) -> list[ImportLineError]:
    """STO03/PRI03 rows: column 1 the line number, column 2 the reason, then the submitted columns.

    Only when the header names ``error-line`` and ``error-message`` somewhere other than first are
    the rows read by those names instead (a report laid out like OF03's example)."""
    names = [h.strip().lower() for h in header]
    if names[:2] != ["error-line", "error-message"] and {"error-line", "error-message"} <= set(names):
        return _line_errors([dict(zip(header, row, strict=False)) for row in cells], sku_column)
    rest = header[2:]
    errors = []
    for row in cells:
        line_text = row[0].strip() if row else ""
        message = (row[1].strip() if len(row) > 1 else "") or "unspecified error"
        original = dict(zip(rest, row[2:], strict=False))
        sku = original.get(sku_column)
        if sku is None:  # header cells we do not know: the SKU is the first submitted column
            sku = row[2] if len(row) > 2 else ""
        errors.append(ImportLineError(line=int(line_text) if line_text.isdigit() else None, sku=sku,
                                      message=message, row=original))
    return errors


def _line_errors(rows: list[dict[str, str]], sku_column: str) -> list[ImportLineError]:
    errors = []
    for row in rows:
        line_text = row.get("error-line", "")
        line = int(line_text) if line_text.strip().isdigit() else None
        message = row.get("error-message") or row.get("errors") or "unspecified error"
        original = {k: v for k, v in row.items() if k not in ("error-line", "error-message")}
        errors.append(ImportLineError(line=line, sku=row.get(sku_column, ""), message=message, row=original))
    return errors


__all__ = ["ImportLineError", "ImportResult", "MiraklClient"]

