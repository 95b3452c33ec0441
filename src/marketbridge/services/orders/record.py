"""The order record and its state machine; the one way to move an order.

**For other flows** (shipments, refunds): move our order record with::

    record_transition(orders, order_id, OrderState.SHIPPED, actor="shipments", shipment_id=12)

on an orders repository (:class:`marketbridge.ports.OrdersRepository`; the other flows' units of
work reach it through :class:`RepositoryOrderRecords`).
It checks the state machine in :mod:`marketbridge.domain.orders`, writes a timestamped row in
``order_transitions`` with the keyword facts, is a no-op when the order is already in that state,
raises ``LookupError`` for an unknown order and ``TransitionNotAllowed`` for an illegal move.
:func:`get_order_record` returns the record (Magento entity id, increment id, lines).

A transition into a state that changes the offer on Mirakl's side re-publishes the stock of the
order's SKUs (stock flow). ``MARKER`` starts every comment and credit memo marketbridge writes in
Adobe Commerce.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.orders import MarketplaceOrder
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.orders import OrderState
from marketbridge.ports.orders import OrderChangedUnderUs, OrdersRepository
from marketbridge.runtime import Runtime
from marketbridge.services.orders import queries

log = structlog.get_logger("marketbridge.services.orders")  # the flow's one logger name, as before the split
S = OrderState
T = TypeVar("T")
MARKER = "[marketbridge] Marketplace order"
CANCELLATION_NOTE = "cancelled on the marketplace"  # ends the comment of the memo a cancellation makes
_CANCELLATION_MEMO = re.compile(re.escape(MARKER) + r" \S+ " + re.escape(CANCELLATION_NOTE))



def is_cancellation_memo(comment: str) -> bool:
    """The credit memo marketbridge made to cancel an invoiced order (not a refund to send)."""
    return bool(_CANCELLATION_MEMO.search(comment or ""))



def get_order_record(orders: OrdersRepository, order_id: str, connection: str | None = None) -> MarketplaceOrder | None:
    """The record with its lines (of ``connection`` when given), None for an unknown order."""
    return orders.order(order_id, connection)


OFFER_CHANGING_STATES = frozenset(s.value for s in (S.ACCEPTED, S.HELD, S.AWAITING_PAYMENT, S.REFUSED, S.CANCELLED))


def _transition(orders: OrdersRepository, order: MarketplaceOrder, new_state: OrderState | str, *,
                actor: str = "system", **facts: Any) -> bool:
    if not orders_domain.check_transition(order.state, new_state):
        return False
    now = utcnow()
    orders.add_transition(order, from_state=order.state, to_state=OrderState(new_state).value, at=now, actor=actor,
                          facts=_jsonable(facts))
    order.state = OrderState(new_state).value
    order.state_changed_at = now
    log.info("order.transition", order_id=order.order_id, state=order.state, actor=actor)
    if order.state in OFFER_CHANGING_STATES:
        # The offer changed on Mirakl's side: a sale took units off it, a refusal or cancellation
        # put them back. Re-publish even when our value equals the one last sent (found by the
        # soak: a sale, then stock booked in, and the value equalled the one sent before the sale
        # while the offer showed one less, for good). Awaiting payment too: a poll may skip ACCEPTED.
        _republish_stock_of(orders, order)
    elif order.state in (OrderState.CREATED.value, OrderState.SHIPPED.value):
        # The units leave the sum the stock flow holds back: on creation, as Magento's reservation
        # takes over; on shipping, for an order created without one (``direct``). Re-read the SKUs
        # (not forced: unchanged values are not re-sent). On creation this also closes a race the
        # soak found (dossiers MB-000194, MB-000079): a read that took Magento's salable quantity
        # just before the reservation and the units held back just after it published one unit
        # too many, and nothing read the SKU again until the poll.
        orders.stock.note_hints(sorted({line.magento_sku for line in order.lines if line.magento_sku}),
                                stock=True, exact=True, reason=f"order {order.state}")
    return True


def _republish_stock_of(orders: OrdersRepository, order: MarketplaceOrder) -> None:
    """Mirakl takes the units of a sale off the offer and puts those of a refused or cancelled order
    (or line) back; publish the quantity Adobe Commerce says (less the units sold and not yet in
    Magento) again. Forced: the value is often the one last sent (the offer changed on Mirakl's
    side, not ours)."""
    skus = {line.magento_sku or line.offer_sku.strip() for line in order.lines if line.offer_sku}
    if skus:
        orders.stock.note_hints(sorted(skus), stock=True, exact=True, force=True, reason=f"order {order.state}"[:64])


def record_transition(orders: OrdersRepository, order_id: str, new_state: OrderState | str, *,
                      actor: str = "system", connection: str | None = None, **facts: Any) -> MarketplaceOrder:
    """Move an order to ``new_state`` (see the module docstring). Returns the record."""
    order = get_order_record(orders, order_id, connection)
    if order is None:
        raise LookupError(f"no marketplace order {order_id}")
    _transition(orders, order, new_state, actor=actor, **facts)
    return order


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _write_with_retry(runtime: Runtime, fn: Callable[[OrdersRepository], T]) -> T:
    """Run ``fn`` in a unit of work; if a concurrent change to the same order wins
    (:class:`OrderChangedUnderUs`), run it again on a fresh read (``fn`` decides from the state it
    then finds)."""
    for attempt in range(3):
        try:
            with runtime.orders_store.unit_of_work() as orders:
                return fn(orders)
        except OrderChangedUnderUs:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class RepositoryOrderRecords:
    """The :class:`marketbridge.ports.OrderRecords` port over an orders repository on another flow's
    transaction (the composition root builds it on that flow's session): how the shipments flow's
    unit of work (:class:`marketbridge.adapters.db.shipments.SqlShipmentsStore`) moves an order
    record to shipped, and the refunds flow's (:class:`marketbridge.adapters.db.refunds.SqlRefundsStore`)
    to refunded, through this flow's :func:`record_transition`, in their own transaction; the audit's
    (:class:`marketbridge.adapters.db.audit.SqlAuditStore`) reads the units sold not yet in Adobe
    Commerce (:func:`marketbridge.services.orders.queries.units_sold_not_in_magento`)."""

    def __init__(self, orders: OrdersRepository) -> None:
        self.orders = orders

    def mark_shipped(self, order_id: str, *, carriers: list[str], tracking_numbers: list[str],
                     at: dt.datetime) -> str | None:
        try:
            with self.orders.savepoint():
                record_transition(self.orders, order_id, OrderState.SHIPPED, actor="shipments",
                                  carriers=carriers, tracking_numbers=tracking_numbers, shipped_at=at)
        except (LookupError, orders_domain.TransitionNotAllowed) as error:
            return str(error)
        return None

    def mark_refunded(self, order_id: str, *, connection: str, source: str) -> str | None:
        """As the refunds flow always did: no savepoint; an unknown order is skipped, and so is a
        record the state machine cannot move to ``refunded`` (one the order feed stored only now,
        still ``received``, for an order the marketplace has long since refunded): the refund
        itself is recorded by the refunds flow either way. Returns why it was skipped."""
        try:
            record_transition(self.orders, order_id, "refunded", actor="refunds", connection=connection,
                              source=source)
        except LookupError as error:
            return str(error)
        except orders_domain.TransitionNotAllowed as error:
            log.warning("order.refunded_not_followed", order_id=order_id, error=str(error))
            return str(error)
        return None

    def marketplace_payload(self, order_id: str, *, connection: str) -> dict[str, Any] | None:
        order = get_order_record(self.orders, order_id, connection)
        return dict(order.raw) if order is not None and order.raw else None

    def units_sold_not_in_magento(self, skus: Sequence[str], *, until_shipped: bool = False) -> dict[str, float]:
        return queries.units_sold_not_in_magento(self.orders, skus, until_shipped=until_shipped)
