"""The shipments flow with the order feed on (issue 20), on fakes: the marketplace order comes from
the feed's mirror (``services.shipments.mirrored.MirrorOrders``, picked by bootstrap), so a send and
the deadline watch make no OR11 call, and what a send wrote (OR23/OR24) is confirmed by the feed's
next read (``confirm_from_feed``, on the feed's message and on every poll), not by OR24's answer.
The feed-off path (OR11) is tests/unit/test_shipments_flow.py, unchanged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest

from marketbridge import bootstrap
from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import Rejected
from marketbridge.bus import MarketplaceOrderChanged, ShipmentsDue
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.order_feed import MirrorLine, MirrorOrder, MirrorTracking
from marketbridge.ports.order_feed import ReadFigures
from marketbridge.runtime import Runtime
from marketbridge.services import shipments
from marketbridge.services.shipments.mirrored import MirrorOrders
from marketbridge.services.shipments.snapshots import Or11Orders
from marketbridge.settings import load_settings
from tests.fakes_order_feed import FakeFeedStore
from tests.unit.test_shipments_flow import ORDER, Flow, track

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


class FeedFlow(Flow):
    """A shipments flow whose runtime reads the order feed's mirror (a fake store), as bootstrap
    picks it with ``order_feed_enabled``; every OR11 on the fake Mirakl fails the test."""

    def __init__(self, **settings: object) -> None:
        super().__init__(order_feed_enabled=True, **settings)
        self.feed = FakeFeedStore()
        self.runtime.order_feed_store = self.feed
        self.runtime.shipment_orders = bootstrap.shipment_orders(self.runtime)
        self.mirakl.get_order = self._no_or11  # type: ignore[method-assign]
        self.mirakl.list_orders = self._no_or11  # type: ignore[method-assign]
        self.clock = utcnow() - dt.timedelta(minutes=10)

    @staticmethod
    def _no_or11(*args: object, **kwargs: object) -> Iterator[object]:
        raise AssertionError("the shipments flow called OR11 with the order feed on")

    def mirror(self, order_id: str = ORDER, state: str = "SHIPPING", *, lines: int = 1, tracking: str | None = None,
               deadline: dt.datetime | None = None) -> None:
        """The feed's read stores this version of the order (and its figures, as a read would)."""
        self.clock += dt.timedelta(seconds=1)
        if order_id not in self.mirakl.orders:  # the marketplace's own copy, which OR23/OR24 act on
            self.mirakl.add_order(order_id, state, lines=[(f"{order_id}-{n}", "LAMP-1", 1) for n in range(1, lines + 1)])
        order = MirrorOrder(
            order_id=order_id, state=state, created_at=NOW, updated_at=self.clock, currency="GBP",
            lines=tuple(MirrorLine(line_id=f"{order_id}-{n}", offer_sku="LAMP-1" if n == 1 else f"SHADE-{n}",
                                   quantity=1, state=state, price=Decimal("10.00"), shipping_price=Decimal("0"))
                        for n in range(1, lines + 1)),
            shipping_total=Decimal("0"), total_price=Decimal("10.00"), shipping_deadline=deadline,
            tracking=MirrorTracking(carrier_code="DPD", number=tracking) if tracking else None)
        self.read_feed(order)

    def read_feed(self, *orders: MirrorOrder) -> None:
        """One complete feed read, started now: the orders saved, the read's figures recorded."""
        started = utcnow()
        with self.feed.unit_of_work() as feed:
            assert feed.take_lease("test", started, started + dt.timedelta(minutes=1))
            for order in orders:
                feed.save(order, at=started)
            feed.end_read("test", cursor=self.clock, figures=ReadFigures(
                started_at=started, finished_at=utcnow(), orders=len(orders), pages=1, events=0,
                next_read_due=started + dt.timedelta(minutes=1)))

    def ready(self, shipment_id: int, *, order: str = ORDER, number: str | None = None) -> None:
        self.store.orders.known.add(order)
        self.shipment(shipment_id, tracks=[track(number or f"TRK-{shipment_id}")], order=order)
        assert self.prepare(shipment_id).action == "send"

    def changed(self, kind: str, order_id: str = ORDER) -> list[int]:
        return shipments.on_order_changed(self.runtime, MarketplaceOrderChanged(
            event_id=1, order_id=order_id, kind=kind, detail={}, recorded_at=utcnow()))


def test_bootstrap_picks_the_mirror_with_the_feed_on_and_or11_without() -> None:
    for enabled, kind in ((True, MirrorOrders), (False, Or11Orders)):
        runtime = bootstrap.build_runtime(load_settings(database_url="sqlite://", session_secret="x" * 48,
                                                        order_feed_enabled=enabled))
        try:
            assert isinstance(runtime.shipment_orders, kind)
        finally:
            runtime.close()


