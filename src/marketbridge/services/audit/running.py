"""Running the audit: fetch, compare, confirm, raise issues for what needs a person, fix on
request, and keep the run (``audit_runs``) with its counts per kind and its drift rows
(``audit_drifts``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    OFFER_INACTIVE,
    OFFER_WITHOUT_PRODUCT,
    SKU_NEAR_MISS,
    AuditRules,
    Drift,
    DriftKind,
    NearMiss,
)
from marketbridge.domain.issues import IssueReport, IssueState
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services import skus as sku_service
from marketbridge.services.audit.fetching import (
    PRICE_TOLERANCE,
    Progress,
    _noop,
    confirm_quantities,
    fetch_magento,
    fetch_offers,
)
from marketbridge.services.audit.fixing import apply_fixes
from marketbridge.services.audit.results import AuditSummary

if TYPE_CHECKING:
    from marketbridge.ports import AuditRepository

log = structlog.get_logger(__name__)


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
    fixed: dict[str, int] = field(default_factory=dict)

    def summary(self) -> AuditSummary:
        return AuditSummary(run_id=self.run_id, offer_source=self.offer_source, magento_count=self.magento_count,
                            offer_count=self.offer_count, counts=self.counts, drift_count=len(self.drifts),
                            elapsed_seconds=round(self.elapsed_seconds, 3), fixed=self.fixed)


def run_audit(runtime: Runtime, *, fix: bool = False, trigger: str = "manual", progress: Progress = _noop) -> AuditOutcome:
    started = time.monotonic()
    store = runtime.audit_store
    with store.unit_of_work() as repo:
        run_id = repo.add_run(trigger=trigger, fix=fix)
    try:
        side = fetch_magento(runtime, progress)
        offers, source = fetch_offers(runtime, progress, source=runtime.settings.audit_offer_source)
        with store.unit_of_work() as repo:
            links = repo.skus.all_links()
        progress("Comparing", 0, len(side.rows))
        drifts = catalogue_domain.compare(side.rows, offers, AuditRules(links=links, price_tolerance=PRICE_TOLERANCE))
        drifts = confirm_quantities(runtime, drifts)
        progress("Comparing", len(side.rows), len(side.rows))
        counts = catalogue_domain.count_by_kind(drifts)
        fix_results: dict[int, tuple[str, str]] = {}
        fixed: dict[str, int] = {}
        with store.unit_of_work() as repo:
            raise_issues(repo, drifts)
        if fix:
            progress("Fixing", 0, len(drifts))
            fix_results, fixed = apply_fixes(runtime, drifts)
            progress("Fixing", len(drifts), len(drifts))
        elapsed = time.monotonic() - started
        with store.unit_of_work() as repo:
            run = repo.run(run_id)
            assert run is not None
            run.status, run.offer_source = "complete", source
            run.magento_count, run.offer_count, run.drift_count = len(side.rows), len(offers), len(drifts)
            run.counts, run.fixed, run.finished_at, run.elapsed_seconds = counts, fixed, utcnow(), elapsed
            if drifts:  # one bulk INSERT of every row
                repo.add_drifts([
                    {"run_id": run_id, "kind": d.kind.value, "magento_sku": d.magento_sku, "offer_sku": d.offer_sku,
                     "expected": d.expected[:255], "actual": d.actual[:255], "detail": d.detail,
                     "fix_action": fix_results.get(i, ("", ""))[0], "fix_result": fix_results.get(i, ("", ""))[1]}
                    for i, d in enumerate(drifts)
                ])
        return AuditOutcome(run_id, counts, drifts, source, len(side.rows), len(offers), elapsed, fixed)
    except BaseException as error:
        with store.unit_of_work() as repo:
            run = repo.run(run_id)
            if run is not None:
                run.status, run.error, run.finished_at = "failed", str(error)[:2000], utcnow()
                run.elapsed_seconds = time.monotonic() - started
        raise


def raise_issues(repo: AuditRepository, drifts: Sequence[Drift]) -> None:
    """Drift that needs a person becomes an issue for ecommerce; what is gone clears itself."""
    reports: list[IssueReport] = []
    for drift in drifts:
        if drift.kind is DriftKind.OFFER_WITHOUT_PRODUCT and drift.offer_sku is not None:
            reports.append(IssueReport(
                type=OFFER_WITHOUT_PRODUCT, object_id=drift.offer_sku,
                message=f"The marketplace offer {drift.offer_sku!r} matches no Adobe Commerce product.",
            ))
        elif drift.kind is DriftKind.SKU_FORMAT_MISMATCH and drift.offer_sku and drift.magento_sku:
            reports.append(sku_service.near_miss_report(NearMiss(drift.offer_sku, drift.magento_sku, drift.detail)))
        elif drift.kind is DriftKind.OFFER_INACTIVE and drift.offer_sku is not None:
            reports.append(IssueReport(
                type=OFFER_INACTIVE, object_id=drift.offer_sku,
                message=f"The offer {drift.offer_sku!r} is inactive on John Lewis ({drift.detail}) although "
                        f"{drift.magento_sku} is enabled in Adobe Commerce.",
                context={"inactivity_reasons": drift.detail},
            ))
    record_many(repo, reports, types=(OFFER_WITHOUT_PRODUCT, SKU_NEAR_MISS, OFFER_INACTIVE))


def record_many(repo: AuditRepository, reports: Sequence[IssueReport], *, types: Sequence[Any]) -> None:
    """The bulk equivalent of :func:`marketbridge.services.issues.record` + ``clear`` for the
    audit's thousands of rows, with the same rules: an active record for the same type and object is
    updated (count, last seen, message); an ignored one stays ignored and only counts; otherwise a new
    open record. Active records of ``types`` whose object is not reported any more are resolved.
    Two queries per type instead of two per row."""
    now = utcnow()
    wanted = {t.code for t in types}
    rows = repo.issue_records(wanted, [*issue_service.ACTIVE_STATES, IssueState.IGNORED.value])
    active: dict[tuple[str, str], Any] = {}
    ignored: dict[tuple[str, str], Any] = {}
    for row in rows:
        key = (row.type, row.object_id)
        if row.state == IssueState.IGNORED.value:
            ignored.setdefault(key, row)
        elif key not in active or row.id > active[key].id:
            active[key] = row
    seen: set[tuple[str, str]] = set()
    new_rows: list[dict[str, Any]] = []
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
            new_rows.append({
                "type": report.type.code, "object_type": report.type.object_type.value, "object_id": report.object_id,
                "owner": report.type.owner.value, "severity": (report.severity or report.type.severity).value,
                "message": report.message, "detail": report.detail,
                "suggested_action": report.suggested_action or report.type.action, "state": IssueState.OPEN.value,
                "context": dict(report.context), "count": 1, "first_seen": now, "last_seen": now,
            })
    repo.add_issue_records(new_rows)
    for key, row in active.items():
        if key not in seen:
            row.state, row.resolved_at, row.resolved_by = IssueState.RESOLVED.value, now, "system"
    if new_rows:
        log.info("audit.exceptions_opened", count=len(new_rows))
