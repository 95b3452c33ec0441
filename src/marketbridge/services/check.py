"""``marketbridge check``: what a new user tests before going live, in plain words.

Each check calls the real API once, read-only, and turns the outcome into a line that says what
works or what to fix. Nothing is written to either system, but for one test cart in Adobe
Commerce: it is asked which payment methods and shipping rates it is offered, never placed (no
order, no reservation), and its item is removed again. Reference-data calls (A01, SH21, RE01)
are limited by Mirakl to about once a day in production, so ``check`` is meant for set-up and
troubleshooting, not for monitoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from marketbridge.adapters.errors import AuthFailed, IntegrationError, NetworkError, NotFound, RemoteError
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.magento.criteria import SearchCriteria
from marketbridge.runtime import Runtime
from marketbridge.services.orders.creation import shipping_method_for


@dataclass(frozen=True)
class CheckResult:
    system: str
    name: str
    ok: bool
    message: str


def _explain(system: str, error: Exception) -> str:
    if isinstance(error, AuthFailed):
        if system == "Adobe Commerce":
            return ("Adobe Commerce refused the credentials or lacks a permission: check "
                    "MARKETBRIDGE_MAGENTO_TOKEN and the integration's API resources.")
        return "John Lewis (Mirakl) refused the API key: check MARKETBRIDGE_MIRAKL_API_KEY and MARKETBRIDGE_MIRAKL_SHOP_ID."
    if isinstance(error, NetworkError):
        return f"{system} could not be reached: check the base URL and the network ({error.message})."
    if isinstance(error, NotFound):
        if system == "Adobe Commerce":
            return "The route was not found: check MARKETBRIDGE_MAGENTO_STORE_CODE and the base URL (no /rest suffix)."
        return f"Not found: {error.message}"
    if isinstance(error, RemoteError):
        return f"{system} answered with an error: {error}"
    return f"{type(error).__name__}: {error}"


def _run(system: str, name: str, action: Callable[[], str]) -> CheckResult:
    try:
        return CheckResult(system, name, True, action())
    except (IntegrationError, ValueError) as error:
        return CheckResult(system, name, False, _explain(system, error))


def magento_checks(runtime: Runtime) -> list[CheckResult]:
    client = runtime.magento
    settings = runtime.settings
    results: list[CheckResult] = []

    def auth_and_store() -> str:
        page = client.search_products(SearchCriteria().page(1, 1))
        return f"Signed in; store code '{settings.magento_store_code}' answers ({page.total_count} products)."

    results.append(_run("Adobe Commerce", "authentication and store code", auth_and_store))
    if not results[-1].ok:
        return results

    def stock() -> str:
        stocks = {s.stock_id: s.name for s in client.stocks()}
        website = settings.magento_website_code
        try:
            resolved: int | None = client.resolve_stock("website", website).stock_id
        except NotFound:
            resolved = None
        if settings.magento_stock_id is None:
            if resolved is None:
                raise ValueError(
                    f"No MSI stock is assigned to website '{website}': set MARKETBRIDGE_MAGENTO_WEBSITE_CODE to the "
                    "website the marketplace sells from, or assign that website to a stock (Stores > Inventory > Stocks)."
                )
            return (f"Publishing the salable quantity of stock {resolved} ({stocks.get(resolved)}), the stock of "
                    f"website '{website}', where Adobe Commerce reserves the marketplace's orders.")
        if settings.magento_stock_id not in stocks:
            raise ValueError(
                f"MSI stock {settings.magento_stock_id} does not exist; stocks are {stocks}. "
                "Set MARKETBRIDGE_MAGENTO_STOCK_ID, or unset it to use the stock of the website."
            )
        if resolved is not None and resolved != settings.magento_stock_id:
            raise ValueError(
                f"MARKETBRIDGE_MAGENTO_STOCK_ID is {settings.magento_stock_id}, but orders of website '{website}' "
                f"reserve on stock {resolved}: the published quantity would not count them. Unset it, or set "
                "MARKETBRIDGE_MAGENTO_WEBSITE_CODE to the website of that stock."
            )
        return f"Publishing the salable quantity of stock {settings.magento_stock_id} ({stocks[settings.magento_stock_id]})."

    def source() -> str:
        codes = [s.source_code for s in client.sources()]
        if settings.magento_source_code not in codes:
            raise ValueError(f"MSI source '{settings.magento_source_code}' does not exist; sources are {codes}.")
        return f"Source '{settings.magento_source_code}' exists."

    def orders() -> str:
        client.search_orders(SearchCriteria().page(1, 1))
        return "Can read sales orders."

    def shipments() -> str:
        client.search_shipments(SearchCriteria().page(1, 1))
        return "Can read shipments."

    def creditmemos() -> str:
        client.search_creditmemos(SearchCriteria().page(1, 1))
        return "Can read credit memos."

    trial = _CheckoutTrial(runtime)
    for name, action in [
        ("MSI stock", stock),
        ("MSI source", source),
        ("payment method", trial.payment),
        ("shipping methods", trial.shipping),
        ("orders permission", orders),
        ("shipments permission", shipments),
        ("credit memos permission", creditmemos),
    ]:
        results.append(_run("Adobe Commerce", name, action))
    return results


TEST_ADDRESS = magento_models.Address(
    firstname="Test", lastname="Customer", street=["1 Test Street"], city="London", postcode="SW1A 1AA",
    country_id="GB", telephone="02000000000", email="check@example.invalid")
PAYMENT_SETTING = "MARKETBRIDGE_MAGENTO_PAYMENT_METHOD"
PAYMENT_PAGE = "Stores > Configuration > Sales > Payment Methods"
DELIVERY_PAGE = "Stores > Configuration > Sales > Delivery Methods"


class _CheckoutTrial:
    """One test cart (a salable simple product, a UK address), asked what it is offered: the
    payment methods and shipping rates the order flow will use must be among them. The cart is
    never placed (no order, no reservation) and its item is removed again."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._options: magento_models.CheckoutOptions | None = None

    def options(self) -> magento_models.CheckoutOptions:
        if self._options is None:
            client = self.runtime.magento
            try:
                stock_id = self.runtime.stock_id
            except NotFound:
                raise ValueError("no stock to try a cart on: see the MSI stock check") from None
            criteria = SearchCriteria().where("type_id", "simple").where("status", 1).page(50, 1)
            sku = next((p.sku for p in client.search_products(criteria).items
                        if client.salable_quantity(p.sku, stock_id) >= 1), None)
            if sku is None:
                raise ValueError(f"no salable simple product on stock {stock_id} to try a cart with; "
                                 "add stock to one and run the check again.")
            self._options = client.trial_checkout(magento_models.CartLine(sku=sku, qty=1), TEST_ADDRESS)
        return self._options

    def payment(self) -> str:
        wanted = self.runtime.settings.magento_payment_method
        offered = {m.code: m.title or m.code for m in self.options().payment_methods}
        if wanted not in offered:
            others = ", ".join(sorted(offered)) or "none"
            raise ValueError(
                f"Orders are paid with '{wanted}' ({PAYMENT_SETTING}), which this store does not offer: enable "
                f"it under {PAYMENT_PAGE}, or set {PAYMENT_SETTING} to an enabled method (offered: {others}). "
                "Keep 'No Payment Information Required' (free) enabled too: Adobe Commerce accepts only it for "
                "an order whose total is 0.")
        return (f"Orders are paid with '{wanted}' ({offered[wanted]}), enabled for this store. Zero-total orders "
                "use 'free'. Enabled offline methods can also be chosen on the storefront (see the README).")

    def shipping(self) -> str:
        settings = self.runtime.settings
        rates = {f"{r.carrier_code}_{r.method_code}": r for r in self.options().shipping_methods if r.available}

        def used(marketplace_shipping: Decimal) -> str:
            carrier, _, method = shipping_method_for(settings, marketplace_shipping).partition("_")
            return f"{settings.order_shipping_carrier_code or carrier}_{method or carrier}"

        paid, free = used(Decimal(1)), used(Decimal(0))
        problems = []
        if paid not in rates:
            problems.append(f"orders with a delivery charge use {paid} (MARKETBRIDGE_MAGENTO_SHIPPING_METHOD)")
        if free != paid and free not in rates:
            problems.append(f"free-delivery orders use {free} (MARKETBRIDGE_MAGENTO_FREE_SHIPPING_METHOD)")
        if problems:
            raise ValueError(
                f"This store offers no rate for a test cart for: {'; '.join(problems)}. Enable the carrier under "
                f"{DELIVERY_PAGE} (Free Shipping with no minimum order amount, for free delivery), or change the "
                f"setting. Offered: {', '.join(sorted(rates)) or 'none'}.")
        return f"Offered for a test cart: {paid} for charged delivery, {free} for free delivery."