def test_a_send_reads_the_mirror_and_waits_for_the_feed_to_confirm() -> None:
    flow = FeedFlow()
    flow.mirror()
    flow.ready(1)
    result = shipments.send(flow.runtime, 1)
    assert result.state == "sent" and result.how is not None and "order feed's next read" in result.how
    assert flow.mirakl.api_calls("OR11") == []
    assert flow.mirakl.api_calls("OR23", "OR24") == [("OR23", (ORDER, "DPD", "TRK-1")), ("OR24", (ORDER,))]
    row = flow.store.rows[1]
    assert (row.state, row.confirmed_at, row.lines) == ("sent", None, {f"{ORDER}-1": 1})
    assert flow.store.orders.shipped == {}  # the order record waits for the confirmation too

    assert flow.changed("shipped") == []  # the mirror still says SHIPPING: nothing to confirm yet
    flow.mirror(state="SHIPPED", tracking="TRK-1")  # the feed's next read
    assert flow.changed("shipped") == [1]
    row = flow.store.rows[1]
    assert row.state == "confirmed" and row.confirmed_at is not None
    assert row.results["confirm"]["detail"] == "the order feed read the order SHIPPED"
    assert flow.store.orders.shipped[ORDER]["tracking_numbers"] == ["TRK-1"]
    assert flow.changed("shipped") == []  # the message again (at least once): nothing left to do


def test_the_poll_backstop_confirms_what_a_lost_message_did_not() -> None:
    flow = FeedFlow()
    flow.mirror(lines=2)
    flow.ready(1)
    assert shipments.send(flow.runtime, 1).state == "partial"
    flow.magento.add_order(20, ORDER, items=[{"item_id": 2, "sku": "SHADE-2", "ext_order_item_id": f"{ORDER}-2"}])
    flow.magento.add_shipment(2, 20, tracks=[track("TRK-2")], items=[{"order_item_id": 2, "sku": "SHADE-2", "qty": 1}])
    flow.store.add_row(2, ORDER)
    assert flow.prepare(2).action == "send"
    assert shipments.send(flow.runtime, 2).state == "sent"
    flow.mirror(state="SHIPPED", lines=2, tracking="TRK-2")
    assert sorted(shipments.confirm_from_feed(flow.runtime)) == [1, 2]
    assert [r.state for r in flow.store.rows.values()] == ["confirmed", "confirmed"]
    assert flow.mirakl.api_calls("OR11") == []


def test_an_order_the_feed_has_not_read_is_tried_again_not_rejected() -> None:
    flow = FeedFlow()
    flow.ready(1)
    result = shipments.send(flow.runtime, 1)
    assert result == shipments.SendResult("ready", retry=True)
    row = flow.store.rows[1]
    assert (row.state, row.generation, row.last_error) == ("ready", 2, "not in the order feed's mirror yet; will retry")
    assert flow.store.issues.active_ids(shipments_domain.SHIPMENT_REJECTED) == []
    assert flow.mirakl.api_calls("OR11", "OR23", "OR24") == []


def test_an_order_the_mirror_shows_shipped_or_cancelled_is_decided_without_a_call() -> None:
    flow = FeedFlow()
    flow.mirror(state="SHIPPED")
    flow.ready(1)
    assert shipments.send(flow.runtime, 1) == shipments.SendResult("confirmed", how="marketplace order already SHIPPED")
    flow.mirror("JL-2002-B", state="CANCELED")
    flow.ready(2, order="JL-2002-B")
    result = shipments.send(flow.runtime, 2)
    assert (result.state, result.error) == ("error", "the marketplace order is CANCELED")
    assert flow.mirakl.api_calls("OR11", "OR23", "OR24") == []


def test_an_order_cancelled_after_our_send_stops_the_shipment_at_the_feeds_read() -> None:
    flow = FeedFlow()
    flow.mirror()
    flow.ready(1)
    assert shipments.send(flow.runtime, 1).state == "sent"
    flow.mirror(state="CANCELED")
    assert flow.changed("cancelled") == []
    assert flow.store.rows[1].state == "error"
    assert flow.store.issues.active(shipments_domain.SHIPMENT_REJECTED, "1") is not None


