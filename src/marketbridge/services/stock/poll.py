"""Poll, catch-up, full resync and rule re-application: the ways of noticing changes other than
webhooks.

* :func:`poll` (every 5 minutes) is the fallback for missed webhooks: it diffs every source item
  against the fingerprint stored per SKU (``sku_states.source_fingerprint``) and hints the SKUs of
  orders and products saved since its cursors (``stream_cursors`` rows ``stock.orders_updated_at``
  and ``stock.products_updated_at``, in Magento's ``YYYY-MM-DD HH:MM:SS`` UTC format, re-read from
  one second back since Magento's ``updated_at`` has one-second resolution).
* :func:`catch_up` is the poll a worker runs when it starts or takes over a dead worker's work.
* :func:`full_resync` re-reads every product and its stock and pushes every SKU.
* :func:`reapply_rules` recomputes every SKU from what is stored after a rule change.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain.stock import COMPOSITE_TYPES
from marketbridge.runtime import Runtime
from marketbridge.services import webhooks as webhook_service
from marketbridge.services.stock import outbox, reading
from marketbridge.services.stock.apply import (
    APPLY_CHUNK,
    ApplyResult,
    Reading,
    apply_readings,
    database_now,
)
from marketbridge.services.stock.refresh import RefreshResult, export_blind_spots, refresh
from marketbridge.services.stock.rules import load_rules

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the caller's transaction, wrapped in the port (outbox.store)

log = structlog.get_logger(__name__)

HISTORY_DAYS = 14  # per-SKU push history kept this long (sku_push_log)
CURSOR_ORDERS = "stock.orders_updated_at"
CURSOR_PRODUCTS = "stock.products_updated_at"


def _cursor(session: Session, name: str, default: str) -> str:
    value = outbox.store(session).cursor(name)
    return value if value is not None else default


def _set_cursor(session: Session, name: str, value: str) -> None:
    outbox.store(session).advance_cursor(name, value)


def _magento_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class PollResult:
    source_changes: int = 0
    order_skus: int = 0
    product_skus: int = 0
    redispatched: int = 0
    refresh: RefreshResult = field(default_factory=RefreshResult)


def poll(runtime: Runtime, *, overlap_seconds: float = 120.0, known_only: bool = False,
         redispatch_older_than: float = 30.0) -> PollResult:
    """The fallback when webhooks are missed: diff all source items against what we stored, and
    add the SKUs of orders placed or cancelled and of products saved since the last poll.

    ``known_only``: diff only the SKUs we hold a row for (the catch-up at start: on a database
    that has never synced, the first full sync is the full resync's business, not a start's)."""
    out = PollResult()
    began = time.monotonic()
    out.redispatched = webhook_service.redispatch_unhandled(runtime.db.session,
                                                            older_than_seconds=redispatch_older_than,
                                                            handlers=runtime.webhook_handlers)
    with runtime.db.session() as session:
        outbox.store(session).delete_push_log_before(utcnow() - dt.timedelta(days=HISTORY_DAYS))
    magento = runtime.magento
    started = utcnow()
    with runtime.db.session() as session:
        stored = outbox.store(session).fingerprints()
        default_since = _magento_time(started - dt.timedelta(seconds=overlap_seconds))
        orders_since = _cursor(session, CURSOR_ORDERS, default_since)
        first_poll = outbox.store(session).cursor(CURSOR_PRODUCTS) is None
        products_since = _cursor(session, CURSOR_PRODUCTS, default_since)

    def read_source_items() -> dict[str, reading.Physical]:
        return reading.read_physical(magento, None, reading.read_topology(magento, runtime.stock_id))

    def read_products() -> tuple[dict[str, reading.ProductRead], str | None]:
        if first_poll:
            # The first poll only starts the product cursor (Magento's clock): products saved
            # before are the full resync's business, and a store imported minutes ago would
            # otherwise be re-read in full (every product "changed in the last two minutes").
            return {}, reading.magento_clock(magento)
        return reading.skus_of_products_since(magento, products_since)

    # The three reads are independent: overlap them. After a restart under faults the catch-up
    # read them one after another (4.6 s seen), and every second of it keeps a change made while
    # the service was down on the offer.
    with ThreadPoolExecutor(max_workers=3) as pool:
        physical_future = pool.submit(read_source_items)
        orders_future = pool.submit(reading.skus_of_orders_since, magento, orders_since)
        products_future = pool.submit(read_products)
        physical = physical_future.result()
        order_skus, newest_order = orders_future.result()
        products, newest_product = products_future.result()
    changed = [sku for sku, p in physical.items() if stored.get(sku) != p.fingerprint
               and (not known_only or sku in stored)]
    changed += [sku for sku, fp in stored.items() if fp not in (None, "none") and sku not in physical]
    with runtime.db.session() as session:
        # States before hints, each in SKU order: the order a refresh pass locks them in (it locks
        # the states it applies, then deletes its hints). Hints first here deadlocked with a pass
        # on PostgreSQL and cost the catch-up at start.
        # Remember what was seen, so an exact re-read (which has no fingerprint) is not re-hinted.
        seen = [{"sku_": sku, "fp": physical[sku].fingerprint if sku in physical else "none"} for sku in sorted(changed)]
        if seen:
            outbox.store(session).set_fingerprints(seen)
        outbox.note_hint_groups(session, [
            outbox.HintGroup(tuple(changed), reason="poll:source-items"),
            outbox.HintGroup(tuple(order_skus), exact=True, reason="poll:orders"),
            outbox.HintGroup(tuple(products), price=True, details=True, reason="poll:products"),
        ], noticed_at=started)
        # Magento's updated_at has one-second resolution: re-read the last second next time.
        if newest_order:
            _set_cursor(session, CURSOR_ORDERS, _shift(newest_order, -1))
        if newest_product:
            _set_cursor(session, CURSOR_PRODUCTS, _shift(newest_product, -1))
    out.source_changes, out.order_skus, out.product_skus = len(changed), len(order_skus), len(products)
    diff_s = time.monotonic() - began
    out.refresh = refresh(runtime)
    log.info("stock.polled", known_only=known_only, redispatched=out.redispatched, source_changes=len(changed),
             order_skus=len(order_skus), orders_since=orders_since, product_skus=len(products),
             products_since=products_since, diff_s=round(diff_s, 2), total_s=round(time.monotonic() - began, 2))
    return out


def catch_up(runtime: Runtime) -> PollResult:
    """What a worker does first when it starts, or when it takes over a dead worker's work: learn
    what changed in Adobe Commerce while nobody listened, before the next stock window.

    * webhook events stored but not dispatched (the worker died between storing and handling,
      or a handler failed) are dispatched now, whatever their age;
    * every source item is compared with the fingerprint we stored for it (a change made while
      the service was down, whose webhook found nobody, shows there), and orders and products
      saved since the cursors of the last poll are hinted;
    * the hinted SKUs are read at once (the caller then claims, so they leave in the next window).

    Without it such a change waited for the next scheduled poll (every 5 minutes: seen 287 s
    after a restart). A catch-up is the poll's own diff, so it costs one scan of the source items."""
    return poll(runtime, known_only=True, redispatch_older_than=0.0)


