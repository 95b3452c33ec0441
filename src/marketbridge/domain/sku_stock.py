"""A SKU's stock and price state as a value (:class:`SkuStock`), and what to publish for it
(:func:`compute`). Pure: no database, no settings object, no clock.

The flow keeps one row per SKU in ``sku_states``; the services read it as a plain dict
(:mod:`marketbridge.services.stock.apply`) and build a :class:`SkuStock` from it at the boundary
with :meth:`SkuStock.of`. Wire formats of that row, parsed there:

* ``price``, ``special_price``: decimal strings as Adobe Commerce sends them (``"19.99"``);
* ``special_from``, ``special_to``: ISO dates or Magento datetimes (``"2026-01-31 00:00:00"``):
  only the day counts;
* ``attributes``: Magento's custom attributes (``{"required_options": "1", "brand": "Acme"}``),
  ``category_ids``: Magento category ids;
* ``magento_qty``: Magento's salable quantity for the configured stock (``None``: it cannot say);
  ``published_qty``: the quantity the marketplace last confirmed.

A value that does not parse reads as absent (no price, no date), so one bad product field never
stops the rest of a pass.

Whichever way a change was noticed (webhook, poll, full resync, rule change), the same state, rules
and day give the same values: every path computes through here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from marketbridge.domain.stock import (
    COMPOSITE_TYPES,
    PriceFacts,
    ProductFacts,
    Rule,
    channel_price,
    offer_exclusion,
    publishable_quantity,
)
from marketbridge.domain.times import as_date


def _decimal(value: str | None) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@dataclass(frozen=True)
class SkuStock:
    """What :func:`compute` reads of one SKU's stored state, as last read from Adobe Commerce."""

    sku: str
    type_id: str = "simple"
    enabled: bool = True
    manage_stock: bool = True
    attributes: Mapping[str, Any] = field(default_factory=dict)
    category_ids: tuple[Any, ...] = ()
    magento_qty: float | None = None  # Magento's salable quantity (None: Magento cannot say)
    published_qty: int | None = None  # what the marketplace last confirmed
    price: Decimal | None = None
    special_price: Decimal | None = None
    special_from: dt.date | None = None
    special_to: dt.date | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> SkuStock:
        """From a ``sku_states`` row (a dict of its columns)."""
        return cls(
            sku=row["sku"], type_id=row["type_id"], enabled=bool(row["enabled"]),
            manage_stock=bool(row["manage_stock"]), attributes=dict(row["attributes"] or {}),
            category_ids=tuple(row["category_ids"] or ()), magento_qty=row["magento_qty"],
            published_qty=row["published_qty"], price=_decimal(row["price"]),
            special_price=_decimal(row["special_price"]), special_from=as_date(row["special_from"]),
            special_to=as_date(row["special_to"]),
        )

    def product_facts(self) -> ProductFacts:
        return ProductFacts(sku=self.sku, enabled=self.enabled, type_id=self.type_id, manage_stock=self.manage_stock,
                            attributes=dict(self.attributes), category_ids=list(self.category_ids))

    def price_facts(self) -> PriceFacts:
        return PriceFacts(price=self.price, special_price=self.special_price, special_from=self.special_from,
                          special_to=self.special_to)


def compute(stock: SkuStock, rules: Sequence[Rule], today: dt.date,
            published_as_simple: frozenset[str] = frozenset(), *, unmanaged_default: int,
            sold_not_created: float = 0.0) -> tuple[tuple[int, str] | None, tuple[Decimal | None, str]]:
    """(quantity, rule) and (price, rule); quantity None for products with no offer of their own:
    composites (parents and bundles) and what the catalogue excludes (virtual, required options).

    ``published_as_simple``: SKUs the catalogue publishes despite a default exclusion.
    ``unmanaged_default``: the quantity published for a product that does not manage stock
    (setting ``stock_unmanaged_default_quantity``).
    ``sold_not_created``: units of marketplace orders not yet created in Adobe Commerce (see
    :func:`marketbridge.services.orders.queries.units_sold_not_in_magento`); they are off Magento's
    salable quantity for publication."""
    if stock.type_id in COMPOSITE_TYPES:
        return None, (None, "composite")
    excluded = offer_exclusion(stock.type_id, stock.attributes, publish_as_simple=stock.sku in published_as_simple)
    if excluded is not None:
        rule = f"not on the marketplace: {excluded}"[:255]
        if stock.published_qty:  # it had an offer (rule or product changed since): drain it to 0
            return (0, rule), (None, rule)
        return None, (None, rule)
    facts = stock.product_facts()
    salable = stock.magento_qty
    if salable is not None and sold_not_created:
        salable -= sold_not_created
    qty = publishable_quantity(salable, facts, rules, unmanaged_default=unmanaged_default)
    if sold_not_created and facts.manage_stock:
        qty = (qty[0], f"{qty[1]}; {sold_not_created:g} sold on the marketplace, not yet in Adobe Commerce"[:255])
    return qty, channel_price(stock.price_facts(), facts, rules, today)
