"""Web-facing settings of issue 19 item 7: Secure cookies unless on loopback, the webhook dedup
window in days, and no secret setting that nothing reads."""

from __future__ import annotations

import pathlib
import re

import pytest
from pydantic import SecretStr

from marketbridge.settings import Settings, load_settings

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "marketbridge"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("MARKETBRIDGE_SECURE_COOKIES", "MARKETBRIDGE_WEB_HOST"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.1.1", "localhost", "::1", "[::1]", "LOCALHOST"])
def test_cookies_are_not_secure_by_default_only_on_loopback(host):
    assert load_settings(web_host=host).cookies_secure is False


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "marketbridge.example.com", "localhost.example.com"])
def test_cookies_are_secure_by_default_anywhere_else(host):
    assert load_settings(web_host=host).cookies_secure is True


def test_the_operator_can_force_either_way(monkeypatch):
    assert load_settings(web_host="0.0.0.0", secure_cookies=False).cookies_secure is False  # nosec B104
    assert load_settings(web_host="127.0.0.1", secure_cookies=True).cookies_secure is True
    monkeypatch.setenv("MARKETBRIDGE_SECURE_COOKIES", "true")
    assert load_settings().cookies_secure is True


def test_the_default_is_plain_http_on_the_default_loopback_bind():
    settings = load_settings()
    assert settings.web_host == "127.0.0.1" and settings.secure_cookies is None and not settings.cookies_secure


def test_webhook_redeliveries_are_recognised_for_a_week():
    assert load_settings().webhook_dedup_seconds == 7 * 86400


def test_every_secret_setting_is_read_by_the_code():
    """A secret nobody reads (``magento_webhook_secret`` was one) invites operators to configure
    and guard a value that protects nothing, while the real check is configured elsewhere."""
    code = "\n".join(p.read_text() for p in SRC.rglob("*.py") if p.name != "settings.py")
    unread = []
    for name, field in Settings.model_fields.items():
        if SecretStr not in getattr(field.annotation, "__args__", (field.annotation,)):
            continue
        parts = name.split("_")
        # alert_urls_customer_service is read as f"alert_urls_{team}"
        prefixes = ["_".join(parts[:n]) + "_{" for n in range(1, len(parts))]
        if not re.search(rf"\b{name}\b", code) and not any(f'f"{prefix}' in code for prefix in prefixes):
            unread.append(name)
    assert unread == []
    assert "magento_webhook_secret" not in Settings.model_fields
