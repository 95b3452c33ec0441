"""The feed's read of OR11, and a person's "refresh now" of one order.

A read whose window is longer than ``order_feed_export_after_seconds`` (a backfill: the first
read, or the first after an outage) goes through Mirakl's order export instead of OR11's pages:
:mod:`.exporting` says how; its orders go through the same pages, transactions and cursor rules.

:func:`read`: OR11 with ``start_update_date`` = cursor − ``order_feed_overlap_seconds`` (the very
first read: ``order_initial_lookback_seconds`` back), ``sort=dateCreated&order=asc`` (Mirakl's
only sort for OR11, said explicitly: an order created during the read lands after the pages
already read, never shifting one off a page boundary), **every page**. Each page is one
transaction: its orders' mirror rows and the changes :func:`~marketbridge.domain.order_feed.changes`
finds, together (a transactional outbox). The cursor moves only after the last page, to the
newest ``last_updated_date`` seen (Mirakl's clock, never ours), and never past an order that
could not be read (it is read again next time).

Why the overlap: the cursor is the newest date of the read, but an order updated *while* the read
was paging kept its place (the sort is by creation) and may have been read in its older version
on an early page, while a later page showed an order updated after it. The next read asks from a
little before the cursor, so it sees that order again. Anything read twice is compared with the
mirror first: an unchanged order writes nothing (no event), and an older version than the mirror
holds (a refresh got there first) is ignored. So the overlap and a read after a crash never
duplicate an event, and a crash (an exception, a killed worker) loses nothing: the cursor was not
moved, the next read starts where this one did.

One reader at a time, across processes and PostgreSQL workers: the lease on the feed's state row
(``ports.order_feed``). A second reader returns at once ("another worker reads"). Each page's
transaction renews the lease first; a reader whose lease was taken over (it stalled past
``order_feed_lease_seconds``) stops without writing that page.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.errors import RateLimited
from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.bus import StoreMarketplaceOrders
from marketbridge.domain.order_feed import MirrorOrder, changes
from marketbridge.ports.order_feed import OrderFeedRepository, ReadFigures
from marketbridge.ports.orders import StorageBusy, StoredOrders
from marketbridge.runtime import Runtime
from marketbridge.services.order_feed import exporting, pace
from marketbridge.services.order_feed.paging import in_pages
from marketbridge.services.order_feed.results import ReadResult, RefreshResult
from marketbridge.services.order_feed.wire import mirror_of

log = structlog.get_logger(__name__)
T = TypeVar("T")


class LeaseLost(RuntimeError):
    """Another reader took the lease over while this one stalled: this read stops, unwritten."""


def new_owner(runtime: Runtime) -> str:
    """A lease owner: the worker, the process and this one read (never reused)."""
    return f"{runtime.settings.executor_id}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def release_stale_lease(runtime: Runtime) -> bool:
    """At the engine's start: free the lease an earlier process of this same worker held when it
    was killed mid-read, instead of waiting ``order_feed_lease_seconds`` for it to expire (orders
    would wait that long: the soak's kills showed it). Safe because one executor id runs one
    process at a time (DBOS recovers an executor's work on the same assumption); a lease of
    another worker is left to expire. An executor id with a ``:`` could be a prefix of another's
    owner string, so then nothing is freed."""
    executor = runtime.settings.executor_id
    if ":" in executor:
        return False
    with runtime.order_feed_store.unit_of_work() as feed:
        freed = feed.release_lease_of_dead_process(f"{executor}:", f"{executor}:{os.getpid()}:")
    if freed:
        log.info("order_feed.stale_lease_released", executor_id=executor)
    return freed


def wire_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _with_retries(work: Callable[[], T]) -> T:
    """A page transaction again when SQLite refuses it at once ("database is locked"): it is all or
    nothing, so trying again is safe."""
    for attempt in range(3):
        try:
            return work()
        except StorageBusy as error:
            if not error.locked or attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _apply(feed: OrderFeedRepository, before: MirrorOrder | None, after: MirrorOrder, now: dt.datetime,
           result: ReadResult) -> bool:
    """Store ``after`` and its changes unless the mirror already holds it or a newer version."""
    if before is not None and after.updated_at < before.updated_at:
        result.stale += 1
        return False
    if before == after:
        result.unchanged += 1
        return False
    found = changes(before, after)
    feed.save(after, at=now)
    feed.add_events(found, at=now)
    result.record(found)
    return True


def _newer_than_mirror(before: MirrorOrder | None, after: MirrorOrder) -> bool:
    """What :func:`_apply` would write: not a version the mirror holds, nor an older one."""
    return before is None or (after.updated_at >= before.updated_at and before != after)


class _Reader:
    """One read's pages: parse, then write each page in its own fenced transaction."""

    def __init__(self, runtime: Runtime, owner: str, result: ReadResult, *, lease_seconds: float) -> None:
        self.runtime = runtime
        self.owner = owner
        self.result = result
        self.lease_seconds = lease_seconds  # each page's write renews the lease this long
        self.newest_ok: dt.datetime | None = None
        self.oldest_failed: dt.datetime | None = None
        #: an export read: the update date up to which the export holds every order (see .exporting)
        self.covered_until: dt.datetime | None = None

    def _failed(self, raw: Any, error: Exception) -> None:
        order_id = raw.get("order_id") if isinstance(raw, dict) else f"<{type(raw).__name__}>"
        # a validation error quotes the values it refused (a name, an address): name the fields only
        log.error("order_feed.order_unreadable", order_id=order_id, error=mirakl_models.unreadable_fields(error))
        self.result.failed.append(str(order_id))
        try:
            moment = dt.datetime.fromisoformat(str(raw["last_updated_date"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError, AttributeError):
            return  # no date to hold the cursor at: the cursor moves as if the entry were not there
        moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        self.oldest_failed = moment if self.oldest_failed is None else min(self.oldest_failed, moment)

    def page(self, raws: list[Any]) -> None:
        """Parse the page, hand what the mirror does not hold yet to the orders flow, then write
        the mirror, leaving out any order the orders flow could not store.

        That order matters: a mirror row is written only once the orders flow holds the same
        version, so "the mirror has it" means "the orders flow has it", and an order the mirror
        already holds need not be handed again (the overlap re-reads many; each hand-over is a
        transaction). A crash between the two leaves the mirror behind, so the next read hands the
        order again (the orders flow answers "duplicate") and records its change once."""
        window = self.runtime.settings.order_acceptance_window_seconds
        mirrors: list[MirrorOrder] = []
        unreadable: list[dict[str, Any]] = []
        for raw in raws:
            try:
                mirrors.append(mirror_of(mirakl_models.Order.model_validate(raw), window))
            except (ValidationError, TypeError, ValueError) as error:
                self._failed(raw, error)
                if isinstance(raw, dict):
                    unreadable.append(raw)
        clock = time.monotonic()
        refused = self._hand_to_orders(raws, mirrors, unreadable)
        self.result.store_seconds += time.monotonic() - clock
        mirrors = [m for m in mirrors if m.order_id not in refused]

        def write() -> ReadResult:
            counted = ReadResult()  # this attempt's counts, kept only once it commits
            lease = dt.timedelta(seconds=self.lease_seconds)
            with self.runtime.order_feed_store.unit_of_work() as feed:
                now = utcnow()
                if not feed.hold_lease(self.owner, now, now + lease):
                    raise LeaseLost("another reader took the order feed over; this read stops")
                known = feed.mirrored([m.order_id for m in mirrors])
                for mirror in mirrors:
                    if _apply(feed, known.get(mirror.order_id), mirror, now, counted):
                        known[mirror.order_id] = mirror
            return counted

        clock = time.monotonic()
        self.result.merge(_with_retries(write))
        self.result.mirror_seconds += time.monotonic() - clock
        self.result.orders += len(mirrors) + len(refused)
        for mirror in mirrors:
            self.newest_ok = mirror.updated_at if self.newest_ok is None else max(self.newest_ok, mirror.updated_at)

    def _hand_to_orders(self, raws: list[Any], mirrors: list[MirrorOrder], unreadable: list[dict[str, Any]]) -> set[str]:
        """The orders flow stores (``bus.StoreMarketplaceOrders``) every order of the page whose
        version the mirror does not hold, and every entry the mirror could not read (the orders
        flow raises ``order_unreadable`` for Ops). Returns the ids it could not store: they hold
        the cursor, and their mirror rows wait, so the next read hands them again. No handler (a
        bare runtime in a test): nothing is handed. An exception ends the read; the cursor stays."""
        bus = self.runtime.bus
        if not bus.handlers_of(StoreMarketplaceOrders):
            return set()
        with self.runtime.order_feed_store.unit_of_work() as feed:
            known = feed.mirrored([m.order_id for m in mirrors])
        behind = {m.order_id for m in mirrors if _newer_than_mirror(known.get(m.order_id), m)}
        page = tuple(raw for raw in raws if isinstance(raw, dict) and str(raw.get("order_id")) in behind)
        page += tuple(unreadable)
        if not page:
            return set()
        stored: StoredOrders = bus.handle(StoreMarketplaceOrders(orders=page))
        self.result.orders_new += stored.new
        self.result.orders_updated += stored.updated
        self.result.failed.extend(i for i in stored.failed if i not in self.result.failed)
        if stored.oldest_failed is not None:
            self.oldest_failed = (stored.oldest_failed if self.oldest_failed is None
                                  else min(self.oldest_failed, stored.oldest_failed))
        return set(stored.failed)

    def cursor_target(self) -> dt.datetime | None:
        target = self.newest_ok
        if self.covered_until is not None and (target is None or self.covered_until > target):
            target = self.covered_until
        if self.oldest_failed is not None and (target is None or self.oldest_failed < target):
            target = self.oldest_failed
        return target


def read(runtime: Runtime, *, force: bool = False) -> ReadResult:
    """One read of OR11 (or, for a long window, of the order export) into the mirror and the
    outbox (see the module doc). ``force`` reads even before ``next_read_due`` (the CLI's
    ``--once``); the client still keeps OR11's and OR13's paces."""
    settings = runtime.settings
    store = runtime.order_feed_store
    started = utcnow()
    clock = time.monotonic()
    interval = pace.interval_seconds(settings)
    owner = new_owner(runtime)
    result = ReadResult()
    with store.unit_of_work() as feed:
        cursor, due = feed.cursor_and_due()
        if not force and due is not None and started < due - dt.timedelta(seconds=pace.tick(interval).tolerance):
            result.skipped = "not due"
            return result
        since = (cursor - dt.timedelta(seconds=settings.order_feed_overlap_seconds) if cursor is not None
                 else started - dt.timedelta(seconds=settings.order_initial_lookback_seconds))
        export = exporting.uses_export(settings, since, started)
        lease = exporting.lease_seconds(settings) if export else settings.order_feed_lease_seconds
        if not feed.take_lease(owner, started, started + dt.timedelta(seconds=lease)):
            result.skipped = "another worker reads"
            return result
    result.since = wire_time(since)
    result.source = exporting.EXPORT_SOURCE if export else exporting.OR11_SOURCE
    first_call = "OR13" if export else "OR11"
    reader = _Reader(runtime, owner, result, lease_seconds=lease)
    error_text: str | None = None
    try:
        if export:
            exporting.read_export(runtime, since, started, reader)
        else:
            _page_through(runtime, since, reader)
    except RateLimited as error:
        if result.orders or result.failed or result.pages or error.api not in ("", first_call):
            error_text = f"{result.source} refused part-way: {error}"[:500]
            raise
        # OR11 (or OR13) not due yet (our pace, or Mirakl's Retry-After beyond the client's wait):
        # not an error; nothing was read and the cursor stays. An export refused is never replaced
        # by paging its whole window through OR11: the read waits for OR13's turn.
        result.skipped, result.not_due_seconds = f"{first_call} not due", error.retry_after
        log.info(f"order_feed.{first_call.lower()}_not_due", retry_after=error.retry_after)
    except BaseException as error:
        error_text = f"{type(error).__name__}: {error}"[:500]
        raise
    finally:
        result.seconds = time.monotonic() - clock
        _end(runtime, owner, reader, result, started, interval, error_text)
    return result


def _page_through(runtime: Runtime, since: dt.datetime, reader: _Reader) -> None:
    size = runtime.settings.order_poll_page_size
    params = {"start_update_date": wire_time(since), "sort": "dateCreated", "order": "asc"}

    def page_read(_total: int) -> None:
        reader.result.pages += 1

    def waited(seconds: float) -> None:
        reader.result.or11_seconds += seconds

    in_pages(runtime.mirakl.iter_offset("OR11", params, page_size=size, on_total=page_read), size, reader.page, waited)


def _end(runtime: Runtime, owner: str, reader: _Reader, result: ReadResult, started: dt.datetime,
         interval: float, error: str | None) -> None:
    """Record the read and give the lease back; the cursor moves only when the read completed."""
    finished = utcnow()
    target = reader.cursor_target() if error is None else None
    due = started + dt.timedelta(seconds=interval)
    if result.not_due_seconds is not None:  # OR11/OR13 refused for longer: no point asking before then
        due = max(due, finished + dt.timedelta(seconds=result.not_due_seconds))
    figures = ReadFigures(started_at=started, finished_at=finished, orders=result.orders, pages=result.pages,
                          events=result.events, next_read_due=due, error=error)
    try:
        with runtime.order_feed_store.unit_of_work() as feed:
            feed.end_read(owner, cursor=target, figures=figures)
            cursor, _due = feed.cursor_and_due()
        result.cursor = wire_time(cursor) if cursor is not None else None
    except Exception as failure:  # noqa: BLE001 - the lease then expires on its own; the read's own error wins
        log.error("order_feed.end_read_failed", error=str(failure)[:300])
        if error is None:
            raise
    log.info("order_feed.read", source=result.source, orders=result.orders, pages=result.pages, events=result.events,
             orders_new=result.orders_new, orders_updated=result.orders_updated, failed=len(result.failed),
             seconds=round(result.seconds, 3), or11_seconds=round(result.or11_seconds, 3),
             export_seconds=round(result.export_seconds, 3),
             store_seconds=round(result.store_seconds, 3), mirror_seconds=round(result.mirror_seconds, 3),
             cursor=result.cursor, error=error)


def refresh_order(runtime: Runtime, order_id: str) -> RefreshResult:
    """A person's explicit "refresh now" of one order: OR11 ``order_ids`` (the documented
    "synchronous: at each order page display" use, on the same OR11 pace), then the same upsert
    and events as a read, in one transaction. Raises ``LookupError`` when Mirakl does not know it."""
    found = [o for o in runtime.mirakl.list_orders(order_ids=[order_id]) if o.order_id == order_id]
    if not found:
        raise LookupError(f"the marketplace has no order {order_id}")
    after = mirror_of(found[0], runtime.settings.order_acceptance_window_seconds)

    def write() -> RefreshResult:
        counted = ReadResult()
        with runtime.order_feed_store.unit_of_work() as feed:
            now = utcnow()
            feed.serialise_writes(now)
            before = feed.mirrored([order_id]).get(order_id)
            kept = after if _apply(feed, before, after, now, counted) or before is None else before
        return RefreshResult(order=kept, changes=list(counted.changes))

    return _with_retries(write)


__all__ = ["LeaseLost", "new_owner", "read", "refresh_order", "release_stale_lease", "wire_time"]
