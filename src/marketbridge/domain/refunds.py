"""Pure rules of the refunds flow (no I/O): a Magento credit memo becomes OR28 refund lines.

Everything here works in pence (``int``) internally and takes/returns ``Decimal`` money at the
edges, so no float rounding can make a refund a penny larger than what remains.

The rules, in the order :func:`plan_refund` applies them
------------------------------------------------------------

1. **Lines by SKU and quantity.** Each credit-memo item is matched to the marketplace order lines
   whose ``offer_sku`` (or ``product_sku``) equals the item's SKU, in line order. Its quantity is
   spread greedily over those lines by the quantity each still has (ordered - refunded -
   cancelled); any excess lands on the last matching line, where the amount check below reports
   it. The item's amount is split between lines in proportion to the quantity given to each, the
   last part taking the rounding remainder.
2. **Item amount in the order's tax mode.** ``TAX_INCLUDED``: the memo row total including tax,
   less its discount. ``TAX_EXCLUDED``: the row total excluding tax, less its discount.
   **At the price the customer paid.** When the Adobe Commerce unit price differs from the
   marketplace line's unit price by more than a penny (the product was repriced between the sale
   and the order's creation: REST carts take Magento's price), the amount is converted at the
   ratio of the two unit prices: a whole unit refunded in Magento refunds the whole unit paid on
   the marketplace, a part of a unit the same part of it.
3. **Shipping.** The memo's shipping refund (including tax in ``TAX_INCLUDED``), zero when the
   memo refunds no shipping. It is placed greedily on the lines being refunded, in line order, up
   to the shipping each still has; what is left goes to the order's other refundable lines. More
   shipping than the order has left is a problem.
4. **Adjustments** (Magento's "adjustment refund" minus "adjustment fee"). With the ``allocate``
   policy the net adjustment is spread over the refunded item lines in proportion to their item
   amounts (largest remainder, to the penny): a positive adjustment is added to a line up to what
   that line still has refundable, a negative one is taken off a line down to zero; a share that
   does not fit moves to the other lines. A positive adjustment larger than the lines have left
   is an over-refund (reported by rule 7 with the amounts). When it cannot be placed at all (no
   item lines refunded, or a fee larger than the refunded items), or the policy is ``flag``, the
   memo is held for finance with ``adjustment_unallocated`` and nothing is sent.
5. **Taxes.** With the marketplace refund-tax rule ``none`` (or a line tax whose rule is ``none``)
   each refund line carries ``taxes``/``shipping_taxes``: the tax contained in the refunded amount
   at the line's tax rate (``amount x rate / (100 + rate)`` in ``TAX_INCLUDED``, ``amount x rate /
   100`` in ``TAX_EXCLUDED``), or pro rata to the line's tax amount when no rate is given. With
   ``proportional_to_amount`` no taxes are sent and Mirakl computes them.
6. **Reason code** from the memo's comments: the first keyword of the mapping found in them
   (case-insensitive) gives the RE01 code, else the default.
7. **Validation** per line before anything is sent: the line is refundable in its state (never
   CLOSED; SHIPPED, TO_COLLECT or RECEIVED), the amount and shipping do not exceed what remains
   after earlier refunds and cancellations, and the memo's currency is the order's currency.
   Every failure is a :class:`Problem` with a plain-English message for finance.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from marketbridge.domain.issues import IssueType, ObjectType, Severity, Team, issue_type
from marketbridge.domain.money import wire_number

PENNY = Decimal("0.01")
REFUNDABLE_LINE_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED"})
FINAL_REFUND_STATES = frozenset({"REFUNDED"})
NOT_YET_SHIPPED_STATES = frozenset(
    {"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"}
)


# ============================================================================ issue types
REFUND_NOT_SENT = issue_type(
    "refund_not_sent",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A credit memo could not be turned into a marketplace refund",
    meaning="A credit memo was made in Adobe Commerce for a John Lewis order, but marketbridge checked it "
    "against the marketplace order and found it cannot be refunded as it stands (for example the line "
    "has already been fully refunded, the order is closed, or the amount is more than what is left to "
    "refund). Nothing was sent to John Lewis, so the customer has not been refunded there.",
    action="Read the message: it says which line and why. Refund the customer through John Lewis if the "
    "order is closed, or correct or cancel the credit memo in Adobe Commerce. Resolve the exception when done.",
)
REFUND_REFUSED = issue_type(
    "refund_refused_by_marketplace",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="John Lewis refused a refund",
    meaning="marketbridge sent a refund for a credit memo and the marketplace answered that it cannot be "
    "made. No refund was created on the marketplace for this credit memo.",
    action="Read the marketplace's answer in the message, correct the cause (or refund through John Lewis), "
    "then resolve the exception.",
)
REFUND_ORDER_UNKNOWN = issue_type(
    "refund_order_unknown",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A credit memo refers to a marketplace order that cannot be found",
    meaning="The credit memo's order in Adobe Commerce carries a John Lewis order number, but that order "
    "does not exist on the marketplace (it was never imported by marketbridge, or the number was typed "
    "by hand). Nothing was sent.",
    action="Check the order number on the Adobe Commerce order. If the customer bought on John Lewis, "
    "refund them through John Lewis directly.",
)
REFUND_ADJUSTMENT_UNALLOCATED = issue_type(
    "refund_adjustment_unallocated",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A credit memo's adjustment needs a decision from finance",
    meaning="The credit memo has an adjustment refund or an adjustment fee that marketbridge cannot place on "
    "the marketplace order lines by its rule (for example an adjustment with no items refunded, or more "
    "than the lines have left). The whole credit memo is held; nothing was sent.",
    action="Decide how the adjustment should be refunded: refund it through John Lewis, or replace the "
    "credit memo with one whose adjustment fits the refunded lines.",
)
MARKETPLACE_REFUND = issue_type(
    "marketplace_refund_recorded",
    owner=Team.FINANCE,
    severity=Severity.INFO,
    object_type=ObjectType.REFUND,
    title="A refund was made on the marketplace, not from a credit memo",
    meaning="John Lewis (an operator, after an incident, or a cancellation) refunded a customer on an "
    "order line without a credit memo from us. marketbridge recorded it so the books can match.",
    action="If Adobe Commerce should show this refund, create the matching credit memo with "
    "`marketbridge refunds mirror <refund id>` (or the button on the refund). Otherwise resolve it.",
)
REFUND_DELAYED = issue_type(
    "refund_delayed",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A refund could not be sent yet",
    meaning="A credit memo is ready to go to John Lewis, but the marketplace did not answer or answered with an "
    "error several times in a row. marketbridge keeps trying and will never send it twice; the customer "
    "has not been refunded on the marketplace yet.",
    action="Usually nothing: it clears by itself when the marketplace answers. If it stays, run "
    "`marketbridge check` and look at the technical detail.",
)
REFUND_NOT_COMPLETED = issue_type(
    "refund_not_completed",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.REFUND,
    title="A marketplace refund has not been paid out",
    meaning="A refund we sent to John Lewis is still waiting to be paid to the customer long after it was "
    "created.",
    action="Ask John Lewis marketplace support why the refund is still waiting.",
)


# ============================================================================ money helpers
def to_pence(value: Decimal | float | int | str) -> int:
    """Money to whole pence, half-up (floats go through ``str`` so 0.1 stays 0.1)."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_pence(pence: int) -> Decimal:
    return (Decimal(pence) / 100).quantize(PENNY)


