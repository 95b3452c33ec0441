"""Typed views of the stock flow's read side, as the API, the console and the CLI show them.

They are pydantic models because they are JSON output: the stock routes use them as response
models, so /openapi.json names and describes the real shapes, and ``model_dump(mode="json")`` is
the JSON the API, ``marketbridge stock ... --json`` and the soak's sampler have always read (same
keys, same order, same values: tests/integration/test_stock_views.py pins it against the dicts these
views replaced). So that the JSON cannot drift, the fields keep the stored types: times are the ISO
8601 strings of :func:`marketbridge.services.stock.state._iso` (not ``datetime``, which pydantic
would write differently), prices the stored decimal strings, quantities the stored numbers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


# ------------------------------------------------------------------ one SKU (sku_view)
class OutboxEntry(_View):
    """A value of one kind waiting in the outbox (``pending``) and/or carried by the batch in
    flight (``in_flight``, ``batch_id``); ``noticed_at`` is the first notice of the pending value,
    else of the value in flight."""

    pending: str | None
    in_flight: str | None
    batch_id: int | None
    noticed_at: str | None


class ProductFacts(_View):
    """What the last read of the product in Adobe Commerce said (``read_at``: when it started)."""

    enabled: bool
    type_id: str
    manage_stock: bool
    min_qty: float
    category_ids: list[Any]
    read_at: str | None


class StockSide(_View):
    """The stock of one SKU: Magento's salable quantity, the quantity after the channel rules, what
    the marketplace has, and the last import's result."""

    magento_salable_qty: float | None
    target_qty: int | None
    rule_applied: str
    published_qty: int | None
    last_pushed_at: str | None
    import_id: str | None
    result: str  # ok | error | pending, "" before the first push
    message: str
    completed_at: str | None
    latency_seconds: float | None
    outbox: OutboxEntry | None


class PriceSide(_View):
    """The price of one SKU, as :class:`StockSide` (prices are decimal strings, as stored)."""

    magento_price: str | None
    target_price: str | None
    rule_applied: str
    published_price: str | None
    last_pushed_at: str | None
    import_id: str | None
    result: str
    message: str
    completed_at: str | None
    latency_seconds: float | None
    outbox: OutboxEntry | None


class SkuStockView(_View):
    """Everything about one SKU (``GET /api/stock/{sku}``, ``marketbridge stock show``)."""

    sku: str
    product: ProductFacts
    stock: StockSide
    price: PriceSide
    last_noticed_at: str | None
    waiting_for_magento_read: bool  # a hint is stored: the SKU will be read again


# ------------------------------------------------------------------ lists
class SkuStateRow(_View):
    """One line of the SKU list (``GET /api/stock``, ``marketbridge stock list``)."""

    sku: str
    magento_qty: float | None
    target_qty: int | None
    published_qty: int | None
    stock_result: str
    target_price: str | None
    published_price: str | None
    price_result: str
    last_pushed_at: str | None  # of the stock
    latency_seconds: float | None  # of the stock


class BatchView(_View):
    """One import sent (or being sent) to the marketplace (``GET /api/stock/batches``)."""

    id: int
    api: str
    kinds: list[str]
    state: str  # claimed | uploading | sent | complete | failed
    import_id: str | None
    skus: int
    ok: int
    errors: int
    import_status: str
    error: str
    created_at: str | None
    sent_at: str | None
    completed_at: str | None


class LaneView(_View):
    """One import lane: the batch it has in flight, and when it last sent."""

    api: str
    active_batch_id: int | None
    last_sent_at: str | None


class StockSummary(_View):
    """Counts of the flow (``GET /api/stock/summary``, ``marketbridge stock summary``). ``pending``
    counts the values waiting per kind (``{"stock": n, "price": n}``)."""

    skus: int
    waiting_for_magento_read: int
    pending: dict[str, int]
    in_flight: int
    errors: int
    lanes: list[LaneView]


class PushedValue(_View):
    """A value a completed import carried for one SKU (``GET /api/stock/history/{sku}``)."""

    kind: str
    value: str
    result: str
    message: str
    batch_id: int
    first_noticed_at: str | None
    read_at: str | None
    completed_at: str | None
    latency_seconds: float | None  # from first notice to completion


# ------------------------------------------------------------------ rules
class RuleView(_View):
    """A stored channel rule (``GET /api/rules``, ``marketbridge rules list``)."""

    id: int
    kind: str
    scope: str
    scope_key: str
    params: dict[str, Any]
    note: str
    created_by: str
    created_at: str | None


class RequeuedCounts(_View):
    """Values a rule change recomputed and queued for the marketplace, per kind."""

    stock: int
    price: int


class RuleSaved(RuleView):
    """``POST /api/rules``: the rule as stored, and what recomputing every SKU queued."""

    requeued: RequeuedCounts


class RuleRemoved(_View):
    """``DELETE /api/rules/{id}``: the id removed, and what recomputing every SKU queued."""

    deleted: int
    requeued: RequeuedCounts
