"""Webhook intake: store in groups, answer, then dispatch.

Why: Adobe Commerce calls a webhook synchronously, from the request that saves the entity
(MAGENTO.md §11.1), so every millisecond the receiver takes is a millisecond of the merchant's
own save, and a slow answer holds one of the store's sender threads. Before, each delivery
opened its own transaction (dedup look-up, insert, handlers' hints, commit) and answered after
it; under the soak's load sixteen of them at once queued for the database: median 0.11 s, 99th
percentile 5 s, and the simulator's senders fell behind (10,037 of 24,633 deliveries waited more
than a second to be sent).

Now, on PostgreSQL, two threads per process (on SQLite the receiver keeps one transaction per
delivery in the request's thread: see ``web/routers/webhooks.py`` for why and the figures):

* the **writer** takes every verified body waiting (up to :data:`MAX_BATCH`), stores each
  (:func:`services.webhooks.store_event`: dedup look-up and insert; no savepoint, a bad body fails
  in parsing before any SQL), commits once, and only then answers the whole batch. A delivery is still acknowledged only once it is
  durable; the insert touches no row that anything else locks, so it never waits behind a stock
  pass;
* the **dispatcher** then runs the handlers of what was stored (their hints), one event per
  transaction, retrying a failed one at once (a deadlock victim), and calls ``on_handled`` (a
  stock push) once per group taken. Handlers take row locks a
  refresh pass also takes; they wait here, not in the merchant's save. (Group commit with the
  handlers inside the writer was tried first: on PostgreSQL one lock wait then held every
  answer of the batch, and deliveries waiting over 5 s went from 21 to 711 in the scale-out soak.)

An event stored but not yet dispatched when the process dies is dispatched by the stock catch-up
at start (``redispatch_unhandled(older_than_seconds=0)``), and by the poll after 30 s.

* A body that is not a webhook envelope fails alone (``WebhookPayloadError`` for its caller).
* A handler that still fails after :data:`DISPATCH_ATTEMPTS` leaves its event stored and
  unhandled, with its error, for the poll.
* A group that cannot be stored is tried one delivery at a time; a delivery that fails on its
  own gets the exception, and the receiver answers it with an error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import structlog

from marketbridge.adapters.magento.webhooks import WebhookPayloadError
from marketbridge.services import webhooks as webhook_service
from marketbridge.services.webhooks import StoredEvent, WebhookHandlers

log = structlog.get_logger(__name__)

MAX_BATCH = 200
DISPATCH_ATTEMPTS = 3  # a failed dispatch is tried again alone, this many times
DISPATCH_BACKOFF_SECONDS = 0.1


@dataclass(frozen=True)
class Intake:
    """What became of one delivery: the stored event (``duplicate``: a body received before)."""

    event: StoredEvent


@dataclass
class _Item:
    raw: bytes
    future: Future[Intake]
    hook: str | None = None  # the hook the delivery's URL named


class _Worker:
    """A daemon thread that takes whatever is queued, up to ``MAX_BATCH`` at a time."""

    def __init__(self, name: str, work: Callable[[list[Any]], None]) -> None:
        self._name = name
        self._work = work
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0  # items put and not yet worked on

    def put(self, item: Any) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        with self._idle:
            self._pending += 1
        self._queue.put(item)

    def wait_idle(self, timeout: float) -> bool:
        """True once everything put so far has been worked on (False after ``timeout``)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            try:
                self._work(batch)
            except Exception as error:  # noqa: BLE001 - a worker thread must outlive any one batch
                log.error("webhook.intake_failed", worker=self._name, size=len(batch), error=str(error)[:300])
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()
            if stop:
                return


_STOP = object()


