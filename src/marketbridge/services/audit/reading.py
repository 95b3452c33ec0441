"""Reading audit runs and their drift rows (JSON views and the CSV download).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.catalogue import AuditDrift, AuditRun
from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    DRIFT_LABELS,
    DriftKind,
)
from marketbridge.services.audit.results import AuditDriftView, AuditRunDetail, AuditRunView


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


def list_runs(session: Session, limit: int = 50) -> list[AuditRunView]:
    return [run_view(r) for r in session.scalars(select(AuditRun).order_by(AuditRun.id.desc()).limit(limit))]


def get_run(session: Session, run_id: int, *, kind: str | None = None, limit: int = 10000) -> AuditRunDetail | None:
    run = session.get(AuditRun, run_id)
    if run is None:
        return None
    query = select(AuditDrift).where(AuditDrift.run_id == run_id).order_by(AuditDrift.id)
    if kind:
        query = query.where(AuditDrift.kind == kind)
    return AuditRunDetail(**_run_fields(run), drifts=[drift_view(d) for d in session.scalars(query.limit(limit))])


CSV_COLUMNS = ["kind", "label", "magento_sku", "offer_sku", "expected", "actual", "detail", "fix_action", "fix_result"]


def run_csv(session: Session, run_id: int) -> str | None:
    """The run's drift rows as CSV; cells that a spreadsheet would run as formulas are quoted."""
    if session.get(AuditRun, run_id) is None:
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for drift in session.scalars(select(AuditDrift).where(AuditDrift.run_id == run_id).order_by(AuditDrift.id)):
        data = drift_view(drift).model_dump()
        writer.writerow([catalogue_domain.csv_safe(data[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()
