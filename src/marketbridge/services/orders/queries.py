"""What other flows may read of the orders flow's data (issue 18 item 2).

A flow reads another flow's data through that flow's query functions, never its tables: stock and
the catalogue audit ask here how many units the marketplace has sold that Adobe Commerce does not
hold yet, and the personal-data purge asks here which orders are due. The orders flow keeps the
freedom to change ``marketplace_orders`` / ``order_lines``; only these answers are its contract.

The rules (which states count) live here; the queries are the orders storage port's
(:class:`marketbridge.ports.OrdersRepository`, in :mod:`marketbridge.adapters.db.orders`). A caller
that holds a session hands in ``SqlOrdersRepository(session)``, so the read is in its transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from marketbridge.domain.orders import PRE_CREATION_STATES, OrderState
from marketbridge.ports.orders import OrdersRepository

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.orders import MarketplaceOrder


def sold_states(*, until_shipped: bool = False) -> list[str]:
    """The order states whose units Mirakl has taken off the offer and Adobe Commerce does not
    hold yet (see :func:`units_sold_not_in_magento`), sorted so the query text is stable."""
    states = {s.value for s in PRE_CREATION_STATES} | ({OrderState.CREATED.value} if until_shipped else set())
    return sorted(states)


def units_sold_not_in_magento(orders: OrdersRepository, skus: Sequence[str], *, until_shipped: bool = False,
                              ) -> dict[str, float]:
    """Per Magento SKU, the units of marketplace orders that Mirakl has already taken off the offer
    and Adobe Commerce does not hold yet (received, held, accepted, awaiting payment or stock).

    Publishing Magento's salable quantity alone in that window would put sold units back on sale
    (an import sets the offer's quantity outright), and a second customer could buy a unit that
    exists once. Once the order is created, Magento's reservation takes over; a refused or
    cancelled order leaves this sum and its SKUs are re-published (services/orders).
    ``until_shipped``: orders created without a reservation (``direct`` creation) count until they
    ship, when Magento deducts the units from the source."""
    return orders.units_in_states(skus, sold_states(until_shipped=until_shipped))


def orders_due_for_purge(orders: OrdersRepository, cutoff: dt.datetime, *,
                         batch: int = 500) -> Sequence[MarketplaceOrder]:
    """Up to ``batch`` orders received before ``cutoff`` whose personal data is still there, in any
    state (an order held, refused or cancelled before it reached Adobe Commerce carries the same
    customer as one that did), oldest first."""
    return orders.due_for_purge(cutoff, batch=batch)
