"""SKU integrity: near-miss SKUs (an offer SKU that is a product's SKU but for case, spaces or punctuation).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# ----------------------------------------------------------------------------- SKU integrity
_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def normalise_sku(sku: str) -> str:
    """The comparison key for near misses: trimmed, case-folded, letters and digits only."""
    return _NON_ALNUM.sub("", sku.strip().casefold())


@dataclass(frozen=True)
class NearMiss:
    offer_sku: str
    magento_sku: str
    reason: str  # plain English: "differs only by spaces", "same EAN 5012345678900", ...


def near_miss_reason(offer_sku: str, magento_sku: str) -> str:
    if offer_sku.strip() == magento_sku:
        return "differs only by leading or trailing spaces"
    if offer_sku.casefold() == magento_sku.casefold():
        return "differs only by upper/lower case"
    if offer_sku.strip().casefold() == magento_sku.casefold():
        return "differs only by spaces and upper/lower case"
    return "differs only by spaces, case or punctuation"


def find_near_misses(unmatched_offers: Mapping[str, str | None], unmatched_products: Mapping[str, str | None]) -> list[NearMiss]:
    """Suggest links between offers and products that did not match exactly.

    Both arguments map SKU -> EAN (or ``None``). A normalised-SKU match wins over an EAN match; an
    ambiguous key (two products with the same normalised SKU) suggests nothing for it.
    """
    by_key: dict[str, list[str]] = {}
    by_ean: dict[str, list[str]] = {}
    for sku, ean in unmatched_products.items():
        by_key.setdefault(normalise_sku(sku), []).append(sku)
        if ean:
            by_ean.setdefault(str(ean).strip(), []).append(sku)
    found: list[NearMiss] = []
    for offer_sku, ean in unmatched_offers.items():
        key = normalise_sku(offer_sku)
        candidates = by_key.get(key) if key else None
        if candidates and len(candidates) == 1:
            found.append(NearMiss(offer_sku, candidates[0], near_miss_reason(offer_sku, candidates[0])))
            continue
        if ean:
            candidates = by_ean.get(str(ean).strip())
            if candidates and len(candidates) == 1:
                found.append(NearMiss(offer_sku, candidates[0], f"has the same EAN ({str(ean).strip()})"))
    return found
