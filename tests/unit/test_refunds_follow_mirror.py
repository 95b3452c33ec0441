"""The refunds follow on the order feed's mirror (issue 20), on fakes: with ``order_feed_enabled``
``bootstrap`` hands the follow :class:`~marketbridge.services.refunds.orders.MirrorOrders`, and
the follow then reads the mirror (pending orders by id, the rest by when their row changed) and
never calls OR11. The same over SQLite and the simulators is in
tests/integration/test_refunds_feed.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from marketbridge.adapters.db.base import utcnow
from marketbridge.bootstrap import refund_orders
from marketbridge.services import refunds
from marketbridge.services.order_feed.wire import mirror_of
from marketbridge.services.refunds.orders import MirrorOrders
from marketbridge.services.refunds.states import CURSOR_MARKETPLACE_REFUNDS
from marketbridge.settings import load_settings
from tests.fakes_order_feed import FakeFeedStore
from tests.unit.test_refunds_flow import ORDER, Flow


def no_or11(*_: Any, **__: Any) -> Any:
    raise AssertionError("OR11 was called although the order feed is on")


def on_the_feed(flow: Flow) -> FakeFeedStore:
    """The flow's runtime as bootstrap wires it with the feed on; OR11 fails the test from here."""
    feed = FakeFeedStore()
    flow.runtime.order_feed_store = feed
    flow.runtime.refund_orders = MirrorOrders(feed)
    flow.mirakl.list_orders = no_or11  # type: ignore[method-assign]
    flow.mirakl.get_order = no_or11  # type: ignore[method-assign]
    return feed


def feed_reads(flow: Flow, feed: FakeFeedStore, order_id: str, *, at: dt.datetime) -> None:
    """The feed read this order (as the marketplace has it now) and stored it at ``at``."""
    with feed.unit_of_work() as repo:
        repo.save(mirror_of(flow.mirakl.orders[order_id], 3600.0), at=at)


def test_bootstrap_picks_the_mirror_only_when_the_feed_is_on() -> None:
    off = load_settings(database_url="sqlite://", session_secret="x" * 48, order_feed_enabled=False)
    on = load_settings(database_url="sqlite://", session_secret="x" * 48)  # on by default
    store = FakeFeedStore()
    assert refund_orders(off, store) is None  # type: ignore[arg-type]
    assert isinstance(refund_orders(on, store), MirrorOrders)  # type: ignore[arg-type]


def test_follow_on_the_mirror_completes_our_memo_and_records_a_foreign_refund_without_or11() -> None:
    flow = Flow()
    flow.planned(5)
    refunds.send(flow.runtime, 5)  # OR28: our refund R1-1
    flow.store.orders.known.add(ORDER)
    created = dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC)
    flow.mirakl.add_order(ORDER, fully_refunded=True, refunds=[
        {"id": "R1-1", "amount": 12, "state": "REFUNDED"},
        {"id": "OP-9", "amount": 3, "quantity": 1, "reason_code": "34", "state": "REFUNDED",
         "created_date": created.isoformat()}])
    feed = on_the_feed(flow)
    feed_reads(flow, feed, ORDER, at=utcnow())
    before = utcnow()

    counts = refunds.follow(flow.runtime)

    assert (counts.updated, counts.foreign, counts.completed) == (1, 1, 1)
    assert flow.store.memos[5].status == refunds.REFUNDED
    foreign = flow.store.ledger["OP-9"]
    assert (foreign.origin, foreign.quantity, foreign.reason_code) == ("marketplace", 1, "34")
    assert foreign.marketplace_created_at == created
    assert flow.store.orders.refunded[ORDER]["source"] == "marketplace fully_refunded"
    # the cursor is our clock (when the pass began), not Mirakl's last_updated_date
    moved = dt.datetime.fromisoformat(flow.store.cursors[CURSOR_MARKETPLACE_REFUNDS])
    assert before <= moved <= utcnow()


def test_follow_on_the_mirror_reads_rows_changed_since_the_cursor_less_the_overlap() -> None:
    flow = Flow(order_poll_overlap_seconds=60)
    feed = on_the_feed(flow)
    now = utcnow()
    flow.store.cursors[CURSOR_MARKETPLACE_REFUNDS] = now.isoformat()
    flow.mirakl.add_order("JL-OLD-A", refunds=[{"id": "OLD-1", "amount": 5, "state": "REFUNDED"}])
    flow.mirakl.add_order("JL-NEW-A", refunds=[{"id": "NEW-1", "amount": 5, "state": "REFUNDED"}])
    feed_reads(flow, feed, "JL-OLD-A", at=now - dt.timedelta(seconds=61))  # before cursor - overlap
    feed_reads(flow, feed, "JL-NEW-A", at=now - dt.timedelta(seconds=59))  # inside the overlap

    counts = refunds.follow(flow.runtime)

    assert counts.foreign == 1 and "NEW-1" in flow.store.ledger and "OLD-1" not in flow.store.ledger


def test_a_sent_refund_on_an_order_the_mirror_lacks_waits_for_the_feed() -> None:
    flow = Flow()
    flow.planned(5)
    refunds.send(flow.runtime, 5)
    flow.mirakl.add_order(ORDER, refunds=[{"id": "R1-1", "amount": 12, "state": "REFUNDED"}])
    feed = on_the_feed(flow)

    assert refunds.follow(flow.runtime).orders == 0  # the feed has not read the order yet
    assert flow.store.memos[5].status == refunds.SENT

    feed_reads(flow, feed, ORDER, at=utcnow())  # its next read brings the confirmation
    assert refunds.follow(flow.runtime).completed == 1
    assert flow.store.memos[5].status == refunds.REFUNDED


@pytest.mark.parametrize("rows", [3, 501])
def test_the_mirror_source_returns_every_changed_row_past_its_first_page(rows: int) -> None:
    feed = FakeFeedStore()
    flow = Flow()
    start = utcnow()
    for n in range(rows):
        flow.mirakl.add_order(f"JL-{n}-A")
        feed_reads(flow, feed, f"JL-{n}-A", at=start)
    orders, cursor = MirrorOrders(feed).updated_since(start - dt.timedelta(seconds=1), start)
    assert len(orders) == rows and cursor == start


def test_the_mirror_says_how_long_until_the_feeds_next_read_or_that_none_is_coming() -> None:
    """A credit memo waits for the feed's next read (``services.refunds.prepare``) only when one is
    coming: never read, or overdue by more than ``FEED_STALLED_AFTER`` with nobody reading, says
    None (plan on a live read)."""
    from marketbridge.services.refunds.orders import FEED_READ_SLACK, FEED_STALLED_AFTER

    store = FakeFeedStore()
    source = MirrorOrders(store)
    now = utcnow()
    assert source.next_read_in(now) is None  # the feed never read
    store.data.state["next_read_due"] = now + dt.timedelta(seconds=40)
    assert source.next_read_in(now) == pytest.approx(40 + FEED_READ_SLACK)
    store.data.state["next_read_due"] = now - dt.timedelta(seconds=FEED_STALLED_AFTER - 1)
    assert source.next_read_in(now) == FEED_READ_SLACK  # a little late: the tick is about to read
    store.data.state["next_read_due"] = now - dt.timedelta(seconds=FEED_STALLED_AFTER + 1)
    assert source.next_read_in(now) is None  # long overdue, nobody reading: stopped or stuck
    with store.unit_of_work() as feed:  # a read waiting for OR11's slot holds the lease
        assert feed.take_lease("worker-1", now, now + dt.timedelta(seconds=180))
    assert source.next_read_in(now) == FEED_READ_SLACK
