"""Refund arithmetic: credit memo -> OR28 lines, validation messages, adjustment allocation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from marketbridge.domain.refunds import (
    REFUND_ADJUSTMENT_UNALLOCATED,
    REFUND_NOT_SENT,
    AdjustmentPolicy,
    CreditMemo,
    LineCancelation,
    LineRefund,
    LineTax,
    MarketLine,
    MarketOrder,
    MemoItem,
    PlannedLine,
    ProblemCode,
    RefundRules,
    TaxMode,
    allocate,
    at_marketplace_price,
    matching_refunds,
    plan_refund,
    problem_issue_type,
    reason_code_for,
)

RULES = RefundRules(reason_map={"damaged": "17", "goodwill": "18"}, default_reason="16")


def line(line_id="L-1", sku="SKU-A", qty=2, price="40.00", shipping="4.50", state="SHIPPED", refunds=(),
         cancelations=(), taxes=()) -> MarketLine:
    return MarketLine(line_id, sku, qty, D(price), D(shipping), state, refunds=tuple(refunds),
                      cancelations=tuple(cancelations), taxes=tuple(taxes))


def order(*lines, state="SHIPPED", mode=TaxMode.TAX_INCLUDED, currency="GBP") -> MarketOrder:
    return MarketOrder("JL-1-A", state, currency, mode, tuple(lines))


def memo(*items, shipping="0", adj_pos="0", adj_neg="0", comment="", currency="GBP") -> CreditMemo:
    return CreditMemo(7, "000000007", currency, tuple(items), shipping=D(shipping), shipping_incl_tax=D(shipping),
                      adjustment_positive=D(adj_pos), adjustment_negative=D(adj_neg), comment=comment)


def item(sku="SKU-A", qty=1, total="20.00", excl=None, discount="0") -> MemoItem:
    return MemoItem(sku, qty, D(excl or total), D(total), D(discount))


def test_full_refund_with_shipping():
    plan = plan_refund(memo(item(qty=2, total="40.00"), shipping="4.50"), order(line()), RULES)
    assert plan.ok, plan.problems
    [out] = plan.lines
    assert (out.line_id, out.quantity, out.amount, out.shipping_amount, out.reason_code) == ("L-1", 2, 4000, 450, "16")
    assert out.wire() == {"order_line_id": "L-1", "amount": 40.0, "shipping_amount": 4.5, "reason_code": "16",
                          "quantity": 2}


def test_partial_quantity_refunds_only_that_part_and_no_shipping():
    plan = plan_refund(memo(item(qty=1, total="20.00")), order(line()), RULES)
    assert plan.ok
    assert [(p.quantity, p.amount, p.shipping_amount) for p in plan.lines] == [(1, 2000, 0)]


def test_shipping_only_refund_goes_to_the_line_that_carries_shipping():
    second = line("L-2", "SKU-B", 1, "10.00", "0")
    plan = plan_refund(memo(shipping="4.50"), order(line(), second), RULES)
    assert plan.ok, plan.problems
    assert [(p.line_id, p.amount, p.shipping_amount) for p in plan.lines] == [("L-1", 0, 450)]


def test_positive_adjustment_is_spread_in_proportion_to_item_amounts():
    lines = (line("L-1", "SKU-A", 2, "40.00"), line("L-2", "SKU-B", 2, "20.00", "0"))
    plan = plan_refund(memo(item("SKU-A", 1, "20.00"), item("SKU-B", 1, "10.00"), adj_pos="3.00"), order(*lines), RULES)
    assert plan.ok, plan.problems
    assert [(p.line_id, p.item_amount, p.adjustment, p.amount) for p in plan.lines] == [
        ("L-1", 2000, 200, 2200), ("L-2", 1000, 100, 1100)]


def test_negative_adjustment_reduces_the_lines():
    plan = plan_refund(memo(item(qty=2, total="40.00"), adj_neg="5.00"), order(line()), RULES)
    assert plan.ok
    assert plan.lines[0].amount == 3500


def test_adjustment_without_items_is_flagged_for_finance():
    plan = plan_refund(memo(adj_pos="5.00"), order(line()), RULES)
    assert not plan.ok
    assert [p.code for p in plan.problems] == [ProblemCode.ADJUSTMENT_UNALLOCATED]
    assert problem_issue_type(plan.problems) is REFUND_ADJUSTMENT_UNALLOCATED


def test_adjustment_flag_policy_holds_every_adjustment():
    rules = RefundRules(adjustment_policy=AdjustmentPolicy.FLAG)
    plan = plan_refund(memo(item(), adj_pos="1.00"), order(line()), rules)
    assert [p.code for p in plan.problems] == [ProblemCode.ADJUSTMENT_UNALLOCATED]


def test_two_successive_partial_refunds_then_an_over_refund():
    first = LineRefund("5001", D("20.00"), D("0"), quantity=1)
    plan = plan_refund(memo(item(qty=1, total="20.00")), order(line(refunds=[first])), RULES)
    assert plan.ok and plan.lines[0].amount == 2000
    second = LineRefund("5002", D("20.00"), D("0"), quantity=1)
    plan = plan_refund(memo(item(qty=1, total="20.00")), order(line(refunds=[first, second])), RULES)
    assert not plan.ok
    assert plan.problems[0].code is ProblemCode.ALREADY_REFUNDED
    assert "has already been fully refunded" in plan.problems[0].message
    assert problem_issue_type(plan.problems) is REFUND_NOT_SENT


def test_refund_larger_than_what_remains_names_both_amounts():
    earlier = LineRefund("5001", D("30.00"), D("0"), quantity=1)
    cancel = LineCancelation(D("0"), D("0"))
    plan = plan_refund(memo(item(qty=1, total="20.00")), order(line(refunds=[earlier], cancelations=[cancel])), RULES)
    [problem] = plan.problems
    assert problem.code is ProblemCode.EXCEEDS_REMAINING
    assert "£20.00" in problem.message and "£10.00 that remains refundable" in problem.message
    assert "£30.00 already refunded" in problem.message


def test_closed_order_must_be_refunded_through_john_lewis():
    plan = plan_refund(memo(item(), shipping="4.50"), order(line(state="CLOSED"), state="CLOSED"), RULES)
    assert [p.message for p in plan.problems] == [
        "Order JL-1-A is closed: the refund must be made through John Lewis."]


def test_unshipped_line_must_be_cancelled_instead():
    plan = plan_refund(memo(item()), order(line(state="SHIPPING"), state="SHIPPING"), RULES)
    assert plan.problems[0].code is ProblemCode.LINE_NOT_REFUNDABLE
    assert "cancelled rather than refunded" in plan.problems[0].message


def test_unknown_sku_and_currency_mismatch():
    plan = plan_refund(memo(item("NOPE")), order(line()), RULES)
    assert plan.problems[0].code is ProblemCode.SKU_NOT_ON_ORDER
    plan = plan_refund(memo(item(), currency="EUR"), order(line()), RULES)
    assert plan.problems[0].code is ProblemCode.CURRENCY_MISMATCH


def test_shipping_beyond_what_remains_is_refused():
    done = LineRefund("5001", D("0"), D("4.50"))
    plan = plan_refund(memo(shipping="4.50"), order(line(refunds=[done])), RULES)
    assert plan.problems[0].code is ProblemCode.SHIPPING_EXCEEDS_REMAINING
    assert "already been refunded" in plan.problems[0].message


def test_quantity_spreads_over_two_lines_of_the_same_sku():
    lines = (line("L-1", "SKU-A", 1, "20.00", "0"), line("L-2", "SKU-A", 2, "40.00", "0"))
    plan = plan_refund(memo(item("SKU-A", 3, "60.00")), order(*lines), RULES)
    assert plan.ok
    assert [(p.line_id, p.quantity, p.amount) for p in plan.lines] == [("L-1", 1, 2000), ("L-2", 2, 4000)]


def test_tax_excluded_mode_uses_amounts_without_tax():
    plan = plan_refund(memo(item(qty=1, total="24.00", excl="20.00")), order(line(price="40.00"), mode=TaxMode.TAX_EXCLUDED),
                       RULES)
    assert plan.lines[0].amount == 2000


def test_taxes_are_sent_only_when_the_rule_is_none():
    vat = LineTax("VAT", D("6.67"), D("20"))
    o = order(line(price="48.00", taxes=[vat]))  # 24.00 a unit including tax
    assert plan_refund(memo(item(total="24.00")), o, RULES).lines[0].taxes == []
    rules = RefundRules(tax_rule="none")
    planned = plan_refund(memo(item(total="24.00")), o, rules).lines[0]
    assert planned.taxes == [("VAT", 400)]
    excluded = plan_refund(memo(item(total="24.00", excl="20.00")), order(line(taxes=[vat]), mode=TaxMode.TAX_EXCLUDED),
                           rules).lines[0]
    assert excluded.taxes == [("VAT", 400)]
    assert excluded.wire()["taxes"] == [{"code": "VAT", "amount": 4.0}]


def test_reason_code_mapping_from_the_memo_comment():
    assert reason_code_for("Parcel arrived DAMAGED", {"damaged": "17"}, "16") == "17"
    assert reason_code_for("", {"damaged": "17"}, "16") == "16"
    plan = plan_refund(memo(item(), comment="goodwill after delay"), order(line()), RULES)
    assert plan.lines[0].reason_code == "18"


def test_planned_line_round_trips_through_json():
    original = PlannedLine("L-1", "SKU-A", 2, 4000, -100, 450, "16", [("VAT", 650)], [("VAT", 75)])
    assert PlannedLine.from_json(original.as_json()) == original


def test_matching_refunds_ignores_known_ids_and_earlier_refunds():
    at = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    ours = LineRefund("9", D("20.00"), D("0"), reason_code="16", created=at)
    old = LineRefund("8", D("20.00"), D("0"), reason_code="16", created=at - dt.timedelta(hours=1))
    other = LineRefund("7", D("19.00"), D("0"), reason_code="16", created=at)
    planned = PlannedLine("L-1", "SKU-A", 1, 2000, 0, 0, "16")
    mline = line(refunds=[old, other, ours])
    assert [r.refund_id for r in matching_refunds(mline, planned, known_ids=set(), not_before=at)] == ["9"]
    assert matching_refunds(mline, planned, known_ids={"9"}, not_before=at) == []


# ---------------------------------------------------------------- properties
amounts = st.lists(st.integers(min_value=0, max_value=100_000), min_size=1, max_size=6)


@given(total=st.integers(min_value=0, max_value=200_000), weights=amounts, data=st.data())
def test_allocation_sums_exactly_and_never_exceeds_a_cap(total, weights, data):
    caps = data.draw(st.lists(st.integers(min_value=0, max_value=100_000), min_size=len(weights), max_size=len(weights)))
    shares = allocate(total, weights, caps)
    if sum(caps) < total:
        assert shares is None
        return
    assert shares is not None
    assert sum(shares) == total
    assert all(0 <= s <= c for s, c in zip(shares, caps, strict=True))


@given(qty=st.integers(min_value=1, max_value=5), unit=st.integers(min_value=1, max_value=50_000),
       refund_qty=st.integers(min_value=1, max_value=5), adj=st.integers(min_value=-5_000, max_value=5_000),
       earlier=st.integers(min_value=0, max_value=250_000))
def test_a_valid_plan_never_refunds_more_than_remains(qty, unit, refund_qty, adj, earlier):
    price = D(unit * qty) / 100
    earlier = min(earlier, unit * qty)
    refunds = [LineRefund("1", D(earlier) / 100, D("0"))] if earlier else []
    mline = line(qty=qty, price=str(price), refunds=refunds)
    memo_ = memo(item(qty=refund_qty, total=str(D(unit * refund_qty) / 100)),
                 adj_pos=str(D(max(adj, 0)) / 100), adj_neg=str(D(max(-adj, 0)) / 100))
    plan = plan_refund(memo_, order(mline), RULES)
    if plan.ok:
        for p in plan.lines:
            assert 0 <= p.amount <= mline.amount_left
            assert 0 <= p.shipping_amount <= mline.shipping_left
        assert sum(p.adjustment for p in plan.lines) == memo_.net_adjustment
    else:
        assert all(p.message for p in plan.problems)


def test_adjustment_beyond_what_remains_is_reported_as_an_over_refund():
    refunded = LineRefund("5001", D("20.00"), D("0"), quantity=1)
    plan = plan_refund(memo(item(qty=1, total="20.00"), adj_pos="10.00"), order(line(refunds=[refunded])), RULES)
    [problem] = plan.problems
    assert problem.code is ProblemCode.EXCEEDS_REMAINING
    assert "£30.00" in problem.message and "£20.00 that remains refundable" in problem.message


def test_shipping_only_refund_on_a_closed_order_names_the_closure():
    plan = plan_refund(memo(shipping="4.50"), order(line(state="CLOSED"), state="RECEIVED"), RULES)
    assert [p.code for p in plan.problems] == [ProblemCode.ORDER_CLOSED]


def test_a_unit_repriced_in_magento_is_refunded_at_the_price_the_customer_paid():
    # Sold on the marketplace at 20.00 a unit; Adobe Commerce's cart took the new price, 35.00.
    plan = plan_refund(memo(item(qty=1, total="35.00")), order(line(qty=2, price="40.00")), RULES)
    assert plan.ok, plan.problems
    assert [(p.quantity, p.amount) for p in plan.lines] == [(1, 2000)]
    # a discounted part of the unit: the same part of what was paid (35.00 - 7.00 = 4/5 of it)
    plan = plan_refund(memo(item(qty=1, total="35.00", discount="7.00")), order(line(qty=2, price="40.00")), RULES)
    assert [(p.quantity, p.amount) for p in plan.lines] == [(1, 1600)]


def test_a_penny_of_rounding_between_unit_prices_is_not_a_reprice():
    plan = plan_refund(memo(item(qty=3, total="10.00")), order(line(qty=3, price="9.99")), RULES)
    assert [(p.quantity, p.amount) for p in plan.lines] == [(3, 1000)] or not plan.ok
    assert at_marketplace_price(1000, item(qty=3, total="10.00"), line(qty=3, price="9.99"), TaxMode.TAX_INCLUDED) == 1000