def mirakl_checks(runtime: Runtime) -> list[CheckResult]:
    client = runtime.mirakl
    settings = runtime.settings
    results: list[CheckResult] = []

    def account() -> str:
        shop = client.account()
        if settings.mirakl_shop_id is not None and shop.shop_id != settings.mirakl_shop_id:
            raise ValueError(f"the key belongs to shop {shop.shop_id}, not MARKETBRIDGE_MIRAKL_SHOP_ID={settings.mirakl_shop_id}")
        if shop.shop_state != "OPEN":
            raise ValueError(f"shop {shop.shop_id} is {shop.shop_state}: it cannot sell until John Lewis opens it")
        if shop.currency_iso_code != settings.currency:
            raise ValueError(f"the shop sells in {shop.currency_iso_code}, but MARKETBRIDGE_CURRENCY is {settings.currency}")
        return f"Signed in as shop {shop.shop_id} '{shop.shop_name}' ({shop.shop_state}, {shop.currency_iso_code})."

    results.append(_run("John Lewis (Mirakl)", "authentication and shop", account))
    if not results[-1].ok:
        return results

    def orders() -> str:
        next(client.list_orders(page_size=1), None)  # the generator fetches only the first page
        return "Can read orders (OR11)."

    def carriers() -> str:
        found = client.carriers()
        return f"{len(found)} carriers on the marketplace list (SH21) for mapping Magento carriers."

    def reasons() -> str:
        found = client.reasons()
        return f"{len(found)} reasons (RE01) for refunds."

    def capabilities() -> str:
        return (
            f"Assumed capabilities: stock through {settings.stock_import_api}, prices through {settings.price_import_api}, "
            f"partial acceptance {'on' if settings.partial_acceptance else 'off'}, multi-shipment "
            f"{'on' if settings.multi_shipment else 'off'}, orders {settings.order_tax_mode}. "
            "Confirm these with John Lewis: they are operator settings the API does not reveal."
        )

    for name, action in [("orders", orders), ("carriers", carriers), ("refund reasons", reasons), ("capabilities", capabilities)]:
        results.append(_run("John Lewis (Mirakl)", name, action))
    return results


def service_checks(runtime: Runtime) -> list[CheckResult]:
    """Settings of the service itself: the console's cookie-signing secret."""
    from marketbridge import session_secret

    reason = session_secret.problem(
        runtime.settings.session_secret.get_secret_value() if runtime.settings.session_secret else None)
    if reason is not None:
        return [CheckResult("marketbridge", "session secret", False, reason)]
    return [CheckResult("marketbridge", "session secret", True, "Console cookies are signed with a strong secret.")]


def run_checks(runtime: Runtime) -> list[CheckResult]:
    return service_checks(runtime) + magento_checks(runtime) + mirakl_checks(runtime)
