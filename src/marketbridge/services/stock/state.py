"""Read-only views of the stock flow for the CLI, the JSON API and the console.

Each returns a typed view of :mod:`.views` (pydantic models: the routes' response models), whose
``model_dump(mode="json")`` is the JSON these functions returned as dicts before issue 18.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from marketbridge.domain.stock import Kind
from marketbridge.services.stock import outbox
from marketbridge.services.stock.views import (
    BatchView,
    LaneView,
    OutboxEntry,
    PriceSide,
    ProductFacts,
    PushedValue,
    SkuStateRow,
    SkuStockView,
    StockSide,
    StockSummary,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session  # the caller's transaction, wrapped in the port (outbox.store)

    from marketbridge.adapters.db.models.stock import SyncBatch


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def sku_view(session: Session, sku: str) -> SkuStockView | None:
    """Everything about one SKU: Magento values, published values, rule, import, result, latency."""
    repo = outbox.store(session)
    state = repo.state(sku)
    if state is None:
        return None
    pending = {
        row.kind: OutboxEntry(pending=row.pending_value, in_flight=row.inflight_value, batch_id=row.inflight_batch_id,
                              noticed_at=_iso(row.pending_first_noticed_at or row.inflight_first_noticed_at))
        for row in repo.outbox_of(sku)
    }
    hint = repo.hint(sku)
    return SkuStockView(
        sku=state.sku,
        product=ProductFacts(enabled=state.enabled, type_id=state.type_id, manage_stock=state.manage_stock,
                             min_qty=state.min_qty, category_ids=list(state.category_ids or []),
                             read_at=_iso(state.facts_at)),
        stock=StockSide(
            magento_salable_qty=state.magento_qty,
            target_qty=state.target_qty,
            rule_applied=state.stock_rule,
            published_qty=state.published_qty,
            last_pushed_at=_iso(state.stock_pushed_at),
            import_id=state.stock_import_id,
            result=state.stock_result,
            message=state.stock_message,
            completed_at=_iso(state.stock_completed_at),
            latency_seconds=state.stock_latency_seconds,
            outbox=pending.get(Kind.STOCK.value),
        ),
        price=PriceSide(
            magento_price=state.magento_price,
            target_price=state.target_price,
            rule_applied=state.price_rule,
            published_price=state.published_price,
            last_pushed_at=_iso(state.price_pushed_at),
            import_id=state.price_import_id,
            result=state.price_result,
            message=state.price_message,
            completed_at=_iso(state.price_completed_at),
            latency_seconds=state.price_latency_seconds,
            outbox=pending.get(Kind.PRICE.value),
        ),
        last_noticed_at=_iso(state.noticed_at),
        waiting_for_magento_read=hint is not None,
    )


def list_states(session: Session, *, result: str | None = None, limit: int = 100, offset: int = 0) -> list[SkuStateRow]:
    return [
        SkuStateRow(sku=s.sku, magento_qty=s.magento_qty, target_qty=s.target_qty, published_qty=s.published_qty,
                    stock_result=s.stock_result, target_price=s.target_price, published_price=s.published_price,
                    price_result=s.price_result, last_pushed_at=_iso(s.stock_pushed_at),
                    latency_seconds=s.stock_latency_seconds)
        for s in outbox.store(session).state_rows(result=result, limit=limit, offset=offset)
    ]


def batch_view(batch: SyncBatch) -> BatchView:
    return BatchView(id=batch.id, api=batch.api, kinds=batch.kinds.split(","), state=batch.state,
                     import_id=batch.import_id, skus=batch.sku_count, ok=batch.ok_count, errors=batch.error_count,
                     import_status=batch.import_status, error=batch.error, created_at=_iso(batch.created_at),
                     sent_at=_iso(batch.sent_at), completed_at=_iso(batch.completed_at))


def list_batches(session: Session, *, limit: int = 50) -> list[BatchView]:
    """The latest batches, newest first."""
    return [batch_view(b) for b in outbox.store(session).batch_list(limit)]


def summary(session: Session) -> StockSummary:
    repo = outbox.store(session)
    return StockSummary(
        skus=repo.state_count(),
        waiting_for_magento_read=repo.hint_count(),
        pending={k.value: repo.pending_of_kind(k.value) for k in Kind},
        in_flight=repo.inflight_count(),
        errors=repo.error_count(),
        lanes=[LaneView(api=lane.api, active_batch_id=lane.active_batch_id, last_sent_at=_iso(lane.last_sent_at))
               for lane in repo.lanes()],
    )


def sku_history(session: Session, sku: str, *, limit: int = 50) -> list[PushedValue]:
    """The values completed imports carried for this SKU, newest first."""
    rows = outbox.store(session).push_log(sku, limit)
    return [PushedValue(kind=r.kind, value=r.value, result=r.result, message=r.message, batch_id=r.batch_id,
                        first_noticed_at=_iso(r.first_noticed_at), read_at=_iso(r.read_at),
                        completed_at=_iso(r.completed_at),
                        latency_seconds=(r.completed_at - r.first_noticed_at).total_seconds()
                        if r.first_noticed_at else None)
            for r in rows]


def oldest_pending_change(session: Session) -> dt.datetime | None:
    """When the oldest stock or price change not yet sent to the marketplace was noticed (None: none)."""
    return outbox.store(session).oldest_pending_change()


def import_counts_since(session: Session, since: dt.datetime) -> list[tuple[str, str, int]]:
    """``(api, state, count)`` of the stock and price imports created since then."""
    return outbox.store(session).import_counts_since(since)
