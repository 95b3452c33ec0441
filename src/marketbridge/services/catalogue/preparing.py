"""Step 0 of publishing: :func:`prepare` reads products from Adobe Commerce, applies the exclusion
rules, maps attributes and categories, pre-validates against PM11/H11/VL11 and records every
problem in plain English on the listing (and as a ``catalogue_product_invalid`` issue for
ecommerce). Valid products get their P41 row and OF01 offer row in ``listing.payload``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import NotFound, RemoteError
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    CATEGORY_SOURCE,
    PRODUCT_INVALID,
    ListingStatus,
)
from marketbridge.domain.issues import IssueReport
from marketbridge.runtime import Runtime
from marketbridge.services.catalogue.mappings import attribute_mappings, category_mappings
from marketbridge.services.catalogue.products import (
    catalogue_product,
    channel_values,
    unmanaged_default,
)
from marketbridge.services.catalogue.reference import market_reference

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.catalogue import Listing
    from marketbridge.ports import CatalogueRepository

log = structlog.get_logger(__name__)

OFFER_STATE_NEW = "11"


# ----------------------------------------------------------------------------- prepare
@dataclass
class PrepareResult:
    ready: list[str] = field(default_factory=list)
    invalid: dict[str, list[str]] = field(default_factory=dict)
    excluded: dict[str, str] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)


def _listing(repo: CatalogueRepository, sku: str) -> Listing:
    row = repo.listing(sku)
    if row is None:
        row = repo.add_listing(sku, status=ListingStatus.NEW.value)
    return row


def _expand(runtime: Runtime, skus: Iterable[str]) -> tuple[list[tuple[Any, str | None]], list[str]]:
    """Fetch each SKU from Magento; a configurable parent brings its children (variant group = parent)."""
    out: dict[str, tuple[Any, str | None]] = {}
    missing: list[str] = []
    for sku in dict.fromkeys(skus):
        if sku in out:
            continue
        try:
            product = runtime.magento.get_product(sku)
        except NotFound:
            missing.append(sku)
            continue
        out[sku] = (product, None)
        if product.type_id == "configurable":
            for child in runtime.magento.configurable_children(sku):
                out[child.sku] = (runtime.magento.get_product(child.sku), product.sku)
    return list(out.values()), missing


def prepare(runtime: Runtime, skus: Sequence[str]) -> PrepareResult:
    """Validate ``skus`` (and a configurable's children) and queue the valid ones for sending.

    Every product's listing, issue and payload is written in one unit of work (the stock flow's
    rules and the SKU links are read in it too)."""
    result = PrepareResult()
    fetched, result.not_found = _expand(runtime, skus)
    reference = market_reference(runtime) if fetched else None
    with runtime.catalogue_store.unit_of_work() as repo:
        mappings = attribute_mappings(repo)
        categories = category_mappings(repo)
        overrides = repo.override_actions()
        stock_rule_rows = repo.stock.rules()
        for raw, parent in fetched:
            product = catalogue_product(raw, parent)
            listing = _listing(repo, product.sku)
            listing.type_id = product.type_id
            listing.requested_at = utcnow()
            if parent is None and listing.variant_group and product.type_id == "simple":
                parent = listing.variant_group
            listing.variant_group = parent
            reason = catalogue_domain.exclusion_reason(product, overrides.get(product.sku))
            if reason is not None:
                listing.status, listing.stage, listing.problems = ListingStatus.EXCLUDED.value, "", [reason]
                result.excluded[product.sku] = reason
                repo.issues.clear(PRODUCT_INVALID, product.sku)
                continue
            assert reference is not None
            category = catalogue_domain.map_category(product, categories, reference)
            row = catalogue_domain.normalise_list_values(catalogue_domain.map_product(product, mappings, category, parent), reference)
            manage_stock = True
            stock_item = raw.extension_attributes.stock_item
            if stock_item is not None and getattr(stock_item, "manage_stock", None) is not None:
                manage_stock = bool(stock_item.manage_stock)
            salable = _salable(runtime, product.sku) if product.enabled and manage_stock else None
            qty, price = channel_values(product, salable, stock_rule_rows, manage_stock=manage_stock,
                                        unmanaged_quantity=unmanaged_default(runtime))
            problems = catalogue_domain.validate(row, reference, sku=product.sku,
                                      raw_category=str(product.attributes.get(CATEGORY_SOURCE) or ""), price=price)
            if not product.enabled:
                problems.insert(0, "It is disabled in Adobe Commerce; enable it to sell it on the marketplace.")
            if problems:
                listing.status, listing.stage, listing.problems = ListingStatus.INVALID.value, "", problems
                result.invalid[product.sku] = problems
                repo.issues.record(IssueReport(
                    type=PRODUCT_INVALID, object_id=product.sku,
                    message=f"{product.sku} cannot be published: " + " ".join(problems),
                    context={"problems": problems},
                ))
                continue
            repo.issues.clear(PRODUCT_INVALID, product.sku)
            offer_sku = repo.skus.offer_sku_for(product.sku)
            listing.offer_sku = offer_sku
            listing.payload = {
                "product": row,
                "offer": {"sku": offer_sku, "product-id": product.sku, "product-id-type": "SHOP_SKU",
                          "price": f"{price:.2f}" if price is not None else "", "quantity": str(qty),
                          "state": OFFER_STATE_NEW},
            }
            listing.status, listing.stage, listing.problems = ListingStatus.NEW.value, "", []
            result.ready.append(product.sku)
    return result


def _salable(runtime: Runtime, sku: str) -> float | None:
    try:
        return runtime.magento.salable_quantity(sku, runtime.stock_id)
    except RemoteError as error:
        log.warning("catalogue.salable_unreadable", sku=sku, error=str(error))
        return None
