"""What the refund rules work on (credit memos, marketplace orders and lines, rules) and what they
produce (planned lines, problems); money helpers in pence. See the package docstring for the rules."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from marketbridge.domain.money import wire_number

PENNY = Decimal("0.01")
REFUNDABLE_LINE_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED"})
FINAL_REFUND_STATES = frozenset({"REFUNDED"})
NOT_YET_SHIPPED_STATES = frozenset(
    {"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"}
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
    #: The marketplace's own word (OR11 line ``can_refund``); ``None`` when not known.
    can_refund: bool | None = None

    @property
    def in_refundable_state(self) -> bool:
        """Shipped, to collect or received; or any state the marketplace says it refunds (operators
        may allow refunds while SHIPPING, and then send ``can_refund`` true)."""
        return self.state in REFUNDABLE_LINE_STATES or (self.can_refund is True and self.state != "CLOSED")

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
    #: The marketplace's own word (OR11 ``can_cancel``); ``None`` when not known.
    can_cancel: bool | None = None

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
