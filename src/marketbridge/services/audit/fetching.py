"""Fetching both sides of the audit, in bulk.

Magento products (keyset pages) and MSI source items (pages) on one side, the OF52 asynchronous
offer export on the other (OF21 paging where the export is unavailable or its once-a-day full
export was already used). Expected quantity and price go through the stock flow's rules
(:func:`marketbridge.services.catalogue.channel_values`, i.e. the domain's
``publishable_quantity`` / ``channel_price``).

Salable quantity is computed from source items in bulk; every SKU whose offer disagrees is then
*confirmed* with Magento's own salable-quantity API (reservations, minimum quantity, stock not
managed), so the per-SKU calls are proportional to the drift, not to the catalogue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import IntegrationError, RemoteError
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    Drift,
    DriftKind,
    MagentoRow,
    OfferRow,
)
from marketbridge.domain.money import to_money_or_none
from marketbridge.runtime import Runtime
from marketbridge.services import catalogue as catalogue_service

log = structlog.get_logger(__name__)



Progress = Callable[[str, int, int | None], None]  # (stage, done, total or None)
PRICE_TOLERANCE = Decimal("0.005")


def _noop(stage: str, done: int, total: int | None) -> None:
    return None


# ----------------------------------------------------------------------------- fetching
@dataclass
class MagentoSide:
    """Only the rows are kept (a few dozen bytes per SKU); suspects are re-read from Magento."""

    rows: list[MagentoRow]


def fetch_magento(runtime: Runtime, progress: Progress = _noop) -> MagentoSide:
    """Every product with the quantity and price the marketplace should show."""
    client = runtime.magento
    stock_id = runtime.stock_id
    linked_sources = {link.source_code for link in client.stock_source_links(stock_id)}
    salable: dict[str, float] = {}
    done = 0
    for item in client.iterate_source_items(page_size=1000):
        if item.source_code in linked_sources and int(item.status or 0) == 1:
            salable[item.sku] = salable.get(item.sku, 0.0) + float(item.quantity or 0)
        done += 1
        if done % 1000 == 0:
            progress("Adobe Commerce stock", done, None)
    with runtime.audit_store.unit_of_work() as repo:
        overrides = repo.publish_overrides()
        stock_rule_rows = repo.stock.rules()  # the stock flow's rules (one definition everywhere)
    rows: list[MagentoRow] = []
    unmanaged = catalogue_service.unmanaged_default(runtime)
    import datetime as dt

    today = dt.date.today()
    done = 0
    for raw in client.iterate_products(page_size=500):
        product = catalogue_service.catalogue_product(raw)
        excluded = catalogue_domain.exclusion_reason(product, overrides.get(product.sku)) is not None
        qty, price = catalogue_service.channel_values(product, salable.get(product.sku), stock_rule_rows,
                                                      unmanaged_quantity=unmanaged, today=today)
        ean = product.attributes.get("ean")
        rows.append(MagentoRow(product.sku, product.enabled, qty, price, not excluded, str(ean) if ean else None))
        done += 1
        if done % 500 == 0:
            progress("Adobe Commerce products", done, None)
    progress("Adobe Commerce products", done, done)
    return MagentoSide(rows)


def _offer_from_export(row: dict[str, Any]) -> OfferRow | None:
    if str(row.get("deleted", "")).lower() in ("true", "1"):
        return None
    sku = row.get("shop_sku") if "shop_sku" in row else row.get("shop-sku")
    if sku is None:
        return None
    price = row.get("price")
    discount = row.get("discount_price", row.get("discount-price"))
    reasons = row.get("inactivity_reasons", row.get("inactivity-reasons")) or []
    if isinstance(reasons, str):
        reasons = [r for r in reasons.split(",") if r]
    active = row.get("active")
    return OfferRow(
        sku=str(sku), quantity=int(float(row.get("quantity") or 0)),
        price=to_money_or_none(price),  # OF52 CSV text, read as the exact decimal
        discount_price=to_money_or_none(discount),
        active=active if isinstance(active, bool) else str(active).lower() == "true",
        inactivity_reasons=tuple(reasons),
    )


def _offer_from_of21(offer: mirakl_models.Offer) -> OfferRow:
    ean = next((r.reference for r in offer.product_references if (r.reference_type or "").upper() == "EAN"), None)
    default = next((p for p in offer.all_prices if p.channel_code is None and p.context is None), None)
    price: Decimal | float | None = offer.price
    discount: Decimal | None = None
    if default is not None and default.unit_origin_price is not None:
        price = default.unit_origin_price
        cut = default.unit_discount_price
        discount = cut if cut is not None and cut < default.unit_origin_price else None
    return OfferRow(offer.shop_sku, int(offer.quantity), to_money_or_none(price), offer.active,
                    tuple(offer.inactivity_reasons), ean, discount_price=to_money_or_none(discount))


def export_offer_rows(runtime: Runtime, progress: Progress = _noop) -> list[OfferRow]:
    """OF52 + OF53 + OF54, turning each downloaded chunk into rows at once (a full export of 100,000
    offers as dicts would hold hundreds of MB; rows hold a few dozen bytes each)."""
    import json

    client = runtime.mirakl
    tracking_id = client.start_offer_export(mirakl_models.OfferExportRequest(include_inactive_offers=True))
    deadline = time.monotonic() + runtime.settings.audit_export_timeout_seconds
    while True:
        status = client.offer_export_status(tracking_id)  # OF53's own call frequency paces this loop
        if status.status == "COMPLETED":
            break
        if status.status in ("FAILED", "CANCELED"):
            detail = status.error.detail if status.error else status.status
            raise RemoteError(f"offer export {tracking_id} {status.status}: {detail}", api="OF53")
        if time.monotonic() > deadline:
            raise RemoteError(f"offer export {tracking_id} not complete in time", api="OF53")
    offers: list[OfferRow] = []
    for url in status.urls:
        for row in json.loads(client.download_export_chunk(url)):
            offer = _offer_from_export(row)
            if offer is not None:
                offers.append(offer)
        progress("Marketplace export (OF52)", len(offers), None)
    return offers


def _full_export_allowed(runtime: Runtime) -> bool:
    """A full OF52 export may be requested once a day per shop. Our runs are recorded, so any process
    (CLI, worker) can tell; asking again would earn a 429 whose Retry-After (hours) the client honours."""
    from datetime import timedelta

    from marketbridge.adapters.mirakl.endpoints import OF52_FULL_INTERVAL

    window = timedelta(seconds=OF52_FULL_INTERVAL * runtime.settings.mirakl_rate_limit_scale)
    with runtime.audit_store.unit_of_work() as repo:
        last = repo.last_run_started("OF52")
    return last is None or utcnow() - last >= window


def fetch_offers(runtime: Runtime, progress: Progress = _noop, *, source: str = "OF52") -> tuple[list[OfferRow], str]:
    """Every offer of the shop: OF52 export, or OF21 paging when the export is unavailable (the full
    export may be called once a day; an on-demand audit after the nightly one pages through OF21)."""
    if source == "OF52" and not _full_export_allowed(runtime):
        log.info("audit.full_export_used_today", fallback="OF21")
        source = "OF21"
    if source == "OF52":
        try:
            progress("Marketplace export (OF52)", 0, None)
            offers = export_offer_rows(runtime, progress)
            progress("Marketplace export (OF52)", len(offers), len(offers))
            return offers, "OF52"
        except (RemoteError, IntegrationError) as error:
            log.warning("audit.export_unavailable", error=str(error))
    offers = []
    for offer in runtime.mirakl.list_offers(page_size=100):
        offers.append(_offer_from_of21(offer))
        if len(offers) % 100 == 0:
            progress("Marketplace offers (OF21)", len(offers), None)
    progress("Marketplace offers (OF21)", len(offers), len(offers))
    return offers, "OF21"


def confirm_quantities(runtime: Runtime, drifts: list[Drift]) -> list[Drift]:
    """Re-check each quantity mismatch with Magento's salable-quantity API and the product's stock
    settings; drop the ones that agree after all (reservations, stock not managed, minimum qty,
    units sold on the marketplace that Adobe Commerce does not hold yet)."""
    client = runtime.magento
    with runtime.audit_store.unit_of_work() as repo:
        stock_rule_rows = repo.stock.rules()
        # sold on the marketplace, not yet in Magento: already off the offer, rightly (not drift)
        sold = repo.orders.units_sold_not_in_magento([d.magento_sku for d in drifts if d.magento_sku],
                                                     until_shipped=runtime.settings.order_creation_mode == "direct")
    kept: list[Drift] = []
    budget = runtime.settings.audit_confirm_limit
    for drift in drifts:
        if drift.kind is not DriftKind.QUANTITY_MISMATCH or drift.magento_sku is None:
            kept.append(drift)
            continue
        if budget <= 0:
            kept.append(Drift(drift.kind, drift.magento_sku, drift.offer_sku, drift.expected, drift.actual,
                              "not re-checked with the salable-quantity API (confirmation limit reached)"))
            continue
        budget -= 1
        try:
            detail = client.get_product(drift.magento_sku)
            product = catalogue_service.catalogue_product(detail)
            stock_item = detail.extension_attributes.stock_item
            manage = bool(stock_item.manage_stock) if stock_item is not None and stock_item.manage_stock is not None else True
            salable = client.salable_quantity(drift.magento_sku, runtime.stock_id) if manage else None
            if salable is not None:
                salable -= sold.get(drift.magento_sku, 0.0)
        except RemoteError as error:
            log.warning("audit.confirm_failed", sku=drift.magento_sku, error=str(error))
            kept.append(drift)
            continue
        qty, _ = catalogue_service.channel_values(product, salable, stock_rule_rows, manage_stock=manage,
                                                  unmanaged_quantity=catalogue_service.unmanaged_default(runtime))
        if str(qty) != drift.actual:
            kept.append(Drift(drift.kind, drift.magento_sku, drift.offer_sku, str(qty), drift.actual, drift.detail))
    return kept
