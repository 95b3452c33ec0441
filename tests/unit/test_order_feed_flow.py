"""The order feed's service (``services.order_feed``) on in-memory fakes: what a read asks OR11,
what it writes to the mirror and the outbox, where the cursor goes, the lease, a failure
part-way, the gate, dispatch onto the bus, a person's refresh of one order, and a long window
read through the order export (OR13-OR15) instead."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from marketbridge.adapters.errors import RateLimited, ServerError
from marketbridge.bus import MarketplaceOrderChanged, MessageBus, StoreMarketplaceOrders
from marketbridge.ports.orders import StoredOrders
from marketbridge.runtime import Runtime
from marketbridge.services import order_feed
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.order_feed import pace
from marketbridge.services.webhooks import WebhookHandlers
from marketbridge.settings import load_settings
from tests.fakes import NoDatabase
from tests.fakes_order_feed import T0, FakeFeedMirakl, FakeFeedStore, raw_order, wire

MINUTE = dt.timedelta(minutes=1)


class Feed:
    def __init__(self, **settings: Any) -> None:
        values: dict[str, Any] = {"database_url": "sqlite://", "session_secret": "x" * 48,
                                  "mirakl_rate_limit_scale": 0.01, "order_poll_page_size": 2,
                                  # OR11's read unless a test asks for the export (its tests are below)
                                  "order_feed_export_after_seconds": 0, **settings}
        self.store = FakeFeedStore()
        self.mirakl = FakeFeedMirakl()
        self.published: list[MarketplaceOrderChanged] = []
        bus = MessageBus()
        bus.register(MarketplaceOrderChanged, self.published.append)
        self.runtime = Runtime(
            settings=load_settings(**values), db=NoDatabase(), bus=bus, engine=NoDatabase(),
            webhook_handlers=WebhookHandlers(), flow_actions=FlowActions(), shipments_store=NoDatabase(),
            refunds_store=NoDatabase(), catalogue_store=NoDatabase(), audit_store=NoDatabase(),
            orders_store=NoDatabase(), people_store=NoDatabase(), alerts_store=NoDatabase(),
            console_store=NoDatabase(), order_feed_store=self.store)  # type: ignore[arg-type]
        self.runtime.mirakl = self.mirakl  # type: ignore[assignment]

    def read(self, **kw: Any) -> order_feed.ReadResult:
        return order_feed.read(self.runtime, force=kw.pop("force", True), **kw)

    def cursor(self) -> dt.datetime | None:
        return self.store.data.state["cursor"]


@pytest.fixture
def feed() -> Feed:
    return Feed()


def five_orders(feed: Feed) -> None:
    for i in range(5):
        feed.mirakl.put(raw_order(f"O-{i}-A", created=T0 + i * MINUTE))


def test_a_first_read_pages_through_every_order_and_records_each_once(feed: Feed) -> None:
    five_orders(feed)
    result = feed.read()
    assert (result.orders, result.pages, result.events, result.failed) == (5, 3, 5, [])
    assert [c["offset"] for c in feed.mirakl.calls] == [0, 2, 4]
    first = feed.mirakl.calls[0]
    assert first["sort"] == "dateCreated" and first["order"] == "asc" and first["max"] == 2
    lookback = dt.datetime.fromisoformat(first["start_update_date"].replace("Z", "+00:00"))
    assert dt.timedelta(days=7) - MINUTE < dt.datetime.now(dt.UTC) - lookback < dt.timedelta(days=7) + MINUTE
    assert feed.store.events() == [(f"O-{i}-A", "appeared") for i in range(5)]
    assert feed.cursor() == T0 + 4 * MINUTE  # the newest last_updated_date read (Mirakl's clock)
    with feed.store.mirror() as mirror:
        stored = mirror.get("O-3-A")
        status = mirror.status(dt.datetime.now(dt.UTC))
    assert stored is not None and stored.state == "WAITING_ACCEPTANCE" and stored.total_price == Decimal("24.99")
    assert stored.acceptance_deadline == stored.created_at + dt.timedelta(days=1)
    assert (status.last_read_orders, status.last_read_pages, status.last_read_events) == (5, 3, 5)
    assert status.reader is None and status.undispatched_events == 5 and status.mirrored_orders == 5


def test_the_next_read_asks_from_the_cursor_less_the_overlap_and_writes_nothing_for_unchanged_orders(feed: Feed) -> None:
    five_orders(feed)
    feed.read()
    feed.mirakl.calls.clear()
    again = feed.read()
    assert feed.mirakl.calls[0]["start_update_date"] == wire(T0 + 4 * MINUTE - dt.timedelta(seconds=120))
    assert again.orders == 3 and again.unchanged == 3 and again.events == 0  # the overlap re-read O-2..O-4
    assert len(feed.store.events()) == 5 and feed.cursor() == T0 + 4 * MINUTE


def test_an_order_that_skipped_states_between_reads_yields_accepted_paid_and_shipped(feed: Feed) -> None:
    five_orders(feed)
    feed.read()
    feed.mirakl.move("O-1-A", "SHIPPED", T0 + 30 * MINUTE, customer_debited_date=wire(T0 + 10 * MINUTE),
                     shipping_tracking="TRK1", shipping_carrier_code="DPD", shipping_company="DPD")
    result = feed.read()
    assert [(c.order_id, c.kind.value) for c in result.changes] == [("O-1-A", "accepted"), ("O-1-A", "paid"),
                                                                    ("O-1-A", "shipped")]
    assert feed.cursor() == T0 + 30 * MINUTE
    with feed.store.mirror() as mirror:
        shipped = mirror.get("O-1-A")
        assert [o.order_id for o in mirror.in_states(["SHIPPED"])] == ["O-1-A"]
    assert shipped is not None and shipped.tracking is not None and shipped.tracking.number == "TRK1"
    assert shipped.customer_debited_at == T0 + 10 * MINUTE


def test_the_mirror_keeps_no_customer_data(feed: Feed) -> None:
    feed.mirakl.put(raw_order("O-1-A", "SHIPPING"))
    feed.read()
    stored = repr(feed.store.data.mirror["O-1-A"])
    for personal in ("Ada", "Lovelace", "Analytical", "N1 1AA", "07700", "ada@example"):
        assert personal not in stored


def test_a_read_that_fails_after_its_first_page_keeps_its_cursor_and_the_next_loses_and_repeats_nothing(
        feed: Feed) -> None:
    five_orders(feed)
    feed.read()
    for i, state in enumerate(("WAITING_DEBIT", "SHIPPING", "SHIPPING", "CANCELED", "REFUSED")):
        feed.mirakl.move(f"O-{i}-A", state, T0 + (20 + i) * MINUTE)
    feed.mirakl.calls.clear()
    feed.mirakl.fail_after_pages = 1
    with pytest.raises(ServerError):
        feed.read()
    # the first page (O-0, O-1) was written with its events; the cursor did not move
    assert feed.cursor() == T0 + 4 * MINUTE
    assert feed.store.events()[5:] == [("O-0-A", "accepted"), ("O-1-A", "accepted"), ("O-1-A", "paid")]
    assert feed.store.data.state["lease_owner"] is None  # given back: the next read need not wait
    assert feed.store.data.state["figures"].error.startswith("ServerError")
    feed.mirakl.fail_after_pages = None
    feed.mirakl.calls.clear()
    second = feed.read()
    assert feed.mirakl.calls[0]["start_update_date"] == wire(T0 + 4 * MINUTE - dt.timedelta(seconds=120))
    assert second.unchanged == 2 and second.events == 4
    assert feed.store.events()[8:] == [("O-2-A", "accepted"), ("O-2-A", "paid"), ("O-3-A", "cancelled"),
                                       ("O-4-A", "cancelled")]
    kinds = feed.store.events()
    assert len(kinds) == len(set(kinds)) == 12  # nothing recorded twice
    assert feed.cursor() == T0 + 24 * MINUTE


def test_an_unreadable_order_holds_the_cursor_before_it_and_the_rest_are_stored(feed: Feed) -> None:
    five_orders(feed)
    broken = raw_order("O-9-A", created=T0 + 9 * MINUTE, updated=T0 + 2 * MINUTE)
    del broken["order_lines"]
    feed.mirakl.put(broken)
    result = feed.read()
    assert result.failed == ["O-9-A"] and result.orders == 5
    assert feed.cursor() == T0 + 2 * MINUTE  # read again next time, never skipped


def test_an_unreadable_orders_log_line_names_fields_never_their_values(feed: Feed, capsys: pytest.CaptureFixture[str]) -> None:
    broken = raw_order("O-9-A")
    broken["customer"]["shipping_address"] = "1 Analytical Row, London"  # not an object: refused, and quoted by pydantic
    feed.mirakl.put(broken)
    assert feed.read().failed == ["O-9-A"]
    logged = capsys.readouterr()
    line = next(text for text in (logged.out + logged.err).splitlines() if "order_feed.order_unreadable" in text)
    assert "customer.shipping_address" in line and "Analytical" not in line


def test_a_second_reader_returns_at_once_while_the_lease_is_held(feed: Feed) -> None:
    five_orders(feed)
    seen: list[order_feed.ReadResult] = []

    def meanwhile(offset: int) -> None:
        if offset == 0 and not seen:
            # a second worker's read starts while the first holds the lease
            seen.append(order_feed.read(feed.runtime, force=True))

    feed.mirakl.before_page = meanwhile
    first = feed.read()
    assert seen[0].skipped == "another worker reads" and seen[0].orders == 0
    assert first.orders == 5 and len(feed.mirakl.calls) == 3  # only the first reader called OR11


def test_a_lease_left_by_a_killed_reader_is_taken_over_once_it_expires(feed: Feed) -> None:
    five_orders(feed)
    with feed.store.unit_of_work() as repo:
        assert repo.take_lease("dead-worker", dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC) + MINUTE)
    assert feed.read().skipped == "another worker reads"
    feed.store.expire_lease()
    assert feed.read().orders == 5


def test_a_reader_whose_lease_was_taken_over_stops_without_writing_the_page(feed: Feed) -> None:
    five_orders(feed)

    def taken_over(offset: int) -> None:
        if offset == 2:  # the reader stalled; its lease expired and another worker took it
            feed.store.data.state["lease_owner"] = "other-worker"

    feed.mirakl.before_page = taken_over
    with pytest.raises(order_feed.LeaseLost):
        feed.read()
    assert [order_id for order_id, _ in feed.store.events()] == ["O-0-A", "O-1-A"]
    assert feed.cursor() is None and feed.store.data.state["lease_owner"] == "other-worker"


def test_a_tick_before_the_next_read_is_due_reads_nothing() -> None:
    feed = Feed(mirakl_rate_limit_scale=1.0)
    five_orders(feed)
    feed.read(force=False)
    calls = len(feed.mirakl.calls)
    assert feed.read(force=False).skipped == "not due"
    assert len(feed.mirakl.calls) == calls
    assert feed.read(force=True).skipped is None


def test_or11_not_due_is_not_an_error_and_moves_the_next_read(feed: Feed) -> None:
    five_orders(feed)
    feed.mirakl.not_due = 600.0
    result = feed.read()
    assert result.skipped == "OR11 not due" and result.not_due_seconds == 600.0 and feed.cursor() is None
    due = feed.store.data.state["next_read_due"]
    assert due > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=590)
    assert feed.store.data.state["lease_owner"] is None


def test_dispatch_publishes_oldest_first_once_and_marks_them(feed: Feed) -> None:
    five_orders(feed)
    feed.read()
    feed.mirakl.move("O-2-A", "SHIPPING", T0 + 20 * MINUTE)
    feed.read()
    sent = order_feed.dispatch(feed.runtime)
    assert sent.published == 7 and sent.by_kind == {"appeared": 5, "accepted": 1, "paid": 1}
    assert [m.event_id for m in feed.published] == list(range(1, 8))
    assert (feed.published[5].order_id, feed.published[5].kind, feed.published[5].detail) == (
        "O-2-A", "accepted", {"from": "WAITING_ACCEPTANCE", "to": "SHIPPING"})
    assert order_feed.dispatch(feed.runtime).published == 0
    assert feed.store.data.state["lease_owner"] is None


def test_dispatch_after_a_crash_before_marking_publishes_again(feed: Feed) -> None:
    """At least once: handlers must be idempotent (bus.MarketplaceOrderChanged says so)."""
    five_orders(feed)
    feed.read()
    original = feed.store.unit_of_work
    calls = {"n": 0}

    def crash_on_mark():  # the third unit of work is the one that marks the batch
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed before marking")
        return original()

    feed.store.unit_of_work = crash_on_mark  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        order_feed.dispatch(feed.runtime)
    feed.store.unit_of_work = original  # type: ignore[method-assign]
    feed.store.expire_lease()
    assert order_feed.dispatch(feed.runtime).published == 5
    assert [m.event_id for m in feed.published] == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]


def test_refresh_reads_one_order_by_id_and_records_its_changes(feed: Feed) -> None:
    five_orders(feed)
    feed.read()
    feed.mirakl.move("O-3-A", "SHIPPING", T0 + 40 * MINUTE)
    feed.mirakl.calls.clear()
    refreshed = order_feed.refresh_order(feed.runtime, "O-3-A")
    assert feed.mirakl.calls == [{"order_ids": "O-3-A"}]
    assert refreshed.order.state == "SHIPPING"
    assert [c.kind.value for c in refreshed.changes] == ["accepted", "paid"]
    # the next read sees the same version: nothing more
    assert feed.read().events == 0
    with pytest.raises(LookupError):
        order_feed.refresh_order(feed.runtime, "NOPE")


def test_an_older_version_than_the_mirror_holds_is_ignored(feed: Feed) -> None:
    feed.mirakl.put(raw_order("O-1-A", created=T0))
    feed.read()
    feed.mirakl.move("O-1-A", "SHIPPING", T0 + 5 * MINUTE)
    order_feed.refresh_order(feed.runtime, "O-1-A")
    feed.mirakl.move("O-1-A", "WAITING_DEBIT", T0 + 3 * MINUTE)  # a stale copy, as a slow page could bring
    result = feed.read()
    assert result.stale == 1 and result.events == 0
    with feed.store.mirror() as mirror:
        kept = mirror.get("O-1-A")
    assert kept is not None and kept.state == "SHIPPING"


@pytest.mark.parametrize(("settings", "interval", "cron"), [
    ({}, 60.0, "0 * * * * *"),
    ({"mirakl_external_partner": True}, 900.0, "0 */15 * * * *"),
    ({"mirakl_min_intervals": {"OR11": 300}}, 300.0, "0 */5 * * * *"),
    ({"order_feed_interval_seconds": 120}, 120.0, "0 */2 * * * *"),
])
def test_the_interval_is_or11s_pace_unless_set_slower(settings: dict[str, Any], interval: float, cron: str) -> None:
    values = load_settings(database_url="sqlite://", session_secret="x" * 48, **settings)
    assert values.order_feed_interval == interval
    assert pace.tick(pace.interval_seconds(values)).cron == cron
    assert pace.interval_seconds(load_settings(database_url="sqlite://", session_secret="x" * 48,
                                               mirakl_rate_limit_scale=0.01, **settings)) == pytest.approx(interval / 100)


def test_an_interval_faster_than_or11_allows_is_refused() -> None:
    from marketbridge.settings import SettingsError

    with pytest.raises(SettingsError, match="ORDER_FEED_INTERVAL_SECONDS"):
        load_settings(database_url="sqlite://", session_secret="x" * 48, order_feed_interval_seconds=30)
    with pytest.raises(SettingsError, match="900"):
        load_settings(database_url="sqlite://", session_secret="x" * 48, mirakl_external_partner=True,
                      order_feed_interval_seconds=60)


def test_the_schedule_exists_only_when_the_feed_is_enabled() -> None:
    from marketbridge.workflows import order_feed as feed_workflows

    off = load_settings(database_url="sqlite://", session_secret="x" * 48, order_feed_enabled=False)
    assert feed_workflows.schedules(off) == []
    on = load_settings(database_url="sqlite://", session_secret="x" * 48)  # on by default
    assert on.order_feed_enabled is True
    (entry,) = feed_workflows.schedules(on)
    assert entry["schedule_name"] == "orders.feed" and entry["schedule"] == "0 * * * * *"
    assert entry["workflow_fn"] is feed_workflows.feed_workflow


# ------------------------------------------------------------------ handing orders to the orders flow


class OrdersFlow:
    """The orders flow's side of ``StoreMarketplaceOrders``: keeps what it was handed, and fails the
    ids in ``refuse`` as ``store_read_orders`` reports an order it could not store."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.pages: list[tuple[dict[str, Any], ...]] = []
        self.refuse = set(refuse)

    def __call__(self, message: StoreMarketplaceOrders) -> StoredOrders:
        self.pages.append(message.orders)
        out = StoredOrders()
        for raw in message.orders:
            if raw["order_id"] in self.refuse:
                out.failed.append(raw["order_id"])
                moment = dt.datetime.fromisoformat(raw["last_updated_date"].replace("Z", "+00:00"))
                out.oldest_failed = moment if out.oldest_failed is None else min(out.oldest_failed, moment)
            else:
                out.new += 1
        return out


