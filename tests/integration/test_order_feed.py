"""The order feed against the Mirakl simulator over real HTTP and a real database (SQLite, and
PostgreSQL on that tier): orders placed and moved through the simulator's control API and the
client's own writes (OR21, OR23, OR24), read twice, the mirror and the outbox checked; the overlap
duplicates nothing; an exception after the first page loses and repeats nothing; two workers on
one database never read at once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import text

from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.bus import MarketplaceOrderChanged
from marketbridge.services import order_feed
from tests.conftest import runtime_builder


@pytest.fixture
def rt(migrated_db_url, fresh_sandboxes):
    # OR11's paging, even on a first read: the export's reads are tests/integration/test_order_feed_export.py
    yield from runtime_builder(migrated_db_url, fresh_sandboxes, order_poll_page_size=2,
                               order_feed_export_after_seconds=0)


def control(boxes, path: str, body: Any = None) -> Any:
    response = httpx2.post(boxes.mirakl_url + path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def place(boxes, count: int) -> list[str]:
    quantities = httpx2.get(boxes.mirakl_url + "/_sandbox/offer-quantities").json()
    skus = sorted(sku for sku, qty in quantities.items() if qty >= 5)[:count]
    assert len(skus) == count, "the seed catalogue has too few offers in stock"
    return [control(boxes, "/_sandbox/orders", {"lines": [{"offer_sku": sku, "quantity": 1}]})["order_id"]
            for sku in skus]


def accept(runtime, order_id: str) -> None:
    (order,) = runtime.mirakl.list_orders(order_ids=[order_id])
    runtime.mirakl.accept_order(order_id, {line.order_line_id: True for line in order.order_lines})


def events(runtime) -> list[tuple[str, str]]:
    with runtime.db.session() as s:
        rows = s.execute(text("SELECT order_id, kind FROM order_feed_events ORDER BY id")).all()
    return [(r[0], r[1]) for r in rows]


def test_two_reads_mirror_the_orders_and_record_what_changed_once(rt, fresh_sandboxes):
    runtime = rt()
    a, b, c = place(fresh_sandboxes, 3)
    first = order_feed.read(runtime, force=True)
    assert (first.orders, first.pages, first.events, first.failed) == (3, 2, 3, [])
    assert events(runtime) == [(a, "appeared"), (b, "appeared"), (c, "appeared")]
    # between two reads: A is accepted, paid, given tracking and shipped; B is cancelled by the customer
    accept(runtime, a)
    control(fresh_sandboxes, f"/_sandbox/orders/{a}/debit")
    runtime.mirakl.update_tracking(a, mirakl_models.TrackingRequest(carrier_code="DPD", tracking_number="TRK-1"))
    runtime.mirakl.ship_order(a)
    control(fresh_sandboxes, f"/_sandbox/orders/{b}/cancel")
    second = order_feed.read(runtime, force=True)
    assert second.orders == 3 and second.unchanged == 1
    assert events(runtime)[3:] == [(a, "accepted"), (a, "paid"), (a, "shipped"), (b, "cancelled"), (b, "cancelled")]
    shipped = next(ch for ch in second.changes if ch.kind.value == "shipped")
    assert dict(shipped.detail)["tracking_number"] == "TRK-1" and dict(shipped.detail)["to"] == "SHIPPED"
    with runtime.order_feed_store.mirror() as mirror:
        got_a, got_b = mirror.get(a), mirror.get(b)
        status = mirror.status(dt.datetime.now(dt.UTC))
        shipped_now = [o.order_id for o in mirror.in_states(["SHIPPED"])]
    assert got_a is not None and got_a.state == "SHIPPED" and got_a.customer_debited_at is not None
    assert got_a.tracking is not None and got_a.tracking.number == "TRK-1"
    assert got_b is not None and got_b.state == "CANCELED" and got_b.lines[0].cancelations
    assert shipped_now == [a]
    assert status.mirrored_orders == 3 and status.undispatched_events == 8 and status.cursor is not None
    assert status.cursor == got_b.updated_at > got_a.updated_at  # the newest last_updated_date read (B, cancelled last)
    assert status.last_read_pages == 2 and status.reader is None
    # no customer data reaches the mirror's table
    with runtime.db.session() as s:
        dumped = repr(s.execute(text("SELECT * FROM order_feed_mirror")).all())
    assert a in dumped
    for personal in ("Alex", "Morgan", "Victoria Street", "SW1E", "notify+"):
        assert personal not in dumped


def test_the_overlap_and_a_wide_window_record_nothing_twice(rt, fresh_sandboxes):
    runtime = rt(order_feed_overlap_seconds=3600)
    place(fresh_sandboxes, 3)
    order_feed.read(runtime, force=True)
    again = order_feed.read(runtime, force=True)
    assert again.orders == 3 and again.unchanged == 3 and again.events == 0
    assert len(events(runtime)) == 3


def test_an_exception_after_the_first_page_loses_nothing_and_the_next_read_duplicates_nothing(rt, fresh_sandboxes,
                                                                                                monkeypatch):
    runtime = rt()
    ids = place(fresh_sandboxes, 5)
    order_feed.read(runtime, force=True)
    with runtime.order_feed_store.mirror() as mirror:
        cursor_before = mirror.status(dt.datetime.now(dt.UTC)).cursor
    for order_id in ids:
        accept(runtime, order_id)
    real = runtime.mirakl.iter_offset

    def breaks_after_one_page(code: str, params: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
        for n, item in enumerate(real(code, params, **kw)):
            if n == kw["page_size"]:
                raise RuntimeError("injected: the worker fell over after the first page")
            yield item

    monkeypatch.setattr(runtime.mirakl, "iter_offset", breaks_after_one_page)
    with pytest.raises(RuntimeError, match="injected"):
        order_feed.read(runtime, force=True)
    assert events(runtime)[5:] == [(ids[0], "accepted"), (ids[1], "accepted")]  # the first page was kept
    with runtime.order_feed_store.mirror() as mirror:
        status = mirror.status(dt.datetime.now(dt.UTC))
    assert status.cursor == cursor_before and status.reader is None and "injected" in (status.last_error or "")
    monkeypatch.setattr(runtime.mirakl, "iter_offset", real)
    after = order_feed.read(runtime, force=True)
    assert after.unchanged == 2 and after.events == 3
    recorded = events(runtime)
    assert recorded[7:] == [(i, "accepted") for i in ids[2:]]
    assert len(recorded) == len(set(recorded)) == 10


def test_one_reader_at_a_time_across_workers_on_one_database(rt, fresh_sandboxes, monkeypatch):
    first, second = rt(executor_id="worker-1"), rt(executor_id="worker-2")
    place(fresh_sandboxes, 3)
    inside, release = threading.Event(), threading.Event()
    real = first.mirakl.iter_offset

    def slow(code: str, params: Any = None, **kw: Any) -> Iterator[dict[str, Any]]:
        for item in real(code, params, **kw):
            inside.set()
            assert release.wait(30)
            yield item

    monkeypatch.setattr(first.mirakl, "iter_offset", slow)
    results: list[order_feed.ReadResult] = []
    reader = threading.Thread(target=lambda: results.append(order_feed.read(first, force=True)))
    reader.start()
    try:
        assert inside.wait(30)
        other = order_feed.read(second, force=True)
        assert other.skipped == "another worker reads" and other.orders == 0
        assert order_feed.dispatch(second).skipped == "another worker reads"
        with second.order_feed_store.mirror() as mirror:
            assert (mirror.status(dt.datetime.now(dt.UTC)).reader or "").startswith("worker-1:")
    finally:
        release.set()
        reader.join(30)
    assert results[0].orders == 3 and results[0].events == 3
    assert second.order_feed_store is not first.order_feed_store
    assert order_feed.read(second, force=True).skipped is None  # free again once the first is done


def test_dispatch_publishes_the_stored_changes_in_order_once(rt, fresh_sandboxes):
    runtime = rt()
    seen: list[MarketplaceOrderChanged] = []
    runtime.bus.register(MarketplaceOrderChanged, seen.append)
    a, b = place(fresh_sandboxes, 2)
    order_feed.read(runtime, force=True)
    accept(runtime, a)
    order_feed.read(runtime, force=True)
    sent = order_feed.dispatch(runtime)
    assert sent.published == 3
    assert [(m.order_id, m.kind) for m in seen] == [(a, "appeared"), (b, "appeared"), (a, "accepted")]
    assert [m.event_id for m in seen] == sorted(m.event_id for m in seen)
    assert order_feed.dispatch(runtime).published == 0
    with runtime.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM order_feed_events WHERE dispatched_at IS NULL")).scalar() == 0


def test_refresh_now_reads_one_order_by_id(rt, fresh_sandboxes):
    runtime = rt()
    a, _b = place(fresh_sandboxes, 2)
    order_feed.read(runtime, force=True)
    accept(runtime, a)
    control(fresh_sandboxes, f"/_sandbox/orders/{a}/debit")
    httpx2.delete(fresh_sandboxes.mirakl_url + "/_sandbox/calls")
    refreshed = order_feed.refresh_order(runtime, a)
    assert refreshed.order.state == "SHIPPING" and [c.kind.value for c in refreshed.changes] == ["accepted", "paid"]
    calls = [c for c in httpx2.get(fresh_sandboxes.mirakl_url + "/_sandbox/calls").json() if c["api"] == "OR11"]
    assert len(calls) == 1
    assert order_feed.read(runtime, force=True).events == 0  # the feed's next read finds it recorded
