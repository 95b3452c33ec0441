"""HTTP routes of the simulated order export (OR13 / OR14 / OR15) and its control calls.

The gate in :mod:`.app` has already checked the key, the shop and injected faults. Call
frequency is checked here, because it depends on the request: OR13 is validated first (a body
Mirakl refuses is neither a full nor a differential export), then counted (5 minutes; a full one
also 24 hours), then refused if an export is still PENDING; OR14 is counted per export ("every 2
seconds per OR13 call"); OR15 is limited to one download per URL by the state itself.

Control API (no auth, like the rest of ``/_sandbox/``)::

    GET  /_sandbox/order-exports                  [{tracking_id, status, created, full, files, downloaded}]
    POST /_sandbox/order-exports/{id}/fail        a PENDING export becomes FAILED
    POST /_sandbox/order-exports/{id}/cancel      a PENDING export becomes CANCELED
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from marketbridge.sandbox.mirakl.core import SandboxError

if TYPE_CHECKING:
    from marketbridge.sandbox.mirakl.state import SandboxState


def _too_many(api: str, retry: int) -> SandboxError:
    return SandboxError(429, f"Too many requests: {api} is limited by its call frequency",
                        headers={"Retry-After": str(retry)})


def add_order_export_routes(app: FastAPI, state: SandboxState, locked: Callable[[Callable[[], Any]], Any]) -> None:
    @app.post("/api/orders/async-export")
    async def or13(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise SandboxError(400, "The request body is not valid JSON") from None
        if body is None:
            raise SandboxError(400, "The request body is empty; a JSON object with a date range is expected")
        filters = locked(lambda: state.parse_order_export(body))
        retry = state.check_rate("OR13", full_export=filters.full)
        if retry is not None:
            raise _too_many("OR13", retry)
        job = locked(lambda: state.create_order_export(filters))
        return JSONResponse({"tracking_id": job.tracking_id})

    @app.get("/api/orders/async-export/status/{tracking_id}")
    async def or14(tracking_id: str, request: Request) -> Response:
        retry = state.check_rate("OR14", scope=tracking_id)
        if retry is not None:
            raise _too_many("OR14", retry)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(locked(lambda: state.order_export_status(tracking_id, base)))

    @app.get("/api/orders/async-export/file/{tracking_id}")
    async def or15(tracking_id: str, file: str) -> Response:
        data = locked(lambda: state.order_export_file(tracking_id, file))
        return Response(data, media_type="application/json")

    @app.get("/_sandbox/order-exports")
    async def control_list_order_exports() -> Response:
        return JSONResponse(locked(state.order_exports_json))

    @app.post("/_sandbox/order-exports/{tracking_id}/fail")
    async def control_fail_order_export(tracking_id: str) -> Response:
        return JSONResponse(locked(lambda: state.end_order_export(tracking_id, "FAILED").as_dict()))

    @app.post("/_sandbox/order-exports/{tracking_id}/cancel")
    async def control_cancel_order_export(tracking_id: str) -> Response:
        return JSONResponse(locked(lambda: state.end_order_export(tracking_id, "CANCELED").as_dict()))


__all__ = ["add_order_export_routes"]