class WebhookIntake:
    """The writer and the dispatcher of one process (see the module docstring).

    ``session_factory`` is ``runtime.db.session``; ``on_handled`` is called by the dispatcher after
    a group in which at least one event ran its handlers: the receiver passes
    ``runtime.bus.handle(WebhookEventsHandled())``, which starts a stock push."""

    def __init__(self, session_factory: Callable[[], object], handlers: WebhookHandlers, *,
                 dedup_window_seconds: float, on_handled: Callable[[], object] | None = None) -> None:
        self._session_factory = session_factory
        self._handlers = handlers
        self._dedup = dedup_window_seconds
        self._on_handled = on_handled
        self._writer = _Worker("webhook-writer", self._store)
        self._dispatcher = _Worker("webhook-dispatcher", self._dispatch)
        self._closed = False
        self._close_lock = threading.Lock()
        self.batches = 0
        self.deliveries = 0
        self.largest_batch = 0
        self.dispatched = 0

    def submit(self, raw: bytes, hook: str | None = None) -> Future[Intake]:
        """Queue a verified body (``hook``: named by its URL); the future resolves once it is
        committed (or has failed)."""
        future: Future[Intake] = Future()
        with self._close_lock:
            if self._closed:
                raise RuntimeError("the webhook intake is closed")
            self._writer.put(_Item(raw, future, hook))
        return future

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every delivery submitted so far is stored and dispatched (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        return (self._writer.wait_idle(timeout)
                and self._dispatcher.wait_idle(max(0.0, deadline - time.monotonic())))

    def close(self, timeout: float = 5.0) -> None:
        """Answer and dispatch what is queued, then stop both threads."""
        with self._close_lock:
            self._closed = True
        self._writer.stop(timeout)
        self._dispatcher.stop(timeout)

    # --- the writer ---------------------------------------------------------------------------

    def _store(self, batch: list[_Item]) -> None:
        began = time.monotonic()
        stored: dict[int, StoredEvent] = {}
        failures: dict[int, BaseException] = {}
        try:
            with self._session_factory() as session:  # type: ignore[attr-defined]
                events = webhook_service.events_on(session)
                for index, item in enumerate(batch):
                    # No savepoint: a bad body fails in parsing, before any SQL. (A SAVEPOINT opens
                    # SQLite's transaction on a read snapshot; the insert after the dedup look-up
                    # then cannot take the write lock once another commit landed, and fails at
                    # once with "database is locked" instead of waiting.)
                    try:
                        stored[index] = webhook_service.store_event(events, item.raw,
                                                                     dedup_window_seconds=self._dedup,
                                                                     hook=item.hook)
                    except WebhookPayloadError as error:
                        failures[index] = error
        except Exception as error:  # noqa: BLE001 - the group did not commit: one at a time
            log.warning("webhook.batch_failed", size=len(batch), error=str(error)[:300])
            stored, failures = self._store_one_by_one(batch, failures)
        for index, item in enumerate(batch):
            if index in stored:
                item.future.set_result(Intake(stored[index]))
            else:
                item.future.set_exception(failures.get(index) or RuntimeError("not stored"))
        self._count(len(batch), began)
        if stored:
            self._dispatcher.put([(event.id, event.duplicate) for event in stored.values()])

    def _store_one_by_one(self, batch: list[_Item], failures: dict[int, BaseException]
                          ) -> tuple[dict[int, StoredEvent], dict[int, BaseException]]:
        stored: dict[int, StoredEvent] = {}
        for index, item in enumerate(batch):
            if index in failures:
                continue
            try:
                with self._session_factory() as session:  # type: ignore[attr-defined]
                    stored[index] = webhook_service.store_event(session, item.raw, dedup_window_seconds=self._dedup,
                                                                hook=item.hook)
            except Exception as error:  # noqa: BLE001 - this caller answers with an error
                failures[index] = error
        return stored, failures

    def _count(self, size: int, began: float) -> None:
        self.batches += 1
        self.deliveries += size
        self.largest_batch = max(self.largest_batch, size)
        if size > 1:
            log.debug("webhook.batch", size=size, seconds=round(time.monotonic() - began, 3))

    # --- the dispatcher -----------------------------------------------------------------------

    def _dispatch(self, groups: list[list[tuple[int, bool]]]) -> None:
        """Each event in its own transaction. Why not one per group: each handler writes its
        hints in SKU order, but a group of events would lock hint rows out of SKU order across
        events, and a refresh pass (which locks them in SKU order) deadlocked with such groups on
        PostgreSQL. One event per transaction keeps every writer in SKU order."""
        events = [event for group in groups for event in group]
        outcome = {event_id: self._dispatch_alone(event_id, again) for event_id, again in events}
        self.dispatched += len(events)
        if any(outcome.values()) and self._on_handled is not None:
            try:
                self._on_handled()
            except Exception as error:  # noqa: BLE001 - the schedule pushes anyway
                log.warning("webhook.on_handled_failed", error=str(error)[:200])

    def _dispatch_alone(self, event_id: int, again: bool, attempts: int = DISPATCH_ATTEMPTS) -> bool:
        return dispatch_alone(self._session_factory, self._handlers, event_id, again, attempts=attempts)


def dispatch_alone(session_factory: Callable[[], object], handlers: WebhookHandlers, event_id: int, again: bool,
                   *, attempts: int = DISPATCH_ATTEMPTS) -> bool:
    """Dispatch one stored event in its own transaction, up to ``attempts`` times.

    Why: a handler's hint upsert can be a deadlock victim on PostgreSQL (a stock pass locks the
    same rows); the scale-out soak left such an event undispatched, and only the poll (every 5
    minutes, off in the soak) or the next catch-up would have run it. Handlers are hints, so
    running one again is harmless. What still fails stays for the poll, with its error."""
    for attempt in range(1, attempts + 1):
        try:
            with session_factory() as session:  # type: ignore[attr-defined]
                if _dispatch_in(session, handlers, event_id, again):
                    return True
        except Exception as error:  # noqa: BLE001 - left unhandled: the poll dispatches it
            log.warning("webhook.dispatch_failed", event_id=event_id, attempt=attempt, error=str(error)[:300])
        if attempt < attempts:
            time.sleep(DISPATCH_BACKOFF_SECONDS * attempt)
    return False


def _dispatch_in(session: Any, handlers: WebhookHandlers, event_id: int, again: bool) -> bool:
    """``dispatch_event`` runs the handlers in a savepoint of its own, after counting the
    attempt; a handler that fails leaves the event unhandled with its error."""
    events = webhook_service.events_on(session)
    try:
        return webhook_service.dispatch_event(events, event_id, handlers, again=again)
    except Exception as error:  # noqa: BLE001 - stored; the poll re-dispatches it
        log.warning("webhook.dispatch_failed", event_id=event_id, error=str(error)[:300])
        webhook_service.note_dispatch_error(events, event_id, error, count=False)
        return False


__all__ = ["DISPATCH_ATTEMPTS", "MAX_BATCH", "Intake", "WebhookIntake", "dispatch_alone"]
