"""The webhook store over SQLAlchemy: :class:`SqlWebhookEvents` implements
:class:`marketbridge.ports.WebhookEventsRepository` (issue 18 item 2) on one session, the caller's
transaction, so the statements on ``webhook_events`` are written here and nowhere in
``services.webhooks``. The statements are the service's own, moved unchanged (the same dedup
look-up, insert and flush, savepoint around the handlers, and unhandled-events query).

The receiver's hot path builds one of these per transaction: it is a thin wrapper over the session
(no state of its own, no query of its own).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.stock import WebhookEvent
from marketbridge.ports.webhooks import Handler


class SqlWebhookEvents:
    """:class:`marketbridge.ports.WebhookEventsRepository` on one session (nothing committed here)."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    def earlier_event(self, dedup_key: str, since: dt.datetime) -> WebhookEvent | None:
        return self.session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.dedup_key == dedup_key, WebhookEvent.received_at >= since)
            .order_by(WebhookEvent.id.desc())
            .limit(1)
        ).first()

    def add_event(self, *, event_name: str, dedup_key: str, body: str, received_at: dt.datetime) -> WebhookEvent:
        event = WebhookEvent(event_name=event_name, dedup_key=dedup_key, body=body, received_at=received_at)
        self.session.add(event)
        self.session.flush()
        return event

    def event(self, event_id: int) -> WebhookEvent | None:
        return self.session.get(WebhookEvent, event_id)

    def run_handlers(self, handlers: Iterable[Handler], event_name: str, data: dict[str, Any]) -> None:
        session = self.session
        with session.begin_nested():
            for handler in handlers:
                handler(session, event_name, data)

    def unhandled_ids(self, received_before: dt.datetime, limit: int) -> Sequence[int]:
        return self.session.scalars(
            select(WebhookEvent.id)
            .where(WebhookEvent.handled_at.is_(None), WebhookEvent.received_at < received_before)
            .order_by(WebhookEvent.id)
            .limit(limit)
        ).all()


__all__ = ["SqlWebhookEvents"]
