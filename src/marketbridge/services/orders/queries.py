"""What other flows may read of the orders flow's data (issue 18 item 2).

A flow reads another flow's data through that flow's query functions, never its tables: stock and
the catalogue audit ask here how many units the marketplace has sold that Adobe Commerce does not
hold yet, and the personal-data purge asks here which orders are due. The orders flow keeps the
freedom to change ``marketplace_orders`` / ``order_lines``; only these answers are its contract.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine
from marketbridge.domain.orders import PRE_CREATION_STATES, OrderState


def units_sold_not_in_magento(session: Session, skus: Sequence[str], *, until_shipped: bool = False,
                              ) -> dict[str, float]:
    """Per Magento SKU, the units of marketplace orders that Mirakl has already taken off the offer
    and Adobe Commerce does not hold yet (received, held, accepted, awaiting payment or stock).

    Publishing Magento's salable quantity alone in that window would put sold units back on sale
    (an import sets the offer's quantity outright), and a second customer could buy a unit that
    exists once. Once the order is created, Magento's reservation takes over; a refused or
    cancelled order leaves this sum and its SKUs are re-published (services/orders).
    ``until_shipped``: orders created without a reservation (``direct`` creation) count until they
    ship, when Magento deducts the units from the source."""
    states = {s.value for s in PRE_CREATION_STATES} | ({OrderState.CREATED.value} if until_shipped else set())
    out: dict[str, float] = {}
    wanted = set(skus)
    rows = session.execute(
        select(OrderLine.magento_sku, func.sum(OrderLine.quantity))
        .join(MarketplaceOrder, OrderLine.order_pk == MarketplaceOrder.id)
        .where(MarketplaceOrder.state.in_(sorted(states)),
               OrderLine.magento_sku.is_not(None),
               or_(OrderLine.accepted.is_(None), OrderLine.accepted.is_(True)),
               OrderLine.marketplace_state.not_in(("REFUSED", "CANCELED")))
        .group_by(OrderLine.magento_sku))
    for sku, units in rows:
        if sku in wanted and units:
            out[sku] = float(units)
    return out


def orders_due_for_purge(session: Session, cutoff: dt.datetime, *, batch: int = 500) -> Sequence[MarketplaceOrder]:
    """Up to ``batch`` orders received before ``cutoff`` whose personal data is still there, in any
    state (an order held, refused or cancelled before it reached Adobe Commerce carries the same
    customer as one that did), oldest first."""
    return session.scalars(select(MarketplaceOrder).where(
        MarketplaceOrder.personal_data_purged_at.is_(None), MarketplaceOrder.received_at < cutoff,
    ).order_by(MarketplaceOrder.id).limit(batch)).all()
