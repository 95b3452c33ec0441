"""The asynchronous order export (OR13 / OR14 / OR15) in the Mirakl simulator.

Wire formats (seller OpenAPI, operations OR13, OR14, OR15; every choice where it is silent is
listed in docs/api-notes.md, "OR13–OR15")::

    POST /api/orders/async-export                      OR13_Request -> 200 {"tracking_id"}
        {"start_date", "end_date"}               creation range   } at least one range; each
        {"start_update_date", "end_update_date"} last-update range } start needs its end
        "order_state_codes", "channel_codes", "only_null_channel", "fulfillment_center_codes",
        "items_per_chunk" (10,000..1,000,000, default 1,000,000), "megabytes_per_chunk"
        (10..1024, default 512), "order_tax_mode"
    GET  /api/orders/async-export/status/{tracking_id} -> {"status", "last_updated", "urls"?}
        PENDING until the export is done; COMPLETED with one URL per file; FAILED, CANCELED
    GET  <each URL>                                    -> {"orders": [<an OR11 order>, ...]}

"Only one export request can be created for the same shop account": a second OR13 while one is
PENDING is refused (400). A file is the very same rendering as OR11 (``order_json``), taken when
the export completes (the first request after ``order_export_delay_seconds`` of sandbox time).
OR15 serves each URL once ("Once per file URL returned by OR14"); a second download is a 429.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from marketbridge.sandbox.mirakl.core import ORDER_STATES, SandboxError, ceil_seconds, iso, parse_datetime

if TYPE_CHECKING:
    from marketbridge.sandbox.mirakl.core import SandboxClock, SandboxSettings
    from marketbridge.sandbox.mirakl.orders import Order

MAX_ITEMS_PER_CHUNK = 1_000_000
DEFAULT_ITEMS_PER_CHUNK = 1_000_000
MIN_MEGABYTES, MAX_MEGABYTES, DEFAULT_MEGABYTES = 10, 1024, 512
MEGABYTE = 1024 * 1024
#: The longest window any Mirakl API documents (a full export: 24 hours), the Retry-After of a
#: second OR15 download of one URL, which no wait makes callable again.
REPEAT_DOWNLOAD_RETRY_AFTER = 86400.0
_FIELDS = {"start_date", "end_date", "start_update_date", "end_update_date", "order_state_codes", "channel_codes",
           "only_null_channel", "fulfillment_center_codes", "items_per_chunk", "megabytes_per_chunk",
           "order_tax_mode", "shop_ids"}
_FILE_HEAD, _FILE_TAIL = b'{"orders":[', b"]}"


def _datatype(name: str) -> SandboxError:
    return SandboxError(400, f"Error with field {name}. Please check the field datatype.")


@dataclass(frozen=True)
class ExportFilters:
    """A validated OR13 body."""

    created: tuple[datetime, datetime] | None
    updated: tuple[datetime, datetime] | None
    order_states: frozenset[str]
    channel_codes: frozenset[str]
    only_null_channel: bool
    fulfillment_center: str | None
    items_per_chunk: int
    megabytes_per_chunk: int

    @property
    def full(self) -> bool:
        """Differential means "what changed in this window": a request with an update-date range.
        Anything else is a full export, allowed once a day (the spec does not define the two)."""
        return self.updated is None


def _date_range(body: dict[str, Any], start: str, end: str) -> tuple[datetime, datetime] | None:
    first, last = body.get(start), body.get(end)
    for name, value in ((start, first), (end, last)):
        if value is not None and not isinstance(value, str):
            raise _datatype(name)
    if first is None and last is None:
        return None
    if first is None or last is None:
        raise SandboxError(400, f"'{start}' must be used with '{end}'")
    low, high = parse_datetime(first, start), parse_datetime(last, end)
    if low > high:
        raise SandboxError(400, f"'{start}' must not be after '{end}'")
    return low, high


def _codes(body: dict[str, Any], name: str) -> frozenset[str]:
    value = body.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _datatype(name)
    if len(value) > 100:
        raise SandboxError(400, f"'{name}' accepts at most 100 values")
    return frozenset(value)


def _bounded_int(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _datatype(name)
    if not low <= value <= high:
        raise SandboxError(400, f"'{name}' must be between {low} and {high}")
    return value


def parse_export_request(body: Any, *, shop_id: int, min_items_per_chunk: int) -> ExportFilters:
    """Validate an OR13 body (400 for what Mirakl documents as invalid, and for what this simulator
    does not model: unknown fields, ``TAX_EXCLUDED``; 403 for another shop in ``shop_ids``)."""
    if not isinstance(body, dict):
        raise SandboxError(400, "The request body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise SandboxError(400, f"Unknown field(s): {', '.join(unknown)}")
    created = _date_range(body, "start_date", "end_date")
    updated = _date_range(body, "start_update_date", "end_update_date")
    if created is None and updated is None:
        raise SandboxError(400, "At least one date range is required: start_date and end_date, "
                                "or start_update_date and end_update_date")
    states = _codes(body, "order_state_codes")
    if states - ORDER_STATES:
        raise SandboxError(400, f"Unknown order_state_codes: {', '.join(sorted(states - ORDER_STATES))}")
    only_null = body.get("only_null_channel", False)
    if not isinstance(only_null, bool):
        raise _datatype("only_null_channel")
    center = body.get("fulfillment_center_codes")
    if center is not None and (not isinstance(center, str) or len(center) > 100):
        raise _datatype("fulfillment_center_codes")
    tax_mode = body.get("order_tax_mode")
    if tax_mode is not None and tax_mode not in ("TAX_INCLUDED", "TAX_EXCLUDED"):
        raise _datatype("order_tax_mode")
    if tax_mode == "TAX_EXCLUDED":
        raise SandboxError(400, "order_tax_mode TAX_EXCLUDED is not supported by this sandbox (prices are TAX_INCLUDED)")
    shops = body.get("shop_ids")
    if shops is not None:
        if not isinstance(shops, list) or any(isinstance(s, bool) or not isinstance(s, int) for s in shops):
            raise _datatype("shop_ids")
        if other := [s for s in shops if s != shop_id]:
            raise SandboxError(403, f"Access denied to shop {other[0]}")
    return ExportFilters(
        created=created, updated=updated, order_states=states, channel_codes=_codes(body, "channel_codes"),
        only_null_channel=only_null, fulfillment_center=center,
        items_per_chunk=_bounded_int(body, "items_per_chunk", DEFAULT_ITEMS_PER_CHUNK, min_items_per_chunk,
                                     MAX_ITEMS_PER_CHUNK),
        megabytes_per_chunk=_bounded_int(body, "megabytes_per_chunk", DEFAULT_MEGABYTES, MIN_MEGABYTES,
                                         MAX_MEGABYTES),
    )


def split_into_files(orders: Iterable[dict[str, Any]], max_items: int, max_bytes: int) -> list[bytes]:
    """OR15 files of ``{"orders": [...]}``: at most ``max_items`` orders and ``max_bytes`` bytes each
    (an order bigger than ``max_bytes`` on its own still gets a file: an order is never split).
    No orders, no files."""
    files: list[bytes] = []
    current: list[bytes] = []
    base = len(_FILE_HEAD) + len(_FILE_TAIL)
    size = base
    for order in orders:
        data = json.dumps(order, separators=(",", ":")).encode()
        extra = len(data) + (1 if current else 0)  # the comma
        if current and (len(current) >= max_items or size + extra > max_bytes):
            files.append(_FILE_HEAD + b",".join(current) + _FILE_TAIL)
            current, size, extra = [], base, len(data)
        current.append(data)
        size += extra
    if current:
        files.append(_FILE_HEAD + b",".join(current) + _FILE_TAIL)
    return files


@dataclass
class OrderExportJob:
    tracking_id: str
    created: datetime
    due: datetime
    filters: ExportFilters
    status: str = "PENDING"
    finished: datetime | None = None
    files: list[bytes] = field(default_factory=list)
    downloaded: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {"tracking_id": self.tracking_id, "status": self.status, "created": iso(self.created),
                "full": self.filters.full, "files": len(self.files), "downloaded": sorted(self.downloaded)}


class OrderExportMixin:
    """Order exports; mixed into :class:`SandboxState` (which owns the lock, clock and orders)."""

    # SandboxState's and OrdersMixin's, declared (not assigned) so the type checker knows them here.
    clock: SandboxClock
    settings: SandboxSettings
    shop_id: int
    rate_scale: float
    orders: dict[str, Order]
    order_json: Callable[[Order], dict[str, Any]]

    def _init_order_exports(self) -> None:
        self.order_exports: dict[str, OrderExportJob] = {}

    def parse_order_export(self, body: Any) -> ExportFilters:
        return parse_export_request(body, shop_id=self.shop_id,
                                    min_items_per_chunk=int(self.settings.order_export_min_items_per_chunk))

    def create_order_export(self, filters: ExportFilters) -> OrderExportJob:
        """OR13 after its call frequency was checked: one PENDING export per shop."""
        if any(job.status == "PENDING" for job in self.order_exports.values()):
            raise SandboxError(400, "Only one export request can be created for the same shop account: "
                                    "an order export is still in progress")
        now = self.clock.now()
        job = OrderExportJob(tracking_id=str(uuid.uuid4()), created=now, filters=filters,
                             due=now + timedelta(seconds=self.settings.order_export_delay_seconds))
        self.order_exports[job.tracking_id] = job
        return job

    def _get_order_export(self, tracking_id: str) -> OrderExportJob:
        job = self.order_exports.get(tracking_id)
        if job is None:
            raise SandboxError(404, f"Order export with tracking id '{tracking_id}' not found")
        return job

    def _complete_due_order_exports(self, now: datetime) -> None:
        for job in self.order_exports.values():
            if job.status == "PENDING" and now >= job.due:
                rendered = (self.order_json(order) for order in self._exported_orders(job.filters))
                job.files = split_into_files(_channel_filtered(rendered, job.filters), job.filters.items_per_chunk,
                                             job.filters.megabytes_per_chunk * MEGABYTE)
                job.status, job.finished = "COMPLETED", job.due

    def _exported_orders(self, filters: ExportFilters) -> list[Order]:
        """The orders in both date ranges and states, oldest first (OR11's order)."""
        orders = list(self.orders.values())
        if filters.created is not None:
            low, high = filters.created
            orders = [o for o in orders if low <= o.created <= high]
        if filters.updated is not None:
            # "Mirakl will subtract a time delta to ensure no orders are missed" (as OR11 does)
            low = filters.updated[0] - timedelta(seconds=self.settings.update_overlap_seconds)
            orders = [o for o in orders if low <= o.updated <= filters.updated[1]]
        if filters.order_states:
            orders = [o for o in orders if o.state in filters.order_states]
        return sorted(orders, key=lambda o: (o.created, o.order_id))

    def order_export_status(self, tracking_id: str, base_url: str) -> dict[str, Any]:
        """OR14. ``urls`` only at COMPLETED (possibly empty: nothing matched)."""
        job = self._get_order_export(tracking_id)
        if job.status == "PENDING":
            return {"status": "PENDING", "last_updated": iso(job.created)}
        body: dict[str, Any] = {"status": job.status, "last_updated": iso(job.finished)}
        if job.status == "COMPLETED":
            body["urls"] = [f"{base_url}/api/orders/async-export/file/{job.tracking_id}?file={i}.json"
                            for i in range(len(job.files))]
        return body

    def order_export_file(self, tracking_id: str, file: str) -> bytes:
        """OR15: one file, once."""
        job = self.order_exports.get(tracking_id)
        if job is None or job.status != "COMPLETED":
            raise SandboxError(404, f"Order export '{tracking_id}' not found or not completed")
        stem, dot, ext = file.partition(".")
        if not (stem.isdigit() and dot and ext == "json" and int(stem) < len(job.files)):
            raise SandboxError(404, f"Order export file '{file}' not found")
        index = int(stem)
        if index in job.downloaded:
            retry = ceil_seconds(REPEAT_DOWNLOAD_RETRY_AFTER * self.rate_scale)
            raise SandboxError(429, "Too many requests: OR15 may be called once per file URL returned by OR14",
                               headers={"Retry-After": str(retry)})
        job.downloaded.add(index)
        return job.files[index]

    # --- control API --------------------------------------------------------------------------
    def end_order_export(self, tracking_id: str, status: str) -> OrderExportJob:
        """The operator's side: a PENDING export FAILED or CANCELED (frees the shop's export slot)."""
        job = self._get_order_export(tracking_id)
        if job.status != "PENDING":
            raise SandboxError(400, f"Order export '{tracking_id}' is {job.status}, not PENDING")
        job.status, job.finished = status, self.clock.now()
        return job

    def order_exports_json(self) -> list[dict[str, Any]]:
        return [job.as_dict() for job in self.order_exports.values()]


def _channel_filtered(orders: Iterable[dict[str, Any]], filters: ExportFilters) -> Sequence[dict[str, Any]]:
    """Channel and fulfilment filters read the rendered order, as a client would see it."""
    kept = []
    for order in orders:
        channel = (order.get("channel") or {}).get("code")
        if filters.only_null_channel and channel is not None:
            continue
        if not filters.only_null_channel and filters.channel_codes and channel not in filters.channel_codes:
            continue
        center = ((order.get("fulfillment") or {}).get("center") or {}).get("code")
        if filters.fulfillment_center is not None and center != filters.fulfillment_center:
            continue
        kept.append(order)
    return kept


__all__ = ["ExportFilters", "OrderExportJob", "OrderExportMixin", "parse_export_request", "split_into_files"]
