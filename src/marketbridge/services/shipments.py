"""Use cases of the shipments flow: Magento shipments become marketplace tracking and dispatch.

    detect     a Magento shipment of a marketplace order (``ext_order_id``) is written to
               ``shipments_out`` before anything acts on it (polling by entity id, or a webhook);
    prepare    re-read the shipment (tracks may come later) and decide: wait for a carrier
               mapping, wait for a tracking number, refuse (reused tracking number), or send;
    send       read the marketplace order first (OR11): already shipped → done; else OR23 then
               OR24, or ST01 (shipped=true) when the connection has multi-shipment;
    watch      orders near their shipping deadline with no shipment, and shipments not
               confirmed after a while, become exceptions for Ops (and clear themselves).

Every function takes the runtime (settings, database, clients). Remote failures follow
``adapters.errors``: ``Rejected``/``NotFound`` become exception records and the shipment stops (no
blind retry); ``TransientError`` propagates so the durable step retries it with backoff.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.insert import dialect_insert
from marketbridge.adapters.db.models.core import Delivery, ExceptionRecord, StreamCursor
from marketbridge.adapters.db.models.shipments import CarrierMapping, MarketplaceCarrier, ShipmentOut
from marketbridge.adapters.errors import NotFound, Rejected, RemoteError
from marketbridge.bus import ShipmentsDue
from marketbridge.domain import shipments as rules
from marketbridge.domain.exceptions import ExceptionReport, ExceptionState, ExceptionType
from marketbridge.domain.shipments import ShipmentState
from marketbridge.runtime import Runtime
from marketbridge.services import exceptions as exception_service

log = structlog.get_logger(__name__)

CURSOR_NAME = "magento.shipments.entity_id"
#: Marketplace order states that mean the goods already left (nothing to send).
SHIPPED_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"})
#: States in which the marketplace will not take a dispatch now, but will later.
NOT_YET_STATES = frozenset({"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT"})
#: States in which it never will.
DEAD_STATES = frozenset({"CANCELED", "REFUSED"})


class InvalidMapping(ValueError):
    """A mapping request that cannot be stored (unknown marketplace code, nothing to match on)."""


def _start(runtime: Runtime, due: list[tuple[int, int]]) -> None:
    """Say that these sends are due; bootstrap wires the event to the engine, which enqueues them.
    Services stay free of DBOS; a send the bus could not start is started by the poll's backstop."""
    if due:
        runtime.bus.handle(ShipmentsDue(tuple(due)))


# ====================================================================== carriers (SH21)
def refresh_carriers(runtime: Runtime) -> int:
    """Replace the cached SH21 list with the marketplace's current one; returns the count."""
    carriers = runtime.mirakl.carriers()
    now = utcnow()
    with runtime.db.session() as session:
        session.execute(delete(MarketplaceCarrier))
        for carrier in carriers:
            session.add(MarketplaceCarrier(code=carrier.code, label=carrier.label, standard_code=carrier.standard_code,
                                           tracking_url=carrier.tracking_url, refreshed_at=now))
    log.info("carriers.refreshed", count=len(carriers))
    return len(carriers)


def cached_carriers(session: Session) -> list[rules.Carrier]:
    rows = session.scalars(select(MarketplaceCarrier).order_by(MarketplaceCarrier.label)).all()
    return [rules.Carrier(r.code, r.label, r.standard_code, r.tracking_url) for r in rows]


#: A cached list older than this is refreshed on use (the daily schedule was missed, e.g. the
#: service was down at that hour); if the refresh fails the stale list is used meanwhile.
CARRIERS_MAX_AGE = dt.timedelta(hours=36)


def ensure_carriers(runtime: Runtime) -> list[rules.Carrier]:
    """The cached list, loaded from SH21 first if it was never loaded (or is long out of date)."""
    with runtime.db.session() as session:
        carriers = cached_carriers(session)
        refreshed = session.scalars(select(MarketplaceCarrier.refreshed_at).limit(1)).first()
    if carriers and refreshed is not None and utcnow() - refreshed < CARRIERS_MAX_AGE:
        return carriers
    if carriers:
        # SH21 may be called once a day: never queue behind the client's limiter for a stale list
        last_try = runtime.extras.get("shipments.carriers_refresh_tried")
        if last_try is not None and time.monotonic() - last_try < 24 * 3600:
            return carriers
        runtime.extras["shipments.carriers_refresh_tried"] = time.monotonic()
    try:
        refresh_carriers(runtime)
    except RemoteError as error:
        if not carriers:
            raise
        log.warning("carriers.refresh_failed_using_stale_list", error=str(error)[:200])
        return carriers
    with runtime.db.session() as session:
        return cached_carriers(session)


def _mappings(session: Session) -> list[rules.Mapping_]:
    return [rules.Mapping_(r.magento_carrier_code, r.title_key, r.marketplace_code)
            for r in session.scalars(select(CarrierMapping)).all()]


def mapping_dict(row: CarrierMapping) -> dict[str, Any]:
    return {
        "id": row.id,
        "magento_carrier_code": row.magento_carrier_code or None,
        "title": row.title or None,
        "title_key": row.title_key or None,
        "kind": "alias" if not row.magento_carrier_code else "mapping",
        "marketplace_code": row.marketplace_code,
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
    }


def list_mappings(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(CarrierMapping).order_by(CarrierMapping.magento_carrier_code,
                                                           CarrierMapping.title_key)).all()
    return [mapping_dict(r) for r in rows]


