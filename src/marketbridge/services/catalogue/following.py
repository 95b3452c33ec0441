"""Following the imports we sent: P42 then P44/P47 for products, OF02 then OF03 for offers, and
moving each product's listing on (rejected with the marketplace's reasons, or on to its offer; an
accepted offer becomes ``live`` when OF21 shows it active, else ``inactive`` with reasons).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import RateLimited, RemoteError
from marketbridge.adapters.mirakl.models import OfferImportStatus, ProductImportStatus
from marketbridge.domain.catalogue import (
    PRODUCT_REJECTED,
    ListingStatus,
)
from marketbridge.domain.issues import IssueReport
from marketbridge.runtime import Runtime

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.catalogue import Listing
    from marketbridge.ports import CatalogueRepository

log = structlog.get_logger(__name__)


# ----------------------------------------------------------------------------- following reports

def _reject(repo: CatalogueRepository, listing: Listing, reasons: list[str], source: str) -> None:
    listing.status, listing.stage, listing.problems = ListingStatus.REJECTED.value, "", reasons
    repo.issues.record(IssueReport(
        type=PRODUCT_REJECTED, object_id=listing.magento_sku,
        message=f"John Lewis rejected {listing.magento_sku} ({source}): " + " ".join(reasons),
        context={"reasons": reasons, "source": source},
    ))


def _transformation_errors(runtime: Runtime, import_id: str) -> dict[str, str]:
    """P47 ("source file error report"): the seller's rows plus ``errors`` and ``warnings`` (Mirakl's
    Magento connector reads it so). Only a row with ``errors`` is refused; warnings alone are not."""
    errors: dict[str, str] = {}
    try:
        for row in runtime.mirakl.transformation_error_report(import_id):
            message = (row.get("errors") or row.get("error-message") or "").strip()
            if message:
                errors[row.get("shop_sku", "")] = message
    except RemoteError as error:
        # not lost: P44 (the error report at COMPLETE) refuses the same rows then
        log.warning("catalogue.p47_unread", import_id=import_id, error=str(error)[:200])
    return errors


NOT_CONFIRMED = ("John Lewis's integration reports do not mention this product (neither added nor refused), "
                 "so it is not on the marketplace; publish it again or ask John Lewis.")


def _integrated(runtime: Runtime, import_id: str) -> set[str] | None:
    """P45 ("added products report", filled at COMPLETE): the SKUs the operator integrated. A
    product in neither P44 nor P45 was not integrated (Mirakl's Magento connector counts it as
    failed, NOT_FOUND_IN_REPORT). None when the report cannot be read: then P44 alone decides."""
    try:
        return {row.get("shop_sku", "") for row in runtime.mirakl.new_product_report(import_id)}
    except RemoteError as error:
        log.warning("catalogue.p45_unread", import_id=import_id, error=str(error)[:200])
        return None


def _follow_sent(runtime: Runtime, row_id: int, import_id: str, status: ProductImportStatus) -> None:
    """A P41 import at SENT: transformed and "sent for integration" to the operator, whose products
    do not exist yet (no OF01 for them now: it would get "The product does not exist"). P47 exists
    from SENT, so rows that failed the transformation are refused at once; the rest wait for COMPLETE."""
    store = runtime.catalogue_store
    with store.unit_of_work() as repo:
        record = repo.catalogue_import(row_id)
        assert record is not None
        first_time = record.remote_status != "SENT"
        record.remote_status = "SENT"
    if not (first_time and status.has_transformation_error_report):
        return
    errors = _transformation_errors(runtime, import_id)
    if not errors:
        return
    with store.unit_of_work() as repo:
        record = repo.catalogue_import(row_id)
        assert record is not None
        for sku in record.skus:
            listing = repo.listing(sku)
            if listing is not None and sku in errors and listing.stage == "product_sent":
                _reject(repo, listing, [errors[sku]], "product import")


def follow_imports(runtime: Runtime) -> int:
    """Look once at every import still in flight; returns how many finished.

    Finished means COMPLETE, FAILED, CANCELLED or TRANSFORMATION_FAILED. A product import at
    SENT is still in flight (:func:`_follow_sent`): its products move on to their offers only at
    COMPLETE, when the operator has integrated them and P44 names the ones it refused."""
    finished = 0
    store = runtime.catalogue_store
    with store.unit_of_work() as repo:
        pending = [(i.id, i.api, i.import_id) for i in repo.submitted_imports("publish")]
    for row_id, api, import_id in pending:
        # One branch per API so that each status model is read by its own field name (P42 says
        # import_status, OF02 status); `status` keeps the model for the fields both share.
        status: ProductImportStatus | OfferImportStatus
        try:
            if api == "P41":
                status = product_status = runtime.mirakl.product_import_status(import_id)
                remote = product_status.import_status
            else:
                status = offer_status = runtime.mirakl.offer_import_status(import_id)
                remote = offer_status.status
        except RateLimited as error:  # the status API is not due: asked again on the next pass
            log.info("catalogue.follow_deferred", api=api, import_id=import_id, retry_after=error.retry_after)
            continue
        if api == "P41" and remote == "SENT":
            _follow_sent(runtime, row_id, import_id, product_status)
            continue
        if remote not in ("COMPLETE", "FAILED", "CANCELLED", "TRANSFORMATION_FAILED"):
            with store.unit_of_work() as repo:
                repo.catalogue_import(row_id).remote_status = remote  # type: ignore[union-attr]
            continue
        errors: dict[str, str] = {}
        if status.has_error_report:
            report = (runtime.mirakl.product_error_report(import_id) if api == "P41"
                      else runtime.mirakl.offer_error_report(import_id))
            for line in report:
                errors[line.sku] = line.message
        if api == "P41" and getattr(status, "has_transformation_error_report", False):
            errors.update(_transformation_errors(runtime, import_id))
        confirmed = _integrated(runtime, import_id) if api == "P41" and getattr(
            status, "has_new_product_report", False) else None
        failed = remote in ("FAILED", "CANCELLED", "TRANSFORMATION_FAILED")
        live_check: list[tuple[str, str]] = []
        with store.unit_of_work() as repo:
            record = repo.catalogue_import(row_id)
            assert record is not None
            record.status, record.remote_status, record.finished_at = ("failed" if failed else "done"), remote, utcnow()
            reason = getattr(status, "reason_status", None) or ""
            record.detail = reason
            for sku in record.skus:
                listing = repo.listing(sku)
                if listing is None:
                    continue
                if api == "P41" and listing.stage != "product_sent":
                    continue  # refused at SENT (P47) already, or moved on by a later import
                key = listing.offer_sku if api == "OF01" else sku
                if failed:
                    _reject(repo, listing, [f"The whole import failed: {reason or remote}."], api)
                elif key in errors:
                    _reject(repo, listing, [errors[key]], "product import" if api == "P41" else "offer import")
                elif api == "P41" and confirmed is not None and sku not in confirmed:
                    _reject(repo, listing, [NOT_CONFIRMED], "product import")
                elif api == "P41":
                    listing.stage = "product_ok"
                else:
                    listing.stage = "offer_ok"
                    repo.issues.clear(PRODUCT_REJECTED, sku)
                    live_check.append((sku, listing.offer_sku))
        refresh_live(runtime, [s for s, _ in live_check])
        finished += 1
    return finished


def refresh_live(runtime: Runtime, skus: Sequence[str]) -> dict[str, str]:
    """Ask OF21 whether each product's offer is active: ``live``, or ``inactive`` with Mirakl's reasons."""
    out: dict[str, str] = {}
    store = runtime.catalogue_store
    for sku in skus:
        with store.unit_of_work() as repo:
            listing = repo.listing(sku)
            offer_sku = listing.offer_sku if listing else sku
        offers = [o for o in runtime.mirakl.list_offers(sku=offer_sku) if o.shop_sku == offer_sku]
        with store.unit_of_work() as repo:
            listing = repo.listing(sku)
            if listing is None:
                continue
            if not offers:
                listing.status, listing.stage = ListingStatus.PENDING.value, "offer_ok"
                listing.problems = ["The offer is not visible on the marketplace yet."]
            elif offers[0].active:
                listing.status, listing.stage, listing.problems = ListingStatus.LIVE.value, "", []
            else:
                listing.status, listing.stage = ListingStatus.INACTIVE.value, ""
                listing.problems = [f"Inactive on the marketplace: {r}" for r in offers[0].inactivity_reasons] or [
                    "Inactive on the marketplace (no reason given)."]
            out[sku] = listing.status
    return out