def test_a_refused_ship_call_waits_for_a_read_after_the_refusal() -> None:
    """Our own earlier OR24 may have gone through with its answer lost: the mirror cannot tell yet
    (it was read before), so the shipment waits; a read after the refusal decides."""
    flow = FeedFlow()
    flow.mirror()
    flow.ready(1)
    flow.ready(2, order="JL-2002-B")
    flow.mirror("JL-2002-B")
    flow.mirakl.refuse["OR24"] = Rejected(f"Order '{ORDER}' is in state SHIPPED, not SHIPPING", api="OR24", status=400)
    assert shipments.send(flow.runtime, 1).state == "sent"
    assert shipments.send(flow.runtime, 2).state == "sent"
    assert flow.store.issues.active_ids(shipments_domain.SHIPMENT_REJECTED) == []
    assert shipments.confirm_from_feed(flow.runtime) == []  # no read since the refusals: undecided
    assert [r.state for r in flow.store.rows.values()] == ["sent", "sent"]

    # the next read: the first order had shipped (our lost OR24), the second is still SHIPPING
    flow.clock += dt.timedelta(seconds=1)
    shipped = MirrorOrder(order_id=ORDER, state="SHIPPED", created_at=NOW, updated_at=flow.clock, currency="GBP",
                          lines=(MirrorLine(f"{ORDER}-1", "LAMP-1", 1, "SHIPPED", Decimal("10.00"), Decimal("0")),),
                          shipping_total=Decimal("0"), total_price=Decimal("10.00"))
    flow.read_feed(shipped)
    assert shipments.confirm_from_feed(flow.runtime) == [1]
    assert flow.store.rows[1].state == "confirmed"
    assert flow.store.rows[2].state == "error"
    assert flow.store.rows[2].last_error.startswith("OR24: Order")
    assert flow.store.issues.active(shipments_domain.SHIPMENT_REJECTED, "2") is not None
    assert flow.mirakl.api_calls("OR11") == []


def test_a_tracking_correction_is_confirmed_when_the_mirror_shows_the_new_number() -> None:
    flow = FeedFlow()
    flow.mirror()
    flow.ready(1)
    shipments.send(flow.runtime, 1)
    flow.mirror(state="SHIPPED", tracking="TRK-1")
    assert shipments.confirm_from_feed(flow.runtime) == [1]
    flow.magento.add_shipment(1, 10, tracks=[track("TRK-1"), track("TRK-1B")],
                              items=[{"order_item_id": 1, "sku": "LAMP-1", "qty": 1}])
    assert shipments.detect_shipment(flow.runtime, 1) == 1
    assert flow.prepare(1).action == "send"
    result = shipments.send(flow.runtime, 1)
    assert (result.state, result.corrected) == ("sent", True)
    assert flow.mirakl.api_calls("OR23")[-1] == ("OR23", (ORDER, "DPD", "TRK-1B"))
    assert shipments.confirm_from_feed(flow.runtime) == []  # the mirror still shows TRK-1
    flow.mirror(state="SHIPPED", tracking="TRK-1B")
    assert shipments.confirm_from_feed(flow.runtime) == [1]
    assert flow.store.rows[1].state == "confirmed"
    assert len(flow.mirakl.api_calls("OR24")) == 1 and flow.mirakl.api_calls("OR11") == []


def test_a_paid_order_starts_its_due_sends_at_once() -> None:
    flow = FeedFlow()
    started: list[tuple[tuple[int, int], ...]] = []
    flow.runtime.bus.register(ShipmentsDue, lambda message: started.append(message.due))
    flow.mirror(state="WAITING_DEBIT_PAYMENT")
    flow.ready(1)
    assert shipments.send(flow.runtime, 1).retry is True  # not paid yet: ready again, generation 2
    flow.mirror()
    assert flow.changed("paid") == []
    assert started == [((1, 2),)]
    assert flow.changed("appeared") == [] and started == [((1, 2),)]  # other kinds start nothing


def test_the_watch_reads_every_shipping_order_from_the_mirror() -> None:
    flow = FeedFlow(shipping_deadline_lead_hours=12)
    flow.runtime.shipment_orders = MirrorOrders(flow.feed, page=2)  # pages of two: five orders need three
    for n in range(5):
        flow.mirror(f"JL-NEAR-{n}", deadline=NOW + dt.timedelta(hours=3))
    flow.mirror("JL-FAR", deadline=NOW + dt.timedelta(days=3))
    flow.mirror("JL-DONE", state="SHIPPED", deadline=NOW - dt.timedelta(hours=3))
    counts = shipments.watch(flow.runtime, now=NOW)
    assert counts == shipments.WatchCounts(deadline_near=5, unconfirmed=0)
    assert sorted(flow.store.issues.active_ids(shipments_domain.SHIPPING_DEADLINE_NEAR)) == [
        f"JL-NEAR-{n}" for n in range(5)]


def test_with_the_feed_off_nothing_is_confirmed_from_it() -> None:
    flow = Flow()
    flow.store.add_row(1, ORDER, state="sent")
    assert shipments.confirm_from_feed(flow.runtime) == []
    assert flow.mirakl.api_calls("OR11") == [] and flow.store.rows[1].state == "sent"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_feeds_messages_reach_the_shipments_flow_only_with_the_feed_on(enabled: bool,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Runtime, str]] = []
    monkeypatch.setattr(shipments, "on_order_changed", lambda rt, message: seen.append((rt, message.kind)) or [])
    runtime = bootstrap.build_runtime(load_settings(database_url="sqlite://", session_secret="x" * 48,
                                                    order_feed_enabled=enabled))
    try:
        runtime.bus.handle(MarketplaceOrderChanged(event_id=1, order_id=ORDER, kind="shipped", detail={},
                                                   recorded_at=utcnow()))
        assert seen == ([(runtime, "shipped")] if enabled else [])
    finally:
        runtime.close()
