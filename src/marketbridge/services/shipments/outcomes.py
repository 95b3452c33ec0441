"""How a send ends, written through the flow's storage port (``runtime.shipments_store``) to
``shipments_out`` and ``deliveries``: stopped (``Rejected`` or ``NotFound`` from the marketplace
become an issue record; no blind retry) or confirmed (the order record then moves to shipped
through the orders flow).

``results`` on a shipment row holds, per API, ``{"at": <iso time>, "status": ..., "detail": ...}``;
a delivery row is keyed ``OR23:<order>:<tracking>``, ``OR24:<order>`` or ``ST01:<shipment>``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.adapters.errors import RemoteError
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.issues import IssueType
from marketbridge.domain.shipments import ShipmentState
from marketbridge.runtime import Runtime
from marketbridge.services.shipments.common import _record

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SendResult:
    """How a send ended, for the workflow, which returns ``as_json()``: ``state`` is the shipment's
    state, and as they apply ``how`` it was confirmed, the ``api`` that refused it with the
    ``error``, ``retry`` with the ``order_state`` that is not ready yet, or ``corrected`` (a later
    tracking number sent as a correction)."""

    state: str
    how: str | None = None
    api: str | None = None
    error: str | None = None
    corrected: bool | None = None
    retry: bool | None = None
    order_state: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The workflow result: only the fields that apply (the shape the CLI and API show)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def _note(row: ShipmentOut, api: str, status: str, detail: str = "") -> None:
    results = dict(row.results or {})
    results[api] = {"at": utcnow().isoformat(), "status": status, "detail": detail[:500]}
    row.results = results


def _classify(message: str) -> IssueType:
    text = message.lower()
    if "tracking" in text and ("mandatory" in text or "required" in text):
        return shipments_domain.TRACKING_MISSING
    if "not in order" in text or "exceeds the quantity" in text or "order line" in text:
        return shipments_domain.LINES_UNKNOWN
    return shipments_domain.SHIPMENT_REJECTED


def _stop(runtime: Runtime, shipment_id: int, api: str, error: RemoteError | str, type_: IssueType | None = None
          ) -> SendResult:
    message = error.message if isinstance(error, RemoteError) else str(error)
    type_ = type_ or _classify(message)
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        assert row is not None
        row.state = (ShipmentState.WAITING_TRACKING if type_ is shipments_domain.TRACKING_MISSING else ShipmentState.ERROR).value
        row.last_error = f"{api}: {message}"[:2000]
        _note(row, api, "rejected", message)
        _record(repo.issues, type_, str(shipment_id),
                f"John Lewis did not accept shipment {row.magento_increment_id or shipment_id} for order "
                f"{row.marketplace_order_id}: {message}", detail=str(error), order_id=row.marketplace_order_id)
    return SendResult(ShipmentState.ERROR.value if type_ is not shipments_domain.TRACKING_MISSING
                      else ShipmentState.WAITING_TRACKING.value, api=api, error=message)


def _confirm(runtime: Runtime, shipment_id: int, how: str, *, also_partial: bool = False,
             order_shipped: bool | None = None) -> SendResult:
    """Our shipment is shipped on the marketplace. ``also_partial``: the whole order is (single
    mode), so earlier partial shipments of it are confirmed too. ``order_shipped`` defaults to
    ``also_partial``: only then does the order record move to shipped."""
    order_shipped = also_partial if order_shipped is None else order_shipped
    now = utcnow()
    with runtime.shipments_store.unit_of_work() as repo:
        issues = repo.issues
        row = repo.shipment(shipment_id)
        assert row is not None
        row.state = ShipmentState.CONFIRMED.value
        row.confirmed_at = now
        row.last_error = ""
        _note(row, "confirm", "ok", how)
        order_id = row.marketplace_order_id
        for type_ in (shipments_domain.SHIPMENT_UNCONFIRMED, shipments_domain.SHIPMENT_REJECTED, shipments_domain.LINES_UNKNOWN, shipments_domain.TRACKING_MISSING):
            issues.clear(type_, str(shipment_id))
        if also_partial:
            for other in repo.shipments_of_order(order_id, states=[ShipmentState.PARTIAL.value, ShipmentState.SENT.value]):
                other.state, other.confirmed_at = ShipmentState.CONFIRMED.value, now
                issues.clear(shipments_domain.SHIPMENT_UNCONFIRMED, str(other.magento_shipment_id))
        issues.clear(shipments_domain.SHIPPING_DEADLINE_NEAR, order_id)
        if order_shipped:
            every = repo.shipments_of_order(order_id)
            tracking = sorted({r.tracking_number for r in every if r.tracking_number})
            carriers = sorted({r.carrier_code for r in every if r.carrier_code})
            # the order record moves to shipped through the orders flow (its record_transition), with
            # the carrier, tracking numbers and time as the transition's facts
            not_moved = repo.orders.mark_shipped(order_id, carriers=carriers, tracking_numbers=tracking, at=now)
            if not_moved is not None:
                log.info("shipment.order_record_not_moved", order=order_id, reason=not_moved[:200])
    log.info("shipment.confirmed", shipment=shipment_id, order=order_id, how=how)
    return SendResult(ShipmentState.CONFIRMED.value, how=how)


def _confirm_multi(runtime: Runtime, shipment_id: int, marketplace_shipment_id: str, how: str,
                   completes: bool) -> SendResult:
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        assert row is not None
        row.marketplace_shipment_id = marketplace_shipment_id
        row.sent_at = row.sent_at or utcnow()
        _note(row, "ST01", "ok", how)
    return _confirm(runtime, shipment_id, how, order_shipped=completes)
