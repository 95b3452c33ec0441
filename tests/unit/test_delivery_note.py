"""The order comment tells the warehouse the delivery window and the pick-up point (OR11
``delivery_date`` and ``shipping_pudo_id``): Adobe Commerce's order has no field for either."""

from __future__ import annotations

import json

from marketbridge.domain.delivery import delivery_note
from tests.reference import REFERENCE_ROOT, requires_reference


@requires_reference
def test_the_documented_or11_sample_gives_window_and_pick_up_point() -> None:
    raw = json.loads((REFERENCE_ROOT / "mirakl" / "OR11.response.200.json").read_text(encoding="utf-8"))["orders"][0]
    note = delivery_note(raw)
    window = raw["delivery_date"]
    assert note.startswith(f"Deliver between {window['earliest'][:10]} and {window['latest'][:10]}.")
    assert note.endswith(f"Click and collect: ship to pick-up point {raw['shipping_pudo_id']}.")


def test_an_order_without_either_gives_nothing() -> None:
    assert delivery_note({}) == ""
    assert delivery_note({"delivery_date": None, "shipping_pudo_id": "  "}) == ""
    assert delivery_note({"delivery_date": {"earliest": "2026-12-08T00:00:00Z"}}) == ""
