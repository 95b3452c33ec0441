"""Sending imports: P41 for products waiting, OF01 (NORMAL mode) for the offers of accepted products,
each at most once per its call frequency (P41: 15 min; OF01: a minute), by our own record of the
last import of that kind (``catalogue_imports``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import RateLimited
from marketbridge.adapters.mirakl.endpoints import ENDPOINTS
from marketbridge.domain.catalogue import (
    ListingStatus,
)
from marketbridge.runtime import Runtime

if TYPE_CHECKING:
    from marketbridge.ports import CatalogueRepository

log = structlog.get_logger(__name__)



OFFER_COLUMNS = ["sku", "product-id", "product-id-type", "price", "quantity", "state"]


# ----------------------------------------------------------------------------- sending
def _interval(runtime: Runtime, api: str) -> float:
    return (ENDPOINTS[api].min_interval or 0.0) * runtime.settings.mirakl_rate_limit_scale


def _may_send(repo: CatalogueRepository, runtime: Runtime, api: str) -> bool:
    """Our own record of the last import of this kind: never faster than its call frequency."""
    last = repo.last_submitted_at(api)
    return last is None or (utcnow() - last).total_seconds() >= _interval(runtime, api)


def send_products(runtime: Runtime) -> str | None:
    """One P41 import with every product waiting to be sent; returns the import id (or None).

    One unit of work around the P41 call: the import is recorded, and its products moved on, in the
    transaction that read them."""
    with runtime.catalogue_store.unit_of_work() as repo:
        waiting = [w for w in repo.listings_at_stage("", status=ListingStatus.NEW.value) if w.payload.get("product")]
        if not waiting or not _may_send(repo, runtime, "P41"):
            return None
        rows = [w.payload["product"] for w in waiting]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        try:
            import_id = runtime.mirakl.submit_products(rows, columns)
        except RateLimited as error:
            log.info("catalogue.p41_deferred", retry_after=error.retry_after)
            return None
        skus = [w.magento_sku for w in waiting]
        repo.add_import("P41", str(import_id), skus, purpose="publish")
        for w in waiting:
            w.status, w.stage, w.product_import_id = ListingStatus.PENDING.value, "product_sent", str(import_id)
        log.info("catalogue.p41_sent", import_id=import_id, products=len(skus))
        return str(import_id)


def send_offers(runtime: Runtime) -> str | None:
    """One OF01 import (NORMAL mode) with the offers of every accepted product."""
    with runtime.catalogue_store.unit_of_work() as repo:
        waiting = repo.listings_at_stage("product_ok")
        if not waiting or not _may_send(repo, runtime, "OF01"):
            return None
        rows = [w.payload["offer"] for w in waiting]
        try:
            import_id = runtime.mirakl.submit_offers(rows, OFFER_COLUMNS, mode="NORMAL")
        except RateLimited as error:
            log.info("catalogue.of01_deferred", retry_after=error.retry_after)
            return None
        repo.add_import("OF01", str(import_id), [w.magento_sku for w in waiting], purpose="publish")
        for w in waiting:
            w.stage, w.offer_import_id = "offer_sent", str(import_id)
        return str(import_id)