def add_mapping(runtime: Runtime, *, marketplace_code: str, magento_carrier_code: str | None = None,
                title: str | None = None, actor: str = "system") -> tuple[dict[str, Any], list[int]]:
    """Store (or replace) a mapping and release the shipments it unblocks: they become ``ready``
    and their sends are started at once (and by the next poll if starting fails).

    Returns the mapping and the ids of the released shipments.
    """
    code = (magento_carrier_code or "").strip().lower()
    shown_title = (title or "").strip()
    key = rules.title_key(shown_title)
    if not code and not key:
        raise InvalidMapping("give a Magento carrier code, a track title, or both")
    if len(code) > 64 or len(shown_title) > 255:
        raise InvalidMapping("carrier code or title too long")
    carriers = ensure_carriers(runtime)
    target = next((c for c in carriers if c.code.upper() == marketplace_code.strip().upper()), None)
    if target is None:
        known = ", ".join(c.code for c in carriers) or "none loaded"
        raise InvalidMapping(f"{marketplace_code!r} is not on the marketplace carrier list (SH21: {known})")
    with runtime.db.session() as session:
        row = session.scalars(select(CarrierMapping).where(CarrierMapping.magento_carrier_code == code,
                                                           CarrierMapping.title_key == key)).first()
        if row is None:
            row = CarrierMapping(magento_carrier_code=code, title_key=key, title=shown_title,
                                 marketplace_code=target.code, created_by=actor, created_at=utcnow())
            session.add(row)
        else:
            row.marketplace_code, row.title, row.created_by = target.code, shown_title, actor
        session.flush()
        exception_service.audit(session, actor, "carrier.map", "carrier", rules.carrier_key(code, shown_title),
                                marketplace_code=target.code)
        result = mapping_dict(row)
    released = release_waiting(runtime)
    _start(runtime, [(i, g) for i, g in due_for_send(runtime) if i in set(released)])
    return result, released


def delete_mapping(runtime: Runtime, mapping_id: int, *, actor: str = "system") -> bool:
    with runtime.db.session() as session:
        row = session.get(CarrierMapping, mapping_id)
        if row is None:
            return False
        exception_service.audit(session, actor, "carrier.unmap", "carrier",
                                rules.carrier_key(row.magento_carrier_code, row.title),
                                marketplace_code=row.marketplace_code)
        session.delete(row)
    return True


def suggest(runtime: Runtime, title: str, magento_carrier_code: str | None = None) -> dict[str, Any]:
    """What a title (and code) would match today, and the ranked SH21 suggestions."""
    carriers = ensure_carriers(runtime)
    with runtime.db.session() as session:
        mappings = _mappings(session)
    outcome = rules.match_carrier(magento_carrier_code, title, carriers, mappings, runtime.settings.carrier_aliases)
    suggestions = rules.suggest_carriers(title or magento_carrier_code, carriers)
    matched = None
    if isinstance(outcome, rules.CarrierMatch):
        matched = {"code": outcome.carrier.code, "label": outcome.carrier.label, "method": outcome.method.value}
    return {"title": title, "magento_carrier_code": magento_carrier_code, "match": matched,
            "suggestions": [s.__dict__ for s in suggestions]}


def release_waiting(runtime: Runtime) -> list[int]:
    """Re-evaluate shipments waiting for a carrier: those that now match become ``ready`` with a
    new generation (so a fresh send workflow runs). Returns their ids."""
    carriers = ensure_carriers(runtime)
    released: list[int] = []
    with runtime.db.session() as session:
        mappings = _mappings(session)
        rows = session.scalars(select(ShipmentOut).where(ShipmentOut.state == ShipmentState.WAITING_CARRIER.value)).all()
        for row in rows:
            track = rules.pick_tracking([rules.Track.from_wire(t) for t in row.tracks])
            if track is None:
                continue
            outcome = rules.match_carrier(track.carrier_code, track.title, carriers, mappings,
                                          runtime.settings.carrier_aliases)
            if isinstance(outcome, rules.CarrierMatch):
                row.state = ShipmentState.READY.value
                row.generation += 1
                released.append(row.magento_shipment_id)
        _sync_carrier_exceptions(session)
    if released:
        log.info("shipments.released", count=len(released))
    return released


# ====================================================================== detect
def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _tracks_wire(shipment: Any) -> list[dict[str, Any]]:
    return [{"track_number": (t.track_number or "").strip(), "title": t.title or "", "carrier_code": t.carrier_code or "",
             "created_at": t.created_at or ""} for t in shipment.tracks]


def record_shipment(session: Session, shipment: Any, ext_order_id: str) -> tuple[ShipmentOut, bool]:
    """Write (or refresh the tracks of) one Magento shipment of a marketplace order.

    Returns the row and whether something changed that needs a (new) send: the row is new, or
    its tracks changed while it was not yet confirmed.
    """
    row = session.get(ShipmentOut, shipment.entity_id)
    tracks = _tracks_wire(shipment)
    if row is None:
        # Insert-if-absent: the poll and a webhook's detect can find the same new shipment at the
        # same moment (the soak saw polls fail on the unique id); the second one updates instead.
        inserted = session.execute(dialect_insert(session, ShipmentOut).values(
            magento_shipment_id=shipment.entity_id, magento_increment_id=shipment.increment_id or "",
            magento_order_id=shipment.order_id, marketplace_order_id=ext_order_id, state=ShipmentState.NEW.value,
            tracks=tracks, items=[{"order_item_id": i.order_item_id, "sku": i.sku or "", "qty": i.qty} for i in shipment.items],
            lines={}, results={}, last_error="", generation=1, attempts=0,
            magento_created_at=_parse_time(shipment.created_at), detected_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["magento_shipment_id"])).rowcount
        row = session.get(ShipmentOut, shipment.entity_id)
        assert row is not None
        if inserted:
            log.info("shipment.detected", shipment=shipment.entity_id, order=ext_order_id)
            return row, True
    if tracks != row.tracks:
        row.tracks = tracks
        reopen = row.state in (ShipmentState.WAITING_TRACKING.value, ShipmentState.WAITING_CARRIER.value,
                               ShipmentState.ERROR.value, ShipmentState.PARTIAL.value)
        if reopen or (row.state == ShipmentState.CONFIRMED.value and _tracking_changed(row)):
            row.state = ShipmentState.READY.value
            row.generation += 1
            return row, True
    return row, False


