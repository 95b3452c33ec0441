"""Mapping a Magento product's attributes and category to the marketplace's (the P41 row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marketbridge.domain.catalogue.products import CatalogueProduct
from marketbridge.domain.catalogue.reference import MarketReference
from marketbridge.domain.money import canonical


# ----------------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class AttributeMapping:
    """Marketplace attribute <- Magento source.

    ``source`` is a Magento field (``sku``, ``name``, ``price``, ``weight``), a custom attribute code
    (``brand``, ``ean``, ``image``), or a constant written ``=value``. ``value_map`` turns Magento
    values (option ids, labels) into marketplace value codes.
    """

    attribute: str
    source: str
    value_map: Mapping[str, str] = field(default_factory=dict)


DEFAULT_ATTRIBUTE_MAPPINGS: tuple[AttributeMapping, ...] = (
    AttributeMapping("shop_sku", "sku"),
    AttributeMapping("title", "name"),
    AttributeMapping("description", "description"),
    AttributeMapping("brand", "brand"),
    AttributeMapping("ean", "ean"),
    AttributeMapping("main_image", "image"),
    AttributeMapping("color", "color"),
    AttributeMapping("size", "size"),
    AttributeMapping("weight_kg", "weight"),
)
CATEGORY_SOURCE = "mb_category_code"  # Magento attribute carrying the product's category code
VARIANT_GROUP_COLUMN = "variant_group_code"


def _source_value(product: CatalogueProduct, source: str) -> Any:
    if source.startswith("="):
        return source[1:]
    if source == "sku":
        return product.sku
    if source == "name":
        return product.name
    if source == "price":
        return product.price
    return product.attributes.get(source)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):  # a price: every digit (``:g`` below would print 12999.99 as 13000)
        return canonical(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value).strip()


def map_category(product: CatalogueProduct, category_map: Mapping[str, str], reference: MarketReference) -> str | None:
    """The marketplace category of ``product``: the mapping table first, else the Magento value itself
    when it is already a marketplace category code."""
    raw = _text(product.attributes.get(CATEGORY_SOURCE))
    if not raw:
        for category_id in product.attributes.get("category_ids") or []:
            if str(category_id) in category_map:
                return category_map[str(category_id)]
        return None
    if raw in category_map:
        return category_map[raw]
    if raw in reference.categories:
        return raw
    return None


def map_product(product: CatalogueProduct, mappings: Sequence[AttributeMapping], category: str | None,
                variant_group: str | None = None) -> dict[str, str]:
    """The P41 row (marketplace attribute code -> text) for ``product``."""
    row: dict[str, str] = {"category": category or ""}
    for mapping in mappings:
        value = _text(_source_value(product, mapping.source))
        row[mapping.attribute] = mapping.value_map.get(value, value)
    row.setdefault("shop_sku", product.sku)
    if variant_group:
        row[VARIANT_GROUP_COLUMN] = variant_group
    return row
