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
    return CliRunner().invoke(app, ["check"], terminal_width=int(values["COLUMNS"]))


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


def test_check_says_what_to_enable_when_the_store_lacks_the_configured_payment_method(monkeypatch, db_url,
                                                                                     fresh_sandboxes):
    """A fresh store has checkmo and free only: an order flow set up for bank transfer would fail
    on the first order. The check says so, and what to enable, before going live."""
    import httpx2

    result = run_check(monkeypatch, db_url, fresh_sandboxes, MARKETBRIDGE_MAGENTO_PAYMENT_METHOD="banktransfer",
                       COLUMNS="2000")
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "'banktransfer'" in output and "MARKETBRIDGE_MAGENTO_PAYMENT_METHOD" in output
    assert "Stores > Configuration > Sales > Payment Methods" in output
    assert "offered: checkmo" in output
    assert "1 check(s) need attention" in output
    # a trial cart, never an order: nothing placed, nothing reserved, its item removed again
    assert httpx2.get(f"{fresh_sandboxes.magento_url}/_sandbox/orders").json() == []
    state = fresh_sandboxes.magento_app.state.sandbox
    assert state.carts and all(not cart["items"] for cart in state.carts.values())
    assert not state.reservations


def test_check_says_to_enable_free_shipping_on_a_fresh_store(monkeypatch, db_url):
    """Free-delivery orders use Free Shipping, which a fresh store has disabled."""
    from tests.conftest import start_sandboxes

    boxes = start_sandboxes(carriers=["flatrate"])
    try:
        result = run_check(monkeypatch, db_url, boxes, COLUMNS="2000")
    finally:
        boxes.stop()
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "free-delivery orders use freeshipping_freeshipping" in output
    assert "Stores > Configuration > Sales > Delivery Methods" in output
    assert "Offered: flatrate_flatrate" in output


def test_check_names_the_website_setting_when_no_stock_serves_the_website(monkeypatch, db_url, fresh_sandboxes):
    # fresh sandboxes: Mirakl allows A01 about once a day (scaled), and the module's are spent
    result = run_check(monkeypatch, db_url, fresh_sandboxes, MARKETBRIDGE_MAGENTO_WEBSITE_CODE="nowhere",
                       COLUMNS="2000")
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "No MSI stock is assigned to website 'nowhere'" in output
    assert "MARKETBRIDGE_MAGENTO_WEBSITE_CODE" in output
    assert "no stock to try a cart on" in output
