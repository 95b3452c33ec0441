"""One publishing *pass* (:func:`publish_pass`), non-blocking and idempotent, so that the scheduled
workflow, the CLI and the API all call the same thing: follow the imports in flight, send the
products waiting (P41), then the offers of accepted products (OF01). :func:`publish` passes until
each SKU reaches a final status; :func:`run_scheduled_pass` is what the schedule does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from marketbridge.domain.catalogue import (
    ListingStatus,
)
from marketbridge.runtime import Runtime
from marketbridge.services.catalogue.discovery import discover_new_products
from marketbridge.services.catalogue.following import follow_imports
from marketbridge.services.catalogue.preparing import PrepareResult, prepare
from marketbridge.services.catalogue.results import ListingView, PassResult, ScheduledPass, UnknownSku
from marketbridge.services.catalogue.sending import send_offers, send_products
from marketbridge.services.catalogue.views import statuses


# ----------------------------------------------------------------------------- passes
def publish_pass(runtime: Runtime) -> PassResult:
    """Follow imports in flight, then send what waits (each within its call frequency)."""
    followed = follow_imports(runtime)
    products_import = send_products(runtime)
    offers_import = send_offers(runtime)
    if offers_import is None and followed:
        offers_import = send_offers(runtime)
    return PassResult(followed, products_import, offers_import)


TERMINAL = {ListingStatus.LIVE.value, ListingStatus.REJECTED.value, ListingStatus.INVALID.value,
            ListingStatus.EXCLUDED.value, ListingStatus.INACTIVE.value}


def publish(runtime: Runtime, skus: Sequence[str], *, wait: bool = True, timeout: float = 1800.0,
            poll_seconds: float = 1.0, on_progress: Any = None) -> dict[str, ListingView | UnknownSku]:
    """Publish ``skus`` now; with ``wait`` keep passing until each reaches a final status."""
    prepared = prepare(runtime, skus)
    watched = [*prepared.ready, *prepared.invalid, *prepared.excluded]
    deadline = time.monotonic() + timeout
    while True:
        publish_pass(runtime)
        states: dict[str, ListingView | UnknownSku] = dict(statuses(runtime, watched))
        if on_progress:
            on_progress(states)
        if not wait or all(s.status in TERMINAL for s in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(poll_seconds)
    for sku in prepared.not_found:
        states[sku] = UnknownSku(magento_sku=sku, problems=["No such SKU in Adobe Commerce."])
    return states



def run_scheduled_pass(runtime: Runtime) -> ScheduledPass:
    """What the schedule does: find new products, validate them, and move everything on one step."""
    new = discover_new_products(runtime)
    prepared = prepare(runtime, new) if new else PrepareResult()
    result = publish_pass(runtime)
    return ScheduledPass(discovered=len(new), ready=len(prepared.ready), invalid=len(prepared.invalid),
                         excluded=len(prepared.excluded), publishing=result)
