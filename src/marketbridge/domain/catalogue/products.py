"""Which Magento products may be published (the exclusion rules), and their variant groups.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


# ----------------------------------------------------------------------------- product types
class ListingStatus(enum.StrEnum):
    """Where a product stands on the marketplace, as the console shows it."""

    NEW = "new"  # known, not yet sent
    EXCLUDED = "excluded"  # never sent (virtual, bundle without a rule, ...), reason shown
    INVALID = "invalid"  # failed our pre-validation, problems shown
    PENDING = "pending"  # sent; waiting for the marketplace's import reports
    REJECTED = "rejected"  # the marketplace refused it, reasons shown
    INACTIVE = "inactive"  # offer exists but is not sellable (reasons shown)
    LIVE = "live"  # offer active on the marketplace


class OverrideAction(enum.StrEnum):
    """An explicit rule for a product excluded by default."""

    PUBLISH_AS_SIMPLE = "publish_as_simple"  # bundle / required custom options: sell as one plain offer


@dataclass(frozen=True)
class CatalogueProduct:
    """What the publisher needs of an Adobe Commerce product (built from the REST payload)."""

    sku: str
    name: str
    type_id: str
    enabled: bool
    price: Decimal | None  # read through str from Magento's JSON number: never a float
    attributes: Mapping[str, Any] = field(default_factory=dict)  # custom attributes + weight, image
    has_required_options: bool = False
    parent_sku: str | None = None  # configurable parent, when this is a child
    children: tuple[str, ...] = ()


NEVER_PUBLISHED = {
    "virtual": "Virtual products (no physical item to ship) are never sold on the marketplace.",
    "downloadable": "Downloadable products are never sold on the marketplace.",
    "grouped": "Grouped products are a display of other products; publish the products themselves.",
}


def exclusion_reason(product: CatalogueProduct, override: str | None = None) -> str | None:
    """Why ``product`` is not published as an offer, or ``None`` when it is.

    Configurable parents are not offers themselves: their children are, with the parent as variant
    group. Bundles and products with required custom options are excluded unless an explicit
    ``publish_as_simple`` rule says otherwise; virtual and downloadable products always are.
    """
    if product.type_id in NEVER_PUBLISHED:
        return NEVER_PUBLISHED[product.type_id]
    if product.type_id == "configurable":
        return "Configurable products are published through their children (one offer per variant)."
    if override == OverrideAction.PUBLISH_AS_SIMPLE:
        return None
    if product.type_id == "bundle":
        return ("Bundles are excluded by default: the marketplace cannot sell a product made of other products. "
                "Add a publish_as_simple rule to sell it as a single item.")
    if product.has_required_options:
        return ("This product has a required custom option (for example engraving text) that marketplace customers "
                "cannot fill in. Add a publish_as_simple rule to sell it without the option.")
    if product.type_id != "simple":
        return f"Products of type '{product.type_id}' are not published."
    return None


def variant_groups(products: Iterable[CatalogueProduct]) -> dict[str, str]:
    """Child SKU -> variant group code (the configurable parent's SKU)."""
    groups: dict[str, str] = {}
    for product in products:
        if product.type_id == "configurable":
            for child in product.children:
                groups[child] = product.sku
        elif product.parent_sku:
            groups.setdefault(product.sku, product.parent_sku)
    return groups
