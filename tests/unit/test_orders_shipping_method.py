from marketbridge.services.orders.creation import shipping_method_for
from marketbridge.settings import load_settings


def test_free_delivery_on_the_marketplace_uses_magentos_free_method():
    settings = load_settings()
    assert shipping_method_for(settings, 0.0) == "freeshipping_freeshipping"
    assert shipping_method_for(settings, 5.0) == "flatrate_flatrate"


def test_the_free_method_can_be_switched_off():
    settings = load_settings(magento_free_shipping_method=None)
    assert shipping_method_for(settings, 0.0) == "flatrate_flatrate"
