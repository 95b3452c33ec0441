"""What the orders flow's commands return: frozen dataclasses, one per command.

The per-order workflows record step outputs with DBOS's portable JSON serializer, which stores
JSON only (never pickle), so a step returns :meth:`as_dict` of these: the same JSON objects the
steps have always recorded. ``as_dict`` leaves out what does not apply (``None``, and the flags
that are false), so a workflow recorded before this change reads the same as one recorded after,
for example ``{"order_id": "X-1", "skipped": true, "state": "held"}`` or
``{"order_id": "X-1", "waiting_for_stock": ["SKU-1"]}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


def _wire(result: Any, flags: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in dataclasses.fields(result):
        value = getattr(result, item.name)
        if value is None or (item.name in flags and value is False):
            continue
        out[item.name] = list(value) if isinstance(value, tuple) else value
    return out


@dataclass(frozen=True)
class DecisionResult:
    """:func:`~.decisions.decide`, :func:`~.decisions.decide_by_person`: the order's state after the
    decision and its outcome (``accept``, ``refuse``, ``partial``, ``hold``); ``skipped`` when
    there was nothing to decide, ``rejected`` (the error) when the marketplace refused OR21."""

    order_id: str
    state: str
    outcome: str | None = None
    skipped: bool = False
    rejected: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _wire(self, ("skipped",))


@dataclass(frozen=True)
class CreationResult:
    """:func:`~.creation.create_in_magento`: created (``magento_entity_id``, found or placed; and
    ``cancelled_meanwhile``, how the Magento order was cancelled when the marketplace cancelled the
    order during creation), ``already`` created, ``skipped`` (not paid), ``blocked`` (what a person
    must fix), ``waiting_for_stock`` (SKUs), or ``rejected`` by Adobe Commerce."""

    order_id: str
    magento_entity_id: int | None = None
    magento_increment_id: str | None = None
    found_existing: bool | None = None
    already: bool = False
    state: str | None = None
    skipped: bool = False
    blocked: str | None = None
    waiting_for_stock: tuple[str, ...] | None = None
    rejected: str | None = None
    cancelled_meanwhile: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _wire(self, ("already", "skipped"))


@dataclass(frozen=True)
class FinishResult:
    """:func:`~.creation.finish_creation`: ``invoiced`` now, and the totals that differ between the
    marketplace and Adobe Commerce; ``skipped`` for an order not created or cancelled."""

    order_id: str
    skipped: bool = False
    invoiced: bool | None = None
    differences: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return _wire(self, ("skipped",))


@dataclass(frozen=True)
class CancelResult:
    """:func:`~.cancellation.cancel_in_magento`: ``cancelled`` (``cancelled``, ``credit_memo`` or
    ``already``), ``shipped`` (too late: an issue for customer service), ``failed`` (Adobe
    Commerce's error), or ``skipped`` (not a created order; ``state`` says what it is)."""

    order_id: str
    state: str | None = None
    skipped: bool = False
    shipped: bool = False
    failed: str | None = None
    cancelled: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return _wire(self, ("skipped", "shipped"))
