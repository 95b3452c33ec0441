"""In-memory fakes for the order feed's unit tests (tests/unit/test_order_feed_flow.py).

* :class:`FakeFeedStore` (``ports.order_feed.OrderFeedStore``): the mirror, the outbox and the
  state row in dicts. A unit of work works on a copy and keeps it only when its block ends without
  an error, as a database transaction would (the feed's "a page is all or nothing" depends on it).
  The lease follows the adapter's rule: taken when free or expired, held only by its owner.
* :class:`FakeFeedMirakl` (``MiraklPort.iter_offset`` / ``list_orders`` for OR11): orders as the
  raw OR11 JSON, filtered by ``start_update_date``, sorted by creation, paged by ``max``; it can
  fail after a number of pages (``fail_after_pages``) and records every call's parameters. Its
  ``export_order_entries`` (OR13-OR15) yields the same raw orders whose update date lies in the
  request's range, newest first (Mirakl promises no order), records each export in
  ``export_calls``, and can refuse OR13 for its pace (``export_not_due``) or break part-way.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.errors import RateLimited, ServerError
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain.order_feed import MirrorOrder, OrderChange
from marketbridge.ports.order_feed import FeedEvent, FeedStatus, ReadFigures

#: An hour ago, to the second: inside the first read's look-back, before anything the test moves.
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def wire(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def raw_order(order_id: str, state: str = "WAITING_ACCEPTANCE", *, created: dt.datetime = T0,
              updated: dt.datetime | None = None, debited: dt.datetime | None = None,
              refunds: Sequence[dict[str, Any]] = (), tracking: str | None = None) -> dict[str, Any]:
    """One OR11 order as Mirakl sends it, customer and addresses included (the feed must drop them)."""
    return {
        "order_id": order_id, "commercial_id": order_id.rsplit("-", 1)[0], "order_state": state,
        "created_date": wire(created), "last_updated_date": wire(updated or created),
        "customer_debited_date": wire(debited) if debited else None, "currency_iso_code": "GBP",
        "price": 19.99, "shipping_price": 5.0, "total_price": 24.99, "can_cancel": state == "SHIPPING",
        "has_incident": False, "shipping_carrier_code": "DPD" if tracking else None,
        "shipping_company": "DPD" if tracking else None, "shipping_tracking": tracking,
        "customer": {"customer_id": "C1", "firstname": "Ada", "lastname": "Lovelace",
                     "shipping_address": {"street_1": "1 Analytical Row", "city": "London", "zip_code": "N1 1AA",
                                          "phone": "07700 900123"}},
        "customer_notification_email": "ada@example.invalid",
        "order_lines": [{"order_line_id": f"{order_id}-1", "order_line_state": state, "offer_sku": "LAMP-1",
                         "quantity": 1, "price": 19.99, "shipping_price": 5.0, "total_price": 24.99,
                         "refunds": list(refunds), "cancelations": []}],
    }


class FakeFeedMirakl:
    def __init__(self) -> None:
        self.orders: dict[str, dict[str, Any]] = {}
        self.calls: list[dict[str, Any]] = []  # one per HTTP page, with its query
        self.fail_after_pages: int | None = None
        self.fail_with: Exception = ServerError("injected: the read broke after a page", api="OR11", status=500)
        self.not_due: float | None = None  # the first page refused by the pace (RateLimited)
        self.before_page: Callable[[int], None] | None = None  # called with each page's offset
        self.export_calls: list[dict[str, Any]] = []  # one per OR13, with its update-date range
        self.export_not_due: float | None = None  # OR13 refused by the pace (RateLimited)
        self.export_fail_after: int | None = None  # raise after yielding this many exported orders
        self.export_completed_at: dt.datetime | None = None  # OR14's last_updated (None: the range's end)
        self.on_export_complete: Callable[[], None] | None = None  # called while "Mirakl builds it"

    def put(self, raw: dict[str, Any]) -> None:
        self.orders[raw["order_id"]] = raw

    def move(self, order_id: str, state: str, at: dt.datetime, **changes: Any) -> None:
        raw = self.orders[order_id]
        raw.update(order_state=state, last_updated_date=wire(at), **changes)
        for line in raw["order_lines"]:
            line["order_line_state"] = state

    def iter_offset(self, code: str, params: Mapping[str, Any] | None = None, *, page_size: int = 100,
                    on_total: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
        assert code == "OR11"
        query = dict(params or {})
        since = dt.datetime.fromisoformat(str(query["start_update_date"]).replace("Z", "+00:00"))
        offset = 0
        while True:
            if offset == 0 and self.not_due is not None:
                raise RateLimited("OR11 not due", api="OR11", status=None, retry_after=self.not_due)
            if self.before_page is not None:
                self.before_page(offset)
            self.calls.append({**query, "offset": offset, "max": page_size})
            if self.fail_after_pages is not None and len(self.calls) > self.fail_after_pages:
                raise self.fail_with
            matching = sorted((o for o in self.orders.values()
                               if dt.datetime.fromisoformat(o["last_updated_date"].replace("Z", "+00:00")) >= since),
                              key=lambda o: (o["created_date"], o["order_id"]))
            items = copy.deepcopy(matching[offset:offset + page_size])
            yield from items
            offset += len(items)
            if on_total is not None:
                on_total(len(matching))
            if not items or offset >= len(matching):
                return

    def export_order_entries(self, request: mirakl_models.OrderExportRequest, *, timeout: float = 3600.0,
                             on_complete: Callable[[mirakl_models.OrderExportStatus], None] | None = None
                             ) -> Iterator[dict[str, Any]]:
        if self.export_not_due is not None:
            raise RateLimited("OR13 not due", api="OR13", status=None, retry_after=self.export_not_due)
        assert request.start_update_date is not None and request.end_update_date is not None
        low, high = request.start_update_date, request.end_update_date
        self.export_calls.append({"start_update_date": low, "end_update_date": high, "timeout": timeout,
                                  "megabytes_per_chunk": request.megabytes_per_chunk})
        if self.on_export_complete is not None:
            self.on_export_complete()
        matching = sorted((o for o in self.orders.values()
                           if low <= dt.datetime.fromisoformat(o["last_updated_date"].replace("Z", "+00:00")) <= high),
                          key=lambda o: (o["last_updated_date"], o["order_id"]), reverse=True)
        if on_complete is not None:
            on_complete(mirakl_models.OrderExportStatus(status="COMPLETED", last_updated=self.export_completed_at or high))
        for n, raw in enumerate(copy.deepcopy(matching)):
            if self.export_fail_after is not None and n >= self.export_fail_after:
                raise self.fail_with
            yield raw

    def list_orders(self, *, order_ids: Sequence[str] | None = None, **_: Any) -> Iterator[mirakl_models.Order]:
        self.calls.append({"order_ids": ",".join(order_ids or ())})
        for raw in list(self.orders.values()):
            if order_ids is None or raw["order_id"] in order_ids:
                yield mirakl_models.Order.model_validate(copy.deepcopy(raw))


@dataclass
class _Row:
    order: MirrorOrder
    first_seen_at: dt.datetime
    changed_at: dt.datetime


@dataclass
class _Data:
    mirror: dict[str, _Row] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=lambda: {
        "cursor": None, "lease_owner": None, "lease_until": None, "next_read_due": None, "figures": None})


class FakeFeedRepository:
    def __init__(self, data: _Data) -> None:
        self.data = data

    # --- read port
    def get(self, order_id: str) -> MirrorOrder | None:
        row = self.data.mirror.get(order_id)
        return row.order if row else None

    def in_states(self, states: Sequence[str], *, limit: int = 500) -> list[MirrorOrder]:
        rows = sorted((r for r in self.data.mirror.values() if r.order.state in states),
                      key=lambda r: (r.order.updated_at, r.order.order_id))
        return [r.order for r in rows[:limit]]

    def changed_since(self, since: dt.datetime, *, limit: int = 500) -> list[MirrorOrder]:
        rows = sorted((r for r in self.data.mirror.values() if r.changed_at >= since),
                      key=lambda r: (r.changed_at, r.order.order_id))
        return [r.order for r in rows[:limit]]

    def status(self, now: dt.datetime) -> FeedStatus:
        s = self.data.state
        figures: ReadFigures | None = s["figures"]
        held = s["lease_owner"] is not None and s["lease_until"] is not None and s["lease_until"] > now
        states: dict[str, int] = {}
        for row in self.data.mirror.values():
            states[row.order.state] = states.get(row.order.state, 0) + 1
        return FeedStatus(
            cursor=s["cursor"], last_read_started_at=figures.started_at if figures else None,
            last_read_finished_at=figures.finished_at if figures else None,
            last_read_seconds=figures.seconds if figures else None, last_read_orders=figures.orders if figures else 0,
            last_read_pages=figures.pages if figures else 0, last_read_events=figures.events if figures else 0,
            last_error=figures.error if figures else None, next_read_due=s["next_read_due"],
            reader=s["lease_owner"] if held else None,
            undispatched_events=sum(1 for e in self.data.events if e["dispatched_at"] is None),
            mirrored_orders=len(self.data.mirror), states=states)

    # --- the feed's own writes
    def cursor_and_due(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        return self.data.state["cursor"], self.data.state["next_read_due"]

    def take_lease(self, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        s = self.data.state
        if s["lease_owner"] is not None and s["lease_until"] is not None and s["lease_until"] >= now:
            return False
        s["lease_owner"], s["lease_until"] = owner, until
        return True

    def hold_lease(self, owner: str, now: dt.datetime, until: dt.datetime) -> bool:
        if self.data.state["lease_owner"] != owner:
            return False
        self.data.state["lease_until"] = until
        return True

    def release_lease_of_dead_process(self, executor_prefix: str, own_prefix: str) -> bool:
        owner = self.data.state["lease_owner"]
        if owner is None or not owner.startswith(executor_prefix) or owner.startswith(own_prefix):
            return False
        self.data.state["lease_owner"] = self.data.state["lease_until"] = None
        return True

    def release_lease(self, owner: str) -> None:
        if self.data.state["lease_owner"] == owner:
            self.data.state["lease_owner"] = self.data.state["lease_until"] = None

    def end_read(self, owner: str, *, cursor: dt.datetime | None, figures: ReadFigures) -> None:
        s = self.data.state
        if s["lease_owner"] != owner:
            return
        s.update(lease_owner=None, lease_until=None, figures=figures, next_read_due=figures.next_read_due)
        if cursor is not None and (s["cursor"] is None or s["cursor"] < cursor):
            s["cursor"] = cursor

    def serialise_writes(self, now: dt.datetime) -> None:
        pass

    def mirrored(self, order_ids: Sequence[str]) -> dict[str, MirrorOrder]:
        return {i: self.data.mirror[i].order for i in order_ids if i in self.data.mirror}

    def save(self, order: MirrorOrder, *, at: dt.datetime) -> None:
        row = self.data.mirror.get(order.order_id)
        self.data.mirror[order.order_id] = _Row(order, row.first_seen_at if row else at, at)

    def add_events(self, found: Sequence[OrderChange], *, at: dt.datetime) -> None:
        for change in found:
            self.data.events.append({"id": len(self.data.events) + 1, "order_id": change.order_id,
                                     "kind": change.kind, "detail": dict(change.detail), "created_at": at,
                                     "dispatched_at": None})

    def undispatched(self, limit: int) -> list[FeedEvent]:
        pending = [e for e in self.data.events if e["dispatched_at"] is None][:limit]
        return [FeedEvent(e["id"], e["order_id"], e["kind"], e["detail"], e["created_at"]) for e in pending]

    def mark_dispatched(self, event_ids: Sequence[int], at: dt.datetime) -> None:
        for e in self.data.events:
            if e["id"] in event_ids and e["dispatched_at"] is None:
                e["dispatched_at"] = at


class FakeFeedStore:
    def __init__(self) -> None:
        self.data = _Data()
        self.commits = 0

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeFeedRepository]:
        working = _Data(mirror=dict(self.data.mirror), events=[dict(e) for e in self.data.events],
                        state=dict(self.data.state))
        yield FakeFeedRepository(working)
        self.data = working  # only when the block ended without an error: a commit
        self.commits += 1

    @contextmanager
    def mirror(self) -> Iterator[FakeFeedRepository]:
        yield FakeFeedRepository(self.data)

    def expire_lease(self) -> None:
        """As if the holder's lease ran out (a killed worker, minutes later)."""
        self.data.state["lease_until"] = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    def events(self) -> list[tuple[str, str]]:
        return [(e["order_id"], e["kind"].value) for e in self.data.events]


__all__ = ["T0", "FakeFeedMirakl", "FakeFeedRepository", "FakeFeedStore", "raw_order", "wire"]
