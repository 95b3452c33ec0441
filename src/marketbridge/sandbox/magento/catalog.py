"""Products of the simulated store and how they render as ``catalog-data-product-interface``.

Products are kept as small slotted objects and rendered on demand, so that 100,000 of them start
in seconds and fit in memory. Attribute option ids (colour 93, size 144, values 50+/167+) follow
the Luma sample data conventions; they only have to be stable and consistent between the
configurable parent's ``configurable_product_options`` and the children's ``custom_attributes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from marketbridge.sandbox.catalogue import COLOURS, SIZES, SeedProduct

COLOR_ATTRIBUTE_ID = 93
SIZE_ATTRIBUTE_ID = 144
COLOR_OPTION_IDS = {c: 50 + i for i, c in enumerate(COLOURS)}
SIZE_OPTION_IDS = {s: 167 + i for i, s in enumerate(SIZES)}
CATEGORY_IDS = {
    "home/furniture": 3,
    "home/lighting": 4,
    "home/kitchen": 5,
    "fashion/women": 6,
    "fashion/men": 7,
    "electricals/audio": 8,
}
STOCK_TYPES = {"simple", "virtual", "downloadable"}  # types that carry their own source items
COMPOSITE_TYPES = {"configurable", "bundle", "grouped"}


_NON_SLUG = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)
def slug(text: str) -> str:
    return _NON_SLUG.sub("-", text.lower()).strip("-")


@dataclass(slots=True)
class Product:
    id: int
    sku: str
    name: str
    type_id: str
    price: float
    status: int
    visibility: int
    weight: float
    created_at: str
    updated_at: str
    attributes: dict[str, Any] = field(default_factory=dict)  # custom_attributes code -> value
    manage_stock: bool = True
    min_qty: float = 0.0
    children: list[str] = field(default_factory=list)  # configurable children SKUs
    parent_sku: str | None = None
    bundle_options: list[dict[str, Any]] = field(default_factory=list)
    custom_options: list[dict[str, Any]] = field(default_factory=list)
    attribute_set_id: int = 4

    @classmethod
    def from_seed(cls, seed: SeedProduct, entity_id: int, now: str) -> Product:
        attributes: dict[str, Any] = {
            "description": seed.description,
            "url_key": f"{slug(seed.name)}-{seed.sku.lower()}",
            "ean": seed.ean,
            "brand": seed.brand,
            "mb_category_code": seed.category_code,
            "category_ids": [str(CATEGORY_IDS.get(seed.category_code, 2))],
            "tax_class_id": "2",
        }
        if seed.image:
            attributes["image"] = seed.image
        if seed.special_price is not None:
            attributes["special_price"] = f"{seed.special_price:.4f}"
        if "color" in seed.attributes:
            attributes["color"] = str(COLOR_OPTION_IDS[seed.attributes["color"]])
        if "size" in seed.attributes:
            attributes["size"] = str(SIZE_OPTION_IDS[seed.attributes["size"]])
        custom_options = []
        if seed.required_custom_option:
            attributes["required_options"] = "1"
            attributes["has_options"] = "1"
            custom_options.append(
                {
                    "product_sku": seed.sku,
                    "option_id": entity_id * 10 + 1,
                    "title": seed.required_custom_option,
                    "type": "field",
                    "sort_order": 1,
                    "is_require": True,
                    "price": 0,
                    "price_type": "fixed",
                    "max_characters": 30,
                }
            )
        return cls(
            id=entity_id,
            sku=seed.sku,
            name=seed.name,
            type_id=seed.type_id,
            price=seed.price,
            status=seed.status,
            visibility=1 if seed.parent_sku else 4,
            weight=seed.weight,
            created_at=now,
            updated_at=now,
            attributes=attributes,
            manage_stock=seed.manage_stock,
            children=list(seed.children),
            parent_sku=seed.parent_sku,
            custom_options=custom_options,
        )

    def custom_attributes(self) -> list[dict[str, Any]]:
        return [{"attribute_code": k, "value": v} for k, v in self.attributes.items()]

    def effective_price(self) -> float:
        special = self.attributes.get("special_price")
        if special not in (None, ""):
            try:
                return min(self.price, float(special))
            except (TypeError, ValueError):
                return self.price
        return self.price