def test_every_order_read_is_handed_to_the_orders_flow_with_its_customer(feed: Feed) -> None:
    flow = OrdersFlow()
    feed.runtime.bus.register(StoreMarketplaceOrders, flow)
    five_orders(feed)
    result = feed.read()
    handed = [raw["order_id"] for page in flow.pages for raw in page]
    assert handed == [f"O-{i}-A" for i in range(5)] and len(flow.pages) == 3  # page by page
    assert flow.pages[0][0]["customer"]["shipping_address"]["city"] == "London"  # what creation needs
    assert (result.orders_new, result.orders_updated, result.failed) == (5, 0, [])
    assert result.as_dict()["orders_new"] == 5


def test_an_order_the_orders_flow_could_not_store_holds_the_cursor_and_is_handed_again(feed: Feed) -> None:
    flow = OrdersFlow(refuse={"O-2-A"})
    feed.runtime.bus.register(StoreMarketplaceOrders, flow)
    five_orders(feed)
    result = feed.read()
    assert result.failed == ["O-2-A"] and result.orders_new == 4 and result.orders == 5
    assert feed.cursor() == T0 + 2 * MINUTE  # not past the order the orders flow still lacks
    # its mirror row waits too: "in the mirror" always means "stored by the orders flow"
    assert feed.store.events() == [(f"O-{i}-A", "appeared") for i in (0, 1, 3, 4)]
    flow.refuse.clear()
    flow.pages.clear()
    again = feed.read()
    handed = [raw["order_id"] for page in flow.pages for raw in page]
    assert handed == ["O-2-A"]  # the others are in the mirror already: not handed twice
    assert again.failed == [] and again.events == 1 and feed.store.events()[-1] == ("O-2-A", "appeared")
    assert feed.cursor() == T0 + 4 * MINUTE


