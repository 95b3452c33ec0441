"""The full audit: Adobe Commerce (the master) against every marketplace offer.

Data fetch, in bulk: Magento products (keyset pages) and MSI source items (pages) on one side,
the OF52 asynchronous offer export on the other (OF21 paging where the export is unavailable or
its once-a-day full export was already used). Expected quantity and price go through the stock
flow's rules (:func:`marketbridge.services.catalogue.channel_values`, i.e. the domain's
``publishable_quantity`` / ``channel_price``).

Salable quantity is computed from source items in bulk; every SKU whose offer disagrees is then
*confirmed* with Magento's own salable-quantity API (reservations, minimum quantity, stock not
managed), so the per-SKU calls are proportional to the drift, not to the catalogue.

Each run is kept (``audit_runs``) with its counts per kind and its drift rows (``audit_drifts``).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.catalogue import AuditDrift, AuditRun, CatalogueImport
from marketbridge.adapters.errors import IntegrationError, RateLimited, RemoteError
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    DRIFT_LABELS,
    OFFER_INACTIVE,
    OFFER_WITHOUT_PRODUCT,
    SKU_NEAR_MISS,
    AuditRules,
    Drift,
    DriftKind,
    MagentoRow,
    NearMiss,
    OfferRow,
)
from marketbridge.domain.exceptions import ExceptionReport, ExceptionState
from marketbridge.domain.money import to_money_or_none
from marketbridge.runtime import Runtime
from marketbridge.services import catalogue as catalogue_service
from marketbridge.services import exceptions as exception_service
from marketbridge.services import skus as sku_service

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
    stock_id = runtime.settings.magento_stock_id
    linked_sources = {link.source_code for link in client.stock_source_links(stock_id)}
    salable: dict[str, float] = {}
    done = 0
    for item in client.iterate_source_items(page_size=1000):
        if item.source_code in linked_sources and int(item.status or 0) == 1:
            salable[item.sku] = salable.get(item.sku, 0.0) + float(item.quantity or 0)
        done += 1
        if done % 1000 == 0:
            progress("Adobe Commerce stock", done, None)
    with runtime.db.session() as session:
        overrides = dict(session.execute(select(catalogue_service.PublishOverride.magento_sku,
                                                catalogue_service.PublishOverride.action)).tuples().all())
        stock_rule_rows = catalogue_service._stock_rules(session)  # noqa: SLF001
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
    price = row.get("discount_price", row.get("discount-price")) or row.get("price")
    reasons = row.get("inactivity_reasons", row.get("inactivity-reasons")) or []
    if isinstance(reasons, str):
        reasons = [r for r in reasons.split(",") if r]
    active = row.get("active")
    return OfferRow(
        sku=str(sku), quantity=int(float(row.get("quantity") or 0)),
        price=to_money_or_none(price),  # OF52 CSV text, read as the exact decimal
        active=active if isinstance(active, bool) else str(active).lower() == "true",
        inactivity_reasons=tuple(reasons),
    )


def _offer_from_of21(offer: mirakl_models.Offer) -> OfferRow:
    ean = next((r.reference for r in offer.product_references if (r.reference_type or "").upper() == "EAN"), None)
    return OfferRow(offer.shop_sku, int(offer.quantity), to_money_or_none(offer.price), offer.active,
                    tuple(offer.inactivity_reasons), ean)


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
    with runtime.db.session() as session:
        last = session.scalar(select(AuditRun.started_at).where(AuditRun.offer_source == "OF52")
                              .order_by(AuditRun.started_at.desc()).limit(1))
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
    from marketbridge.services.stock.apply import units_sold_not_in_magento

    client = runtime.magento
    with runtime.db.session() as session:
        stock_rule_rows = catalogue_service._stock_rules(session)  # noqa: SLF001
        # sold on the marketplace, not yet in Magento: already off the offer, rightly (not drift)
        sold = units_sold_not_in_magento(session, [d.magento_sku for d in drifts if d.magento_sku],
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
            salable = client.salable_quantity(drift.magento_sku, runtime.settings.magento_stock_id) if manage else None
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


# ----------------------------------------------------------------------------- running
@dataclass
class AuditOutcome:
    run_id: int
    counts: dict[str, int]
    drifts: list[Drift]
    offer_source: str
    magento_count: int
    offer_count: int
    elapsed_seconds: float
    fixed: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "offer_source": self.offer_source, "magento_count": self.magento_count,
                "offer_count": self.offer_count, "counts": self.counts, "drift_count": len(self.drifts),
                "elapsed_seconds": round(self.elapsed_seconds, 3), "fixed": self.fixed}


def run_audit(runtime: Runtime, *, fix: bool = False, trigger: str = "manual", progress: Progress = _noop) -> AuditOutcome:
    started = time.monotonic()
    with runtime.db.session() as session:
        new_run = AuditRun(trigger=trigger, status="running", fix=fix, counts={}, fixed={})
        session.add(new_run)
        session.flush()
        run_id = new_run.id
    try:
        side = fetch_magento(runtime, progress)
        offers, source = fetch_offers(runtime, progress, source=runtime.settings.audit_offer_source)
        with runtime.db.session() as session:
            links = sku_service.all_links(session)
        progress("Comparing", 0, len(side.rows))
        drifts = catalogue_domain.compare(side.rows, offers, AuditRules(links=links, price_tolerance=PRICE_TOLERANCE))
        drifts = confirm_quantities(runtime, drifts)
        progress("Comparing", len(side.rows), len(side.rows))
        counts = catalogue_domain.count_by_kind(drifts)
        fix_results: dict[int, tuple[str, str]] = {}
        fixed: dict[str, Any] = {}
        with runtime.db.session() as session:
            raise_exceptions(session, drifts)
        if fix:
            progress("Fixing", 0, len(drifts))
            fix_results, fixed = apply_fixes(runtime, drifts)
            progress("Fixing", len(drifts), len(drifts))
        elapsed = time.monotonic() - started
        with runtime.db.session() as session:
            run = session.get(AuditRun, run_id)
            assert run is not None
            run.status, run.offer_source = "complete", source
            run.magento_count, run.offer_count, run.drift_count = len(side.rows), len(offers), len(drifts)
            run.counts, run.fixed, run.finished_at, run.elapsed_seconds = counts, fixed, utcnow(), elapsed
            if drifts:
                session.execute(insert(AuditDrift), [
                    {"run_id": run_id, "kind": d.kind.value, "magento_sku": d.magento_sku, "offer_sku": d.offer_sku,
                     "expected": d.expected[:255], "actual": d.actual[:255], "detail": d.detail,
                     "fix_action": fix_results.get(i, ("", ""))[0], "fix_result": fix_results.get(i, ("", ""))[1]}
                    for i, d in enumerate(drifts)
                ])
        return AuditOutcome(run_id, counts, drifts, source, len(side.rows), len(offers), elapsed, fixed)
    except BaseException as error:
        with runtime.db.session() as session:
            run = session.get(AuditRun, run_id)
            if run is not None:
                run.status, run.error, run.finished_at = "failed", str(error)[:2000], utcnow()
                run.elapsed_seconds = time.monotonic() - started
        raise


def raise_exceptions(session: Session, drifts: Sequence[Drift]) -> None:
    """Drift that needs a person becomes an exception for ecommerce; what is gone clears itself."""
    reports: list[ExceptionReport] = []
    for drift in drifts:
        if drift.kind is DriftKind.OFFER_WITHOUT_PRODUCT and drift.offer_sku is not None:
            reports.append(ExceptionReport(
                type=OFFER_WITHOUT_PRODUCT, object_id=drift.offer_sku,
                message=f"The marketplace offer {drift.offer_sku!r} matches no Adobe Commerce product.",
            ))
        elif drift.kind is DriftKind.SKU_FORMAT_MISMATCH and drift.offer_sku and drift.magento_sku:
            reports.append(sku_service.near_miss_report(NearMiss(drift.offer_sku, drift.magento_sku, drift.detail)))
        elif drift.kind is DriftKind.OFFER_INACTIVE and drift.offer_sku is not None:
            reports.append(ExceptionReport(
                type=OFFER_INACTIVE, object_id=drift.offer_sku,
                message=f"The offer {drift.offer_sku!r} is inactive on John Lewis ({drift.detail}) although "
                        f"{drift.magento_sku} is enabled in Adobe Commerce.",
                context={"inactivity_reasons": drift.detail},
            ))
    record_many(session, reports, types=(OFFER_WITHOUT_PRODUCT, SKU_NEAR_MISS, OFFER_INACTIVE))


def record_many(session: Session, reports: Sequence[ExceptionReport], *, types: Sequence[Any]) -> None:
    """The bulk equivalent of :func:`marketbridge.services.exceptions.record` + ``clear`` for the
    audit's thousands of rows, with the same rules: an active record for the same type and object is
    updated (count, last seen, message); an ignored one stays ignored and only counts; otherwise a new
    open record. Active records of ``types`` whose object is not reported any more are resolved.
    Two queries per type instead of two per row."""
    from marketbridge.adapters.db.models.core import ExceptionRecord

    now = utcnow()
    wanted = {t.code for t in types}
    rows = session.scalars(select(ExceptionRecord).where(
        ExceptionRecord.type.in_(wanted),
        ExceptionRecord.state.in_([*exception_service.ACTIVE_STATES, ExceptionState.IGNORED.value]))).all()
    active: dict[tuple[str, str], Any] = {}
    ignored: dict[tuple[str, str], Any] = {}
    for row in rows:
        key = (row.type, row.object_id)
        if row.state == ExceptionState.IGNORED.value:
            ignored.setdefault(key, row)
        elif key not in active or row.id > active[key].id:
            active[key] = row
    seen: set[tuple[str, str]] = set()
    new_rows = []
    for report in reports:
        key = (report.type.code, report.object_id)
        if key in seen:
            continue
        seen.add(key)
        if key in active:
            row = active[key]
            row.count, row.last_seen, row.message, row.detail = row.count + 1, now, report.message, report.detail
            if report.context:
                row.context = {**(row.context or {}), **report.context}
        elif key in ignored:
            row = ignored[key]
            row.count, row.last_seen = row.count + 1, now
        else:
            new_rows.append(ExceptionRecord(
                type=report.type.code, object_type=report.type.object_type.value, object_id=report.object_id,
                owner=report.type.owner.value, severity=(report.severity or report.type.severity).value,
                message=report.message, detail=report.detail,
                suggested_action=report.suggested_action or report.type.action, state=ExceptionState.OPEN.value,
                context=dict(report.context), count=1, first_seen=now, last_seen=now,
            ))
    session.add_all(new_rows)
    for key, row in active.items():
        if key not in seen:
            row.state, row.resolved_at, row.resolved_by = ExceptionState.RESOLVED.value, now, "system"
    if new_rows:
        log.info("audit.exceptions_opened", count=len(new_rows))


# ----------------------------------------------------------------------------- fixing
FIX_COLUMNS = ["sku", "price", "quantity"]


def apply_fixes(runtime: Runtime, drifts: Sequence[Drift]) -> tuple[dict[int, tuple[str, str]], dict[str, Any]]:
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
            row = per_offer.setdefault(drift.offer_sku, {"sku": drift.offer_sku, "price": "", "quantity": ""})
            row["quantity" if drift.kind is DriftKind.QUANTITY_MISMATCH else "price"] = drift.expected
            offer_drifts.setdefault(drift.offer_sku, []).append(index)
        elif drift.kind is DriftKind.OFFER_INACTIVE:
            results[index] = ("exception", "the marketplace's reason needs a person: raised as an exception")
    summary: dict[str, Any] = {"offers_repushed": 0, "products_republished": 0, "exceptions": 0}
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
    from marketbridge.services.stock import outbox

    stock = [sku for sku, row in values.items() if sku and row.get("quantity")]
    price = [sku for sku, row in values.items() if sku and row.get("price")]
    with runtime.db.session() as session:  # flags of two hints on one SKU accumulate
        outbox.note_hints(session, stock, stock=True, exact=True, force=True, reason="audit fix")
        outbox.note_hints(session, price, stock=False, price=True, force=True, reason="audit fix")
    return len(set(stock) | set(price))


def _repush_offers(runtime: Runtime, rows: list[dict[str, str]]) -> dict[str, str]:
    """OF01 (NORMAL mode, only sku/price/quantity columns: nothing else on the offer changes),
    followed to its report. Returns offer SKU -> ``ok`` or the marketplace's message."""
    client = runtime.mirakl
    try:
        import_id = client.submit_offers(rows, FIX_COLUMNS, mode="NORMAL")
    except RateLimited as error:
        return {r["sku"]: f"deferred: the offer import may be called again in {error.retry_after:.0f} s" for r in rows}
    except RemoteError as error:
        return {r["sku"]: f"not sent: {error}" for r in rows}
    with runtime.db.session() as session:
        session.add(CatalogueImport(api="OF01", import_id=str(import_id), skus=[r["sku"] for r in rows],
                                    purpose="audit_fix"))
    status = client.wait_for_import("OF01", import_id, timeout=runtime.settings.audit_fix_timeout_seconds)
    result = client.import_result("OF01", import_id, [r["sku"] for r in rows], status)
    with runtime.db.session() as session:
        record = session.scalar(select(CatalogueImport).where(CatalogueImport.api == "OF01",
                                                              CatalogueImport.import_id == str(import_id)))
        if record is not None:
            record.status = "done" if result.ok else "failed"
            record.remote_status, record.finished_at = result.status, utcnow()
    return dict(result.results)


