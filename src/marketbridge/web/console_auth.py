"""Who is looking at the console: signed-cookie sessions, CSRF tokens and role checks.

The session is Starlette's ``SessionMiddleware`` cookie (signed with ``settings.session_secret`` by
itsdangerous, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` when ``settings.cookies_secure``). It holds
only three values:

* ``uid``  - the logged-in user's id; the user is re-read from the database on every request, so a
  deactivated account loses access at once even though the cookie is still validly signed;
* ``sv``   - the user's ``session_version`` when the session started. Log-out, a password change
  and deactivation bump the version in the database, so every cookie issued before is refused:
  log-out ends the session on the server, not only in this browser, and a copied cookie is dead
  too. User ids are never reused, so a cookie can never name a later user either;
* ``csrf`` - a random token made when the session starts. Every unsafe request of the console must
  send it back, either as the ``csrf_token`` form field (plain forms) or as the ``X-CSRF-Token``
  header (htmx sends it for every request through ``hx-headers`` on ``<body>``).

Pages answer an anonymous visitor with ``303 See Other`` to ``/login`` (htmx requests get ``401``
with an ``HX-Redirect`` header so that the whole page, not a fragment, goes to the log-in form).
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status

from marketbridge.domain.auth import Role, can_act_on
from marketbridge.ports.people import PeopleRepository
from marketbridge.services import auth as auth_service
from marketbridge.services.login_throttle import LoginThrottle
from marketbridge.web.deps import ConsoleUser, PeopleDep

SESSION_USER = "uid"
SESSION_VERSION = "sv"
SESSION_CSRF = "csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """Raised by page dependencies for an anonymous visitor; turned into a redirect to /login."""

    def __init__(self, next_path: str = "/") -> None:
        super().__init__(next_path)
        self.next_path = next_path


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get(SESSION_CSRF)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_CSRF] = token
    return str(token)


def start_session(request: Request, user: ConsoleUser) -> None:
    """Log ``user`` in: a fresh session (new CSRF token) so a pre-login cookie cannot be reused."""
    request.session.clear()
    request.session[SESSION_USER] = user.id
    request.session[SESSION_VERSION] = user.session_version
    request.session[SESSION_CSRF] = secrets.token_urlsafe(32)


def end_session(request: Request, user: ConsoleUser | None = None) -> None:
    """Log out: this cookie is cleared and, with ``user``, every session of that user ends."""
    if user is not None:
        auth_service.end_sessions(user)
    request.session.clear()


def session_user(request: Request, people: PeopleRepository) -> ConsoleUser | None:
    """The active user of this browser session, or None (also for a cookie of an older version);
    ``people`` is the users' repository on the request's session (``PeopleDep``)."""
    user_id = request.session.get(SESSION_USER)
    version = request.session.get(SESSION_VERSION)
    if not isinstance(user_id, int) or not isinstance(version, int):
        return None
    user = auth_service.user_by_id(people, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def safe_next(path: str | None) -> str:
    """Only local absolute paths are allowed after log-in (no open redirect to another site)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(safe_next(next_path), safe="/")


def require_page_user(request: Request, people: PeopleDep) -> ConsoleUser:
    user = session_user(request, people)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/")
    request.state.user = user
    return user


PageUser = Annotated[ConsoleUser, Depends(require_page_user)]


async def check_csrf(request: Request) -> None:
    """Router-wide dependency: every unsafe request must carry the session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    expected = request.session.get(SESSION_CSRF)
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "The form has expired or did not come from this site. "
                            "Reload the page and try again.")


def role_of(user: ConsoleUser) -> Role:
    """The user's role; an account with a role this version does not know may not act at all."""
    try:
        return Role(user.role)
    except ValueError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"User {user.name} has an unknown role.") from None


def may_act(user: ConsoleUser, owner: str) -> bool:
    """Every role sees everything; a role acts on its own team's issues; admin on all."""
    return can_act_on(role_of(user), owner)


login_throttle = LoginThrottle()
"""The log-in form's throttle (state in the database; see services.login_throttle)."""
