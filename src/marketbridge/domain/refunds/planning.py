"""The refund rules themselves: a credit memo becomes planned OR28 lines, or problems for finance;
and the search for a refund we may have sent already. See the package docstring for the rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal

from marketbridge.domain.issues import IssueType
from marketbridge.domain.refunds.issue_types import REFUND_ADJUSTMENT_UNALLOCATED, REFUND_NOT_SENT
from marketbridge.domain.refunds.model import (
    NOT_YET_SHIPPED_STATES,
    AdjustmentPolicy,
    CreditMemo,
    LineRefund,
    LineTax,
    MarketLine,
    MarketOrder,
    MemoItem,
    PlannedLine,
    Problem,
    ProblemCode,
    RefundPlan,
    RefundRules,
    TaxMode,
    fmt_money,
    to_pence,
)


# ============================================================================ allocation
def allocate(total: int, weights: Sequence[int], caps: Sequence[int]) -> list[int] | None:
    """Split ``total`` pence (>= 0) over slots in proportion to ``weights``, never above ``caps``.

    Largest-remainder rounding; a share that does not fit under its cap moves to the slots that
    still have room (in proportion to their weights, or in order when they weigh nothing).
    Returns ``None`` when the caps together cannot carry ``total``. The result always sums to
    ``total`` exactly.
    """
    if total < 0 or len(weights) != len(caps) or any(c < 0 for c in caps) or any(w < 0 for w in weights):
        raise ValueError("allocate() needs total >= 0 and non-negative weights and caps of equal length")
    if total == 0:
        return [0] * len(caps)
    if sum(caps) < total:
        return None
    shares = [0] * len(caps)
    remaining = total
    open_slots = [i for i in range(len(caps)) if caps[i] > 0]
    # each round either places everything or fills at least one slot to its cap, so it ends
    while remaining > 0 and open_slots:
        slot_weights = [weights[i] for i in open_slots]
        if sum(slot_weights) == 0:
            slot_weights = [1] * len(open_slots)
        weight_total = sum(slot_weights)
        raw = [remaining * w for w in slot_weights]
        base = [r // weight_total for r in raw]
        order = sorted(range(len(open_slots)), key=lambda k: (-(raw[k] % weight_total), k))
        for k in order[: remaining - sum(base)]:
            base[k] += 1
        for k, i in enumerate(open_slots):
            give = min(base[k], caps[i] - shares[i])
            shares[i] += give
            remaining -= give
        open_slots = [i for i in open_slots if shares[i] < caps[i]]
    return shares if remaining == 0 else None


def tax_in(amount: int, tax: LineTax, line_amount: Decimal, mode: TaxMode) -> int:
    """Tax contained in a refund of ``amount`` pence on a line with ``tax`` (see rule 5)."""
    if amount <= 0:
        return 0
    if tax.rate is not None and tax.rate > 0:
        rate = Decimal(tax.rate)
        factor = rate / (100 + rate) if mode is TaxMode.TAX_INCLUDED else rate / 100
        return int((Decimal(amount) * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    base = to_pence(line_amount)
    if base <= 0:
        return 0
    share = Decimal(to_pence(tax.amount)) * amount / base
    return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def reason_code_for(comment: str, mapping: Mapping[str, str], default: str) -> str:
    """The RE01 refund reason for a memo: first mapping keyword found in its comments, else default."""
    text = (comment or "").casefold()
    for keyword, code in mapping.items():
        if keyword and keyword.casefold() in text:
            return code
    return default


# ============================================================================ the plan
def _line_label(line: MarketLine) -> str:
    return f"line {line.line_id} ({line.sku})"


def _closed(order: MarketOrder, line_id: str | None = None) -> Problem:
    return Problem(ProblemCode.ORDER_CLOSED,
                   f"Order {order.order_id} is closed: the refund must be made through John Lewis.", line_id)


def check_line(order: MarketOrder, line: MarketLine, amount: int, shipping: int) -> list[Problem]:
    """Rule 7 for one line; messages are for finance, in plain English."""
    cur = order.currency
    if order.state == "CLOSED" or line.state == "CLOSED":
        return [_closed(order, line.line_id)]
    if not line.in_refundable_state:
        if line.state == "REFUNDED" or (line.amount_left == 0 and line.refunded > 0 and amount > 0):
            return [Problem(ProblemCode.ALREADY_REFUNDED,
                            f"{_line_label(line).capitalize()} of order {order.order_id} has already been fully refunded.",
                            line.line_id)]
        if line.state in NOT_YET_SHIPPED_STATES and order.can_cancel is False:
            hint = ("it has not been shipped yet, and John Lewis allows neither a refund nor a cancellation of this "
                    "order at the moment; ask John Lewis")
        elif line.state in NOT_YET_SHIPPED_STATES:
            hint = "it has not been shipped yet, so it must be cancelled rather than refunded"
            if order.can_cancel:
                hint += " (John Lewis allows cancelling this order)"
        elif line.state in ("CANCELED", "REFUSED"):
            hint = f"it was {line.state.lower()} and nothing was paid for it"
        else:
            hint = f"the marketplace has it in state {line.state}"
        return [Problem(ProblemCode.LINE_NOT_REFUNDABLE,
                        f"{_line_label(line).capitalize()} of order {order.order_id} cannot be refunded: {hint}.",
                        line.line_id)]
    if line.can_refund is False and line.amount_left > 0:
        # the state allows it, the marketplace does not (a dispute, a return in progress, an
        # operator rule): sending OR28 would only fail, so finance hears it in plain words
        return [Problem(ProblemCode.LINE_NOT_REFUNDABLE,
                        f"{_line_label(line).capitalize()} of order {order.order_id} cannot be refunded: John Lewis "
                        "reports it as not refundable at the moment; ask John Lewis, or refund it through them.",
                        line.line_id)]
    problems: list[Problem] = []
    if amount > 0 and line.amount_left == 0:
        problems.append(Problem(ProblemCode.ALREADY_REFUNDED,
                                f"{_line_label(line).capitalize()} of order {order.order_id} has already been fully refunded.",
                                line.line_id))
    elif amount > line.amount_left:
        earlier = []
        if line.refunded:
            earlier.append(f"{fmt_money(line.refunded, cur)} already refunded")
        if line.canceled:
            earlier.append(f"{fmt_money(line.canceled, cur)} cancelled")
        after = f" (after {' and '.join(earlier)})" if earlier else ""
        problems.append(Problem(
            ProblemCode.EXCEEDS_REMAINING,
            f"The refund of {fmt_money(amount, cur)} on {_line_label(line)} of order {order.order_id} is more than the "
            f"{fmt_money(line.amount_left, cur)} that remains refundable{after}.",
            line.line_id,
        ))
    if shipping > line.shipping_left:
        problems.append(Problem(
            ProblemCode.SHIPPING_EXCEEDS_REMAINING,
            f"The delivery refund of {fmt_money(shipping, cur)} on {_line_label(line)} of order {order.order_id} is more "
            f"than the {fmt_money(line.shipping_left, cur)} of delivery that remains refundable.",
            line.line_id,
        ))
    return problems


def _spread_items(memo: CreditMemo, order: MarketOrder, plan: RefundPlan) -> dict[str, PlannedLine]:
    planned: dict[str, PlannedLine] = {}
    for item in memo.items:
        if item.qty <= 0:
            continue
        candidates = [line for line in order.lines if line.matches(item.sku)]
        if not candidates:
            plan.problems.append(Problem(
                ProblemCode.SKU_NOT_ON_ORDER,
                f"The credit memo refunds SKU {item.sku}, which is not on marketplace order {order.order_id}.",
            ))
            continue
        parts: list[tuple[MarketLine, int]] = []
        need = item.qty
        for line in candidates:
            take = min(need, line.quantity_left)
            if take > 0:
                parts.append((line, take))
                need -= take
            if need == 0:
                break
        if need > 0:
            last = candidates[-1]
            if parts and parts[-1][0] is last:
                parts[-1] = (last, parts[-1][1] + need)
            else:
                parts.append((last, need))
        total = item.amount(order.tax_mode)
        given = 0
        for index, (line, qty) in enumerate(parts):
            share = total - given if index == len(parts) - 1 else total * qty // item.qty
            given += share
            share = at_marketplace_price(share, item, line, order.tax_mode)
            entry = planned.setdefault(line.line_id, PlannedLine(line.line_id, line.sku))
            entry.quantity += qty
            entry.item_amount += share
    return planned


def at_marketplace_price(amount: int, item: MemoItem, line: MarketLine, mode: TaxMode) -> int:
    """``amount`` pence of ``item`` (at Magento's unit price) in the marketplace line's unit price."""
    gross = item.row_total_incl_tax if mode is TaxMode.TAX_INCLUDED else item.row_total
    if item.qty <= 0 or line.quantity <= 0 or gross <= 0:
        return amount
    magento_unit = Decimal(to_pence(gross)) / item.qty
    market_unit = Decimal(to_pence(line.price)) / line.quantity
    if abs(magento_unit - market_unit) <= 1:
        return amount
    return int((Decimal(amount) * market_unit / magento_unit).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _place_shipping(memo: CreditMemo, order: MarketOrder, planned: dict[str, PlannedLine], plan: RefundPlan) -> None:
    shipping = memo.shipping_amount(order.tax_mode)
    if shipping <= 0:
        return
    refunded_first = [line for line in order.lines if line.line_id in planned]
    others = [line for line in order.lines if line.line_id not in planned and line.in_refundable_state]
    left = shipping
    for line in refunded_first + others:
        take = min(left, line.shipping_left) if line.in_refundable_state else 0
        if take > 0:
            planned.setdefault(line.line_id, PlannedLine(line.line_id, line.sku)).shipping_amount += take
            left -= take
        if left == 0:
            return
    available = sum(line.shipping_left for line in order.lines if line.in_refundable_state)
    if not any(line.in_refundable_state for line in order.lines) and any(
            line.state == "CLOSED" for line in order.lines):
        plan.problems.append(_closed(order))
        return
    plan.problems.append(Problem(
        ProblemCode.SHIPPING_EXCEEDS_REMAINING,
        f"The delivery refund of {fmt_money(shipping, order.currency)} on order {order.order_id} is more than the "
        f"{fmt_money(available, order.currency)} of delivery that remains refundable"
        + (": delivery has already been refunded." if available == 0 else "."),
    ))


def _place_adjustment(memo: CreditMemo, order: MarketOrder, planned: dict[str, PlannedLine], plan: RefundPlan,
                      policy: AdjustmentPolicy) -> None:
    net = memo.net_adjustment
    if net == 0:
        return
    cur = order.currency
    kind = "adjustment refund" if net > 0 else "adjustment fee"
    item_lines = [p for p in planned.values() if p.item_amount > 0]
    if policy is AdjustmentPolicy.FLAG:
        plan.problems.append(Problem(
            ProblemCode.ADJUSTMENT_UNALLOCATED,
            f"The credit memo has an {kind} of {fmt_money(abs(net), cur)}; adjustments are set to go to finance "
            "rather than be spread over the order lines.",
        ))
        return
    if not item_lines:
        plan.problems.append(Problem(
            ProblemCode.ADJUSTMENT_UNALLOCATED,
            f"The credit memo has an {kind} of {fmt_money(abs(net), cur)} but refunds no items of order "
            f"{order.order_id}, so there is no order line to put it on.",
        ))
        return
    weights = [p.item_amount for p in item_lines]
    if net > 0:
        caps = []
        for p in item_lines:
            line = order.line(p.line_id)
            caps.append(max(0, (line.amount_left if line else 0) - p.item_amount))
        shares = allocate(net, weights, caps)
        if shares is None:
            # more than the lines have left: place it anyway, in proportion, so that the line check
            # reports the over-refund with its amounts (rule 7) and nothing is sent
            shares = allocate(net, weights, [net] * len(item_lines))
    else:
        shares = allocate(-net, weights, [p.item_amount for p in item_lines])
        shares = None if shares is None else [-s for s in shares]
    if shares is None:
        plan.problems.append(Problem(
            ProblemCode.ADJUSTMENT_UNALLOCATED,
            f"The credit memo's {kind} of {fmt_money(abs(net), cur)} does not fit on the refunded lines of order "
            f"{order.order_id} (they do not have that much left to refund).",
        ))
        return
    for p, share in zip(item_lines, shares, strict=True):
        p.adjustment += share


def _taxes(order: MarketOrder, planned: dict[str, PlannedLine], tax_rule: str) -> None:
    for p in planned.values():
        line = order.line(p.line_id)
        if line is None:
            continue
        if tax_rule == "none" or any((t.rule or "").lower() == "none" for t in line.taxes):
            p.taxes = [(t.code, tax_in(p.amount, t, line.price, order.tax_mode)) for t in line.taxes]
        if tax_rule == "none" or any((t.rule or "").lower() == "none" for t in line.shipping_taxes):
            p.shipping_taxes = [(t.code, tax_in(p.shipping_amount, t, line.shipping_price, order.tax_mode))
                                for t in line.shipping_taxes]


def plan_refund(memo: CreditMemo, order: MarketOrder, rules: RefundRules) -> RefundPlan:
    """The OR28 lines for ``memo`` on ``order``, or the problems that stop it (rules 1-7 above)."""
    plan = RefundPlan(memo.creditmemo_id, order.order_id, order.tax_mode)
    if order.state == "CLOSED":
        plan.problems.append(_closed(order))
        return plan
    if memo.currency and order.currency and memo.currency.upper() != order.currency.upper():
        plan.problems.append(Problem(
            ProblemCode.CURRENCY_MISMATCH,
            f"The credit memo is in {memo.currency} but marketplace order {order.order_id} is in {order.currency}.",
        ))
        return plan
    planned = _spread_items(memo, order, plan)
    _place_shipping(memo, order, planned, plan)
    _place_adjustment(memo, order, planned, plan, rules.adjustment_policy)
    reason = reason_code_for(memo.comment, rules.reason_map, rules.default_reason)
    for p in planned.values():
        p.reason_code = reason
    _taxes(order, planned, rules.tax_rule)
    for p in planned.values():
        line = order.line(p.line_id)
        if line is not None:
            plan.problems.extend(check_line(order, line, p.amount, p.shipping_amount))
    plan.lines = sorted((p for p in planned.values() if p.amount > 0 or p.shipping_amount > 0),
                        key=lambda p: [line.line_id for line in order.lines].index(p.line_id))
    if not plan.lines and not plan.problems:
        plan.problems.append(Problem(ProblemCode.NOTHING_TO_REFUND,
                                     f"The credit memo refunds nothing that can be sent to order {order.order_id}."))
    # one message per problem, closed-order first (it explains everything else)
    seen: set[str] = set()
    unique = []
    for problem in sorted(plan.problems, key=lambda p: p.code is not ProblemCode.ORDER_CLOSED):
        if problem.message not in seen:
            seen.add(problem.message)
            unique.append(problem)
    if any(p.code is ProblemCode.ORDER_CLOSED for p in unique):
        unique = [p for p in unique if p.code is ProblemCode.ORDER_CLOSED][:1]
    plan.problems = unique
    return plan


def problem_issue_type(problems: Sequence[Problem]) -> IssueType:
    """Which issue type a failed plan raises."""
    if problems and all(p.code is ProblemCode.ADJUSTMENT_UNALLOCATED for p in problems):
        return REFUND_ADJUSTMENT_UNALLOCATED
    return REFUND_NOT_SENT


# ============================================================================ never doubled
def matching_refunds(
    line: MarketLine,
    planned: PlannedLine,
    *,
    known_ids: set[str],
    not_before: dt.datetime | None,
) -> list[LineRefund]:
    """Refunds on ``line`` that could be the one we sent for ``planned`` (after an ambiguous failure).

    A candidate is not in our ledger (``known_ids``), has the same amount, shipping and reason code,
    and was created no earlier than ``not_before`` (the send attempt minus a clock-skew margin).
    """
    found = []
    for refund in line.refunds:
        if refund.refund_id in known_ids:
            continue
        if to_pence(refund.amount) != planned.amount or to_pence(refund.shipping_amount) != planned.shipping_amount:
            continue
        if refund.reason_code and planned.reason_code and refund.reason_code != planned.reason_code:
            continue
        if not_before is not None and refund.created is not None and refund.created < not_before:
            continue
        found.append(refund)
    return found
