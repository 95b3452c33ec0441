"""Real shapes: Adobe's documented checkout and MSI samples through our parsers and decisions."""

from __future__ import annotations

import json

import pytest

from marketbridge.adapters.errors import Rejected
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.magento.checkout import choose_payment_method
from tests.reference import REFERENCE_ROOT, requires_reference

pytestmark = requires_reference
SAMPLES = REFERENCE_ROOT / "magento" / "samples"


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


def test_shipping_information_sample_pays_with_the_configured_method_it_lists():
    details = magento_models.PaymentDetails.model_validate(sample("cart-shipping-information-response.json"))
    assert details.totals.grand_total == 165
    assert choose_payment_method("checkmo", details) == "checkmo"
    assert choose_payment_method("banktransfer", details) == "banktransfer"


def test_shipping_information_sample_refuses_a_method_it_does_not_list_and_names_the_offered_ones():
    details = magento_models.PaymentDetails.model_validate(sample("cart-shipping-information-response.json"))
    with pytest.raises(Rejected) as refused:
        choose_payment_method("free", details)  # free is listed only at a zero total
    assert "cashondelivery, banktransfer, purchaseorder, checkmo" in refused.value.message


def test_a_zero_total_pays_with_free_only():
    data = sample("cart-shipping-information-response.json")
    data["totals"]["grand_total"] = 0
    data["payment_methods"] = [{"code": "free", "title": "No Payment Information Required"}]
    assert choose_payment_method("checkmo", magento_models.PaymentDetails.model_validate(data)) == "free"
    data["payment_methods"] = []
    with pytest.raises(Rejected, match="only the 'free' method"):
        choose_payment_method("checkmo", magento_models.PaymentDetails.model_validate(data))


def test_estimate_shipping_sample_parses_into_carrier_and_method_codes():
    rates = [magento_models.ShippingMethod.model_validate(r) for r in sample("cart-estimate-shipping-response.json")]
    assert [(r.carrier_code, r.method_code, r.amount) for r in rates] == [
        ("flatrate", "flatrate", 15), ("tablerate", "bestway", 5)]
    assert all(r.available for r in rates)


def test_estimate_shipping_request_sample_address_is_what_we_send():
    address = sample("cart-estimate-shipping-request.json")["address"]
    parsed = magento_models.Address.model_validate({k: v for k, v in address.items()
                                                    if k in magento_models.Address.model_fields})
    assert parsed.country_id == "US" and parsed.street == ["123 Oak Ave"]


def test_stock_resolver_sample_gives_the_websites_stock():
    stock = magento_models.Stock.model_validate(sample("stock-resolver-response.json"))
    assert stock.stock_id == 2
    assert [(c.type, c.code) for c in stock.extension_attributes.sales_channels] == [("website", "na_site")]
