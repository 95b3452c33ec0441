"""``marketbridge check`` against the sandboxes: all green, then plain words for what to fix."""

from typer.testing import CliRunner

from marketbridge.cli import app
from tests.conftest import TEST_SESSION_SECRET


def run_check(monkeypatch, db_url, sandboxes, **env):
    values = {
        "MARKETBRIDGE_DATABASE_URL": db_url,
        "MARKETBRIDGE_MAGENTO_BASE_URL": sandboxes.magento_url,
        "MARKETBRIDGE_MIRAKL_BASE_URL": sandboxes.mirakl_url,
        "MARKETBRIDGE_SESSION_SECRET": TEST_SESSION_SECRET,
        "COLUMNS": "250",
        **env,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return CliRunner().invoke(app, ["check"], terminal_width=200)


def test_check_passes_against_working_connections(monkeypatch, db_url, sandboxes):
    result = run_check(monkeypatch, db_url, sandboxes)
    assert result.exit_code == 0, result.output
    assert "Both connections work." in result.output
    assert "Signed in as shop 2001" in result.output


def test_check_names_what_to_fix_without_echoing_secrets(monkeypatch, db_url, sandboxes):
    result = run_check(
        monkeypatch, db_url, sandboxes,
        MARKETBRIDGE_MIRAKL_API_KEY="wrong-distinctive-key-42",
        MARKETBRIDGE_MAGENTO_STORE_CODE="nostore",
    )
    assert result.exit_code == 1
    assert "MARKETBRIDGE_MIRAKL_API_KEY" in result.output
    assert "MARKETBRIDGE_MAGENTO_STORE_CODE" in result.output
    assert "wrong-distinctive-key-42" not in result.output
    assert "2 check(s) need attention" in result.output


def test_check_fails_on_the_old_default_session_secret(monkeypatch, db_url, fresh_sandboxes):
    result = run_check(monkeypatch, db_url, fresh_sandboxes, MARKETBRIDGE_SESSION_SECRET="change-me-session-secret")
    assert result.exit_code == 1, result.output
    assert "MARKETBRIDGE_SESSION_SECRET" in result.output
    assert "1 check(s) need attention" in result.output