# ----------------------------------------------------------------------------- reading runs
def run_dict(run: AuditRun) -> dict[str, Any]:
    return {"id": run.id, "trigger": run.trigger, "status": run.status, "offer_source": run.offer_source,
            "fix": run.fix, "magento_count": run.magento_count, "offer_count": run.offer_count,
            "drift_count": run.drift_count, "counts": run.counts, "fixed": run.fixed, "error": run.error,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "elapsed_seconds": run.elapsed_seconds}


def drift_dict(drift: AuditDrift) -> dict[str, Any]:
    return {"kind": drift.kind, "label": DRIFT_LABELS.get(DriftKind(drift.kind), drift.kind),
            "magento_sku": drift.magento_sku, "offer_sku": drift.offer_sku, "expected": drift.expected,
            "actual": drift.actual, "detail": drift.detail, "fix_action": drift.fix_action,
            "fix_result": drift.fix_result}


def list_runs(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    return [run_dict(r) for r in session.scalars(select(AuditRun).order_by(AuditRun.id.desc()).limit(limit))]


def get_run(session: Session, run_id: int, *, kind: str | None = None, limit: int = 10000) -> dict[str, Any] | None:
    run = session.get(AuditRun, run_id)
    if run is None:
        return None
    query = select(AuditDrift).where(AuditDrift.run_id == run_id).order_by(AuditDrift.id)
    if kind:
        query = query.where(AuditDrift.kind == kind)
    return {**run_dict(run), "drifts": [drift_dict(d) for d in session.scalars(query.limit(limit))]}


CSV_COLUMNS = ["kind", "label", "magento_sku", "offer_sku", "expected", "actual", "detail", "fix_action", "fix_result"]


def run_csv(session: Session, run_id: int) -> str | None:
    """The run's drift rows as CSV; cells that a spreadsheet would run as formulas are quoted."""
    if session.get(AuditRun, run_id) is None:
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for drift in session.scalars(select(AuditDrift).where(AuditDrift.run_id == run_id).order_by(AuditDrift.id)):
        data = drift_dict(drift)
        writer.writerow([catalogue_domain.csv_safe(data[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()
