"""Typed results of the audit (issue 18: no ``dict[str, Any]`` at the service boundary).

Pydantic models, since every one of them is JSON output: :class:`AuditSummary` is what
``marketbridge audit --json`` prints (with the drift rows), what ``POST /api/audit/runs`` answers
when it runs inline, and, as ``model_dump(mode="json")``, what the DBOS step ``catalogue.audit_step``
records (the same JSON as before the types existed, so a recovered workflow reads what its step
recorded). :class:`AuditRunView`, :class:`AuditDriftView` and :class:`AuditRunDetail` are the runs
read back; they are the JSON API's ``response_model`` s, in the field order the API always sent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class AuditSummary(View):
    """One finished run: sizes of both sides, drift counts per kind, and what ``--fix`` did
    (``offers_repushed``, ``products_republished``, ``exceptions``, ``offers_queued``; empty without fix)."""

    run_id: int
    offer_source: str  # OF52 | OF21
    magento_count: int
    offer_count: int
    counts: dict[str, int]
    drift_count: int
    elapsed_seconds: float
    fixed: dict[str, int]


class AuditStarted(View):
    """An audit started in the background as a durable workflow (read it with ``GET /api/audit/runs``)."""

    workflow_id: str
    status: Literal["started"] = "started"


class AuditRunView(View):
    """One audit run as kept in ``audit_runs`` (times ISO 8601)."""

    id: int
    trigger: str  # manual | schedule | api
    status: str  # running | complete | failed
    offer_source: str
    fix: bool
    magento_count: int
    offer_count: int
    drift_count: int
    counts: dict[str, int]
    fixed: dict[str, int]
    error: str
    started_at: str | None
    finished_at: str | None
    elapsed_seconds: float


class AuditDriftView(View):
    """One difference found, with its label in plain English and what a fix did about it."""

    kind: str
    label: str
    magento_sku: str | None
    offer_sku: str | None
    expected: str
    actual: str
    detail: str
    fix_action: str
    fix_result: str


class AuditRunDetail(AuditRunView):
    """A run with its drift rows."""

    drifts: list[AuditDriftView]
