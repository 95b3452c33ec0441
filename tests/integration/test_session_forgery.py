"""A session cookie signed with anything but the configured secret opens nothing, and the web app
cannot be built without a strong secret (the old built-in default forged an admin log-in)."""

from __future__ import annotations

import json
import secrets
from base64 import b64encode

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import select
from starlette.testclient import TestClient

from marketbridge.adapters.db.models.core import User
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.bootstrap import build_runtime
from marketbridge.domain.auth import Role
from marketbridge.services import auth
from marketbridge.settings import SettingsError
from marketbridge.web.app import create_app
from marketbridge.web.console_setup import SESSION_COOKIE
from tests.conftest import TEST_SESSION_SECRET, make_settings

OLD_DEFAULT = "change-me-session-secret"


def forged_cookie(secret: str, payload: dict) -> str:
    """What Starlette's SessionMiddleware would write, signed with ``secret``."""
    data = b64encode(json.dumps(payload).encode())
    return TimestampSigner(secret).sign(data).decode()


def _admin(runtime) -> User:
    with runtime.db.session() as s:
        auth.create_user(SqlPeopleRepository(s), "root-admin", Role.ADMIN, "a long admin passphrase 42")
        return s.scalars(select(User).where(User.name == "root-admin")).one()


def _payload(user: User) -> dict:
    return {"uid": user.id, "sv": user.session_version, "csrf": "forged-csrf-token"}


def near_miss(secret: str) -> str:
    """``secret`` with its last character changed: always a different secret. (Appending a fixed
    "x" in place of the last character was the real secret whenever the random test secret already
    ended in "x", one run in 64, and the "forged" cookie then opened the console.)"""
    return secret[:-1] + ("y" if secret.endswith("x") else "x")


@pytest.mark.parametrize("secret", [OLD_DEFAULT, secrets.token_urlsafe(48), near_miss(TEST_SESSION_SECRET), ""],
                         ids=["old-default", "random", "near-miss", "empty"])
def test_a_cookie_signed_with_another_secret_is_refused(runtime, secret):
    admin = _admin(runtime)
    with TestClient(create_app(runtime, start_engine=False)) as client:
        client.cookies.set(SESSION_COOKIE, forged_cookie(secret, _payload(admin)))
        page = client.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        action = client.post("/logout", headers={"X-CSRF-Token": "forged-csrf-token"}, follow_redirects=False)
        assert action.status_code == 403


def test_the_near_miss_differs_from_the_secret_it_starts_from():
    for secret in ("abcx", "abcy", TEST_SESSION_SECRET):
        assert near_miss(secret) != secret and near_miss(secret)[:-1] == secret[:-1]


def test_the_configured_secret_is_what_opens_a_session(runtime):
    """The control for the test above: the same forged payload signed with the real secret works,
    so the refusals there come from the signature and nothing else."""
    admin = _admin(runtime)
    with TestClient(create_app(runtime, start_engine=False)) as client:
        client.cookies.set(SESSION_COOKIE, forged_cookie(TEST_SESSION_SECRET, _payload(admin)))
        assert client.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("secret", [None, OLD_DEFAULT, "too-short-secret"])
def test_the_web_app_is_not_built_without_a_strong_secret(migrated_db_url, secret, monkeypatch):
    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET", raising=False)
    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET_FILE", raising=False)
    rt = build_runtime(make_settings(migrated_db_url, session_secret=secret))
    try:
        with pytest.raises(SettingsError) as raised:
            create_app(rt, start_engine=False)
        assert "MARKETBRIDGE_SESSION_SECRET" in str(raised.value)
        assert "\n" not in str(raised.value)
    finally:
        rt.close()
