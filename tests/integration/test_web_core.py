from starlette.testclient import TestClient

from marketbridge.adapters.db.people import SqlPeopleRepository
from marketbridge.domain.auth import Role
from marketbridge.services import auth
from marketbridge.web.app import create_app


def client_for(runtime):
    return TestClient(create_app(runtime, start_engine=False))


def test_health_needs_no_authentication(runtime):
    with client_for(runtime) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "ok", "engine": "not running"}


def test_json_api_requires_a_valid_bearer_token(runtime):
    with runtime.db.session() as s:
        user = auth.create_user(SqlPeopleRepository(s), "ops1", Role.OPS, "correct horse battery")
        token = auth.create_token(SqlPeopleRepository(s), user)
    with client_for(runtime) as client:
        assert client.get("/api/exceptions").status_code == 401
        assert client.get("/api/exceptions", headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = client.get("/api/exceptions", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == []
        assert client.get("/api/exceptions?owner=nobody", headers={"Authorization": f"Bearer {token}"}).status_code == 422


def test_passwords_are_hashed_and_checked(runtime):
    with runtime.db.session() as s:
        user = auth.create_user(SqlPeopleRepository(s), "fin1", Role.FINANCE, "a long passphrase")
        assert "a long passphrase" not in user.password_hash
        assert user.password_hash.startswith("$argon2")
    with runtime.db.session() as s:
        assert auth.authenticate(SqlPeopleRepository(s), "fin1", "a long passphrase").name == "fin1"
        assert auth.authenticate(SqlPeopleRepository(s), "fin1", "wrong") is None
        assert auth.authenticate(SqlPeopleRepository(s), "nobody", "a long passphrase") is None