_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}


def fmt_money(value: Decimal | int, currency: str = "GBP") -> str:
    """``£12.50`` for people (pence when given an ``int``)."""
    amount = from_pence(value) if isinstance(value, int) else Decimal(value).quantize(PENNY)
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


# ============================================================================ inputs
class TaxMode(enum.StrEnum):
    TAX_INCLUDED = "TAX_INCLUDED"
    TAX_EXCLUDED = "TAX_EXCLUDED"


class AdjustmentPolicy(enum.StrEnum):
    ALLOCATE = "allocate"
    FLAG = "flag"


@dataclass(frozen=True)
class MemoItem:
    """One credit-memo row (simple product or configurable parent; children carry no price)."""

    sku: str
    qty: int
    row_total: Decimal  # excluding tax
    row_total_incl_tax: Decimal
    discount: Decimal = Decimal(0)

    def amount(self, mode: TaxMode) -> int:
        gross = self.row_total_incl_tax if mode is TaxMode.TAX_INCLUDED else self.row_total
        return max(0, to_pence(gross) - to_pence(self.discount))


@dataclass(frozen=True)
class CreditMemo:
    creditmemo_id: int
    increment_id: str
    currency: str
    items: tuple[MemoItem, ...]
    shipping: Decimal = Decimal(0)  # excluding tax
    shipping_incl_tax: Decimal = Decimal(0)
    adjustment_positive: Decimal = Decimal(0)
    adjustment_negative: Decimal = Decimal(0)
    comment: str = ""

    def shipping_amount(self, mode: TaxMode) -> int:
        return to_pence(self.shipping_incl_tax if mode is TaxMode.TAX_INCLUDED else self.shipping)

    @property
    def net_adjustment(self) -> int:
        return to_pence(self.adjustment_positive) - to_pence(self.adjustment_negative)


