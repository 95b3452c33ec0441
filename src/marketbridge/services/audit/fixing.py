"""Fixing drift: re-publish what Adobe Commerce says (through the stock flow's outbox inside the
running service, else our own OF01), publish what is missing, and leave to a person what needs one.
"""

from __future__ import annotations

from collections.abc import Sequence

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import RateLimited, RemoteError
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    Drift,
    DriftKind,
)
from marketbridge.runtime import Runtime
from marketbridge.services import catalogue as catalogue_service

# ----------------------------------------------------------------------------- fixing
# One OF01 file per value fixed. In NORMAL mode a column present in the file is applied to every
# row, blank cells included (only the deprecated PARTIAL_UPDATE skipped blanks), so a quantity fix
# must not travel in a file with a price column, nor the other way round.
FIX_FILES = (["sku", "quantity"], ["sku", "price"])


def apply_fixes(runtime: Runtime, drifts: Sequence[Drift]) -> tuple[dict[int, tuple[str, str]], dict[str, int]]:
    """Re-publish what Adobe Commerce says. Returns per-drift (action, result) and a summary."""
    results: dict[int, tuple[str, str]] = {}
    per_offer: dict[str, dict[str, str]] = {}
    offer_drifts: dict[str, list[int]] = {}
    missing: dict[str, int] = {}
    for index, drift in enumerate(drifts):
        if drift.kind in catalogue_domain.NEEDS_A_PERSON:
            results[index] = ("exception", "needs a person: raised as an exception for ecommerce")
        elif drift.kind is DriftKind.MISSING_ON_MARKETPLACE and drift.magento_sku:
            missing[drift.magento_sku] = index
        elif drift.kind in (DriftKind.QUANTITY_MISMATCH, DriftKind.PRICE_MISMATCH) and drift.offer_sku:
            row = per_offer.setdefault(drift.offer_sku, {"sku": drift.offer_sku})
            row["quantity" if drift.kind is DriftKind.QUANTITY_MISMATCH else "price"] = drift.expected
            offer_drifts.setdefault(drift.offer_sku, []).append(index)
        elif drift.kind is DriftKind.OFFER_INACTIVE:
            results[index] = ("exception", "the marketplace's reason needs a person: raised as an exception")
    summary: dict[str, int] = {"offers_repushed": 0, "products_republished": 0, "exceptions": 0}
    summary["exceptions"] = sum(1 for action, _ in results.values() if action == "exception")
    if per_offer and _stock_outbox_available(runtime):
        by_magento = {drifts[i].magento_sku: per_offer[sku] for sku, idx in offer_drifts.items() for i in idx[:1]}
        queued = _enqueue_in_stock_outbox(runtime, by_magento)
        for indexes in offer_drifts.values():
            for index in indexes:
                results[index] = ("stock_outbox", "re-read from Adobe Commerce and re-sent by the stock flow")
        summary["offers_queued"] = queued
        per_offer = {}
    if per_offer:
        outcome = _repush_offers(runtime, list(per_offer.values()))
        for sku, indexes in offer_drifts.items():
            for index in indexes:
                results[index] = ("OF01", outcome.get(sku, "sent"))
        summary["offers_repushed"] = sum(1 for v in outcome.values() if v == "ok")
    if missing:
        prepared = catalogue_service.prepare(runtime, list(missing))
        catalogue_service.publish_pass(runtime)
        for sku, index in missing.items():
            if sku in prepared.ready:
                results[index] = ("publish", "queued for publication (P41 then OF01)")
            elif sku in prepared.invalid:
                results[index] = ("publish", "cannot publish: " + " ".join(prepared.invalid[sku]))
            elif sku in prepared.excluded:
                results[index] = ("publish", "excluded: " + prepared.excluded[sku])
            else:
                results[index] = ("publish", "not found in Adobe Commerce")
        summary["products_republished"] = len(prepared.ready)
    return results, summary


def _stock_outbox_available(runtime: Runtime) -> bool:
    """Inside the running service, quantity and price fixes go through the stock flow, so a single
    writer sends stock and prices (no race between an audit fix and a newer stock push). From the
    CLI, with no service to send the outbox, the audit sends its own OF01 and waits for it."""
    return bool(runtime.settings.audit_fix_via_stock_outbox and runtime.engine.is_running())


def _enqueue_in_stock_outbox(runtime: Runtime, values: dict[str | None, dict[str, str]]) -> int:
    """Ask the stock flow to re-read these SKUs in Adobe Commerce and send what it says *then*, even
    when that equals what it last sent (the marketplace changed, not Magento).

    Not the audit's own value: it was read minutes earlier (the audit reads the whole catalogue), and
    written into the outbox it replaced any newer value the stock flow had queued since (newest write
    wins there), so a correction could publish a stale quantity with nothing left to correct it."""
    stock = [sku for sku, row in values.items() if sku and row.get("quantity")]
    price = [sku for sku, row in values.items() if sku and row.get("price")]
    with runtime.audit_store.unit_of_work() as repo:  # flags of two hints on one SKU accumulate
        repo.stock.force_resend(stock, price, reason="audit fix")  # one sorted write (see note_hint_groups)
    return len(set(stock) | set(price))


def _repush_offers(runtime: Runtime, rows: list[dict[str, str]]) -> dict[str, str]:
    """OF01 (NORMAL mode) with only ``sku`` and the value being fixed: a quantity file for the
    quantity fixes, then a price file for the price fixes (the client waits for OF01's next minute
    in between), so nothing else on the offer changes and no cell is blank. Each file is followed
    to its report. Returns offer SKU -> ``ok`` or the first message the marketplace gave for it."""
    outcome: dict[str, str] = {}
    for columns in FIX_FILES:
        value = columns[1]
        part = [{"sku": r["sku"], value: r[value]} for r in rows if r.get(value)]
        if not part:
            continue
        for sku, result in _send_fix_file(runtime, part, columns).items():
            if outcome.get(sku, "ok") == "ok":
                outcome[sku] = result
    return outcome


def _send_fix_file(runtime: Runtime, rows: list[dict[str, str]], columns: list[str]) -> dict[str, str]:
    client = runtime.mirakl
    try:
        import_id = client.submit_offers(rows, columns, mode="NORMAL")
    except RateLimited as error:
        return {r["sku"]: f"deferred: the offer import may be called again in {error.retry_after:.0f} s" for r in rows}
    except RemoteError as error:
        return {r["sku"]: f"not sent: {error}" for r in rows}
    with runtime.audit_store.unit_of_work() as repo:
        repo.add_import(api="OF01", import_id=str(import_id), skus=[r["sku"] for r in rows], purpose="audit_fix")
    status = client.wait_for_import("OF01", import_id, timeout=runtime.settings.audit_fix_timeout_seconds)
    result = client.import_result("OF01", import_id, [r["sku"] for r in rows], status)
    with runtime.audit_store.unit_of_work() as repo:
        repo.finish_import("OF01", str(import_id), status="done" if result.ok else "failed",
                           remote_status=result.status, finished_at=utcnow())
    return dict(result.results)
