"""The order feed's model (issue 20): a local mirror of each marketplace order, and what changed
between two reads of it.

Why a mirror: Mirakl allows OR11 once a minute per shop (every 15 minutes for External Partner
keys), and five code paths used to share that one call. One scheduled read keeps this mirror; the
flows read it and react to the changes it publishes instead of calling OR11 themselves.

What is kept is what the flows decide on: states, lines (offer SKU, quantity, price, refunds,
cancelations), tracking, the marketplace's own ``can_cancel`` / ``can_refund`` / ``has_incident``
flags and the deadlines. **No customer personal data**: no name, address, phone or e-mail is a
field of :class:`MirrorOrder`, so none can reach the mirror table (the orders flow keeps the
customer on its own record, under its retention rules).

Money is ``Decimal`` (``marketbridge.domain.money``); in the JSON columns it is a decimal string
(:meth:`MirrorLine.as_json`), never a float.

:func:`changes` compares two versions of one order. A read sees an order only at the moment of
the read: an order that went from WAITING_ACCEPTANCE to SHIPPED within one interval never showed
its SHIPPING state to us, so the kinds are *milestones* (what the order has reached) and the
changes are the milestones reached now and not before; that one read yields ``accepted``,
``paid`` and ``shipped``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

#: Order states after a positive acceptance decision (seller OpenAPI ``order_state`` enum).
ACCEPTED_STATES = frozenset({"WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED", "TO_COLLECT",
                             "RECEIVED", "CLOSED"})
#: States reached only once the customer was debited (SHIPPING onwards).
PAID_STATES = frozenset({"SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"})
#: States reached only once the shop confirmed the shipment (OR24 or ST01/ST24).
SHIPPED_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"})
#: An order that ended without being fulfilled: cancelled, or refused (by us, or automatically).
CANCELLED_STATES = frozenset({"CANCELED", "REFUSED"})


class ChangeKind(enum.StrEnum):
    """What a read found changed on one order. Published on the bus as ``MarketplaceOrderChanged``."""

    APPEARED = "appeared"  # first seen by the feed
    ACCEPTED = "accepted"  # left WAITING_ACCEPTANCE for an accepted state
    PAID = "paid"  # reached SHIPPING: the customer was debited
    SHIPPED = "shipped"  # reached SHIPPED / TO_COLLECT / RECEIVED / CLOSED, or its tracking was set or changed
    REFUNDED = "refunded"  # a new refund id on a line, or a refund's state changed
    CANCELLED = "cancelled"  # the order became CANCELED / REFUSED, or a line got a new cancelation
    INCIDENT_OPENED = "incident_opened"
    INCIDENT_CLOSED = "incident_closed"


@dataclass(frozen=True)
class MirrorRefund:
    """One refund on a line. ``quantity``, ``reason_code`` and ``created_at`` (Mirakl's
    ``created_date``, UTC) are what the refunds flow records of a refund we did not send; they are
    not compared by :func:`changes` (only ``state`` is), so adding them made no new events."""

    id: str
    amount: Decimal
    shipping_amount: Decimal
    state: str | None
    quantity: int | None = None
    reason_code: str | None = None
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class MirrorCancelation:
    """One cancelation on a line (``reason_code`` and ``created_at`` as for :class:`MirrorRefund`)."""

    id: str
    amount: Decimal
    shipping_amount: Decimal
    quantity: int | None
    reason_code: str | None = None
    created_at: dt.datetime | None = None


def _moment_json(moment: dt.datetime | None) -> str | None:
    """A moment in a JSON column: ISO 8601 in UTC (``None`` stays ``null``)."""
    return None if moment is None else moment.astimezone(dt.UTC).isoformat()


def _moment_from_json(text: str | None) -> dt.datetime | None:
    """Back from :func:`_moment_json`; a row written before the field existed has none (None).
    A moment without a zone is UTC, so the value read back equals the one stored."""
    if not text:
        return None
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class MirrorLine:
    line_id: str
    offer_sku: str
    quantity: int
    state: str
    price: Decimal
    shipping_price: Decimal
    #: the marketplace's "whether the order line full amount can be refunded" (None: not sent)
    can_refund: bool | None = None
    refunds: tuple[MirrorRefund, ...] = ()
    cancelations: tuple[MirrorCancelation, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The line as stored in the mirror's JSON column: money as decimal strings."""
        return {
            "line_id": self.line_id, "offer_sku": self.offer_sku, "quantity": self.quantity, "state": self.state,
            "price": str(self.price), "shipping_price": str(self.shipping_price), "can_refund": self.can_refund,
            "refunds": [{"id": r.id, "amount": str(r.amount), "shipping_amount": str(r.shipping_amount),
                         "state": r.state, "quantity": r.quantity, "reason_code": r.reason_code,
                         "created_at": _moment_json(r.created_at)} for r in self.refunds],
            "cancelations": [{"id": c.id, "amount": str(c.amount), "shipping_amount": str(c.shipping_amount),
                              "quantity": c.quantity, "reason_code": c.reason_code,
                              "created_at": _moment_json(c.created_at)} for c in self.cancelations],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MirrorLine:
        return cls(
            line_id=str(data["line_id"]), offer_sku=str(data["offer_sku"]), quantity=int(data["quantity"]),
            state=str(data["state"]), price=Decimal(data["price"]), shipping_price=Decimal(data["shipping_price"]),
            can_refund=data.get("can_refund"),
            refunds=tuple(MirrorRefund(id=str(r["id"]), amount=Decimal(r["amount"]),
                                       shipping_amount=Decimal(r["shipping_amount"]), state=r.get("state"),
                                       quantity=r.get("quantity"), reason_code=r.get("reason_code"),
                                       created_at=_moment_from_json(r.get("created_at")))
                          for r in data.get("refunds") or ()),
            cancelations=tuple(MirrorCancelation(id=str(c["id"]), amount=Decimal(c["amount"]),
                                                 shipping_amount=Decimal(c["shipping_amount"]),
                                                 quantity=c.get("quantity"), reason_code=c.get("reason_code"),
                                                 created_at=_moment_from_json(c.get("created_at")))
                               for c in data.get("cancelations") or ()),
        )


@dataclass(frozen=True)
class MirrorTracking:
    carrier_code: str | None = None
    carrier_name: str | None = None
    number: str | None = None
    url: str | None = None

    @property
    def is_set(self) -> bool:
        return bool(self.number or self.carrier_code or self.carrier_name)

    def as_json(self) -> dict[str, str | None]:
        return {"carrier_code": self.carrier_code, "carrier_name": self.carrier_name, "number": self.number,
                "url": self.url}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> MirrorTracking | None:
        if not data:
            return None
        return cls(carrier_code=data.get("carrier_code"), carrier_name=data.get("carrier_name"),
                   number=data.get("number"), url=data.get("url"))


@dataclass(frozen=True)
class MirrorOrder:
    """One marketplace order as the feed last read it (see the module doc: no personal data)."""

    order_id: str
    state: str
    created_at: dt.datetime
    #: Mirakl's ``last_updated_date``: its clock, not ours
    updated_at: dt.datetime
    currency: str
    lines: tuple[MirrorLine, ...]
    shipping_total: Decimal
    total_price: Decimal
    #: OR11 carries no acceptance deadline: ``created_date`` + the acceptance window (a setting)
    acceptance_deadline: dt.datetime | None = None
    shipping_deadline: dt.datetime | None = None
    customer_debited_at: dt.datetime | None = None
    can_cancel: bool | None = None
    has_incident: bool = False
    tracking: MirrorTracking | None = None
    #: the marketplace's ``fully_refunded`` (the refunds flow moves our order record on it)
    fully_refunded: bool = False

    @property
    def can_refund(self) -> bool | None:
        """Whether any line can be refunded in full, as the marketplace says (None: no line says)."""
        flags = [line.can_refund for line in self.lines if line.can_refund is not None]
        return any(flags) if flags else None


@dataclass(frozen=True)
class OrderChange:
    """One change of one order, as stored in the feed's outbox and published on the bus. ``detail``
    holds strings only (states, ids, amounts as decimal strings), so it is JSON as it is."""

    order_id: str
    kind: ChangeKind
    detail: Mapping[str, str] = field(default_factory=dict)


def _milestones(order: MirrorOrder | None) -> set[ChangeKind]:
    if order is None:
        return set()
    reached: set[ChangeKind] = set()
    if order.state in ACCEPTED_STATES:
        reached.add(ChangeKind.ACCEPTED)
    if order.state in PAID_STATES:
        reached.add(ChangeKind.PAID)
    if order.state in SHIPPED_STATES:
        reached.add(ChangeKind.SHIPPED)
    if order.state in CANCELLED_STATES:
        reached.add(ChangeKind.CANCELLED)
    return reached


def _refunds(order: MirrorOrder | None) -> dict[str, tuple[str, MirrorRefund]]:
    if order is None:
        return {}
    return {refund.id: (line.line_id, refund) for line in order.lines for refund in line.refunds}


def _cancelations(order: MirrorOrder | None) -> dict[str, tuple[str, MirrorCancelation]]:
    if order is None:
        return {}
    return {c.id: (line.line_id, c) for line in order.lines for c in line.cancelations}


def _tracking_key(tracking: MirrorTracking | None) -> tuple[str | None, str | None, str | None] | None:
    if tracking is None or not tracking.is_set:
        return None
    return (tracking.carrier_code, tracking.carrier_name, tracking.number)


def changes(before: MirrorOrder | None, after: MirrorOrder) -> tuple[OrderChange, ...]:
    """What ``after`` shows that ``before`` (the mirror's previous version, None for an order the feed
    has never seen) did not, in a fixed order: appeared, accepted, paid, shipped, refunded (one per
    refund), cancelled (the order, then one per new line cancelation), incident opened/closed.

    A first sighting compares with an empty order: an order first read already SHIPPING yields
    ``appeared``, ``accepted`` and ``paid`` (the flows have not seen it either). Re-reading an
    unchanged order yields nothing, which is what makes the feed's overlap safe.
    """
    oid = after.order_id
    found: list[OrderChange] = []
    if before is None:
        found.append(OrderChange(oid, ChangeKind.APPEARED, {"state": after.state}))
    previous_state = before.state if before is not None else ""
    new = _milestones(after) - _milestones(before)
    moved = {"from": previous_state, "to": after.state}
    if ChangeKind.ACCEPTED in new:
        found.append(OrderChange(oid, ChangeKind.ACCEPTED, moved))
    if ChangeKind.PAID in new:
        debited = after.customer_debited_at.isoformat() if after.customer_debited_at else ""
        found.append(OrderChange(oid, ChangeKind.PAID, {**moved, "customer_debited_at": debited}))
    tracking_now = _tracking_key(after.tracking)
    tracking_changed = tracking_now is not None and tracking_now != _tracking_key(before.tracking if before else None)
    if ChangeKind.SHIPPED in new or tracking_changed:
        detail = dict(moved) if ChangeKind.SHIPPED in new else {"state": after.state}
        if tracking_changed and after.tracking is not None:
            detail.update({"carrier_code": after.tracking.carrier_code or "",
                           "carrier_name": after.tracking.carrier_name or "",
                           "tracking_number": after.tracking.number or ""})
        found.append(OrderChange(oid, ChangeKind.SHIPPED, detail))
    known_refunds = _refunds(before)
    for refund_id, (line_id, refund) in _refunds(after).items():
        earlier = known_refunds.get(refund_id)
        if earlier is not None and earlier[1].state == refund.state:
            continue
        detail = {"refund_id": refund_id, "order_line_id": line_id, "amount": str(refund.amount),
                  "shipping_amount": str(refund.shipping_amount), "state": refund.state or ""}
        if earlier is not None:
            detail["previous_state"] = earlier[1].state or ""
        found.append(OrderChange(oid, ChangeKind.REFUNDED, detail))
    if ChangeKind.CANCELLED in new:
        found.append(OrderChange(oid, ChangeKind.CANCELLED, {**moved, "scope": "order"}))
    known_cancelations = _cancelations(before)
    for cancelation_id, (line_id, cancelation) in _cancelations(after).items():
        if cancelation_id in known_cancelations:
            continue
        found.append(OrderChange(oid, ChangeKind.CANCELLED, {
            "scope": "line", "cancelation_id": cancelation_id, "order_line_id": line_id,
            "amount": str(cancelation.amount), "shipping_amount": str(cancelation.shipping_amount),
            "quantity": "" if cancelation.quantity is None else str(cancelation.quantity)}))
    had_incident = before.has_incident if before is not None else False
    if after.has_incident and not had_incident:
        found.append(OrderChange(oid, ChangeKind.INCIDENT_OPENED, {"state": after.state}))
    elif had_incident and not after.has_incident:
        found.append(OrderChange(oid, ChangeKind.INCIDENT_CLOSED, {"state": after.state}))
    return tuple(found)


__all__ = ["ACCEPTED_STATES", "CANCELLED_STATES", "PAID_STATES", "SHIPPED_STATES", "ChangeKind", "MirrorCancelation",
           "MirrorLine", "MirrorOrder", "MirrorRefund", "MirrorTracking", "OrderChange", "changes"]
