"""Orders, refunds, cancellations and multi-shipment in the Mirakl simulator.

State machine (PAY_ON_ACCEPTANCE, MIRAKL.md §3.2)::

    WAITING_ACCEPTANCE --OR21 all accepted--> WAITING_DEBIT --/debit--> SHIPPING --OR24/ST24--> SHIPPED
          |   \\--OR21 all refused / deadline--> REFUSED          |                          |
          |                                                    OR29/cancel              /receive or timer
          \\--customer cancel--> CANCELED                        v                          v
                                                              CANCELED                  RECEIVED --timer--> CLOSED

With an operator fraud check (``staging_seconds``) new orders start in STAGING instead, and move
to WAITING_ACCEPTANCE when it clears (:mod:`.order_extras`).

Order lines carry their own state; the order state follows them. Refunds (OR28) are allowed on
lines SHIPPED/TO_COLLECT/RECEIVED (and SHIPPING with ``refund_while_shipping``), never once CLOSED, and start WAITING_REFUND; they become
REFUNDED after ``refund_delay_seconds`` of sandbox time. A line refunded in full becomes REFUNDED.
Addresses (billing and shipping) are null until the order is paid (SHIPPING onwards), as Mirakl
does on platforms that hide them before debit.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from marketbridge.sandbox.mirakl import order_extras, reference
from marketbridge.sandbox.mirakl.core import SandboxError, end_of_day, iso, money

if TYPE_CHECKING:
    from marketbridge.sandbox.mirakl.core import SandboxClock, SandboxSettings
    from marketbridge.sandbox.mirakl.offers import Offer

VAT_RATE = 20.0
COMMISSION_RATE = Decimal("0.12")
ACTIVE_LINE_STATES = {"WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED",
                      "TO_COLLECT", "RECEIVED", "CLOSED", "REFUNDED"}
REFUNDABLE_LINE_STATES = order_extras.REFUNDABLE_LINE_STATES
ADDRESS_VISIBLE_STATES = {"SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"}

DEFAULT_CUSTOMER = {"customer_id": "CUST-0001", "firstname": "Alex", "lastname": "Morgan", "civility": "Mx",
                    "locale": "en_GB"}
DEFAULT_ADDRESS = {"firstname": "Alex", "lastname": "Morgan", "street_1": "171 Victoria Street", "street_2": "",
                   "city": "London", "zip_code": "SW1E 5NN", "state": "", "country": "United Kingdom",
                   "country_iso_code": "GBR", "phone": "020 7000 0000"}


def _vat(amount: float) -> float:
    """VAT contained in a VAT-inclusive amount (UK 20 %)."""
    return money(Decimal(str(amount)) / Decimal(6))


@dataclass
class Refund:
    id: str
    order_refund_id: str
    amount: float
    shipping_amount: float
    quantity: int
    reason_code: str
    created: datetime
    taxes: list[dict[str, Any]]
    shipping_taxes: list[dict[str, Any]]
    state: str = "WAITING_REFUND"
    completed: datetime | None = None


@dataclass
class Cancelation:
    id: str
    amount: float
    shipping_amount: float
    quantity: int
    reason_code: str | None
    created: datetime


@dataclass
class OrderLine:
    order_line_id: str
    index: int
    offer_sku: str
    offer_id: int
    product_sku: str
    product_title: str
    category_code: str
    image: str
    quantity: int
    price_unit: float
    shipping_price: float
    state: str = "WAITING_ACCEPTANCE"
    reason_code: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    debited: datetime | None = None
    shipped: datetime | None = None
    received: datetime | None = None
    refunds: list[Refund] = field(default_factory=list)
    cancelations: list[Cancelation] = field(default_factory=list)

    @property
    def price(self) -> float:
        return money(Decimal(str(self.price_unit)) * self.quantity)

    def refunded(self) -> tuple[float, float]:
        return (money(sum(Decimal(str(r.amount)) for r in self.refunds)),
                money(sum(Decimal(str(r.shipping_amount)) for r in self.refunds)))

    def canceled(self) -> tuple[float, float]:
        return (money(sum(Decimal(str(c.amount)) for c in self.cancelations)),
                money(sum(Decimal(str(c.shipping_amount)) for c in self.cancelations)))

    def remaining(self) -> tuple[float, float]:
        """Amount and shipping still refundable/cancelable on this line."""
        ra, rs = self.refunded()
        ca, cs = self.canceled()
        return money(self.price - ra - ca), money(self.shipping_price - rs - cs)


@dataclass
class Order:
    order_id: str
    commercial_id: str
    created: datetime
    updated: datetime
    lines: list[OrderLine]
    customer: dict[str, Any]
    shipping_address: dict[str, Any]
    billing_address: dict[str, Any]
    currency: str = "GBP"
    shipping_type_code: str = "STD"
    leadtime_to_ship: int = 2
    state: str = "WAITING_ACCEPTANCE"
    reason_code: str | None = None
    acceptance_decision_date: datetime | None = None
    acceptance_deadline: datetime | None = None
    debited: datetime | None = None
    shipping_deadline: datetime | None = None
    carrier_code: str | None = None
    carrier_standard_code: str | None = None
    carrier_name: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped: datetime | None = None
    received: datetime | None = None
    pudo_id: str | None = None  # PickUp DropOff point, for click-and-collect shipping
    staging_until: datetime | None = None  # end of the operator's fraud check (STAGING)


@dataclass
class Shipment:
    id: str
    order_id: str
    lines: list[dict[str, Any]]
    tracking: dict[str, Any]
    status: str
    created: datetime
    updated: datetime
    shipped: datetime | None = None
    invoice_reference: str | None = None


class OrdersMixin:
    # SandboxState's and OffersMixin's, declared (not assigned) so the type checker knows them here.
    clock: SandboxClock
    settings: SandboxSettings
    offers: dict[str, Offer]
    get_offer: Callable[[str], Offer]

    def _init_orders(self) -> None:
        self.orders: dict[str, Order] = {}
        self.shipments: dict[str, Shipment] = {}
        self._order_numbers = itertools.count(1)
        self._refund_ids = itertools.count(5001)
        self._cancel_ids = itertools.count(7001)

    # --- helpers --------------------------------------------------------------------------------
    def get_order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise SandboxError(404, f"Order with id '{order_id}' not found", "ORDER_NOT_FOUND")
        return order

    def _touch(self, order: Order, *lines: OrderLine) -> None:
        now = self.clock.now()
        order.updated = now
        for line in lines:
            line.updated = now

    def _sync_order_state(self, order: Order) -> None:
        """The order state follows its lines (refused/canceled lines drop out)."""
        states = {line.state for line in order.lines}
        live = {s for s in states if s not in ("REFUSED", "CANCELED")}
        if not live:
            order.state = "CANCELED" if "CANCELED" in states else "REFUSED"
            return
        for candidate in ("STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED",
                          "TO_COLLECT", "RECEIVED", "CLOSED"):
            if candidate in live:
                order.state = candidate
                return
        # every live line is REFUNDED: the order keeps the state it reached

    # --- creation (control API) ------------------------------------------------------------------
    def create_order(self, body: dict[str, Any]) -> Order:
        lines_in = body.get("lines")
        if not isinstance(lines_in, list) or not lines_in:
            raise SandboxError(400, "lines must be a non-empty list of {offer_sku, quantity}")
        number = next(self._order_numbers)
        commercial_id = f"JL-{number:06d}"
        order_id = f"{commercial_id}-A"
        now = self.clock.now()
        lines: list[OrderLine] = []
        reservations: list[tuple[Any, int]] = []
        for index, item in enumerate(lines_in, start=1):
            if not isinstance(item, dict):
                raise SandboxError(400, "each line must be an object")
            sku = item.get("offer_sku")
            qty = item.get("quantity", 1)
            if not isinstance(sku, str) or isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                raise SandboxError(400, "each line needs offer_sku (string) and quantity (integer >= 1)")
            offer = self.get_offer(sku)
            if not offer.active:
                raise SandboxError(400, f"Offer '{sku}' is not active ({', '.join(offer.inactivity_reasons())})")
            if offer.quantity < qty:
                raise SandboxError(400, f"Offer '{sku}' has only {offer.quantity} in stock")
            unit = item.get("price", body.get("price", offer.discount_price or offer.price))
            if isinstance(unit, bool) or not isinstance(unit, int | float) or unit < 0:
                raise SandboxError(400, "price must be a number >= 0")
            reservations.append((offer, qty))
            lines.append(OrderLine(
                order_line_id=f"{order_id}-{index}", index=index, offer_sku=offer.shop_sku, offer_id=offer.offer_id,
                product_sku=offer.product.product_sku, product_title=offer.product.title,
                category_code=offer.product.category_code, image=offer.product.image, quantity=qty,
                price_unit=money(unit), shipping_price=0.0, created=now, updated=now,
            ))
        shipping = body.get("shipping_price")
        if shipping is None:
            # Sandbox delivery charge: free from GBP 50 of goods, else 5.00 per unit. This mirrors the
            # sandbox shop's Magento flat rate (5.00 per item) so that an order created through the
            # cart flow has the marketplace's totals; John Lewis's real charges are not public.
            goods = sum(line.price for line in lines)
            shipping = 0.0 if goods >= 50 else 5.0 * sum(line.quantity for line in lines)
        if isinstance(shipping, bool) or not isinstance(shipping, int | float) or shipping < 0:
            raise SandboxError(400, "shipping_price must be a number >= 0")
        lines[0].shipping_price = money(shipping)
        shipping_type = body.get("shipping_type_code", "STD")
        if shipping_type not in reference.SHIPPING_TYPE_BY_CODE:
            raise SandboxError(400, f"Unknown shipping_type_code '{shipping_type}'")
        for key in ("customer", "shipping_address", "billing_address"):
            value = body.get(key)
            if value is not None and not (isinstance(value, dict) and all(
                    isinstance(v, str | None) for v in value.values())):
                raise SandboxError(400, f"{key} must be an object of strings")
        leadtime = body.get("leadtime_to_ship", 2)
        if isinstance(leadtime, bool) or not isinstance(leadtime, int) or not 0 <= leadtime <= 60:
            raise SandboxError(400, "leadtime_to_ship must be an integer between 0 and 60")
        customer = {**DEFAULT_CUSTOMER, **(body.get("customer") or {})}
        address = {**DEFAULT_ADDRESS, **(body.get("shipping_address") or {})}
        billing = {**address, **(body.get("billing_address") or {})}
        pudo_id = body.get("shipping_pudo_id")
        if pudo_id is not None and not (isinstance(pudo_id, str) and pudo_id.strip()):
            raise SandboxError(400, "shipping_pudo_id must be a non-empty string")
        currency = body.get("currency_iso_code", "GBP")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            raise SandboxError(400, "currency_iso_code must be a 3-letter code")
        for offer, qty in reservations:  # Mirakl takes the ordered quantity off the offer at once
            offer.quantity -= qty
            offer.updated = now
        order = Order(order_id=order_id, commercial_id=commercial_id, created=now, updated=now, lines=lines,
                      customer=customer, shipping_address=address, billing_address=billing, currency=currency.upper(),
                      shipping_type_code=shipping_type, leadtime_to_ship=leadtime,
                      acceptance_deadline=now + timedelta(seconds=self.settings.acceptance_deadline_seconds))
        order.shipping_deadline = end_of_day(now + timedelta(days=order.leadtime_to_ship))
        order.pudo_id = pudo_id
        order_extras.start_in_staging(order, now, self.settings)
        self.orders[order_id] = order
        return order

    def _restock(self, line: OrderLine) -> None:
        offer = self.offers.get(line.offer_sku)
        if offer is not None and not offer.deleted and self.settings.restock_on_refusal:
            offer.quantity += line.quantity
            offer.updated = self.clock.now()

    # --- OR21 ------------------------------------------------------------------------------------
    def accept_order(self, order_id: str, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("order_lines"), list):
            raise SandboxError(400, "Error with field order_lines. Please check the field datatype.", "VALIDATION_ERROR")
        order = self.get_order(order_id)
        decisions: dict[str, bool] = {}
        for item in body["order_lines"]:
            if item is None:
                raise SandboxError(400, "An order line is null", "ORDER_LINE_NULL_ELEMENT")
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("accepted"), bool):
                raise SandboxError(400, "Each order line needs id (string) and accepted (boolean)", "VALIDATION_ERROR")
            if item["id"] in decisions:
                raise SandboxError(400, f"Order line '{item['id']}' is listed twice", "ORDER_LINE_DUPLICATE_ID")
            decisions[item["id"]] = item["accepted"]
        by_id = {line.order_line_id: line for line in order.lines}
        for line_id in decisions:
            if line_id not in by_id:
                raise SandboxError(404, f"Order line '{line_id}' not found in order '{order_id}'", "ORDER_LINE_NOT_FOUND")
        if order.state != "WAITING_ACCEPTANCE":
            raise SandboxError(400, f"Order '{order_id}' is in state {order.state}, not WAITING_ACCEPTANCE",
                               "ORDER_INVALID_STATE")
        waiting = [line for line in order.lines if line.state == "WAITING_ACCEPTANCE"]
        missing = [line.order_line_id for line in waiting if line.order_line_id not in decisions]
        if missing:
            raise SandboxError(400, f"No acceptance decision for order line(s) {', '.join(missing)}",
                               "ORDER_LINE_ACCEPTANCE_DECISION_MISSING")
        if len(set(decisions.values())) > 1 and not self.settings.partial_acceptance:
            raise SandboxError(400, "Partial acceptance is disabled: accept or refuse every line",
                               "ORDER_PARTIAL_ACCEPTANCE_DISABLED")
        now = self.clock.now()
        for line in waiting:
            if decisions[line.order_line_id]:
                line.state = "WAITING_DEBIT"
            else:
                line.state = "REFUSED"
                self._restock(line)
        order.acceptance_decision_date = now
        self._touch(order, *order.lines)
        self._sync_order_state(order)
        if self.settings.auto_debit and order.state == "WAITING_DEBIT":
            self.debit_order(order_id)

    # --- control: debit / cancel / receive / operator refund -------------------------------------
    def debit_order(self, order_id: str) -> Order:
        order = self.get_order(order_id)
        if order.state not in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT"):
            raise SandboxError(400, f"Order '{order_id}' is in state {order.state}, not WAITING_DEBIT",
                               "ORDER_INVALID_STATE")
        now = self.clock.now()
        for line in order.lines:
            if line.state in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT"):
                line.state, line.debited = "SHIPPING", now
        order.debited = now
        order.shipping_deadline = end_of_day(now + timedelta(days=order.leadtime_to_ship))
        self._touch(order, *order.lines)
        self._sync_order_state(order)
        return order

    def can_cancel(self, order: Order) -> bool:
        return order.state in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING")

    def cancel_order(self, order_id: str, *, by_shop: bool, reason_code: str | None = None) -> Order:
        order = self.get_order(order_id)
        allowed = self.can_cancel(order) or (not by_shop and order.state in ("STAGING", "WAITING_ACCEPTANCE"))
        if not allowed:
            raise SandboxError(400, f"Order '{order_id}' cannot be canceled in state {order.state}",
                               "ORDER_INVALID_STATE")
        now = self.clock.now()
        for line in order.lines:
            if line.state in ("STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"):
                amount, shipping = line.remaining()
                line.cancelations.append(Cancelation(id=str(next(self._cancel_ids)), amount=amount,
                                                     shipping_amount=shipping, quantity=line.quantity,
                                                     reason_code=reason_code, created=now))
                line.state = "CANCELED"
                self._restock(line)
        order.reason_code = reason_code
        self._touch(order, *order.lines)
        self._sync_order_state(order)
        return order

    def receive_order(self, order_id: str) -> Order:
        order = self.get_order(order_id)
        if order.state not in ("SHIPPED", "TO_COLLECT"):
            raise SandboxError(400, f"Order '{order_id}' is in state {order.state}, not SHIPPED", "ORDER_INVALID_STATE")
        self._receive(order, self.clock.now())
        return order

    def _receive(self, order: Order, now: datetime) -> None:
        for line in order.lines:
            if line.state in ("SHIPPED", "TO_COLLECT"):
                line.state, line.received = "RECEIVED", now
        order.received = now
        self._touch(order, *order.lines)
        self._sync_order_state(order)

    def operator_refund(self, order_id: str, body: dict[str, Any]) -> list[Refund]:
        """A refund started on the marketplace side (customer service, return), not by us."""
        order = self.get_order(order_id)
        requests = []
        for line in order.lines:
            if line.state in REFUNDABLE_LINE_STATES:
                amount, shipping = line.remaining()
                if amount > 0 or shipping > 0:
                    requests.append({"order_line_id": line.order_line_id,
                                     "amount": body.get("amount", amount), "shipping_amount": body.get("shipping_amount", shipping),
                                     "reason_code": body.get("reason_code", "19"), "quantity": line.quantity})
        if not requests:
            raise SandboxError(400, f"Order '{order_id}' has nothing left to refund", "ORDER_INVALID_STATE")
        return self.refund({"refunds": requests}, operator=True)

    # --- OR23 / OR24 -----------------------------------------------------------------------------
    def _resolve_carrier(self, data: dict[str, Any]) -> dict[str, Any]:
        for key in ("carrier_code", "carrier_name", "carrier_standard_code", "carrier_url", "tracking_number",
                    "tracking_url"):
            if key in data and data[key] is not None and not isinstance(data[key], str):
                raise SandboxError(400, f"Error with field {key}. Please check the field datatype.")
        code = data.get("carrier_code")
        number = data.get("tracking_number")
        if code:
            carrier = next((c for c in reference.CARRIERS if c["code"] == code), None)
            if carrier is None:
                raise SandboxError(400, f"The carrier code '{code}' does not exist (see SH21)")
            if "{trackingId}" in carrier["tracking_url"] and not number:
                raise SandboxError(400, f"A tracking number is required for carrier '{code}'")
            return {"carrier_code": code, "carrier_standard_code": carrier["standard_code"],
                    "carrier_name": carrier["label"], "tracking_number": number,
                    "tracking_url": carrier["tracking_url"].replace("{trackingId}", number or "")}
        name = data.get("carrier_name")
        if not name:
            raise SandboxError(400, "carrier_code (registered carrier) or carrier_name (unregistered carrier) is required")
        return {"carrier_code": None, "carrier_standard_code": data.get("carrier_standard_code"), "carrier_name": name,
                "tracking_number": number, "tracking_url": data.get("carrier_url") or data.get("tracking_url")}

    def update_tracking(self, order_id: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise SandboxError(400, "The body must be a JSON object")
        order = self.get_order(order_id)
        if order.state not in ("SHIPPING", "SHIPPED", "TO_COLLECT"):
            raise SandboxError(400, f"Order '{order_id}' is in state {order.state}; tracking needs SHIPPING or SHIPPED",
                               "ORDER_INVALID_STATE")
        tracking = self._resolve_carrier(body)
        order.carrier_code = tracking["carrier_code"]
        order.carrier_standard_code = tracking["carrier_standard_code"]
        order.carrier_name = tracking["carrier_name"]
        order.tracking_number = tracking["tracking_number"]
        order.tracking_url = tracking["tracking_url"]
        self._touch(order)

    def _tracking_required(self, order: Order) -> bool:
        if self.settings.mandatory_tracking is not None:
            return self.settings.mandatory_tracking
        return bool(reference.SHIPPING_TYPE_BY_CODE[order.shipping_type_code]["mandatory_tracking"])

    def ship_order(self, order_id: str) -> None:
        order = self.get_order(order_id)
        if order.state != "SHIPPING":
            raise SandboxError(400, f"Order '{order_id}' is in state {order.state}, not SHIPPING", "ORDER_INVALID_STATE")
        if self._tracking_required(order) and not order.tracking_number:
            raise SandboxError(400, "Tracking details are mandatory for this shipping method")
        now = self.clock.now()
        for line in order.lines:
            if line.state == "SHIPPING":
                line.state, line.shipped = "SHIPPED", now
        order.shipped = now
        self._touch(order, *order.lines)
        self._sync_order_state(order)

    # --- OR28 ------------------------------------------------------------------------------------
    def _find_line(self, line_id: str) -> tuple[Order, OrderLine]:
        order_id = line_id.rsplit("-", 1)[0] if "-" in line_id else ""
        order = self.orders.get(order_id)
        if order is not None:
            for line in order.lines:
                if line.order_line_id == line_id:
                    return order, line
        raise SandboxError(404, f"Order line '{line_id}' not found", "ORDER_LINE_NOT_FOUND")

    def refund(self, body: Any, *, operator: bool = False) -> list[Refund]:
        if not isinstance(body, dict) or not isinstance(body.get("refunds"), list) or not body["refunds"]:
            raise SandboxError(400, "Error with field refunds. Please check the field datatype.")
        planned: list[tuple[Order, OrderLine, dict[str, Any]]] = []
        pending: dict[str, tuple[float, float]] = {}
        for item in body["refunds"]:
            if not isinstance(item, dict):
                raise SandboxError(400, "Error with field refunds. Please check the field datatype.")
            for key in ("order_line_id", "reason_code"):
                if not isinstance(item.get(key), str) or not item[key]:
                    raise SandboxError(400, f"Error with field refunds.{key}. Please check the field datatype.")
            for key in ("amount", "shipping_amount"):
                value = item.get(key)
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise SandboxError(400, f"Error with field refunds.{key}. Please check the field datatype.")
            for key in ("taxes", "shipping_taxes"):
                taxes = item.get(key)
                if taxes is not None and not (isinstance(taxes, list) and all(
                        isinstance(t, dict) and isinstance(t.get("code"), str)
                        and isinstance(t.get("amount"), int | float) and not isinstance(t.get("amount"), bool)
                        and t["amount"] >= 0 for t in taxes)):
                    raise SandboxError(400, f"Error with field refunds.{key}. Please check the field datatype.")
            reason = reference.REASON_BY_CODE.get(item["reason_code"])
            if reason is None or reason["type"] != "REFUND" or (not operator and not reason["is_shop_right"]):
                raise SandboxError(400, f"The reason code '{item['reason_code']}' is not a valid refund reason")
            order, line = self._find_line(item["order_line_id"])
            if line.state == "CLOSED" or order.state == "CLOSED":
                raise SandboxError(400, f"Order line '{line.order_line_id}' is closed and cannot be refunded",
                                   "ORDER_INVALID_STATE")
            if line.state not in order_extras.refundable_states(self.settings):
                raise SandboxError(400, f"Order line '{line.order_line_id}' is in state {line.state} and cannot be refunded",
                                   "ORDER_INVALID_STATE")
            amount_left, shipping_left = pending.get(line.order_line_id, line.remaining())
            amount, shipping = money(item["amount"]), money(item["shipping_amount"])
            if amount > amount_left:
                raise SandboxError(400, f"The refund amount {amount:.2f} exceeds the remaining refundable amount "
                                        f"{amount_left:.2f} of order line '{line.order_line_id}'")
            if shipping > shipping_left:
                raise SandboxError(400, f"The refund shipping amount {shipping:.2f} exceeds the remaining refundable "
                                        f"shipping amount {shipping_left:.2f} of order line '{line.order_line_id}'")
            if amount == 0 and shipping == 0:
                raise SandboxError(400, "A refund needs an amount or a shipping amount above zero")
            pending[line.order_line_id] = (money(amount_left - amount), money(shipping_left - shipping))
            planned.append((order, line, item))
        order_refund_id = str(uuid.uuid4())
        now = self.clock.now()
        created: list[Refund] = []
        for order, line, item in planned:
            amount, shipping = money(item["amount"]), money(item["shipping_amount"])
            taxes = item.get("taxes") or [{"code": "VAT", "amount": _vat(amount)}]
            shipping_taxes = item.get("shipping_taxes") or [{"code": "VAT", "amount": _vat(shipping)}]
            refund = Refund(id=str(next(self._refund_ids)), order_refund_id=order_refund_id, amount=amount,
                            shipping_amount=shipping, quantity=int(item.get("quantity") or 0),
                            reason_code=item["reason_code"], created=now,
                            taxes=[{"code": str(t.get("code")), "amount": money(float(t.get("amount") or 0)), "rate": VAT_RATE}
                                   for t in taxes],
                            shipping_taxes=[{"code": str(t.get("code")), "amount": money(float(t.get("amount") or 0)),
                                             "rate": VAT_RATE} for t in shipping_taxes])
            line.refunds.append(refund)
            self._touch(order, line)
            created.append(refund)
        return created

    def refund_json(self, refund: Refund, line: OrderLine, currency: str) -> dict[str, Any]:
        return {"refund_id": refund.id, "order_refund_id": refund.order_refund_id, "order_line_id": line.order_line_id,
                "amount": refund.amount, "shipping_amount": refund.shipping_amount, "quantity": refund.quantity,
                "reason_code": refund.reason_code, "currency_iso_code": currency, "taxes": refund.taxes,
                "shipping_taxes": refund.shipping_taxes, "fees": [], "excluded_from_shipment": False}

    # --- OR29 / OR30 -----------------------------------------------------------------------------
    def cancel_lines(self, body: Any) -> list[tuple[OrderLine, Cancelation]]:
        if not self.settings.partial_cancelation:
            raise SandboxError(400, "Partial cancelation is not enabled for this shop (OR30)")
        if not isinstance(body, dict) or not isinstance(body.get("cancelations"), list) or not body["cancelations"]:
            raise SandboxError(400, "Error with field cancelations. Please check the field datatype.")
        planned = []
        for item in body["cancelations"]:
            if not isinstance(item, dict) or not isinstance(item.get("order_line_id"), str):
                raise SandboxError(400, "Error with field cancelations. Please check the field datatype.")
            for key in ("amount", "shipping_amount", "quantity"):
                value = item.get(key)
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise SandboxError(400, f"Error with field cancelations.{key}. Please check the field datatype.")
            reason = reference.REASON_BY_CODE.get(str(item.get("reason_code")))
            if reason is None or reason["type"] != "CANCELATION":
                raise SandboxError(400, f"The reason code '{item.get('reason_code')}' is not a valid cancelation reason")
            order, line = self._find_line(item["order_line_id"])
            if line.state not in ("WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"):
                raise SandboxError(400, f"Order line '{line.order_line_id}' cannot be canceled in state {line.state}",
                                   "ORDER_INVALID_STATE")
            amount_left, shipping_left = line.remaining()
            if money(item["amount"]) > amount_left or money(item["shipping_amount"]) > shipping_left:
                raise SandboxError(400, f"The cancelation exceeds the remaining amount of order line '{line.order_line_id}'")
            planned.append((order, line, item))
        now = self.clock.now()
        done = []
        for order, line, item in planned:
            cancelation = Cancelation(id=str(next(self._cancel_ids)), amount=money(item["amount"]),
                                      shipping_amount=money(item["shipping_amount"]), quantity=int(item["quantity"]),
                                      reason_code=str(item["reason_code"]), created=now)
            line.cancelations.append(cancelation)
            if line.remaining()[0] <= 0:
                line.state = "CANCELED"
            self._touch(order, line)
            self._sync_order_state(order)
            done.append((line, cancelation))
        return done

    # --- timers ----------------------------------------------------------------------------------
    def _run_order_timers(self, now: datetime) -> None:
        s = self.settings
        order_extras.release_staged(self.orders.values(), now, s)
        for order in self.orders.values():
            if order.state == "WAITING_ACCEPTANCE" and order.acceptance_deadline and now >= order.acceptance_deadline:
                for line in order.lines:  # automatic refusal: acceptance_decision_date stays null
                    if line.state == "WAITING_ACCEPTANCE":
                        line.state = "REFUSED"
                        self._restock(line)
                order.reason_code = "AUTO_REFUSED"
                self._touch(order, *order.lines)
                self._sync_order_state(order)
            if order.state == "SHIPPED" and order.shipped and now >= order.shipped + timedelta(seconds=s.auto_receive_seconds):
                self._receive(order, now)
            if order.state == "RECEIVED" and order.received and now >= order.received + timedelta(
                    seconds=s.close_after_receive_seconds):
                for line in order.lines:
                    if line.state == "RECEIVED":
                        line.state = "CLOSED"
                self._touch(order, *order.lines)
                self._sync_order_state(order)
            for line in order.lines:
                changed = False
                for refund in line.refunds:
                    if refund.state == "WAITING_REFUND" and now >= refund.created + timedelta(seconds=s.refund_delay_seconds):
                        refund.state, refund.completed = "REFUNDED", now
                        changed = True
                if changed:  # refunded in full (amount and shipping): the line becomes REFUNDED
                    if line.remaining() == (0.0, 0.0) and all(r.state == "REFUNDED" for r in line.refunds):
                        line.state = "REFUNDED"
                    self._touch(order, line)

    # --- OR11 rendering --------------------------------------------------------------------------
    def order_json(self, order: Order) -> dict[str, Any]:
        show_address = order.state in ADDRESS_VISIBLE_STATES or any(
            line.state in ADDRESS_VISIBLE_STATES for line in order.lines)
        shipping_type = reference.SHIPPING_TYPE_BY_CODE[order.shipping_type_code]
        lines = [self._line_json(order, line) for line in order.lines]
        price = money(sum(Decimal(str(line.price)) for line in order.lines) - sum(
            Decimal(str(line.canceled()[0])) for line in order.lines))
        shipping = money(sum(Decimal(str(line.shipping_price)) for line in order.lines) - sum(
            Decimal(str(line.canceled()[1])) for line in order.lines))
        commission = money(sum(Decimal(str(line["total_commission"])) for line in lines))
        fully_refunded = all(line.remaining() == (0.0, 0.0) for line in order.lines
                             if line.state in ACTIVE_LINE_STATES) and any(line.refunds for line in order.lines)
        customer = dict(order.customer)
        customer["billing_address"] = dict(order.billing_address) if show_address else None
        customer["shipping_address"] = dict(order.shipping_address) if show_address else None
        data: dict[str, Any] = {
            "order_id": order.order_id,
            "commercial_id": order.commercial_id,
            "order_state": order.state,
            "order_state_reason_code": order.reason_code,
            "order_state_reason_label": None,
            "created_date": iso(order.created),
            "last_updated_date": iso(order.updated),
            "acceptance_decision_date": iso(order.acceptance_decision_date),
            "customer_debited_date": iso(order.debited),
            "shipping_deadline": iso(order.shipping_deadline),
            "leadtime_to_ship": order.leadtime_to_ship,
            "currency_iso_code": order.currency,
            "price": price,
            "shipping_price": shipping,
            "total_price": money(price + shipping),
            "total_commission": commission,
            "order_tax_mode": "TAX_INCLUDED",
            "order_taxes": [{"code": "VAT", "rate": VAT_RATE, "total_amount": _vat(price + shipping)}],
            "payment_type": "CARD",
            "paymentType": "CARD",
            "payment_workflow": "PAY_ON_ACCEPTANCE",
            "customer": customer,
            "customer_notification_email": f"notify+{order.order_id.lower()}@marketplace.invalid",
            "channel": {"code": "JL_WEB", "label": "johnlewis.com"},
            "fulfillment": {"center": {"code": "DEFAULT"}},
            "shipping_type_code": shipping_type["code"],
            "shipping_type_label": shipping_type["label"],
            "shipping_type_standard_code": shipping_type["standard_code"],
            "shipping_zone_code": "UK",
            "shipping_zone_label": "United Kingdom",
            "shipping_carrier_code": order.carrier_code,
            "shipping_carrier_standard_code": order.carrier_standard_code,
            "shipping_company": order.carrier_name,
            "shipping_tracking": order.tracking_number,
            "shipping_tracking_url": order.tracking_url,
            "can_cancel": self.can_cancel(order),
            "can_shop_ship": order.state == "SHIPPING",
            "has_incident": False,
            "has_customer_message": False,
            "has_invoice": False,
            "fully_refunded": fully_refunded,
            "order_additional_fields": [],
            "references": {"order_reference_for_customer": order.commercial_id},
            "promotions": {"applied_promotions": [], "total_deduced_amount": 0},
            "quote_id": None,
            "order_lines": lines,
        }
        data.update(order_extras.order_fields(order))
        return data

    def _line_json(self, order: Order, line: OrderLine) -> dict[str, Any]:
        commission = money(Decimal(str(line.price)) * COMMISSION_RATE)
        can_refund = line.state in order_extras.refundable_states(self.settings) and line.remaining() != (0.0, 0.0)
        return {
            "order_line_id": line.order_line_id,
            "order_line_index": line.index,
            "order_line_state": line.state,
            "order_line_state_reason_code": line.reason_code,
            "order_line_state_reason_label": None,
            "offer_id": line.offer_id,
            "offer_sku": line.offer_sku,
            "offer_state_code": "11",
            "product_sku": line.product_sku,
            "product_shop_sku": line.offer_sku,
            "product_title": line.product_title,
            "product_medias": [{"media_url": line.image or "/media/none.jpg", "mime_type": "JPEG", "type": "LARGE"}],
            "category_code": line.category_code,
            "category_label": reference.CATEGORY_LABELS.get(line.category_code, line.category_code),
            "description": None,
            "quantity": line.quantity,
            "price_unit": line.price_unit,
            "origin_unit_price": line.price_unit,
            "price": line.price,
            "shipping_price": line.shipping_price,
            "total_price": money(line.price + line.shipping_price),
            "taxes": [{"code": "VAT", "amount": _vat(line.price), "rate": VAT_RATE,
                       "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"}],
            "shipping_taxes": [{"code": "VAT", "amount": _vat(line.shipping_price), "rate": VAT_RATE,
                                "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"}],
            "commission_fee": commission,
            "commission_vat": money(Decimal(str(commission)) * Decimal("0.2")),
            "commission_rate_vat": VAT_RATE,
            "commission_taxes": [{"code": "VAT", "amount": money(Decimal(str(commission)) * Decimal("0.2")), "rate": VAT_RATE}],
            "total_commission": money(Decimal(str(commission)) * Decimal("1.2")),
            "created_date": iso(line.created),
            "last_updated_date": iso(line.updated),
            "debited_date": iso(line.debited),
            "shipped_date": iso(line.shipped),
            "received_date": iso(line.received),
            "can_refund": can_refund,
            "shipping_from": order_extras.shipping_from(line),
            "order_line_additional_fields": [],
            "fees": [],
            "promotions": [],
            "refunds": [{
                "id": r.id, "order_refund_id": r.order_refund_id, "amount": r.amount,
                "shipping_amount": r.shipping_amount, "quantity": r.quantity, "reason_code": r.reason_code,
                "refund_state": r.state, "state": r.state, "taxes": r.taxes, "shipping_taxes": r.shipping_taxes,
                "commission_amount": 0.0, "commission_tax_amount": 0.0, "commission_taxes": [],
                "commission_total_amount": 0.0, "created_date": iso(r.created),
                "transaction_date": iso(r.completed),
            } for r in line.refunds],
            "cancelations": [{
                "id": c.id, "amount": c.amount, "shipping_amount": c.shipping_amount, "quantity": c.quantity,
                "reason_code": c.reason_code, "commission_amount": 0.0, "commission_taxes": [],
                "commission_total_amount": 0.0, "created_date": iso(c.created),
                "taxes": [{"code": "VAT", "amount": _vat(c.amount), "rate": VAT_RATE}],
                "shipping_taxes": [{"code": "VAT", "amount": _vat(c.shipping_amount), "rate": VAT_RATE}],
            } for c in line.cancelations],
        }

    # --- ST01 / ST11 / ST23 / ST24 ---------------------------------------------------------------
    def _require_multi_shipment(self) -> None:
        if not self.settings.multi_shipment:
            raise SandboxError(400, "Multi-shipment is not enabled for this shop")

    def create_shipments(self, body: Any) -> tuple[list[Shipment], list[dict[str, str]]]:
        self._require_multi_shipment()
        if not isinstance(body, dict) or not isinstance(body.get("shipments"), list) or not body["shipments"]:
            raise SandboxError(400, "Error with field shipments. Please check the field datatype.")
        if len(body["shipments"]) > 1000:
            raise SandboxError(400, "At most 1000 shipments per call")
        success: list[Shipment] = []
        errors: list[dict[str, str]] = []
        for item in body["shipments"]:
            order_id = item.get("order_id") if isinstance(item, dict) else None
            try:
                if not isinstance(order_id, str):
                    raise SandboxError(400, "order_id is required")
                success.append(self._create_shipment(item))
            except SandboxError as error:
                errors.append({"order_id": str(order_id), "message": error.message})
        return success, errors

    def _shipped_quantity(self, order_id: str, line_id: str) -> int:
        return sum(sl["quantity"] for s in self.shipments.values() if s.order_id == order_id and s.status != "CANCELED"
                   for sl in s.lines if sl["order_line_id"] == line_id)

    def _create_shipment(self, item: dict[str, Any]) -> Shipment:
        order = self.get_order(item["order_id"])
        if order.state != "SHIPPING":
            raise SandboxError(400, f"Order '{order.order_id}' is in state {order.state}, not SHIPPING")
        lines_in = item.get("shipment_lines")
        if not isinstance(lines_in, list) or not lines_in:
            raise SandboxError(400, "shipment_lines is required")
        # object keys: looked up with whatever the request's JSON holds there, not always a str
        by_id: dict[object, OrderLine] = {line.order_line_id: line for line in order.lines}
        by_sku: dict[object, OrderLine] = {line.offer_sku: line for line in order.lines}
        lines = []
        for sl in lines_in:
            if not isinstance(sl, dict):
                raise SandboxError(400, "each shipment line must be an object")
            line = by_id.get(sl.get("order_line_id")) or by_sku.get(sl.get("offer_sku"))
            if line is None:
                raise SandboxError(400, f"Order line '{sl.get('order_line_id') or sl.get('offer_sku')}' is not in order '{order.order_id}'")
            qty = sl.get("quantity")
            if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                raise SandboxError(400, "quantity must be an integer >= 1")
            if self._shipped_quantity(order.order_id, line.order_line_id) + qty > line.quantity:
                raise SandboxError(400, f"Quantity to ship exceeds the quantity ordered on '{line.order_line_id}'")
            lines.append({"order_line_id": line.order_line_id, "offer_sku": line.offer_sku, "quantity": qty,
                          "package_reference": sl.get("package_reference")})
        if item.get("tracking") is not None and not isinstance(item["tracking"], dict):
            raise SandboxError(400, "tracking must be an object")
        tracking = self._resolve_carrier(item["tracking"]) if item.get("tracking") else {}
        if self._tracking_required(order) and item.get("shipped") and not tracking.get("tracking_number"):
            raise SandboxError(400, "Tracking details are mandatory for this shipping method")
        now = self.clock.now()
        shipment = Shipment(id=str(uuid.uuid4()), order_id=order.order_id, lines=lines,
                            tracking={k: v for k, v in tracking.items() if v is not None}, status="SHIPPING",
                            created=now, updated=now, invoice_reference=item.get("invoice_reference"))
        self.shipments[shipment.id] = shipment
        if item.get("shipped"):
            self._ship_shipment(shipment)
        self._touch(order)
        return shipment

    def _ship_shipment(self, shipment: Shipment) -> None:
        now = self.clock.now()
        shipment.status, shipment.shipped, shipment.updated = "SHIPPED", now, now
        order = self.orders[shipment.order_id]
        for line in order.lines:
            shipped_qty = sum(sl["quantity"] for s in self.shipments.values()
                              if s.order_id == order.order_id and s.status == "SHIPPED"
                              for sl in s.lines if sl["order_line_id"] == line.order_line_id)
            if line.state == "SHIPPING" and shipped_qty >= line.quantity:
                line.state, line.shipped = "SHIPPED", now
        if not any(line.state == "SHIPPING" for line in order.lines):
            order.shipped = now
        self._touch(order, *order.lines)
        self._sync_order_state(order)

    def ship_shipments(self, body: Any) -> tuple[list[str], list[dict[str, str]]]:
        self._require_multi_shipment()
        if not isinstance(body, dict) or not isinstance(body.get("shipments"), list) or not body["shipments"]:
            raise SandboxError(400, "Error with field shipments. Please check the field datatype.")
        ok, errors = [], []
        for item in body["shipments"]:
            sid = item.get("id") if isinstance(item, dict) else None
            shipment = self.shipments.get(str(sid))
            if shipment is None:
                errors.append({"id": str(sid), "message": f"No shipment with id '{sid}'."})
            elif shipment.status != "SHIPPING":
                errors.append({"id": shipment.id, "message": f"Shipment with id '{shipment.id}' is not in SHIPPING status."})
            else:
                self._ship_shipment(shipment)
                ok.append(shipment.id)
        return ok, errors

    def update_shipment_tracking(self, body: Any) -> tuple[list[str], list[dict[str, str]]]:
        self._require_multi_shipment()
        if not isinstance(body, dict) or not isinstance(body.get("shipments"), list):
            raise SandboxError(400, "Error with field shipments. Please check the field datatype.")
        ok, errors = [], []
        for item in body["shipments"]:
            sid = item.get("id") if isinstance(item, dict) else None
            shipment = self.shipments.get(str(sid))
            if shipment is None:
                errors.append({"id": str(sid), "message": f"No shipment with id '{sid}'."})
                continue
            try:
                if not isinstance(item.get("tracking"), dict):
                    raise SandboxError(400, "tracking must be an object")
                tracking = self._resolve_carrier(item["tracking"])
            except SandboxError as error:
                errors.append({"id": shipment.id, "message": error.message})
                continue
            shipment.tracking = {k: v for k, v in tracking.items() if v is not None}
            shipment.updated = self.clock.now()
            ok.append(shipment.id)
        return ok, errors

    def shipment_json(self, shipment: Shipment) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": shipment.id, "order_id": shipment.order_id, "status": shipment.status,
            "status_customer_debit": "DEBIT_OK", "created_date": iso(shipment.created),
            "last_updated_date": iso(shipment.updated),
            "shipment_lines": [{k: v for k, v in sl.items() if v is not None} for sl in shipment.lines],
            "tracking": dict(shipment.tracking),
        }
        if shipment.shipped:
            data["shipped_date"] = iso(shipment.shipped)
        if shipment.invoice_reference:
            data["invoice_reference"] = shipment.invoice_reference
        return data
