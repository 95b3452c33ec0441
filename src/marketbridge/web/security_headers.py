"""Security headers on every answer, from one ASGI middleware (``install(app, settings)``).

* ``Content-Security-Policy``: the console loads only its own files (htmx and one stylesheet from
  ``/static``; no inline script or style anywhere, htmx's own indicator ``<style>`` is switched off
  in ``base.html``), posts forms only to itself, and may not be framed (``frame-ancestors 'none'``,
  plus the older ``X-Frame-Options: DENY``). FastAPI's schema pages (``/docs``, ``/redoc``) load
  Swagger/ReDoc from their CDN with inline bootstrapping; they hold no data and get a policy that
  allows exactly that;
* ``X-Content-Type-Options: nosniff``; ``Referrer-Policy: no-referrer`` (console URLs carry order
  ids and search terms);
* ``Strict-Transport-Security`` only when the session cookie is ``Secure`` (``settings.cookies_secure``):
  on plain-http loopback HSTS would be meaningless or, on a shared host name, harmful;
* ``Cache-Control: no-store`` on every answer but the static files, unless the route set its own:
  pages and API answers carry orders, names and addresses that must not stay in a shared cache or
  the browser's back-forward cache after log-out.

A pure ASGI middleware (not ``BaseHTTPMiddleware``) so that the webhook route still streams its
body with a size limit.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketbridge.settings import Settings

CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SCHEMA_PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
                   "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
                   "font-src 'self' https://fonts.gstatic.com; "
                   "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
                   "connect-src 'self'; worker-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; "
                   "base-uri 'none'; object-src 'none'")
SCHEMA_PAGES = ("/docs", "/redoc")
HSTS = "max-age=31536000"


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                schema_page = path == "/docs/oauth2-redirect" or path in SCHEMA_PAGES
                headers["Content-Security-Policy"] = SCHEMA_PAGE_CSP if schema_page else CONSOLE_CSP
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                if self.hsts:
                    headers["Strict-Transport-Security"] = HSTS
                if not path.startswith("/static/") and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(SecurityHeaders, hsts=settings.cookies_secure)
