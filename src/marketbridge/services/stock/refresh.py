"""Refresh hinted SKUs: re-read Adobe Commerce for the SKUs a webhook, a poll or another flow
hinted, and apply what was read (:func:`.apply.apply_readings`).

A hint (``stock_hints``: SKU, first noticed at, flags ``price``/``details``/``exact``/``force``)
says what to read: product facts when the price or details may have changed or the SKU is new,
the salable quantity always. A few SKUs are read exactly (one salable-quantity call each,
reservations included); a burst is read in bulk (source items 100 SKUs a call or one scan, and
Magento's salable-quantity export where configured). One pass at a time per process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import structlog

from marketbridge.domain.stock import COMPOSITE_TYPES
from marketbridge.memory import release_free_memory
from marketbridge.runtime import Runtime
from marketbridge.services.stock import outbox, reading
from marketbridge.services.stock.apply import (
    APPLY_CHUNK,
    LARGE_PASS,
    READ_STATE_COLUMNS,
    ApplyResult,
    Reading,
    _existing_skus,
    _load_states,
    apply_readings,
    database_now,
)
from marketbridge.services.stock.rules import load_rules

log = structlog.get_logger(__name__)

PHASE_LOG_MIN_SKUS = 20  # a pass this large logs where its read time went
DETAIL_READ_LIMIT = 200  # per refresh pass; more than that waits for the next pass
EXPORT_EXACT_READ_MAX = 10  # export mode: more hinted SKUs than this are read 100 a call


@dataclass
class RefreshResult:
    hints: int = 0
    applied: ApplyResult = field(default_factory=ApplyResult)


def export_blind_spots(exported: Mapping[str, reading.Exported], type_of: Mapping[str, str],
                       known_unmanaged: set[str]) -> set[str]:
    """SKUs whose export row cannot say their salable quantity (``qty 0`` with ``is_salable``
    true: Magento's answer for a product that does not manage stock) and that we still take for
    managed. Only their product detail tells (the list API has no stock item): without it an
    unmanaged product was published with its source quantity instead of the configured default."""
    return {sku for sku, row in exported.items()
            if row.salable is None and sku in type_of and type_of[sku] not in COMPOSITE_TYPES
            and sku not in known_unmanaged}


TOPOLOGY_SECONDS = 60.0  # how long the stock's enabled sources are taken as known


def _topology(runtime: Runtime) -> reading.StockTopology:
    """The stock's enabled sources, read at most once a minute (two calls): a pass of a few SKUs
    needs them for the fingerprint, and sources are linked or disabled rarely. A stale answer only
    makes a fingerprint differ from the poll's, which re-reads the SKU: the safe side."""
    cached = runtime.extras.get("stock_topology")
    if cached is not None and time.monotonic() - cached[0] < TOPOLOGY_SECONDS:
        return cast(reading.StockTopology, cached[1])
    topology = reading.read_topology(runtime.magento, runtime.stock_id)
    runtime.extras["stock_topology"] = (time.monotonic(), topology)
    return topology


def read_for(runtime: Runtime, skus: Sequence[str], *, details: set[str], exact: set[str],
             need_products: set[str], topology: reading.StockTopology | None = None) -> list[Reading]:
    """Read Magento for these SKUs: product facts where needed, salable quantity for all."""
    settings = runtime.settings
    magento = runtime.magento
    # Where a slow pass spends its time (logged once per pass): a pass holds back every change
    # noticed after it began, so its phases are what the restart figures are made of.
    phases: dict[str, float] = {}
    mark = time.monotonic()
    products = reading.read_products(magento, sorted(need_products)) if need_products else {}
    phases["products_s"] = time.monotonic() - mark
    detail_skus = sorted(details)[:DETAIL_READ_LIMIT]
    if detail_skus:
        mark = time.monotonic()
        products.update(reading.read_product_details(magento, detail_skus, settings.stock_read_concurrency))
        phases["details_s"] = time.monotonic() - mark
    with runtime.db.session() as session:
        states = _load_states(session, list(skus), columns=READ_STATE_COLUMNS)
    type_of = {s: (products[s].type_id if s in products else (states[s]["type_id"] if s in states else "simple")) for s in skus}
    stock_skus = [s for s in skus if type_of[s] not in COMPOSITE_TYPES]
    physical: dict[str, reading.Physical] = {}
    exported: dict[str, reading.Exported] | None = None
    left_out: dict[str, float] = {}
    with runtime.db.session() as session:
        catalogue_size = outbox.store(session).state_count()
    # One scan reads every source item (~1/300 of a call per SKU); exact reads cost a call each.
    exact_limit = min(settings.stock_exact_read_max, max(100, catalogue_size // 25))
    if settings.stock_salable_read == "export":
        # The export is as exact as the per-SKU call (reservations included) at 100 SKUs a call:
        # per-SKU reads only for a handful (one webhook's worth).
        exact_limit = min(exact_limit, EXPORT_EXACT_READ_MAX)
    if settings.stock_salable_read == "exact" or len(stock_skus) <= exact_limit:
        # A few SKUs: one exact salable-quantity read each (includes reservations). Their source
        # items first, in one call, for the fingerprint the poll and the catch-up compare with:
        # without it an exact read left the fingerprint of an older read, and a change back to
        # that older value whose webhook found nobody looked unchanged (full soak, MB-000319: 25
        # on the offer against 1 for 34 s). Before the salable reads: a change in between then
        # leaves the fingerprint behind, and is read again, never the other way round.
        exact_skus = set(stock_skus)
        if stock_skus:
            mark = time.monotonic()
            physical = reading.read_physical(magento, sorted(stock_skus), topology or _topology(runtime))
            phases["physical_s"] = time.monotonic() - mark
    else:
        # Many SKUs (a burst): 100 SKUs a call (``sku in``), or one scan of the whole table when
        # they are a large part of the catalogue; source items and the salable export overlap.
        topology = topology or reading.read_topology(magento, runtime.stock_id)
        wanted: list[str] | None = stock_skus if len(stock_skus) * 4 < catalogue_size else None
        with ThreadPoolExecutor(max_workers=2) as pool:
            physical_future = pool.submit(reading.read_physical, magento, wanted, topology)
            export_future = (pool.submit(reading.read_salable_export, magento, runtime.stock_id, wanted,
                                         website=settings.magento_website_code)
                             if settings.stock_salable_read == "export" else None)
            mark = time.monotonic()
            physical = physical_future.result()
            exported = export_future.result() if export_future is not None else None
            phases["bulk_s"] = time.monotonic() - mark
        if exported is not None:
            exact_skus = set()  # the export counts reservations
            # what it did not list (not assigned to the stock, created meanwhile): never computed
            left_out, _ = reading.read_left_out(magento, [s for s in stock_skus if s not in exported], physical,
                                                runtime.stock_id, settings.stock_read_concurrency)
            unmanaged = {s for s, st in states.items() if st.get("manage_stock") is False}
            blind = export_blind_spots(exported, type_of, unmanaged) - {
                sku for sku, product in products.items() if product.manage_stock is not None}
            if blind:
                products.update(reading.read_product_details(
                    magento, sorted(blind)[:DETAIL_READ_LIMIT], settings.stock_read_concurrency))
        else:
            exact_skus = set(exact) | {s for s, st in states.items() if st["reservations_suspected"]}
        exact_skus = {s for s in exact_skus if type_of[s] not in COMPOSITE_TYPES}
    mark = time.monotonic()
    exact_values = reading.read_salable_exact(magento, sorted(exact_skus), runtime.stock_id,
                                              settings.stock_read_concurrency)
    phases["exact_s"] = time.monotonic() - mark
    if len(skus) >= PHASE_LOG_MIN_SKUS:
        log.info("stock.read_phases", skus=len(skus), products=len(need_products), details=len(detail_skus),
                 exact=len(exact_skus), **{k: round(v, 2) for k, v in phases.items()})
    readings = []
    for sku in skus:
        product = products.get(sku)
        state = states.get(sku)
        missing = product is None and sku in need_products and state is not None
        min_qty = product.min_qty if product is not None and product.min_qty is not None else (
            state["min_qty"] if state is not None else 0.0)
        phys = physical.get(sku)
        computed = reading.computed_salable(phys, min_qty)
        fingerprint = (phys.fingerprint if phys else "none") if physical else None
        item = Reading(sku=sku, product=product, fingerprint=fingerprint, missing=missing)
        if type_of[sku] in COMPOSITE_TYPES:
            item.stock_read = False
        elif exported is not None and sku in exported and sku not in exact_values:
            from_export = exported[sku].salable
            item.salable = computed if from_export is None else from_export
            item.stock_read = True
            item.reservations_suspected = from_export is not None and abs(from_export - computed) > 1e-9
        elif sku in left_out:
            item.salable = left_out[sku]
            item.stock_read = True
            item.reservations_suspected = abs(item.salable - computed) > 1e-9
        elif sku in exact_values:
            item.salable = exact_values[sku]
            item.stock_read = True
            item.exact = True
            # reservations (or an unknown min qty) explain any gap between exact and computed
            if physical:
                item.reservations_suspected = item.salable is not None and abs(item.salable - computed) > 1e-9
        else:
            item.salable = computed
            item.stock_read = True
        readings.append(item)
    return readings


_passes_lock = threading.Lock()
_passes = 0
_in_flight: set[str] = set()  # SKUs a pass of this process has taken and not yet applied
MAX_PASSES = 2


def refresh(runtime: Runtime, *, limit: int = 100_000) -> RefreshResult:
    """Re-read Magento for every hinted SKU (oldest first, up to ``limit``) and enqueue changes.

    At most two passes at a time per process, over disjoint SKUs. A pass holds back every change
    noticed after it took its hints, for as long as it reads: one pass at a time let a slow one
    (the catch-up after a restart, 490 SKUs with product details, 35 s while Magento failed a
    call in ten) keep fresh changes off the marketplace for its whole length, and the full soak
    saw offers above Adobe Commerce for 26 s after a restart. A second pass takes only SKUs the
    first has not, so the same hint is never read twice in one process (two passes over the same
    SKUs were seen in the 50,000-SKU benchmark: two 40-second reads). A caller that finds two
    passes running gets an empty result; they or the next one take its hints. Across processes a
    double read is harmless (idempotent), only wasteful."""
    global _passes
    with _passes_lock:
        if _passes >= MAX_PASSES:
            return RefreshResult()
        _passes += 1
    taken: list[str] = []
    try:
        return _refresh(runtime, limit, taken)
    finally:
        with _passes_lock:
            _passes -= 1
            _in_flight.difference_update(taken)


def _resolve_product_ids(runtime: Runtime, hints: Sequence[Any]) -> None:
    """Hints by product id (legacy stock item events) → hints of the SKUs, read by the next pass.
    A failed look-up leaves them for the next pass; an id Adobe Commerce no longer has is dropped."""
    ids = [h.sku.removeprefix(outbox.PRODUCT_ID_HINT) for h in hints]
    try:
        found = reading.skus_of_product_ids(runtime.magento, ids)
    except Exception as error:  # noqa: BLE001 - the next pass tries again
        log.warning("stock.product_ids_unresolved", count=len(ids), error=str(error)[:200])
        return
    with runtime.db.session() as session:
        groups = [outbox.HintGroup((found[i],), stock=True, price=bool(h.price), details=bool(h.details),
                                   exact=bool(h.exact), reason=(h.reason or "")[:64])
                  for i, h in zip(ids, hints, strict=True) if i in found]
        outbox.note_hint_groups(session, groups)
        outbox.delete_hints(session, hints)


def _refresh(runtime: Runtime, limit: int, taken: list[str] | None = None) -> RefreshResult:
    """One pass. ``taken`` collects the SKUs it takes, marked in flight for this process's other
    pass; ``None`` reads as another process would (no marks: tests stand in a second worker so)."""
    out = RefreshResult()
    recheck = runtime.settings.webhook_recheck_seconds
    with runtime.db.session() as session:
        if taken is None:
            hints = outbox.take_hints(session, limit, recheck_seconds=recheck)
        else:
            with _passes_lock:  # take and mark in one step, so two passes never take the same SKU
                hints = outbox.take_hints(session, limit, exclude=_in_flight, recheck_seconds=recheck)
                taken.extend(h.sku for h in hints)
                _in_flight.update(taken)
        if not hints:
            return out
    by_id = [h for h in hints if h.sku.startswith(outbox.PRODUCT_ID_HINT)]
    if by_id:
        hints = [h for h in hints if not h.sku.startswith(outbox.PRODUCT_ID_HINT)]
        _resolve_product_ids(runtime, by_id)
        if not hints:
            return out
    with runtime.db.session() as session:
        # The read's time is taken *after* the hints were taken and before Magento is read, on the
        # database's clock: every change whose hint this pass took happened before it, and a pass
        # that started later (any worker) read Magento later, so "newer facts win" compares reads
        # by when they really looked (a time taken before the take let an older read win).
        started = database_now(session)
        known = _existing_skus(session, [h.sku for h in hints])
        skus = [h.sku for h in hints]
        noticed = {h.sku: h.first_noticed_at for h in hints}
        details = {h.sku for h in hints if h.details}
        exact = {h.sku for h in hints if h.exact}
        force = {h.sku for h in hints if h.force}
        need_products = {h.sku for h in hints if h.price or h.details or h.sku not in known}
    began = time.monotonic()
    # In SKU order: each chunk locks its rows (PostgreSQL), and two workers locking in one order
    # cannot deadlock on each other.
    readings = sorted(read_for(runtime, skus, details=details, exact=exact, need_products=need_products),
                      key=lambda r: r.sku)
    read_s = time.monotonic() - began
    with runtime.db.session() as session:
        rules = load_rules(session)
        for start in range(0, len(readings), APPLY_CHUNK):
            out.applied.add(apply_readings(session, runtime.settings, readings[start : start + APPLY_CHUNK], noticed,
                                           force=force, rules=rules, read_at=started))
        outbox.delete_hints(session, hints)  # compare-and-delete: a hint noticed again meanwhile stays
        if recheck > 0:  # a hook that came before Adobe Commerce's commit: read those once more
            outbox.note_rechecks(session, hints, {h.sku for h in hints} - out.applied.moved)
    out.hints = len(hints)
    if len(hints) >= LARGE_PASS:
        release_free_memory()
    log.info("stock.refreshed", skus=len(hints), read_s=round(read_s, 2), total_s=round(time.monotonic() - began, 2),
             stock=out.applied.stock_enqueued, price=out.applied.price_enqueued)
    return out