@dataclass(frozen=True)
class LineTax:
    code: str
    amount: Decimal
    rate: Decimal | None = None
    rule: str | None = None  # tax_calculation_rule as Mirakl sends it


@dataclass(frozen=True)
class LineRefund:
    """A refund already on a marketplace line (ours or the operator's)."""

    refund_id: str
    amount: Decimal
    shipping_amount: Decimal
    quantity: int = 0
    state: str = "WAITING_REFUND"
    reason_code: str | None = None
    created: dt.datetime | None = None


@dataclass(frozen=True)
class LineCancelation:
    amount: Decimal
    shipping_amount: Decimal
    quantity: int = 0


@dataclass(frozen=True)
class MarketLine:
    line_id: str
    sku: str
    quantity: int
    price: Decimal  # line amount (unit x qty) in the order's tax mode, shipping excluded
    shipping_price: Decimal
    state: str
    product_sku: str | None = None
    refunds: tuple[LineRefund, ...] = ()
    cancelations: tuple[LineCancelation, ...] = ()
    taxes: tuple[LineTax, ...] = ()
    shipping_taxes: tuple[LineTax, ...] = ()

    @property
    def refunded(self) -> int:
        return sum(to_pence(r.amount) for r in self.refunds)

    @property
    def canceled(self) -> int:
        return sum(to_pence(c.amount) for c in self.cancelations)

    @property
    def amount_left(self) -> int:
        """Line total - refunds - cancellations, in pence (never below zero)."""
        return max(0, to_pence(self.price) - self.refunded - self.canceled)

    @property
    def shipping_left(self) -> int:
        used = sum(to_pence(r.shipping_amount) for r in self.refunds) + sum(
            to_pence(c.shipping_amount) for c in self.cancelations
        )
        return max(0, to_pence(self.shipping_price) - used)

    @property
    def quantity_left(self) -> int:
        used = sum(r.quantity or 0 for r in self.refunds) + sum(c.quantity or 0 for c in self.cancelations)
        return max(0, self.quantity - used)

    def matches(self, sku: str) -> bool:
        return sku in (self.sku, self.product_sku)


@dataclass(frozen=True)
class MarketOrder:
    order_id: str
    state: str
    currency: str
    tax_mode: TaxMode
    lines: tuple[MarketLine, ...]

    def line(self, line_id: str) -> MarketLine | None:
        return next((line for line in self.lines if line.line_id == line_id), None)


@dataclass(frozen=True)
class RefundRules:
    """The knobs of :func:`plan_refund`, from settings."""

    tax_rule: str = "proportional_to_amount"  # or "none"
    adjustment_policy: AdjustmentPolicy = AdjustmentPolicy.ALLOCATE
    reason_map: Mapping[str, str] = field(default_factory=dict)
    default_reason: str = "16"


# ============================================================================ outputs
class ProblemCode(enum.StrEnum):
    ORDER_CLOSED = "order_closed"
    LINE_NOT_REFUNDABLE = "line_not_refundable"
    ALREADY_REFUNDED = "already_refunded"
    EXCEEDS_REMAINING = "exceeds_remaining"
    SHIPPING_EXCEEDS_REMAINING = "shipping_exceeds_remaining"
    SKU_NOT_ON_ORDER = "sku_not_on_order"
    CURRENCY_MISMATCH = "currency_mismatch"
    ADJUSTMENT_UNALLOCATED = "adjustment_unallocated"
    NOTHING_TO_REFUND = "nothing_to_refund"
    REASON_INVALID = "reason_invalid"


@dataclass(frozen=True)
class Problem:
    code: ProblemCode
    message: str
    line_id: str | None = None


