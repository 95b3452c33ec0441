"""Cancellation: the marketplace cancelled an order we created in Adobe Commerce; and the
issue record for a per-order workflow that gave up on an unreachable remote system.

An invoiced order is cancelled with a credit memo whose comment is ``MARKER <order id>
CANCELLATION_NOTE``, so the refunds flow knows it is not a refund to send.
"""

from __future__ import annotations

from marketbridge.adapters.errors import Rejected
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.runtime import Runtime
from marketbridge.services.orders.record import CANCELLATION_NOTE, MARKER, S, _transition, get_order_record
from marketbridge.services.orders.results import CancelResult


def cancel_in_magento(runtime: Runtime, order_id: str) -> CancelResult:
    """The marketplace cancelled an order we created: cancel it in Adobe Commerce (releasing its
    reservation) if not shipped, else raise an issue for customer service."""
    settings = runtime.settings
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state != S.CREATED.value or order.magento_entity_id is None:
            return CancelResult(order_id, state=order.state, skipped=True)
        entity_id = order.magento_entity_id
    magento_order = runtime.magento.get_order(entity_id)
    shipped = any(i.qty_shipped > 0 for i in magento_order.items)
    if shipped:
        with runtime.orders_store.unit_of_work() as orders:
            orders.issues.record(IssueReport(
                orders_domain.ORDER_CANCELLED_AFTER_SHIPMENT, order_id,
                f"The marketplace cancelled order {order_id}, but Adobe Commerce order {magento_order.increment_id} "
                "has already shipped."))
        return CancelResult(order_id, shipped=True)
    how = "already"
    try:
        # "closed": every invoiced unit is refunded already (our own earlier credit memo, whose
        # answer was lost to a time-out, in the full soak): nothing is left to cancel or reserve.
        if magento_order.state not in ("canceled", "closed"):
            if runtime.magento.cancel_order(entity_id):
                how = "cancelled"
            else:  # invoiced: Magento needs a credit memo, which also releases the unshipped reservation
                runtime.magento.refund_order(entity_id, comment=f"{MARKER} {order_id} {CANCELLATION_NOTE}")
                how = "credit_memo"
    except Rejected as error:
        with runtime.orders_store.unit_of_work() as orders:
            orders.issues.record(IssueReport(
                orders_domain.ORDER_CANCEL_FAILED, order_id,
                f"Order {order_id} was cancelled on the marketplace but Adobe Commerce order "
                f"{magento_order.increment_id} could not be cancelled.", detail=str(error)))
        return CancelResult(order_id, failed=str(error))
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        assert order is not None
        order.reason = "cancelled on the marketplace before shipment"
        _transition(orders, order, S.CANCELLED, actor="marketplace", magento=how)
        orders.issues.clear(orders_domain.ORDER_CANCEL_FAILED, order_id)
    return CancelResult(order_id, cancelled=how)


def report_unreachable(runtime: Runtime, order_id: str, phase: str, error: str) -> None:
    """A per-order workflow gave up after retrying a remote system that kept failing."""
    type_ = {"accept": orders_domain.ORDER_DECISION_FAILED, "cancel": orders_domain.ORDER_CANCEL_FAILED}.get(
        phase, orders_domain.ORDER_CREATION_FAILED)
    what = {"accept": "decide on", "cancel": "cancel", "create": "create", "finish": "invoice"}.get(phase, phase)
    with runtime.orders_store.unit_of_work() as orders:
        orders.issues.record(IssueReport(
            type_, order_id,
            f"marketbridge could not {what} order {order_id}: a remote system kept failing, so it stopped retrying.",
            detail=error))
