"""Carts, orders, invoices, shipments and credit memos of the simulated store.

What is reproduced on purpose (MAGENTO.md §7–§10):

* the admin/guest cart flow places an order and **reserves** stock (MSI ``order_placed``);
  ``POST /V1/orders`` saves whatever it is given and reserves **nothing** (#26575);
* shipping deducts the shipment's source and appends a compensating ``+qty`` reservation
  (``shipment_created``) — also for orders that never reserved, which is the real MSI bug that
  leaves their salable quantity overstated;
* cancel compensates the unshipped quantity; a credit memo compensates the refunded-but-unshipped
  quantity and returns ``return_to_stock_items`` to the source;
* ``shipping_amount`` omitted on a refund refunds the remaining shipping;
* the order state machine of ``StateResolver`` (new → processing → complete → closed, canceled,
  holded) with the document validation messages Magento sends.

All functions run under ``SandboxState.lock`` (taken by the router) and raise ``ApiError``.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any, cast

from .catalog import COMPOSITE_TYPES, Product
from .errors import ApiError, bad_request, not_found_entity, not_found_product, required, type_error
from .state import DEFAULT_SOURCE, SandboxState, _num, utc_now
from .store_config import PAYMENT_TITLES

CURRENCY = "GBP"
CURRENCY_SYMBOL = "£"
OFFLINE_METHODS = {c: t for c, t in PAYMENT_TITLES.items() if c != "sandbox_gateway"}
# A gateway-like method whose invoices can be refunded online (POST /V1/invoice/{id}/refund).
ONLINE_METHODS = {"sandbox_gateway": PAYMENT_TITLES["sandbox_gateway"]}
STATUS_OF_STATE = {
    "new": "pending",
    "processing": "processing",
    "complete": "complete",
    "closed": "closed",
    "canceled": "canceled",
    "holded": "holded",
}
EPS = 0.00001


def money(value: float) -> float | int:
    return _num(round(value + 0.0, 4))


def fmt_money(value: float) -> str:
    return f"{CURRENCY_SYMBOL}{value:,.2f}"


def _float(field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise type_error(field, value, "float")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise type_error(field, value, "float") from None


def _int(field: str, value: Any) -> int:
    if isinstance(value, bool):
        raise type_error(field, value, "int")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise type_error(field, value, "int") from None
    if not number.is_integer():
        raise type_error(field, value, "int")
    return int(number)


def _obj(body: Any, key: str, *, optional: bool = False) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("Decoding error.")
    value = body.get(key)
    if value is None:
        if optional:
            return {}
        raise required(key)
    if not isinstance(value, dict):
        raise type_error(key, value, "object")
    return value


# ====================================================================== carts
def create_cart(state: SandboxState, *, customer_id: int | None = None, guest: bool = False) -> int | str:
    cart_id = state.next_id("quote")
    cart: dict[str, Any] = {
        "id": cart_id,
        "customer_id": customer_id,
        "masked_id": None,
        "items": [],
        "is_active": True,
        "reserved_order_id": None,
        "shipping": None,
        "billing_address": None,
        "email": None,
        "created_at": utc_now(),
    }
    if customer_id is not None:
        customer = state.customers.get(customer_id)
        if customer is None:
            raise ApiError(
                404,
                "No such entity with %fieldName = %fieldValue",
                {"fieldName": "customerId", "fieldValue": customer_id},
            )
        for existing in state.carts.values():
            if existing["customer_id"] == customer_id and existing["is_active"]:
                state.counters["quote"] -= 1
                return int(existing["id"])
        cart["email"] = customer["email"]
    state.carts[cart_id] = cart
    if guest:
        masked = secrets.token_hex(16)
        cart["masked_id"] = masked
        state.masked_carts[masked] = cart_id
        return masked
    return cart_id


def get_cart(state: SandboxState, cart_ref: str, *, guest: bool) -> dict[str, Any]:
    if guest:
        cart_id = state.masked_carts.get(cart_ref)
    else:
        try:
            cart_id = int(cart_ref)
        except ValueError:
            cart_id = None
    cart = state.carts.get(cart_id) if cart_id is not None else None
    if cart is None:
        raise ApiError(
            404,
            "No such entity with %fieldName = %fieldValue",
            {"fieldName": "cartId", "fieldValue": cart_ref},
        )
    if not cart["is_active"]:
        raise ApiError(
            404,
            "No such entity with %fieldName = %fieldValue",
            {"fieldName": "cartId", "fieldValue": cart_ref},
        )
    return cart


def add_cart_item(state: SandboxState, cart: dict[str, Any], body: Any) -> dict[str, Any]:
    item = _obj(body, "cartItem")
    if "qty" not in item:
        raise required("qty")
    qty = _float("qty", item["qty"])
    if qty <= 0:
        raise bad_request("The qty value is required to update quote item.")
    sku = item.get("sku")
    if not sku:
        raise required("sku")
    product = state.products.get(str(sku))
    if product is None:
        raise ApiError(404, "The product that was requested doesn't exist. Verify the product and try again.")
    if product.status != 1:
        raise bad_request("Product that you are trying to add is not available.")
    option = item.get("product_option") or {}
    ext = (option.get("extension_attributes") or {}) if isinstance(option, dict) else {}
    quote_item: dict[str, Any] = {
        "item_id": state.next_id("quote_item"),
        "qty": qty,
        "quote_id": str(cart["id"] if cart["masked_id"] is None else cart["masked_id"]),
        "product": product.sku,
        "name": product.name,
        "product_type": product.type_id,
        "price": product.effective_price(),
        "children": [],  # (Product, qty per parent unit)
        "custom_options": [],
        "product_option": option if option else None,
    }
    if product.type_id == "configurable":
        options = ext.get("configurable_item_options") or []
        child = state.configurable_child(product, options) if options else None
        if child is None:
            raise bad_request("You need to choose options for your item.")
        if child.status != 1:
            raise bad_request("Product that you are trying to add is not available.")
        quote_item["children"] = [(child, 1.0)]
        quote_item["sku"] = child.sku
        quote_item["price"] = child.effective_price()
    elif product.type_id == "bundle":
        selections = ext.get("bundle_options") or []
        by_option = {o["option_id"]: o for o in product.bundle_options}
        chosen: list[tuple[Product, float]] = []
        for selection in selections:
            option_def = by_option.get(_int("option_id", selection.get("option_id")))
            if option_def is None:
                raise bad_request("Please specify product option(s).")
            links = {int(link["id"]): link for link in option_def["product_links"]}
            option_qty = _float("option_qty", selection.get("option_qty", 1))
            for link_id in selection.get("option_selections") or []:
                link = links.get(_int("option_selections", link_id))
                if link is None:
                    raise bad_request("The options you selected are not available.")
                chosen.append((state.products[link["sku"]], option_qty * float(link.get("qty", 1))))
        required_options = {o["option_id"] for o in product.bundle_options if o["required"]}
        given = {_int("option_id", s.get("option_id")) for s in selections}
        if not required_options <= given:
            raise bad_request("Please specify product option(s).")
        quote_item["children"] = chosen
        quote_item["sku"] = "-".join([product.sku] + [c.sku for c, _ in chosen])
        quote_item["price"] = product.effective_price()
    else:
        quote_item["sku"] = product.sku
    custom_values = ext.get("custom_options") or []
    given_values = {
        str(o.get("option_id")): o.get("option_value") for o in custom_values if isinstance(o, dict)
    }
    for definition in product.custom_options:
        value = given_values.get(str(definition["option_id"]))
        if definition["is_require"] and (value is None or str(value).strip() == ""):
            raise bad_request(
                "The product's required option(s) weren't entered. Make sure the options are entered and try again."
            )
    quote_item["custom_options"] = [{"option_id": k, "option_value": str(v)} for k, v in given_values.items()]
    # stock check over every stock-bearing product of the line
    for stocked, per_unit in _stocked_parts(product, quote_item):
        if stocked.manage_stock and not state.is_salable(
            stocked.sku, state.sales_stock_id(), per_unit * qty + _in_cart(cart, stocked.sku)
        ):
            raise bad_request("The requested qty is not available")
    cart["items"].append(quote_item)
    return render_cart_item(quote_item)


def _in_cart(cart: dict[str, Any], sku: str) -> float:
    total = 0.0
    for line in cart["items"]:
        if line["children"]:
            total += sum(per * line["qty"] for child, per in line["children"] if child.sku == sku)
        elif line["product"] == sku:
            total += line["qty"]
    return total


def _stocked_parts(product: Product, quote_item: dict[str, Any]) -> list[tuple[Product, float]]:
    if quote_item["children"]:
        return list(quote_item["children"])
    if product.type_id in COMPOSITE_TYPES:
        return []
    return [(product, 1.0)]


def render_cart_item(item: dict[str, Any]) -> dict[str, Any]:
    out = {
        "item_id": item["item_id"],
        "sku": item["sku"],
        "qty": _num(item["qty"]),
        "name": item["name"],
        "price": money(item["price"]),
        "product_type": item["product_type"],
        "quote_id": item["quote_id"],
    }
    if item["product_option"]:
        out["product_option"] = item["product_option"]
    return out


def _cart_totals(cart: dict[str, Any]) -> dict[str, Any]:
    subtotal = sum(line["price"] * line["qty"] for line in cart["items"])
    shipping = 0.0
    if cart["shipping"]:
        shipping = cart["shipping"]["rate"] * sum(line["qty"] for line in cart["items"])
    grand = subtotal + shipping
    items = [
        {
            "item_id": line["item_id"],
            "price": money(line["price"]),
            "base_price": money(line["price"]),
            "qty": _num(line["qty"]),
            "row_total": money(line["price"] * line["qty"]),
            "base_row_total": money(line["price"] * line["qty"]),
            "row_total_with_discount": 0,
            "tax_amount": 0,
            "base_tax_amount": 0,
            "tax_percent": 0,
            "discount_amount": 0,
            "base_discount_amount": 0,
            "discount_percent": 0,
            "price_incl_tax": money(line["price"]),
            "base_price_incl_tax": money(line["price"]),
            "row_total_incl_tax": money(line["price"] * line["qty"]),
            "base_row_total_incl_tax": money(line["price"] * line["qty"]),
            "options": "[]",
            "weee_tax_applied_amount": None,
            "weee_tax_applied": None,
            "name": line["name"],
        }
        for line in cart["items"]
    ]
    return {
        "grand_total": money(grand),
        "base_grand_total": money(grand),
        "subtotal": money(subtotal),
        "base_subtotal": money(subtotal),
        "discount_amount": 0,
        "base_discount_amount": 0,
        "subtotal_with_discount": money(subtotal),
        "base_subtotal_with_discount": money(subtotal),
        "shipping_amount": money(shipping),
        "base_shipping_amount": money(shipping),
        "shipping_discount_amount": 0,
        "base_shipping_discount_amount": 0,
        "tax_amount": 0,
        "base_tax_amount": 0,
        "weee_tax_applied_amount": None,
        "shipping_tax_amount": 0,
        "base_shipping_tax_amount": 0,
        "subtotal_incl_tax": money(subtotal),
        "shipping_incl_tax": money(shipping),
        "base_shipping_incl_tax": money(shipping),
        "base_currency_code": CURRENCY,
        "quote_currency_code": CURRENCY,
        "items_qty": int(sum(line["qty"] for line in cart["items"])),
        "items": items,
        "total_segments": [
            {"code": "subtotal", "title": "Subtotal", "value": money(subtotal)},
            {"code": "shipping", "title": "Shipping & Handling", "value": money(shipping)},
            {"code": "tax", "title": "Tax", "value": 0, "area": None},
            {"code": "grand_total", "title": "Grand Total", "value": money(grand), "area": "footer"},
        ],
    }


REQUIRED_ADDRESS = ("firstname", "lastname", "street", "city", "postcode", "country_id", "telephone")


def _address(raw: Any, kind: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise required(f"{kind}_address")
    for name in REQUIRED_ADDRESS:
        if raw.get(name) in (None, "", []):
            raise bad_request('"%fieldName" is required. Enter and try again.', {"fieldName": name})
    street = raw["street"]
    if isinstance(street, str):
        street = [street]
    address = {k: v for k, v in raw.items() if k not in ("id", "customer_address_id", "same_as_billing")}
    address["street"] = [str(s) for s in street]
    address["address_type"] = kind
    return address


def set_shipping_information(state: SandboxState, cart: dict[str, Any], body: Any) -> dict[str, Any]:
    info = _obj(body, "addressInformation")
    shipping = _address(info.get("shipping_address"), "shipping")
    billing = (
        _address(info["billing_address"], "billing")
        if info.get("billing_address")
        else dict(shipping, address_type="billing")
    )
    carrier = str(info.get("shipping_carrier_code") or "")
    method = str(info.get("shipping_method_code") or "")
    if not carrier or not method:
        raise bad_request("The shipping method is missing. Select the shipping method and try again.")
    if not cart["items"]:
        raise bad_request(
            "The shipping method can't be set for an empty cart. Add an item to cart and try again."
        )
    # only a carrier the store has enabled, with a rate for this cart; else 404 as in Magento
    subtotal = sum(line["price"] * line["qty"] for line in cart["items"])
    items_qty = sum(line["qty"] for line in cart["items"])
    rate = state.checkout.rate(carrier, method, subtotal, items_qty)
    cart["shipping"] = {
        "address": shipping,
        "carrier": carrier,
        "method": method,
        "title": f"{rate['carrier_title']} - {rate['method_title']}",
        "rate": rate["amount"] / items_qty if items_qty else 0.0,
    }
    cart["billing_address"] = billing
    if not cart["email"] and shipping.get("email"):
        cart["email"] = shipping["email"]
    totals = _cart_totals(cart)
    methods = state.checkout.available_payment_methods(float(totals["grand_total"]))
    return {"payment_methods": methods, "totals": totals}


def place_order(
    state: SandboxState,
    cart: dict[str, Any],
    payment: dict[str, Any],
    *,
    email: str | None = None,
    billing: Any = None,
) -> int:
    method = str(payment.get("method") or "")
    if not cart["items"]:
        raise bad_request("Unable to place order: %1", ["The quote is empty."])
    if cart["shipping"] is None:
        raise bad_request("The shipping method is missing. Select the shipping method and try again.")
    # an enabled method, available for this total (free only at 0, and only free at 0)
    state.checkout.check_payment(method, float(_cart_totals(cart)["grand_total"]))
    if billing:
        cart["billing_address"] = _address(billing, "billing")
    email = email or cart["email"] or (cart["billing_address"] or {}).get("email")
    if not email:
        raise bad_request("The customer email is missing. Enter and try again.")
    # re-check stock at placement (another order may have taken it meanwhile), on the stock of
    # the store's website, which the reservations below go to as well
    stock_id = state.sales_stock_id()
    for line in cart["items"]:
        product = state.products[line["product"]]
        for stocked, per in _stocked_parts(product, line):
            if stocked.manage_stock and not state.is_salable(
                stocked.sku, stock_id, per * line["qty"]
            ):
                raise bad_request("Not all of your products are available in the requested quantity.")
    order_id = state.next_id("order")
    increment = state.next_increment("order")
    now = utc_now()
    items: list[dict[str, Any]] = []
    for line in cart["items"]:
        product = state.products[line["product"]]
        parent = _order_item(
            state,
            order_id,
            product,
            line["qty"],
            line["price"],
            now,
            sku=line["sku"],
            quote_item_id=line["item_id"],
        )
        option: dict[str, Any] = {}
        if line["product_option"]:
            option = copy.deepcopy(line["product_option"])
        if line["custom_options"]:
            option.setdefault("extension_attributes", {})["custom_options"] = line["custom_options"]
        if option:
            parent["product_option"] = option
        items.append(parent)
        for child, per in line["children"]:
            child_item = _order_item(
                state,
                order_id,
                child,
                per * line["qty"],
                0.0 if product.type_id == "configurable" else child.effective_price(),
                now,
                quote_item_id=line["item_id"],
            )
            child_item["parent_item_id"] = parent["item_id"]
            if product.type_id == "bundle":
                child_item["price"] = 0
                child_item["row_total"] = 0
                child_item["base_price"] = 0
                child_item["base_row_total"] = 0
            items.append(child_item)
    totals = _cart_totals(cart)
    shipping = cart["shipping"]
    customer = state.customers.get(cart["customer_id"]) if cart["customer_id"] else None
    order = _new_order(
        state,
        order_id,
        increment,
        now,
        items=items,
        email=email,
        billing=cart["billing_address"],
        shipping_address=shipping["address"],
        shipping_method=f"{shipping['carrier']}_{shipping['method']}",
        shipping_description=shipping["title"],
        shipping_amount=float(totals["shipping_amount"]),
        payment_method=method,
        customer=customer,
        quote_id=cart["id"],
    )
    state.orders[order_id] = order
    state.order_meta[order_id] = {"reserved": True, "stock_id": stock_id, "refunded_unshipped": {}}
    for item in items:
        if _is_stocked_leaf(state, order, item):
            state.reserve(
                item["sku"],
                stock_id,
                -float(item["qty_ordered"]),
                "order_placed",
                order_id,
                increment,
            )
    cart["is_active"] = False
    cart["reserved_order_id"] = increment
    state.emit("observer.sales_order_place_after", {"order": _order_event(order)})
    return order_id


def _order_item(
    state: SandboxState,
    order_id: int,
    product: Product,
    qty: float,
    price: float,
    now: str,
    *,
    sku: str | None = None,
    quote_item_id: int | None = None,
) -> dict[str, Any]:
    row = price * qty
    return {
        "item_id": state.next_id("order_item"),
        "order_id": order_id,
        "parent_item_id": None,
        "quote_item_id": quote_item_id,
        "product_id": product.id,
        "product_type": product.type_id,
        "sku": sku or product.sku,
        "name": product.name,
        "store_id": 1,
        "created_at": now,
        "updated_at": now,
        "is_virtual": 1 if product.type_id == "virtual" else 0,
        "is_qty_decimal": 0,
        "weight": _num(product.weight),
        "row_weight": _num(product.weight * qty),
        "price": money(price),
        "base_price": money(price),
        "original_price": money(product.price),
        "base_original_price": money(product.price),
        "price_incl_tax": money(price),
        "base_price_incl_tax": money(price),
        "row_total": money(row),
        "base_row_total": money(row),
        "row_total_incl_tax": money(row),
        "base_row_total_incl_tax": money(row),
        "tax_amount": 0,
        "base_tax_amount": 0,
        "tax_percent": 0,
        "discount_amount": 0,
        "base_discount_amount": 0,
        "discount_percent": 0,
        "qty_ordered": _num(qty),
        "qty_invoiced": 0,
        "qty_shipped": 0,
        "qty_refunded": 0,
        "qty_canceled": 0,
        "qty_backordered": None,
        "qty_returned": 0,
        "row_invoiced": 0,
        "base_row_invoiced": 0,
        "amount_refunded": 0,
        "base_amount_refunded": 0,
        "no_discount": 0,
        "free_shipping": 0,
    }


def _is_stocked_leaf(state: SandboxState, order: dict[str, Any], item: dict[str, Any]) -> bool:
    """Items that carry stock: simple/virtual lines, and children of composite lines."""
    if item["product_type"] in COMPOSITE_TYPES:
        return False
    product = state.products.get(item["sku"])
    return product is not None and product.manage_stock


def _new_order(
    state: SandboxState,
    order_id: int,
    increment: str,
    now: str,
    *,
    items: list[dict[str, Any]],
    email: str,
    billing: dict[str, Any],
    shipping_address: dict[str, Any] | None,
    shipping_method: str | None,
    shipping_description: str,
    shipping_amount: float,
    payment_method: str,
    customer: dict[str, Any] | None,
    quote_id: int | None,
) -> dict[str, Any]:
    subtotal = sum(float(i["row_total"]) for i in items if i["parent_item_id"] is None)
    grand = subtotal + shipping_amount
    billing = dict(
        billing, entity_id=state.next_id("order_address"), parent_id=order_id, address_type="billing"
    )
    order: dict[str, Any] = {
        "entity_id": order_id,
        "increment_id": increment,
        "state": "new",
        "status": "pending",
        "store_id": 1,
        "store_name": "Main Website\nMain Website Store\nDefault Store View",
        "created_at": now,
        "updated_at": now,
        "quote_id": quote_id,
        "protect_code": secrets.token_hex(3),
        "customer_email": email,
        "customer_firstname": (customer or billing).get("firstname"),
        "customer_lastname": (customer or billing).get("lastname"),
        "customer_id": customer["id"] if customer else None,
        "customer_is_guest": 0 if customer else 1,
        "customer_group_id": 1 if customer else 0,
        "customer_note_notify": 1,
        "ext_order_id": None,
        "base_currency_code": CURRENCY,
        "global_currency_code": CURRENCY,
        "order_currency_code": CURRENCY,
        "store_currency_code": CURRENCY,
        "base_to_global_rate": 1,
        "base_to_order_rate": 1,
        "store_to_base_rate": 0,
        "store_to_order_rate": 0,
        "is_virtual": 1 if all(i["is_virtual"] for i in items) else 0,
        "email_sent": 1,
        "weight": _num(sum(float(i.get("row_weight") or 0) for i in items if i["parent_item_id"] is None)),
        "total_item_count": len(items),
        "total_qty_ordered": _num(sum(float(i["qty_ordered"]) for i in items if i["parent_item_id"] is None)),
        "billing_address_id": billing["entity_id"],
        "shipping_description": shipping_description,
        "items": items,
        "billing_address": billing,
        "payment": {
            "entity_id": state.next_id("order_payment"),
            "parent_id": order_id,
            "method": payment_method,
            "account_status": None,
            "cc_last4": None,
            "additional_information": [
                OFFLINE_METHODS.get(payment_method, ONLINE_METHODS.get(payment_method, payment_method))
            ],
            "amount_ordered": money(grand),
            "base_amount_ordered": money(grand),
            "shipping_amount": money(shipping_amount),
            "base_shipping_amount": money(shipping_amount),
        },
        "status_histories": [],
        "extension_attributes": {},
    }
    _set_amounts(order, subtotal=subtotal, shipping=shipping_amount, grand=grand)
    if shipping_address is not None:
        address = dict(
            shipping_address,
            entity_id=state.next_id("order_address"),
            parent_id=order_id,
            address_type="shipping",
        )
        order["extension_attributes"]["shipping_assignments"] = [
            {
                "shipping": {
                    "address": address,
                    "method": shipping_method,
                    "total": {
                        "shipping_amount": money(shipping_amount),
                        "base_shipping_amount": money(shipping_amount),
                        "shipping_incl_tax": money(shipping_amount),
                        "base_shipping_incl_tax": money(shipping_amount),
                        "shipping_tax_amount": 0,
                        "base_shipping_tax_amount": 0,
                    },
                },
                "items": items,
                "stock_id": state.sales_stock_id(),
            }
        ]
    return order


def _set_amounts(order: dict[str, Any], *, subtotal: float, shipping: float, grand: float) -> None:
    for prefix in ("", "base_"):
        order[prefix + "subtotal"] = money(subtotal)
        order[prefix + "subtotal_incl_tax"] = money(subtotal)
        order[prefix + "shipping_amount"] = money(shipping)
        order[prefix + "shipping_incl_tax"] = money(shipping)
        order[prefix + "shipping_tax_amount"] = 0
        order[prefix + "tax_amount"] = 0
        order[prefix + "discount_amount"] = 0
        order[prefix + "grand_total"] = money(grand)
        order[prefix + "total_due"] = money(grand)
        order.setdefault(prefix + "total_paid", 0)
        order.setdefault(prefix + "total_invoiced", 0)
        order.setdefault(prefix + "total_refunded", 0)
        order.setdefault(prefix + "subtotal_invoiced", 0)
        order.setdefault(prefix + "subtotal_refunded", 0)
        order.setdefault(prefix + "shipping_invoiced", 0)
        order.setdefault(prefix + "shipping_refunded", 0)
        order.setdefault(prefix + "total_offline_refunded", 0)
        order.setdefault(prefix + "total_online_refunded", 0)
        order.setdefault(prefix + "adjustment_positive", 0)
        order.setdefault(prefix + "adjustment_negative", 0)
    order["shipping_discount_amount"] = 0
    order["base_shipping_discount_amount"] = 0


# ====================================================================== direct order save
ORDER_WRITABLE_TOP = {
    "ext_order_id", "ext_customer_id", "status", "state", "customer_note", "customer_email", "customer_firstname",
    "customer_lastname", "increment_id", "shipping_description", "customer_note_notify", "email_sent",
}  # fmt: skip


def save_order(state: SandboxState, body: Any) -> dict[str, Any]:
    """``POST /V1/orders``: repository save. Update when ``entity_id`` exists, else create (no reservation)."""
    entity = _obj(body, "entity")
    entity_id = entity.get("entity_id")
    if entity_id not in (None, "", 0):
        order = state.orders.get(_int("entity_id", entity_id))
        if order is None:
            raise not_found_entity()
        for key in ORDER_WRITABLE_TOP:
            if key in entity:
                order[key] = entity[key]
        if not entity.get("increment_id"):
            # Magento's repository generates a fresh increment id when it is not resent (PyMagento note).
            order["increment_id"] = state.next_increment("order")
        if "status_histories" in entity and isinstance(entity["status_histories"], list):
            for history in entity["status_histories"]:
                _append_history(state, order, history)
        order["updated_at"] = utc_now()
        state.emit("observer.sales_order_save_after", {"order": _order_event(order)})
        return order
    for key in ("base_grand_total", "customer_email", "grand_total"):
        if entity.get(key) in (None, ""):
            raise required(key)
    if not isinstance(entity.get("billing_address"), dict):
        raise bad_request("Please provide billing address for the order.")
    raw_items = entity.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise bad_request("Please specify order items.")
    order_id = state.next_id("order")
    increment = str(entity.get("increment_id") or state.next_increment("order"))
    now = utc_now()
    items = []
    id_map: dict[Any, int] = {}
    for raw in raw_items:
        if not isinstance(raw, dict) or not raw.get("sku"):
            raise required("sku")
        product = state.products.get(str(raw["sku"]))
        qty = _float("qty_ordered", raw.get("qty_ordered", 1))
        price = _float("price", raw.get("price", product.price if product else 0))
        if product is None:
            product = Product(
                0,
                str(raw["sku"]),
                str(raw.get("name") or raw["sku"]),
                str(raw.get("product_type") or "simple"),
                price,
                1,
                4,
                0.0,
                now,
                now,
            )
        item = _order_item(state, order_id, product, qty, price, now, sku=str(raw["sku"]))
        if raw.get("name"):
            item["name"] = raw["name"]
        if raw.get("product_type"):
            item["product_type"] = raw["product_type"]
        if raw.get("row_total") is not None:
            item["row_total"] = item["base_row_total"] = money(_float("row_total", raw["row_total"]))
        if raw.get("ext_order_item_id") is not None:
            item["ext_order_item_id"] = str(raw["ext_order_item_id"])
        if raw.get("item_id") is not None:
            id_map[raw["item_id"]] = item["item_id"]
        item["_raw_parent"] = raw.get("parent_item_id")
        items.append(item)
    for item in items:
        raw_parent = item.pop("_raw_parent")
        if raw_parent is not None:
            item["parent_item_id"] = id_map.get(raw_parent)
    billing = _address(entity["billing_address"], "billing")
    assignments = (entity.get("extension_attributes") or {}).get("shipping_assignments") or []
    shipping_address = None
    shipping_method = None
    if assignments and isinstance(assignments[0], dict):
        shipping = assignments[0].get("shipping") or {}
        if shipping.get("address"):
            shipping_address = _address(shipping["address"], "shipping")
        shipping_method = shipping.get("method")
    shipping_amount = _float("shipping_amount", entity.get("shipping_amount") or 0)
    # cast: the isinstance test has just checked it is a dict (mypy does not narrow a call's result).
    payment = cast("dict[str, Any]", entity.get("payment")) if isinstance(entity.get("payment"), dict) else {}
    order = _new_order(
        state,
        order_id,
        increment,
        now,
        items=items,
        email=str(entity["customer_email"]),
        billing=billing,
        shipping_address=shipping_address,
        shipping_method=shipping_method,
        shipping_description=str(entity.get("shipping_description") or ""),
        shipping_amount=shipping_amount,
        payment_method=str(payment.get("method") or "checkmo"),
        customer=None,
        quote_id=None,
    )
    # stored values are trusted: grand totals as sent
    for key in (
        "grand_total",
        "base_grand_total",
        "subtotal",
        "base_subtotal",
        "total_due",
        "base_total_due",
    ):
        if entity.get(key) is not None:
            order[key] = money(_float(key, entity[key]))
    if entity.get("total_due") is None:
        order["total_due"] = order["grand_total"]
        order["base_total_due"] = order["base_grand_total"]
    for key in ORDER_WRITABLE_TOP:
        if key in entity and key != "increment_id":
            order[key] = entity[key]
    order["increment_id"] = increment
    state.orders[order_id] = order
    state.order_meta[order_id] = {"reserved": False, "stock_id": state.sales_stock_id(), "refunded_unshipped": {}}
    state.emit("observer.sales_order_save_after", {"order": _order_event(order)})
    return order


def get_order(state: SandboxState, order_id: int) -> dict[str, Any]:
    order = state.orders.get(order_id)
    if order is None:
        raise not_found_entity()
    return order


def _append_history(state: SandboxState, order: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    entry = {
        "entity_id": state.next_id("order_status_history"),
        "parent_id": order["entity_id"],
        "comment": str(raw.get("comment") or ""),
        "status": raw.get("status") or order["status"],
        "created_at": utc_now(),
        "is_customer_notified": int(bool(raw.get("is_customer_notified", 0))),
        "is_visible_on_front": int(bool(raw.get("is_visible_on_front", 0))),
        "entity_name": "order",
    }
    order["status_histories"].insert(0, entry)
    return entry


def add_comment(state: SandboxState, order_id: int, body: Any) -> bool:
    order = get_order(state, order_id)
    history = _obj(body, "statusHistory")
    if "comment" not in history:
        raise required("comment")
    status = history.get("status")
    if status and status != order["status"]:
        if status != STATUS_OF_STATE.get(order["state"]):
            raise bad_request(
                'Unable to add comment: The status "%1" is not part of the order status history.', [status]
            )
        order["status"] = status
    _append_history(state, order, history)
    order["updated_at"] = utc_now()
    return True


# ====================================================================== state machine
def _top_items(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in order["items"] if i["parent_item_id"] is None]


def _children(order: dict[str, Any], parent_id: int) -> list[dict[str, Any]]:
    return [i for i in order["items"] if i["parent_item_id"] == parent_id]


def _f(item: dict[str, Any], key: str) -> float:
    return float(item.get(key) or 0)


def qty_to_invoice(item: dict[str, Any]) -> float:
    return _f(item, "qty_ordered") - _f(item, "qty_invoiced") - _f(item, "qty_canceled")


def qty_to_ship(item: dict[str, Any]) -> float:
    if item.get("is_virtual"):
        return 0.0
    return (
        _f(item, "qty_ordered")
        - _f(item, "qty_shipped")
        - _f(item, "qty_refunded")
        - _f(item, "qty_canceled")
    )


def qty_to_refund(item: dict[str, Any]) -> float:
    return _f(item, "qty_invoiced") - _f(item, "qty_refunded")


def can_invoice(order: dict[str, Any]) -> bool:
    if order["state"] in ("canceled", "holded", "payment_review", "complete", "closed"):
        return False
    return any(qty_to_invoice(i) > EPS for i in _top_items(order))


def can_ship(order: dict[str, Any]) -> bool:
    if order["state"] in ("canceled", "holded", "payment_review"):
        return False
    return any(qty_to_ship(i) > EPS for i in _top_items(order))


def can_creditmemo(order: dict[str, Any]) -> bool:
    if order["state"] in ("canceled", "holded", "payment_review", "closed"):
        return False
    return _f(order, "total_paid") - _f(order, "total_refunded") > 0.0001


def resolve_state(order: dict[str, Any]) -> None:
    """``StateResolver`` after a document: complete when nothing to invoice or ship, closed when refunded."""
    if order["state"] in ("canceled", "holded", "closed"):
        return
    nothing_to_invoice = not any(qty_to_invoice(i) > EPS for i in _top_items(order))
    nothing_to_ship = not any(qty_to_ship(i) > EPS for i in _top_items(order))
    new_state = order["state"]
    if nothing_to_invoice and nothing_to_ship:
        if can_creditmemo(order) or _f(order, "grand_total") == 0:
            new_state = "complete"
        elif _f(order, "total_refunded") > 0:
            new_state = "closed"
    elif order["state"] == "new" and any(
        _f(i, "qty_invoiced") > 0 or _f(i, "qty_shipped") > 0 or _f(i, "qty_refunded") > 0
        for i in order["items"]
    ):
        new_state = "processing"
    if new_state != order["state"]:
        order["state"] = new_state
        order["status"] = STATUS_OF_STATE[new_state]


def cancel_order(state: SandboxState, order_id: int) -> bool:
    order = get_order(state, order_id)
    if order["state"] in ("canceled", "complete", "closed", "holded", "payment_review"):
        return False
    if not any(qty_to_invoice(i) > EPS for i in _top_items(order)):
        return False  # everything invoiced: Magento refuses to cancel (a credit memo is needed)
    meta = state.order_meta[order_id]
    for item in order["items"]:
        to_cancel = (
            min(qty_to_invoice(item), qty_to_ship(item))
            if not item.get("is_virtual")
            else qty_to_invoice(item)
        )
        if to_cancel <= EPS:
            continue
        item["qty_canceled"] = _num(_f(item, "qty_canceled") + to_cancel)
        if _is_stocked_leaf(state, order, item):
            state.reserve(
                item["sku"], meta["stock_id"], to_cancel, "order_canceled", order_id, order["increment_id"]
            )
    order["state"] = "canceled"
    order["status"] = "canceled"
    due = _f(order, "grand_total") - _f(order, "total_paid")
    order["total_canceled"] = money(due)
    order["base_total_canceled"] = money(due)
    order["updated_at"] = utc_now()
    state.emit("observer.sales_order_save_after", {"order": _order_event(order)})
    return True


def hold_order(state: SandboxState, order_id: int) -> bool:
    order = get_order(state, order_id)
    if order["state"] in ("canceled", "payment_review", "complete", "closed", "holded"):
        raise bad_request("A hold action is not available.")
    order["hold_before_state"] = order["state"]
    order["hold_before_status"] = order["status"]
    order["state"] = "holded"
    order["status"] = "holded"
    order["updated_at"] = utc_now()
    return True


def unhold_order(state: SandboxState, order_id: int) -> bool:
    order = get_order(state, order_id)
    if order["state"] != "holded":
        raise bad_request("You can't remove the hold.")
    order["state"] = order.pop("hold_before_state", None) or "new"
    order["status"] = order.pop("hold_before_status", None) or STATUS_OF_STATE[order["state"]]
    order["updated_at"] = utc_now()
    return True


# ====================================================================== documents: common
def _requested_items(order: dict[str, Any], raw: Any, remaining: Any, field: str) -> dict[int, float]:
    """Map ``items[{order_item_id, qty}]`` onto top-level items; default = everything remaining."""
    by_id = {i["item_id"]: i for i in order["items"]}
    if not raw:
        return {i["item_id"]: remaining(i) for i in _top_items(order) if remaining(i) > EPS}
    if not isinstance(raw, list):
        raise type_error("items", raw, "array")
    out: dict[int, float] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise type_error("items", entry, "object")
        item_id = _int("order_item_id", entry.get("order_item_id"))
        qty = _float("qty", entry.get("qty", 0))
        item = by_id.get(item_id)
        if item is None:
            out[-item_id] = qty  # unknown: callers report it
            continue
        if item["parent_item_id"] is not None:
            parent = by_id[item["parent_item_id"]]
            ratio = _f(item, "qty_ordered") / max(_f(parent, "qty_ordered"), EPS)
            item_id, qty = parent["item_id"], qty / ratio
        out[item_id] = out.get(item_id, 0.0) + qty
    return out


def _comment(state: SandboxState, body: dict[str, Any], parent_id: int) -> list[dict[str, Any]]:
    comment = body.get("comment")
    if isinstance(comment, dict) and comment.get("comment"):
        return [
            {
                "entity_id": state.next_id("comment"),
                "parent_id": parent_id,
                "comment": str(comment["comment"]),
                "is_customer_notified": int(bool(body.get("notify"))),
                "is_visible_on_front": int(bool(comment.get("is_visible_on_front", 0))),
                "created_at": utc_now(),
            }
        ]
    return []


def _doc_base(order: dict[str, Any], entity_id: int, increment: str, now: str) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "increment_id": increment,
        "order_id": order["entity_id"],
        "store_id": order["store_id"],
        "created_at": now,
        "updated_at": now,
        "billing_address_id": order.get("billing_address_id"),
        "base_currency_code": CURRENCY,
        "global_currency_code": CURRENCY,
        "order_currency_code": CURRENCY,
        "store_currency_code": CURRENCY,
        "base_to_global_rate": 1,
        "base_to_order_rate": 1,
        "store_to_base_rate": 0,
        "store_to_order_rate": 0,
    }


def _doc_item(
    state: SandboxState, kind: str, parent_id: int, item: dict[str, Any], qty: float
) -> dict[str, Any]:
    price = _f(item, "price")
    return {
        "entity_id": state.next_id(kind + "_item"),
        "parent_id": parent_id,
        "order_item_id": item["item_id"],
        "product_id": item["product_id"],
        "sku": item["sku"],
        "name": item["name"],
        "qty": _num(qty),
        "price": money(price),
        "base_price": money(price),
        "price_incl_tax": money(price),
        "base_price_incl_tax": money(price),
        "row_total": money(price * qty),
        "base_row_total": money(price * qty),
        "row_total_incl_tax": money(price * qty),
        "base_row_total_incl_tax": money(price * qty),
        "tax_amount": 0,
        "base_tax_amount": 0,
        "discount_amount": 0,
        "base_discount_amount": 0,
    }


def _with_children(order: dict[str, Any], requested: dict[int, float]) -> list[tuple[dict[str, Any], float]]:
    by_id = {i["item_id"]: i for i in order["items"]}
    out = []
    for item_id, qty in requested.items():
        item = by_id[item_id]
        out.append((item, qty))
        for child in _children(order, item_id):
            ratio = _f(child, "qty_ordered") / max(_f(item, "qty_ordered"), EPS)
            out.append((child, qty * ratio))
    return out


def _check_quantities(
    order: dict[str, Any],
    requested: dict[int, float],
    remaining: Any,
    prefix: str,
    *,
    unknown: str,
    too_many: str,
    empty: str,
) -> dict[int, float]:
    """Magento's document ``QuantityValidator``: one message per bad line, plus the "without
    products" line when nothing valid is left, all joined under the document prefix."""
    by_id = {i["item_id"]: i for i in order["items"]}
    messages = []
    valid: dict[int, float] = {}
    for item_id, qty in requested.items():
        item = by_id.get(item_id)
        if item is None:
            messages.append(unknown)
        elif qty - remaining(item) > EPS:
            messages.append(too_many.format(sku=item["sku"]))
        elif qty > EPS:
            valid[item_id] = qty
    if not valid:
        messages.append(empty)
    if messages:
        raise bad_request(prefix + "\n".join(messages))
    return valid


