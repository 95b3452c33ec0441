"""What the receiver stored, read back in the webhook tests: the events' names and the SKUs hinted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from marketbridge.adapters.db.models.stock import StockHint, WebhookEvent


def event_names(client: Any) -> list[str]:
    """The stored events' names, in the order they were stored."""
    with client.runtime.db.session() as s:
        return [e.event_name for e in s.scalars(select(WebhookEvent).order_by(WebhookEvent.id))]


def hinted_skus(client: Any) -> list[str]:
    """The SKUs waiting to be read, sorted."""
    with client.runtime.db.session() as s:
        return sorted(s.scalars(select(StockHint.sku)))
