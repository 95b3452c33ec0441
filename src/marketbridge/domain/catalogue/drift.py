"""The drift comparison of the full audit (Adobe Commerce, the master, against every offer), and CSV
safety for its download. One pass of dict joins, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from marketbridge.domain.catalogue.skus import find_near_misses
from marketbridge.domain.money import to_money


# ----------------------------------------------------------------------------- drift comparison
class DriftKind(enum.StrEnum):
    MISSING_ON_MARKETPLACE = "missing_on_marketplace"
    OFFER_WITHOUT_PRODUCT = "offer_without_product"
    QUANTITY_MISMATCH = "quantity_mismatch"
    PRICE_MISMATCH = "price_mismatch"
    OFFER_INACTIVE = "offer_inactive"
    SKU_FORMAT_MISMATCH = "sku_format_mismatch"


DRIFT_LABELS = {
    DriftKind.MISSING_ON_MARKETPLACE: "Missing on the marketplace",
    DriftKind.OFFER_WITHOUT_PRODUCT: "Offer with no Adobe Commerce product",
    DriftKind.QUANTITY_MISMATCH: "Quantity differs",
    DriftKind.PRICE_MISMATCH: "Price differs",
    DriftKind.OFFER_INACTIVE: "Offer inactive on the marketplace",
    DriftKind.SKU_FORMAT_MISMATCH: "SKU format differs",
}
NEEDS_A_PERSON = frozenset({DriftKind.OFFER_WITHOUT_PRODUCT, DriftKind.SKU_FORMAT_MISMATCH})
EXPECTED_INACTIVITY = frozenset({"ZERO_QUANTITY"})  # explained by the quantity, compared separately


@dataclass(frozen=True, slots=True)
class MagentoRow:
    """One Adobe Commerce product as the audit sees it, *after* the channel rules.

    ``quantity``/``price`` are what the marketplace should show (publishable quantity, channel
    price); ``publishable`` is False for products that should have no offer (excluded types).
    """

    sku: str
    enabled: bool
    quantity: int
    price: Decimal | None
    publishable: bool = True
    ean: str | None = None


@dataclass(frozen=True, slots=True)
class OfferRow:
    """One marketplace offer (OF52 export row or OF21 item). ``price`` is the offer's own price,
    ``discount_price`` its discount when it has one: our price may be either (``price_discounts``
    keep: a back-office discount under our price; magento: Magento's special price as the discount)."""

    sku: str
    quantity: int
    price: Decimal | None
    active: bool = True
    inactivity_reasons: tuple[str, ...] = ()
    ean: str | None = None
    discount_price: Decimal | None = None


@dataclass(frozen=True)
class AuditRules:
    links: Mapping[str, str] = field(default_factory=dict)  # confirmed offer SKU -> Magento SKU
    price_tolerance: Decimal = Decimal("0.005")  # money is compared to the penny


@dataclass(frozen=True, slots=True)
class Drift:
    kind: DriftKind
    magento_sku: str | None
    offer_sku: str | None
    expected: str = ""
    actual: str = ""
    detail: str = ""


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def compare(magento_rows: Iterable[MagentoRow], offer_rows: Iterable[OfferRow], rules: AuditRules = AuditRules()) -> list[Drift]:
    """Every difference between Adobe Commerce (the master) and the marketplace offers.

    One pass of dict joins, no I/O: O(n) for n SKUs. An offer matches a product by exact SKU, else
    through a confirmed link. Unmatched offers that are near misses of an unmatched product are
    reported once as ``sku_format_mismatch`` (not also as missing + orphan).
    """
    products = {row.sku: row for row in magento_rows}
    links = rules.links
    tolerance = rules.price_tolerance
    drifts: list[Drift] = []
    append = drifts.append
    matched: set[str] = set()
    orphans: dict[str, OfferRow] = {}
    for offer in offer_rows:
        sku = offer.sku
        product = products.get(sku)
        if product is None:
            linked = links.get(sku)
            product = products.get(linked) if linked is not None else None
        if product is None:
            orphans[sku] = offer
            continue
        matched.add(product.sku)
        if product.quantity != offer.quantity:
            append(Drift(DriftKind.QUANTITY_MISMATCH, product.sku, sku, str(product.quantity), str(offer.quantity)))
        held = [p for p in (offer.price, offer.discount_price) if p is not None]
        if product.price is not None and not any(abs(to_money(product.price) - to_money(p)) <= tolerance for p in held):
            append(Drift(DriftKind.PRICE_MISMATCH, product.sku, sku, _money(product.price), _money(offer.price)))
        if not offer.active and product.enabled:
            unexplained = [r for r in offer.inactivity_reasons if r not in EXPECTED_INACTIVITY]
            if unexplained or not offer.inactivity_reasons:
                reasons = ", ".join(unexplained) or "no reason given"
                append(Drift(DriftKind.OFFER_INACTIVE, product.sku, sku, "active", "inactive", reasons))
    unmatched_products = {
        sku: row for sku, row in products.items() if sku not in matched and row.publishable and row.enabled
    }
    near = find_near_misses({s: o.ean for s, o in orphans.items()},
                            {s: r.ean for s, r in unmatched_products.items()}) if orphans and unmatched_products else []
    paired_products: set[str] = set()
    for miss in near:
        if miss.magento_sku in paired_products:
            continue
        paired_products.add(miss.magento_sku)
        orphans.pop(miss.offer_sku, None)
        append(Drift(DriftKind.SKU_FORMAT_MISMATCH, miss.magento_sku, miss.offer_sku, miss.magento_sku,
                     miss.offer_sku, miss.reason))
    for sku in orphans:
        append(Drift(DriftKind.OFFER_WITHOUT_PRODUCT, None, sku, "", sku))
    for sku in unmatched_products:
        if sku not in paired_products:
            append(Drift(DriftKind.MISSING_ON_MARKETPLACE, sku, None, "offer", "none"))
    return drifts


def count_by_kind(drifts: Iterable[Drift]) -> dict[str, int]:
    counts = {kind.value: 0 for kind in DriftKind}
    for drift in drifts:
        counts[drift.kind.value] += 1
    return counts


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (``=HYPERLINK(...)`` from an offer SKU)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
