"""Accounts over HTTP and the CLI: sessions that end on the server, ids and tokens that do not
pass to a later user, the account and token lifecycle, the password rules, the admin's users page,
and the log-in back-off kept in the database."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.core import (
    ApiToken,
    LoginFailure,
    LoginFailureMinute,
    User,
)
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.services import auth
from marketbridge.services.login_throttle import LoginThrottle
from marketbridge.web.app import create_app
from marketbridge.web.console_setup import SESSION_COOKIE

PASSWORD = "a long enough passphrase"
NEW_PASSWORD = "another long passphrase"


def _client(runtime, address: str = "10.0.0.1") -> TestClient:
    return TestClient(create_app(runtime, start_engine=False), client=(address, 50000))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found, "page carries no CSRF token"
    return found.group(1)


def _login(client: TestClient, name: str, password: str = PASSWORD):
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                       follow_redirects=False)


def _user(runtime, name: str, role: Role = Role.OPS) -> int:
    with runtime.db.session() as s:
        return auth.create_user(SqlPeopleRepository(s), name, role, PASSWORD).id


def _replay(runtime, cookie: str) -> int:
    """Status of the overview page for a browser holding ``cookie`` (a copy of an earlier one)."""
    with _client(runtime) as other:
        other.cookies.set(SESSION_COOKIE, cookie)
        return other.get("/", follow_redirects=False).status_code


# --- sessions end on the server; ids and tokens are never inherited ---------------------------------


def test_log_out_ends_the_session_on_the_server(runtime):
    _user(runtime, "olive")
    with _client(runtime) as client:
        assert _login(client, "olive").status_code == 303
        copied = client.cookies[SESSION_COOKIE]
        assert _replay(runtime, copied) == 200
        page = client.get("/")
        assert client.post("/logout", data={"csrf_token": _csrf(page.text)}, follow_redirects=False).status_code == 303
    assert _replay(runtime, copied) == 303  # the copy made before log-out is dead too


@pytest.mark.parametrize("change", ["password", "disable_enable"])
def test_password_change_and_deactivation_end_every_session(runtime, change):
    _user(runtime, "olive")
    with _client(runtime) as client:
        _login(client, "olive")
        copied = client.cookies[SESSION_COOKIE]
    with runtime.db.session() as s:
        if change == "password":
            auth.set_password(SqlPeopleRepository(s), "olive", NEW_PASSWORD)
        else:
            people = SqlPeopleRepository(s)
            auth.set_active(people, "olive", False)
            auth.set_active(people, "olive", True)  # enabled again: the old sessions stay ended
    assert _replay(runtime, copied) == 303
    with _client(runtime) as client:
        assert _login(client, "olive", NEW_PASSWORD if change == "password" else PASSWORD).status_code == 303
        assert client.get("/", follow_redirects=False).status_code == 200


def test_a_deleted_users_token_and_session_do_not_pass_to_the_next_user(runtime):
    first = _user(runtime, "ada", Role.ADMIN)
    with runtime.db.session() as s:
        token = auth.create_token(SqlPeopleRepository(s), s.get(User, first))
    with _client(runtime) as client:
        _login(client, "ada")
        cookie = client.cookies[SESSION_COOKIE]
    with runtime.db.session() as s:
        s.delete(s.get(User, first))
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ApiToken)) == 0  # the cascade took the token
    second = _user(runtime, "mallory", Role.ADMIN)
    assert second != first, "a deleted user's id was given to the next user"
    with _client(runtime) as client:
        assert client.get("/api/exceptions", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _replay(runtime, cookie) == 303


# --- tokens: expiry, last use, revocation ------------------------------------------------------------


def test_an_expired_token_is_refused_and_last_use_is_recorded(runtime):
    uid = _user(runtime, "olive")
    with runtime.db.session() as s:
        user = s.get(User, uid)
        lasting = auth.create_token(SqlPeopleRepository(s), user, "ci", expires_in_days=30)
        short = auth.create_token(SqlPeopleRepository(s), user, "one-day", expires_in_days=1)
        with pytest.raises(auth.AuthError):
            auth.create_token(SqlPeopleRepository(s), user, "bad", expires_in_days=0)
    later = utcnow() + dt.timedelta(days=2)
    with runtime.db.session() as s:
        assert auth.user_for_token(SqlPeopleRepository(s), lasting, now=later) is not None
        assert auth.user_for_token(SqlPeopleRepository(s), short, now=later) is None
        states = {t.label: (t.state(later), t.last_used_at) for t in auth.list_tokens(SqlPeopleRepository(s))}
    assert states["ci"] == ("active", later)
    assert states["one-day"] == ("expired", None)
    with runtime.db.session() as s:
        s.scalars(select(ApiToken).where(ApiToken.label == "one-day")).one().expires_at = utcnow() - dt.timedelta(seconds=1)
    with _client(runtime) as client:
        assert client.get("/api/exceptions", headers={"Authorization": f"Bearer {short}"}).status_code == 401
        assert client.get("/api/exceptions", headers={"Authorization": f"Bearer {lasting}"}).status_code == 200


# --- passwords -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short-pass1", "password1234", "Password2024!", "iloveyou12345",
                                      "aaaaaaaaaaaaaaaa", "olive-the-operator"])
def test_short_common_or_name_passwords_are_refused(runtime, password):
    with runtime.db.session() as s, pytest.raises(auth.AuthError):
        auth.create_user(SqlPeopleRepository(s), "olive", Role.OPS, password)
    _user(runtime, "olive")
    with runtime.db.session() as s, pytest.raises(auth.AuthError):
        auth.set_password(SqlPeopleRepository(s), "olive", password)


def test_the_demo_password_is_long_enough_and_not_common():
    from marketbridge.demo import DemoConfig
    from marketbridge.services import passwords

    config = DemoConfig()
    assert passwords.problem(config.admin_password, config.admin_user) is None
    assert len(passwords.common_passwords()) > 10000


# --- log-in throttling --------------------------------------------------------------------------------------


@pytest.fixture
def throttle(monkeypatch):
    from marketbridge.web import console_auth

    policy = LoginThrottle(free_failures=3, base_delay=600.0, global_per_minute=1000)
    monkeypatch.setattr(console_auth, "login_throttle", policy)
    monkeypatch.setattr("marketbridge.web.routers.console.login_throttle", policy)
    return policy


def test_back_off_is_per_name_and_address_and_survives_a_restart(runtime, settings, throttle):
    _user(runtime, "olive")
    with _client(runtime, "203.0.113.9") as attacker:
        assert [_login(attacker, "olive", "guess-guess").status_code for _ in range(3)] == [401, 401, 401]
        assert _login(attacker, "olive", PASSWORD).status_code == 429  # even the right password waits
    restarted = build_runtime(settings)  # a new process: the back-off is in the database
    try:
        with _client(restarted, "203.0.113.9") as attacker:
            assert _login(attacker, "olive", PASSWORD).status_code == 429
        with _client(restarted, "10.0.0.1") as owner:  # the real user elsewhere is not locked out
            assert _login(owner, "olive", PASSWORD).status_code == 303
    finally:
        restarted.close()
    with runtime.db.session() as s:
        keys = s.scalars(select(LoginFailure.key)).all()
    assert all(len(k) == 64 and "olive" not in k and "203.0.113.9" not in k for k in keys)


def test_the_global_cap_stops_a_spray_but_not_a_known_user(runtime, throttle, monkeypatch):
    # The cap counts per clock minute: on a slow run the spray once straddled a minute boundary and
    # the fifth guess found a fresh minute (401, not 429). The throttle's clock stands still here.
    still = utcnow().replace(second=30, microsecond=0)
    monkeypatch.setattr("marketbridge.services.login_throttle.utcnow", lambda: still)
    throttle.global_per_minute = 4
    _user(runtime, "olive")
    with _client(runtime, "10.0.0.1") as owner:  # olive logged in from here before
        assert _login(owner, "olive").status_code == 303
    for i in range(4):  # one guess each at four names, from four addresses
        with _client(runtime, f"198.51.100.{i}") as sprayer:
            assert _login(sprayer, f"user{i}", "guess-guess").status_code == 401
    with _client(runtime, "198.51.100.77") as sprayer:
        assert _login(sprayer, "olive", "guess-guess").status_code == 429
        assert _login(sprayer, "someone", "guess-guess").status_code == 429
    with _client(runtime, "10.0.0.1") as owner:
        assert _login(owner, "olive").status_code == 303


def test_throttle_tables_are_pruned(runtime):
    policy = LoginThrottle()
    now = utcnow()
    with runtime.db.session() as s:
        policy.failed(SqlPeopleRepository(s), "old-name", "192.0.2.1", now=now - dt.timedelta(days=2))
        policy.succeeded(SqlPeopleRepository(s), "kept", "192.0.2.2", now=now - dt.timedelta(days=2))
        policy.failed(SqlPeopleRepository(s), "new-name", "192.0.2.3", now=now)
    with runtime.db.session() as s:
        assert s.scalar(select(func.count()).select_from(LoginFailure)) == 2  # old failure pruned on write
        assert s.scalars(select(LoginFailureMinute.minute)).all() == [int(now.timestamp()) // 60]
