"""The delivery promise of a marketplace order, as the warehouse needs to read it."""

from __future__ import annotations

from collections.abc import Mapping


def delivery_note(raw: Mapping[str, object]) -> str:
    """What the warehouse must know about delivery, from the OR11 order, for the order comment:
    the delivery window promised to the customer (``delivery_date``: ``{"earliest", "latest"}``,
    ISO date-times) and, for click and collect, the pick-up point (``shipping_pudo_id``). Adobe
    Commerce's order has no field for either, so without this the promise stayed on the marketplace.
    Empty when the order carries neither."""
    parts: list[str] = []
    window = raw.get("delivery_date")
    if isinstance(window, Mapping):
        earliest, latest = window.get("earliest"), window.get("latest")
        if isinstance(earliest, str) and isinstance(latest, str) and earliest and latest:
            parts.append(f"Deliver between {earliest[:10]} and {latest[:10]}.")
    pudo = raw.get("shipping_pudo_id")
    if isinstance(pudo, str) and pudo.strip():
        parts.append(f"Click and collect: ship to pick-up point {pudo.strip()}.")
    return " ".join(parts)
