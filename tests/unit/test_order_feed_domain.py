"""The order feed's pure model: what a read finds changed between two versions of one order
(``domain.order_feed.changes``), and the mirror's JSON form (money as strings)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from marketbridge.domain.order_feed import (
    ChangeKind,
    MirrorCancelation,
    MirrorLine,
    MirrorOrder,
    MirrorRefund,
    MirrorTracking,
    changes,
)

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
K = ChangeKind


def order(state: str = "WAITING_ACCEPTANCE", *, minutes: int = 0, refunds: tuple[MirrorRefund, ...] = (),
          cancelations: tuple[MirrorCancelation, ...] = (), tracking: MirrorTracking | None = None,
          incident: bool = False, debited: bool = False, line_state: str | None = None) -> MirrorOrder:
    line = MirrorLine(line_id="O-1-1", offer_sku="LAMP-1", quantity=2, state=line_state or state,
                      price=Decimal("39.98"), shipping_price=Decimal("5.00"), can_refund=None,
                      refunds=refunds, cancelations=cancelations)
    return MirrorOrder(order_id="O-1", state=state, created_at=T0, updated_at=T0 + dt.timedelta(minutes=minutes),
                       currency="GBP", lines=(line,), shipping_total=Decimal("5.00"), total_price=Decimal("44.98"),
                       customer_debited_at=T0 + dt.timedelta(minutes=1) if debited else None,
                       has_incident=incident, tracking=tracking)


def kinds(found: tuple) -> list[str]:
    return [c.kind.value for c in found]


def test_a_first_sighting_is_appeared_and_nothing_else_for_a_new_order() -> None:
    found = changes(None, order())
    assert kinds(found) == ["appeared"]
    assert found[0].order_id == "O-1" and dict(found[0].detail) == {"state": "WAITING_ACCEPTANCE"}


def test_a_first_sighting_of_an_order_already_paid_gives_every_milestone_the_flows_missed() -> None:
    assert kinds(changes(None, order("SHIPPING", debited=True))) == ["appeared", "accepted", "paid"]


def test_an_unchanged_order_read_again_yields_nothing() -> None:
    before = order("SHIPPING", debited=True, tracking=MirrorTracking("DPD", "DPD", "123", "https://t/123"))
    assert changes(before, dataclasses.replace(before)) == ()


def test_an_order_that_skipped_states_between_two_reads_yields_accepted_paid_and_shipped() -> None:
    found = changes(order("WAITING_ACCEPTANCE"), order("SHIPPED", minutes=30, debited=True))
    assert kinds(found) == ["accepted", "paid", "shipped"]
    assert all(dict(c.detail)["from"] == "WAITING_ACCEPTANCE" and dict(c.detail)["to"] == "SHIPPED" for c in found)
    assert dict(found[1].detail)["customer_debited_at"] == (T0 + dt.timedelta(minutes=1)).isoformat()


@pytest.mark.parametrize(("before", "after", "expected"), [
    ("WAITING_ACCEPTANCE", "WAITING_DEBIT", ["accepted"]),
    ("WAITING_ACCEPTANCE", "WAITING_DEBIT_PAYMENT", ["accepted"]),
    ("WAITING_DEBIT", "SHIPPING", ["paid"]),
    ("SHIPPING", "SHIPPED", ["shipped"]),
    ("SHIPPING", "TO_COLLECT", ["shipped"]),
    ("SHIPPED", "RECEIVED", []),
    ("RECEIVED", "CLOSED", []),
    ("WAITING_ACCEPTANCE", "REFUSED", ["cancelled"]),
    ("SHIPPING", "CANCELED", ["cancelled"]),
    ("STAGING", "WAITING_ACCEPTANCE", []),
    ("STAGING", "CANCELED", ["cancelled"]),
])
def test_state_milestones(before: str, after: str, expected: list[str]) -> None:
    assert kinds(changes(order(before), order(after, minutes=5))) == expected


def test_cancelled_says_which_state_it_left() -> None:
    (found,) = changes(order("SHIPPING"), order("CANCELED", minutes=5))
    assert dict(found.detail) == {"from": "SHIPPING", "to": "CANCELED", "scope": "order"}


def test_tracking_set_while_shipping_is_shipped_and_a_changed_number_is_shipped_again() -> None:
    dpd = MirrorTracking("DPD", "DPD", "111", "https://t/111")
    first = changes(order("SHIPPING"), order("SHIPPING", minutes=1, tracking=dpd))
    assert kinds(first) == ["shipped"]
    assert dict(first[0].detail) == {"state": "SHIPPING", "carrier_code": "DPD", "carrier_name": "DPD",
                                     "tracking_number": "111"}
    changed = changes(order("SHIPPING", tracking=dpd),
                      order("SHIPPING", minutes=2, tracking=dataclasses.replace(dpd, number="222")))
    assert kinds(changed) == ["shipped"] and dict(changed[0].detail)["tracking_number"] == "222"
    # then OR24: the shipped state is reached, the tracking is the same (one event, no tracking facts)
    (confirmed,) = changes(order("SHIPPING", tracking=dpd), order("SHIPPED", minutes=3, tracking=dpd))
    assert confirmed.kind is K.SHIPPED and dict(confirmed.detail) == {"from": "SHIPPING", "to": "SHIPPED"}


def test_tracking_and_shipped_state_in_one_interval_is_one_shipped_change_with_both() -> None:
    dpd = MirrorTracking("DPD", "DPD", "111", None)
    (found,) = changes(order("SHIPPING"), order("SHIPPED", minutes=1, tracking=dpd))
    assert dict(found.detail) == {"from": "SHIPPING", "to": "SHIPPED", "carrier_code": "DPD", "carrier_name": "DPD",
                                  "tracking_number": "111"}


def test_a_new_refund_and_a_refund_changing_state_are_each_refunded() -> None:
    waiting = MirrorRefund("5001", Decimal("19.99"), Decimal("0.00"), "WAITING_REFUND")
    found = changes(order("SHIPPED"), order("SHIPPED", minutes=1, refunds=(waiting,)))
    assert kinds(found) == ["refunded"]
    assert dict(found[0].detail) == {"refund_id": "5001", "order_line_id": "O-1-1", "amount": "19.99",
                                     "shipping_amount": "0.00", "state": "WAITING_REFUND"}
    done = dataclasses.replace(waiting, state="REFUNDED")
    second = MirrorRefund("5002", Decimal("5"), Decimal("5.00"), "WAITING_REFUND")
    found = changes(order("SHIPPED", refunds=(waiting,)), order("SHIPPED", minutes=2, refunds=(done, second)))
    assert [(dict(c.detail)["refund_id"], dict(c.detail)["state"], dict(c.detail).get("previous_state"))
            for c in found] == [("5001", "REFUNDED", "WAITING_REFUND"), ("5002", "WAITING_REFUND", None)]
    # the same refunds read again: nothing
    assert changes(order("SHIPPED", refunds=(done, second)), order("SHIPPED", minutes=3, refunds=(done, second))) == ()


def test_a_line_cancelation_while_the_order_stays_shipping_is_cancelled_for_that_line() -> None:
    cut = MirrorCancelation("7001", Decimal("19.99"), Decimal("0"), 1)
    (found,) = changes(order("SHIPPING"), order("SHIPPING", minutes=1, cancelations=(cut,)))
    assert found.kind is K.CANCELLED
    assert dict(found.detail) == {"scope": "line", "cancelation_id": "7001", "order_line_id": "O-1-1",
                                  "amount": "19.99", "shipping_amount": "0", "quantity": "1"}


def test_a_whole_cancellation_gives_the_order_change_then_each_line_cancelation() -> None:
    cut = MirrorCancelation("7001", Decimal("39.98"), Decimal("5.00"), 2)
    found = changes(order("SHIPPING"), order("CANCELED", minutes=1, cancelations=(cut,)))
    assert [(c.kind.value, dict(c.detail)["scope"]) for c in found] == [("cancelled", "order"), ("cancelled", "line")]


def test_incidents_open_and_close() -> None:
    assert kinds(changes(order("SHIPPED"), order("SHIPPED", minutes=1, incident=True))) == ["incident_opened"]
    assert kinds(changes(order("SHIPPED", incident=True), order("SHIPPED", minutes=2))) == ["incident_closed"]
    assert kinds(changes(None, order("SHIPPED", incident=True))) == [
        "appeared", "accepted", "paid", "shipped", "incident_opened"]


def test_the_order_level_can_refund_is_any_line_that_says_so() -> None:
    base = order("SHIPPED")
    assert base.can_refund is None
    line = base.lines[0]
    two = dataclasses.replace(base, lines=(dataclasses.replace(line, can_refund=False),
                                           dataclasses.replace(line, line_id="O-1-2", can_refund=True)))
    assert two.can_refund is True
    assert dataclasses.replace(base, lines=(dataclasses.replace(line, can_refund=False),)).can_refund is False


def test_lines_and_tracking_go_through_json_with_money_as_strings_and_back_equal() -> None:
    line = MirrorLine("O-1-1", "LAMP-1", 3, "SHIPPED", Decimal("29.97"), Decimal("0.10"), True,
                      (MirrorRefund("5001", Decimal("9.99"), Decimal("0.00"), "REFUNDED"),),
                      (MirrorCancelation("7001", Decimal("9.99"), Decimal("0.10"), None),))
    stored = line.as_json()
    assert stored["price"] == "29.97" and stored["refunds"][0]["amount"] == "9.99"
    assert not any(isinstance(v, float) for v in stored.values())
    assert MirrorLine.from_json(stored) == line
    tracking = MirrorTracking("DPD", "DPD", "111", "https://t/111")
    assert MirrorTracking.from_json(tracking.as_json()) == tracking
    assert MirrorTracking.from_json(None) is None


def test_the_mirror_order_has_no_customer_fields() -> None:
    names = {f.name for f in dataclasses.fields(MirrorOrder)}
    assert not names & {"customer", "customer_name", "shipping_address", "billing_address", "email", "phone",
                        "customer_notification_email"}


def test_a_refund_and_cancelation_keep_quantity_reason_and_date_through_json_and_back_equal() -> None:
    """What the refunds flow records of a refund it did not send (issue 20: it reads the mirror)."""
    paris = dt.timezone(dt.timedelta(hours=1))
    refund = MirrorRefund("5001", Decimal("9.99"), Decimal("0.00"), "REFUNDED", quantity=1, reason_code="34",
                          created_at=dt.datetime(2026, 3, 2, 10, 30, tzinfo=paris))
    cancelation = MirrorCancelation("7001", Decimal("9.99"), Decimal("0.10"), 1, reason_code="12",
                                    created_at=T0)
    line = dataclasses.replace(order().lines[0], refunds=(refund,), cancelations=(cancelation,))
    stored = line.as_json()
    assert stored["refunds"][0]["created_at"] == "2026-03-02T09:30:00+00:00"  # UTC in the column
    assert (stored["refunds"][0]["quantity"], stored["refunds"][0]["reason_code"]) == (1, "34")
    assert MirrorLine.from_json(stored) == line


def test_a_row_stored_before_the_refund_details_existed_reads_back_and_yields_no_change() -> None:
    """A row written by the feed before these fields existed has none: it reads back with the
    defaults, and the next read (which has them) records no change: only a refund's state is
    compared, so the extra facts make no spurious ``refunded`` or ``cancelled`` event."""
    old_json = {"line_id": "O-1-1", "offer_sku": "LAMP-1", "quantity": 2, "state": "SHIPPED", "price": "39.98",
                "shipping_price": "5.00", "can_refund": None,
                "refunds": [{"id": "5001", "amount": "9.99", "shipping_amount": "0.00", "state": "REFUNDED"}],
                "cancelations": [{"id": "7001", "amount": "9.99", "shipping_amount": "0.00", "quantity": 1}]}
    before = dataclasses.replace(order("SHIPPED"), lines=(MirrorLine.from_json(old_json),))
    assert before.lines[0].refunds[0] == MirrorRefund("5001", Decimal("9.99"), Decimal("0.00"), "REFUNDED")
    after_line = dataclasses.replace(
        before.lines[0],
        refunds=(dataclasses.replace(before.lines[0].refunds[0], quantity=1, reason_code="34", created_at=T0),),
        cancelations=(dataclasses.replace(before.lines[0].cancelations[0], reason_code="12", created_at=T0),))
    after = dataclasses.replace(before, lines=(after_line,), fully_refunded=True)
    assert before != after  # so the feed stores the fuller version ...
    assert changes(before, after) == ()  # ... and records no change for it
    assert changes(after, dataclasses.replace(after)) == ()
