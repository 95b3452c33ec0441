"""Cart routes a set-up check uses without placing an order: estimate the shipping methods,
list the payment methods, remove an item (so the test cart is left empty).

``POST /V1/carts/{cartId}/estimate-shipping-methods`` takes ``{"address": {...}}`` and answers
``quote-data-shipping-method-interface`` rows (``carrier_code``, ``method_code``, ``amount``...;
sample ``cart-estimate-shipping-response.json``); ``GET /V1/carts/{cartId}/payment-methods``
answers ``[{code, title}]``; ``DELETE /V1/carts/{cartId}/items/{itemId}`` answers ``true``.
Guest variants take the masked cart id. Registered by importing this module (``app.py``).
"""

from __future__ import annotations

from typing import Any

from . import sales
from .errors import ApiError, bad_request
from .routes import Ctx, route


def _cart(ctx: Ctx, guest: bool) -> dict[str, Any]:
    return sales.get_cart(ctx.state, ctx.params["cartId"], guest=guest)


def _estimate(ctx: Ctx, guest: bool) -> Any:
    cart = _cart(ctx, guest)
    body = ctx.body if isinstance(ctx.body, dict) else {}
    if not isinstance(body.get("address"), dict):
        raise bad_request('"%fieldName" is required. Enter and try again.', {"fieldName": "address"})
    if not cart["items"]:
        return []  # Magento estimates nothing for an empty cart
    subtotal = sum(line["price"] * line["qty"] for line in cart["items"])
    return ctx.state.checkout.rates(subtotal, sum(line["qty"] for line in cart["items"]))


@route("POST", "/V1/carts/{cartId}/estimate-shipping-methods", "Magento_Cart::manage")
def admin_estimate(ctx: Ctx) -> Any:
    return _estimate(ctx, False)


@route("POST", "/V1/guest-carts/{cartId}/estimate-shipping-methods", None)
def guest_estimate(ctx: Ctx) -> Any:
    return _estimate(ctx, True)


def _payment_methods(ctx: Ctx, guest: bool) -> Any:
    cart = _cart(ctx, guest)
    total = float(sales._cart_totals(cart)["grand_total"])
    return ctx.state.checkout.available_payment_methods(total)


@route("GET", "/V1/carts/{cartId}/payment-methods", "Magento_Cart::manage")
def admin_payment_methods(ctx: Ctx) -> Any:
    return _payment_methods(ctx, False)


@route("GET", "/V1/guest-carts/{cartId}/payment-methods", None)
def guest_payment_methods(ctx: Ctx) -> Any:
    return _payment_methods(ctx, True)


def _remove_item(ctx: Ctx, guest: bool) -> Any:
    cart = _cart(ctx, guest)
    item_id = ctx.int_param("itemId")
    kept = [line for line in cart["items"] if line["item_id"] != item_id]
    if len(kept) == len(cart["items"]):
        raise ApiError(404, "The %1 Cart doesn't contain the %2 item.", [str(cart["id"]), str(item_id)])
    cart["items"] = kept
    return True


@route("DELETE", "/V1/carts/{cartId}/items/{itemId}", "Magento_Cart::manage")
def admin_remove_item(ctx: Ctx) -> Any:
    return _remove_item(ctx, False)


@route("DELETE", "/V1/guest-carts/{cartId}/items/{itemId}", None)
def guest_remove_item(ctx: Ctx) -> Any:
    return _remove_item(ctx, True)
