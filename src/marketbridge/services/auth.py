"""Users and API tokens: argon2 password hashes, tokens stored as SHA-256 only.

Account lifecycle (CLI ``users``/``tokens`` and the admin console's users page): create, list,
disable, enable, change password; tokens are created with an optional expiry, listed with the time
each was last used, and revoked. Disabling a user or changing its password bumps its
``session_version``, which ends every console session it has (see web.console_auth).

Storage goes through :class:`marketbridge.ports.PeopleRepository` (issue 18 item 2): every function
takes the repository (``runtime.people_store``'s, or ``SqlPeopleRepository(session)`` on a session
the caller holds); the rules stay here, the queries are in :mod:`marketbridge.adapters.db.people`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from marketbridge.adapters.db.base import utcnow
from marketbridge.domain.auth import Role
from marketbridge.ports.people import PeopleRepository
from marketbridge.services import passwords

if TYPE_CHECKING:
    from marketbridge.adapters.db.models.core import User

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH
MAX_TOKEN_DAYS = 3650


class AuthError(Exception):
    pass


def _check_password(password: str, name: str) -> None:
    reason = passwords.problem(password, name)
    if reason is not None:
        raise AuthError(reason)


def create_user(people: PeopleRepository, name: str, role: Role, password: str) -> User:
    _check_password(password, name)
    if people.user_named(name) is not None:
        raise AuthError(f"user {name!r} already exists")
    return people.add_user(name=name, role=role.value, password_hash=_hasher.hash(password))


def set_password(people: PeopleRepository, name: str, password: str) -> User:
    """A new password; every session of the user ends (its session version moves on)."""
    user = get_user(people, name)
    _check_password(password, name)
    user.password_hash = _hasher.hash(password)
    end_sessions(user)
    return user


def end_sessions(user: User) -> None:
    """Every session cookie issued to ``user`` so far stops working (log-out everywhere)."""
    user.session_version = (user.session_version or 0) + 1


def set_active(people: PeopleRepository, name: str, active: bool) -> User:
    """Disable (sessions end, tokens stop working while disabled) or enable an account."""
    user = get_user(people, name)
    if user.active != active and not active:
        end_sessions(user)
    user.active = active
    return user


def list_users(people: PeopleRepository) -> list[User]:
    """Every user, by name."""
    return list(people.users())


def user_by_id(people: PeopleRepository, user_id: int) -> User | None:
    return people.user(user_id)


def get_user(people: PeopleRepository, name: str) -> User:
    user = people.user_named(name)
    if user is None:
        raise AuthError(f"no user {name!r}")
    return user


def authenticate(people: PeopleRepository, name: str, password: str) -> User | None:
    """The user if name and password match an active account, else None (same time either way)."""
    user = people.user_named(name)
    candidate_hash = user.password_hash if user is not None else _DUMMY_HASH
    try:
        _hasher.verify(candidate_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    return user


_DUMMY_HASH = _hasher.hash("not-a-real-password-used-for-timing")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(people: PeopleRepository, user: User, label: str = "",
                 expires_in_days: int | None = None) -> str:
    """A new bearer token for ``user``; only its SHA-256 is stored. Optional expiry in days."""
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
            raise AuthError(f"the expiry must be between 1 and {MAX_TOKEN_DAYS} days")
        expires_at = utcnow() + dt.timedelta(days=expires_in_days)
    token = "mb_" + secrets.token_urlsafe(32)
    people.add_token(user_id=user.id, token_hash=_digest(token), label=label, expires_at=expires_at)
    return token


def user_for_token(people: PeopleRepository, token: str, now: dt.datetime | None = None) -> User | None:
    """The active user of a valid token (not revoked, not expired), recording when it was used."""
    row = people.unrevoked_token(_digest(token))
    if row is None:
        return None
    now = now or utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        return None
    user = people.user(row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = now
    return user


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed to an admin: never the token itself, which is not stored."""

    id: int
    user: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked: bool

    def state(self, now: dt.datetime | None = None) -> str:
        if self.revoked:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


def list_tokens(people: PeopleRepository, user: str | None = None) -> list[TokenInfo]:
    """Every token (``user``: one owner's), by id."""
    return [
        TokenInfo(t.id, name, t.label, t.created_at, t.last_used_at, t.expires_at, t.revoked)
        for t, name in people.tokens(user)
    ]


def revoke_token(people: PeopleRepository, token_id: int) -> TokenInfo:
    row = people.token(token_id)
    if row is None:
        raise AuthError(f"no token {token_id}")
    row.revoked = True
    owner = people.user(row.user_id)
    return TokenInfo(row.id, owner.name if owner else "?", row.label, row.created_at, row.last_used_at,
                     row.expires_at, row.revoked)
