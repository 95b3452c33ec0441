"""Prepare: re-read the shipment in Magento (tracks may come later) and decide: wait for a
carrier mapping, wait for a tracking number, refuse (tracking number reused on another order), or
send. ``NotFound`` from Magento stops the shipment (``error``) instead of retrying blindly;
``TransientError`` propagates so the durable step retries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marketbridge.adapters.errors import NotFound
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.shipments import ShipmentState
from marketbridge.ports import ShipmentsRepository
from marketbridge.runtime import Runtime
from marketbridge.services.shipments.carriers import ensure_carriers
from marketbridge.services.shipments.common import _record, _sync_carrier_issues
from marketbridge.services.shipments.detect import _tracking_changed, _tracks_wire


@dataclass(frozen=True)
class Decision:
    """What ``prepare`` decided: ``action`` is ``send``, ``wait`` or ``stop``; ``state`` the shipment's
    state after it; ``detail`` why. The workflow returns ``as_json()`` when it does not send."""

    action: str
    state: str
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "state": self.state, "detail": self.detail}


def _items_for_allocation(shipment: Any, order: Any) -> list[shipments_domain.ShippedItem]:
    """Shipment items as the marketplace sees them: a configurable parent and its child are one
    line (keep the parent, which carries the child's SKU), ext ids from the Magento order."""
    order_items = {item.item_id: item for item in order.items}
    shipped_ids = {i.order_item_id for i in shipment.items if i.qty > 0}
    result = []
    for item in shipment.items:
        source = order_items.get(item.order_item_id)
        if source is not None and source.parent_item_id in shipped_ids:
            continue
        result.append(shipments_domain.ShippedItem(item.order_item_id, item.sku or (source.sku if source else ""), item.qty,
                                        source.ext_order_item_id if source else None))
    return result


def prepare(runtime: Runtime, shipment_id: int) -> Decision:
    """Re-read the shipment in Magento and decide whether it can be sent now. Storage is the
    flow's port (``runtime.shipments_store``), Magento and Mirakl are ``runtime``'s ports: unit
    tests run this on fakes of all three (tests/unit/test_shipments_flow.py)."""
    settings = runtime.settings
    store = runtime.shipments_store
    try:
        shipment = runtime.magento.get_shipment(shipment_id)
        order = runtime.magento.get_order(shipment.order_id)
    except NotFound as error:
        with store.unit_of_work() as repo:
            row = repo.shipment(shipment_id)
            if row is not None and row.state != ShipmentState.CONFIRMED.value:
                row.state = ShipmentState.ERROR.value
                row.last_error = f"the shipment or its order no longer exists in Adobe Commerce: {error.message}"[:2000]
        return Decision("stop", ShipmentState.ERROR.value, "not found in Adobe Commerce")
    carriers = ensure_carriers(runtime)
    with store.unit_of_work() as repo:
        row = repo.shipment(shipment_id)
        if row is None:
            return Decision("stop", "missing", "no such shipment row")
        if row.state == ShipmentState.CONFIRMED.value and not _tracking_changed(row):
            return Decision("stop", row.state, "already confirmed")
        row.tracks = _tracks_wire(shipment)
        row.items = [{"order_item_id": i.order_item_id, "sku": i.sku, "qty": i.qty, "ext_order_item_id": i.ext_order_item_id}
                     for i in _items_for_allocation(shipment, order)]
        object_id = str(shipment_id)
        track = shipments_domain.pick_tracking([shipments_domain.Track.from_wire(t) for t in row.tracks])
        if track is None:
            if settings.shipment_require_tracking:
                row.state = ShipmentState.WAITING_TRACKING.value
                _record(repo.issues, shipments_domain.TRACKING_MISSING, object_id,
                        f"Shipment {row.magento_increment_id or shipment_id} for John Lewis order "
                        f"{row.marketplace_order_id} has no tracking number; it will be sent as soon as one is added.",
                        order_id=row.marketplace_order_id)
                _sync_carrier_issues(repo)
                return Decision("wait", row.state, "no tracking number")
            row.carrier_code = row.carrier_match = row.carrier_key = row.tracking_number = None
        else:
            repo.issues.clear(shipments_domain.TRACKING_MISSING, object_id)
            row.carrier_key = shipments_domain.carrier_key(track.carrier_code, track.title)
            outcome = shipments_domain.match_carrier(track.carrier_code, track.title, carriers, repo.carrier_mappings(),
                                          settings.carrier_aliases)
            if isinstance(outcome, shipments_domain.Unmapped):
                row.state = ShipmentState.WAITING_CARRIER.value
                row.carrier_code = None
                row.tracking_number = track.track_number
                _record_unmapped(repo, outcome)
                _sync_carrier_issues(repo)
                return Decision("wait", row.state, outcome.reason)
            row.carrier_code = outcome.carrier.code
            row.carrier_match = f"{outcome.method.value}: {outcome.detail}"[:128]
            row.tracking_number = track.track_number
            reused = repo.tracking_used_elsewhere(track.track_number, row.marketplace_order_id, shipment_id)
            if reused is not None and not repo.issues.resolved_by_a_person(shipments_domain.TRACKING_REUSED, object_id):
                row.state = ShipmentState.ERROR.value
                row.last_error = f"tracking number {track.track_number} already used for order {reused.marketplace_order_id}"
                _record(repo.issues, shipments_domain.TRACKING_REUSED, object_id,
                        f"Tracking number {track.track_number} on shipment {row.magento_increment_id or shipment_id} "
                        f"(John Lewis order {row.marketplace_order_id}) was already used for order "
                        f"{reused.marketplace_order_id}. The shipment is held.",
                        order_id=row.marketplace_order_id, other_order_id=reused.marketplace_order_id)
                _sync_carrier_issues(repo)
                return Decision("stop", row.state, row.last_error)
            repo.issues.clear(shipments_domain.TRACKING_REUSED, object_id)
        if row.state not in (ShipmentState.PARTIAL.value, ShipmentState.CONFIRMED.value, ShipmentState.SENT.value):
            row.state = ShipmentState.READY.value
        _sync_carrier_issues(repo)
        return Decision("send", row.state)


def _record_unmapped(repo: ShipmentsRepository, outcome: shipments_domain.Unmapped) -> None:
    waiting = repo.ids_waiting_for_carrier_key(outcome.key)
    shown = outcome.title or outcome.magento_carrier_code or "(blank)"
    hints = ", ".join(f"{s.label} ({s.code})" for s in outcome.suggestions[:3])
    message = (f"Carrier '{shown}' (Adobe Commerce carrier code '{outcome.magento_carrier_code or '-'}') has no John "
               f"Lewis carrier code; {len(waiting)} shipment(s) wait for it.")
    if hints:
        message += f" Closest John Lewis carriers: {hints}."
    best = outcome.suggestions[0].code if outcome.suggestions else "<CODE>"
    code_opt = f" --code {outcome.magento_carrier_code}" if outcome.magento_carrier_code else ""
    title_opt = f' --title "{outcome.title}"' if outcome.title else ""
    repo.issues.record(IssueReport(
        type=shipments_domain.CARRIER_UNMAPPED, object_id=outcome.key, message=message, detail=outcome.reason,
        suggested_action=f"Map it: `marketbridge carriers map{code_opt}{title_opt} {best}` (or in the console); "
        "the waiting shipments are then sent by themselves.",
        context={"magento_carrier_code": outcome.magento_carrier_code, "title": outcome.title,
                 "waiting_shipments": [int(w) for w in waiting],
                 "suggestions": [s.__dict__ for s in outcome.suggestions]},
    ))
