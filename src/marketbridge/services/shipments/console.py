"""Console and API views of outbound shipments. They read through the flow's storage port: the
caller opens ``runtime.shipments_store.unit_of_work()`` and passes the repository."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from marketbridge.domain.shipments import ShipmentState
from marketbridge.services.shipments.views import ShipmentView

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.shipments import ShipmentOut
    from marketbridge.ports import ShipmentsRepository


def shipment_view(row: ShipmentOut) -> ShipmentView:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return ShipmentView(
        magento_shipment_id=row.magento_shipment_id,
        magento_increment_id=row.magento_increment_id,
        magento_order_id=row.magento_order_id,
        marketplace_order_id=row.marketplace_order_id,
        state=row.state,
        tracks=row.tracks,
        lines=row.lines,
        tracking_number=row.tracking_number,
        carrier_code=row.carrier_code,
        carrier_match=row.carrier_match,
        carrier_key=row.carrier_key,
        marketplace_shipment_id=row.marketplace_shipment_id,
        results=row.results,
        last_error=row.last_error,
        attempts=row.attempts,
        detected_at=iso(row.detected_at),
        sent_at=iso(row.sent_at),
        confirmed_at=iso(row.confirmed_at),
        updated_at=iso(row.updated_at),
    )


def get_shipment(repo: ShipmentsRepository, shipment_id: int) -> ShipmentView | None:
    """One shipment by Magento shipment entity id, or None."""
    row = repo.shipment(shipment_id)
    return shipment_view(row) if row is not None else None


def list_shipments(repo: ShipmentsRepository, *, state: str | None = None, order_id: str | None = None,
                   limit: int = 200, offset: int = 0) -> list[ShipmentView]:
    """Newest detected first."""
    return [shipment_view(r) for r in repo.list_shipments(state=state, order_id=order_id, limit=limit, offset=offset)]


def counts_by_state(repo: ShipmentsRepository) -> dict[str, int]:
    """Shipments per state (every state present, zero when none), for the dashboard."""
    counts = {state.value: 0 for state in ShipmentState}
    counts.update(repo.count_by_state())
    return counts


def shipments_for(repo: ShipmentsRepository, ids: Iterable[int]) -> list[ShipmentOut]:
    return list(repo.shipments_by_ids(ids))


#: Shipments not yet confirmed by the marketplace, in the order the console lists them.
AWAITING_CONFIRMATION: tuple[ShipmentState, ...] = (
    ShipmentState.NEW, ShipmentState.WAITING_CARRIER, ShipmentState.WAITING_TRACKING, ShipmentState.READY,
    ShipmentState.PARTIAL, ShipmentState.SENT, ShipmentState.ERROR,
)


def awaiting_confirmation(repo: ShipmentsRepository, *, limit_per_state: int = 200) -> list[ShipmentView]:
    """Every shipment not yet confirmed (at most ``limit_per_state`` of each state), oldest detected first."""
    rows = [r for s in AWAITING_CONFIRMATION for r in list_shipments(repo, state=s, limit=limit_per_state)]
    rows.sort(key=lambda r: r.detected_at or "")
    return rows
