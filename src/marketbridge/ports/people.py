"""The people side's storage port: console users, API tokens and the log-in throttle's counts
(implemented in :mod:`marketbridge.adapters.db.people`).

``services.auth`` and ``services.login_throttle`` keep the rules (password policy, argon2 and the
timing-safe dummy hash, which token is still valid, the back-off and the global cap); this port only
stores and finds rows. Storage formats, unchanged by the port:

* ``users``: ``password_hash`` is an argon2 encoded hash; ``session_version`` is the number carried
  in the signed session cookie (bumped to end every session of the user);
* ``api_tokens``: ``token_hash`` is the hex SHA-256 of the bearer token (``mb_`` + 43 characters);
  the token itself is never stored;
* ``login_failures``: ``key`` is the hex SHA-256 of ``casefold(name) + "\\0" + client address``;
* ``login_failure_minutes``: ``minute`` is Unix time // 60.

Records handed out (``User``, ``ApiToken``, ``LoginFailure``) are changed in place by the services
(``session_version``, ``active``, ``revoked``, ``last_used_at``...); the unit of work keeps the
changes. The web layer's log-in and the CLI work in a transaction they already hold (the activity
log entry commits with the change), so the store also hands out a repository on a caller's session.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from marketbridge.adapters.db.models.core import ApiToken, LoginFailure, User


class PeopleRepository(Protocol):
    """What the account and log-in services read and write in one unit of work."""

    # ------------------------------------------------------------------ users
    def user_named(self, name: str) -> User | None:
        """The user of exactly this name (names are unique), or None."""
        ...

    def user(self, user_id: int) -> User | None: ...

    def users(self) -> Sequence[User]:
        """Every user, by name."""
        ...

    def add_user(self, *, name: str, role: str, password_hash: str) -> User:
        """Store a new active user at once (its id is set; the name's uniqueness is the caller's
        check, the table's unique index the last word)."""
        ...

    # ------------------------------------------------------------------ API tokens
    def add_token(self, *, user_id: int, token_hash: str, label: str, expires_at: datetime | None) -> None:
        """Store a new token by its hash, at once."""
        ...

    def unrevoked_token(self, token_hash: str) -> ApiToken | None:
        """The token of this hash unless it is revoked (expiry is the caller's rule)."""
        ...

    def token(self, token_id: int) -> ApiToken | None: ...

    def tokens(self, user: str | None = None) -> Sequence[tuple[ApiToken, str]]:
        """Every token with its owner's name, by id; ``user`` keeps one owner's."""
        ...

    # ------------------------------------------------------------------ the log-in throttle
    def login_failure(self, key: str) -> LoginFailure | None:
        """The failure record of one (name, address) pair, or None."""
        ...

    def failures_in_minute(self, minute: int) -> int | None:
        """Failed log-ins over all names counted in ``minute``; None when none was counted."""
        ...

    def count_failure(self, key: str, minute: int, at: datetime, *, restart: bool) -> None:
        """One more failure of the pair (``restart``: the count starts again at 1, its earlier
        failures are forgotten) and of the minute. Concurrent failures add up: the increments are
        done in SQL (an upsert for a new pair or minute), not read-modify-write."""
        ...

    def count_success(self, key: str, at: datetime) -> None:
        """The pair logged in: its failures are cleared and the success remembered (upsert)."""
        ...

    def prune_login_failures(self, *, failed_before: datetime, succeeded_before: datetime,
                             minutes_before: int) -> int:
        """Delete the pairs with no failure since ``failed_before`` and no success since
        ``succeeded_before``, and the minute counts before ``minutes_before``; how many rows went."""
        ...


class PeopleStore(Protocol):
    """The people side's storage: each :meth:`unit_of_work` is one transaction, committed when the
    block ends normally and rolled back when it raises; :meth:`on_session` works in a transaction
    the caller owns (commits nothing)."""

    def unit_of_work(self) -> AbstractContextManager[PeopleRepository]: ...

    def on_session(self, session: Session) -> PeopleRepository: ...
