"""The Magento side: our view of a product, and the quantity and price the marketplace should show
(through the stock flow's rules: one definition of the rules everywhere).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from marketbridge.domain import stock as stock_domain
from marketbridge.domain.catalogue import (
    CatalogueProduct,
)
from marketbridge.domain.money import to_money_or_none
from marketbridge.domain.times import as_date
from marketbridge.runtime import Runtime


# ----------------------------------------------------------------------------- Magento side
def catalogue_product(product: Any, parent_sku: str | None = None) -> CatalogueProduct:
    """Our view of a Magento ``catalog-data-product-interface`` (the client's ``Product`` model)."""
    attributes: dict[str, Any] = {item.attribute_code: item.value for item in product.custom_attributes}
    if product.weight is not None:
        attributes.setdefault("weight", product.weight)
    media = getattr(product, "media_gallery_entries", None)
    if not attributes.get("image") and media:
        first = media[0]
        attributes["image"] = first.get("file") if isinstance(first, dict) else getattr(first, "file", None)
    children: tuple[str, ...] = ()
    return CatalogueProduct(
        sku=product.sku, name=product.name or "", type_id=product.type_id or "simple", enabled=product.enabled,
        price=to_money_or_none(product.price), attributes=attributes, has_required_options=product.has_required_options
        or str(attributes.get("required_options") or "0") == "1",
        parent_sku=parent_sku, children=children,
    )


def unmanaged_default(runtime: Runtime) -> int:
    return int(getattr(runtime.settings, "stock_unmanaged_default_quantity", 100))


def product_facts(product: CatalogueProduct, manage_stock: bool = True) -> stock_domain.ProductFacts:
    return stock_domain.ProductFacts(
        sku=product.sku, enabled=product.enabled, type_id=product.type_id, manage_stock=manage_stock,
        attributes={k: str(v) for k, v in product.attributes.items() if isinstance(v, str | int | float)},
        category_ids=tuple(str(c) for c in product.attributes.get("category_ids") or []),
    )


def price_facts(product: CatalogueProduct) -> stock_domain.PriceFacts:
    special = product.attributes.get("special_price")
    try:
        special_dec = Decimal(str(special)) if special not in (None, "") else None
    except ArithmeticError:
        special_dec = None
    return stock_domain.PriceFacts(
        price=to_money_or_none(product.price), special_price=special_dec,
        special_from=as_date(product.attributes.get("special_from_date")),
        special_to=as_date(product.attributes.get("special_to_date")),
    )


def channel_values(product: CatalogueProduct, salable: float | None, stock_rule_rows: Sequence[Any], *,
                   manage_stock: bool = True, today: dt.date | None = None,
                   unmanaged_quantity: int = 100) -> tuple[int, Decimal | None]:
    """Quantity and price the marketplace should show, through the stock flow's rules."""
    facts = product_facts(product, manage_stock)
    qty, _ = stock_domain.publishable_quantity(salable, facts, stock_rule_rows, unmanaged_default=unmanaged_quantity)
    price, _ = stock_domain.channel_price(price_facts(product), facts, stock_rule_rows, today or dt.date.today())
    return qty, price
