"""Pure rules of the orders flow (no I/O).

* :class:`OrderState` and :data:`TRANSITIONS`: our own record of a marketplace order, which moves
  received → accepted / refused / held → awaiting payment → created (in Adobe Commerce) → shipped
  → refunded / cancelled → closed. :func:`check_transition` is the one gate every change passes.
* :func:`decide_acceptance`: one decision per order line (SKU match, salable quantity after other
  open marketplace orders, price against the channel price within a tolerance, currency), then the
  order-level outcome under the partial-acceptance switch and the refuse/hold policy.
* :func:`compare_totals`: the marketplace's totals against the ones Magento computed.
* :func:`stuck_orders`, :func:`acceptance_deadline`, :func:`reminder_due`: time rules.
* The issue types the flow raises (plain English; the operating guide is built from them).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from marketbridge.domain.issues import IssueType, ObjectType, Severity, Team, issue_type
from marketbridge.domain.money import UNIT_PRICE_SCALE as FOUR_PLACES
from marketbridge.domain.money import quantize, to_money


class OrderState(enum.StrEnum):
    RECEIVED = "received"
    HELD = "held"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    AWAITING_PAYMENT = "awaiting_payment"
    CREATED = "created"
    SHIPPED = "shipped"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"
    CLOSED = "closed"


S = OrderState
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    # An order can first be seen already past acceptance (operator auto-accept, or a late first
    # poll), hence RECEIVED → AWAITING_PAYMENT.
    S.RECEIVED: frozenset({S.ACCEPTED, S.REFUSED, S.HELD, S.AWAITING_PAYMENT, S.CANCELLED}),
    S.HELD: frozenset({S.ACCEPTED, S.REFUSED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.AWAITING_PAYMENT, S.CANCELLED}),
    S.AWAITING_PAYMENT: frozenset({S.CREATED, S.CANCELLED}),
    S.CREATED: frozenset({S.SHIPPED, S.CANCELLED, S.REFUNDED, S.CLOSED}),
    S.SHIPPED: frozenset({S.REFUNDED, S.CLOSED}),
    S.REFUNDED: frozenset({S.CLOSED}),
    S.REFUSED: frozenset({S.CLOSED}),
    S.CANCELLED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
# States in which the order still holds marketplace stock that Magento has not reserved yet.
PRE_CREATION_STATES = frozenset({S.RECEIVED, S.HELD, S.ACCEPTED, S.AWAITING_PAYMENT})

# Mirakl order line states (OR11 ``order_line_state``) that only an accepted line reaches.
ACCEPTED_LINE_STATES = frozenset({"WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED", "TO_COLLECT",
                                  "RECEIVED", "CLOSED", "INCIDENT_OPEN", "REFUNDED"})


def accepted_on_marketplace(line_state: str) -> bool | None:
    """What the marketplace says of a line's acceptance: True past acceptance, False when refused,
    None while undecided or cancelled (a cancelled line may have been accepted first).

    The marketplace is the authority: our own record of a decision can be overtaken (a decision sent,
    the process killed before recording it, and a second decision refused by Mirakl)."""
    if line_state in ACCEPTED_LINE_STATES:
        return True
    if line_state == "REFUSED":
        return False
    return None


TERMINAL_STATES = frozenset({S.CLOSED})


class TransitionNotAllowed(ValueError):
    pass


#: Mirakl order states that say the order was accepted and waits for (or got) the customer's payment.
_ACCEPTED_ORDER_STATES = frozenset({"WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"})
_SHIPPED_ORDER_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED"})


def behind_marketplace(state: OrderState, marketplace_state: str | None) -> bool:
    """Whether a record in ``state`` has a transition to make for the marketplace state it stores:
    the same cases as the orders flow's follow of the marketplace (``services.orders.pulling``), so
    a record left behind by a refused concurrent write can be found without touching the others."""
    mp = marketplace_state or ""
    return ((state == S.HELD and mp in _ACCEPTED_ORDER_STATES)
            or (mp == "REFUSED" and state in (S.RECEIVED, S.HELD))
            or (mp == "CANCELED" and state in PRE_CREATION_STATES)
            or (mp in _ACCEPTED_ORDER_STATES and state in (S.RECEIVED, S.ACCEPTED))
            or (mp in _SHIPPED_ORDER_STATES and state == S.CREATED)
            or (mp == "CLOSED" and state == S.CREATED))


#: Every marketplace state :func:`behind_marketplace` acts on.
_FOLLOWED_MARKETPLACE_STATES = _ACCEPTED_ORDER_STATES | _SHIPPED_ORDER_STATES | {"REFUSED", "CANCELED", "CLOSED"}


def behind_marketplace_pairs() -> tuple[tuple[str, str], ...]:
    """Every (record state, marketplace state) :func:`behind_marketplace` says is behind: what a
    store can select on its two columns, without loading each record's payload."""
    return tuple((state.value, mp) for state in OrderState for mp in sorted(_FOLLOWED_MARKETPLACE_STATES)
                 if behind_marketplace(state, mp))


