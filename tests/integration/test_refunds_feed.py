"""The refunds follow with ``order_feed_enabled`` (issue 20) over real HTTP (both simulators) and a
real database: it reads the order feed's mirror and makes **no OR11 call** (counted in the Mirakl
simulator's call log, ``/_sandbox/calls``); our refund is confirmed by the feed's next read and a
refund started on the marketplace is recorded with its reason, quantity and date. The same
decisions on fakes: tests/unit/test_refunds_follow_mirror.py."""

from __future__ import annotations

import datetime as dt
import sys
import time

import httpx2
import pytest
from sqlalchemy import select

from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut
from marketbridge.bootstrap import build_runtime
from marketbridge.services import order_feed
from marketbridge.services import refunds as refund_service
from marketbridge.services.refunds.orders import MirrorOrders
from tests.conftest import make_settings
from tests.integration import refunds_helpers as fixtures
from tests.integration.refunds_helpers import credit_memo, shipped_order
from tests.waiting import wait_until

refunds_template_db = fixtures.refunds_template_db  # a migrated SQLite file copied per test
refunds_db_url = fixtures.refunds_db_url


@pytest.fixture
def rt(refunds_db_url, fresh_sandboxes):
    # every read is OR11's (these count its calls): the export's reads are test_order_feed_export.py
    runtime = build_runtime(make_settings(refunds_db_url, fresh_sandboxes, order_feed_enabled=True,
                                          order_feed_export_after_seconds=0))
    yield runtime
    runtime.close()


def or11_calls(boxes) -> int:
    return sum(1 for c in httpx2.get(f"{boxes.mirakl_url}/_sandbox/calls").json() if c["api"] == "OR11")


def forget_calls(boxes) -> None:
    httpx2.delete(f"{boxes.mirakl_url}/_sandbox/calls").raise_for_status()


def test_follow_on_the_feed_confirms_our_refund_and_records_a_marketplace_one_without_or11(rt, fresh_sandboxes):
    assert isinstance(rt.refund_orders, MirrorOrders)
    url = fresh_sandboxes.mirakl_url
    ours = shipped_order(rt.mirakl, rt.magento, url, [("MB-000001", 2)], shipping=4.5)
    memo_id = credit_memo(rt.magento, ours, {"MB-000001": 2}, shipping=4.5)
    # OR28; prepare reads OR11 by id here: the orders flow does not hold this order (no feed read yet)
    assert refund_service.process(rt, memo_id).status == "sent"
    theirs = shipped_order(rt.mirakl, rt.magento, url, [("MB-000006", 2)], shipping=0)
    answer = httpx2.post(f"{url}/_sandbox/orders/{theirs.order_id}/operator-refund",
                         json={"amount": 82.32, "shipping_amount": 0})
    answer.raise_for_status()
    [their_refund] = answer.json()["refund_ids"]
    time.sleep(0.1)  # the simulator pays refunds out after 0.02 s
    forget_calls(fresh_sandboxes)

    before_the_feed = refund_service.follow(rt)  # the mirror is empty: nothing to confirm yet
    assert before_the_feed.completed == 0 and before_the_feed.foreign == 0
    assert order_feed.read(rt, force=True).failed == []  # the feed's one OR11 read
    feed_calls = or11_calls(fresh_sandboxes)
    assert feed_calls >= 1
    counts = refund_service.follow(rt)

    assert or11_calls(fresh_sandboxes) == feed_calls  # the follow itself made none
    assert counts.completed == 1 and counts.foreign >= 1
    with rt.db.session() as s:
        assert s.scalar(select(RefundOut.status).where(RefundOut.creditmemo_id == memo_id)) == "refunded"
        record = s.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == their_refund))
        assert record is not None and record.origin == "marketplace"
        assert (record.reason_code, record.quantity, float(record.amount)) == ("19", 2, 82.32)  # the simulator's reason
        assert record.marketplace_created_at is not None


