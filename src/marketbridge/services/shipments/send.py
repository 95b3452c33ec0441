"""Send: read the marketplace order first (the flow's order source, ``common._orders``: OR11
through the shared snapshot, or the order feed's mirror when ``order_feed_enabled``): already
shipped → done; else OR23 (tracking) then OR24 (ship) once our shipments cover every live line, or
ST01 (``shipped=true``, marked with ``package_reference``) when the connection has multi-shipment.
Safe to repeat after a crash at any point: the read comes first and decides.

With the order feed on, no OR11 call is made here, and OR23/OR24's answer does not confirm the
shipment: it stays ``sent`` until the feed's next read shows the order shipped (or the corrected
tracking number), and ``confirm.confirm_from_feed`` confirms it then. A refused OR24 likewise waits
for that read: shipped meanwhile → confirmed; still SHIPPING → the refusal stands.

``Rejected``/``NotFound`` become issue records and the shipment stops (no blind retry);
``TransientError`` propagates so the durable step retries it with backoff.
"""

from __future__ import annotations

from typing import Any

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import NotFound, Rejected
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.shipments import ShipmentState
from marketbridge.ports import ShipmentsRepository
from marketbridge.runtime import Runtime
from marketbridge.services.shipments.common import _orders, _start
from marketbridge.services.shipments.outcomes import (
    SendResult,
    _confirm,
    _confirm_multi,
    _note,
    _stop,
)

#: Marketplace order states that mean the goods already left (nothing to send).
SHIPPED_STATES = shipments_domain.SHIPPED_ORDER_STATES
#: States in which the marketplace will not take a dispatch now, but will later.
NOT_YET_STATES = shipments_domain.NOT_YET_ORDER_STATES
#: States in which it never will.
DEAD_STATES = shipments_domain.DEAD_ORDER_STATES


def _already_sent(repo: ShipmentsRepository, order_id: str, exclude: int) -> dict[str, int]:
    rows = repo.shipments_of_order(order_id, exclude=exclude, states=[
        ShipmentState.PARTIAL.value, ShipmentState.SENT.value, ShipmentState.CONFIRMED.value])
    used: dict[str, int] = {}
    for other in rows:
        for line_id, qty in (other.lines or {}).items():
            used[line_id] = used.get(line_id, 0) + int(qty)
    return used


def send(runtime: Runtime, shipment_id: int) -> SendResult:
    """Read the marketplace order, then send what is missing. Safe to repeat after a crash at any
    point: the read comes first and decides."""
    settings = runtime.settings
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        if row is None:
            return SendResult("missing")
        order_id = row.marketplace_order_id
        tracking_number, carrier_code = row.tracking_number, row.carrier_code
        items = [shipments_domain.ShippedItem(int(i["order_item_id"]), str(i.get("sku") or ""), float(i.get("qty") or 0),
                                   i.get("ext_order_item_id")) for i in row.items]
        already = _already_sent(repo, order_id, shipment_id)
        was_confirmed = row.confirmed_at is not None
        row.attempts += 1
    source = _orders(runtime)
    try:
        order = source.get(order_id)
    except NotFound as error:
        return _stop(runtime, shipment_id, "OR11", f"the marketplace has no order {order_id}: {error.message}",
                     shipments_domain.SHIPMENT_REJECTED)
    if order is None:  # the order feed has not read it yet: the next poll tries again
        return _later(runtime, shipment_id, "not in the order feed's mirror yet", order_state=None)
    source.forget(order_id)  # we may write to it now: whoever reads it next reads it fresh
    if order.state in SHIPPED_STATES:
        if was_confirmed and not settings.multi_shipment:
            # the order went out with an earlier tracking number: a later track is a correction (OR23 only)
            return _send_tracking_only(runtime, shipment_id, order_id, carrier_code, tracking_number)
        return _confirm(runtime, shipment_id, f"marketplace order already {order.state}", also_partial=True)
    if order.state in DEAD_STATES:
        return _stop(runtime, shipment_id, "OR11", f"the marketplace order is {order.state}",
                     shipments_domain.SHIPMENT_REJECTED)
    if order.state in NOT_YET_STATES:
        return _later(runtime, shipment_id, f"marketplace order is {order.state}", order_state=order.state)

    plan = shipments_domain.allocate_lines(items, list(order.lines), already)
    if not plan.ok:
        problems = "; ".join(plan.unknown) or "the shipment has no items"
        return _stop(runtime, shipment_id, "lines", problems, shipments_domain.LINES_UNKNOWN)
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        assert row is not None
        row.lines = dict(plan.lines)
        repo.issues.clear(shipments_domain.LINES_UNKNOWN, str(shipment_id))

    covered = dict(already)
    for line_id, qty in plan.lines.items():
        covered[line_id] = covered.get(line_id, 0) + qty
    completes = all(covered.get(line.order_line_id, 0) >= line.quantity
                    for line in order.lines if line.state == "SHIPPING")
    if settings.multi_shipment:
        return _send_multi(runtime, shipment_id, order_id, plan, carrier_code, tracking_number, completes)
    return _send_single(runtime, shipment_id, order_id, completes, carrier_code, tracking_number)


