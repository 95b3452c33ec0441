"""The console's cookie-signing secret: no default, weak or known values refused, a secrets file,
the demo's own generated secret, and ``marketbridge run`` refusing to start without one."""

from __future__ import annotations

import secrets
import stat

import pytest
from typer.testing import CliRunner

from marketbridge import session_secret
from marketbridge.settings import SettingsError, load_settings

OLD_DEFAULT = "change-me-session-secret"


def test_there_is_no_default_secret(monkeypatch):
    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET", raising=False)
    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET_FILE", raising=False)
    assert load_settings().session_secret is None


@pytest.mark.parametrize("weak", [
    None, "", "   ", OLD_DEFAULT, "CHANGE-ME-session-secret-please-0123456789abcdef", "short-but-random-Zq9",
    "a" * 64, "ab" * 40, "0123456789" * 5, "replace-me-with-a-real-secret-0123456789ABCDEF",
    secrets.token_hex(16),  # 16 random bytes, not 32
])
def test_weak_missing_or_known_secrets_are_refused_naming_the_variable(weak):
    reason = session_secret.problem(weak)
    assert reason is not None and "MARKETBRIDGE_SESSION_SECRET" in reason
    if weak:
        assert weak not in reason  # never echoes the value
    with pytest.raises(SettingsError) as raised:
        session_secret.require(load_settings(session_secret=weak or None).session_secret)
    message = str(raised.value)
    assert "MARKETBRIDGE_SESSION_SECRET" in message and "\n" not in message


@pytest.mark.parametrize("strong", [secrets.token_urlsafe(32), secrets.token_urlsafe(48), secrets.token_hex(32)])
def test_random_secrets_of_32_bytes_are_accepted(strong):
    assert session_secret.problem(strong) is None
    assert session_secret.require(load_settings(session_secret=strong).session_secret) == strong


def test_the_secret_can_come_from_a_file(tmp_path, monkeypatch):
    value = secrets.token_urlsafe(48)
    path = tmp_path / "session-secret"
    path.write_text(value + "\n")
    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET", raising=False)
    monkeypatch.setenv("MARKETBRIDGE_SESSION_SECRET_FILE", str(path))
    assert load_settings().session_secret.get_secret_value() == value
    monkeypatch.setenv("MARKETBRIDGE_SESSION_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith("configuration error: MARKETBRIDGE_SESSION_SECRET_FILE cannot be read")


def test_the_demo_makes_its_secret_once_private_and_reuses_it(tmp_path):
    from marketbridge.demo import DemoConfig, ensure_session_secret, service_env

    config = DemoConfig(var_dir=tmp_path / "var")
    path = ensure_session_secret(config.session_secret_path)
    first = path.read_text().strip()
    assert session_secret.problem(first) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_session_secret(config.session_secret_path).read_text().strip() == first  # reused
    path.write_text(OLD_DEFAULT)
    assert ensure_session_secret(config.session_secret_path).read_text().strip() not in (first, OLD_DEFAULT)
    env = service_env(config)
    assert env["MARKETBRIDGE_SESSION_SECRET_FILE"] == str(path.resolve())
    assert "MARKETBRIDGE_SESSION_SECRET" not in env


@pytest.mark.parametrize("value", [None, OLD_DEFAULT])
def test_run_refuses_to_start_without_a_strong_secret(value, tmp_path, monkeypatch):
    from marketbridge.cli import app

    monkeypatch.setenv("MARKETBRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'mb.sqlite'}")
    monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET_FILE", raising=False)
    if value is None:
        monkeypatch.delenv("MARKETBRIDGE_SESSION_SECRET", raising=False)
    else:
        monkeypatch.setenv("MARKETBRIDGE_SESSION_SECRET", value)
    result = CliRunner().invoke(app, ["run", "--port", "1"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "MARKETBRIDGE_SESSION_SECRET" in lines[0], result.output
    assert not (tmp_path / "mb.sqlite").exists()  # refused before touching anything


@pytest.mark.parametrize("value", [None, OLD_DEFAULT, "a" * 64, secrets.token_hex(16)])
def test_check_reports_a_missing_weak_or_known_secret(value):
    from types import SimpleNamespace

    from marketbridge.services.check import service_checks

    [result] = service_checks(SimpleNamespace(settings=load_settings(session_secret=value)))
    assert not result.ok and "MARKETBRIDGE_SESSION_SECRET" in result.message
    [good] = service_checks(SimpleNamespace(settings=load_settings(session_secret=secrets.token_urlsafe(48))))
    assert good.ok
