"""Pure rules of the orders flow: state machine, acceptance, totals, time rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketbridge.domain import orders as orders_domain
from marketbridge.domain.orders import LineFacts, OrderState, Outcome, Reason, SkuMatch

RULES = orders_domain.AcceptanceRules(currency="GBP", price_tolerance_percent=1.0, partial_acceptance=False, hold_on_failure=False)


def facts(line="L1", qty=1, salable=10.0, reserved=0.0, price=10.0, channel=10.0, match=SkuMatch.EXACT, sku="MB-1",
          enabled=True):
    return LineFacts(order_line_id=line, offer_sku=sku, quantity=qty, unit_price=price, match=match,
                     magento_sku=None if match is SkuMatch.NONE else sku, enabled=enabled, salable_qty=salable,
                     reserved_elsewhere=reserved, channel_price=channel)


# ------------------------------------------------------------------ state machine
def test_the_happy_path_is_allowed_in_order():
    path = ["received", "accepted", "awaiting_payment", "created", "shipped", "refunded", "closed"]
    for current, new in zip(path, path[1:], strict=False):
        assert orders_domain.check_transition(current, new) is True


def test_same_state_is_a_no_op_and_illegal_moves_raise():
    assert orders_domain.check_transition("created", "created") is False
    with pytest.raises(orders_domain.TransitionNotAllowed, match="from closed to received"):
        orders_domain.check_transition("closed", "received")
    with pytest.raises(orders_domain.TransitionNotAllowed):
        orders_domain.check_transition("received", "created")  # never created before payment
    with pytest.raises(orders_domain.TransitionNotAllowed):
        orders_domain.check_transition("shipped", "cancelled")  # after shipment: an issue, not a cancellation


@given(st.sampled_from(list(OrderState)), st.sampled_from(list(OrderState)))
def test_every_allowed_move_is_in_the_table(current, new):
    if current == new:
        assert orders_domain.check_transition(current, new) is False
    elif new in orders_domain.TRANSITIONS[current]:
        assert orders_domain.check_transition(current, new) is True
    else:
        with pytest.raises(orders_domain.TransitionNotAllowed):
            orders_domain.check_transition(current, new)


def test_every_state_can_reach_closed():
    for start in OrderState:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in orders_domain.TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert OrderState.CLOSED in seen, start


# ------------------------------------------------------------------ acceptance
def test_a_good_order_is_accepted():
    decision = orders_domain.decide_acceptance([facts(), facts("L2")], RULES, "GBP")
    assert decision.outcome is Outcome.ACCEPT
    assert decision.or21 == {"L1": True, "L2": True}


def test_unknown_sku_refuses_every_line_without_partial_acceptance():
    decision = orders_domain.decide_acceptance([facts(), facts("L2", match=SkuMatch.NONE)], RULES, "GBP")
    assert decision.outcome is Outcome.REFUSE
    assert decision.or21 == {"L1": False, "L2": False}
    assert decision.lines[1].reasons == (Reason.UNKNOWN_SKU,)
    assert "matches no product" in decision.reasons_text()


def test_partial_acceptance_when_the_connection_allows_it():
    rules = orders_domain.AcceptanceRules("GBP", 1.0, partial_acceptance=True, hold_on_failure=False)
    decision = orders_domain.decide_acceptance([facts(), facts("L2", qty=5, salable=3)], rules, "GBP")
    assert decision.outcome is Outcome.PARTIAL
    assert decision.or21 == {"L1": True, "L2": False}


def test_hold_policy_holds_instead_of_refusing():
    rules = orders_domain.AcceptanceRules("GBP", 1.0, partial_acceptance=False, hold_on_failure=True)
    decision = orders_domain.decide_acceptance([facts(price=20.0)], rules, "GBP")
    assert decision.outcome is Outcome.HOLD
    assert decision.lines[0].reasons == (Reason.PRICE_OUT_OF_TOLERANCE,)


def test_other_open_orders_reduce_the_available_quantity():
    assert orders_domain.decide_line(facts(qty=3, salable=5, reserved=2), RULES, "GBP").accepted
    assert not orders_domain.decide_line(facts(qty=3, salable=5, reserved=3), RULES, "GBP").accepted


def test_currency_other_than_the_store_refuses():
    line = orders_domain.decide_line(facts(), RULES, "EUR")
    assert not line.accepted and Reason.CURRENCY in line.reasons


def test_normalised_sku_is_accepted_with_a_warning():
    line = orders_domain.decide_line(facts(match=SkuMatch.NORMALISED), RULES, "GBP")
    assert line.accepted and line.warnings and "normalising" in line.warnings[0]


def test_disabled_product_refuses():
    assert orders_domain.decide_line(facts(enabled=False), RULES, "GBP").reasons == (Reason.PRODUCT_DISABLED,)


@given(st.decimals(1, 1000, places=2), st.decimals(0, 10, places=2))
def test_price_tolerance_is_symmetric_and_inclusive(reference, percent):
    """Exact decimals: a price exactly on the bound is inside, a penny beyond is outside."""
    edge = reference * percent / 100
    assert orders_domain.price_within(reference + edge, reference, percent)
    assert orders_domain.price_within(reference - edge, reference, percent)
    assert not orders_domain.price_within(reference + edge + Decimal("0.01"), reference, percent)


def test_price_tolerance_reads_float_inputs_by_their_digits():
    """19.99 within 1% of 19.79 is a decision on decimals (19.79 * 1.01 = 19.9879 < 19.99)."""
    assert not orders_domain.price_within(Decimal("19.99"), Decimal("19.79"), 1.0)
    assert orders_domain.price_within(Decimal("10.10"), Decimal("10.00"), 1.0)  # exactly on the bound
    assert orders_domain.price_within(Decimal("10.11"), Decimal("10.00"), 1.1)  # the setting 1.1 is 1.1, not 1.10000000000000009


@given(st.lists(st.tuples(st.integers(1, 50), st.floats(0, 20), st.integers(0, 20)), min_size=1, max_size=6),
       st.booleans(), st.booleans())
def test_or21_always_has_a_decision_for_every_line(lines, partial, hold):
    rules = orders_domain.AcceptanceRules("GBP", 1.0, partial, hold)
    line_facts = [facts(f"L{i}", qty=q, salable=s, reserved=r) for i, (q, s, r) in enumerate(lines)]
    decision = orders_domain.decide_acceptance(line_facts, rules, "GBP")
    assert set(decision.or21) == {f.order_line_id for f in line_facts}
    if decision.outcome is Outcome.ACCEPT:
        assert all(decision.or21.values())
    if decision.outcome is Outcome.REFUSE:
        assert not any(decision.or21.values())
    if decision.outcome is Outcome.PARTIAL:
        assert partial and any(decision.or21.values()) and not all(decision.or21.values())


def test_reserved_by_other_orders_excludes_the_order_itself():
    rows = [("A", "MB-1", 2), ("B", "MB-1", 3), ("A", "MB-2", 1), ("C", None, 5)]
    assert orders_domain.reserved_by_other_orders(rows, "A") == {"MB-1": 3.0}


# ------------------------------------------------------------------ totals and time
def test_totals_outside_the_tolerance_are_reported():
    diffs = orders_domain.compare_totals({"subtotal": 10, "shipping": 4.5, "grand_total": 14.5},
                             {"subtotal": 10, "shipping": 5.0, "grand_total": 15.0}, 0.01)
    assert [(d.field, d.delta) for d in diffs] == [("shipping", Decimal("0.50")), ("grand_total", Decimal("0.50"))]
    assert all(isinstance(d.marketplace, Decimal) and isinstance(d.magento, Decimal) for d in diffs)
    # exactly the tolerance apart is not a difference (0.1 + 0.2 as a float is 0.30000000000000004)
    assert orders_domain.compare_totals({"grand_total": Decimal("0.30")}, {"grand_total": 0.1 + 0.2 + 0.01}, 0.01) == []
    assert orders_domain.compare_totals({"grand_total": 10}, {"grand_total": 10.005}, 0.01) == []


def test_reminder_window_and_stuck_ages():
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    deadline = orders_domain.acceptance_deadline(created, 86400)
    assert not orders_domain.reminder_due(deadline, created, 3600)
    assert orders_domain.reminder_due(deadline, deadline - dt.timedelta(minutes=30), 3600)
    assert not orders_domain.reminder_due(deadline, deadline + dt.timedelta(seconds=1), 3600)
    ages = {"received": 600}
    assert orders_domain.stuck("received", created, created + dt.timedelta(seconds=601), ages)
    assert not orders_domain.stuck("received", created, created + dt.timedelta(seconds=599), ages)
    assert not orders_domain.stuck("held", created, created + dt.timedelta(days=9), ages)
    assert orders_domain.get_type_for_stuck("created").owner.value == "ops"


def test_normalise_sku():
    assert orders_domain.normalise_sku(" MB-Trailing-0001 ") == "mb-trailing-0001"


@pytest.mark.parametrize(("message", "shortage"), [
    ("The requested qty is not available", True),
    ("Not all of your products are available in the requested quantity.", True),
    ("There are no source items with the in stock status", True),
    ("Product that you are trying to add is not available.", True),
    ("The requested Payment Method is not available.", False),
    ("Carrier with such method not found: flatrate, flatrate", False),
])
def test_stock_shortage_is_told_apart_from_other_refusals(message, shortage):
    assert orders_domain.is_stock_shortage(message) is shortage


def test_the_marketplace_line_state_says_whether_a_line_was_accepted():
    assert orders_domain.accepted_on_marketplace("SHIPPING") is True
    assert orders_domain.accepted_on_marketplace("WAITING_DEBIT") is True
    assert orders_domain.accepted_on_marketplace("REFUSED") is False
    assert orders_domain.accepted_on_marketplace("WAITING_ACCEPTANCE") is None
    assert orders_domain.accepted_on_marketplace("CANCELED") is None  # may have been accepted before it was cancelled


@pytest.mark.parametrize(("state", "marketplace_state", "behind"), [
    ("held", "SHIPPING", True), ("held", "WAITING_ACCEPTANCE", False),
    ("received", "REFUSED", True), ("accepted", "REFUSED", False),
    ("awaiting_payment", "CANCELED", True), ("created", "CANCELED", False),
    ("accepted", "SHIPPING", True), ("received", "WAITING_DEBIT_PAYMENT", True),
    ("awaiting_payment", "SHIPPING", False),  # the next step is ours: creating it in Adobe Commerce
    ("created", "SHIPPED", True), ("created", "CLOSED", True), ("created", "SHIPPING", False),
    ("received", None, False),
])
def test_a_record_is_behind_the_marketplace_state_it_stores_only_where_a_follow_moves_it(
        state, marketplace_state, behind) -> None:
    assert orders_domain.behind_marketplace(orders_domain.OrderState(state), marketplace_state) is behind


def test_the_pairs_a_store_selects_are_exactly_the_records_behind_the_marketplace() -> None:
    pairs = set(orders_domain.behind_marketplace_pairs())
    assert ("accepted", "SHIPPING") in pairs and ("created", "SHIPPED") in pairs and ("held", "REFUSED") in pairs
    assert ("awaiting_payment", "SHIPPING") not in pairs and ("created", "SHIPPING") not in pairs
    for state in orders_domain.OrderState:
        for mp in ("WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED", "TO_COLLECT",
                   "RECEIVED", "CLOSED", "REFUSED", "CANCELED", "STAGING", "INCIDENT_OPEN"):
            assert ((state.value, mp) in pairs) is orders_domain.behind_marketplace(state, mp), (state, mp)
