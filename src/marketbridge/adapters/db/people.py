"""The people side's storage over SQLAlchemy: :class:`SqlPeopleStore` implements
:class:`marketbridge.ports.PeopleStore` (issue 18 item 2), so the queries on ``users``,
``api_tokens``, ``login_failures`` and ``login_failure_minutes`` are written here and nowhere in
``services.auth`` / ``services.login_throttle``. The statements are the ones the services ran
before, in the same order, so the transactions and the concurrency behaviour are unchanged:

* a failed log-in is an ``INSERT ... ON CONFLICT DO UPDATE failures = failures + 1`` for a new
  pair, an ``UPDATE ... SET failures = failures + 1`` (or ``= 1`` once the pair's failures are
  stale) for a known one, then the same upsert on the minute's count, then a flush: two workers
  failing at once both count;
* a success is one upsert that clears the pair's failures, then every loaded record is expired so
  the next read sees it;
* pruning is two bulk ``DELETE`` statements, not synchronised with the session.

One unit of work is one :meth:`Database.session`; :meth:`SqlPeopleStore.on_session` (and
``SqlPeopleRepository(session)``) use a session the caller holds, as the log-in form, the account
pages and the CLI do so that their activity-log entry commits with the change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.insert import dialect_insert
from marketbridge.adapters.db.models.core import ApiToken, LoginFailure, LoginFailureMinute, User
from marketbridge.adapters.db.store import SqlStore


class SqlPeopleRepository:
    """:class:`marketbridge.ports.PeopleRepository` on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------------ users
    def user_named(self, name: str) -> User | None:
        return self.session.scalars(select(User).where(User.name == name)).first()

    def user(self, user_id: int) -> User | None:
        return self.session.get(User, user_id)

    def users(self) -> Sequence[User]:
        return list(self.session.scalars(select(User).order_by(User.name)))

    def add_user(self, *, name: str, role: str, password_hash: str) -> User:
        user = User(name=name, role=role, password_hash=password_hash)
        self.session.add(user)
        self.session.flush()
        return user

    # ------------------------------------------------------------------ API tokens
    def add_token(self, *, user_id: int, token_hash: str, label: str, expires_at: dt.datetime | None) -> None:
        self.session.add(ApiToken(user_id=user_id, token_hash=token_hash, label=label, expires_at=expires_at))
        self.session.flush()

    def unrevoked_token(self, token_hash: str) -> ApiToken | None:
        return self.session.scalars(
            select(ApiToken).where(ApiToken.token_hash == token_hash, ApiToken.revoked.is_(False))
        ).first()

    def token(self, token_id: int) -> ApiToken | None:
        return self.session.get(ApiToken, token_id)

    def tokens(self, user: str | None = None) -> Sequence[tuple[ApiToken, str]]:
        query = select(ApiToken, User.name).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
        if user is not None:
            query = query.where(User.name == user)
        return [(token, name) for token, name in self.session.execute(query)]

    # ------------------------------------------------------------------ the log-in throttle
    def login_failure(self, key: str) -> LoginFailure | None:
        return self.session.get(LoginFailure, key)

    def failures_in_minute(self, minute: int) -> int | None:
        bucket = self.session.get(LoginFailureMinute, minute)
        return None if bucket is None else bucket.failures

    def count_failure(self, key: str, minute: int, at: dt.datetime, *, restart: bool) -> None:
        session = self.session
        row = session.get(LoginFailure, key)
        if row is None:
            session.execute(dialect_insert(session, LoginFailure).values(
                key=key, failures=1, last_failed_at=at).on_conflict_do_update(
                index_elements=["key"], set_={"failures": LoginFailure.failures + 1, "last_failed_at": at}))
        else:
            row.failures = 1 if restart else LoginFailure.failures + 1  # SQL increment: concurrent failures add up
            row.last_failed_at = at
        table = LoginFailureMinute.__table__
        session.execute(dialect_insert(session, LoginFailureMinute).values(
            minute=minute, failures=1).on_conflict_do_update(
            index_elements=["minute"], set_={"failures": table.c.failures + 1}))
        session.flush()

    def count_success(self, key: str, at: dt.datetime) -> None:
        self.session.execute(dialect_insert(self.session, LoginFailure).values(
            key=key, failures=0, last_failed_at=None, last_success_at=at).on_conflict_do_update(
            index_elements=["key"], set_={"failures": 0, "last_failed_at": None, "last_success_at": at}))
        self.session.expire_all()

    def prune_login_failures(self, *, failed_before: dt.datetime, succeeded_before: dt.datetime,
                             minutes_before: int) -> int:
        pairs = self.session.execute(delete(LoginFailure).where(
            or_(LoginFailure.last_failed_at.is_(None), LoginFailure.last_failed_at < failed_before),
            or_(LoginFailure.last_success_at.is_(None), LoginFailure.last_success_at < succeeded_before),
        ).execution_options(synchronize_session=False))
        minutes = self.session.execute(delete(LoginFailureMinute).where(
            and_(LoginFailureMinute.minute < minutes_before)).execution_options(synchronize_session=False))
        return int(pairs.rowcount or 0) + int(minutes.rowcount or 0)  # type: ignore[attr-defined]


class SqlPeopleStore(SqlStore[SqlPeopleRepository]):
    """:class:`marketbridge.ports.PeopleStore` on a :class:`Database`."""

    def repository(self, session: Session) -> SqlPeopleRepository:
        return SqlPeopleRepository(session)