def _later(runtime: Runtime, shipment_id: int, why: str, *, order_state: str | None) -> SendResult:
    """Not now: ready again under a new generation, so the next poll starts a fresh send."""
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        assert row is not None
        row.state = ShipmentState.READY.value
        row.generation += 1  # the next poll starts a fresh send
        row.last_error = f"{why}; will retry"
    return SendResult(ShipmentState.READY.value, retry=True, order_state=order_state)


def _awaiting_feed(runtime: Runtime, shipment_id: int, api: str, detail: str) -> SendResult:
    """The order feed is on: our write went out (or was refused in a way only a read can explain);
    the shipment stays ``sent`` until the feed's next read decides (``confirm.confirm_from_feed``)."""
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        assert row is not None
        row.state = ShipmentState.SENT.value
        row.sent_at = row.sent_at or utcnow()
    return SendResult(ShipmentState.SENT.value, how=f"{api} {detail}; the order feed's next read confirms it")


def _tracking_request(carrier_code: str | None, tracking_number: str | None) -> Any:
    return mirakl_models.TrackingRequest(carrier_code=carrier_code, tracking_number=tracking_number)


def _send_tracking_only(runtime: Runtime, shipment_id: int, order_id: str, carrier_code: str | None,
                        tracking_number: str | None) -> SendResult:
    if not tracking_number:
        return SendResult(ShipmentState.CONFIRMED.value)
    request = _tracking_request(carrier_code, tracking_number)
    try:
        runtime.mirakl.update_tracking(order_id, request)
    except (Rejected, NotFound) as error:
        return _stop(runtime, shipment_id, "OR23", error)
    awaiting = _orders(runtime).confirms_by_reading
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        assert row is not None
        # with the order feed on, confirmed again once a read shows the corrected number
        row.state = (ShipmentState.SENT if awaiting else ShipmentState.CONFIRMED).value
        _note(row, "OR23", "ok", f"correction {carrier_code} {tracking_number}")
        repo.record_delivery(f"OR23:{order_id}:{tracking_number}", "OR23", order_id, "sent", request.wire())
    if awaiting:
        return SendResult(ShipmentState.SENT.value, how="OR23 accepted; the order feed's next read confirms it",
                          corrected=True)
    return SendResult(ShipmentState.CONFIRMED.value, corrected=True)


def _send_single(runtime: Runtime, shipment_id: int, order_id: str, completes: bool,
                 carrier_code: str | None, tracking_number: str | None) -> SendResult:
    """OR23 (tracking) then OR24 (ship) once our shipments cover every live line of the order."""
    if tracking_number:
        request = _tracking_request(carrier_code, tracking_number)
        try:
            runtime.mirakl.update_tracking(order_id, request)
        except (Rejected, NotFound) as error:
            with runtime.shipments_store.unit_of_work() as repo:
                repo.record_delivery(f"OR23:{order_id}:{tracking_number}", "OR23", order_id, "failed", request.wire(),
                                     str(error))
            return _stop(runtime, shipment_id, "OR23", error)
        with runtime.shipments_store.unit_of_work() as repo:
            row = repo.shipment(shipment_id)
            assert row is not None
            row.state = ShipmentState.SENT.value
            row.sent_at = row.sent_at or utcnow()
            _note(row, "OR23", "ok", f"{carrier_code} {tracking_number}")
            repo.record_delivery(f"OR23:{order_id}:{tracking_number}", "OR23", order_id, "sent", request.wire())
    if not completes:
        with runtime.shipments_store.unit_of_work() as repo:
            row = repo.shipment(shipment_id)
            assert row is not None
            row.state = ShipmentState.PARTIAL.value
            row.sent_at = row.sent_at or utcnow()
            _note(row, "OR24", "waiting", "the rest of the order is not shipped yet")
        return SendResult(ShipmentState.PARTIAL.value)
    source = _orders(runtime)
    try:
        runtime.mirakl.ship_order(order_id)
    except (Rejected, NotFound) as error:
        # someone may have shipped it meanwhile (back office, a crashed earlier attempt): OR11 reads
        # it now (a TransientError there is retried, not a rejection); the mirror as of its last read
        again = source.recheck(order_id)
        if again is not None and again.state in SHIPPED_STATES:
            return _confirm(runtime, shipment_id, f"marketplace order already {again.state}", also_partial=True)
        with runtime.shipments_store.unit_of_work() as repo:
            repo.record_delivery(f"OR24:{order_id}", "OR24", order_id, "failed", {}, str(error))
            if source.confirms_by_reading:
                # the mirror may not show our own earlier OR24 yet: the feed's next read decides
                row = repo.shipment(shipment_id)
                assert row is not None
                _note(row, "OR24", "rejected", error.message)
                row.last_error = f"OR24: {error.message}; waiting for the order feed's next read"[:2000]
        if source.confirms_by_reading:
            return _awaiting_feed(runtime, shipment_id, "OR24", "refused")
        return _stop(runtime, shipment_id, "OR24", error)
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        assert row is not None
        row.sent_at = row.sent_at or utcnow()
        _note(row, "OR24", "ok")
        repo.record_delivery(f"OR24:{order_id}", "OR24", order_id, "sent", {})
    if source.confirms_by_reading:
        return _awaiting_feed(runtime, shipment_id, "OR24", "accepted")
    return _confirm(runtime, shipment_id, "OR24 accepted", also_partial=True)


