"""Every official sample and schema under ``../shared/reference`` is either read by a named test
or listed here with the reason marketbridge does not read it.

The real-shapes tier exists because simulator and client were written from the same reading of
the documentation: only the vendors' own files can show where that reading was wrong. A sample
that no test reads is a fact nobody checked; a sample added to the references later fails this
test until someone decides which it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference import REFERENCE_ROOT as REFERENCE
from tests.reference import requires_reference

TESTS = Path(__file__).resolve().parents[1]

#: reference file (relative to ../shared/reference) → the test modules that read it.
READ_BY: dict[str, tuple[str, ...]] = {
    "magento/fixtures/msi-api-functional-fixture.json": ("integration/test_magento_sandbox.py",),
    "magento/samples/bundle-options-all-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-add-bundle-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-add-bundle-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-add-configurable-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-add-configurable-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-add-simple-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-add-simple-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-estimate-shipping-request.json": ("realworld/test_magento_checkout_and_stock.py",),
    "magento/samples/cart-estimate-shipping-response.json": ("realworld/test_magento_checkout_and_stock.py",),
    "magento/samples/cart-payment-information-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-shipping-information-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/cart-shipping-information-response.json": ("contract/test_magento_schema.py",
                                                                "realworld/test_magento_checkout_and_stock.py"),
    "magento/samples/error-response-example.json": ("contract/test_magento_schema.py",),
    "magento/samples/invoice-get-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/io-event-nested-fields-example.json": ("realworld/test_adobe_commerce_events.py",),
    "magento/samples/io-event-observer-catalog_product_save_after.json": ("realworld/test_adobe_commerce_events.py",),
    "magento/samples/io-event-observer-sales_order_invoice_save_after.json": (
        "realworld/test_adobe_commerce_events.py",),
    "magento/samples/order-get-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/order-invoice-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/order-refund-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/order-ship-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/order-ship-with-source-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/source-items-delete-request.json": ("contract/test_magento_schema.py",),
    "magento/samples/source-items-save-request.json": ("contract/test_magento_schema.py",
                                                       "realworld/test_adobe_commerce_events.py"),
    "magento/samples/source-items-search-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/sources-assigned-to-stock-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/stock-resolver-response.json": ("realworld/test_magento_checkout_and_stock.py",),
    "magento/samples/stock-source-links-search-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/stocks-search-response.json": ("contract/test_magento_schema.py",),
    "magento/samples/webhook-endpoint-response-success.json": ("realworld/test_adobe_commerce_events.py",),
    "magento/samples/webhook-payload-observer-sales_quote_add_item-shape.json": (
        "realworld/test_adobe_commerce_events.py",),
    "magento/samples/webhook-payload-plugin-shipment_estimation-example.json": (
        "realworld/test_adobe_commerce_events.py",),
    "magento/admin-schema-2.4.8.yaml": ("contract/test_magento_schema.py",),
    "mirakl/mirakl-mmp-seller-openapi.json": ("contract/test_mirakl_contract.py", "realworld/test_offers.py"),
    "mirakl/OF03.response.200.error-report.csv": ("contract/test_mirakl_contract.py", "realworld/test_offers.py"),
    "mirakl/OF21.response.200.json": ("contract/test_mirakl_contract.py", "realworld/test_offers.py"),
    "mirakl/OR11.response.200.json": ("contract/test_mirakl_contract.py", "realworld/test_mirakl_or11.py"),
    "mirakl/P42.response.200.json": ("contract/test_mirakl_contract.py", "realworld/test_offers.py"),
    **{f"mirakl/{name}": ("contract/test_mirakl_contract.py",) for name in (
        "A01.response.200.json", "H11.response.200.json", "OF01.request.offers-file.csv", "OF02.response.200.json",
        "OF04.response.200.json", "OF24.request.json", "OF24.response.201.json", "OF53.response.200.completed.json",
        "OR21.request.json", "OR23.request.json", "OR28.request.json", "OR28.response.200.json", "OR30.request.json",
        "OR30.response.200.json", "P51.response.200.json", "PM11.response.200.json", "RE01.response.200.json",
        "SH12.response.200.json", "SH21.response.200.json", "ST01.request.json", "ST01.response.201.json",
        "ST12.response.200.json", "ST24.response.200.json", "VL11.response.200.json")},
}

#: reference file → why no test reads it.
NOT_READ: dict[str, str] = {
    "magento/SOURCES.md": "the index of where each Magento file came from; prose",
    "mirakl/SOURCES.md": "the index of where each Mirakl file came from; prose",
    "magento/admin-schema-2.4.7.yaml": "an older release; the contract tests pin 2.4.8, the version we target",
    "magento/admin-schema-2.4.9.yaml": "a newer release; the contract tests pin 2.4.8, the version we target",
    "magento/samples/are-products-salable-response.json": "we read salable quantities (export, "
    "get-product-salable-quantity), not the yes/no salability",
    "magento/samples/is-product-salable-for-requested-qty-response.json": "as above: a yes/no per quantity, "
    "which cannot say how many units to offer",
    "magento/samples/async-bulk-response.json": "we call no asynchronous bulk endpoint: our writes are "
    "per order and must be read back at once",
    "magento/samples/async-response.json": "as above",
    "magento/samples/bulk-detailed-status-response.json": "as above",
    "magento/samples/bulk-search-response.json": "as above",
    "magento/samples/bulk-status-response.json": "as above",
    "magento/samples/customers-search-response.json": "marketplace orders are placed as guest carts; we never "
    "search Adobe Commerce's customers",
    "magento/samples/webhook-endpoint-response-exception.json": "marketbridge never answers a hook with an "
    "operation that changes the save (docs/setup/adobe-commerce.md); the success answer is tested",
    "magento/samples/webhooks-list-response.json": "hook registration is the merchant's, in the Admin or "
    "webhooks.xml (docs/setup/adobe-commerce.md); marketbridge registers nothing",
    "magento/samples/webhooks-subscribe-request.json": "as above",
}


def _reference_files() -> list[str]:
    return sorted(str(path.relative_to(REFERENCE)) for path in REFERENCE.rglob("*") if path.is_file())


pytestmark = requires_reference


def test_every_reference_file_is_read_by_a_test_or_says_why_not() -> None:
    files = _reference_files()
    unclassified = [name for name in files if name not in READ_BY and name not in NOT_READ]
    assert unclassified == [], "classify these reference files in tests/realworld/test_every_sample.py"
    stale = sorted((set(READ_BY) | set(NOT_READ)) - set(files))
    assert stale == [], "these reference files are gone: remove them from the tables"


@pytest.mark.parametrize("name", sorted(READ_BY))
def test_the_named_tests_really_read_the_file(name: str) -> None:
    """The table cannot drift from the tests: each module it names mentions the file by name."""
    stem = Path(name).name
    for module in READ_BY[name]:
        source = (TESTS / module).read_text()
        assert stem in source or stem.rsplit(".", 1)[0] in source, f"{module} does not read {stem}"
