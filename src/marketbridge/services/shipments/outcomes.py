"""How a send ends, written to ``shipments_out`` and ``deliveries``: stopped (``Rejected`` or
``NotFound`` from the marketplace become an issue record; no blind retry) or confirmed (the
order record then moves to shipped through the orders flow).

``results`` on a shipment row holds, per API, ``{"at": <iso time>, "status": ..., "detail": ...}``;
a delivery row is keyed ``OR23:<order>:<tracking>``, ``OR24:<order>`` or ``ST01:<shipment>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import Delivery
from marketbridge.adapters.db.models.shipments import ShipmentOut
from marketbridge.adapters.errors import RemoteError
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.issues import IssueType
from marketbridge.domain.shipments import ShipmentState
from marketbridge.runtime import Runtime
from marketbridge.services import issues as issue_service
from marketbridge.services.shipments.common import _report

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


def _delivery(session: Session, key: str, api: str, object_id: str, status: str, request: dict[str, Any],
              error: str = "") -> None:
    row = session.scalars(select(Delivery).where(Delivery.key == key)).first()
    if row is None:
        row = Delivery(key=key, api=api, object_id=object_id, status=status, attempts=0, request=request, response={},
                       last_error="")
        session.add(row)
    row.status = status
    row.attempts = (row.attempts or 0) + 1
    row.last_error = error[:2000]
    row.request = request


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
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.state = (ShipmentState.WAITING_TRACKING if type_ is shipments_domain.TRACKING_MISSING else ShipmentState.ERROR).value
        row.last_error = f"{api}: {message}"[:2000]
        _note(row, api, "rejected", message)
        _report(session, type_, str(shipment_id),
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
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.state = ShipmentState.CONFIRMED.value
        row.confirmed_at = now
        row.last_error = ""
        _note(row, "confirm", "ok", how)
        order_id = row.marketplace_order_id
        for type_ in (shipments_domain.SHIPMENT_UNCONFIRMED, shipments_domain.SHIPMENT_REJECTED, shipments_domain.LINES_UNKNOWN, shipments_domain.TRACKING_MISSING):
            issue_service.clear(session, type_, str(shipment_id))
        others: Sequence[ShipmentOut] = []
        if also_partial:
            others = session.scalars(select(ShipmentOut).where(
                ShipmentOut.marketplace_order_id == order_id,
                ShipmentOut.state.in_([ShipmentState.PARTIAL.value, ShipmentState.SENT.value]))).all()
            for other in others:
                other.state, other.confirmed_at = ShipmentState.CONFIRMED.value, now
                issue_service.clear(session, shipments_domain.SHIPMENT_UNCONFIRMED, str(other.magento_shipment_id))
        issue_service.clear(session, shipments_domain.SHIPPING_DEADLINE_NEAR, order_id)
        if order_shipped:
            every = session.scalars(select(ShipmentOut).where(ShipmentOut.marketplace_order_id == order_id)).all()
            tracking = sorted({r.tracking_number for r in every if r.tracking_number})
            carriers = sorted({r.carrier_code for r in every if r.carrier_code})
            _mark_order_shipped(session, order_id, carriers=carriers, tracking_numbers=tracking, at=now)
    log.info("shipment.confirmed", shipment=shipment_id, order=order_id, how=how)
    return SendResult(ShipmentState.CONFIRMED.value, how=how)


def _mark_order_shipped(session: Session, order_id: str, *, carriers: list[str], tracking_numbers: list[str],
                        at: dt.datetime) -> None:
    """Move the order record to shipped through the orders flow (``record_transition``), with the
    carrier, tracking numbers and time as the transition's facts. An order the orders flow does not
    know (made by hand in Magento) or cannot move (already refunded, closed) is left as it is."""
    from marketbridge.domain.orders import OrderState, TransitionNotAllowed
    from marketbridge.services import orders as order_service

    try:
        with session.begin_nested():
            order_service.record_transition(session, order_id, OrderState.SHIPPED, actor="shipments",
                                            carriers=carriers, tracking_numbers=tracking_numbers, shipped_at=at)
    except (LookupError, TransitionNotAllowed) as error:
        log.info("shipment.order_record_not_moved", order=order_id, reason=str(error)[:200])


def _confirm_multi(runtime: Runtime, shipment_id: int, marketplace_shipment_id: str, how: str,
                   completes: bool) -> SendResult:
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.marketplace_shipment_id = marketplace_shipment_id
        row.sent_at = row.sent_at or utcnow()
        _note(row, "ST01", "ok", how)
    return _confirm(runtime, shipment_id, how, order_shipped=completes)
