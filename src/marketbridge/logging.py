"""structlog set-up with a redactor: no configured secret ever reaches a log line.

The redactor replaces every configured secret value (tokens, keys, webhook secrets, passwords
from settings) and anything that looks like an ``Authorization`` header value with ``***``,
whatever the key it appears under and however deeply it is nested in the event.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any

import structlog

from marketbridge.settings import Settings

_SECRETS: list[str] = []
_AUTH_PATTERN = re.compile(
    r"(?i)((?:authorization['\"]?\s*[:=]\s*['\"]?(?:bearer\s+|oauth\s+)?)|bearer\s+)([^\s'\",}]+)"
)
SENSITIVE_KEYS = {"authorization", "password", "token", "api_key", "secret", "cookie", "set-cookie"}


def register_secrets(values: list[str]) -> None:
    for value in values:
        if value and value not in _SECRETS:
            _SECRETS.append(value)
    _SECRETS.sort(key=len, reverse=True)


def redact_text(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return _AUTH_PATTERN.sub(lambda m: m.group(1) + "***", text)


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return "…"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: ("***" if str(k).lower() in SENSITIVE_KEYS else _redact(v, depth + 1)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return redact_text(repr(value))
    return value


def redact_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    return _redact(event_dict)  # type: ignore[no-any-return]


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a stdlib record in place: its message, its traceback and its stack.

    The traceback matters: an exception message may quote a URL or header with a credential, and
    a ``Formatter`` would otherwise render ``exc_info`` *after* every filter has run. The rendered,
    redacted text goes to ``exc_text`` (which formatters print as is) and ``exc_info`` is dropped.
    """
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a broken %-format is the library's bug; keep the raw msg
        message = str(record.msg)
    record.msg = redact_text(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)
    return record


class _RedactingFilter(logging.Filter):
    """Applies the same redaction to stdlib log records (uvicorn, DBOS, httpx2)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _install_record_factory() -> None:
    """Redact every stdlib record when it is created, whatever logger or handler it goes to.

    Handler filters are not enough: uvicorn (``uvicorn.run``'s logging config) and DBOS attach
    their own handlers to non-propagating loggers, so their lines never reach the root handler.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "_marketbridge_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory._marketbridge_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now (test capture replaces it after start-up)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_configured = False


def configure_logging(settings: Settings | None = None, *, json_logs: bool | None = None, level: str = "INFO") -> None:
    global _configured
    if settings is not None:
        register_secrets(settings.secret_values())
    _install_record_factory()
    if _configured:
        return
    _configured = True
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_CurrentStderr())  # type: ignore[arg-type]
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