def test_an_order_the_mirror_already_holds_is_not_handed_again_until_it_changes(feed: Feed) -> None:
    flow = OrdersFlow()
    feed.runtime.bus.register(StoreMarketplaceOrders, flow)
    five_orders(feed)
    feed.read()
    flow.pages.clear()
    assert feed.read().orders_new == 0 and flow.pages == []  # the overlap re-read: nothing to hand
    feed.mirakl.put(raw_order("O-1-A", "SHIPPING", created=T0 + MINUTE, updated=T0 + 9 * MINUTE, debited=T0))
    feed.read()
    assert [raw["order_id"] for page in flow.pages for raw in page] == ["O-1-A"]


def test_a_failure_of_the_orders_flow_ends_the_read_without_moving_the_cursor(feed: Feed) -> None:
    def broken(_message: StoreMarketplaceOrders) -> StoredOrders:
        raise RuntimeError("orders table unavailable")

    feed.runtime.bus.register(StoreMarketplaceOrders, broken)
    five_orders(feed)
    with pytest.raises(RuntimeError):
        feed.read()
    assert feed.cursor() is None


def test_without_an_orders_flow_the_feed_keeps_the_mirror_alone(feed: Feed) -> None:
    five_orders(feed)
    result = feed.read()
    assert (result.orders, result.orders_new, result.failed) == (5, 0, [])


