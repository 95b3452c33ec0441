"""The asynchronous order export, client side: OR13 starts it, OR14 polls it, OR15 downloads it.

Mirakl recommends OR13 over OR11 "as it can handle very large volumes of data" (seller OpenAPI,
OR13), so backfills read orders this way. :class:`.client.MiraklClient` exposes these functions
as methods; they live here to keep the client module small.

Pacing, from each operation's "Call Frequency" block:

- OR13: at most every 5 minutes (limiter key ``OR13``); a *full* export (no update-date range)
  also at most every 24 hours (key ``OR13:full``). A full export claims the 5-minute slot first,
  then the daily one, so it never leaves when a differential went out less than 5 minutes ago;
- OR14: at most every 2 seconds *per OR13 call*: one limiter key per tracking id, so polling one
  export never delays another's;
- OR15: once per file URL. A 429 on a URL is final (no retry; see ``once_per_url`` in
  :mod:`.endpoints`), so :func:`export_orders` downloads each URL exactly once.

Wire formats: OR13 ``{"tracking_id"}``; OR14 ``{"status", "last_updated", "urls"?}``; OR15
``{"orders": [...]}``, each order shaped as OR11's, read into the same :class:`.models.Order`.
A file is held in memory while its orders are yielded (files are at most ``megabytes_per_chunk``,
512 MB by default: pass a smaller value for a long backfill).

Two ways to read the files: :func:`export_orders` validates each file into the model (one order
it cannot read fails the file), :func:`export_order_entries` yields each order as Mirakl sent it,
as OR11's ``iter_offset`` does, for a caller that validates order by order and must hold its
cursor at an unreadable order rather than lose the whole file (the order feed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from marketbridge.adapters.errors import NetworkError, Rejected, ServerError
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.adapters.mirakl.endpoints import OR13_FULL_INTERVAL, OR13_FULL_KEY, or14_key

if TYPE_CHECKING:
    from marketbridge.adapters.mirakl.client import MiraklClient

#: OR14 statuses after which polling stops without files.
ENDED_WITHOUT_FILES = {"FAILED", "CANCELED", "CANCELLED"}


def start_order_export(client: MiraklClient, request: mirakl_models.OrderExportRequest) -> str:
    """OR13 -> tracking id. Not retried after a failure: a repeat would meet "only one export
    request can be created for the same shop account" while the first is still running."""
    key = None
    if request.full:
        client.claim_slot("OR13")  # the 5-minute pace binds a full export too
        key = (OR13_FULL_KEY, OR13_FULL_INTERVAL)
    response = client.call("OR13", json=request.wire(), limit_key=key)
    return mirakl_models.ExportStarted.model_validate(response.json()).tracking_id


def order_export_status(client: MiraklClient, tracking_id: str) -> mirakl_models.OrderExportStatus:
    """OR14, paced per export."""
    response = client.call("OR14", path_params={"tracking_id": tracking_id},
                           limit_key=(or14_key(tracking_id), client.intervals["OR14"]))
    return mirakl_models.OrderExportStatus.model_validate(response.json())


def download_order_export_chunk(client: MiraklClient, url: str) -> bytes:
    """OR15: GET one URL returned by OR14, once. Only URLs on the Mirakl instance are followed:
    the request carries the shop key."""
    return client.call("OR15", url=client.instance_path(url, "OR15")).content


def read_order_file(content: bytes) -> list[mirakl_models.Order]:
    """One OR15 file's orders; anything that is not ``{"orders": [...]}`` is the remote's fault."""
    try:
        return mirakl_models.OrderExportFile.model_validate_json(content).orders
    except ValidationError as error:
        raise ServerError(f"an order export file is not {{\"orders\": [...]}}: {error.errors()[0]['msg']}",
                          api="OR15", status=200) from None


def read_order_file_entries(content: bytes) -> list[Any]:
    """One OR15 file's orders as sent, unvalidated; only the ``{"orders": [...]}`` frame is checked
    (anything else is the remote's fault)."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    orders = body.get("orders") if isinstance(body, dict) else None
    if not isinstance(orders, list):
        raise ServerError("an order export file is not {\"orders\": [...]}", api="OR15", status=200)
    return orders


def wait_for_order_export(client: MiraklClient, tracking_id: str, *,
                          timeout: float) -> mirakl_models.OrderExportStatus:
    """Poll OR14 (its limiter paces the loop) until COMPLETED; FAILED or CANCELED is Rejected."""
    deadline = time.monotonic() + timeout
    while True:
        status = order_export_status(client, tracking_id)
        if status.status == "COMPLETED":
            return status
        if status.status in ENDED_WITHOUT_FILES:
            raise Rejected(f"order export {tracking_id} {status.status}", api="OR14")
        if time.monotonic() > deadline:
            raise NetworkError(f"order export {tracking_id} not complete after {timeout:g} s", api="OR14")


def export_orders(client: MiraklClient, request: mirakl_models.OrderExportRequest, *,
                  timeout: float = 3600.0) -> Iterator[mirakl_models.Order]:
    """OR13 + OR14 polling + OR15 per file: every exported order, file by file, in Mirakl's order.

    A generator: OR13 is sent when iteration starts. Each URL is downloaded once; a failure half
    way raises, and the orders already yielded stay yielded (the caller keeps its own cursor).
    """
    tracking_id = start_order_export(client, request)
    status = wait_for_order_export(client, tracking_id, timeout=timeout)
    for url in status.urls:
        yield from read_order_file(download_order_export_chunk(client, url))


def export_order_entries(client: MiraklClient, request: mirakl_models.OrderExportRequest, *,
                         timeout: float = 3600.0,
                         on_complete: Callable[[mirakl_models.OrderExportStatus], None] | None = None
                         ) -> Iterator[Any]:
    """The same export as :func:`export_orders`, each order as the raw JSON object OR15 sent (the
    shape OR11's pages hold), so the caller parses each one and an unreadable order fails alone.
    ``on_complete`` gets OR14's COMPLETED answer (its ``last_updated``: when Mirakl finished, on
    Mirakl's clock) before the first file is downloaded."""
    tracking_id = start_order_export(client, request)
    status = wait_for_order_export(client, tracking_id, timeout=timeout)
    if on_complete is not None:
        on_complete(status)
    for url in status.urls:
        yield from read_order_file_entries(download_order_export_chunk(client, url))


__all__ = ["download_order_export_chunk", "export_order_entries", "export_orders", "order_export_status",
           "read_order_file", "read_order_file_entries", "start_order_export", "wait_for_order_export"]
