"""Finding the products to publish: created in Magento after marketbridge's first look (the
baseline), or ``invalid`` and changed since. Cursor and baseline live in ``stream_cursors``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.magento.criteria import SearchCriteria
from marketbridge.domain.catalogue import (
    ListingStatus,
)
from marketbridge.runtime import Runtime

CURSOR_NAME = "catalogue.products"
BASELINE_NAME = "catalogue.baseline"


def _overlap(value: str, seconds: int = 2) -> str:
    """Magento's ``updated_at`` has one-second resolution and the search is ``gt``: look a little back."""
    try:
        moment = dt.datetime.fromisoformat(value.replace("T", " ")[:19])
    except ValueError:
        return value
    return (moment - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def discover_new_products(runtime: Runtime) -> list[str]:
    """SKUs created in Magento after marketbridge's first look that have no listing yet, plus products
    whose listing is ``invalid`` and that changed since (a fix to re-validate).

    The very first look only sets the baseline (the newest ``updated_at`` Magento shows): products that
    existed before are the audit's business ("missing on the marketplace", fixed with ``--fix``), not
    a surprise bulk publication. Scans look back a couple of seconds (Magento's timestamps have
    one-second resolution and the search is ``gt``); the listing table makes re-seeing harmless.
    Storage is the flow's port (``runtime.catalogue_store``).
    """
    store = runtime.catalogue_store
    with store.unit_of_work() as repo:
        since = repo.cursor(CURSOR_NAME)
        baseline = repo.cursor(BASELINE_NAME)
        known = repo.listing_statuses()
    found: list[str] = []
    newest = since
    magento = runtime.magento
    asked_at: dt.datetime | None = None
    if since is None and baseline is None:
        # The first look only sets the baseline: Magento's clock, from one small answer (not a read
        # of the whole catalogue to find its newest timestamp).
        magento.search_products(SearchCriteria().page(1, 1))
        asked_at = magento.last_answer_time()
        products: Iterable[Any] = () if asked_at is not None else magento.iterate_products()
    else:
        products = magento.iterate_products(updated_since=_overlap(since) if since else None)
    for product in products:
        if asked_at is None:
            asked_at = magento.last_answer_time()  # the first page: Magento's clock when it answered
        if product.updated_at and (newest is None or product.updated_at > newest):
            newest = product.updated_at
        if baseline is None:
            continue
        status = known.get(product.sku)
        if status == ListingStatus.INVALID.value or (status is None and (product.created_at or "") > baseline):
            found.append(product.sku)
    if asked_at is None:
        asked_at = magento.last_answer_time()
    if asked_at is not None:
        # Everything updated before Magento answered the first page has been seen; a product saved
        # later carries that second or a later one (the next pass looks back a little more). Without
        # this the cursor stays at the newest product, and a catalogue saved in one second (an
        # import, a seeded store) is re-read on every pass: 50,000 products a minute.
        seen_until = asked_at.strftime("%Y-%m-%d %H:%M:%S")
        if newest is None or seen_until > newest:
            newest = seen_until
    value = newest or utcnow().strftime("%Y-%m-%d %H:%M:%S")
    with store.unit_of_work() as repo:
        current = repo.cursor(CURSOR_NAME)
        if current is None or value > current:  # the cursor only moves forward
            repo.move_cursor(CURSOR_NAME, value)
        if baseline is None:
            repo.add_cursor(BASELINE_NAME, value)
    return found
