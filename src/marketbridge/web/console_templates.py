"""Jinja2 templates of the console, with the small filters that make pages read well to people
who are not engineers ("5 minutes ago", "Customer Service", "2 h 10 min")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain.times import as_datetime
from marketbridge.web.console_auth import csrf_token

TEMPLATES_DIR = Path(__file__).with_name("templates")

TEAM_LABELS = {
    "ecommerce": "Ecommerce",
    "ops": "Ops",
    "finance": "Finance",
    "customer_service": "Customer Service",
    "admin": "Admin",
}

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def team_label(value: str | None) -> str:
    if not value:
        return ""
    return TEAM_LABELS.get(str(value), str(value).replace("_", " ").title())


def duration(seconds: float | int | None) -> str:
    """``95`` → ``1 min 35 s``; ``7800`` → ``2 h 10 min``; ``None`` → ``—``."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    negative = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds} s"
    elif seconds < 3600:
        text = f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 and seconds < 600 else "")
    elif seconds < 86400:
        text = f"{seconds // 3600} h" + (f" {(seconds % 3600) // 60} min" if (seconds % 3600) // 60 else "")
    else:
        text = f"{seconds // 86400} d" + (f" {(seconds % 86400) // 3600} h" if (seconds % 86400) // 3600 else "")
    return ("overdue by " + text) if negative else text


def ago(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """``5 minutes ago`` style; absolute times are in the ``title`` attribute of the template."""
    value = as_datetime(value)
    if value is None:
        return "never"
    now = now or utcnow()
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    seconds = (now - value).total_seconds()
    if seconds < 0:
        return "in " + duration(-seconds)
    if seconds < 45:
        return "just now"
    return duration(seconds) + " ago"


def when(value: dt.datetime | None) -> str:
    value = as_datetime(value)
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%d %b %Y %H:%M UTC")


templates.env.filters["team"] = team_label
templates.env.filters["duration"] = duration
templates.env.filters["ago"] = ago
templates.env.filters["when"] = when
templates.env.filters["dt"] = as_datetime


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """Render a page or fragment with the user, the CSRF token and the current path available."""
    context.setdefault("user", getattr(request.state, "user", None))
    context["csrf_token"] = csrf_token(request)
    context["path"] = request.url.path
    context["team_labels"] = TEAM_LABELS
    return templates.TemplateResponse(request, template, context, status_code=status_code)
