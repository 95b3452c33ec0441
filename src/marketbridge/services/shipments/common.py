"""Helpers shared by the steps of the shipments flow: starting due sends through the bus,
recording issues for Ops, and keeping the ``carrier_unmapped`` records in step with the
shipments that wait for a carrier (used both by ``prepare`` and by carrier mapping)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.bus import ShipmentsDue
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.issues import IssueReport, IssueType
from marketbridge.domain.shipments import ShipmentState
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service


def _start(runtime: Runtime, due: list[tuple[int, int]]) -> None:
    """Say that these sends are due; bootstrap wires the event to the engine, which enqueues them.
    Services stay free of DBOS; a send the bus could not start is started by the poll's backstop."""
    if due:
        runtime.bus.handle(ShipmentsDue(tuple(due)))


def _report(session: Session, type_: IssueType, object_id: str, message: str, detail: str = "",
            **context: Any) -> None:
    issue_service.record(session, IssueReport(type=type_, object_id=object_id, message=message,
                                                      detail=detail[:2000], context=context))


def _sync_carrier_issues(session: Session) -> None:
    """One ``carrier_unmapped`` record per Magento carrier with waiting shipments; resolved when
    none wait any more."""
    waiting = session.scalars(select(ShipmentOut).where(
        ShipmentOut.state == ShipmentState.WAITING_CARRIER.value)).all()
    keys = {row.carrier_key for row in waiting if row.carrier_key}
    active = issue_service.list_records(session, issue_service.IssueFilter(
        type=shipments_domain.CARRIER_UNMAPPED.code, active_only=True))
    for record_ in active:
        if record_.object_id not in keys:
            issue_service.clear(session, shipments_domain.CARRIER_UNMAPPED, record_.object_id)
