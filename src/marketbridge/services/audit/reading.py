"""Reading audit runs and their drift rows (JSON views and the CSV download).
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    DRIFT_LABELS,
    DriftKind,
)
from marketbridge.services.audit.results import AuditDriftView, AuditRunDetail, AuditRunView

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.catalogue import AuditDrift, AuditRun
    from marketbridge.ports import AuditRepository


# ----------------------------------------------------------------------------- reading runs
def _run_fields(run: AuditRun) -> dict[str, Any]:
    return {"id": run.id, "trigger": run.trigger, "status": run.status, "offer_source": run.offer_source,
            "fix": run.fix, "magento_count": run.magento_count, "offer_count": run.offer_count,
            "drift_count": run.drift_count, "counts": run.counts, "fixed": run.fixed, "error": run.error,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "elapsed_seconds": run.elapsed_seconds}


def run_view(run: AuditRun) -> AuditRunView:
    return AuditRunView(**_run_fields(run))


def drift_view(drift: AuditDrift) -> AuditDriftView:
    return AuditDriftView(kind=drift.kind, label=DRIFT_LABELS.get(DriftKind(drift.kind), drift.kind),
                          magento_sku=drift.magento_sku, offer_sku=drift.offer_sku, expected=drift.expected,
                          actual=drift.actual, detail=drift.detail, fix_action=drift.fix_action,
                          fix_result=drift.fix_result)


def list_runs(repo: AuditRepository, limit: int = 50) -> list[AuditRunView]:
    """The newest runs first."""
    return [run_view(r) for r in repo.list_runs(limit)]


def get_run(repo: AuditRepository, run_id: int, *, kind: str | None = None, limit: int = 10000) -> AuditRunDetail | None:
    """A run with (up to ``limit`` of) its drift rows, of one ``kind`` when given; None if no such run."""
    run = repo.run(run_id)
    if run is None:
        return None
    return AuditRunDetail(**_run_fields(run), drifts=[drift_view(d) for d in repo.drifts(run_id, kind=kind, limit=limit)])


CSV_COLUMNS = ["kind", "label", "magento_sku", "offer_sku", "expected", "actual", "detail", "fix_action", "fix_result"]


def run_csv(repo: AuditRepository, run_id: int) -> str | None:
    """The run's drift rows as CSV; cells that a spreadsheet would run as formulas are quoted."""
    if repo.run(run_id) is None:
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for drift in repo.drifts(run_id):
        data = drift_view(drift).model_dump()
        writer.writerow([catalogue_domain.csv_safe(data[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()