# ====================================================================== invoices
def invoice_order(state: SandboxState, order_id: int, body: Any) -> int:
    order = get_order(state, order_id)
    body = body if isinstance(body, dict) else {}
    prefix = "Invoice Document Validation Error(s):\n"
    if order["state"] in ("payment_review", "holded", "canceled", "complete", "closed"):
        raise bad_request(
            prefix + f"An invoice cannot be created when an order has a status of {order['status']}"
        )
    if not can_invoice(order):
        raise bad_request(prefix + "The order does not allow an invoice to be created.")
    requested = _requested_items(order, body.get("items"), qty_to_invoice, "invoice")
    requested = _check_quantities(
        order,
        requested,
        qty_to_invoice,
        prefix,
        unknown="The invoice contains one or more items that are not part of the original order.",
        too_many='The quantity to invoice must not be greater than the uninvoiced quantity for product SKU "{sku}".',
        empty="The invoice can't be created without products. Add products and try again.",
    )
    now = utc_now()
    invoice_id = state.next_id("invoice")
    invoice = _doc_base(order, invoice_id, state.next_increment("invoice"), now)
    items = []
    subtotal = 0.0
    for item, qty in _with_children(order, requested):
        doc_item = _doc_item(state, "invoice", invoice_id, item, qty)
        items.append(doc_item)
        item["qty_invoiced"] = _num(_f(item, "qty_invoiced") + qty)
        row = _f(item, "price") * qty
        item["row_invoiced"] = item["base_row_invoiced"] = money(_f(item, "row_invoiced") + row)
        if item["parent_item_id"] is None:
            subtotal += row
    shipping = _f(order, "shipping_amount") - _f(order, "shipping_invoiced")
    grand = subtotal + shipping
    for p in ("", "base_"):
        invoice[p + "subtotal"] = money(subtotal)
        invoice[p + "subtotal_incl_tax"] = money(subtotal)
        invoice[p + "shipping_amount"] = money(shipping)
        invoice[p + "shipping_incl_tax"] = money(shipping)
        invoice[p + "tax_amount"] = 0
        invoice[p + "discount_amount"] = 0
        invoice[p + "grand_total"] = money(grand)
    invoice.update(
        {
            "state": 2,
            "total_qty": _num(sum(q for q in requested.values())),
            "can_void_flag": 0,
            "email_sent": int(bool(body.get("notify"))),
            "is_used_for_refund": 0,
            "base_total_refunded": 0,
            "items": items,
            "comments": _comment(state, body, invoice_id),
        }
    )
    state.invoices[invoice_id] = invoice
    for p in ("", "base_"):
        order[p + "total_invoiced"] = money(_f(order, p + "total_invoiced") + grand)
        order[p + "total_paid"] = money(_f(order, p + "total_paid") + grand)
        order[p + "subtotal_invoiced"] = money(_f(order, p + "subtotal_invoiced") + subtotal)
        order[p + "shipping_invoiced"] = money(_f(order, p + "shipping_invoiced") + shipping)
        order[p + "total_due"] = money(_f(order, p + "grand_total") - _f(order, p + "total_paid"))
    order["payment"]["amount_paid"] = order["total_paid"]
    order["payment"]["base_amount_paid"] = order["base_total_paid"]
    resolve_state(order)
    order["updated_at"] = now
    state.emit("observer.sales_order_invoice_save_after", {"invoice": invoice})
    return invoice_id