def test_a_memo_waits_for_the_feeds_next_read_and_is_planned_on_it_without_its_own_or11(rt, fresh_sandboxes,
                                                                                         monkeypatch):
    """Found by the real-limit burst: planning read OR11 by id for each credit memo (7 of 12 reads
    in 11.6 minutes) and the feed waited behind them. Now the memo waits for the feed's next read
    and is planned on the payload the orders flow stored from it."""
    monkeypatch.setattr(sys.modules["marketbridge.services.refunds.prepare"], "FEED_CLOCK_MARGIN",
                        dt.timedelta(seconds=1))  # one clock here; Adobe Commerce's times are whole seconds
    url = fresh_sandboxes.mirakl_url
    order = shipped_order(rt.mirakl, rt.magento, url, [("MB-000001", 2)], shipping=4.5)
    assert order_feed.read(rt, force=True).orders_new >= 1  # the feed hands it to the orders flow
    memo_id = credit_memo(rt.magento, order, {"MB-000001": 1})
    forget_calls(fresh_sandboxes)
    waiting = refund_service.prepare(rt, memo_id)
    assert waiting.status == refund_service.WAIT and waiting.retry_after is not None and waiting.retry_after > 0
    assert or11_calls(fresh_sandboxes) == 0  # the feed's read is older than the memo: no copy is used yet
    time.sleep(1.05)  # past the margin
    order_feed.read(rt, force=True)
    assert or11_calls(fresh_sandboxes) == 1  # the feed's
    assert refund_service.prepare(rt, memo_id).status == "planned"
    assert or11_calls(fresh_sandboxes) == 1  # planned on the payload the orders flow stored


def test_the_feed_read_again_stores_the_refund_details_once_and_records_no_change(rt, fresh_sandboxes):
    """The mirror's new refund facts go through its JSON column and back equal: a second read of
    the same orders changes nothing and records no event (the feed's overlap depends on it)."""
    url = fresh_sandboxes.mirakl_url
    order = shipped_order(rt.mirakl, rt.magento, url, [("MB-000006", 2)], shipping=0)
    httpx2.post(f"{url}/_sandbox/orders/{order.order_id}/operator-refund",
                json={"amount": 82.32, "shipping_amount": 0}).raise_for_status()
    time.sleep(0.1)
    first = order_feed.read(rt, force=True)
    assert first.failed == [] and first.events >= 1
    with rt.order_feed_store.mirror() as mirror:
        stored = mirror.get(order.order_id)
    assert stored is not None
    [refund] = stored.lines[0].refunds
    assert (refund.reason_code, refund.quantity, refund.state) == ("19", 2, "REFUNDED")
    assert refund.created_at is not None and refund.created_at.tzinfo is not None
    assert stored.fully_refunded is False  # one of two units refunded
    again = order_feed.read(rt, force=True)
    assert again.failed == [] and again.events == 0 and again.unchanged >= 1


def test_a_refund_the_feed_publishes_starts_the_follow_at_once(rt, fresh_sandboxes):
    """The follow reacts to the feed's ``refunded`` change instead of waiting for its schedule
    (every 5 minutes by default; not scheduled at all here): one follow per 10-second window."""
    from dbos import DBOS

    from marketbridge.workflows import engine

    url = fresh_sandboxes.mirakl_url
    engine.launch(rt, schedules=False)
    try:
        theirs = shipped_order(rt.mirakl, rt.magento, url, [("MB-000006", 2)], shipping=0)
        assert order_feed.read(rt, force=True).failed == []  # the mirror holds the order
        order_feed.dispatch(rt)
        assert not DBOS.list_workflows(name="refunds.follow")  # nothing refunded yet
        answer = httpx2.post(f"{url}/_sandbox/orders/{theirs.order_id}/operator-refund",
                             json={"amount": 82.32, "shipping_amount": 0})
        answer.raise_for_status()
        [their_refund] = answer.json()["refund_ids"]
        time.sleep(0.7)  # OR11's scaled pace
        assert order_feed.read(rt, force=True).by_kind.get("refunded") == 1
        assert order_feed.dispatch(rt).by_kind.get("refunded") == 1  # the bus handler enqueues the follow

        def recorded() -> bool:
            with rt.db.session() as s:
                return s.scalar(select(MarketplaceRefund).where(MarketplaceRefund.refund_id == their_refund)) is not None

        wait_until(recorded, timeout=30)
        follows = DBOS.list_workflows(name="refunds.follow")
        assert len(follows) == 1 and follows[0].workflow_id.startswith("refunds.follow:feed:")
    finally:
        engine.shutdown()
