"""Typed views of the shipments flow, as the API, the CLI and the console show them.

They are pydantic models because they are JSON output: the routes use them as response models,
so /openapi.json describes the real shapes. Times are ISO 8601 strings (as stored rows are shown
everywhere else); the field names and values are those the API has always returned.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CarrierView(_View):
    """One marketplace carrier (SH21)."""

    code: str
    label: str
    standard_code: str | None = None
    tracking_url: str | None = None


class CarrierMappingView(_View):
    """A Magento carrier (code and/or track title) → a marketplace carrier code. ``kind`` is
    ``alias`` when it matches on the track title alone."""

    id: int
    magento_carrier_code: str | None
    title: str | None
    title_key: str | None
    kind: Literal["alias", "mapping"]
    marketplace_code: str
    created_by: str
    created_at: str


class MappingAdded(_View):
    """A stored mapping and the ids of the shipments it released (their sends are started)."""

    mapping: CarrierMappingView
    released_shipments: list[int]


class CarrierMatchView(_View):
    """The marketplace carrier a title (and code) matches, and how (``method``)."""

    code: str
    label: str
    method: str


class SuggestionView(_View):
    """A marketplace carrier ranked by similarity (``score`` 0-100)."""

    code: str
    label: str
    score: float


class CarrierSuggestions(_View):
    """What a title (and code) would match today, and the ranked SH21 suggestions."""

    title: str
    magento_carrier_code: str | None
    match: CarrierMatchView | None
    suggestions: list[SuggestionView]


class ShipmentView(_View):
    """One outbound shipment. ``tracks`` are ``{"track_number", "title", "carrier_code",
    "created_at"}``; ``lines`` map marketplace order line ids to quantities; ``results`` hold, per
    API, ``{"at", "status", "detail"}``."""

    magento_shipment_id: int
    magento_increment_id: str
    magento_order_id: int
    marketplace_order_id: str
    state: str
    tracks: list[dict[str, Any]]
    lines: dict[str, Any]
    tracking_number: str | None
    carrier_code: str | None
    carrier_match: str | None
    carrier_key: str | None
    marketplace_shipment_id: str | None
    results: dict[str, Any]
    last_error: str
    attempts: int
    detected_at: str | None
    sent_at: str | None
    confirmed_at: str | None
    updated_at: str | None


class ShipmentCounts(_View):
    """How many shipments are in each state (every state present, zero when none)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    new: int = 0
    waiting_carrier: int = 0
    waiting_tracking: int = 0
    ready: int = 0
    partial: int = 0
    sent: int = 0
    confirmed: int = 0
    error: int = 0
