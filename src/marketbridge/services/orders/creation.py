"""Create in Adobe Commerce, exactly once; then invoice, the totals comment and the totals check.

Idempotency against Adobe Commerce (every step may run twice after a crash): Magento is searched
for ``ext_order_id`` = the marketplace order id (and, to close the window between placing the cart
and writing ``ext_order_id``, for the order's unique relay e-mail) before every creation; invoice
and comment look at the order first.

Two ways to create (``order_creation_mode``): the cart (Magento prices, an MSI reservation) or
``direct`` (``POST /V1/orders`` with the marketplace's prices, no reservation; see README).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from marketbridge.adapters.db.base import utcnow
from marketbridge.adapters.db.models.orders import MarketplaceOrder, OrderLine
from marketbridge.adapters.errors import Rejected
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.magento.criteria import SearchCriteria
from marketbridge.domain import orders as orders_domain
from marketbridge.domain.delivery import delivery_note
from marketbridge.domain.issues import IssueReport
from marketbridge.domain.money import to_money, wire_number
from marketbridge.ports.orders import OrdersRepository
from marketbridge.runtime import Runtime
from marketbridge.services.orders.decisions import DecisionNotAllowed
from marketbridge.services.orders.record import (
    MARKER,
    S,
    _transition,
    _write_with_retry,
    get_order_record,
    log,
)
from marketbridge.services.orders.results import CreationResult, FinishResult
from marketbridge.services.orders.skus import Catalog, confirmed_links, resolve_sku
from marketbridge.services.orders.todo import workflow_id
from marketbridge.settings import OrderCreationMode, Settings

ISO3_TO_ISO2 = {
    "GBR": "GB", "IRL": "IE", "FRA": "FR", "DEU": "DE", "ESP": "ES", "ITA": "IT", "NLD": "NL", "BEL": "BE",
    "LUX": "LU", "PRT": "PT", "AUT": "AT", "CHE": "CH", "DNK": "DK", "SWE": "SE", "NOR": "NO", "FIN": "FI",
    "POL": "PL", "CZE": "CZ", "USA": "US", "CAN": "CA", "AUS": "AU", "NZL": "NZ", "JEY": "JE", "GGY": "GG",
    "IMN": "IM", "GIB": "GI",
}


class CreationBlocked(Exception):
    """The order cannot be created as it stands (missing custom option value, unknown SKU...)."""

    def __init__(self, type_: Any, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


def _magento_address(address: dict[str, Any], email: str) -> magento_models.Address:
    country = str(address.get("country_iso_code") or "").upper()
    country_id = ISO3_TO_ISO2.get(country, country if len(country) == 2 else "")
    if not country_id:
        raise CreationBlocked(orders_domain.ORDER_ADDRESS_MISSING, f"the shipping country {country!r} is not known")
    street = [s for s in (address.get("street_1"), address.get("street_2")) if s]
    return magento_models.Address(
        firstname=address.get("firstname") or "-", lastname=address.get("lastname") or "-", street=street or ["-"],
        city=address.get("city") or "-", postcode=address.get("zip_code") or "-", country_id=country_id,
        telephone=address.get("phone") or "0000000000", email=email, company=address.get("company") or None,
        region=address.get("state") or None)


def order_email(order: MarketplaceOrder) -> str:
    """A per-order address (the marketplace's relay address when given): unique, so that an order
    placed but not yet tagged with ``ext_order_id`` can still be found."""
    relay = (order.raw or {}).get("customer_notification_email")
    return str(relay) if relay else f"marketplace+{order.order_id.lower()}@marketplace.invalid"


def cart_lines(runtime: Runtime, catalog: Catalog, lines: Iterable[tuple[str, float]]) -> list[magento_models.CartLine]:
    """Cart lines for ``(magento_sku, qty)``: simple as is, configurable child via its parent and
    options, bundle with its default selections, required custom options from settings."""
    out: list[magento_models.CartLine] = []
    configured = runtime.settings.order_custom_option_values
    for sku, qty in lines:
        product = catalog.product(sku)
        if product is None:
            raise CreationBlocked(orders_domain.ORDER_CREATION_FAILED, f"SKU {sku} does not exist in Adobe Commerce")
        custom: dict[str, str] | None = None
        required = [o for o in (product.options or runtime.magento.custom_options(sku)) if o.is_require] \
            if product.has_required_options or product.options else []
        if required:
            values = configured.get(sku, {})
            custom = {}
            for option in required:
                value = values.get(option.title) or values.get(str(option.option_id))
                if not value:
                    raise CreationBlocked(orders_domain.ORDER_CUSTOM_OPTION_MISSING,
                                          f"SKU {sku} needs a value for its required option {option.title!r}")
                custom[str(option.option_id)] = value
        if product.type_id == "bundle":
            selections = []
            for bundle_option in runtime.magento.bundle_options(sku):
                defaults = [link for link in bundle_option.product_links if link.is_default] \
                    or bundle_option.product_links[:1]
                if not defaults:
                    continue
                selections.append(magento_models.BundleSelection(option_id=bundle_option.option_id, option_qty=defaults[0].qty or 1,
                                                     option_selections=[int(link.id) for link in defaults if link.id]))
            out.append(magento_models.CartLine(sku=sku, qty=qty, bundle_selections=selections, custom_options=custom))
            continue
        parent = catalog.parent_of(product) if product.type_id in ("simple", "virtual") else None
        if parent is not None:
            options: dict[str, int] = {}
            values = {a.attribute_code: a.value for a in product.custom_attributes}
            for axis in parent.extension_attributes.configurable_product_options:
                code = (axis.label or "").strip().lower()
                value = values.get(code) or values.get(code.replace("colour", "color"))
                if value is None:
                    raise CreationBlocked(orders_domain.ORDER_CREATION_FAILED,
                                          f"child {sku} has no value for {parent.sku}'s option {axis.label!r}")
                options[str(axis.attribute_id)] = int(str(value))
            out.append(magento_models.CartLine(sku=parent.sku, qty=qty, configurable_options=options, custom_options=custom))
            continue
        out.append(magento_models.CartLine(sku=sku, qty=qty, custom_options=custom))
    return out


def _find_existing(runtime: Runtime, order: MarketplaceOrder) -> magento_models.Order | None:
    """The Magento order for this marketplace order, if one exists: ``ext_order_id`` = our id, or
    (placed but not yet tagged) the order's unique e-mail without an ``ext_order_id``, which is then
    tagged. One search: the two filters are OR-ed in one filter group."""
    email = order_email(order)
    criteria = SearchCriteria().any_of(("ext_order_id", order.order_id), ("customer_email", email)).page(10)
    candidates = runtime.magento.search_orders(criteria).items
    for candidate in candidates:
        if candidate.ext_order_id == order.order_id:
            return candidate
    for candidate in candidates:
        if candidate.customer_email == email and not candidate.ext_order_id:
            runtime.magento.set_ext_order_id(candidate.entity_id, order.order_id)
            return candidate
    return None


PAID_STATES = frozenset({"SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"})
"""Marketplace order states after payment. An order we still hold as awaiting payment may already
be past SHIPPING there: a worker placed it in Magento and was killed before recording it, and the
warehouse shipped it meanwhile (scale-out soak). Its Magento order is then found and recorded;
only a SHIPPING order is ever placed."""


def create_in_magento(runtime: Runtime, order_id: str) -> CreationResult:
    """Create the Adobe Commerce order for a paid marketplace order, exactly once."""
    settings = runtime.settings
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.magento_entity_id is not None:
            return CreationResult(order_id, magento_entity_id=order.magento_entity_id, already=True)
        if order.state != S.AWAITING_PAYMENT.value or order.marketplace_state not in PAID_STATES:
            return CreationResult(order_id, state=order.state, skipped=True)
        orders.detach(order)
    existing = _find_existing(runtime, order)
    if existing is not None:
        return _record_created(runtime, order_id, existing.entity_id, existing.increment_id, found=True)
    if order.marketplace_state != "SHIPPING":
        # Past SHIPPING with no Magento order of ours: shipped without us; never place it now.
        return CreationResult(order_id, state=order.state, skipped=True)
    try:
        entity_id = _place(runtime, order)
    except CreationBlocked as blocked:
        with runtime.orders_store.unit_of_work() as orders:
            orders.issues.record(IssueReport(blocked.type, order_id,
                                             f"Order {order_id} was not created in Adobe Commerce: {blocked.message}."))
        return CreationResult(order_id, blocked=blocked.message)
    except Rejected as error:
        if orders_domain.is_stock_shortage(error.message):
            skus = sorted({line.magento_sku or line.offer_sku for line in order.lines if line.accepted is not False})
            with runtime.orders_store.unit_of_work() as orders:
                orders.issues.record(IssueReport(
                    orders_domain.ORDER_WAITING_FOR_STOCK, order_id,
                    f"Order {order_id} is paid but Adobe Commerce has no stock left for it ({', '.join(skus)}); "
                    "marketbridge creates it as soon as the stock is back.",
                    detail=str(error), context={"skus": skus, "attempt": order.create_attempt}))
            return CreationResult(order_id, waiting_for_stock=tuple(skus))
        with runtime.orders_store.unit_of_work() as orders:
            orders.issues.record(IssueReport(orders_domain.ORDER_CREATION_FAILED, order_id,
                                             f"Adobe Commerce rejected order {order_id}: {error.message}",
                                             detail=str(error)))
        return CreationResult(order_id, rejected=str(error))
    placed = runtime.magento.get_order(entity_id)
    return _record_created(runtime, order_id, placed.entity_id, placed.increment_id, found=False)


def _place(runtime: Runtime, order: MarketplaceOrder) -> int:
    settings = runtime.settings
    email = order_email(order)
    if not order.shipping_address:
        raise CreationBlocked(orders_domain.ORDER_ADDRESS_MISSING, "the order has no shipping address")
    address = _magento_address(order.shipping_address, email)
    billing_raw = ((order.raw or {}).get("customer") or {}).get("billing_address")
    billing = _magento_address(billing_raw, email) if isinstance(billing_raw, dict) and billing_raw.get("street_1") else address
    catalog = Catalog.of(runtime)
    with runtime.orders_store.unit_of_work() as orders:
        links = confirmed_links(orders.skus, [line.offer_sku for line in order.lines if not line.magento_sku])
    wanted = []
    for line in order.lines:
        if line.accepted is False or line.marketplace_state in ("REFUSED", "CANCELED"):
            continue
        sku = line.magento_sku or resolve_sku(catalog, line.offer_sku, links.get(line.offer_sku))[0]
        if sku is None:
            raise CreationBlocked(orders_domain.ORDER_CREATION_FAILED, f"offer SKU {line.offer_sku!r} matches no product")
        wanted.append((sku, float(line.quantity), line))
    if not wanted:
        raise CreationBlocked(orders_domain.ORDER_CREATION_FAILED, "no accepted line to create")
    if settings.order_creation_mode is OrderCreationMode.DIRECT:
        return _place_direct(runtime, order, catalog, wanted, address, billing, email)
    lines = cart_lines(runtime, catalog, [(sku, qty) for sku, qty, _ in wanted])
    carrier, _, method = shipping_method_for(settings, order.shipping_price).partition("_")
    return runtime.magento.create_order_via_cart(
        lines, shipping_address=address, billing_address=billing, email=email,
        carrier_code=settings.order_shipping_carrier_code or carrier, method_code=method or carrier,
        payment_method=settings.magento_payment_method, ext_order_id=order.order_id)


def shipping_method_for(settings: Settings, marketplace_shipping: Decimal) -> str:
    """The Magento shipping method for an order: the free one when John Lewis charged no delivery.

    The cart flow cannot set a shipping price, so Magento charges what its method charges; an
    order on which the marketplace charged nothing must not be charged Magento's flat rate, or
    every free-delivery order would differ from the marketplace's totals.
    """
    if marketplace_shipping <= 0 and settings.magento_free_shipping_method:
        return settings.magento_free_shipping_method
    return settings.magento_shipping_method


def _place_direct(runtime: Runtime, order: MarketplaceOrder, catalog: Catalog, wanted: list[tuple[str, float, OrderLine]],
                  address: magento_models.Address, billing: magento_models.Address, email: str) -> int:
    """``POST /V1/orders`` with the marketplace's prices. No MSI reservation (see README)."""
    items = []
    for sku, qty, line in wanted:
        product = catalog.product(sku)
        if product is None:
            raise CreationBlocked(orders_domain.ORDER_CREATION_FAILED, f"SKU {sku} does not exist in Adobe Commerce")
        items.append(magento_models.OrderItemInput(sku=sku, name=product.name or sku, qty_ordered=qty,
                                       price=wire_number(line.unit_price), base_price=wire_number(line.unit_price),
                                       row_total=wire_number(line.price), base_row_total=wire_number(line.price),
                                       product_id=product.id, product_type=product.type_id,
                                       ext_order_item_id=line.order_line_id))

    def addr(kind: str, a: magento_models.Address) -> magento_models.OrderAddressInput:
        return magento_models.OrderAddressInput(address_type=kind, firstname=a.firstname, lastname=a.lastname, street=a.street,
                                    city=a.city, postcode=a.postcode, country_id=a.country_id, telephone=a.telephone,
                                    email=email, company=a.company, region=a.region)

    total, subtotal, shipping = (wire_number(order.total_price), wire_number(order.subtotal),
                                 wire_number(order.shipping_price))  # Adobe Commerce reads JSON numbers
    entity = magento_models.OrderEntity(
        customer_email=email, base_currency_code=order.currency, order_currency_code=order.currency,
        global_currency_code=order.currency, store_currency_code=order.currency,
        base_grand_total=total, grand_total=total, subtotal=subtotal,
        base_subtotal=subtotal, shipping_amount=shipping, base_shipping_amount=shipping,
        total_due=total, base_total_due=total, ext_order_id=order.order_id,
        billing_address=addr("billing", billing), items=items,
        payment=magento_models.OrderPaymentInput(method=runtime.settings.magento_payment_method, amount_ordered=total),
        shipping_description="Marketplace shipping",
        extension_attributes=magento_models.OrderExtensionInput(shipping_assignments=[magento_models.OrderShippingAssignmentInput(
            shipping=magento_models.OrderShippingInput(address=addr("shipping", address),
                                           method=runtime.settings.magento_shipping_method))]),
    )
    return runtime.magento.create_order_direct(entity).entity_id


def _record_created(runtime: Runtime, order_id: str, entity_id: int, increment_id: str, *,
                    found: bool) -> CreationResult:
    def record(orders: OrdersRepository) -> bool:
        """Record the creation; True when the order was cancelled meanwhile."""
        order = get_order_record(orders, order_id, runtime.settings.order_connection)
        assert order is not None
        order.magento_entity_id = entity_id
        order.magento_increment_id = increment_id
        if order.state == S.AWAITING_PAYMENT.value:
            _transition(orders, order, S.CREATED, magento_entity_id=entity_id, magento_increment_id=increment_id,
                        found_existing=found)
        for type_ in (orders_domain.ORDER_CREATION_FAILED, orders_domain.ORDER_CUSTOM_OPTION_MISSING, orders_domain.ORDER_ADDRESS_MISSING,
                      orders_domain.ORDER_WAITING_FOR_STOCK):
            orders.issues.clear(type_, order_id)
        return order.state == S.CANCELLED.value

    cancelled_meanwhile = _write_with_retry(runtime, record)
    how = _cancel_created_after_cancellation(runtime, order_id, entity_id, increment_id) if cancelled_meanwhile \
        else None
    return CreationResult(order_id, magento_entity_id=entity_id, magento_increment_id=increment_id,
                          found_existing=found, cancelled_meanwhile=how)


def _cancel_created_after_cancellation(runtime: Runtime, order_id: str, entity_id: int, increment_id: str) -> str:
    """The marketplace cancelled the order while it was being created (another worker recorded the
    cancellation between our checks and Magento's answer): cancel the Magento order we just made,
    so the warehouse never ships it and its reservation is released."""
    try:
        how = "cancelled" if runtime.magento.cancel_order(entity_id) else "not cancellable"
    except Rejected as error:
        how = f"failed: {error.message}"
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, runtime.settings.order_connection)
        assert order is not None
        orders.add_transition(order, from_state=order.state, to_state=order.state, at=utcnow(), actor="system",
                              facts={"magento_entity_id": entity_id, "magento": how,
                                     "note": "created while being cancelled; Magento order cancelled"})
        if how != "cancelled":
            orders.issues.record(IssueReport(
                orders_domain.ORDER_CANCEL_FAILED, order_id,
                f"Order {order_id} was cancelled on the marketplace while it was being created; Adobe Commerce "
                f"order {increment_id} could not be cancelled ({how}).", detail=how))
    log.warning("order.created_after_cancellation", order_id=order_id, magento=how)
    return how