def test_a_lease_left_by_this_workers_killed_process_is_freed_at_start(feed: Feed) -> None:
    executor = feed.runtime.settings.executor_id
    feed.store.data.state["lease_owner"] = f"{executor}:1:dead0000"  # pid 1: never this test's process
    feed.store.data.state["lease_until"] = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)
    assert order_feed.release_stale_lease(feed.runtime) is True
    five_orders(feed)
    assert feed.read().orders == 5  # read at once, not after the lease's three minutes


def test_a_lease_of_another_worker_or_of_this_process_is_left_alone(feed: Feed) -> None:
    import os

    executor = feed.runtime.settings.executor_id
    for owner in ("other-worker:1:aaaa0000", f"{executor}:{os.getpid()}:bbbb0000"):
        feed.store.data.state["lease_owner"] = owner
        feed.store.data.state["lease_until"] = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)
        assert order_feed.release_stale_lease(feed.runtime) is False
        assert feed.store.data.state["lease_owner"] == owner


# ------------------------------------------------------------------ a long window through the order export


def export_feed(**settings: Any) -> Feed:
    return Feed(order_feed_export_after_seconds=6 * 3600, **settings)


def test_a_first_read_of_a_week_goes_through_the_export_not_or11() -> None:
    feed = export_feed()
    flow = OrdersFlow()
    feed.runtime.bus.register(StoreMarketplaceOrders, flow)
    five_orders(feed)
    leases: list[dt.datetime] = []
    feed.mirakl.on_export_complete = lambda: leases.append(feed.store.data.state["lease_until"])
    result = feed.read()
    assert feed.mirakl.calls == [] and len(feed.mirakl.export_calls) == 1  # no OR11 at all
    (asked,) = feed.mirakl.export_calls
    assert asked["end_update_date"] - asked["start_update_date"] == dt.timedelta(days=7)  # [since, started]
    assert asked["timeout"] == 1800.0 and asked["megabytes_per_chunk"] == 50
    assert result.source == "OR13 export" and result.as_dict()["source"] == "OR13 export"
    assert (result.orders, result.pages, result.events, result.failed) == (5, 3, 5, [])  # pages of 2 orders
    assert feed.store.events() == [(f"O-{i}-A", "appeared") for i in (4, 3, 2, 1, 0)]
    handed = [raw["order_id"] for page in flow.pages for raw in page]
    assert sorted(handed) == [f"O-{i}-A" for i in range(5)]
    assert flow.pages[0][0]["customer"]["shipping_address"]["city"] == "London"  # the raw order, as OR11's
    # the export covered every update up to the read's start: the cursor goes there, not back to the newest order
    assert feed.cursor() == asked["end_update_date"]
    # while Mirakl built the export the lease covered the export's time-out, not just the 180 s of a page
    assert leases[0] >= asked["end_update_date"] + dt.timedelta(seconds=1800)
    assert feed.store.data.state["lease_owner"] is None
    feed.mirakl.move("O-1-A", "SHIPPING", asked["end_update_date"] + MINUTE)  # after the export's range
    again = feed.read()
    assert again.source == "OR11" and len(feed.mirakl.export_calls) == 1
    assert feed.mirakl.calls[0]["start_update_date"] == wire(asked["end_update_date"] - dt.timedelta(seconds=120))
    assert [c.kind.value for c in again.changes] == ["accepted", "paid"]
    assert feed.cursor() == asked["end_update_date"] + MINUTE