def _tracking_changed(row: ShipmentOut) -> bool:
    """A confirmed shipment whose newest tracking number is not the one we sent (a correction)."""
    track = rules.pick_tracking([rules.Track.from_wire(t) for t in row.tracks])
    return track is not None and row.tracking_number is not None and track.track_number != row.tracking_number


class _OrderCache:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.orders: dict[int, Any] = {}

    def ext_order_id(self, order_id: int) -> str | None:
        """The marketplace order id of a Magento order; None when it has none or is gone."""
        if order_id not in self.orders:
            try:
                self.orders[order_id] = self.runtime.magento.get_order(order_id)
            except NotFound:
                log.warning("shipment.order_not_found", magento_order_id=order_id)
                self.orders[order_id] = None
        order = self.orders[order_id]
        return order.ext_order_id if order is not None else None


def detect_shipment(runtime: Runtime, shipment_id: int) -> int | None:
    """Read one Magento shipment (a webhook hint) and record it. Returns its id when a send is
    due, None when nothing is to do (not a marketplace order, or nothing changed)."""
    shipment = runtime.magento.get_shipment(shipment_id)
    order = runtime.magento.get_order(shipment.order_id)
    if not order.ext_order_id:
        return None
    with runtime.db.session() as session:
        row, changed = record_shipment(session, shipment, order.ext_order_id)
        return row.magento_shipment_id if changed else None


def poll_new_shipments(runtime: Runtime, *, page_size: int = 100) -> list[int]:
    """Read Magento shipments after the entity-id cursor; store those of marketplace orders.

    The cursor moves only after the rows it passes are committed, page by page.
    """
    due: list[int] = []
    orders = _OrderCache(runtime)
    with runtime.db.session() as session:
        cursor = session.get(StreamCursor, CURSOR_NAME)
        after = int(cursor.value) if cursor else 0
    batch: list[Any] = []

    def flush() -> None:
        nonlocal batch
        if not batch:
            return
        with runtime.db.session() as session:
            for shipment in batch:
                ext = orders.ext_order_id(shipment.order_id)
                if ext:
                    row, changed = record_shipment(session, shipment, ext)
                    if changed:
                        due.append(row.magento_shipment_id)
            cursor = session.get(StreamCursor, CURSOR_NAME)
            last = str(batch[-1].entity_id)
            if cursor is None:
                session.add(StreamCursor(name=CURSOR_NAME, value=last))
            else:
                cursor.value = last
        batch = []

    for shipment in runtime.magento.iterate_shipments(after_entity_id=after or None, page_size=page_size):
        batch.append(shipment)
        if len(batch) >= page_size:
            flush()
    flush()
    return due


def recheck_tracks(runtime: Runtime, *, now: dt.datetime | None = None) -> list[int]:
    """Re-read recent unconfirmed shipments: tracks added later (they do not change the shipment's
    ``updated_at`` in Magento, so only a re-read finds them)."""
    now = now or utcnow()
    since = now - dt.timedelta(hours=runtime.settings.shipment_recheck_hours)
    with runtime.db.session() as session:
        ids = session.scalars(select(ShipmentOut.magento_shipment_id).where(
            ShipmentOut.state.in_([ShipmentState.WAITING_TRACKING.value, ShipmentState.WAITING_CARRIER.value,
                                   ShipmentState.PARTIAL.value, ShipmentState.ERROR.value]),
            ShipmentOut.detected_at >= since)).all()
    due = []
    for shipment_id in ids:
        try:
            shipment = runtime.magento.get_shipment(shipment_id)
        except NotFound:
            continue
        with runtime.db.session() as session:
            row = session.get(ShipmentOut, shipment_id)
            if row is None:
                continue
            _, changed = record_shipment(session, shipment, row.marketplace_order_id)
            if changed:
                due.append(shipment_id)
    return due


def due_for_send(runtime: Runtime) -> list[tuple[int, int]]:
    """(shipment id, generation) of every row a send workflow should run for: new or ready."""
    with runtime.db.session() as session:
        rows = session.execute(select(ShipmentOut.magento_shipment_id, ShipmentOut.generation).where(
            ShipmentOut.state.in_([ShipmentState.NEW.value, ShipmentState.READY.value]))).all()
    return [(int(i), int(g)) for i, g in rows]


# ====================================================================== prepare
@dataclass
class Decision:
    """What ``prepare`` decided, as JSON for the workflow: ``send`` (with what), ``wait``, ``stop``."""

    action: str
    state: str
    detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "state": self.state, "detail": self.detail}


def _report(session: Session, type_: ExceptionType, object_id: str, message: str, detail: str = "",
            **context: Any) -> None:
    exception_service.record(session, ExceptionReport(type=type_, object_id=object_id, message=message,
                                                      detail=detail[:2000], context=context))


def _overridden(session: Session, type_: ExceptionType, object_id: str) -> bool:
    """A person resolved this exception by hand: they want the shipment sent as it is."""
    return session.scalars(select(ExceptionRecord.id).where(
        ExceptionRecord.type == type_.code, ExceptionRecord.object_id == object_id,
        ExceptionRecord.state == ExceptionState.RESOLVED.value,
        ExceptionRecord.resolved_by.is_not(None), ExceptionRecord.resolved_by != "system")).first() is not None