# ====================================================================== shipments
def ship_order(state: SandboxState, order_id: int, body: Any) -> int:
    order = get_order(state, order_id)
    body = body if isinstance(body, dict) else {}
    prefix = "Shipment Document Validation Error(s):\n"
    if order["state"] in ("holded", "canceled", "payment_review") or order.get("is_virtual"):
        raise bad_request(
            prefix + f"A shipment cannot be created when an order has a status of {order['status']}"
        )
    tracks_raw = body.get("tracks") or []
    if not isinstance(tracks_raw, list):
        raise type_error("tracks", tracks_raw, "array")
    for track in tracks_raw:
        if not isinstance(track, dict) or not str(track.get("track_number") or "").strip():
            raise bad_request(prefix + "Please enter a tracking number.")
    if not can_ship(order):
        raise bad_request(
            prefix
            + "The order does not allow a shipment to be created.\nYou can't create a shipment without products."
        )
    requested = _requested_items(order, body.get("items"), qty_to_ship, "ship")
    requested = _check_quantities(
        order,
        requested,
        qty_to_ship,
        prefix,
        unknown='The shipment contains product SKU "" that is not part of the original order.',
        too_many='The quantity to ship must not be greater than the unshipped quantity for product SKU "{sku}".',
        empty="You can't create a shipment without products.",
    )
    args = body.get("arguments") if isinstance(body.get("arguments"), dict) else {}
    source_code = str(((args or {}).get("extension_attributes") or {}).get("source_code") or DEFAULT_SOURCE)
    if source_code not in state.sources:
        raise ApiError(
            404,
            "No such entity with %fieldName = %fieldValue",
            {"fieldName": "source_code", "fieldValue": source_code},
        )
    lines = _with_children(order, requested)
    # MSI source deduction: refuse before changing anything if the source cannot cover it
    deductions: dict[str, float] = {}
    for item, qty in lines:
        if _is_stocked_leaf(state, order, item):
            deductions[item["sku"]] = deductions.get(item["sku"], 0.0) + qty
    for sku, qty in deductions.items():
        source_item = state.source_items.get(sku, {}).get(source_code)
        if source_item is None or source_item.quantity + EPS < qty:
            raise bad_request("Not all of your products are available in the requested quantity.")
    now = utc_now()
    shipment_id = state.next_id("shipment")
    shipment = _doc_base(order, shipment_id, state.next_increment("shipment"), now)
    for key in (
        "base_currency_code",
        "global_currency_code",
        "order_currency_code",
        "store_currency_code",
        "base_to_global_rate",
        "base_to_order_rate",
        "store_to_base_rate",
        "store_to_order_rate",
    ):
        shipment.pop(key, None)
    items = []
    for item, qty in lines:
        doc_item = _doc_item(state, "shipment", shipment_id, item, qty)
        items.append(
            {
                k: doc_item[k]
                for k in (
                    "entity_id",
                    "parent_id",
                    "order_item_id",
                    "product_id",
                    "sku",
                    "name",
                    "qty",
                    "price",
                    "row_total",
                )
            }
            | {"weight": item.get("weight")}
        )
        item["qty_shipped"] = _num(_f(item, "qty_shipped") + qty)
    meta = state.order_meta[order_id]
    changed = []
    for sku, qty in deductions.items():
        changed.append(state.adjust_source(sku, source_code, -qty))
        state.reserve(sku, meta["stock_id"], qty, "shipment_created", order_id, order["increment_id"])
    shipping_address = ((order.get("extension_attributes") or {}).get("shipping_assignments") or [{}])[0].get(
        "shipping", {}
    ).get("address") or {}
    shipment.update(
        {
            "shipping_address_id": shipping_address.get("entity_id"),
            "customer_id": order.get("customer_id"),
            "email_sent": int(bool(body.get("notify"))),
            "total_qty": _num(sum(requested.values())),
            "items": items,
            "tracks": [],
            "comments": _comment(state, body, shipment_id),
            "packages": [],
            "extension_attributes": {"source_code": source_code},
        }
    )
    state.shipments[shipment_id] = shipment
    for track in tracks_raw:
        _new_track(state, shipment, track, now)
    resolve_state(order)
    order["updated_at"] = now
    state.emit("observer.sales_order_shipment_save_after", {"shipment": shipment})
    for track in shipment["tracks"]:
        state.emit("observer.sales_order_shipment_track_save_after", {"track": track})
    return shipment_id


