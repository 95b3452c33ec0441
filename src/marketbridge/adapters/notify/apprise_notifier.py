"""Sending alerts through apprise: one URL list per team (Slack ``slack://``, Teams workflows
``workflows://``, email ``mailtos://``, or ``json://`` / ``form://`` to any HTTP receiver).

The URLs carry secrets (webhook tokens, SMTP passwords), so they are never logged: errors name the
service scheme only.
"""

from __future__ import annotations

from typing import Protocol

import structlog

log = structlog.get_logger(__name__)


class Notifier(Protocol):
    def send(self, urls: list[str], title: str, body: str, *, urgent: bool = False) -> bool:
        """Deliver one message to every URL; True if all of them accepted it."""
        ...


def split_urls(raw: str | None) -> list[str]:
    """``"slack://a/b/c, mailtos://x"`` → two URLs (commas or whitespace separate them)."""
    if not raw:
        return []
    return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "?"


class AppriseNotifier:
    def send(self, urls: list[str], title: str, body: str, *, urgent: bool = False) -> bool:
        import apprise

        if not urls:
            return False
        ok = True
        for url in urls:
            sender = apprise.Apprise()
            if not sender.add(url):
                log.warning("alert.bad_url", scheme=scheme_of(url))
                ok = False
                continue
            notify_type = apprise.NotifyType.FAILURE if urgent else apprise.NotifyType.INFO
            if not sender.notify(title=title, body=body, notify_type=notify_type, body_format=apprise.NotifyFormat.TEXT):
                log.warning("alert.not_delivered", scheme=scheme_of(url))
                ok = False
        return ok
