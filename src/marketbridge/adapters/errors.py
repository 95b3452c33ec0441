"""The exception tree shared by both API clients. Callers catch at the level they care about::

    IntegrationError
    ├── ConfigError                  our settings are unusable (never retried)
    └── RemoteError                  the remote API answered badly or not at all
        ├── AuthFailed               401 / 403: token or key wrong, or missing permission
        ├── NotFound                 404: the object does not exist there
        ├── Rejected                 400 / 409 / 422 and other 4xx: the request itself is wrong
        │                            (bad state, validation); retrying the same call cannot help
        └── TransientError           worth retrying the very same call later
            ├── RateLimited          429; ``retry_after`` seconds from the header, always honoured
            ├── ServerError          5xx
            └── NetworkError         connect/read failure or time-out: the call may or may not
                                     have taken effect, so only idempotent calls are retried

Every ``RemoteError`` carries the API code (``OR21``, ``V1/orders``), the HTTP status and the
remote message, and never the credentials.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """Root of everything the adapters raise."""


class ConfigError(IntegrationError):
    pass


class RemoteError(IntegrationError):
    def __init__(
        self,
        message: str,
        *,
        api: str = "",
        status: int | None = None,
        body: object = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.api = api
        self.status = status
        self.body = body
        self.code = code

    def __str__(self) -> str:
        where = f"{self.api} " if self.api else ""
        status = f"HTTP {self.status}: " if self.status is not None else ""
        return f"{where}{status}{self.message}"


class AuthFailed(RemoteError):
    pass


class NotFound(RemoteError):
    pass


class Rejected(RemoteError):
    pass


class TransientError(RemoteError):
    pass


class RateLimited(TransientError):
    def __init__(self, message: str, *, retry_after: float, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(TransientError):
    pass


class NetworkError(TransientError):
    pass


__all__ = [
    "AuthFailed",
    "ConfigError",
    "IntegrationError",
    "NetworkError",
    "NotFound",
    "RateLimited",
    "Rejected",
    "RemoteError",
    "ServerError",
    "TransientError",
]
