"""Wiring the operations console into the FastAPI app: ``install(app, settings)``.

Called once by ``web.app.create_app``. It adds the signed-cookie session middleware, serves the
vendored static files (htmx 2.0.11 and one stylesheet, no Node build) and turns
:class:`~marketbridge.web.console_auth.LoginRequired` into a redirect to the log-in page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from marketbridge import session_secret
from marketbridge.settings import Settings
from marketbridge.web.console_auth import LoginRequired, login_url

STATIC_DIR = Path(__file__).with_name("static")
SESSION_COOKIE = "marketbridge_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600


def install(app: FastAPI, settings: Settings) -> None:
    """Raises ``SettingsError`` (one line naming MARKETBRIDGE_SESSION_SECRET) for a missing or weak secret."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret.require(settings.session_secret),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_SECONDS,
        same_site="lax",
        https_only=settings.cookies_secure,
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, error: LoginRequired) -> Response:
        target = login_url(error.next_path)
        if request.headers.get("HX-Request"):
            # htmx would swap a followed redirect into a fragment; ask it to load the page instead.
            return PlainTextResponse("Please log in.", status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