def test_an_export_that_found_nothing_still_moves_the_cursor_so_the_next_read_is_or11s() -> None:
    feed = export_feed()
    finished = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)  # Mirakl's clock, behind ours
    feed.mirakl.export_completed_at = finished
    result = feed.read()
    assert result.source == "OR13 export" and (result.orders, result.pages) == (0, 0)
    assert feed.cursor() == finished  # the earlier of the range's end and Mirakl's "completed" time
    assert feed.read().source == "OR11"


def test_an_unreadable_exported_order_holds_the_cursor_at_its_date() -> None:
    feed = export_feed()
    five_orders(feed)
    broken = raw_order("O-9-A", created=T0 + 9 * MINUTE, updated=T0 + 2 * MINUTE)
    del broken["order_lines"]
    feed.mirakl.put(broken)
    result = feed.read()
    assert result.failed == ["O-9-A"] and result.orders == 5 and len(feed.store.events()) == 5
    assert feed.cursor() == T0 + 2 * MINUTE


def test_an_order_the_orders_flow_could_not_store_holds_the_export_reads_cursor() -> None:
    feed = export_feed()
    feed.runtime.bus.register(StoreMarketplaceOrders, OrdersFlow(refuse={"O-3-A"}))
    five_orders(feed)
    assert feed.read().failed == ["O-3-A"]
    assert feed.cursor() == T0 + 3 * MINUTE


