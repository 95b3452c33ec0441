"""Checkout facts a real store decides by its configuration: which payment method an order may
use, and a trial cart that shows what the store offers without placing anything.

Adobe Commerce accepts only payment methods enabled for the store and available for the cart:
``free`` only when the grand total is 0, and nothing else then (``Payment/Model/Checks/ZeroTotal``);
``shipping-information`` answers the methods available for the cart in ``payment_methods``. A
carrier that is disabled, unknown or has no rate for the cart is a 404 "Carrier with such method
not found" on ``shipping-information`` (``Checkout/Model/ShippingInformationManagement``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from marketbridge.adapters.errors import NotFound, Rejected
from marketbridge.adapters.magento import models as magento_models

if TYPE_CHECKING:
    from marketbridge.adapters.magento.client import MagentoClient

ZERO_TOTAL = 0.0001  # ZeroTotal's threshold on the base grand total


def choose_payment_method(configured: str, details: magento_models.PaymentDetails) -> str:
    """The method to place a cart with: ``free`` at a zero total, else the configured one if the
    store offers it for this cart. Otherwise a :class:`Rejected` that says what to enable, before
    Magento's own "The requested Payment Method is not available." would."""
    offered = [m.code for m in details.payment_methods]
    total = details.totals.grand_total
    if total is not None and total < ZERO_TOTAL and "free" in offered:
        return "free"
    if configured in offered:
        return configured
    if total is not None and total < ZERO_TOTAL:
        reason = "the order's total is 0, and Adobe Commerce then accepts only the 'free' method, which is disabled"
    else:
        reason = f"'{configured}' is not enabled for this store (offered: {', '.join(offered) or 'none'})"
    raise Rejected(f"Payment method not available: {reason}. Enable it under Stores > Configuration > Sales > "
                   "Payment Methods.", api="payment-methods")


def carrier_refused(error: NotFound, carrier: str, method: str) -> Rejected | None:
    """A 404 from ``shipping-information`` that names the carrier: a set-up problem no retry fixes."""
    if "Carrier with such method not found" not in error.message:
        return None
    return Rejected(f"Shipping method {carrier}_{method} is not available in Adobe Commerce for this cart (disabled, "
                    "or no rate for it). Enable it under Stores > Configuration > Sales > Delivery Methods.",
                    api="shipping-information", status=error.status)


def trial_checkout(client: MagentoClient, line: magento_models.CartLine,
                   address: magento_models.Address) -> magento_models.CheckoutOptions:
    """An admin cart with one line: the shipping rates for ``address`` and the payment methods it
    is offered. Nothing is placed and nothing is reserved (MSI reserves at placement only); the
    item is removed again, so what stays is an empty quote, which Magento's quote clean-up
    removes with the other abandoned carts."""
    cart_ref = str(client._call("POST", "/V1/carts/"))
    ids = {"cartId": cart_ref}
    item = magento_models.CartItemInput(sku=line.sku, qty=line.qty, quote_id=cart_ref,
                                        product_option=line.product_option())
    added = client._call("POST", "/V1/carts/{cartId}/items", path_params=ids, body={"cartItem": item.payload()})
    try:
        rates = client._call("POST", "/V1/carts/{cartId}/estimate-shipping-methods", path_params=ids,
                             body={"address": address.payload()})
        methods = client._call("GET", "/V1/carts/{cartId}/payment-methods", path_params=ids)
    finally:
        item_id = (added or {}).get("item_id") if isinstance(added, dict) else None
        if item_id is not None:
            client._call("DELETE", "/V1/carts/{cartId}/items/{itemId}",
                         path_params={"cartId": cart_ref, "itemId": item_id})
    return magento_models.CheckoutOptions.model_validate(
        {"shipping_methods": rates or [], "payment_methods": methods or []})