def _sync_carrier_exceptions(session: Session) -> None:
    """One ``carrier_unmapped`` record per Magento carrier with waiting shipments; resolved when
    none wait any more."""
    waiting = session.scalars(select(ShipmentOut).where(
        ShipmentOut.state == ShipmentState.WAITING_CARRIER.value)).all()
    keys = {row.carrier_key for row in waiting if row.carrier_key}
    active = exception_service.list_records(session, exception_service.ExceptionFilter(
        type=rules.CARRIER_UNMAPPED.code, active_only=True))
    for record_ in active:
        if record_.object_id not in keys:
            exception_service.clear(session, rules.CARRIER_UNMAPPED, record_.object_id)


def _items_for_allocation(shipment: Any, order: Any) -> list[rules.ShippedItem]:
    """Shipment items as the marketplace sees them: a configurable parent and its child are one
    line (keep the parent, which carries the child's SKU), ext ids from the Magento order."""
    order_items = {item.item_id: item for item in order.items}
    shipped_ids = {i.order_item_id for i in shipment.items if i.qty > 0}
    result = []
    for item in shipment.items:
        source = order_items.get(item.order_item_id)
        if source is not None and source.parent_item_id in shipped_ids:
            continue
        result.append(rules.ShippedItem(item.order_item_id, item.sku or (source.sku if source else ""), item.qty,
                                        source.ext_order_item_id if source else None))
    return result


def prepare(runtime: Runtime, shipment_id: int) -> dict[str, Any]:
    """Re-read the shipment in Magento and decide whether it can be sent now."""
    settings = runtime.settings
    try:
        shipment = runtime.magento.get_shipment(shipment_id)
        order = runtime.magento.get_order(shipment.order_id)
    except NotFound as error:
        with runtime.db.session() as session:
            row = session.get(ShipmentOut, shipment_id)
            if row is not None and row.state != ShipmentState.CONFIRMED.value:
                row.state = ShipmentState.ERROR.value
                row.last_error = f"the shipment or its order no longer exists in Adobe Commerce: {error.message}"[:2000]
        return Decision("stop", ShipmentState.ERROR.value, "not found in Adobe Commerce").as_json()
    carriers = ensure_carriers(runtime)
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        if row is None:
            return Decision("stop", "missing", "no such shipment row").as_json()
        if row.state == ShipmentState.CONFIRMED.value and not _tracking_changed(row):
            return Decision("stop", row.state, "already confirmed").as_json()
        row.tracks = _tracks_wire(shipment)
        row.items = [{"order_item_id": i.order_item_id, "sku": i.sku, "qty": i.qty, "ext_order_item_id": i.ext_order_item_id}
                     for i in _items_for_allocation(shipment, order)]
        object_id = str(shipment_id)
        track = rules.pick_tracking([rules.Track.from_wire(t) for t in row.tracks])
        if track is None:
            if settings.shipment_require_tracking:
                row.state = ShipmentState.WAITING_TRACKING.value
                _report(session, rules.TRACKING_MISSING, object_id,
                        f"Shipment {row.magento_increment_id or shipment_id} for John Lewis order "
                        f"{row.marketplace_order_id} has no tracking number; it will be sent as soon as one is added.",
                        order_id=row.marketplace_order_id)
                _sync_carrier_exceptions(session)
                return Decision("wait", row.state, "no tracking number").as_json()
            row.carrier_code = row.carrier_match = row.carrier_key = row.tracking_number = None
        else:
            exception_service.clear(session, rules.TRACKING_MISSING, object_id)
            row.carrier_key = rules.carrier_key(track.carrier_code, track.title)
            outcome = rules.match_carrier(track.carrier_code, track.title, carriers, _mappings(session),
                                          settings.carrier_aliases)
            if isinstance(outcome, rules.Unmapped):
                row.state = ShipmentState.WAITING_CARRIER.value
                row.carrier_code = None
                row.tracking_number = track.track_number
                _record_unmapped(session, outcome)
                _sync_carrier_exceptions(session)
                return Decision("wait", row.state, outcome.reason).as_json()
            row.carrier_code = outcome.carrier.code
            row.carrier_match = f"{outcome.method.value}: {outcome.detail}"[:128]
            row.tracking_number = track.track_number
            reused = session.scalars(select(ShipmentOut).where(
                ShipmentOut.tracking_number == track.track_number,
                ShipmentOut.marketplace_order_id != row.marketplace_order_id,
                ShipmentOut.magento_shipment_id != shipment_id)).first()
            if reused is not None and not _overridden(session, rules.TRACKING_REUSED, object_id):
                row.state = ShipmentState.ERROR.value
                row.last_error = f"tracking number {track.track_number} already used for order {reused.marketplace_order_id}"
                _report(session, rules.TRACKING_REUSED, object_id,
                        f"Tracking number {track.track_number} on shipment {row.magento_increment_id or shipment_id} "
                        f"(John Lewis order {row.marketplace_order_id}) was already used for order "
                        f"{reused.marketplace_order_id}. The shipment is held.",
                        order_id=row.marketplace_order_id, other_order_id=reused.marketplace_order_id)
                _sync_carrier_exceptions(session)
                return Decision("stop", row.state, row.last_error).as_json()
            exception_service.clear(session, rules.TRACKING_REUSED, object_id)
        if row.state not in (ShipmentState.PARTIAL.value, ShipmentState.CONFIRMED.value, ShipmentState.SENT.value):
            row.state = ShipmentState.READY.value
        _sync_carrier_exceptions(session)
        return Decision("send", row.state).as_json()