def check_transition(current: OrderState | str, new: OrderState | str) -> bool:
    """True if ``current → new`` is allowed; False for a no-op (same state); raises otherwise."""
    current, new = OrderState(current), OrderState(new)
    if current == new:
        return False
    if new not in TRANSITIONS[current]:
        raise TransitionNotAllowed(f"an order cannot go from {current.value} to {new.value}")
    return True


# ------------------------------------------------------------------ acceptance
class SkuMatch(enum.StrEnum):
    EXACT = "exact"
    LINKED = "linked"  # a person confirmed the link (catalogue SKU link table): as good as exact
    NORMALISED = "normalised"  # e.g. a trailing space on the marketplace: accepted with a warning
    NONE = "none"


class Reason(enum.StrEnum):
    OK = "ok"
    UNKNOWN_SKU = "unknown_sku"
    INSUFFICIENT_STOCK = "insufficient_stock"
    PRICE_OUT_OF_TOLERANCE = "price_out_of_tolerance"
    CURRENCY = "currency_mismatch"
    PRODUCT_DISABLED = "product_disabled"


REASON_TEXT = {
    Reason.OK: "all checks passed",
    Reason.UNKNOWN_SKU: "the offer SKU matches no product in Adobe Commerce",
    Reason.INSUFFICIENT_STOCK: "not enough salable stock once other open marketplace orders are counted",
    Reason.PRICE_OUT_OF_TOLERANCE: "the price differs from the channel price by more than the tolerance",
    Reason.CURRENCY: "the order currency is not the store currency",
    Reason.PRODUCT_DISABLED: "the product is disabled in Adobe Commerce",
}


class Outcome(enum.StrEnum):
    ACCEPT = "accept"  # every line accepted
    PARTIAL = "partial"  # some lines accepted, the rest refused (connection allows it)
    REFUSE = "refuse"  # every line refused
    HOLD = "hold"  # a person decides


@dataclass(frozen=True)
class LineFacts:
    """What the service looked up for one order line; the rules decide from these alone."""

    order_line_id: str
    offer_sku: str
    quantity: int
    unit_price: Decimal
    match: SkuMatch
    magento_sku: str | None = None
    enabled: bool = True
    salable_qty: float | None = None  # Magento's salable quantity (MSI) for the stock
    reserved_elsewhere: float = 0.0  # quantities of other open marketplace orders not yet in Magento
    channel_price: Decimal | None = None


@dataclass(frozen=True)
class LineDecision:
    order_line_id: str
    accepted: bool
    reasons: tuple[Reason, ...]
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"order_line_id": self.order_line_id, "accepted": self.accepted,
                "reasons": [r.value for r in self.reasons], "warnings": list(self.warnings)}


@dataclass(frozen=True)
class AcceptanceRules:
    currency: str
    price_tolerance_percent: float
    partial_acceptance: bool
    hold_on_failure: bool  # policy: True = hold for a person, False = refuse


