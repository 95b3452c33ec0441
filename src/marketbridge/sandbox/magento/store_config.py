"""The simulated store's checkout configuration: which payment methods and carriers are enabled.

A real Adobe Commerce accepts only the methods enabled in its configuration (Stores >
Configuration > Sales > Payment Methods / Delivery Methods), and the simulator does the same, with
the defaults of a fresh 2.4 store (see docs/api-notes.md, "Issue 14: stock export, stock
resolution, checkout methods"):

* payment: ``checkmo`` and ``free`` active (``Magento/OfflinePayments/etc/config.xml``,
  ``Magento/Payment/etc/config.xml``); ``banktransfer``, ``cashondelivery``, ``purchaseorder``
  inactive; the simulator's gateway stands for an online method a merchant would configure, so
  it is inactive too;
* ``free`` is available only when the cart's grand total rounds to 0
  (``Payment/Model/Method/Free::isAvailable``), and a zero-total cart accepts only ``free``
  (``Payment/Model/Checks/ZeroTotal``);
* carriers: ``flatrate`` active (5.00 per item), ``tablerate`` and ``freeshipping`` inactive
  (``Magento/OfflineShipping/etc/config.xml``). An enabled ``freeshipping`` offers its rate when
  the cart's subtotal reaches ``free_shipping_subtotal`` (always, when none is set).

Tests, the demo and the soak enable more, as a merchant would, through ``create_app(...)``,
``marketbridge sandbox --payment-methods/--carriers`` or ``POST /_sandbox/checkout-config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request

PAYMENT_TITLES = {
    "checkmo": "Check / Money order",
    "banktransfer": "Bank Transfer Payment",
    "cashondelivery": "Cash On Delivery",
    "purchaseorder": "Purchase Order",
    "free": "No Payment Information Required",
    # A gateway-like method whose invoices can be refunded online (POST /V1/invoice/{id}/refund).
    "sandbox_gateway": "Sandbox Card Gateway",
}
FRESH_STORE_PAYMENT = frozenset({"checkmo", "free"})
# (carrier, method) -> (carrier title, method title, price per item)
CARRIER_RATES = {
    ("flatrate", "flatrate"): ("Flat Rate", "Fixed", 5.0),
    ("freeshipping", "freeshipping"): ("Free Shipping", "Free", 0.0),
    ("tablerate", "bestway"): ("Best Way", "Table Rate", 5.0),
}
FRESH_STORE_CARRIERS = frozenset({"flatrate"})
NOT_AVAILABLE = "The requested Payment Method is not available."


@dataclass
class CheckoutConfig:
    payment_methods: set[str] = field(default_factory=lambda: set(FRESH_STORE_PAYMENT))
    carriers: set[str] = field(default_factory=lambda: set(FRESH_STORE_CARRIERS))
    free_shipping_subtotal: float | None = None

    def update(self, body: Any) -> dict[str, Any]:
        """``{"payment_methods": {"banktransfer": true}, "carriers": {"freeshipping": true},
        "free_shipping_subtotal": 50}``: switch methods on or off (unknown codes are a 400)."""
        if not isinstance(body, dict):
            raise bad_request("a JSON object is expected")
        for key, known, enabled in (("payment_methods", PAYMENT_TITLES, self.payment_methods),
                                    ("carriers", {c for c, _ in CARRIER_RATES}, self.carriers)):
            for code, on in (body.get(key) or {}).items():
                if code not in known:
                    raise bad_request(f"unknown {key[:-1].replace('_', ' ')} '{code}'")
                (enabled.add if on else enabled.discard)(code)
        if "free_shipping_subtotal" in body:
            value = body["free_shipping_subtotal"]
            self.free_shipping_subtotal = None if value is None else float(value)
        return self.render()

    def render(self) -> dict[str, Any]:
        return {"payment_methods": sorted(self.payment_methods), "carriers": sorted(self.carriers),
                "free_shipping_subtotal": self.free_shipping_subtotal}

    # ---------------------------------------------------------------- payment
    def available_payment_methods(self, grand_total: float) -> list[dict[str, str]]:
        """What ``GET /V1/carts/{id}/payment-methods`` and ``shipping-information`` list."""
        zero = grand_total < 0.0001  # ZeroTotal: base_grand_total < 0.0001 accepts only free
        codes = [c for c in PAYMENT_TITLES if c in self.payment_methods and (c == "free") == zero]
        return [{"code": c, "title": PAYMENT_TITLES[c]} for c in codes]

    def check_payment(self, method: str, grand_total: float) -> None:
        if method not in {m["code"] for m in self.available_payment_methods(grand_total)}:
            raise bad_request(NOT_AVAILABLE)

    # ---------------------------------------------------------------- shipping
    def rates(self, subtotal: float, items_qty: float) -> list[dict[str, Any]]:
        """``estimate-shipping-methods`` rows for a cart (``quote-data-shipping-method-interface``)."""
        out = []
        for (carrier, method), (carrier_title, method_title, per_item) in CARRIER_RATES.items():
            if carrier not in self.carriers:
                continue
            if carrier == "freeshipping" and self.free_shipping_subtotal is not None \
                    and subtotal < self.free_shipping_subtotal:
                continue
            amount = round(per_item * items_qty, 4)
            out.append({"carrier_code": carrier, "method_code": method, "carrier_title": carrier_title,
                        "method_title": method_title, "amount": amount, "base_amount": amount,
                        "available": True, "error_message": "", "price_excl_tax": amount,
                        "price_incl_tax": amount})
        return out

    def rate(self, carrier: str, method: str, subtotal: float, items_qty: float) -> dict[str, Any]:
        """The rate ``shipping-information`` sets, or Magento's ``NoSuchEntityException`` (404) for
        a carrier that is unknown, disabled or offers no rate for this cart
        (``Checkout/Model/ShippingInformationManagement``)."""
        for row in self.rates(subtotal, items_qty):
            if (row["carrier_code"], row["method_code"]) == (carrier, method):
                return row
        raise ApiError(404, "Carrier with such method not found: %1, %2", [carrier, method])
