"""Adobe Commerce webhooks: store first, then dispatch by event name to the flows that care.

How a delivery is handled (``POST /webhooks/adobe-commerce``, web/routers/webhooks.py):

1. the signature (``x-adobe-commerce-webhook-signature``) is checked against the raw body; an
   unsigned or badly signed body is refused with 401 and nothing is stored;
2. :func:`store_event` writes the raw body, the event name and a dedup key to ``webhook_events``
   and commits, *before* anything acts on it; a delivery with a key seen within
   ``webhook_dedup_seconds`` (7 days by default) is recognised and not stored again.
   Days, not minutes: a captured signed delivery replayed an hour later must not be taken as new.
   Adobe Commerce webhook bodies carry no id or time, so a genuinely identical body within the
   window (a stock level back to the very same figure) looks like a repeat: its handlers run
   again (``dispatch_event(..., again=True)``). Every handler only hints "re-read this", so a
   replay costs one read of Adobe Commerce and can never publish an old value. The lookup is
   on ``(dedup_key, received_at)`` (index ``ix_webhook_events_dedup``) and never reads ``body``:
   a personal-data purge may blank bodies at any age, but must keep ``dedup_key`` and
   ``received_at`` of rows younger than the window (see :func:`dedup_horizon`);
3. :func:`dispatch_event` runs every handler in the table for the event name, in one transaction,
   and marks the event handled. A handler that fails leaves the event unhandled with its error;
   :func:`redispatch_unhandled` (called by the stock poll) tries again later, so nothing is lost.

The statements on ``webhook_events`` are in :mod:`marketbridge.adapters.db.webhooks`
(:class:`~marketbridge.ports.WebhookEventsRepository`, issue 18), on the caller's session: the
functions here take that repository or a bare session (wrapped at once), so a store and its
handlers' hints are still one transaction.

Handlers treat an event as a *hint* and re-read Adobe Commerce for the truth: payloads are filtered
per subscription, may arrive twice, late or out of order.

Which handlers run is an explicit table, :class:`WebhookHandlers`, built by
:mod:`marketbridge.bootstrap` (``webhook_handlers()``) and kept on the runtime
(``runtime.webhook_handlers``); nothing registers itself by being imported. A handler is::

    def on_shipment(session: Session, event_name: str, data: dict) -> None:
        ...  # e.g. store the shipment id as "to read", in this same transaction

and bootstrap adds it with ``table.add("observer.sales_order_shipment", on_shipment)``.

``event_name_prefix`` matches the start of the event name (``"observer.sales_order_shipment"``
covers both shipment events). ``data`` is the envelope's ``data`` object (I/O Events deliveries
are unwrapped to the same shape). The session is committed by the dispatcher; a handler must not
commit, and must not call remote APIs (keep it quick: write what to do, let a workflow do it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.store import OrSession, on_repository
from marketbridge.adapters.db.webhooks import SqlWebhookEvents
from marketbridge.adapters.magento.hooks import UNRECOGNISED, envelope, is_cloud_event
from marketbridge.adapters.magento.webhooks import WebhookPayloadError, load_body, parse_envelope
from marketbridge.ports.webhooks import Handler, WebhookEventsRepository

log = structlog.get_logger(__name__)

#: The webhook store, or a bare session still handed in by a caller (wrapped by :func:`events_on`).
Events = OrSession[WebhookEventsRepository]


def events_on(target: Events) -> WebhookEventsRepository:
    """The repository on ``target``: the SQL one over a bare session, else ``target`` itself."""
    return on_repository(target, SqlWebhookEvents)


class WebhookHandlers:
    """Event-name prefix → handlers, in the order they were added (that is the order they run)."""

    def __init__(self) -> None:
        self._entries: list[tuple[str, Handler]] = []

    def add(self, event_name_prefix: str, handler: Handler) -> None:
        """Call ``handler(session, event_name, data)`` for every event whose name starts with the
        prefix. Adding the same (prefix, handler) twice is a no-op."""
        if not event_name_prefix:
            raise ValueError("event_name_prefix must not be empty")
        if (event_name_prefix, handler) not in self._entries:
            self._entries.append((event_name_prefix, handler))

    def for_event(self, event_name: str) -> list[Handler]:
        return [handler for prefix, handler in self._entries if event_name.startswith(prefix)]

    def prefixes(self) -> list[str]:
        return [prefix for prefix, _ in self._entries]


@dataclass(frozen=True)
class StoredEvent:
    id: int
    event_name: str
    duplicate: bool


def dedup_key(raw_body: bytes, payload: Any, hook: str | None = None) -> str:
    """The I/O Events id when there is one (a bare CloudEvent's ``id``, or ``event.id`` in the
    journal's wrapper), else the SHA-256 of the exact body. A Commerce plugin body may carry an
    ``id`` argument (``OrderManagementInterface::cancel($id)``): that is no event id."""
    event = payload.get("event") if isinstance(payload, dict) else None
    if isinstance(event, dict) and event.get("id"):
        return "io:" + str(event["id"])[:120]
    if is_cloud_event(payload) and (payload.get("id") or payload.get("event_id")):
        return "io:" + str(payload.get("id") or payload.get("event_id"))[:120]
    if hook:  # two hooks may send the very same arguments (a before and an after hook)
        return "sha256:" + hashlib.sha256(hook.encode("utf-8") + b"\n" + raw_body).hexdigest()
    return "sha256:" + hashlib.sha256(raw_body).hexdigest()


def parse(raw_body: bytes, hook: str | None = None) -> tuple[str, dict, Any]:
    """``(event_name, data, whole payload)``; raises WebhookPayloadError on a body that is not
    JSON (any JSON value is named, see :func:`marketbridge.adapters.magento.hooks.envelope`)."""
    payload = load_body(raw_body)
    name, data = envelope(payload, hook)
    return name, data, payload


def dedup_horizon(dedup_window_seconds: float, now: dt.datetime | None = None) -> dt.datetime:
    """Rows received at or after this instant are still needed to recognise a redelivery: a purge
    must not delete them (blanking their ``body`` is fine, the lookup does not read it)."""
    return (now or utcnow()) - dt.timedelta(seconds=dedup_window_seconds)


def store_event(target: Events, raw_body: bytes, *, dedup_window_seconds: float,
                hook: str | None = None) -> StoredEvent:
    """Persist an accepted delivery (the caller commits). Redeliveries return the earlier row.
    ``hook``: the hook the delivery's URL names; the name stored is the one handlers run for."""
    name, _data, payload = parse(raw_body, hook)
    key = dedup_key(raw_body, payload, hook)
    since = dedup_horizon(dedup_window_seconds)
    events = events_on(target)
    earlier = events.earlier_event(key, since)
    if earlier is not None:
        return StoredEvent(earlier.id, earlier.event_name, True)
    event = events.add_event(event_name=name[:255], dedup_key=key, body=raw_body.decode("utf-8"), received_at=utcnow())
    return StoredEvent(event.id, name, False)


def dispatch_event(target: Events, event_id: int, handlers: WebhookHandlers, *, again: bool = False) -> bool:
    """Run the handlers (``runtime.webhook_handlers``) of one stored event (the caller commits).
    True when it is handled.

    ``again``: run them even if the event was handled, for an identical body received again.
    Bodies without an event id carry no time (e.g. ``{"sku": "A", "quantity": 1}``), so the same
    body can be a *new* change back to an earlier value, not a redelivery: found by the soak, a
    stock change back to 1 fifteen seconds after the first change to 1 was taken for a redelivery
    and never read. Handlers are hints (idempotent), so running them again costs one re-read."""
    events = events_on(target)
    event = events.event(event_id)
    if event is None or (event.handled_at is not None and not again):
        return True
    event.attempts += 1
    try:
        # The stored name is the one resolved at intake (it may have come from the URL).
        name, data = parse_envelope(event.body.encode("utf-8"), event.event_name or None)
    except WebhookPayloadError as error:  # stored bodies were parsed once; keep it visible anyway
        event.error = str(error)[:2000]
        event.handled_at = utcnow()
        return True
    events.run_handlers(handlers.for_event(name), name, data)  # in a savepoint, handed the session
    event.handled_at = utcnow()
    event.error = ""
    return True


def store_and_dispatch(session_factory: Callable[[], object], raw_body: bytes, handlers: WebhookHandlers, *,
                       dedup_window_seconds: float, hook: str | None = None) -> tuple[StoredEvent, bool]:
    """Store a verified delivery and run its handlers in one transaction (one commit per delivery:
    a burst sends dozens a second); ``(stored event, handled)``. ``session_factory`` is
    ``runtime.db.session``. The handlers run in a savepoint: if one fails, the event is still
    stored and committed, with its error and one more attempt, for the poll to dispatch again
    (:func:`redispatch_unhandled`), and ``handled`` is False. Raises WebhookPayloadError (nothing
    stored) on a body that is not a webhook envelope."""
    with session_factory() as session:  # type: ignore[attr-defined]
        events = SqlWebhookEvents(session)
        stored = store_event(events, raw_body, dedup_window_seconds=dedup_window_seconds, hook=hook)
        try:
            # A duplicate is not stored again, but its handlers run again: without an event id
            # the same body may be a new change (see dispatch_event).
            return stored, dispatch_event(events, stored.id, handlers, again=stored.duplicate)
        except Exception as error:  # noqa: BLE001 - stored; the poll re-dispatches it
            log.warning("webhook.dispatch_failed", event_id=stored.id, error=str(error)[:300])
            note_dispatch_error(events, stored.id, error, count=False)  # dispatch_event counted it
            return stored, False


def note_dispatch_error(target: Events, event_id: int, error: BaseException, *, count: bool = True) -> None:
    """Keep a failed dispatch visible on its row (the caller commits): the error, and one more
    attempt unless ``dispatch_event`` already counted it (``count=False``), for
    :func:`redispatch_unhandled` and the console."""
    row = events_on(target).event(event_id)
    if row is not None:
        row.attempts += int(count)
        row.error = str(error)[:2000]


def redispatch_unhandled(session_factory: Callable[[], object], *, handlers: WebhookHandlers,
                         older_than_seconds: float = 30.0, limit: int = 500) -> int:
    """Retry events whose handlers failed earlier. ``session_factory`` is ``runtime.db.session``,
    ``handlers`` is ``runtime.webhook_handlers``."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than_seconds)
    with session_factory() as session:  # type: ignore[attr-defined]
        ids = SqlWebhookEvents(session).unhandled_ids(cutoff, limit)
    done = 0
    for event_id in ids:
        try:
            with session_factory() as session:  # type: ignore[attr-defined]
                dispatch_event(session, event_id, handlers)
            done += 1
        except Exception as error:  # noqa: BLE001 - keep the error on the row, try the next one
            log.warning("webhook.redispatch_failed", event_id=event_id, error=str(error)[:200])
            with session_factory() as session:  # type: ignore[attr-defined]
                row = SqlWebhookEvents(session).event(event_id)
                if row is not None:
                    row.attempts += 1
                    row.error = str(error)[:2000]
    return done


__all__ = [
    "Handler",
    "UNRECOGNISED",
    "StoredEvent",
    "WebhookHandlers",
    "dedup_horizon",
    "dispatch_event",
    "events_on",
    "note_dispatch_error",
    "redispatch_unhandled",
    "store_and_dispatch",
    "store_event",
]
