"""Helpers shared by the steps of the shipments flow: the order source (OR11 or the order feed's
mirror, ``_orders``), starting due sends through the bus,
recording issues for Ops, and keeping the ``carrier_unmapped`` records in step with the
shipments that wait for a carrier (used both by ``prepare`` and by carrier mapping)."""

from __future__ import annotations

from typing import Any

from marketbridge.bus import ShipmentsDue
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.issues import IssueReport, IssueType
from marketbridge.ports import IssueLog, ShipmentOrders, ShipmentsRepository
from marketbridge.runtime import Runtime


def _orders(runtime: Runtime) -> ShipmentOrders:
    """Where the flow reads marketplace orders, as bootstrap picked it (``runtime.shipment_orders``:
    OR11, or the order feed's mirror); a runtime built without one reads OR11."""
    if runtime.shipment_orders is None:
        from marketbridge.services.shipments.snapshots import Or11Orders

        runtime.shipment_orders = Or11Orders(runtime)
    return runtime.shipment_orders


def _start(runtime: Runtime, due: list[tuple[int, int]]) -> None:
    """Say that these sends are due; bootstrap wires the event to the engine, which enqueues them.
    Services stay free of DBOS; a send the bus could not start is started by the poll's backstop."""
    if due:
        runtime.bus.handle(ShipmentsDue(tuple(due)))


def _record(issues: IssueLog, type_: IssueType, object_id: str, message: str, detail: str = "",
            **context: Any) -> None:
    """Raise an issue for Ops through the flow's unit of work (its :class:`~marketbridge.ports.IssueLog`)."""
    issues.record(IssueReport(type=type_, object_id=object_id, message=message, detail=detail[:2000],
                              context=context))


def _sync_carrier_issues(repo: ShipmentsRepository) -> None:
    """One ``carrier_unmapped`` record per Magento carrier with waiting shipments; resolved when
    none wait any more."""
    keys = {row.carrier_key for row in repo.waiting_for_carrier() if row.carrier_key}
    for object_id in repo.issues.active_ids(shipments_domain.CARRIER_UNMAPPED):
        if object_id not in keys:
            repo.issues.clear(shipments_domain.CARRIER_UNMAPPED, object_id)
