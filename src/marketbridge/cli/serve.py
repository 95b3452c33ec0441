"""Serve the app with uvicorn and run a callback once the socket accepts connections.

Why: the engine launches inside the app's lifespan, which uvicorn runs *before* it binds its
socket. The stock catch-up at start (``workflows.stock.at_start``) scans Adobe Commerce for the
changes whose webhooks found nobody while the service was down; started from the lifespan, its
scan could finish before the socket was bound, and a change whose delivery failed in between was
neither scanned nor received. The scale-out soak lost 3 to 5 SKUs a run that way (deliveries
answered 502 "no worker is up" while the only live worker restarted). Started from here, the
scan begins once deliveries are being received again, so every change is caught by one or the
other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog
import uvicorn

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.02


def serve(app: Any, *, host: str, port: int, on_listening: Callable[[], object]) -> None:
    """``uvicorn.run(app, …)``, calling ``on_listening()`` once (in a thread of its own) as soon as
    uvicorn reports that it has started, i.e. its socket is bound and accepting. Not called when
    the server fails to start."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if server.started:
                try:
                    on_listening()
                except Exception as error:  # noqa: BLE001 - the schedules do the work later anyway
                    log.error("serve.on_listening_failed", error=str(error)[:300])
                return
            finished.wait(POLL_SECONDS)

    threading.Thread(target=watch, name="on-listening", daemon=True).start()
    try:
        server.run()
    finally:
        finished.set()