def _new_track(
    state: SandboxState, shipment: dict[str, Any], raw: dict[str, Any], now: str
) -> dict[str, Any]:
    track = {
        "entity_id": state.next_id("track"),
        "order_id": shipment["order_id"],
        "parent_id": shipment["entity_id"],
        "created_at": now,
        "updated_at": now,
        "weight": raw.get("weight"),
        "qty": raw.get("qty"),
        "description": raw.get("description"),
        "track_number": str(raw["track_number"]),
        "title": str(raw.get("title") or ""),
        "carrier_code": str(raw.get("carrier_code") or "custom"),
    }
    shipment["tracks"].append(track)
    state.tracks[track["entity_id"]] = track
    return track


def add_track(state: SandboxState, body: Any) -> dict[str, Any]:
    entity = _obj(body, "entity")
    for key in ("parent_id", "track_number", "carrier_code"):
        if entity.get(key) in (None, ""):
            raise required(key)
    shipment = state.shipments.get(_int("parent_id", entity["parent_id"]))
    if shipment is None:
        raise bad_request("Could not save the shipment tracking.")
    if (
        entity.get("order_id") not in (None, "")
        and _int("order_id", entity["order_id"]) != shipment["order_id"]
    ):
        raise bad_request("Could not save the shipment tracking.")
    track = _new_track(state, shipment, entity, utc_now())
    state.emit("observer.sales_order_shipment_track_save_after", {"track": track})
    return track


