import pytest

from marketbridge.settings import SettingsError, load_settings


def test_defaults_are_the_john_lewis_assumptions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MARKETBRIDGE_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.magento_store_code == "all"
    assert settings.stock_import_api == "STO01"
    assert settings.partial_acceptance is False
    assert settings.multi_shipment is False
    assert settings.order_tax_mode == "TAX_INCLUDED"
    assert settings.database_url == f"sqlite:///{tmp_path / 'marketbridge.sqlite'}"


def test_bad_value_stops_with_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("MARKETBRIDGE_STOCK_IMPORT_API", "OF24")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "MARKETBRIDGE_STOCK_IMPORT_API" in message


def test_secret_values_never_appear_in_errors_or_repr(monkeypatch):
    monkeypatch.setenv("MARKETBRIDGE_MIRAKL_API_KEY", "very-secret-key-123")
    monkeypatch.setenv("MARKETBRIDGE_WEB_PORT", "not-a-port")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "very-secret-key-123" not in str(caught.value)
    assert "MARKETBRIDGE_WEB_PORT" in str(caught.value)
    monkeypatch.delenv("MARKETBRIDGE_WEB_PORT")
    settings = load_settings()
    assert "very-secret-key-123" not in repr(settings)
    assert "very-secret-key-123" in settings.secret_values()


def test_postgres_urls_are_normalised_to_psycopg3():
    settings = load_settings(database_url="postgres://u@127.0.0.1/db")
    assert settings.database_url == "postgresql+psycopg://u@127.0.0.1/db"
    assert settings.is_postgres


def test_unsupported_database_url_is_refused():
    with pytest.raises(SettingsError, match="MARKETBRIDGE_DATABASE_URL"):
        load_settings(database_url="mysql://root@localhost/db")