def _shift(magento_time: str, seconds: int) -> str:
    try:
        moment = dt.datetime.strptime(magento_time[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return magento_time
    return (moment + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class ResyncResult:
    skus: int = 0
    products_read: int = 0
    exact_reads: int = 0
    exported: int = 0  # rows read from export-stock-salable-qty
    applied: ApplyResult = field(default_factory=ApplyResult)
    seconds: float = 0.0


Progress = Callable[[str, int, int | None], None]  # (phase, advance, total)


def full_resync(runtime: Runtime, *, progress: Progress | None = None) -> ResyncResult:
    """Re-read every product and its stock and push every SKU, whether it looks changed or not."""

    began = time.monotonic()
    out = ResyncResult()
    settings = runtime.settings
    magento = runtime.magento
    with runtime.db.session() as session:
        noticed_at = database_now(session)
    report = progress or (lambda phase, advance, total: None)
    report("products", 0, None)
    report("stock", 0, None)
    topology = reading.read_topology(magento, runtime.stock_id)
    # Products and source items are independent reads: overlap them (our parsing runs while
    # Adobe Commerce prepares the other page).
    with ThreadPoolExecutor(max_workers=3) as pool:
        products_future = pool.submit(reading.read_products, magento, None,
                                      progress=lambda n: report("products", n, None))
        physical_future = pool.submit(reading.read_physical, magento, None, topology,
                                      progress=lambda n: report("stock", n, None))
        export_future = (pool.submit(reading.read_salable_export, magento, runtime.stock_id,
                                     website=settings.magento_website_code)
                         if settings.stock_salable_read == "export" else None)
        products = products_future.result()
        physical = physical_future.result()
        exported = export_future.result() if export_future is not None else None
    with runtime.db.session() as session:
        repo = outbox.store(session)
        states = repo.reservation_flags()
        min_qty = repo.min_quantities()
        unmanaged = repo.unmanaged_skus()
    left_out: dict[str, float] = {}
    left_reads = 0
    if exported is not None:
        blind = export_blind_spots(exported, {s: p.type_id for s, p in products.items()}, unmanaged)
        if blind:  # learn manage_stock (and min_qty) where the export cannot tell: a few SKUs
            products.update(reading.read_product_details(magento, sorted(blind), settings.stock_read_concurrency))
        # Magento's export already counts reservations. What it did not list (not assigned to the
        # stock, or created between the two reads) is read by read_left_out: 0 without a call
        # when nothing is in stock, else exactly, never computed without reservations.
        out.exported = len(exported)
        left = [s for s in products if s not in exported and products[s].type_id not in COMPOSITE_TYPES]
        left_out, left_reads = reading.read_left_out(magento, left, physical, runtime.stock_id,
                                                     settings.stock_read_concurrency)
        exact = set()
    else:
        exact = reading.skus_on_open_orders(magento) | {s for s, flag in states.items() if flag}
    if settings.stock_salable_read == "exact":
        exact = set(products)
    exact = {s for s in exact if s in products and products[s].type_id not in COMPOSITE_TYPES}
    report("exact", 0, len(exact))
    exact_values = reading.read_salable_exact(magento, sorted(exact), runtime.stock_id,
                                              settings.stock_read_concurrency)
    out.exact_reads = len(exact_values) + left_reads
    readings: list[Reading] = []
    for sku, product in products.items():
        phys = physical.get(sku)
        computed = reading.computed_salable(phys, min_qty.get(sku, 0.0) or 0.0)
        item = Reading(sku=sku, product=product, fingerprint=phys.fingerprint if phys else "none")
        if product.type_id not in COMPOSITE_TYPES:
            item.stock_read = True
            export_row = exported.get(sku) if exported is not None else None
            if export_row is not None and sku not in exact_values:
                from_export = export_row.salable
                item.salable = computed if from_export is None else from_export
                item.reservations_suspected = from_export is not None and abs(from_export - computed) > 1e-9
            elif sku in exact_values:
                item.salable = exact_values[sku]
                item.reservations_suspected = item.salable is not None and abs(item.salable - computed) > 1e-9
            elif sku in left_out:
                item.salable = left_out[sku]
                item.reservations_suspected = abs(item.salable - computed) > 1e-9
            else:
                item.salable = computed
        readings.append(item)
    for sku in set(states) - set(products):  # deleted in Magento since we last saw it
        readings.append(Reading(sku=sku, missing=True, stock_read=True, salable=0.0, fingerprint="none"))
    readings.sort(key=lambda r: r.sku)  # lock order, as in a refresh
    out.skus = len(readings)
    out.products_read = len(products)
    noticed = {r.sku: noticed_at for r in readings}
    report("apply", 0, len(readings))
    # One transaction for the whole catalogue: the push loop sees every SKU at once, so a full
    # resync leaves in one import per API instead of being split across one-minute windows.
    with runtime.db.session() as session:
        rules = load_rules(session)
        for start in range(0, len(readings), APPLY_CHUNK):
            part = readings[start : start + APPLY_CHUNK]
            out.applied.add(apply_readings(session, settings, part, noticed, force={r.sku for r in part}, rules=rules,
                                           read_at=noticed_at))
            report("apply", len(part), len(readings))
    out.seconds = time.monotonic() - began
    return out


def reapply_rules(runtime: Runtime) -> ApplyResult:
    """After a rule change: recompute every SKU from what we stored (no Magento reads)."""
    out = ApplyResult()
    with runtime.db.session() as session:
        skus = outbox.store(session).all_skus()
        rules = load_rules(session)
    now = utcnow()
    for start in range(0, len(skus), APPLY_CHUNK):
        part = skus[start : start + APPLY_CHUNK]
        with runtime.db.session() as session:
            out.add(apply_readings(session, runtime.settings, [Reading(sku=s) for s in part],
                                   dict.fromkeys(part, now), rules=rules))
    return out