def test_or13_refused_for_its_pace_reads_nothing_keeps_the_cursor_and_never_pages_the_week_through_or11() -> None:
    feed = export_feed()
    five_orders(feed)
    feed.mirakl.export_not_due = 240.0
    result = feed.read()
    assert result.skipped == "OR13 not due" and result.not_due_seconds == 240.0 and result.source == "OR13 export"
    assert feed.mirakl.calls == [] and feed.cursor() is None and feed.store.events() == []
    assert feed.store.data.state["next_read_due"] > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=230)
    assert feed.store.data.state["lease_owner"] is None and feed.store.data.state["figures"].error is None
    feed.mirakl.export_not_due = None
    assert feed.read().orders == 5 and feed.mirakl.calls == []


def test_an_export_that_breaks_part_way_keeps_its_pages_and_its_cursor() -> None:
    feed = export_feed()
    five_orders(feed)
    feed.mirakl.export_fail_after = 3
    with pytest.raises(ServerError):
        feed.read()
    assert [order_id for order_id, _ in feed.store.events()] == ["O-4-A", "O-3-A"]  # the first page only
    assert feed.cursor() is None and feed.store.data.state["figures"].error.startswith("ServerError")
    feed.mirakl.export_fail_after = None
    again = feed.read()
    assert again.source == "OR13 export" and again.unchanged == 2 and again.events == 3
    assert len(feed.store.events()) == 5


def test_a_refusal_after_or13_went_out_is_an_error_not_a_skip() -> None:
    feed = export_feed()
    five_orders(feed)
    feed.mirakl.export_fail_after = 0
    feed.mirakl.fail_with = RateLimited("OR15: this URL was downloaded already", api="OR15", status=429,
                                        retry_after=86400.0)
    with pytest.raises(RateLimited):
        feed.read()
    assert feed.store.data.state["figures"].error.startswith("OR13 export refused part-way")


@pytest.mark.parametrize(("after", "window_hours", "export"), [
    (6 * 3600, 7 * 24, True), (6 * 3600, 6, False), (6 * 3600, 6.01, True), (0, 7 * 24, False)])
def test_which_windows_go_through_the_export(after: float, window_hours: float, export: bool) -> None:
    from marketbridge.services.order_feed import exporting

    settings = load_settings(database_url="sqlite://", session_secret="x" * 48, order_feed_export_after_seconds=after)
    now = dt.datetime.now(dt.UTC)
    assert exporting.uses_export(settings, now - dt.timedelta(hours=window_hours), now) is export
    assert load_settings(database_url="sqlite://", session_secret="x" * 48).order_feed_export_after_seconds == 21600
