"""``/webhooks/adobe-io``: Adobe I/O Events deliveries (the asynchronous route, MAGENTO.md §11.2).

* ``GET ?challenge=<value>`` → 200 ``{"challenge": "<value>"}``: the handshake I/O Events sends
  when the webhook is registered or re-activated.
* ``POST``: one CloudEvent, or a JSON array of them (batch delivery). Refused with 401 unless
  ``x-adobe-digital-signature-1`` or ``-2`` verifies over the raw body against a configured key
  (:mod:`marketbridge.adapters.magento.io_events`), or when ``recipient_client_id`` is not our
  ``adobe_io_client_id``. Each event is stored and dispatched as the Commerce webhooks are
  (deduplicated on its CloudEvent ``id``), then answered 200 ``{"op": "success"}``. I/O Events
  retries a failed delivery for up to 24 hours, so a 5xx loses nothing; a 2xx must mean stored.

Its own path, apart from ``/webhooks/adobe-commerce``: the two signature schemes never mix.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from marketbridge.adapters.magento import io_events
from marketbridge.adapters.magento.webhooks import WebhookPayloadError, load_body
from marketbridge.runtime import Runtime
from marketbridge.web.routers.webhooks import read_body, store_and_dispatch

log = structlog.get_logger(__name__)
router = APIRouter(tags=["webhooks"])
PATH = "/webhooks/adobe-io"
KEY_PATH = re.compile(r"^/prod/keys/pub-key-[0-9A-Za-z-]{1,64}\.pem$")


@lru_cache(maxsize=4)
def _keys_from(path: str | None, inline: str | None) -> tuple[Any, ...]:
    from pathlib import Path

    keys = list(io_events.load_public_keys(inline.encode())) if inline else []
    if path:
        keys.extend(io_events.keys_from_path(Path(path)))
    return tuple(keys)


def public_keys(runtime: Runtime) -> tuple[Any, ...]:
    settings = runtime.settings
    path = str(settings.adobe_io_public_key_file) if settings.adobe_io_public_key_file is not None else None
    try:
        return _keys_from(path, settings.adobe_io_public_key)
    except OSError as error:
        log.error("io_events.public_keys_unreadable", error=type(error).__name__)
        return ()


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"op": "exception", "message": message}, status_code=status)


@router.get(PATH)
async def io_events_challenge(challenge: str = "") -> JSONResponse:
    if not challenge:
        return _refuse(400, "no challenge")
    return JSONResponse({"challenge": challenge[:512]})


@router.post(PATH)
async def io_events_delivery(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    raw = await read_body(request, runtime.settings.webhook_max_body_bytes)
    if raw is None:
        return _refuse(413, "body too large")
    keys = public_keys(runtime)
    if not keys or not io_events.verify(raw, request.headers, keys):
        # The key paths say which keys to download (static.adobeioevents.com + path); only paths
        # of Adobe's form are logged (nothing a sender chose freely reaches the log).
        paths = [p for p in (request.headers.get(h, "") for h in io_events.KEY_PATH_HEADERS) if KEY_PATH.match(p)]
        log.warning("io_events.refused", reason="signature", keys_configured=len(keys), key_paths=paths,
                    has_signature=any(h in request.headers for h in io_events.SIGNATURE_HEADERS))
        return _refuse(401, "missing or invalid signature")
    try:
        payload = load_body(raw)
    except WebhookPayloadError as error:
        return _refuse(400, str(error))
    events = payload if isinstance(payload, list) else [payload]
    client_id = runtime.settings.adobe_io_client_id
    if client_id and any(isinstance(e, dict) and e.get("recipient_client_id") != client_id for e in events):
        log.warning("io_events.refused", reason="recipient_client_id")
        return _refuse(401, "not a valid target recipient")
    for event in events:
        # One event, its own bytes: a batch's events are stored (and deduplicated) one by one.
        body = raw if len(events) == 1 and not isinstance(payload, list) else json.dumps(event).encode()
        await store_and_dispatch(request.app, body, None)
    return JSONResponse({"op": "success"})
