"""Account and token lifecycle for admins: the ``users`` and ``tokens`` commands and the admin's
users page (admin role only, CSRF-protected buttons, every change in the audit log)."""

from __future__ import annotations

import json

from sqlalchemy import select
from typer.testing import CliRunner

from marketbridge.adapters.db.models.core import ApiToken, AuditLogEntry, User
from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import Role
from marketbridge.services import auth
from tests.integration.test_accounts import NEW_PASSWORD, PASSWORD, _client, _csrf, _login, _user

# --- the CLI ----------------------------------------------------------------------------------------------


def _cli(monkeypatch, settings, *args: str):
    from marketbridge.cli import app

    monkeypatch.setenv("MARKETBRIDGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner().invoke(app, list(args), terminal_width=250)


def test_users_and_tokens_lifecycle_in_the_cli(runtime, settings, monkeypatch):
    assert _cli(monkeypatch, settings, "users", "add", "olive", "--role", "ops", "--password", "password1234").exit_code == 1
    assert _cli(monkeypatch, settings, "users", "add", "olive", "--role", "ops", "--password", PASSWORD).exit_code == 0
    created = _cli(monkeypatch, settings, "tokens", "create", "--user", "olive", "--label", "ci", "--expires-in-days", "7")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    with _client(runtime) as client:
        assert client.get("/api/exceptions", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    listed = _cli(monkeypatch, settings, "tokens", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert row["user"] == "olive" and row["label"] == "ci" and row["state"] == "active"
    assert row["last_used_at"] is not None and row["expires_at"] is not None
    assert token not in listed.stdout
    table = _cli(monkeypatch, settings, "tokens", "list").stdout
    assert "ci" in table and "never" not in table.split("ci", 1)[1].splitlines()[0]  # last used is shown

    users = _cli(monkeypatch, settings, "users", "list", "--json")
    assert [(u["name"], u["active"], u["active_tokens"]) for u in json.loads(users.stdout)] == [("olive", True, 1)]

    assert _cli(monkeypatch, settings, "users", "disable", "olive").exit_code == 0
    with _client(runtime) as client:
        assert client.get("/api/exceptions", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert _login(client, "olive").status_code == 401
    assert _cli(monkeypatch, settings, "users", "enable", "olive").exit_code == 0
    assert _cli(monkeypatch, settings, "users", "passwd", "olive", "--password", "short").exit_code == 1
    assert _cli(monkeypatch, settings, "users", "passwd", "olive", "--password", NEW_PASSWORD).exit_code == 0
    with _client(runtime) as client:
        assert _login(client, "olive", NEW_PASSWORD).status_code == 303

    assert _cli(monkeypatch, settings, "tokens", "revoke", str(row["id"])).exit_code == 0
    assert _cli(monkeypatch, settings, "tokens", "revoke", "9999").exit_code == 1
    with _client(runtime) as client:
        assert client.get("/api/exceptions", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "revoked" in _cli(monkeypatch, settings, "tokens", "list").stdout
    with runtime.db.session() as s:
        actions = [a for (a,) in s.execute(select(AuditLogEntry.action).where(AuditLogEntry.actor == "cli"))]
    assert actions == ["user.add", "token.create", "user.disable", "user.enable", "user.passwd", "token.revoke"]


# --- the admin's users page -----------------------------------------------------------------------------


def test_users_page_is_for_admins_and_its_buttons_need_csrf(runtime):
    admin = _user(runtime, "ada", Role.ADMIN)
    olive = _user(runtime, "olive")
    with runtime.db.session() as s:
        auth.create_token(SqlPeopleRepository(s), s.get(User, olive), "olive-ci")
        token_id = s.scalars(select(ApiToken.id)).one()
    with _client(runtime) as client:
        _login(client, "olive")
        assert client.get("/users").status_code == 403
        csrf = _csrf(client.get("/").text)
        assert client.post(f"/users/{admin}/disable", data={"csrf_token": csrf}).status_code == 403
        assert client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf}).status_code == 403
    with _client(runtime) as client:
        _login(client, "ada")
        page = client.get("/users")
        assert page.status_code == 200
        assert "olive-ci" in page.text and f'action="/users/{olive}/disable"' in page.text
        assert f'action="/users/{admin}/disable"' not in page.text  # not their own account
        assert 'href="/users"' in page.text
        assert client.post(f"/users/{olive}/disable", follow_redirects=False).status_code == 403  # no CSRF token
        csrf = _csrf(page.text)
        assert client.post(f"/users/{olive}/disable", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        assert client.post(f"/users/{admin}/disable", data={"csrf_token": csrf}, follow_redirects=False).status_code == 400
        assert client.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        assert client.post("/tokens/999/revoke", data={"csrf_token": csrf}, follow_redirects=False).status_code == 404
        huge = client.post(f"/users/{10**30}/disable", data={"csrf_token": csrf}, follow_redirects=False)
        assert huge.status_code == 404  # out of range: no such row, never an integer overflow (500)
        page = client.get("/users").text
        assert f'action="/users/{olive}/enable"' in page and "revoked" in page
        assert client.post(f"/users/{olive}/enable", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with runtime.db.session() as s:
        assert s.get(User, olive).active and s.get(ApiToken, token_id).revoked
        actions = [a for (a,) in s.execute(select(AuditLogEntry.action).where(AuditLogEntry.actor == "ada"))]
    assert actions[-3:] == ["user.disable", "token.revoke", "user.enable"]
