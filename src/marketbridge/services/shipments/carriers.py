"""Carriers (SH21): the cached marketplace carrier list, and the mappings from Magento carriers
(carrier code and/or track title) to marketplace carrier codes.

A mapping added by a person releases the shipments waiting for it (``waiting_carrier`` becomes
``ready`` with a new generation) and starts their sends at once; the poll's backstop starts any
send the bus could not start.
"""

from __future__ import annotations

import datetime as dt
import time

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.shipments import CarrierMapping
from marketbridge.adapters.errors import RemoteError
from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.shipments import ShipmentState
from marketbridge.ports import ShipmentsRepository
from marketbridge.runtime import Runtime
from marketbridge.services.shipments.common import _start, _sync_carrier_issues
from marketbridge.services.shipments.detect import due_for_send
from marketbridge.services.shipments.views import (
    CarrierMappingView,
    CarrierMatchView,
    CarrierSuggestions,
    MappingAdded,
    SuggestionView,
)

log = structlog.get_logger(__name__)


class InvalidMapping(ValueError):
    """A mapping request that cannot be stored (unknown marketplace code, nothing to match on)."""


def refresh_carriers(runtime: Runtime) -> int:
    """Replace the cached SH21 list with the marketplace's current one; returns the count."""
    carriers = runtime.mirakl.carriers()
    now = utcnow()
    with runtime.shipments_store.unit_of_work() as repo:
        repo.replace_carriers([shipments_domain.Carrier(c.code, c.label, c.standard_code, c.tracking_url)
                               for c in carriers], now)
    log.info("carriers.refreshed", count=len(carriers))
    return len(carriers)


def cached_carriers(repo: ShipmentsRepository) -> list[shipments_domain.Carrier]:
    """The cached SH21 list as it is (never refreshed here: the console's carriers page)."""
    return repo.cached_carriers()


#: A cached list older than this is refreshed on use (the daily schedule was missed, e.g. the
#: service was down at that hour); if the refresh fails the stale list is used meanwhile.
CARRIERS_MAX_AGE = dt.timedelta(hours=36)


def ensure_carriers(runtime: Runtime) -> list[shipments_domain.Carrier]:
    """The cached list, loaded from SH21 first if it was never loaded (or is long out of date)."""
    with runtime.shipments_store.unit_of_work() as repo:
        carriers = repo.cached_carriers()
        refreshed = repo.carriers_refreshed_at()
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
    with runtime.shipments_store.unit_of_work() as repo:
        return repo.cached_carriers()


def mapping_view(row: CarrierMapping) -> CarrierMappingView:
    return CarrierMappingView(
        id=row.id,
        magento_carrier_code=row.magento_carrier_code or None,
        title=row.title or None,
        title_key=row.title_key or None,
        kind="alias" if not row.magento_carrier_code else "mapping",
        marketplace_code=row.marketplace_code,
        created_by=row.created_by,
        created_at=row.created_at.isoformat(),
    )


def list_mappings(repo: ShipmentsRepository) -> list[CarrierMappingView]:
    """By Magento carrier code, then title key."""
    return [mapping_view(r) for r in repo.carrier_mapping_rows()]


def add_mapping(runtime: Runtime, *, marketplace_code: str, magento_carrier_code: str | None = None,
                title: str | None = None, actor: str = "system") -> MappingAdded:
    """Store (or replace) a mapping and release the shipments it unblocks: they become ``ready``
    and their sends are started at once (and by the next poll if starting fails).

    Returns the mapping and the ids of the released shipments.
    """
    code = (magento_carrier_code or "").strip().lower()
    shown_title = (title or "").strip()
    key = shipments_domain.title_key(shown_title)
    if not code and not key:
        raise InvalidMapping("give a Magento carrier code, a track title, or both")
    if len(code) > 64 or len(shown_title) > 255:
        raise InvalidMapping("carrier code or title too long")
    carriers = ensure_carriers(runtime)
    target = next((c for c in carriers if c.code.upper() == marketplace_code.strip().upper()), None)
    if target is None:
        known = ", ".join(c.code for c in carriers) or "none loaded"
        raise InvalidMapping(f"{marketplace_code!r} is not on the marketplace carrier list (SH21: {known})")
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.carrier_mapping(code, key)
        if row is None:
            row = CarrierMapping(magento_carrier_code=code, title_key=key, title=shown_title,
                                 marketplace_code=target.code, created_by=actor, created_at=utcnow())
            repo.add_carrier_mapping(row)
        else:
            row.marketplace_code, row.title, row.created_by = target.code, shown_title, actor
        repo.issues.audit(actor, "carrier.map", "carrier", shipments_domain.carrier_key(code, shown_title),
                          marketplace_code=target.code)
        mapping = mapping_view(row)
    released = release_waiting(runtime)
    _start(runtime, [(i, g) for i, g in due_for_send(runtime) if i in set(released)])
    return MappingAdded(mapping=mapping, released_shipments=released)


def delete_mapping(runtime: Runtime, mapping_id: int, *, actor: str = "system") -> bool:
    with runtime.shipments_store.unit_of_work() as repo:
        row = repo.carrier_mapping_by_id(mapping_id)
        if row is None:
            return False
        repo.issues.audit(actor, "carrier.unmap", "carrier",
                          shipments_domain.carrier_key(row.magento_carrier_code, row.title),
                          marketplace_code=row.marketplace_code)
        repo.delete_carrier_mapping(row)
    return True


def suggest(runtime: Runtime, title: str, magento_carrier_code: str | None = None) -> CarrierSuggestions:
    """What a title (and code) would match today, and the ranked SH21 suggestions."""
    carriers = ensure_carriers(runtime)
    with runtime.shipments_store.unit_of_work() as repo:
        mappings = repo.carrier_mappings()
    outcome = shipments_domain.match_carrier(magento_carrier_code, title, carriers, mappings, runtime.settings.carrier_aliases)
    suggestions = shipments_domain.suggest_carriers(title or magento_carrier_code, carriers)
    matched = None
    if isinstance(outcome, shipments_domain.CarrierMatch):
        matched = CarrierMatchView(code=outcome.carrier.code, label=outcome.carrier.label,
                                   method=outcome.method.value)
    return CarrierSuggestions(title=title, magento_carrier_code=magento_carrier_code, match=matched,
                              suggestions=[SuggestionView(code=s.code, label=s.label, score=s.score)
                                           for s in suggestions])


def release_waiting(runtime: Runtime) -> list[int]:
    """Re-evaluate shipments waiting for a carrier: those that now match become ``ready`` with a
    new generation (so a fresh send workflow runs). Returns their ids."""
    carriers = ensure_carriers(runtime)
    released: list[int] = []
    with runtime.shipments_store.unit_of_work() as repo:
        mappings = repo.carrier_mappings()
        for row in repo.waiting_for_carrier():
            track = shipments_domain.pick_tracking([shipments_domain.Track.from_wire(t) for t in row.tracks])
            if track is None:
                continue
            outcome = shipments_domain.match_carrier(track.carrier_code, track.title, carriers, mappings,
                                          runtime.settings.carrier_aliases)
            if isinstance(outcome, shipments_domain.CarrierMatch):
                row.state = ShipmentState.READY.value
                row.generation += 1
                released.append(row.magento_shipment_id)
        _sync_carrier_issues(repo)
    if released:
        log.info("shipments.released", count=len(released))
    return released