@dataclass(frozen=True)
class AcceptanceDecision:
    outcome: Outcome
    lines: tuple[LineDecision, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def or21(self) -> dict[str, bool]:
        """The OR21 body: a decision for every line (only meaningful when not held)."""
        return {line.order_line_id: line.accepted for line in self.lines}

    def reasons_text(self) -> str:
        parts = []
        for line in self.lines:
            if not line.accepted:
                parts.append(f"{line.order_line_id}: " + "; ".join(REASON_TEXT[r] for r in line.reasons))
        return " | ".join(parts) or "all lines pass"


def price_within(unit_price: Decimal, reference: Decimal, tolerance_percent: float | Decimal) -> bool:
    """Is the marketplace's unit price within ``tolerance_percent`` of ours (bounds included)?

    Exact decimal arithmetic: the float version needed a 1e-9 slack to keep a price exactly on the
    bound inside; Decimals need none. The percentage is a setting (a float) and is read by its
    ``str``, so ``1.1`` means 1.1 exactly."""
    unit, ref = to_money(unit_price), to_money(reference)
    if ref <= 0:
        return unit <= 0
    return abs(unit - ref) <= ref * to_money(tolerance_percent) / 100


def decide_line(facts: LineFacts, rules: AcceptanceRules, currency: str) -> LineDecision:
    reasons: list[Reason] = []
    warnings: list[str] = []
    if currency.upper() != rules.currency.upper():
        reasons.append(Reason.CURRENCY)
    if facts.match is SkuMatch.NONE or facts.magento_sku is None:
        reasons.append(Reason.UNKNOWN_SKU)
    else:
        if facts.match is SkuMatch.NORMALISED:
            warnings.append(f"offer SKU {facts.offer_sku!r} matched Magento SKU {facts.magento_sku!r} only after normalising")
        if not facts.enabled:
            reasons.append(Reason.PRODUCT_DISABLED)
        available = (facts.salable_qty or 0.0) - facts.reserved_elsewhere
        if facts.quantity > available + 1e-9:
            reasons.append(Reason.INSUFFICIENT_STOCK)
        if facts.channel_price is not None and not price_within(
                facts.unit_price, facts.channel_price, rules.price_tolerance_percent):
            reasons.append(Reason.PRICE_OUT_OF_TOLERANCE)
    accepted = not reasons
    return LineDecision(facts.order_line_id, accepted, tuple(reasons) or (Reason.OK,), tuple(warnings))


def decide_acceptance(lines: Iterable[LineFacts], rules: AcceptanceRules, currency: str) -> AcceptanceDecision:
    """Decide every line, then the order: all good → accept; some good and the connection allows
    partial acceptance → partial; otherwise refuse or hold as the policy says."""
    decisions = tuple(decide_line(f, rules, currency) for f in lines)
    if not decisions:
        raise ValueError("an order has at least one line")
    warnings = tuple(w for d in decisions for w in d.warnings)
    good = [d for d in decisions if d.accepted]
    if len(good) == len(decisions):
        return AcceptanceDecision(Outcome.ACCEPT, decisions, warnings)
    if good and rules.partial_acceptance:
        return AcceptanceDecision(Outcome.PARTIAL, decisions, warnings)
    if rules.hold_on_failure:
        return AcceptanceDecision(Outcome.HOLD, decisions, warnings)
    refused = tuple(LineDecision(d.order_line_id, False, d.reasons, d.warnings) for d in decisions)
    return AcceptanceDecision(Outcome.REFUSE, refused, warnings)


def reserved_by_other_orders(open_lines: Iterable[tuple[str, str, float]], order_id: str) -> dict[str, float]:
    """Sum quantities per Magento SKU over ``(order_id, magento_sku, qty)`` of *other* open orders."""
    totals: dict[str, float] = {}
    for other_id, sku, qty in open_lines:
        if other_id != order_id and sku:
            totals[sku] = totals.get(sku, 0.0) + qty
    return totals


# ------------------------------------------------------------------ totals
@dataclass(frozen=True)
class TotalsDifference:
    field: str
    marketplace: Decimal
    magento: Decimal

    @property
    def delta(self) -> Decimal:
        return self.magento - self.marketplace


def compare_totals(marketplace: Mapping[str, Decimal], magento: Mapping[str, Decimal],
                   tolerance: float | Decimal) -> list[TotalsDifference]:
    """Fields present on both sides whose values differ by more than ``tolerance`` (currency units).

    Amounts are compared as exact decimals at Adobe Commerce's own scale of four places (a float
    total goes through ``str`` and loses any binary noise in the rounding), so a difference of
    exactly the tolerance is not reported, without the float version's 1e-9 slack."""
    out = []
    limit = to_money(tolerance)
    for key in ("subtotal", "shipping", "grand_total"):
        if key in marketplace and key in magento:
            a, b = quantize(to_money(marketplace[key]), FOUR_PLACES), quantize(to_money(magento[key]), FOUR_PLACES)
            if abs(a - b) > limit:
                out.append(TotalsDifference(key, a, b))
    return out


# ------------------------------------------------------------------ time rules
def acceptance_deadline(created: dt.datetime, window_seconds: float) -> dt.datetime:
    return created + dt.timedelta(seconds=window_seconds)


def reminder_due(deadline: dt.datetime, now: dt.datetime, lead_seconds: float) -> bool:
    """A held order needs a reminder once the deadline is within ``lead_seconds`` (and not past)."""
    return deadline - dt.timedelta(seconds=lead_seconds) <= now < deadline


def stuck(state: OrderState | str, since: dt.datetime, now: dt.datetime, max_age_seconds: Mapping[str, float]) -> bool:
    limit = max_age_seconds.get(OrderState(state).value)
    return limit is not None and (now - since).total_seconds() > limit


def normalise_sku(sku: str) -> str:
    """The forgiving form of a SKU: surrounding whitespace removed, case folded."""
    return sku.strip().casefold()


# ------------------------------------------------------------------ issue types
ORDER_HELD = issue_type(
    "order_held",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A marketplace order is waiting for a person to accept or refuse it",
    meaning="An order failed an acceptance rule (unknown SKU, not enough stock, price or currency) and the "
    "policy is to hold such orders for a person. The marketplace refuses it automatically when its "
    "acceptance deadline passes.",
    action="Check the reasons on the order, then run `marketbridge orders accept ORDER_ID` or "
    "`marketbridge orders refuse ORDER_ID` (or use the console) before the deadline shown.",
)
ORDER_ACCEPTANCE_DEADLINE_NEAR = issue_type(
    "order_acceptance_deadline_near",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A held order will soon be refused automatically by the marketplace",
    meaning="A held order has not been decided and its acceptance deadline is close. When it passes, the "
    "marketplace refuses the order and the customer's sale is lost.",
    action="Accept or refuse the order now with `marketbridge orders accept|refuse ORDER_ID`.",
)
ORDER_SKU_NORMALISED = issue_type(
    "order_sku_normalised",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="A marketplace offer SKU matched a product only after tidying it",
    meaning="The SKU on the marketplace offer differs from the Adobe Commerce SKU by spaces or letter case. "
    "The order went through, but the offer should carry the exact SKU.",
    action="Correct the offer SKU on the marketplace (or link it in the SKU mapping) so it matches exactly.",
)
ORDER_UNREADABLE = issue_type(
    "order_unreadable",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A marketplace order could not be read",
    meaning="The marketplace sent an order that marketbridge could not read (a field missing or of the wrong "
    "kind). It is not in Adobe Commerce. Every read of the marketplace's orders tries it again, starting from "
    "its update time, so nothing after it is skipped; the exception closes itself once the order is stored.",
    action="Open the order in the John Lewis (Mirakl) back office and check it is complete. If it is, send "
    "the detail below to whoever supports your marketbridge installation; accept or refuse the order in the "
    "back office before its acceptance deadline if it cannot wait.",
)
ORDER_REFUSED = issue_type(
    "order_refused",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.ORDER,
    title="A marketplace order was refused",
    meaning="marketbridge refused the order (or the marketplace refused it automatically after the deadline). "
    "The reason is recorded on the order; refusals count against the shop's acceptance rate.",
    action="Read the reason. Fix the cause (stock, price, SKU) so that similar orders are accepted.",
)
ORDER_CREATION_FAILED = issue_type(
    "order_creation_failed",
    owner=Team.ECOMMERCE,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A paid marketplace order could not be created in Adobe Commerce",
    meaning="The customer has paid, but Adobe Commerce rejected the sales order (for example out of stock, a "
    "disabled product, or a payment or shipping method that is not enabled). Nothing will be shipped until "
    "the order exists.",
    action="Read the technical detail, fix the cause in Adobe Commerce or in the settings, then run "
    "`marketbridge orders retry ORDER_ID`.",
)
ORDER_WAITING_FOR_STOCK = issue_type(
    "order_waiting_for_stock",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A paid marketplace order is waiting for stock in Adobe Commerce",
    meaning="The order was accepted while the stock was there, but by the time the customer paid Adobe Commerce "
    "no longer had enough (a stock count, another channel's sale). Adobe Commerce will not take an order it "
    "cannot reserve, so the order is not in Adobe Commerce yet and the warehouse cannot see it. marketbridge "
    "tries again by itself every few minutes and creates it as soon as the stock is back.",
    action="Book the stock into Adobe Commerce if it is there (the order then goes through by itself), or, if it "
    "will not come, cancel the order on the marketplace and tell the customer.",
)
# Adobe Commerce's own messages when a cart line cannot be reserved (Magento_InventorySales,
# Magento_CatalogInventory); any of them means "no stock now", not "this order is wrong".
STOCK_SHORTAGE_MESSAGES = (
    "the requested qty is not available",
    "not all of your products are available in the requested quantity",
    "product that you are trying to add is not available",
    "there are no source items with the in stock status",
    "this product is out of stock",
)


def is_stock_shortage(message: str) -> bool:
    """True when Adobe Commerce refused an order line for want of salable stock."""
    text = " ".join(str(message).lower().split())
    return any(m in text for m in STOCK_SHORTAGE_MESSAGES)


ORDER_ADDRESS_MISSING = issue_type(
    "order_address_missing",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A paid marketplace order has no shipping address",
    meaning="The order is ready to ship on the marketplace but carries no shipping address, so it cannot be "
    "created in Adobe Commerce. It is created as soon as the address appears.",
    action="Contact the marketplace operator about the order's address.",
)
ORDER_CUSTOM_OPTION_MISSING = issue_type(
    "order_custom_option_missing",
    owner=Team.ECOMMERCE,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="An ordered product needs a custom option value that is not configured",
    meaning="The product has a required custom option (for example an engraving text) and no value is "
    "configured for marketplace orders, so no order was created rather than a broken one.",
    action="Add a value in MARKETBRIDGE_ORDER_CUSTOM_OPTION_VALUES for that SKU and option, then run "
    "`marketbridge orders retry ORDER_ID`.",
)
ORDER_TOTALS_MISMATCH = issue_type(
    "order_totals_mismatch",
    owner=Team.FINANCE,
    severity=Severity.WARNING,
    object_type=ObjectType.ORDER,
    title="Adobe Commerce totals differ from what the marketplace charged",
    meaning="The sales order in Adobe Commerce was priced from its own catalogue and shipping rules and the "
    "totals differ from the marketplace order by more than the tolerance. The marketplace totals are kept "
    "on our record and as an order comment.",
    action="Check prices and shipping rates in Adobe Commerce for the SKUs involved; adjust the accounts for "
    "this order if needed.",
)
ORDER_CANCELLED_AFTER_SHIPMENT = issue_type(
    "order_cancelled_after_shipment",
    owner=Team.CUSTOMER_SERVICE,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="The marketplace cancelled an order that has already shipped",
    meaning="The order was cancelled on the marketplace, but the parcel has already left the warehouse, so it "
    "cannot simply be cancelled in Adobe Commerce.",
    action="Contact the customer about returning the parcel and decide on a refund.",
)
ORDER_CANCEL_FAILED = issue_type(
    "order_cancel_failed",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A cancelled marketplace order could not be cancelled in Adobe Commerce",
    meaning="The marketplace cancelled the order before shipment, but Adobe Commerce refused to cancel the "
    "sales order, so its stock stays reserved and it may still be picked.",
    action="Stop the order in the warehouse and cancel (or credit) it by hand in Adobe Commerce.",
)
ORDER_STUCK_IN_INTEGRATION = issue_type(
    "order_stuck_in_integration",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.ORDER,
    title="A marketplace order has stayed too long in one step",
    meaning="The order has not moved on (acceptance, payment or creation in Adobe Commerce) within the "
    "configured time for its state.",
    action="Look at the order's history and open exceptions; check that `marketbridge run` is up.",
)
ORDER_STUCK_UNSHIPPED = issue_type(
    "order_stuck_unshipped",
    owner=Team.OPS,
    severity=Severity.WARNING,
    object_type=ObjectType.ORDER,
    title="A marketplace order has not shipped in time",
    meaning="The order exists in Adobe Commerce but has not been shipped within the configured time.",
    action="Check the order in the warehouse; ship it or cancel it.",
)
ORDER_DECISION_FAILED = issue_type(
    "order_decision_failed",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="The accept or refuse decision could not be sent to the marketplace",
    meaning="marketbridge decided on the order but the marketplace rejected the decision (for example the "
    "order changed state meanwhile). The order is re-read and its new state recorded.",
    action="Read the technical detail; check the order on the marketplace back office.",
)


# Which issue (and so which team) an order stuck in a state raises; states not listed are not watched.
STUCK_TYPES: dict[OrderState, IssueType] = {
    S.RECEIVED: ORDER_STUCK_IN_INTEGRATION,
    S.ACCEPTED: ORDER_STUCK_IN_INTEGRATION,
    S.AWAITING_PAYMENT: ORDER_STUCK_IN_INTEGRATION,
    S.CREATED: ORDER_STUCK_UNSHIPPED,
}

def get_type_for_stuck(state: OrderState | str) -> IssueType:
    return STUCK_TYPES[OrderState(state)]