def _add_comment(runtime: Runtime, order_id: str, entity_id: int, comment: str, status: str | None) -> None:
    """Add an order comment under the order's current status (without one, Magento sets the order's
    status to none). Magento refuses a status the order no longer has, and the warehouse may have
    moved it on since it was read (seen in the soak: shipped in between): read the status again
    and send once more. A comment still refused is logged; it must not stop the invoice."""
    try:
        runtime.magento.add_order_comment(entity_id, comment, status=status)
        return
    except Rejected:
        status = runtime.magento.get_order(entity_id).status
    try:
        runtime.magento.add_order_comment(entity_id, comment, status=status)
    except Rejected as error:
        log.warning("order.comment_rejected", order_id=order_id, error=str(error))


def finish_creation(runtime: Runtime, order_id: str) -> FinishResult:
    """After creation: invoice (the marketplace already captured payment), the marketplace totals as
    an order comment, and the totals check. Each part looks at the order first, so a repeat is harmless."""
    settings = runtime.settings
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        if (order is None or order.magento_entity_id is None or order.state == S.CANCELLED.value
                or order.marketplace_state == "CANCELED"):
            # cancelled on the marketplace: not invoiced (the cancellation then needs no credit
            # memo) and no totals check against an order whose lines are all cancelled
            return FinishResult(order_id, skipped=True)
        entity_id = order.magento_entity_id
        ours = {"subtotal": order.subtotal, "shipping": order.shipping_price, "grand_total": order.total_price}
        currency = order.currency
        delivery = delivery_note(order.raw or {})
    magento_order = runtime.magento.get_order(entity_id)
    if not any((h.comment or "").startswith(MARKER) for h in magento_order.status_histories):
        comment = (f"{MARKER} {order_id} ({settings.order_connection}). Marketplace totals: subtotal "
                   f"{ours['subtotal']:.2f} {currency}, shipping {ours['shipping']:.2f}, total {ours['grand_total']:.2f}. "
                   "Payment captured by the marketplace." + (f" {delivery}" if delivery else ""))
        _add_comment(runtime, order_id, entity_id, comment, magento_order.status)
    invoiced = False
    if magento_order.state not in ("canceled", "closed") and any(
            i.qty_invoiced + i.qty_canceled < i.qty_ordered for i in magento_order.top_level_items()):
        try:
            runtime.magento.invoice_order(entity_id, capture=True)
            invoiced = True
        except Rejected as error:
            log.warning("order.invoice_rejected", order_id=order_id, error=str(error))
    theirs = {"subtotal": magento_order.subtotal, "shipping": magento_order.shipping_amount,
              "grand_total": magento_order.grand_total}  # as Adobe Commerce sent them: JSON numbers
    differences = orders_domain.compare_totals(ours, {k: to_money(v) for k, v in theirs.items()}, settings.totals_tolerance)
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, settings.order_connection)
        assert order is not None
        order.magento_totals = theirs
        if differences:
            text = ", ".join(f"{d.field} marketplace {d.marketplace:.2f} vs Adobe Commerce {d.magento:.2f}"
                             for d in differences)
            orders.issues.record(IssueReport(
                orders_domain.ORDER_TOTALS_MISMATCH, order_id,
                f"Order {order_id} (Adobe Commerce {order.magento_increment_id}) totals differ: {text}.",
                context={"marketplace": {k: wire_number(v) for k, v in ours.items()}, "magento": theirs}))
        else:
            orders.issues.clear(orders_domain.ORDER_TOTALS_MISMATCH, order_id)
    return FinishResult(order_id, invoiced=invoiced, differences=tuple(d.field for d in differences))


def request_retry(runtime: Runtime, order_id: str, *, actor: str) -> str:
    """A person asks to try the creation again (after fixing the cause): a new workflow id."""
    with runtime.orders_store.unit_of_work() as orders:
        order = get_order_record(orders, order_id, runtime.settings.order_connection)
        if order is None:
            raise LookupError(f"no marketplace order {order_id}")
        if order.state != S.AWAITING_PAYMENT.value:
            raise DecisionNotAllowed(f"order {order_id} is {order.state}; only orders awaiting creation can be retried")
        order.create_attempt += 1
        orders.issues.audit(actor, "order.retry", "order", order_id, attempt=order.create_attempt)
        return workflow_id("create", order)
