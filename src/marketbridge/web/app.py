"""The web application: webhooks, the JSON API, /metrics and the dashboard, in one FastAPI app.

``create_app(runtime, start_engine=True)`` is what ``marketbridge run`` serves; tests build it with
``start_engine=False`` when they only need HTTP. The runtime comes from ``bootstrap.build_runtime``:
routes reach the engine, the bus and the handler tables through it (``app.state.runtime``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from marketbridge import __version__
from marketbridge.call_flow import acting_as
from marketbridge.runtime import Runtime
from marketbridge.web.routers import (
    catalogue,
    console,
    finance,
    health,
    io_events,
    issues,
    orders,
    refunds,
    shipments,
    stock,
    webhooks,
)


class PersonFlow:
    """Marketplace calls made while answering a request count for the ``console`` flow (a person,
    on a page or through the JSON API; ``call_flow``), except the webhooks' (Adobe Commerce's)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/webhooks/"):
            await self.app(scope, receive, send)
            return
        with acting_as("console"):
            await self.app(scope, receive, send)


ROUTERS = (health, webhooks, io_events, issues, stock, orders, shipments, refunds, catalogue, finance, console)


def create_app(runtime: Runtime, *, start_engine: bool = True, schedules: bool = True,
               start_hooks: bool = True) -> FastAPI:
    """``start_hooks=False``: launch the engine without its start hooks; the server that serves
    the app runs them once it listens (see ``cli.serve``)."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio

        if start_engine:
            await anyio.to_thread.run_sync(lambda: runtime.engine.launch(schedules=schedules,
                                                                               start_hooks=start_hooks))
        try:
            yield
        finally:
            intake = getattr(app.state, "webhook_intake", None)
            if intake is not None:  # answer what was received before the engine stops
                await anyio.to_thread.run_sync(intake.close)
            if start_engine:
                await anyio.to_thread.run_sync(runtime.engine.shutdown)

    app = FastAPI(
        title="marketbridge",
        version=__version__,
        description="Adobe Commerce ↔ John Lewis Marketplace (Mirakl) integration service.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        """422 with the field errors, never echoing input values (they may hold secrets).

        A path that does not parse or is out of range (``/api/rules/99999999999999999999``, see
        ``web.params.DbId``) names no resource: 404, as for an id that parses but has no row.
        """
        errors = error.errors()
        if errors and all(tuple(e.get("loc", ()))[:1] == ("path",) for e in errors):
            return JSONResponse({"detail": "Not found."}, status_code=404)
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "value_error")}
            for e in errors
        ]
        return JSONResponse({"detail": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> Response:
        """Keep every 422 in the documented validation-error shape, whoever raised it.

        Routes raise ``HTTPException(422, "plain message")`` for business validation; OpenAPI
        documents 422 as a list of ``{loc, msg, type}``, so the message is wrapped in that list.
        """
        if error.status_code == 422 and isinstance(error.detail, str):
            body = {"detail": [{"loc": ["body"], "msg": error.detail, "type": "value_error"}]}
            return JSONResponse(body, status_code=422, headers=getattr(error, "headers", None))
        return await http_exception_handler(request, error)

    for module in ROUTERS:
        app.include_router(module.router)
    app.add_middleware(PersonFlow)
    from marketbridge.web import console_setup, security_headers

    console_setup.install(app, runtime.settings)
    security_headers.install(app, runtime.settings)
    return app
