"""The marketplace's reference data (PM11 attributes, H11 hierarchies, VL11 value lists).

Cached for an hour in this process: their call frequency is hourly.
"""

from __future__ import annotations

import time

from marketbridge.domain import catalogue as catalogue_domain
from marketbridge.domain.catalogue import (
    MarketReference,
)
from marketbridge.runtime import Runtime

REFERENCE_TTL_SECONDS = 3600.0  # H11/PM11/VL11 may be called once an hour


# ----------------------------------------------------------------------------- reference data
def market_reference(runtime: Runtime, *, refresh: bool = False) -> MarketReference:
    """PM11 + H11 + VL11, cached for an hour in this process (their call frequency is hourly)."""
    cached = runtime.extras.get("catalogue.reference")
    if cached and not refresh and time.monotonic() - cached[0] < REFERENCE_TTL_SECONDS:
        return cached[1]  # type: ignore[no-any-return]
    client = runtime.mirakl
    reference = catalogue_domain.reference_from_api(
        [a.model_dump() for a in client.attributes()],
        [h.model_dump() for h in client.hierarchies()],
        [v.model_dump() for v in client.value_lists()],
    )
    runtime.extras["catalogue.reference"] = (time.monotonic(), reference)
    return reference
