"""A feed read through Mirakl's asynchronous order export (OR13 → OR14 → OR15) instead of OR11's pages.

Why: OR11's own description says "For large requests, use asynchronous order export APIs OR13,
OR14 and OR15 instead". A read whose window (now − its start: the cursor less the overlap, or
``order_initial_lookback_seconds`` on the very first read) is longer than
``order_feed_export_after_seconds`` is such a request: the first read (7 days back), or the first
after a long outage. It asks a *differential* export (an update-date range ``[since, started]``:
allowed every 5 minutes, where a full one is allowed once a day) and hands the exported orders to
the same :meth:`~.reading._Reader.page` as OR11's, ``order_poll_page_size`` at a time: the same
parsing, the same hand-over to the orders flow, the same page transactions and cursor rules.

What the read covers: every order whose update date, when Mirakl rendered the export, lay in the
range. ``started`` is taken before OR13 is sent, so an order last updated at or before it (on
Mirakl's clock, which the range is compared with) was updated before the export began and is in
it; an order updated later is left out (its date is then past the range) and the next read, an
OR11 one from the cursor less the overlap, finds it. So the cursor moves to the newest date read,
or to the end of what the export covered if that is later: ``min(started, OR14's COMPLETED
last_updated)`` (the second, Mirakl's own clock, is the smaller only if Mirakl's clock is behind
ours by more than the export took; smaller lags are what the overlap is for, as in OR11's reads).
This holds even when the window held no order: otherwise a shop with no order updated in the
window would keep its cursor, ask for an export on every read, and never return to OR11. An
unreadable order, or one the orders flow could not store, still holds the cursor at its date.

The lease: nothing is written while Mirakl builds the export (OR14 is polled until COMPLETED, up
to ``order_feed_export_timeout_seconds``), and the lease is only renewed by a page's write. So an
export read holds the lease for that timeout plus ``order_feed_lease_seconds``, at the start and
at each page (files are downloaded between pages). A longer lease only delays another worker when
this one was killed mid-export (and a restarted worker frees its own lease at start); a shorter
one would let another worker take the feed over while this one waits on Mirakl, and start a
second export, which Mirakl refuses while one runs.

OR13 refused for its pace (5 minutes; the finance report shares it) is not an error: the read
reads nothing, the cursor stays and the next read is put off by the wait (as for OR11 not due).
It never falls back to paging the whole window through OR11.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.mirakl import models as mirakl_models
from marketbridge.services.order_feed.paging import in_pages

if TYPE_CHECKING:
    from marketbridge.runtime import Runtime
    from marketbridge.services.order_feed.reading import _Reader
    from marketbridge.settings import Settings

#: The sources a read names in its result and log line.
OR11_SOURCE = "OR11"
EXPORT_SOURCE = "OR13 export"
#: Bound on each export file: a file is held in memory while its orders are read, and Mirakl's
#: default (512 MB) is far more than a page-by-page reader needs. Mirakl's minimum is 10.
MEGABYTES_PER_CHUNK = 50


def uses_export(settings: Settings, since: dt.datetime, now: dt.datetime) -> bool:
    """The read from ``since`` goes through the export: its window is longer than the setting (0: never)."""
    threshold = settings.order_feed_export_after_seconds
    return threshold > 0 and (now - since).total_seconds() > threshold


def lease_seconds(settings: Settings) -> float:
    """How long an export read holds the lease (see the module doc)."""
    return settings.order_feed_export_timeout_seconds + settings.order_feed_lease_seconds


def _to_millisecond(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def read_export(runtime: Runtime, since: dt.datetime, until: dt.datetime, reader: _Reader) -> None:
    """Every order of the differential export ``[since, until]``, handed to ``reader`` a page at a
    time. ``reader.result.pages`` counts those pages (each one transaction), as OR11's read counts
    its HTTP pages; ``export_seconds`` is the time spent waiting on Mirakl."""
    settings = runtime.settings
    size = settings.order_poll_page_size
    since, until = _to_millisecond(since), _to_millisecond(until)  # Mirakl's dates carry milliseconds
    request = mirakl_models.OrderExportRequest(start_update_date=since, end_update_date=until,
                                               megabytes_per_chunk=MEGABYTES_PER_CHUNK)

    def completed(status: mirakl_models.OrderExportStatus) -> None:
        finished = status.last_updated
        if finished is not None and finished.tzinfo is None:
            finished = finished.replace(tzinfo=dt.UTC)
        reader.covered_until = until if finished is None else min(until, finished)

    def page(raws: list[Any]) -> None:
        reader.result.pages += 1
        reader.page(raws)

    def waited(seconds: float) -> None:
        reader.result.export_seconds += seconds

    entries = runtime.mirakl.export_order_entries(request, timeout=settings.order_feed_export_timeout_seconds,
                                                  on_complete=completed)
    in_pages(entries, size, page, waited)


__all__ = ["EXPORT_SOURCE", "MEGABYTES_PER_CHUNK", "OR11_SOURCE", "lease_seconds", "read_export", "uses_export"]
