"""In-memory fake of :class:`marketbridge.ports.PeopleStore` (users, API tokens, the log-in
throttle's counts) for unit tests of ``services.auth`` and ``services.login_throttle``.

It keeps the same records the SQL store hands out (``User``, ``ApiToken``, ``LoginFailure``) in
dicts, with every column set (no database fills the defaults), and hands out the stored records
themselves, so the services' changes in place (``session_version``, ``revoked``, ``last_used_at``)
are kept as a committed transaction keeps them. Increments are plain ``+ 1`` here: the SQL store's
point (concurrent failures add up) is tested against the database (tests/integration/test_accounts.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from marketbridge.adapters.db.models.core import ApiToken, LoginFailure, User
from tests.fakes import FakeRepository

CREATED = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@dataclass
class FakePeopleStore:
    users: dict[int, User] = field(default_factory=dict)
    tokens: dict[int, ApiToken] = field(default_factory=dict)
    failures: dict[str, LoginFailure] = field(default_factory=dict)  # by pair key
    minutes: dict[int, int] = field(default_factory=dict)  # minute -> failed log-ins
    units: int = 0

    @contextmanager
    def unit_of_work(self) -> Iterator[FakePeopleRepository]:
        self.units += 1
        yield FakePeopleRepository(self)

    def on_session(self, session: Any) -> FakePeopleRepository:
        return FakePeopleRepository(self)


class FakePeopleRepository(FakeRepository):
    store: FakePeopleStore

    # ------------------------------------------------------------------ users
    def user_named(self, name: str) -> User | None:
        return next((u for u in self.store.users.values() if u.name == name), None)

    def user(self, user_id: int) -> User | None:
        return self.store.users.get(user_id)

    def users(self) -> Sequence[User]:
        return sorted(self.store.users.values(), key=lambda u: u.name)

    def add_user(self, *, name: str, role: str, password_hash: str) -> User:
        if self.user_named(name) is not None:
            raise AssertionError(f"unique index on users.name: {name!r} stored twice")
        user = User(id=max(self.store.users, default=0) + 1, name=name, role=role, password_hash=password_hash,
                    active=True, created_at=CREATED, session_version=0)
        self.store.users[user.id] = user
        return user

    # ------------------------------------------------------------------ API tokens
    def add_token(self, *, user_id: int, token_hash: str, label: str, expires_at: dt.datetime | None) -> None:
        token = ApiToken(id=max(self.store.tokens, default=0) + 1, user_id=user_id, token_hash=token_hash,
                         label=label, created_at=CREATED, last_used_at=None, revoked=False, expires_at=expires_at)
        self.store.tokens[token.id] = token

    def unrevoked_token(self, token_hash: str) -> ApiToken | None:
        return next((t for t in self.store.tokens.values() if t.token_hash == token_hash and not t.revoked), None)

    def token(self, token_id: int) -> ApiToken | None:
        return self.store.tokens.get(token_id)

    def tokens(self, user: str | None = None) -> Sequence[tuple[ApiToken, str]]:
        rows = []
        for token_id in sorted(self.store.tokens):
            token = self.store.tokens[token_id]
            owner = self.store.users.get(token.user_id)
            if owner is not None and (user is None or owner.name == user):
                rows.append((token, owner.name))
        return rows

    # ------------------------------------------------------------------ the log-in throttle
    def login_failure(self, key: str) -> LoginFailure | None:
        return self.store.failures.get(key)

    def failures_in_minute(self, minute: int) -> int | None:
        return self.store.minutes.get(minute)

    def count_failure(self, key: str, minute: int, at: dt.datetime, *, restart: bool) -> None:
        row = self.store.failures.get(key)
        if row is None:
            self.store.failures[key] = LoginFailure(key=key, failures=1, last_failed_at=at, last_success_at=None)
        else:
            row.failures = 1 if restart else row.failures + 1
            row.last_failed_at = at
        self.store.minutes[minute] = self.store.minutes.get(minute, 0) + 1

    def count_success(self, key: str, at: dt.datetime) -> None:
        self.store.failures[key] = LoginFailure(key=key, failures=0, last_failed_at=None, last_success_at=at)

    def prune_login_failures(self, *, failed_before: dt.datetime, succeeded_before: dt.datetime,
                             minutes_before: int) -> int:
        pairs = [key for key, row in self.store.failures.items()
                 if (row.last_failed_at is None or row.last_failed_at < failed_before)
                 and (row.last_success_at is None or row.last_success_at < succeeded_before)]
        minutes = [minute for minute in self.store.minutes if minute < minutes_before]
        for key in pairs:
            del self.store.failures[key]
        for minute in minutes:
            del self.store.minutes[minute]
        return len(pairs) + len(minutes)
