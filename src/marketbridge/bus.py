"""A small in-process message bus for the signals one flow sends to another.

Why: flows used to reach each other through a module-level setter, lazy imports from services up
into workflows, and registries filled by import side effects. Now a service *publishes* a message
("a retry was asked for", "these shipments are due") and does not know who acts on it;
:mod:`marketbridge.bootstrap` registers, explicitly and in one place, which handler acts.

Two kinds of message (after cosmicpython's message bus):

* a :class:`Command` asks for one thing to be done: exactly one handler; its result is returned and
  its error propagates to the caller, who asked and must know;
* an :class:`Event` says that something happened: any number of handlers (none is fine); each
  handler's error is logged and does not stop the others nor reach the publisher, because the
  publisher's own work is already done and every event handled here has a backstop (a poll
  schedule) that catches up on what a failed handler missed.

The bus itself is synchronous and in-process: it keeps nothing. A signal that must survive a crash
is made durable by its handler, which enqueues on the existing DBOS queues (so durability is
exactly what it was before the bus).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger(__name__)


class Message:
    """Base of every message (frozen dataclasses)."""


class Command(Message):
    """Do one thing: exactly one handler, errors propagate."""


class Event(Message):
    """Something happened: zero or more handlers, each one's error isolated and logged."""


# --- the messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentsDue(Event):
    """These shipments (``(shipment id, generation)``) are ready to be sent to the marketplace.

    The shipments poll's backstop starts every due send too, so a send lost here is only late."""

    due: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class OrderRetryRequested(Command):
    """A person asked to create a marketplace order in Adobe Commerce again (workflow already
    recorded by ``services.orders.request_retry``). Result: True when it was enqueued now, False
    when the engine does not run in this process (the order poll starts it instead)."""

    order_id: str
    workflow_id: str


@dataclass(frozen=True)
class RefundRetryRequested(Command):
    """A person asked to send a held credit memo again. Result as for :class:`OrderRetryRequested`
    (the refunds poll is the backstop)."""

    creditmemo_id: int
    workflow_id: str


@dataclass(frozen=True)
class AuditRequested(Command):
    """Run a catalogue audit in the background. Result: the workflow id when the engine runs in
    this process, None when it does not (the caller then runs the audit inline)."""

    fix: bool
    trigger: str


@dataclass(frozen=True)
class WebhookEventsHandled(Event):
    """A webhook delivery's handlers ran (stock hints may be waiting): push now, not at the next
    tick. Losing it costs at most one tick of the stock schedule."""


@dataclass(frozen=True)
class MarketplaceOrderChanged(Event):
    """The order feed saw a marketplace order change (issue 20): ``kind`` is one of
    ``domain.order_feed.ChangeKind`` (appeared, accepted, paid, shipped, refunded, cancelled,
    incident_opened, incident_closed); ``detail`` its facts as strings (states, ids, amounts).

    Published from the feed's outbox (``order_feed_events``) **at least once**: a crash between
    publishing and marking the event dispatched publishes it again. A handler must be idempotent:
    read the order's current version from the mirror (``runtime.order_feed_store.mirror()``) and act
    on that, keyed on ``order_id`` (``event_id`` is unique per stored change)."""

    event_id: int
    order_id: str
    kind: str
    detail: dict[str, str]
    recorded_at: dt.datetime


@dataclass(frozen=True)
class StoreMarketplaceOrders(Command):
    """The order feed read these OR11 orders (issue 20): the orders flow stores them, as its own
    poll did when it read OR11 itself. ``orders`` are the raw OR11 payloads, customer included: in
    memory only, the feed's mirror never keeps personal data (the orders flow keeps it on its own
    record, under its retention rules). Result: ``services.orders.pulling.StoredOrders``; the feed
    holds its cursor before any order that could not be stored, so the next read brings it again."""

    orders: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class MarketplaceOrdersStored(Event):
    """The order feed's read stored ``new`` orders and ``updated`` ones in the orders flow: start
    the orders poll (decisions, creations, cancellations) now rather than at its next tick. Lost,
    it costs at most one tick of the orders poll."""

    new: int
    updated: int


# --- the bus --------------------------------------------------------------------------------------

Handler = Callable[[Any], Any]


class UnknownMessage(LookupError):
    """A command nobody handles: a wiring mistake in bootstrap, never to be silently ignored."""


class MessageBus:
    def __init__(self) -> None:
        self._commands: dict[type[Command], Handler] = {}
        self._events: dict[type[Event], list[Handler]] = {}

    def register(self, message_type: type[Message], handler: Handler) -> None:
        """Wire ``handler`` to ``message_type`` (done by bootstrap only). A command has one handler:
        registering a second one is a mistake and raises."""
        if issubclass(message_type, Command):
            if message_type in self._commands:
                raise ValueError(f"{message_type.__name__} already has a handler")
            self._commands[message_type] = handler
        elif issubclass(message_type, Event):
            self._events.setdefault(message_type, []).append(handler)
        else:
            raise TypeError(f"{message_type!r} is neither a Command nor an Event")

    def handle(self, message: Message) -> Any:
        """Dispatch one message. Returns the command handler's result; None for an event."""
        if isinstance(message, Command):
            handler = self._commands.get(type(message))
            if handler is None:
                raise UnknownMessage(f"no handler for {type(message).__name__}")
            return handler(message)
        if isinstance(message, Event):
            for handler in self._events.get(type(message), ()):
                try:
                    handler(message)
                except Exception as error:  # noqa: BLE001 - see the module doc: events are isolated
                    log.warning("bus.event_handler_failed", message=type(message).__name__,
                                handler=getattr(handler, "__qualname__", repr(handler)), error=str(error)[:300])
            return None
        raise TypeError(f"{message!r} is not a message")

    def handlers_of(self, message_type: type[Message]) -> list[Handler]:
        """What is wired to a message type (for tests and the architecture guard)."""
        if issubclass(message_type, Command):
            found = self._commands.get(message_type)  # type: ignore[arg-type]
            return [found] if found is not None else []
        return list(self._events.get(message_type, ()))  # type: ignore[arg-type]


__all__ = [
    "AuditRequested",
    "Command",
    "Event",
    "MarketplaceOrderChanged",
    "MarketplaceOrdersStored",
    "Message",
    "MessageBus",
    "OrderRetryRequested",
    "RefundRetryRequested",
    "ShipmentsDue",
    "StoreMarketplaceOrders",
    "UnknownMessage",
    "WebhookEventsHandled",
]