def delete_track(state: SandboxState, track_id: int) -> bool:
    track = state.tracks.pop(track_id, None)
    if track is None:
        raise bad_request("Could not delete the shipment tracking.")
    shipment = state.shipments[track["parent_id"]]
    shipment["tracks"] = [t for t in shipment["tracks"] if t["entity_id"] != track_id]
    return True


# ====================================================================== credit memos
def refund(state: SandboxState, order_id: int, body: Any, *, invoice_id: int | None = None) -> int:
    order = get_order(state, order_id)
    body = body if isinstance(body, dict) else {}
    prefix = "Creditmemo Document Validation Error(s):\n"
    if invoice_id is not None:
        invoice = state.invoices[invoice_id]
        method = order["payment"]["method"]
        if (
            body.get("isOnline")
            and method not in ONLINE_METHODS
            or invoice["state"] != 2
            or _f(invoice, "base_total_refunded") >= _f(invoice, "base_grand_total") - 0.0001
            or method not in ONLINE_METHODS
        ):
            raise bad_request(prefix + "We can't create creditmemo for the invoice.")
    if order["state"] in ("payment_review", "holded", "canceled", "closed"):
        raise bad_request(
            prefix + f"A creditmemo can not be created when an order has a status of {order['status']}"
        )
    if not can_creditmemo(order):
        raise bad_request(prefix + "We can't create creditmemo for the order.")
    requested = _requested_items(order, body.get("items"), qty_to_refund, "refund")
    by_id = {i["item_id"]: i for i in order["items"]}
    for item_id, qty in requested.items():
        if item_id < 0 or item_id not in by_id:
            raise bad_request(
                prefix + "The creditmemo contains product item that is not part of the original order."
            )
        if qty - qty_to_refund(by_id[item_id]) > EPS:
            raise bad_request(
                prefix + "The quantity to refund must not be greater than the unrefunded quantity."
            )
    requested = {k: v for k, v in requested.items() if v > EPS}
    args = body.get("arguments") if isinstance(body.get("arguments"), dict) else {}
    remaining_shipping = _f(order, "shipping_invoiced") - _f(order, "shipping_refunded")
    if args.get("shipping_amount") is None:
        shipping = remaining_shipping  # documented: omitted shipping_amount refunds the remaining shipping
    else:
        shipping = _float("shipping_amount", args["shipping_amount"])
        if shipping - remaining_shipping > 0.0001:
            raise bad_request(
                prefix + f"Maximum shipping amount allowed to refund is: {fmt_money(remaining_shipping)}"
            )
    adj_pos = _float("adjustment_positive", args.get("adjustment_positive") or 0)
    adj_neg = _float("adjustment_negative", args.get("adjustment_negative") or 0)
    lines = _with_children(order, requested)
    subtotal = sum(_f(i, "price") * q for i, q in lines if i["parent_item_id"] is None)
    grand = subtotal + shipping + adj_pos - adj_neg
    available = _f(order, "total_paid") - _f(order, "total_refunded")
    if grand - available > 0.0001:
        raise bad_request(prefix + f"The most money available to refund is {fmt_money(available)}.")
    if grand <= 0:
        raise bad_request("The credit memo's total must be positive.")
    now = utc_now()
    memo_id = state.next_id("creditmemo")
    memo = _doc_base(order, memo_id, state.next_increment("creditmemo"), now)
    ext = args.get("extension_attributes") or {}
    return_ids = {int(x) for x in (ext.get("return_to_stock_items") or []) if str(x).lstrip("-").isdigit()}
    meta = state.order_meta[order_id]
    items = []
    returned: list[Any] = []
    for item, qty in lines:
        doc_item = _doc_item(state, "creditmemo", memo_id, item, qty)
        doc_item["base_cost"] = None
        items.append(doc_item)
        item["qty_refunded"] = _num(_f(item, "qty_refunded") + qty)
        if item["parent_item_id"] is None:
            item["amount_refunded"] = item["base_amount_refunded"] = money(
                _f(item, "amount_refunded") + _f(item, "price") * qty
            )
        if _is_stocked_leaf(state, order, item):
            # compensation for the refunded qty that never shipped
            done = meta["refunded_unshipped"].get(item["item_id"], 0.0)
            unshipped = _f(item, "qty_ordered") - _f(item, "qty_canceled") - _f(item, "qty_shipped") - done
            compensate = max(0.0, min(qty, unshipped))
            if compensate > EPS:
                meta["refunded_unshipped"][item["item_id"]] = done + compensate
                state.reserve(
                    item["sku"],
                    meta["stock_id"],
                    compensate,
                    "creditmemo_created",
                    order_id,
                    order["increment_id"],
                )
            back = qty - compensate
            top_id = item["parent_item_id"] or item["item_id"]
            if back > EPS and (item["item_id"] in return_ids or top_id in return_ids):
                returned.append(state.adjust_source(item["sku"], _ship_source(state, order_id), back))
    for p in ("", "base_"):
        memo[p + "subtotal"] = money(subtotal)
        memo[p + "subtotal_incl_tax"] = money(subtotal)
        memo[p + "shipping_amount"] = money(shipping)
        memo[p + "shipping_incl_tax"] = money(shipping)
        memo[p + "shipping_tax_amount"] = 0
        memo[p + "tax_amount"] = 0
        memo[p + "discount_amount"] = 0
        memo[p + "adjustment_positive"] = money(adj_pos)
        memo[p + "adjustment_negative"] = money(adj_neg)
        memo[p + "adjustment"] = money(adj_pos - adj_neg)
        memo[p + "grand_total"] = money(grand)
    memo.update(
        {
            "invoice_id": invoice_id,
            "state": 2,
            "creditmemo_status": None,
            "email_sent": int(bool(body.get("notify"))),
            "shipping_address_id": None,
            "items": items,
            "comments": _comment(state, body, memo_id),
        }
    )
    memo.pop("creditmemo_status")
    state.creditmemos[memo_id] = memo
    for p in ("", "base_"):
        order[p + "total_refunded"] = money(_f(order, p + "total_refunded") + grand)
        order[p + "total_offline_refunded" if invoice_id is None else p + "total_online_refunded"] = money(
            _f(order, p + ("total_offline_refunded" if invoice_id is None else "total_online_refunded"))
            + grand
        )
        order[p + "subtotal_refunded"] = money(_f(order, p + "subtotal_refunded") + subtotal)
        order[p + "shipping_refunded"] = money(_f(order, p + "shipping_refunded") + shipping)
        order[p + "adjustment_positive"] = money(_f(order, p + "adjustment_positive") + adj_pos)
        order[p + "adjustment_negative"] = money(_f(order, p + "adjustment_negative") + adj_neg)
    order["payment"]["amount_refunded"] = order["total_refunded"]
    order["payment"]["base_amount_refunded"] = order["base_total_refunded"]
    if invoice_id is not None:
        invoice = state.invoices[invoice_id]
        invoice["base_total_refunded"] = money(_f(invoice, "base_total_refunded") + grand)
        invoice["is_used_for_refund"] = 1
    resolve_state(order)
    order["updated_at"] = now
    # Return to stock goes through SourceDeductionService (direct SQL, no SourceItemsSave plugin):
    # only the credit memo's own observer tells of it (its items carry the SKUs).
    state.emit("observer.sales_order_creditmemo_save_after", {"creditmemo": memo})
    return memo_id


def _ship_source(state: SandboxState, order_id: int) -> str:
    for shipment in state.shipments.values():
        if shipment["order_id"] == order_id:
            return str(shipment["extension_attributes"]["source_code"])
    return DEFAULT_SOURCE


def refund_invoice(state: SandboxState, invoice_id: int, body: Any) -> int:
    invoice = state.invoices.get(invoice_id)
    if invoice is None:
        raise not_found_entity()
    return refund(state, int(invoice["order_id"]), body, invoice_id=invoice_id)


def _order_event(order: dict[str, Any]) -> dict[str, Any]:
    return {
        k: order[k]
        for k in ("entity_id", "increment_id", "state", "status", "ext_order_id", "updated_at")
        if k in order
    }


def product_for(state: SandboxState, sku: str) -> Product:
    product = state.products.get(sku)
    if product is None:
        raise not_found_product()
    return product