def _record_unmapped(session: Session, outcome: rules.Unmapped) -> None:
    waiting = session.scalars(select(ShipmentOut.magento_shipment_id).where(
        ShipmentOut.carrier_key == outcome.key, ShipmentOut.state == ShipmentState.WAITING_CARRIER.value)).all()
    shown = outcome.title or outcome.magento_carrier_code or "(blank)"
    hints = ", ".join(f"{s.label} ({s.code})" for s in outcome.suggestions[:3])
    message = (f"Carrier '{shown}' (Adobe Commerce carrier code '{outcome.magento_carrier_code or '-'}') has no John "
               f"Lewis carrier code; {len(waiting)} shipment(s) wait for it.")
    if hints:
        message += f" Closest John Lewis carriers: {hints}."
    best = outcome.suggestions[0].code if outcome.suggestions else "<CODE>"
    code_opt = f" --code {outcome.magento_carrier_code}" if outcome.magento_carrier_code else ""
    title_opt = f' --title "{outcome.title}"' if outcome.title else ""
    exception_service.record(session, ExceptionReport(
        type=rules.CARRIER_UNMAPPED, object_id=outcome.key, message=message, detail=outcome.reason,
        suggested_action=f"Map it: `marketbridge carriers map{code_opt}{title_opt} {best}` (or in the console); "
        "the waiting shipments are then sent by themselves.",
        context={"magento_carrier_code": outcome.magento_carrier_code, "title": outcome.title,
                 "waiting_shipments": [int(w) for w in waiting],
                 "suggestions": [s.__dict__ for s in outcome.suggestions]},
    ))