@dataclass
class PlannedLine:
    """One OR28 refund line, amounts in pence."""

    line_id: str
    sku: str
    quantity: int = 0
    item_amount: int = 0
    adjustment: int = 0
    shipping_amount: int = 0
    reason_code: str = ""
    taxes: list[tuple[str, int]] = field(default_factory=list)
    shipping_taxes: list[tuple[str, int]] = field(default_factory=list)

    @property
    def amount(self) -> int:
        return self.item_amount + self.adjustment

    def wire(self, currency: str | None = None) -> dict[str, object]:
        """The OR28 ``refunds[]`` element (JSON numbers with two decimals, from exact pence)."""
        body: dict[str, object] = {
            "order_line_id": self.line_id,
            "amount": wire_number(from_pence(self.amount)),
            "shipping_amount": wire_number(from_pence(self.shipping_amount)),
            "reason_code": self.reason_code,
            "quantity": self.quantity,
        }
        if currency:
            body["currency_iso_code"] = currency
        if self.taxes:
            body["taxes"] = [{"code": c, "amount": wire_number(from_pence(a))} for c, a in self.taxes]
        if self.shipping_taxes:
            body["shipping_taxes"] = [{"code": c, "amount": wire_number(from_pence(a))} for c, a in self.shipping_taxes]
        return body

    def as_json(self) -> dict[str, object]:
        return {
            "line_id": self.line_id, "sku": self.sku, "quantity": self.quantity, "item_amount": self.item_amount,
            "adjustment": self.adjustment, "shipping_amount": self.shipping_amount, "reason_code": self.reason_code,
            "taxes": [list(t) for t in self.taxes], "shipping_taxes": [list(t) for t in self.shipping_taxes],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> PlannedLine:
        return cls(
            line_id=str(data["line_id"]), sku=str(data["sku"]), quantity=int(data["quantity"]),  # type: ignore[call-overload]
            item_amount=int(data["item_amount"]), adjustment=int(data["adjustment"]),  # type: ignore[call-overload]
            shipping_amount=int(data["shipping_amount"]), reason_code=str(data["reason_code"]),  # type: ignore[call-overload]
            # as_json wrote both as lists of [code, pence] pairs.
            taxes=[(str(c), int(a)) for c, a in cast("list[tuple[str, int]]", data.get("taxes") or [])],
            shipping_taxes=[(str(c), int(a)) for c, a in cast("list[tuple[str, int]]", data.get("shipping_taxes") or [])],
        )


@dataclass
class RefundPlan:
    creditmemo_id: int
    order_id: str
    tax_mode: TaxMode
    lines: list[PlannedLine] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.lines)

    @property
    def total(self) -> int:
        return sum(line.amount + line.shipping_amount for line in self.lines)

    def summary(self, currency: str) -> str:
        return "; ".join(problem.message for problem in self.problems)


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
    if line.state not in REFUNDABLE_LINE_STATES:
        if line.state == "REFUNDED" or (line.amount_left == 0 and line.refunded > 0 and amount > 0):
            return [Problem(ProblemCode.ALREADY_REFUNDED,
                            f"{_line_label(line).capitalize()} of order {order.order_id} has already been fully refunded.",
                            line.line_id)]
        if line.state in NOT_YET_SHIPPED_STATES:
            hint = "it has not been shipped yet, so it must be cancelled rather than refunded"
        elif line.state in ("CANCELED", "REFUSED"):
            hint = f"it was {line.state.lower()} and nothing was paid for it"
        else:
            hint = f"the marketplace has it in state {line.state}"
        return [Problem(ProblemCode.LINE_NOT_REFUNDABLE,
                        f"{_line_label(line).capitalize()} of order {order.order_id} cannot be refunded: {hint}.",
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
    others = [line for line in order.lines if line.line_id not in planned and line.state in REFUNDABLE_LINE_STATES]
    left = shipping
    for line in refunded_first + others:
        take = min(left, line.shipping_left) if line.state in REFUNDABLE_LINE_STATES else 0
        if take > 0:
            planned.setdefault(line.line_id, PlannedLine(line.line_id, line.sku)).shipping_amount += take
            left -= take
        if left == 0:
            return
    available = sum(line.shipping_left for line in order.lines if line.state in REFUNDABLE_LINE_STATES)
    if not any(line.state in REFUNDABLE_LINE_STATES for line in order.lines) and any(
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