def package_reference(shipment_id: int) -> str:
    """Our mark on the marketplace shipment lines, so a repeat finds the shipment ST01 made."""
    return f"MB-{shipment_id}"


def _send_multi(runtime: Runtime, shipment_id: int, order_id: str, plan: shipments_domain.LinePlan, carrier_code: str | None,
                tracking_number: str | None, completes: bool) -> SendResult:
    """ST01 with this shipment's lines and tracking, shipped at once; ST24 for a shipment a
    crashed attempt created but did not ship."""
    reference = package_reference(shipment_id)
    existing = next((s for s in runtime.mirakl.list_shipments(order_ids=[order_id])
                     if any(line.package_reference == reference for line in s.shipment_lines)), None)
    if existing is not None:
        if existing.status in ("SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"):
            return _confirm_multi(runtime, shipment_id, existing.id, "marketplace shipment already shipped", completes)
        result = runtime.mirakl.ship_shipments([existing.id])
        if result.shipment_errors:
            return _stop(runtime, shipment_id, "ST24", result.shipment_errors[0].message or "refused")
        return _confirm_multi(runtime, shipment_id, existing.id, "ST24 accepted", completes)
    tracking = (mirakl_models.ShipmentTrackingRequest(carrier_code=carrier_code, tracking_number=tracking_number)
                if tracking_number else None)
    request = mirakl_models.CreateShipmentsRequest(shipments=[mirakl_models.ShipmentRequest(
        order_id=order_id,
        shipment_lines=[mirakl_models.ShipmentLineRequest(order_line_id=line_id, quantity=qty, package_reference=reference)
                        for line_id, qty in plan.lines.items()],
        tracking=tracking, shipped=True)])
    try:
        response = runtime.mirakl.create_shipments(request)
    except (Rejected, NotFound) as error:
        with runtime.shipments_store.unit_of_work() as repo:
            repo.record_delivery(f"ST01:{shipment_id}", "ST01", order_id, "failed", request.wire(), str(error))
        return _stop(runtime, shipment_id, "ST01", error)
    if response.shipment_errors or not response.shipment_success:
        message = (response.shipment_errors[0].message if response.shipment_errors else None) or "no shipment created"
        with runtime.shipments_store.unit_of_work() as repo:
            repo.record_delivery(f"ST01:{shipment_id}", "ST01", order_id, "failed", request.wire(), message)
        return _stop(runtime, shipment_id, "ST01", message)
    created = response.shipment_success[0]
    with runtime.shipments_store.unit_of_work() as repo:
        repo.record_delivery(f"ST01:{shipment_id}", "ST01", order_id, "sent", request.wire())
    return _confirm_multi(runtime, shipment_id, created.id, f"ST01 created {created.status}", completes)


def note_failure(runtime: Runtime, shipment_id: int, error: str) -> None:
    """A send that kept failing for a transient reason: keep it ready for the next poll (new
    generation), with the error visible. ``shipment_unconfirmed`` tells people if it lasts."""
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        if row is None:
            return
        if row.state in (ShipmentState.NEW.value, ShipmentState.READY.value, ShipmentState.SENT.value):
            row.state = ShipmentState.READY.value
            row.generation += 1
        row.last_error = error[:2000]


def retry_shipment(runtime: Runtime, shipment_id: int, *, actor: str, send_anyway: bool = False) -> int:
    """A person asks to try a held or refused shipment again (after fixing the cause). With
    ``send_anyway`` a reused tracking number is accepted (the person resolved it). Returns the
    new generation; the send is started at once (else by the next poll)."""
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        if row is None:
            raise LookupError(f"no shipment {shipment_id}")
        if row.state == ShipmentState.CONFIRMED.value:
            raise ValueError(f"shipment {shipment_id} is already confirmed on the marketplace")
        if send_anyway:
            repo.issues.clear(shipments_domain.TRACKING_REUSED, str(shipment_id), by=actor)
        row.state = ShipmentState.READY.value
        row.generation += 1
        row.last_error = ""
        repo.issues.audit(actor, "shipment.retry", "shipment", str(shipment_id), send_anyway=send_anyway)
        generation = row.generation
    _start(runtime, [(shipment_id, generation)])
    return generation
