"""Webhook intake with group commit: many deliveries, one transaction, every answer after it.

Why: Adobe Commerce calls a webhook synchronously, from the request that saves the entity
(MAGENTO.md §11.1), so every millisecond the receiver takes is a millisecond of the merchant's
own save, and a slow answer holds one of the store's sender threads. Before, each delivery
opened its own transaction (dedup look-up, insert, hints, commit); under the soak's load sixteen
of them at once queued for the database's write lock: median 0.11 s, 99th percentile 5 s, and the
simulator's senders fell behind (10,037 of 24,633 deliveries waited more than a second to be
sent), which showed as offers standing oversold past the stock window.

Now each verified body is handed to one writer thread per process. The writer takes everything
waiting (up to :data:`MAX_BATCH`), stores and dispatches each delivery in its own savepoint
(:func:`services.webhooks.store_event`, :func:`~services.webhooks.dispatch_event`, exactly as
before), commits once, and only then answers every delivery of the batch. So the contract is
unchanged: a delivery is acknowledged only once it is durable, with its hints.

* A body that is not a webhook envelope fails alone (``WebhookPayloadError`` for its caller);
  the rest of the batch goes on.
* A handler that fails leaves its event stored and unhandled (the poll re-dispatches it), as
  before; its delivery is still answered as received.
* If the batch's commit fails (the database is locked or gone for a moment), each delivery is
  tried again on its own (:func:`services.webhooks.store_and_dispatch`); one that fails again gets
  the exception, and the receiver answers it with an error so Adobe Commerce may send it again.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import structlog

from marketbridge.adapters.magento.webhooks import WebhookPayloadError
from marketbridge.services import webhooks as webhook_service
from marketbridge.services.webhooks import StoredEvent, WebhookHandlers

log = structlog.get_logger(__name__)

MAX_BATCH = 200


@dataclass(frozen=True)
class Intake:
    """What became of one delivery: the stored event and whether its handlers ran."""

    event: StoredEvent
    handled: bool


@dataclass
class _Item:
    raw: bytes
    future: Future[Intake]


class WebhookIntake:
    """One writer thread that stores deliveries in batches (see the module docstring).

    ``session_factory`` is ``runtime.db.session``; ``on_handled`` is called (in the writer, after
    the batch was answered) when at least one delivery of it ran its handlers: the receiver
    passes ``runtime.bus.handle(WebhookEventsHandled())`` there, which starts a stock push."""

    def __init__(self, session_factory: Callable[[], object], handlers: WebhookHandlers, *,
                 dedup_window_seconds: float, on_handled: Callable[[], object] | None = None) -> None:
        self._session_factory = session_factory
        self._handlers = handlers
        self._dedup = dedup_window_seconds
        self._on_handled = on_handled
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.deliveries = 0
        self.largest_batch = 0

    def submit(self, raw: bytes) -> Future[Intake]:
        """Queue a verified body; the future resolves once it is committed (or has failed)."""
        future: Future[Intake] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the webhook intake is closed")
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="webhook-intake", daemon=True)
                self._thread.start()
        self._queue.put(_Item(raw, future))
        return future

    def close(self, timeout: float = 5.0) -> None:
        """Answer what is queued, then stop the writer."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._write(batch)
            except BaseException as error:  # noqa: BLE001 - never leave a caller waiting
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)
            if stop:
                return

    def _write(self, batch: list[_Item]) -> None:
        began = time.monotonic()
        results: dict[int, Intake] = {}
        failures: dict[int, BaseException] = {}
        try:
            with self._session_factory() as session:  # type: ignore[attr-defined]
                for index, item in enumerate(batch):
                    try:
                        with session.begin_nested():
                            stored = webhook_service.store_event(session, item.raw, dedup_window_seconds=self._dedup)
                    except WebhookPayloadError as error:
                        failures[index] = error
                        continue
                    try:
                        with session.begin_nested():
                            handled = webhook_service.dispatch_event(session, stored.id, self._handlers,
                                                                     again=stored.duplicate)
                    except Exception as error:  # noqa: BLE001 - stored; the poll re-dispatches it
                        log.warning("webhook.dispatch_failed", event_id=stored.id, error=str(error)[:300])
                        webhook_service.note_dispatch_error(session, stored.id, error)
                        handled = False
                    results[index] = Intake(stored, handled)
        except Exception as error:  # noqa: BLE001 - the batch did not commit: one at a time
            log.warning("webhook.batch_failed", size=len(batch), error=str(error)[:300])
            self._one_by_one(batch, failures)
            return
        for index, item in enumerate(batch):
            if index in failures:
                item.future.set_exception(failures[index])
            else:
                item.future.set_result(results[index])
        self._count(len(batch), began)
        if self._on_handled is not None and any(r.handled for r in results.values()):
            try:
                self._on_handled()
            except Exception as error:  # noqa: BLE001 - the schedule pushes anyway
                log.warning("webhook.on_handled_failed", error=str(error)[:200])

    def _one_by_one(self, batch: list[_Item], failures: dict[int, BaseException]) -> None:
        handled_any = False
        for index, item in enumerate(batch):
            if index in failures:
                item.future.set_exception(failures[index])
                continue
            try:
                stored, handled = webhook_service.store_and_dispatch(
                    self._session_factory, item.raw, self._handlers, dedup_window_seconds=self._dedup)
            except BaseException as error:  # noqa: BLE001 - this caller answers with an error
                item.future.set_exception(error)
                continue
            handled_any = handled_any or handled
            item.future.set_result(Intake(stored, handled))
        if handled_any and self._on_handled is not None:
            try:
                self._on_handled()
            except Exception as error:  # noqa: BLE001
                log.warning("webhook.on_handled_failed", error=str(error)[:200])

    def _count(self, size: int, began: float) -> None:
        self.batches += 1
        self.deliveries += size
        self.largest_batch = max(self.largest_batch, size)
        if size > 1:
            log.debug("webhook.batch", size=size, seconds=round(time.monotonic() - began, 3))


__all__ = ["MAX_BATCH", "Intake", "WebhookIntake"]
