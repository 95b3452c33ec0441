"""The refund rules trust the marketplace's own flags: a line's ``can_refund`` (OR11) and the
order's ``can_cancel``. An operator that refunds before shipping says so with ``can_refund`` true on
a SHIPPING line; a line it will not refund now says ``can_refund`` false, and the memo is held for
finance with that reason instead of failing at OR28."""

from __future__ import annotations

from decimal import Decimal as D

from marketbridge.domain.refunds import (
    REFUND_NOT_SENT,
    CreditMemo,
    MarketLine,
    MarketOrder,
    MemoItem,
    ProblemCode,
    RefundRules,
    TaxMode,
    plan_refund,
    problem_issue_type,
)

RULES = RefundRules(default_reason="16")


def _memo(total: str = "20.00", shipping: str = "0") -> CreditMemo:
    return CreditMemo(7, "000000007", "GBP", (MemoItem("SKU-A", 1, D(total), D(total)),), shipping=D(shipping),
                      shipping_incl_tax=D(shipping))


def _order(state: str, can_refund: bool | None, can_cancel: bool | None = None) -> MarketOrder:
    line = MarketLine("L-1", "SKU-A", 2, D("40.00"), D("4.50"), state, can_refund=can_refund)
    return MarketOrder("JL-1-A", state, "GBP", TaxMode.TAX_INCLUDED, (line,), can_cancel=can_cancel)


def test_a_shipping_line_the_marketplace_refunds_is_planned() -> None:
    plan = plan_refund(_memo(shipping="4.50"), _order("SHIPPING", can_refund=True), RULES)
    assert plan.problems == []
    assert [(p.line_id, p.amount, p.shipping_amount) for p in plan.lines] == [("L-1", 2000, 450)]


def test_a_shipped_line_the_marketplace_will_not_refund_is_held_for_finance() -> None:
    plan = plan_refund(_memo(), _order("SHIPPED", can_refund=False), RULES)
    assert not plan.ok
    assert [p.code for p in plan.problems] == [ProblemCode.LINE_NOT_REFUNDABLE]
    assert "reports it as not refundable" in plan.problems[0].message
    assert problem_issue_type(plan.problems) is REFUND_NOT_SENT  # finance's issue, not a failed call


def test_an_unshipped_line_says_whether_cancelling_is_possible() -> None:
    neither = plan_refund(_memo(), _order("SHIPPING", can_refund=False, can_cancel=False), RULES)
    assert "neither a refund nor a cancellation" in neither.problems[0].message
    cancel = plan_refund(_memo(), _order("SHIPPING", can_refund=False, can_cancel=True), RULES)
    assert "cancelled rather than refunded (John Lewis allows cancelling this order)" in cancel.problems[0].message


def test_without_the_flags_the_documented_states_decide() -> None:
    assert plan_refund(_memo(), _order("SHIPPED", can_refund=None), RULES).problems == []
    unknown = plan_refund(_memo(), _order("SHIPPING", can_refund=None), RULES)
    assert unknown.problems[0].code is ProblemCode.LINE_NOT_REFUNDABLE