# ====================================================================== send
class OrderSnapshots:
    """Marketplace orders read before sending, in batches: one OR11 call (``order_ids``, up to 100)
    reads the order being sent *and* every other order with a shipment due, so a burst of
    shipments costs one call instead of one call per shipment (OR11 is budgeted at about one call
    a minute per shop). A snapshot is used for ``ttl`` seconds at most, and is dropped as soon as
    we write to that order; a stale one can at worst make us send OR24 to an order shipped
    meanwhile, which the marketplace refuses and we then re-read (see ``_send_single``).

    One read at a time per process: a send that misses the cache while a read is out (most of its
    time is the wait for OR11's turn) waits for that read and looks again, and only then reads
    itself, for every shipment due by then. Without this, each of the sends running side by side
    queued its own OR11 call behind the others: in the full soak's end-of-day wave the send workers
    all sat in OR11's queue, one shipment per call, and 351 shipments had not been attempted 24 s
    after the last one was found.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._orders: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._reading: threading.Event | None = None  # set when the read in progress is over
        self._missing: dict[str, float] = {}  # order id -> when a read asked for it and got nothing

    def forget(self, order_id: str) -> None:
        with self._lock:
            self._orders.pop(order_id, None)

    def get(self, runtime: Runtime, order_id: str) -> Any:
        asked = time.monotonic()
        while True:
            with self._lock:
                now = time.monotonic()
                cached = self._orders.get(order_id)
                if cached is not None and now - cached[0] <= self.ttl:
                    return cached[1]
                if self._missing.get(order_id, float("-inf")) >= asked:
                    raise NotFound(f"order {order_id} not found", api="OR11", status=200)
                reading = self._reading
                if reading is None:
                    self._reading = done = threading.Event()
            if reading is not None:
                reading.wait()  # then look again: that read probably carried this order too
                continue
            try:
                return self._read(runtime, order_id)
            finally:
                with self._lock:
                    self._reading = None
                done.set()

    def _read(self, runtime: Runtime, order_id: str) -> Any:
        with runtime.db.session() as session:
            others = session.scalars(select(ShipmentOut.marketplace_order_id).where(
                ShipmentOut.state.in_([ShipmentState.NEW.value, ShipmentState.READY.value]),
                ShipmentOut.marketplace_order_id != order_id).distinct().limit(99)).all()
        wanted = [order_id, *others]
        started = time.monotonic()
        found = {o.order_id: o for o in runtime.mirakl.list_orders(order_ids=wanted)}
        read_at = time.monotonic()
        with self._lock:
            for oid, order in found.items():
                self._orders[oid] = (read_at, order)
            for oid in wanted:
                if oid not in found:
                    self._missing[oid] = started
        if order_id not in found:
            raise NotFound(f"order {order_id} not found", api="OR11", status=200)
        return found[order_id]


def _snapshots(runtime: Runtime) -> OrderSnapshots:
    snapshots = runtime.extras.get("shipments.order_snapshots")
    if snapshots is None:
        snapshots = runtime.extras.setdefault("shipments.order_snapshots",
                                              OrderSnapshots(runtime.settings.shipment_order_read_ttl_seconds))
    return snapshots


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


def _classify(message: str) -> ExceptionType:
    text = message.lower()
    if "tracking" in text and ("mandatory" in text or "required" in text):
        return rules.TRACKING_MISSING
    if "not in order" in text or "exceeds the quantity" in text or "order line" in text:
        return rules.LINES_UNKNOWN
    return rules.SHIPMENT_REJECTED


def _stop(runtime: Runtime, shipment_id: int, api: str, error: RemoteError | str, type_: ExceptionType | None = None
          ) -> dict[str, Any]:
    message = error.message if isinstance(error, RemoteError) else str(error)
    type_ = type_ or _classify(message)
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.state = (ShipmentState.WAITING_TRACKING if type_ is rules.TRACKING_MISSING else ShipmentState.ERROR).value
        row.last_error = f"{api}: {message}"[:2000]
        _note(row, api, "rejected", message)
        _report(session, type_, str(shipment_id),
                f"John Lewis did not accept shipment {row.magento_increment_id or shipment_id} for order "
                f"{row.marketplace_order_id}: {message}", detail=str(error), order_id=row.marketplace_order_id)
    return {"state": ShipmentState.ERROR.value if type_ is not rules.TRACKING_MISSING
            else ShipmentState.WAITING_TRACKING.value, "api": api, "error": message}


def _confirm(runtime: Runtime, shipment_id: int, how: str, *, also_partial: bool = False,
             order_shipped: bool | None = None) -> dict[str, Any]:
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
        for type_ in (rules.SHIPMENT_UNCONFIRMED, rules.SHIPMENT_REJECTED, rules.LINES_UNKNOWN, rules.TRACKING_MISSING):
            exception_service.clear(session, type_, str(shipment_id))
        others: Sequence[ShipmentOut] = []
        if also_partial:
            others = session.scalars(select(ShipmentOut).where(
                ShipmentOut.marketplace_order_id == order_id,
                ShipmentOut.state.in_([ShipmentState.PARTIAL.value, ShipmentState.SENT.value]))).all()
            for other in others:
                other.state, other.confirmed_at = ShipmentState.CONFIRMED.value, now
                exception_service.clear(session, rules.SHIPMENT_UNCONFIRMED, str(other.magento_shipment_id))
        exception_service.clear(session, rules.SHIPPING_DEADLINE_NEAR, order_id)
        if order_shipped:
            every = session.scalars(select(ShipmentOut).where(ShipmentOut.marketplace_order_id == order_id)).all()
            tracking = sorted({r.tracking_number for r in every if r.tracking_number})
            carriers = sorted({r.carrier_code for r in every if r.carrier_code})
            _mark_order_shipped(session, order_id, carriers=carriers, tracking_numbers=tracking, at=now)
    log.info("shipment.confirmed", shipment=shipment_id, order=order_id, how=how)
    return {"state": ShipmentState.CONFIRMED.value, "how": how}


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


def _already_sent(session: Session, order_id: str, exclude: int) -> dict[str, int]:
    rows = session.scalars(select(ShipmentOut).where(
        ShipmentOut.marketplace_order_id == order_id, ShipmentOut.magento_shipment_id != exclude,
        ShipmentOut.state.in_([ShipmentState.PARTIAL.value, ShipmentState.SENT.value,
                               ShipmentState.CONFIRMED.value]))).all()
    used: dict[str, int] = {}
    for other in rows:
        for line_id, qty in (other.lines or {}).items():
            used[line_id] = used.get(line_id, 0) + int(qty)
    return used


def send(runtime: Runtime, shipment_id: int) -> dict[str, Any]:
    """Read the marketplace order, then send what is missing. Safe to repeat after a crash at any
    point: the read comes first and decides."""
    from marketbridge.adapters.mirakl import models as mm

    settings = runtime.settings
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        if row is None:
            return {"state": "missing"}
        order_id = row.marketplace_order_id
        tracking_number, carrier_code = row.tracking_number, row.carrier_code
        items = [rules.ShippedItem(int(i["order_item_id"]), str(i.get("sku") or ""), float(i.get("qty") or 0),
                                   i.get("ext_order_item_id")) for i in row.items]
        already = _already_sent(session, order_id, shipment_id)
        was_confirmed = row.confirmed_at is not None
        row.attempts += 1
    snapshots = _snapshots(runtime)
    try:
        order = snapshots.get(runtime, order_id)
    except NotFound as error:
        return _stop(runtime, shipment_id, "OR11", f"the marketplace has no order {order_id}: {error.message}",
                     rules.SHIPMENT_REJECTED)
    snapshots.forget(order_id)  # we may write to it now: whoever reads it next reads it fresh
    if order.order_state in SHIPPED_STATES:
        if was_confirmed and not settings.multi_shipment:
            # the order went out with an earlier tracking number: a later track is a correction (OR23 only)
            return _send_tracking_only(runtime, shipment_id, order_id, carrier_code, tracking_number)
        return _confirm(runtime, shipment_id, f"marketplace order already {order.order_state}", also_partial=True)
    if order.order_state in DEAD_STATES:
        return _stop(runtime, shipment_id, "OR11", f"the marketplace order is {order.order_state}",
                     rules.SHIPMENT_REJECTED)
    if order.order_state in NOT_YET_STATES:
        with runtime.db.session() as session:
            row = session.get(ShipmentOut, shipment_id)
            assert row is not None
            row.state = ShipmentState.READY.value
            row.generation += 1  # the next poll starts a fresh send
            row.last_error = f"marketplace order is {order.order_state}; will retry"
        return {"state": ShipmentState.READY.value, "retry": True, "order_state": order.order_state}

    lines = [rules.MarketplaceLine(line.order_line_id, line.offer_sku, line.quantity, line.order_line_state)
             for line in order.order_lines]
    plan = rules.allocate_lines(items, lines, already)
    if not plan.ok:
        problems = "; ".join(plan.unknown) or "the shipment has no items"
        return _stop(runtime, shipment_id, "lines", problems, rules.LINES_UNKNOWN)
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.lines = dict(plan.lines)
        exception_service.clear(session, rules.LINES_UNKNOWN, str(shipment_id))

    covered = dict(already)
    for line_id, qty in plan.lines.items():
        covered[line_id] = covered.get(line_id, 0) + qty
    completes = all(covered.get(line.order_line_id, 0) >= line.quantity
                    for line in order.order_lines if line.order_line_state == "SHIPPING")
    if settings.multi_shipment:
        return _send_multi(runtime, shipment_id, order_id, plan, carrier_code, tracking_number, completes, mm)
    return _send_single(runtime, shipment_id, order_id, completes, carrier_code, tracking_number, mm)


def _tracking_request(carrier_code: str | None, tracking_number: str | None, mm: Any) -> Any:
    return mm.TrackingRequest(carrier_code=carrier_code, tracking_number=tracking_number)


def _send_tracking_only(runtime: Runtime, shipment_id: int, order_id: str, carrier_code: str | None,
                        tracking_number: str | None) -> dict[str, Any]:
    from marketbridge.adapters.mirakl import models as mm

    if not tracking_number:
        return {"state": ShipmentState.CONFIRMED.value}
    request = _tracking_request(carrier_code, tracking_number, mm)
    try:
        runtime.mirakl.update_tracking(order_id, request)
    except (Rejected, NotFound) as error:
        return _stop(runtime, shipment_id, "OR23", error)
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.state = ShipmentState.CONFIRMED.value
        _note(row, "OR23", "ok", f"correction {carrier_code} {tracking_number}")
        _delivery(session, f"OR23:{order_id}:{tracking_number}", "OR23", order_id, "sent", request.wire())
    return {"state": ShipmentState.CONFIRMED.value, "corrected": True}


def _send_single(runtime: Runtime, shipment_id: int, order_id: str, completes: bool,
                 carrier_code: str | None, tracking_number: str | None, mm: Any) -> dict[str, Any]:
    """OR23 (tracking) then OR24 (ship) once our shipments cover every live line of the order."""
    if tracking_number:
        request = _tracking_request(carrier_code, tracking_number, mm)
        try:
            runtime.mirakl.update_tracking(order_id, request)
        except (Rejected, NotFound) as error:
            with runtime.db.session() as session:
                _delivery(session, f"OR23:{order_id}:{tracking_number}", "OR23", order_id, "failed", request.wire(),
                          str(error))
            return _stop(runtime, shipment_id, "OR23", error)
        with runtime.db.session() as session:
            row = session.get(ShipmentOut, shipment_id)
            assert row is not None
            row.state = ShipmentState.SENT.value
            row.sent_at = row.sent_at or utcnow()
            _note(row, "OR23", "ok", f"{carrier_code} {tracking_number}")
            _delivery(session, f"OR23:{order_id}:{tracking_number}", "OR23", order_id, "sent", request.wire())
    if not completes:
        with runtime.db.session() as session:
            row = session.get(ShipmentOut, shipment_id)
            assert row is not None
            row.state = ShipmentState.PARTIAL.value
            row.sent_at = row.sent_at or utcnow()
            _note(row, "OR24", "waiting", "the rest of the order is not shipped yet")
        return {"state": ShipmentState.PARTIAL.value}
    try:
        runtime.mirakl.ship_order(order_id)
    except (Rejected, NotFound) as error:
        try:  # someone may have shipped it meanwhile (back office, a crashed earlier attempt)
            again = runtime.mirakl.get_order(order_id)
            if again.order_state in SHIPPED_STATES:
                return _confirm(runtime, shipment_id, f"marketplace order already {again.order_state}", also_partial=True)
        except RemoteError:
            pass
        with runtime.db.session() as session:
            _delivery(session, f"OR24:{order_id}", "OR24", order_id, "failed", {}, str(error))
        return _stop(runtime, shipment_id, "OR24", error)
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.sent_at = row.sent_at or utcnow()
        _note(row, "OR24", "ok")
        _delivery(session, f"OR24:{order_id}", "OR24", order_id, "sent", {})
    return _confirm(runtime, shipment_id, "OR24 accepted", also_partial=True)


def package_reference(shipment_id: int) -> str:
    """Our mark on the marketplace shipment lines, so a repeat finds the shipment ST01 made."""
    return f"MB-{shipment_id}"


def _send_multi(runtime: Runtime, shipment_id: int, order_id: str, plan: rules.LinePlan, carrier_code: str | None,
                tracking_number: str | None, completes: bool, mm: Any) -> dict[str, Any]:
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
    tracking = (mm.ShipmentTrackingRequest(carrier_code=carrier_code, tracking_number=tracking_number)
                if tracking_number else None)
    request = mm.CreateShipmentsRequest(shipments=[mm.ShipmentRequest(
        order_id=order_id,
        shipment_lines=[mm.ShipmentLineRequest(order_line_id=line_id, quantity=qty, package_reference=reference)
                        for line_id, qty in plan.lines.items()],
        tracking=tracking, shipped=True)])
    try:
        response = runtime.mirakl.create_shipments(request)
    except (Rejected, NotFound) as error:
        with runtime.db.session() as session:
            _delivery(session, f"ST01:{shipment_id}", "ST01", order_id, "failed", request.wire(), str(error))
        return _stop(runtime, shipment_id, "ST01", error)
    if response.shipment_errors or not response.shipment_success:
        message = (response.shipment_errors[0].message if response.shipment_errors else None) or "no shipment created"
        with runtime.db.session() as session:
            _delivery(session, f"ST01:{shipment_id}", "ST01", order_id, "failed", request.wire(), message)
        return _stop(runtime, shipment_id, "ST01", message)
    created = response.shipment_success[0]
    with runtime.db.session() as session:
        _delivery(session, f"ST01:{shipment_id}", "ST01", order_id, "sent", request.wire())
    return _confirm_multi(runtime, shipment_id, created.id, f"ST01 created {created.status}", completes)


def _confirm_multi(runtime: Runtime, shipment_id: int, marketplace_shipment_id: str, how: str,
                   completes: bool) -> dict[str, Any]:
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        assert row is not None
        row.marketplace_shipment_id = marketplace_shipment_id
        row.sent_at = row.sent_at or utcnow()
        _note(row, "ST01", "ok", how)
    return _confirm(runtime, shipment_id, how, order_shipped=completes)


def note_failure(runtime: Runtime, shipment_id: int, error: str) -> None:
    """A send that kept failing for a transient reason: keep it ready for the next poll (new
    generation), with the error visible. ``shipment_unconfirmed`` tells people if it lasts."""
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
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
    with runtime.db.session() as session:
        row = session.get(ShipmentOut, shipment_id)
        if row is None:
            raise LookupError(f"no shipment {shipment_id}")
        if row.state == ShipmentState.CONFIRMED.value:
            raise ValueError(f"shipment {shipment_id} is already confirmed on the marketplace")
        if send_anyway:
            exception_service.clear(session, rules.TRACKING_REUSED, str(shipment_id), by=actor)
        row.state = ShipmentState.READY.value
        row.generation += 1
        row.last_error = ""
        exception_service.audit(session, actor, "shipment.retry", "shipment", str(shipment_id),
                                send_anyway=send_anyway)
        generation = row.generation
    _start(runtime, [(shipment_id, generation)])
    return generation


# ====================================================================== watch
def watch(runtime: Runtime, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Raise and clear ``shipping_deadline_near`` and ``shipment_unconfirmed``."""
    now = now or utcnow()
    settings = runtime.settings
    lead = dt.timedelta(hours=settings.shipping_deadline_lead_hours)
    limit = dt.timedelta(minutes=settings.shipment_unconfirmed_minutes)
    near = 0
    shipping = list(runtime.mirakl.list_orders(order_state_codes=["SHIPPING"]))
    with runtime.db.session() as session:
        with_shipment = set(session.scalars(select(ShipmentOut.marketplace_order_id).distinct()).all())
        seen = set()
        for order in shipping:
            seen.add(order.order_id)
            if order.order_id in with_shipment or not rules.deadline_near(order.shipping_deadline, now, lead):
                exception_service.clear(session, rules.SHIPPING_DEADLINE_NEAR, order.order_id)
                continue
            near += 1
            deadline = order.shipping_deadline.astimezone(dt.UTC) if order.shipping_deadline else None
            when = deadline.strftime("%d %b %Y %H:%M UTC") if deadline else "unknown"
            _report(session, rules.SHIPPING_DEADLINE_NEAR, order.order_id,
                    f"John Lewis order {order.order_id} must be dispatched by {when} and has no shipment in "
                    "Adobe Commerce yet.", shipping_deadline=deadline.isoformat() if deadline else None)
        for record_ in exception_service.list_records(session, exception_service.ExceptionFilter(
                type=rules.SHIPPING_DEADLINE_NEAR.code, active_only=True)):
            if record_.object_id not in seen:
                exception_service.clear(session, rules.SHIPPING_DEADLINE_NEAR, record_.object_id)

        unconfirmed = 0
        rows = session.scalars(select(ShipmentOut).where(ShipmentOut.state.in_(rules.OPEN_STATES))).all()
        open_ids = set()
        for row in rows:
            since = row.magento_created_at or row.detected_at
            if rules.unconfirmed_too_long(min(since, row.detected_at), now, limit):
                unconfirmed += 1
                open_ids.add(str(row.magento_shipment_id))
                minutes = int((now - min(since, row.detected_at)).total_seconds() // 60)
                _report(session, rules.SHIPMENT_UNCONFIRMED, str(row.magento_shipment_id),
                        f"Shipment {row.magento_increment_id or row.magento_shipment_id} for John Lewis order "
                        f"{row.marketplace_order_id} was made {minutes} minutes ago and is still not confirmed "
                        f"(state: {row.state.replace('_', ' ')}).", detail=row.last_error,
                        order_id=row.marketplace_order_id, state=row.state)
        for record_ in exception_service.list_records(session, exception_service.ExceptionFilter(
                type=rules.SHIPMENT_UNCONFIRMED.code, active_only=True)):
            if record_.object_id not in open_ids:
                exception_service.clear(session, rules.SHIPMENT_UNCONFIRMED, record_.object_id)
    return {"deadline_near": near, "unconfirmed": unconfirmed}


# ====================================================================== console
def shipment_dict(row: ShipmentOut) -> dict[str, Any]:
    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "magento_shipment_id": row.magento_shipment_id,
        "magento_increment_id": row.magento_increment_id,
        "magento_order_id": row.magento_order_id,
        "marketplace_order_id": row.marketplace_order_id,
        "state": row.state,
        "tracks": row.tracks,
        "lines": row.lines,
        "tracking_number": row.tracking_number,
        "carrier_code": row.carrier_code,
        "carrier_match": row.carrier_match,
        "carrier_key": row.carrier_key,
        "marketplace_shipment_id": row.marketplace_shipment_id,
        "results": row.results,
        "last_error": row.last_error,
        "attempts": row.attempts,
        "detected_at": iso(row.detected_at),
        "sent_at": iso(row.sent_at),
        "confirmed_at": iso(row.confirmed_at),
        "updated_at": iso(row.updated_at),
    }


def list_shipments(session: Session, *, state: str | None = None, order_id: str | None = None,
                   limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    query = select(ShipmentOut)
    if state:
        query = query.where(ShipmentOut.state == state)
    if order_id:
        query = query.where(ShipmentOut.marketplace_order_id == order_id)
    query = query.order_by(ShipmentOut.detected_at.desc(), ShipmentOut.magento_shipment_id.desc())
    return [shipment_dict(r) for r in session.scalars(query.limit(limit).offset(offset)).all()]


def counts_by_state(session: Session) -> dict[str, int]:
    """Shipments per state (every state present, zero when none), for the dashboard."""
    rows = session.execute(select(ShipmentOut.state, func.count()).group_by(ShipmentOut.state)).all()
    counts = {state.value: 0 for state in ShipmentState}
    counts.update({state: int(n) for state, n in rows})
    return counts


def shipments_for(session: Session, ids: Iterable[int]) -> list[ShipmentOut]:
    return list(session.scalars(select(ShipmentOut).where(ShipmentOut.magento_shipment_id.in_(list(ids)))).all())
