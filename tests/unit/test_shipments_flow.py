"""The shipments flow's decisions on in-memory fakes of its ports (issue 18 item 2): storage
(``ShipmentsStore``), Adobe Commerce (``MagentoPort``) and Mirakl (``MiraklPort``). No database
(``runtime.db`` fails the test if touched), no HTTP, no sandbox: what ``detect`` records and
reopens, what ``prepare`` decides for a shipment, how ``send`` answers each marketplace order
state (OR23/OR24, partial, ST01), which issues the flow raises and clears (``watch`` too), how the
SH21 list is loaded, and how a person's mapping or retry releases shipments. The same paths against
SQLite/PostgreSQL and the sandboxes stay in tests/integration/test_shipments_*.py and
tests/e2e/test_shipments_e2e.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from marketbridge import ports
from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import NetworkError, RateLimited, Rejected
from marketbridge.bus import MessageBus, ShipmentsDue
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.shipments import Carrier, ShipmentState
from marketbridge.runtime import Runtime
from marketbridge.services import shipments
from marketbridge.services.console.actions import FlowActions
from marketbridge.services.shipments import console as shipment_console
from marketbridge.services.webhooks import WebhookHandlers
from marketbridge.settings import load_settings
from tests.fakes import (
    FakeIssueLog,
    FakeMagento,
    FakeMirakl,
    FakeOrderRecords,
    FakeShipmentsRepository,
    FakeShipmentsStore,
    NoDatabase,
)

SH21 = [Carrier("DPD", "DPD UK", "DPD", "https://dpd/{trackingId}"),
        Carrier("ROYAL_MAIL", "Royal Mail", "ROYAL_MAIL", "https://rm/{trackingId}")]
ORDER = "JL-1001-A"


class Flow:
    """One runtime whose ports are fakes; ``magento`` and ``mirakl`` replace the clients."""

    def __init__(self, *, carriers_cached: bool = True, **settings: object) -> None:
        self.store = FakeShipmentsStore()
        if carriers_cached:
            self.store.carriers, self.store.refreshed_at = list(SH21), utcnow()
        self.magento = FakeMagento()
        self.mirakl = FakeMirakl(SH21)
        self.runtime = Runtime(
            settings=load_settings(database_url="sqlite://", session_secret="x" * 48, **settings),
            db=NoDatabase(), bus=MessageBus(), engine=NoDatabase(), webhook_handlers=WebhookHandlers(),
            flow_actions=FlowActions(), shipments_store=self.store, refunds_store=NoDatabase(),
            catalogue_store=NoDatabase(), audit_store=NoDatabase(), orders_store=NoDatabase(),
            people_store=NoDatabase(), alerts_store=NoDatabase(),
            console_store=NoDatabase(), order_feed_store=NoDatabase())
        self.runtime.magento = self.magento
        self.runtime.mirakl = self.mirakl

    def shipment(self, shipment_id: int, *, tracks: list[dict[str, str]], order: str = ORDER,
                 **row: object) -> None:
        """A Magento shipment of a marketplace order, already detected (its record exists)."""
        magento_order = shipment_id * 10
        self.magento.add_order(magento_order, order, items=[
            {"item_id": 1, "sku": "LAMP-1", "ext_order_item_id": f"{order}-1", "qty_ordered": 1}])
        self.magento.add_shipment(shipment_id, magento_order, tracks=tracks,
                                  items=[{"order_item_id": 1, "sku": "LAMP-1", "qty": 1}])
        self.store.add_row(shipment_id, order, **row)

    def prepare(self, shipment_id: int) -> shipments.Decision:
        return shipments.prepare(self.runtime, shipment_id)


def track(number: str, title: str = "DPD UK", code: str = "custom") -> dict[str, str]:
    return {"track_number": number, "title": title, "carrier_code": code}


def test_a_tracked_shipment_with_a_known_carrier_is_ready_to_send() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1")])
    decision = flow.prepare(1)
    assert decision == shipments.Decision("send", ShipmentState.READY.value)
    row = flow.store.rows[1]
    assert (row.state, row.carrier_code, row.tracking_number) == ("ready", "DPD", "TRK-1")
    assert row.carrier_match is not None and row.carrier_match.startswith("label")
    assert row.items == [{"order_item_id": 1, "sku": "LAMP-1", "qty": 1.0, "ext_order_item_id": f"{ORDER}-1"}]
    assert flow.store.issues.entries == {}
    assert flow.mirakl.carrier_calls == 0  # the cached SH21 list is fresh


def test_the_newest_tracking_number_is_the_one_sent() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("OLD-1"), track("NEW-2", "Royal Mail")])
    assert flow.prepare(1).action == "send"
    assert (flow.store.rows[1].tracking_number, flow.store.rows[1].carrier_code) == ("NEW-2", "ROYAL_MAIL")


def test_no_tracking_number_waits_and_tells_ops_then_clears_when_one_comes() -> None:
    flow = Flow(shipment_require_tracking=True)
    flow.shipment(1, tracks=[])
    assert flow.prepare(1) == shipments.Decision("wait", ShipmentState.WAITING_TRACKING.value, "no tracking number")
    issue = flow.store.issues.active(shipments_domain.TRACKING_MISSING, "1")
    assert issue is not None and ORDER in issue.message and issue.context == {"order_id": ORDER}

    flow.magento.add_shipment(1, 10, tracks=[track("TRK-1")], items=[{"order_item_id": 1, "sku": "LAMP-1", "qty": 1}])
    assert flow.prepare(1).action == "send"
    assert flow.store.issues.active(shipments_domain.TRACKING_MISSING, "1") is None


def test_without_required_tracking_an_untracked_shipment_is_sent_bare() -> None:
    flow = Flow(shipment_require_tracking=False)
    flow.shipment(1, tracks=[], tracking_number="STALE", carrier_key="dpd/-")
    assert flow.prepare(1).action == "send"
    row = flow.store.rows[1]
    assert (row.tracking_number, row.carrier_code, row.carrier_key, row.carrier_match) == (None, None, None, None)
    assert flow.store.issues.entries == {}


def test_an_unknown_carrier_waits_for_a_mapping_and_a_mapping_releases_it() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1", "Speedy Vans", "speedy")])
    flow.shipment(2, tracks=[track("TRK-2", "Speedy Vans", "speedy")], order="JL-1002-A")
    first = flow.prepare(1)
    assert (first.action, first.state) == ("wait", ShipmentState.WAITING_CARRIER.value)
    flow.prepare(2)
    key = shipments_domain.carrier_key("speedy", "Speedy Vans")
    issue = flow.store.issues.active(shipments_domain.CARRIER_UNMAPPED, key)
    assert issue is not None and "2 shipment(s) wait" in issue.message
    assert issue.context["waiting_shipments"] == [1, 2]
    assert flow.store.rows[1].tracking_number == "TRK-1" and flow.store.rows[1].carrier_code is None

    flow.store.mappings.append(shipments_domain.Mapping_("speedy", "", "ROYAL_MAIL"))  # a person maps it
    assert shipments.release_waiting(flow.runtime) == [1, 2]
    assert [(r.state, r.generation) for r in flow.store.rows.values()] == [("ready", 2), ("ready", 2)]
    assert flow.store.issues.active(shipments_domain.CARRIER_UNMAPPED, key) is None
    assert flow.prepare(1).action == "send" and flow.store.rows[1].carrier_code == "ROYAL_MAIL"


def test_a_tracking_number_used_on_another_order_holds_the_shipment() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1")], order="JL-OTHER", tracking_number="TRK-1",
                  state=ShipmentState.CONFIRMED.value, confirmed=True)
    flow.shipment(2, tracks=[track("TRK-1")])
    decision = flow.prepare(2)
    assert (decision.action, decision.state) == ("stop", ShipmentState.ERROR.value)
    assert flow.store.rows[2].last_error == "tracking number TRK-1 already used for order JL-OTHER"
    issue = flow.store.issues.active(shipments_domain.TRACKING_REUSED, "2")
    assert issue is not None and issue.context == {"order_id": ORDER, "other_order_id": "JL-OTHER"}


def test_a_person_who_resolved_the_reuse_lets_the_shipment_go() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1")], order="JL-OTHER", tracking_number="TRK-1")
    flow.shipment(2, tracks=[track("TRK-1")])
    assert flow.prepare(2).action == "stop"
    flow.store.issues.resolve(shipments_domain.TRACKING_REUSED, "2", by="ops@example.com")
    assert flow.prepare(2) == shipments.Decision("send", ShipmentState.READY.value)


def test_the_same_tracking_number_on_the_same_order_is_fine() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1")], tracking_number="TRK-1", state=ShipmentState.PARTIAL.value)
    flow.shipment(2, tracks=[track("TRK-1")])
    assert flow.prepare(2).action == "send"
    assert flow.store.rows[1].state == ShipmentState.PARTIAL.value  # a sent part keeps its state


def test_a_partial_shipment_keeps_its_state_when_prepared_again() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1")], state=ShipmentState.PARTIAL.value)
    assert flow.prepare(1) == shipments.Decision("send", ShipmentState.PARTIAL.value)


def test_a_shipment_gone_from_magento_stops_with_an_error() -> None:
    flow = Flow()
    flow.store.add_row(1, ORDER)
    decision = flow.prepare(1)
    assert decision == shipments.Decision("stop", ShipmentState.ERROR.value, "not found in Adobe Commerce")
    assert flow.store.rows[1].state == ShipmentState.ERROR.value
    assert flow.store.rows[1].last_error.startswith("the shipment or its order no longer exists in Adobe Commerce")


def test_a_confirmed_shipment_gone_from_magento_stays_confirmed() -> None:
    flow = Flow()
    flow.store.add_row(1, ORDER, state=ShipmentState.CONFIRMED.value, confirmed=True)
    assert flow.prepare(1).action == "stop"
    assert flow.store.rows[1].state == ShipmentState.CONFIRMED.value and flow.store.rows[1].last_error == ""


def test_a_confirmed_shipment_with_the_same_tracking_is_left_alone() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1")], tracking_number="TRK-1", state=ShipmentState.CONFIRMED.value,
                  confirmed=True)
    assert flow.prepare(1) == shipments.Decision("stop", ShipmentState.CONFIRMED.value, "already confirmed")


def test_a_confirmed_shipment_with_a_corrected_tracking_number_is_sent_again() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1"), track("TRK-2")], tracking_number="TRK-1",
                  state=ShipmentState.CONFIRMED.value, confirmed=True)
    flow.store.rows[1].tracks = [track("TRK-1"), track("TRK-2")]  # as detect recorded the correction
    decision = flow.prepare(1)
    assert decision == shipments.Decision("send", ShipmentState.CONFIRMED.value)
    assert flow.store.rows[1].tracking_number == "TRK-2"


def test_a_missing_row_is_a_stop() -> None:
    flow = Flow()
    flow.magento.add_order(10, ORDER)
    flow.magento.add_shipment(1, 10, tracks=[track("TRK-1")])
    assert flow.prepare(1) == shipments.Decision("stop", "missing", "no such shipment row")


def test_an_empty_carrier_cache_is_loaded_from_sh21_once() -> None:
    flow = Flow(carriers_cached=False)
    flow.shipment(1, tracks=[track("TRK-1")])
    flow.shipment(2, tracks=[track("TRK-2")], order="JL-1002-A")
    assert flow.prepare(1).action == "send" and flow.prepare(2).action == "send"
    assert flow.mirakl.carrier_calls == 1
    assert [c.code for c in flow.store.carriers] == ["DPD", "ROYAL_MAIL"]


def test_a_stale_carrier_list_is_used_when_sh21_fails_and_not_asked_again_that_day() -> None:
    flow = Flow()
    flow.store.refreshed_at = utcnow() - dt.timedelta(days=3)
    flow.mirakl.error = NetworkError("connection refused", api="SH21")
    flow.shipment(1, tracks=[track("TRK-1")])
    assert flow.prepare(1).action == "send"
    assert flow.prepare(1).action == "send"
    assert flow.mirakl.carrier_calls == 1  # SH21 may be called once a day: no second try


def test_no_carrier_list_at_all_and_sh21_failing_raises_for_the_step_to_retry() -> None:
    flow = Flow(carriers_cached=False)
    flow.mirakl.error = NetworkError("connection refused", api="SH21")
    flow.shipment(1, tracks=[track("TRK-1")])
    with pytest.raises(NetworkError):
        flow.prepare(1)
    assert flow.store.rows[1].state == ShipmentState.NEW.value


def test_a_configurable_parent_and_its_child_are_one_marketplace_line() -> None:
    flow = Flow()
    flow.magento.add_order(10, ORDER, items=[
        {"item_id": 1, "sku": "SOFA-GREY", "product_type": "configurable", "ext_order_item_id": f"{ORDER}-1"},
        {"item_id": 2, "sku": "SOFA-GREY", "parent_item_id": 1},
    ])
    flow.magento.add_shipment(1, 10, tracks=[track("TRK-1")], items=[
        {"order_item_id": 1, "sku": "SOFA-GREY", "qty": 1}, {"order_item_id": 2, "sku": "SOFA-GREY", "qty": 1}])
    flow.store.add_row(1, ORDER)
    assert flow.prepare(1).action == "send"
    assert flow.store.rows[1].items == [
        {"order_item_id": 1, "sku": "SOFA-GREY", "qty": 1.0, "ext_order_item_id": f"{ORDER}-1"}]


# --------------------------------------------------------------------------- watch
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def test_an_order_near_its_deadline_without_a_shipment_is_raised_and_cleared_once_shipped() -> None:
    flow = Flow(shipping_deadline_lead_hours=12)
    flow.mirakl.add_order("JL-NEAR", shipping_deadline=NOW + dt.timedelta(hours=3))
    flow.mirakl.add_order("JL-FAR", shipping_deadline=NOW + dt.timedelta(days=3))
    counts = shipments.watch(flow.runtime, now=NOW)
    assert counts == shipments.WatchCounts(deadline_near=1, unconfirmed=0)
    issue = flow.store.issues.active(shipments_domain.SHIPPING_DEADLINE_NEAR, "JL-NEAR")
    assert issue is not None and "02 Dec 2026 15:00 UTC" in issue.message
    assert flow.store.issues.active_ids(shipments_domain.SHIPPING_DEADLINE_NEAR) == ["JL-NEAR"]

    flow.store.add_row(1, "JL-NEAR")  # Magento shipped it
    assert shipments.watch(flow.runtime, now=NOW).deadline_near == 0
    assert flow.store.issues.active_ids(shipments_domain.SHIPPING_DEADLINE_NEAR) == []


def test_a_deadline_issue_clears_when_the_order_leaves_shipping() -> None:
    flow = Flow()
    order = flow.mirakl.add_order("JL-NEAR", shipping_deadline=NOW - dt.timedelta(hours=1))  # already late
    assert shipments.watch(flow.runtime, now=NOW).deadline_near == 1
    flow.mirakl.orders["JL-NEAR"] = order.model_copy(update={"order_state": "CANCELED"})
    assert shipments.watch(flow.runtime, now=NOW).deadline_near == 0
    assert flow.store.issues.active(shipments_domain.SHIPPING_DEADLINE_NEAR, "JL-NEAR") is None


def test_a_shipment_unconfirmed_too_long_is_raised_until_it_is_confirmed() -> None:
    flow = Flow(shipment_unconfirmed_minutes=120)
    row = flow.store.add_row(1, ORDER, state=ShipmentState.WAITING_CARRIER.value)  # detected 09:00
    row.last_error = "no carrier"
    recent = flow.store.add_row(2, "JL-1002-A", state=ShipmentState.READY.value)
    recent.magento_created_at = recent.detected_at = NOW - dt.timedelta(minutes=30)
    counts = shipments.watch(flow.runtime, now=NOW)
    assert counts == shipments.WatchCounts(deadline_near=0, unconfirmed=1)
    issue = flow.store.issues.active(shipments_domain.SHIPMENT_UNCONFIRMED, "1")
    assert issue is not None and "made 1620 minutes ago" in issue.message and "waiting carrier" in issue.message
    assert issue.detail == "no carrier" and issue.context == {"order_id": ORDER, "state": "waiting_carrier"}

    row.state = ShipmentState.CONFIRMED.value
    assert shipments.watch(flow.runtime, now=NOW).unconfirmed == 0
    assert flow.store.issues.active_ids(shipments_domain.SHIPMENT_UNCONFIRMED) == []


# --------------------------------------------------------------------------- send (single shipment mode)
def sending(flow: Flow, shipment_id: int, *, tracks: list[dict[str, str]] | None = None, order: str = ORDER,
            state: str = "SHIPPING", lines: tuple[tuple[str, str, int], ...] = ((f"{ORDER}-1", "LAMP-1", 1),)
            ) -> None:
    """A marketplace order awaiting dispatch, known to the orders flow, and a prepared shipment of it."""
    if order not in flow.mirakl.orders:
        flow.mirakl.add_order(order, state, lines=lines)
    flow.store.orders.known.add(order)
    flow.shipment(shipment_id, tracks=[track(f"TRK-{shipment_id}")] if tracks is None else tracks, order=order)
    assert flow.prepare(shipment_id).action == "send"


def test_a_whole_order_gets_its_tracking_then_is_shipped() -> None:
    flow = Flow()
    sending(flow, 1)
    result = shipments.send(flow.runtime, 1)
    assert result == shipments.SendResult("confirmed", how="OR24 accepted")
    assert flow.mirakl.api_calls("OR23", "OR24") == [("OR23", (ORDER, "DPD", "TRK-1")), ("OR24", (ORDER,))]
    row = flow.store.rows[1]
    assert (row.state, row.lines, row.attempts) == ("confirmed", {f"{ORDER}-1": 1}, 1)
    assert row.sent_at is not None and row.confirmed_at is not None
    assert {api: note["status"] for api, note in row.results.items()} == {"OR23": "ok", "OR24": "ok", "confirm": "ok"}
    assert {k: (d["status"], d["attempts"]) for k, d in flow.store.deliveries.items()} == {
        f"OR23:{ORDER}:TRK-1": ("sent", 1), f"OR24:{ORDER}": ("sent", 1)}
    assert flow.store.orders.shipped[ORDER]["carriers"] == ["DPD"]
    assert flow.store.orders.shipped[ORDER]["tracking_numbers"] == ["TRK-1"]


def test_a_part_of_the_order_waits_for_the_rest_then_both_are_confirmed() -> None:
    flow = Flow()
    lines = ((f"{ORDER}-1", "LAMP-1", 1), (f"{ORDER}-2", "SHADE-1", 1))
    sending(flow, 1, lines=lines)
    assert shipments.send(flow.runtime, 1) == shipments.SendResult("partial")
    assert flow.mirakl.api_calls("OR24") == []
    assert flow.store.rows[1].results["OR24"]["status"] == "waiting"

    flow.magento.add_order(20, ORDER, items=[{"item_id": 2, "sku": "SHADE-1", "ext_order_item_id": f"{ORDER}-2"}])
    flow.magento.add_shipment(2, 20, tracks=[track("TRK-2")], items=[{"order_item_id": 2, "sku": "SHADE-1", "qty": 1}])
    flow.store.add_row(2, ORDER)
    assert flow.prepare(2).action == "send"
    assert shipments.send(flow.runtime, 2).state == "confirmed"
    assert [r.state for r in flow.store.rows.values()] == ["confirmed", "confirmed"]
    assert flow.store.rows[2].lines == {f"{ORDER}-2": 1}
    assert flow.store.orders.shipped[ORDER]["tracking_numbers"] == ["TRK-1", "TRK-2"]


def test_an_order_already_shipped_on_the_marketplace_is_only_confirmed() -> None:
    flow = Flow()
    sending(flow, 1, state="SHIPPED")
    assert shipments.send(flow.runtime, 1) == shipments.SendResult("confirmed", how="marketplace order already SHIPPED")
    assert flow.mirakl.api_calls("OR23", "OR24") == []
    assert flow.store.deliveries == {}


def test_a_cancelled_marketplace_order_stops_the_shipment_for_ops() -> None:
    flow = Flow()
    sending(flow, 1, state="CANCELED")
    result = shipments.send(flow.runtime, 1)
    assert (result.state, result.api, result.error) == ("error", "OR11", "the marketplace order is CANCELED")
    assert flow.store.rows[1].last_error == "OR11: the marketplace order is CANCELED"
    issue = flow.store.issues.active(shipments_domain.SHIPMENT_REJECTED, "1")
    assert issue is not None and issue.context == {"order_id": ORDER}
    assert flow.mirakl.api_calls("OR23", "OR24") == []


def test_an_order_not_yet_paid_is_tried_again_with_a_new_generation() -> None:
    flow = Flow()
    sending(flow, 1, state="WAITING_DEBIT_PAYMENT")
    result = shipments.send(flow.runtime, 1)
    assert result == shipments.SendResult("ready", retry=True, order_state="WAITING_DEBIT_PAYMENT")
    row = flow.store.rows[1]
    assert (row.state, row.generation, row.last_error) == (
        "ready", 2, "marketplace order is WAITING_DEBIT_PAYMENT; will retry")


def test_a_refused_tracking_stops_the_shipment_and_logs_the_failed_delivery() -> None:
    flow = Flow()
    sending(flow, 1)
    flow.mirakl.refuse["OR23"] = Rejected("The tracking number is mandatory for this carrier", api="OR23", status=400)
    result = shipments.send(flow.runtime, 1)
    assert (result.state, result.api) == ("waiting_tracking", "OR23")  # classified: a tracking problem
    assert flow.store.deliveries[f"OR23:{ORDER}:TRK-1"]["status"] == "failed"
    assert flow.store.issues.active(shipments_domain.TRACKING_MISSING, "1") is not None
    assert flow.mirakl.api_calls("OR24") == []


def test_a_refused_ship_call_on_an_order_shipped_meanwhile_is_a_confirmation() -> None:
    flow = Flow()
    sending(flow, 1)
    flow.mirakl.refuse["OR24"] = Rejected("order is not in SHIPPING state", api="OR24", status=400)
    original = flow.mirakl.ship_order

    def shipped_by_someone_else(order_id: str) -> None:
        flow.mirakl.set_state(order_id, "SHIPPED")
        original(order_id)

    flow.mirakl.ship_order = shipped_by_someone_else
    assert shipments.send(flow.runtime, 1) == shipments.SendResult("confirmed", how="marketplace order already SHIPPED")
    assert flow.store.issues.active_ids(shipments_domain.SHIPMENT_REJECTED) == []


def test_a_refused_ship_call_we_cannot_check_is_retried_not_a_rejection() -> None:
    """Full soak: OR24 answered "in state SHIPPED, not SHIPPING" (our own earlier OR24 had gone
    through, its answer lost), and the check that followed met OR11's rate limit. The shipment was
    stopped as ``shipment_rejected`` for ops; not knowing is a transient failure, retried."""
    flow = Flow()
    sending(flow, 1)
    flow.mirakl.set_state(ORDER, "SHIPPING")
    flow.mirakl.refuse["OR24"] = Rejected(f"Order '{ORDER}' is in state SHIPPED, not SHIPPING", api="OR24", status=400)

    def rate_limited(order_id: str) -> object:
        raise RateLimited("OR11 is limited by its call frequency", retry_after=60.0, api="OR11", status=429)

    flow.mirakl.get_order = rate_limited  # type: ignore[method-assign]
    with pytest.raises(RateLimited):
        shipments.send(flow.runtime, 1)
    assert flow.store.issues.active_ids(shipments_domain.SHIPMENT_REJECTED) == []
    assert flow.store.rows[1].state != "error"


def test_an_item_not_on_the_marketplace_order_stops_with_lines_unknown() -> None:
    flow = Flow()
    sending(flow, 1, lines=((f"{ORDER}-9", "OTHER-SKU", 1),))
    result = shipments.send(flow.runtime, 1)
    assert (result.state, result.api, result.error) == ("error", "lines", "LAMP-1 is not on the marketplace order")
    assert flow.store.issues.active(shipments_domain.LINES_UNKNOWN, "1") is not None
    assert flow.mirakl.api_calls("OR23", "OR24") == []


def test_an_order_the_marketplace_does_not_have_stops_the_shipment() -> None:
    flow = Flow()
    flow.shipment(1, tracks=[track("TRK-1")])
    assert flow.prepare(1).action == "send"
    result = shipments.send(flow.runtime, 1)
    assert (result.state, result.api) == ("error", "OR11")
    assert result.error is not None and result.error.startswith(f"the marketplace has no order {ORDER}")


def test_an_order_the_orders_flow_does_not_know_is_still_confirmed() -> None:
    flow = Flow()
    sending(flow, 1)
    flow.store.orders.known.clear()  # made by hand in Magento
    assert shipments.send(flow.runtime, 1).state == "confirmed"
    assert flow.store.orders.shipped == {}


def test_a_burst_of_sends_shares_one_marketplace_read() -> None:
    flow = Flow()
    sending(flow, 1)
    sending(flow, 2, order="JL-1002-A", lines=(("JL-1002-A-1", "LAMP-1", 1),))
    shipments.send(flow.runtime, 1)
    shipments.send(flow.runtime, 2)
    reads = flow.mirakl.api_calls("OR11")
    assert reads[0] == ("OR11", (ORDER, "JL-1002-A"))  # the first read carried the other due order
    assert len([r for r in reads if "JL-1002-A" in r[1]]) == 1


def test_a_transient_failure_leaves_the_shipment_ready_for_the_next_poll() -> None:
    flow = Flow()
    sending(flow, 1)
    shipments.note_failure(flow.runtime, 1, "OR23: connection reset")
    row = flow.store.rows[1]
    assert (row.state, row.generation, row.last_error) == ("ready", 2, "OR23: connection reset")


# --------------------------------------------------------------------------- send (multi-shipment mode)
def test_with_multi_shipment_one_st01_ships_this_parcel() -> None:
    flow = Flow(multi_shipment=True)
    sending(flow, 1)
    result = shipments.send(flow.runtime, 1)
    assert result == shipments.SendResult("confirmed", how="ST01 created SHIPPED")
    assert flow.mirakl.api_calls("ST01") == [("ST01", ([(ORDER, [(f"{ORDER}-1", 1)])],))]
    assert flow.store.rows[1].marketplace_shipment_id == "MS-1"
    assert flow.store.deliveries["ST01:1"]["status"] == "sent"
    assert ORDER in flow.store.orders.shipped  # it completed the order


def test_with_multi_shipment_a_repeat_finds_the_parcel_st01_made() -> None:
    flow = Flow(multi_shipment=True)
    sending(flow, 1)
    shipments.send(flow.runtime, 1)
    flow.store.rows[1].state = ShipmentState.READY.value  # as if the confirmation was lost in a crash
    assert shipments.send(flow.runtime, 1).how == "marketplace shipment already shipped"
    assert len(flow.mirakl.api_calls("ST01")) == 1


# --------------------------------------------------------------------------- a person's retry
def test_a_person_sends_a_held_shipment_anyway() -> None:
    flow = Flow()
    started: list[tuple[tuple[int, int], ...]] = []
    flow.runtime.bus.register(ShipmentsDue, lambda message: started.append(message.due))
    flow.shipment(1, tracks=[track("TRK-1")], order="JL-OTHER", tracking_number="TRK-1")
    flow.shipment(2, tracks=[track("TRK-1")])
    assert flow.prepare(2).action == "stop"

    assert shipments.retry_shipment(flow.runtime, 2, actor="ops@example.com", send_anyway=True) == 2
    row = flow.store.rows[2]
    assert (row.state, row.generation, row.last_error) == ("ready", 2, "")
    assert flow.store.issues.entries[(shipments_domain.TRACKING_REUSED.code, "2")].resolved_by == "ops@example.com"
    assert flow.store.issues.activity == [{"actor": "ops@example.com", "action": "shipment.retry",
                                           "object_type": "shipment", "object_id": "2",
                                           "detail": {"send_anyway": True}}]
    assert started == [((2, 2),)]  # the send is started at once
    assert flow.prepare(2).action == "send"  # the person's decision holds


def test_a_retry_of_a_confirmed_or_unknown_shipment_is_refused() -> None:
    flow = Flow()
    flow.store.add_row(1, ORDER, state=ShipmentState.CONFIRMED.value, confirmed=True)
    with pytest.raises(ValueError, match="already confirmed"):
        shipments.retry_shipment(flow.runtime, 1, actor="ops@example.com")
    with pytest.raises(LookupError):
        shipments.retry_shipment(flow.runtime, 9, actor="ops@example.com")
    assert flow.store.issues.activity == []


# --------------------------------------------------------------------------- detect
def magento_shipment(flow: Flow, shipment_id: int, ext_order_id: str | None, *,
                     tracks: list[dict[str, str]] | None = None) -> None:
    flow.magento.add_order(shipment_id * 10, ext_order_id, items=[{"item_id": 1, "sku": "LAMP-1"}])
    flow.magento.add_shipment(shipment_id, shipment_id * 10, tracks=tracks or [],
                              items=[{"order_item_id": 1, "sku": "LAMP-1", "qty": 1}])


def test_the_poll_records_marketplace_shipments_only_and_moves_its_cursor() -> None:
    flow = Flow()
    magento_shipment(flow, 5, ORDER, tracks=[track("TRK-5")])
    magento_shipment(flow, 6, None)  # a web-shop order: not ours
    magento_shipment(flow, 7, "JL-1002-A")
    assert shipments.poll_new_shipments(flow.runtime, page_size=2) == [5, 7]
    assert sorted(flow.store.rows) == [5, 7]
    row = flow.store.rows[5]
    assert (row.state, row.generation, row.marketplace_order_id, row.magento_order_id) == ("new", 1, ORDER, 50)
    assert row.tracks == [{"track_number": "TRK-5", "title": "DPD UK", "carrier_code": "custom", "created_at": ""}]
    assert row.items == [{"order_item_id": 1, "sku": "LAMP-1", "qty": 1.0}]
    assert flow.store.cursors == {"magento.shipments.entity_id": "7"}
    assert shipments.due_for_send(flow.runtime) == [(5, 1), (7, 1)]

    assert shipments.poll_new_shipments(flow.runtime) == []  # nothing after the cursor
    magento_shipment(flow, 8, ORDER)
    assert shipments.poll_new_shipments(flow.runtime) == [8]


def test_the_poll_reads_magento_orders_before_its_transaction_not_inside_it() -> None:
    """A Magento call inside the poll's unit of work held our write lock for as long as Adobe
    Commerce took to answer (seconds, with retries, under the soak's faults). On SQLite every other
    writer waited: the full soak ran out of pool connections for 30 s and eleven sends ended for
    good. The marketplace order ids of a batch are read first, then written in one transaction."""
    flow = Flow()
    for shipment_id in (5, 6, 7):
        magento_shipment(flow, shipment_id, f"JL-100{shipment_id}-A")
    open_at_call: list[int] = []
    get_order = flow.magento.get_order

    def watched(order_id: int) -> Any:
        open_at_call.append(flow.store.open_units)
        return get_order(order_id)

    flow.magento.get_order = watched  # type: ignore[method-assign]
    assert shipments.poll_new_shipments(flow.runtime) == [5, 6, 7]
    assert open_at_call == [0, 0, 0]


def test_a_webhook_hint_records_the_shipment_once() -> None:
    flow = Flow()
    magento_shipment(flow, 5, ORDER)
    assert shipments.detect_shipment(flow.runtime, 5) == 5
    assert shipments.detect_shipment(flow.runtime, 5) is None  # seen already, nothing changed
    magento_shipment(flow, 6, None)
    assert shipments.detect_shipment(flow.runtime, 6) is None and 6 not in flow.store.rows


def test_a_track_added_later_reopens_a_shipment_that_waited_for_it() -> None:
    flow = Flow(shipment_require_tracking=True)
    magento_shipment(flow, 5, ORDER)
    shipments.detect_shipment(flow.runtime, 5)
    assert flow.prepare(5).action == "wait"
    magento_shipment(flow, 5, ORDER, tracks=[track("TRK-5")])  # the warehouse adds the track
    assert shipments.recheck_tracks(flow.runtime) == [5]
    row = flow.store.rows[5]
    assert (row.state, row.generation) == ("ready", 2)
    assert shipments.recheck_tracks(flow.runtime) == []  # the same tracks: nothing to do


def test_a_corrected_tracking_number_reopens_a_confirmed_shipment() -> None:
    flow = Flow()
    sending(flow, 1)
    assert shipments.send(flow.runtime, 1).state == "confirmed"
    flow.magento.add_shipment(1, 10, tracks=[track("TRK-1"), track("TRK-1B")],
                              items=[{"order_item_id": 1, "sku": "LAMP-1", "qty": 1}])
    assert shipments.detect_shipment(flow.runtime, 1) == 1
    assert (flow.store.rows[1].state, flow.store.rows[1].generation) == ("ready", 2)
    assert flow.prepare(1) == shipments.Decision("send", "ready")  # the send workflow prepares first
    assert shipments.send(flow.runtime, 1) == shipments.SendResult("confirmed", corrected=True)  # OR23 only
    assert flow.mirakl.api_calls("OR23")[-1] == ("OR23", (ORDER, "DPD", "TRK-1B"))
    assert len(flow.mirakl.api_calls("OR24")) == 1


def test_an_unchanged_confirmed_shipment_is_not_reopened() -> None:
    flow = Flow()
    sending(flow, 1)
    shipments.send(flow.runtime, 1)
    assert shipments.detect_shipment(flow.runtime, 1) is None
    assert flow.store.rows[1].state == "confirmed"


# --------------------------------------------------------------------------- carrier mappings
def test_a_new_mapping_releases_the_waiting_shipments_and_starts_their_sends() -> None:
    flow = Flow()
    started: list[tuple[tuple[int, int], ...]] = []
    flow.runtime.bus.register(ShipmentsDue, lambda message: started.append(message.due))
    flow.shipment(1, tracks=[track("TRK-1", "Speedy Vans", "speedy")])
    assert flow.prepare(1).action == "wait"

    added = shipments.add_mapping(flow.runtime, marketplace_code="royal_mail", magento_carrier_code=" Speedy ",
                                  actor="ops@example.com")
    assert (added.mapping.id, added.mapping.magento_carrier_code, added.mapping.marketplace_code) == (1, "speedy",
                                                                                                    "ROYAL_MAIL")
    assert added.released_shipments == [1]
    assert started == [((1, 2),)]
    assert flow.store.issues.activity[-1]["action"] == "carrier.map"
    assert flow.store.issues.active_ids(shipments_domain.CARRIER_UNMAPPED) == []


def test_a_mapping_is_replaced_in_place_and_can_be_deleted() -> None:
    flow = Flow()
    first = shipments.add_mapping(flow.runtime, marketplace_code="DPD", title="Speedy Vans")
    again = shipments.add_mapping(flow.runtime, marketplace_code="ROYAL_MAIL", title="speedy vans ")
    assert first.mapping.id == again.mapping.id == 1 and again.mapping.kind == "alias"
    assert [m.marketplace_code for m in flow.store.mapping_rows.values()] == ["ROYAL_MAIL"]
    assert shipments.delete_mapping(flow.runtime, 1, actor="ops@example.com") is True
    assert shipments.delete_mapping(flow.runtime, 1) is False
    assert flow.store.mapping_rows == {}
    assert [a["action"] for a in flow.store.issues.activity] == ["carrier.map", "carrier.map", "carrier.unmap"]


def test_a_mapping_to_a_carrier_sh21_does_not_list_is_refused() -> None:
    flow = Flow()
    with pytest.raises(shipments.InvalidMapping, match="not on the marketplace carrier list"):
        shipments.add_mapping(flow.runtime, marketplace_code="PIGEON", magento_carrier_code="speedy")
    with pytest.raises(shipments.InvalidMapping, match="give a Magento carrier code"):
        shipments.add_mapping(flow.runtime, marketplace_code="DPD")
    assert flow.store.mapping_rows == {} and flow.store.issues.activity == []


# --------------------------------------------------------------------------- views through the port
def test_the_views_read_through_the_repository_and_fill_every_state() -> None:
    flow = Flow()
    flow.store.add_row(1, ORDER, state=ShipmentState.SENT.value)
    flow.store.add_row(2, ORDER, state=ShipmentState.WAITING_CARRIER.value)
    flow.store.add_row(3, "JL-2002-B", state=ShipmentState.CONFIRMED.value, confirmed=True)
    with flow.store.unit_of_work() as repo:
        counts = shipments.counts_by_state(repo)
        assert counts["sent"] == 1 and counts["waiting_carrier"] == 1 and counts["confirmed"] == 1
        assert counts["error"] == 0 and set(counts) == {state.value for state in ShipmentState}
        assert [v.magento_shipment_id for v in shipments.list_shipments(repo, order_id=ORDER)] == [2, 1]
        assert [v.magento_shipment_id for v in shipments.list_shipments(repo, state="confirmed")] == [3]
        assert [v.magento_shipment_id for v in shipments.list_shipments(repo, limit=1, offset=1)] == [2]
        awaiting = [v.magento_shipment_id for v in shipment_console.awaiting_confirmation(repo)]
        assert sorted(awaiting) == [1, 2]  # the confirmed one is not awaiting anything
        shown = shipments.get_shipment(repo, 3)
        assert shown is not None and shown.state == "confirmed" and shown.confirmed_at is not None
        assert shipments.get_shipment(repo, 99) is None
        assert [r.magento_shipment_id for r in shipments.shipments_for(repo, [3, 99, 1])] == [3, 1]


def test_mappings_are_listed_by_code_then_title_through_the_repository() -> None:
    flow = Flow()
    shipments.add_mapping(flow.runtime, marketplace_code="DPD", magento_carrier_code="speedy", actor="olive")
    shipments.add_mapping(flow.runtime, marketplace_code="ROYAL_MAIL", title="Royal Mail 24", actor="olive")
    with flow.store.unit_of_work() as repo:
        views = shipments.list_mappings(repo)
        assert [(v.kind, v.marketplace_code, v.created_by) for v in views] == [
            ("alias", "ROYAL_MAIL", "olive"), ("mapping", "DPD", "olive")]
        assert [c.code for c in shipments.cached_carriers(repo)] == ["DPD", "ROYAL_MAIL"]


# --------------------------------------------------------------------------- the fakes keep up
@pytest.mark.parametrize(("port", "fake"), [
    (ports.ShipmentsStore, FakeShipmentsStore), (ports.ShipmentsRepository, FakeShipmentsRepository),
    (ports.IssueLog, FakeIssueLog), (ports.OrderRecords, FakeOrderRecords)])
def test_each_storage_fake_has_every_member_of_its_port(port: type, fake: type) -> None:
    """mypy proves the SQLAlchemy store fits the ports; this keeps the fakes whole as the ports grow
    (the client fakes implement only what the shipments flow calls, on purpose)."""
    members = {name for name in vars(port) if not name.startswith("_")}
    assert members and {name for name in members if not hasattr(fake, name)} == set()
