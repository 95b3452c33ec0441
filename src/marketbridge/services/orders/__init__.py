"""The orders flow: pull, accept by rule, create exactly once, cancel, housekeeping.

Its commands and views, for workflows, web and CLI. The modules, one per stage:
:mod:`.record` (the order record and its state machine), :mod:`.pulling` (OR11),
:mod:`.todo` (what needs a workflow now), :mod:`.skus` (SKU resolution and the facts a
decision needs), :mod:`.decisions` (accept / refuse / hold, OR21), :mod:`.creation` (the Adobe
Commerce order, invoice and totals check), :mod:`.cancellation`, :mod:`.upkeep` (reminders,
stuck orders, personal-data purge) and :mod:`.views` (what our JSON API and CLI show).

**For other flows** (shipments, refunds): move our order record with::

    record_transition(orders, order_id, OrderState.SHIPPED, actor="shipments", shipment_id=12)

(see :mod:`.record`). Every command takes the :class:`~marketbridge.runtime.Runtime` (settings,
storage, both clients) and keeps transactions short: remote calls happen outside a transaction, so
a slow API never holds a SQLite write lock.

Storage (issue 18): every module reaches the tables only through the orders storage port
(``runtime.orders_store``, :class:`marketbridge.ports.OrdersRepository`), the ones that move the
order record too; the storage errors the exactly-once path acts on (a concurrent change, a
concurrent insert, a locked database) are the port's exceptions, so no module imports SQLAlchemy.

A test that replaces a function must patch it in the module that looks it up (``creation._place``,
``pulling.store_order``), not here.
"""

from marketbridge.services.orders.cancellation import cancel_in_magento, report_unreachable
from marketbridge.services.orders.creation import create_in_magento, finish_creation, request_retry
from marketbridge.services.orders.decisions import DecisionNotAllowed, decide, decide_by_person
from marketbridge.services.orders.pulling import pull
from marketbridge.services.orders.record import get_order_record, is_cancellation_memo, record_transition
from marketbridge.services.orders.results import CancelResult, CreationResult, DecisionResult, FinishResult
from marketbridge.services.orders.todo import pending_actions, retry_stock_waits
from marketbridge.services.orders.upkeep import housekeeping, purge_personal_data
from marketbridge.services.orders.views import (
    OrderDetail,
    OrderSummary,
    find_order_detail,
    list_orders,
    order_detail,
    order_summary,
    to_dict,
)

__all__ = [
    "CancelResult", "CreationResult", "DecisionNotAllowed", "DecisionResult", "FinishResult", "OrderDetail",
    "OrderSummary", "cancel_in_magento", "create_in_magento", "decide", "decide_by_person", "find_order_detail", "finish_creation",
    "get_order_record", "housekeeping", "is_cancellation_memo", "list_orders", "order_detail", "order_summary",
    "pending_actions", "pull", "purge_personal_data", "record_transition", "report_unreachable",
    "request_retry", "retry_stock_waits", "to_dict",
]
