"""The Adobe Commerce webhook store's storage port (implemented in :mod:`marketbridge.adapters.db.webhooks`).

Issue 18 item 2 for the webhook path: what ``services.webhooks`` (store, de-duplicate, dispatch)
asks of ``webhook_events``. A :class:`WebhookEventsRepository` is bound to one session, the
caller's transaction: storing a delivery and running its handlers' hints stay one transaction
(on SQLite, one commit per delivery), and the handlers are still handed that same session. The
rules (the dedup key and window, when an event counts as handled, what an error leaves on the row)
stay in the service; the repository runs the statements. It hands out the stored
``WebhookEvent`` rows, which the service changes in place (the session keeps the changes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.adapters.db.models.stock import WebhookEvent

#: The transaction a webhook handler writes its hints in: the dispatcher's session (the handler
#: must not commit; the dispatcher does). Named here so a handler's module imports no SQLAlchemy.
DispatchSession: TypeAlias = "Session"
#: A webhook handler: ``handler(session, event_name, data)`` (see ``services.webhooks``).
Handler = Callable[[DispatchSession, str, dict], None]


class WebhookEventsRepository(Protocol):
    """``webhook_events`` on one session (nothing is committed here)."""

    def earlier_event(self, dedup_key: str, since: dt.datetime) -> WebhookEvent | None:
        """The newest event with this dedup key received at or after ``since`` (the look-up on
        ``ix_webhook_events_dedup``; it never reads ``body``), or None."""
        ...

    def add_event(self, *, event_name: str, dedup_key: str, body: str, received_at: dt.datetime) -> WebhookEvent:
        """Insert a new event, flushed (it has its id)."""
        ...

    def event(self, event_id: int) -> WebhookEvent | None:
        """The event by id (from the session's identity map when it is there)."""
        ...

    def run_handlers(self, handlers: Iterable[Handler], event_name: str, data: dict[str, Any]) -> None:
        """Call each handler with this session, in order, inside a savepoint: if one raises, the
        handlers' writes are rolled back (what the caller changed before stays) and it propagates."""
        ...

    def unhandled_ids(self, received_before: dt.datetime, limit: int) -> Sequence[int]:
        """Ids of the events not handled yet received before ``received_before``, oldest first."""
        ...
