"""``POST /webhooks/adobe-commerce[/<hook>]``: signed Adobe Commerce webhook deliveries.

One URL per hook, ``/webhooks/adobe-commerce/<hook>`` (``docs/setup/adobe-commerce.md``): a
*plugin* hook sends only the intercepted method's arguments, and nothing in the request names
the hook, so the URL does. The bare ``/webhooks/adobe-commerce`` still works: observer bodies
carry their ``eventName``, and other bodies are named by their shape
(:mod:`marketbridge.adapters.magento.hooks`). Adobe I/O Events deliveries have their own URL and
signature scheme (:mod:`marketbridge.web.routers.io_events`).

Answers (Adobe Commerce webhook response contract, MAGENTO.md §11.1):

* 200 ``{"op": "success"}`` — stored (or recognised as a redelivery) and dispatched, **whatever
  the shape of the JSON body**: a body we do not recognise is stored, answered success and
  raised as an exception for Ecommerce (a non-2xx answer to a *required* hook, the default,
  aborts the merchant's own save in the Admin);
* 401 — no ``x-adobe-commerce-webhook-signature``, or it does not verify against the configured
  public key (``MARKETBRIDGE_MAGENTO_WEBHOOK_PUBLIC_KEY_FILE`` or ``..._PUBLIC_KEY``); nothing is
  stored; also 401 when no public key is configured at all (we never accept unsigned events);
* 413 — body larger than ``webhook_max_body_bytes``; 400 — not JSON, or nested deeper than 64
  levels (Adobe Commerce sends neither). A ``<hook>`` that is not a hook name is named by the
  body instead, after the signature check.

The event is committed to ``webhook_events`` before the 200 is sent: on PostgreSQL with the other
deliveries of the moment (one writer per process commits them together; the handlers' hints
follow at once in a dispatcher thread, see :mod:`marketbridge.services.webhook_intake`); on SQLite
in one transaction with its handlers' hints, in the request's own thread. Either way a delivery
is acknowledged only once it is durable (SQLite WAL: the
commit is in the log before we answer, which a killed process cannot lose; PostgreSQL: the
commit returned). A handler failure still
answers 200 (the event is ours now and is re-dispatched by the poll), because a non-2xx answer to
a *required* synchronous webhook would abort the merchant's action in Adobe Commerce.
"""

from __future__ import annotations

import asyncio
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from marketbridge.adapters.magento.hooks import HOOK_NAME
from marketbridge.adapters.magento.webhooks import SIGNATURE_HEADER, WebhookPayloadError, verify_signature
from marketbridge.bus import WebhookEventsHandled
from marketbridge.runtime import Runtime
from marketbridge.services import webhooks as webhook_service
from marketbridge.services.webhook_intake import DISPATCH_ATTEMPTS, WebhookIntake, dispatch_alone

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"])


@lru_cache(maxsize=4)
def _read_key_file(path: str) -> bytes:
    return Path(path).read_bytes()


def public_key(runtime: Runtime) -> bytes | None:
    settings = runtime.settings
    if settings.magento_webhook_public_key is not None:
        return settings.magento_webhook_public_key.get_secret_value().encode()
    if settings.magento_webhook_public_key_file is not None:
        try:
            return _read_key_file(str(settings.magento_webhook_public_key_file))
        except OSError as error:
            log.error("webhook.public_key_unreadable", error=type(error).__name__)
            return None
    return None


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"op": "exception", "message": message}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it is larger than ``limit`` (read no further)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            return None
    return bytes(body)


@router.post("/webhooks/adobe-commerce")
async def adobe_commerce_webhook(request: Request) -> JSONResponse:
    return await _receive(request, None)


@router.post("/webhooks/adobe-commerce/{hook}")
async def adobe_commerce_hook(request: Request, hook: str) -> JSONResponse:
    """The same, for the hook the URL names (``plugin.magento.inventory_api.api.source_items_save.execute``).

    The signature is checked before the name: an unsigned request learns nothing about our routes
    (401 whatever the path). A signed delivery to a path that is no hook name (a typing slip in
    the registration) is still never refused: it is named by its body, as on the bare URL."""
    return await _receive(request, hook)


async def _receive(request: Request, hook: str | None) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    raw = await read_body(request, runtime.settings.webhook_max_body_bytes)
    if raw is None:
        return _refuse(413, "body too large")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    key = public_key(runtime)
    if not signature or key is None or not verify_signature(raw, signature, key):
        log.warning("webhook.refused", reason="signature", has_signature=bool(signature), key_configured=key is not None)
        return _refuse(401, "missing or invalid signature")
    if hook is not None and not HOOK_NAME.match(hook):
        log.warning("webhook.not_a_hook_name", path_segment=hook[:80])
        hook = None
    try:
        await store_and_dispatch(request.app, raw, hook)
    except WebhookPayloadError as error:
        return _refuse(400, str(error))
    return JSONResponse({"op": "success"})


async def store_and_dispatch(app: Any, raw: bytes, hook: str | None) -> None:
    """Store a verified delivery and run its handlers, on SQLite in this request, elsewhere
    through the intake; returns once it is committed."""
    runtime: Runtime = app.state.runtime
    if runtime.db.engine.dialect.name == "sqlite":
        await _store_and_dispatch_here(runtime, raw, hook)
    else:
        await asyncio.wrap_future(intake(app).submit(raw, hook))


async def _store_and_dispatch_here(runtime: Runtime, raw: bytes, hook: str | None = None) -> None:
    """SQLite: store and dispatch in one transaction, in this request's worker thread.

    The intake's single writer thread (group commit) was slower here, not faster: SQLite has one
    writer at a time whatever we do, and under the full soak one thread got too little of the
    process's CPU among the workflow threads. Deliveries waiting over 5 s went from 1,871 (this
    path) to 2,363 (writer and dispatcher) and 9,871 (writer dispatching too)."""
    import anyio

    stored, handled = await anyio.to_thread.run_sync(
        lambda: webhook_service.store_and_dispatch(runtime.db.session, raw, runtime.webhook_handlers,
                                                   dedup_window_seconds=runtime.settings.webhook_dedup_seconds,
                                                   hook=hook))
    if not handled:  # tried again at once, as the intake's dispatcher does
        handled = await anyio.to_thread.run_sync(
            lambda: dispatch_alone(runtime.db.session, runtime.webhook_handlers, stored.id, stored.duplicate,
                                   attempts=DISPATCH_ATTEMPTS - 1))
    if handled:
        await anyio.to_thread.run_sync(runtime.bus.handle, WebhookEventsHandled())


def intake(app: Any) -> WebhookIntake:
    """The app's webhook intake (one writer thread per process, see services.webhook_intake),
    made on first use; the app's lifespan closes it."""
    existing = getattr(app.state, "webhook_intake", None)
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    with _intake_lock:
        existing = getattr(app.state, "webhook_intake", None)
        if existing is None:
            runtime: Runtime = app.state.runtime
            existing = WebhookIntake(runtime.db.session, runtime.webhook_handlers,
                                     dedup_window_seconds=runtime.settings.webhook_dedup_seconds,
                                     on_handled=lambda: runtime.bus.handle(WebhookEventsHandled()))
            app.state.webhook_intake = existing
    return existing  # type: ignore[no-any-return]


_intake_lock = threading.Lock()
