"""Unit tests of the people side's rules (``services.auth``, ``services.login_throttle``) on the
in-memory :class:`tests.fakes_people.FakePeopleStore`: no database. The same rules run on SQL in
tests/integration/test_accounts.py, test_session_forgery.py and test_role_policy.py."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from marketbridge.domain.auth import Role
from marketbridge.ports import PeopleRepository, PeopleStore
from marketbridge.services import auth
from marketbridge.services.login_throttle import LoginThrottle, pair_key
from tests.fakes_people import FakePeopleRepository, FakePeopleStore

PASSWORD = "correct horse battery"
NOW = dt.datetime(2026, 12, 7, 12, 0, 30, tzinfo=dt.UTC)


@pytest.fixture
def people() -> FakePeopleRepository:
    return FakePeopleRepository(FakePeopleStore())


def test_the_fake_fits_the_port() -> None:
    store: PeopleStore = FakePeopleStore()
    with store.unit_of_work() as repo:
        checked: PeopleRepository = repo
        assert checked.users() == []


# --------------------------------------------------------------------------- accounts
def test_a_user_is_stored_with_an_argon2_hash_never_the_password(people) -> None:
    user = auth.create_user(people, "ada", Role.ADMIN, PASSWORD)
    assert (user.name, user.role, user.active) == ("ada", "admin", True)
    assert user.password_hash.startswith("$argon2") and PASSWORD not in user.password_hash
    with pytest.raises(auth.AuthError, match="already exists"):
        auth.create_user(people, "ada", Role.OPS, PASSWORD)
    with pytest.raises(auth.AuthError):
        auth.create_user(people, "bob", Role.OPS, "short")
    assert [u.name for u in auth.list_users(people)] == ["ada"]


def test_authenticate_needs_the_right_password_and_an_active_account(people) -> None:
    auth.create_user(people, "ada", Role.ADMIN, PASSWORD)
    assert auth.authenticate(people, "ada", PASSWORD).name == "ada"
    assert auth.authenticate(people, "ada", PASSWORD + "!") is None
    assert auth.authenticate(people, "nobody", PASSWORD) is None  # checked against the dummy hash
    auth.set_active(people, "ada", False)
    assert auth.authenticate(people, "ada", PASSWORD) is None


def test_password_change_and_disabling_end_every_session(people) -> None:
    user = auth.create_user(people, "ada", Role.ADMIN, PASSWORD)
    auth.set_password(people, "ada", PASSWORD + " two")
    assert user.session_version == 1
    assert auth.authenticate(people, "ada", PASSWORD) is None
    assert auth.authenticate(people, "ada", PASSWORD + " two") is user
    auth.set_active(people, "ada", False)
    assert (user.active, user.session_version) == (False, 2)
    auth.set_active(people, "ada", False)  # already disabled: no further bump
    auth.set_active(people, "ada", True)  # enabling does not bring the old sessions back
    assert (user.active, user.session_version) == (True, 2)
    with pytest.raises(auth.AuthError, match="no user"):
        auth.set_password(people, "nobody", PASSWORD)
    assert auth.user_by_id(people, user.id) is user and auth.user_by_id(people, 99) is None


# --------------------------------------------------------------------------- API tokens
def test_a_token_is_stored_as_its_sha256_and_finds_its_user(people) -> None:
    user = auth.create_user(people, "ada", Role.ADMIN, PASSWORD)
    token = auth.create_token(people, user, "ci")
    (stored,) = people.store.tokens.values()
    assert token.startswith("mb_") and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(vars(stored))
    assert auth.user_for_token(people, token, now=NOW) is user
    assert stored.last_used_at == NOW
    assert auth.user_for_token(people, token + "x", now=NOW) is None


def test_expired_revoked_and_disabled_tokens_are_refused(people) -> None:
    user = auth.create_user(people, "ada", Role.ADMIN, PASSWORD)
    with pytest.raises(auth.AuthError, match="between 1 and"):
        auth.create_token(people, user, expires_in_days=0)
    with pytest.raises(auth.AuthError):
        auth.create_token(people, user, expires_in_days=auth.MAX_TOKEN_DAYS + 1)
    expiring = auth.create_token(people, user, "a day", expires_in_days=1)
    expires_at = people.store.tokens[1].expires_at
    assert auth.user_for_token(people, expiring, now=expires_at - dt.timedelta(seconds=1)) is user
    assert auth.user_for_token(people, expiring, now=expires_at) is None
    revoked = auth.create_token(people, user, "gone")
    info = auth.revoke_token(people, 2)
    assert (info.user, info.label, info.revoked, info.state()) == ("ada", "gone", True, "revoked")
    assert auth.user_for_token(people, revoked) is None
    kept = auth.create_token(people, user)
    auth.set_active(people, "ada", False)
    assert auth.user_for_token(people, kept) is None
    with pytest.raises(auth.AuthError, match="no token 9"):
        auth.revoke_token(people, 9)


def test_tokens_are_listed_by_id_without_the_token(people) -> None:
    ada = auth.create_user(people, "ada", Role.ADMIN, PASSWORD)
    bob = auth.create_user(people, "bob", Role.OPS, PASSWORD)
    auth.create_token(people, bob, "b1")
    auth.create_token(people, ada, "a1", expires_in_days=1)
    listed = auth.list_tokens(people)
    assert [(t.id, t.user, t.label) for t in listed] == [(1, "bob", "b1"), (2, "ada", "a1")]
    assert [t.label for t in auth.list_tokens(people, "ada")] == ["a1"]
    assert listed[1].state(now=listed[1].expires_at) == "expired" and listed[0].state() == "active"


# --------------------------------------------------------------------------- the log-in throttle
def test_the_back_off_starts_after_the_free_failures_and_doubles_to_the_cap(people) -> None:
    throttle = LoginThrottle(free_failures=3, base_delay=30.0, max_delay=100.0)
    for _ in range(3):
        assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 0.0
        throttle.failed(people, "ada", "10.0.0.1", now=NOW)
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 30.0
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW + dt.timedelta(seconds=10)) == 20.0
    assert throttle.wait_for(people, " ADA ", "10.0.0.1", now=NOW) == 30.0  # the name is case-folded
    assert throttle.wait_for(people, "ada", "10.0.0.2", now=NOW) == 0.0  # another address is not slowed
    throttle.failed(people, "ada", "10.0.0.1", now=NOW)
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 60.0
    throttle.failed(people, "ada", "10.0.0.1", now=NOW)
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 100.0  # max_delay
    assert set(people.store.failures) == {pair_key("ada", "10.0.0.1")}  # stored hashed, never in clear


def test_failures_older_than_forget_after_start_the_count_again(people) -> None:
    throttle = LoginThrottle(free_failures=1, base_delay=30.0, forget_after=3600.0)
    throttle.failed(people, "ada", "10.0.0.1", now=NOW)
    throttle.failed(people, "ada", "10.0.0.1", now=NOW)
    assert people.login_failure(pair_key("ada", "10.0.0.1")).failures == 2
    later = NOW + dt.timedelta(hours=1)
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=later) == 0.0
    throttle.failed(people, "ada", "10.0.0.1", now=later)
    assert people.login_failure(pair_key("ada", "10.0.0.1")).failures == 1


def test_a_success_clears_the_pair_and_is_remembered(people) -> None:
    throttle = LoginThrottle(free_failures=1)
    throttle.failed(people, "ada", "10.0.0.1", now=NOW)
    throttle.failed(people, "ada", "10.0.0.1", now=NOW)
    throttle.succeeded(people, "ada", "10.0.0.1", now=NOW)
    row = people.login_failure(pair_key("ada", "10.0.0.1"))
    assert (row.failures, row.last_failed_at, row.last_success_at) == (0, None, NOW)
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 0.0


def test_the_global_cap_waits_out_the_minute_except_for_a_known_pair(people) -> None:
    throttle = LoginThrottle(global_per_minute=3, remember_success=86400.0)
    throttle.succeeded(people, "ada", "10.0.0.1", now=NOW - dt.timedelta(hours=1))
    for i in range(2):
        throttle.failed(people, f"user{i}", f"198.51.100.{i}", now=NOW)
    assert throttle.wait_for(people, "someone", "198.51.100.9", now=NOW) == 0.0  # under the cap
    throttle.failed(people, "user2", "198.51.100.2", now=NOW)
    assert throttle.wait_for(people, "someone", "198.51.100.9", now=NOW) == 30.0  # the rest of the minute
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 0.0  # logged in here before
    long_ago = LoginThrottle(global_per_minute=3, remember_success=60.0)
    assert long_ago.wait_for(people, "ada", "10.0.0.1", now=NOW) == 30.0  # remembered no more
    assert throttle.wait_for(people, "someone", "198.51.100.9", now=NOW + dt.timedelta(seconds=30)) == 0.0


def test_a_cap_of_zero_is_reached_only_once_a_failure_is_counted(people) -> None:
    throttle = LoginThrottle(global_per_minute=0)
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 0.0  # no count this minute yet
    throttle.failed(people, "bob", "10.0.0.2", now=NOW)
    assert throttle.wait_for(people, "ada", "10.0.0.1", now=NOW) == 30.0


def test_writes_prune_what_no_longer_matters(people) -> None:
    throttle = LoginThrottle(forget_after=86400.0, remember_success=7 * 86400.0)
    throttle.failed(people, "old", "192.0.2.1", now=NOW - dt.timedelta(days=2))
    throttle.succeeded(people, "kept", "192.0.2.2", now=NOW - dt.timedelta(days=2))
    throttle.failed(people, "new", "192.0.2.3", now=NOW)
    assert set(people.store.failures) == {pair_key("kept", "192.0.2.2"), pair_key("new", "192.0.2.3")}
    assert list(people.store.minutes) == [int(NOW.timestamp()) // 60]  # the two-day-old minute went
    assert throttle.prune(people, now=NOW + dt.timedelta(days=8)) == 3
    assert people.store.failures == {} and people.store.minutes == {}
