"""Settings: every knob comes from the environment (prefix ``MARKETBRIDGE_``) or an optional ``.env``.

Secrets (the Magento token, the Mirakl key, the session secret) are ``SecretStr`` so that they never
print in a repr, a log line or a validation error. A bad or missing value stops start-up with one
line naming the variable (see :func:`load_settings`).

The marketplace's *capabilities* are settings because Mirakl operators switch features on and off
per instance; the defaults are the ones we assume for John Lewis (stated in the README).
"""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StockImportApi(enum.StrEnum):
    """Which Mirakl import carries stock-only updates."""

    STO01 = "STO01"
    OF01 = "OF01"


class PriceImportApi(enum.StrEnum):
    PRI01 = "PRI01"
    OF01 = "OF01"


class PriceDiscounts(enum.StrEnum):
    """Who owns an offer's discount, since PRI01 deletes every price it is not sent.

    ``keep``: the offer's prices are read from the marketplace (OF21) before each PRI01 and sent
    back with ours, so a discount, channel or volume price set in the Mirakl back office survives.
    ``magento``: the discount is Magento's special price with its from/to dates; prices set in the
    back office are replaced."""

    KEEP = "keep"
    MAGENTO = "magento"


class OrderTaxMode(enum.StrEnum):
    TAX_INCLUDED = "TAX_INCLUDED"
    TAX_EXCLUDED = "TAX_EXCLUDED"


class RefundTaxRule(enum.StrEnum):
    """How the marketplace computes refund taxes (Mirakl's ``refund tax`` platform setting)."""

    PROPORTIONAL_TO_AMOUNT = "proportional_to_amount"
    NONE = "none"


class AcceptancePolicy(enum.StrEnum):
    """What to do with an order that fails an acceptance rule."""

    REFUSE = "refuse"
    HOLD = "hold"


class OrderCreationMode(enum.StrEnum):
    CART = "cart"
    DIRECT = "direct"


PositiveSeconds = Annotated[float, Field(gt=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MARKETBRIDGE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        secrets_dir=None,
    )

    # --- storage -------------------------------------------------------------------------
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{Path.cwd() / 'marketbridge.sqlite'}",
        description="SQLAlchemy URL. SQLite file by default; postgresql+psycopg://... to scale out.",
    )
    engine_database_url: str | None = Field(
        default=None,
        description="Where the workflow engine keeps its records. Default: the same PostgreSQL database, "
        "or a SQLite file beside the main one (<name>.engine.sqlite), so the two do not share one write lock.",
    )
    slow_write_seconds: float = Field(
        default=5.0, ge=0,
        description="Log a database transaction that holds its write longer than this, with where it began and "
        "what it is doing (adapters/db/slow_writes.py). 0 turns the watch off.",
    )
    executor_id: str = Field(default="local", description="Stable id of this worker process (DBOS).")
    stale_executor_seconds: float = Field(
        default=60.0, gt=0, description="A worker silent this long is presumed dead; its work is resumed."
    )
    sweeper_cron: str = "*/15 * * * * *"
    schedule_run_retention_hours: float = Field(
        default=24.0, gt=0, description="Finished runs of scheduled workflows are deleted after this long."
    )
    application_version: str = Field(
        default="marketbridge-1",
        description="Pinned DBOS application version. Bump only when a workflow's steps change incompatibly.",
    )

    # --- Adobe Commerce ------------------------------------------------------------------
    magento_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8101"))
    magento_token: SecretStr = Field(default=SecretStr("sandbox-magento-token"))
    magento_store_code: str = Field(default="all", pattern=r"^[a-z0-9_]+$")
    magento_oauth_consumer_key: SecretStr | None = None
    magento_oauth_consumer_secret: SecretStr | None = None
    magento_oauth_access_token: SecretStr | None = None
    magento_oauth_access_token_secret: SecretStr | None = None
    magento_website_code: str = Field(
        default="base", pattern=r"^[a-z0-9_]+$",
        description="Website the marketplace sells from: its stock (MSI's stock resolver) is the one we publish "
        "and the one Adobe Commerce reserves orders on.")
    magento_stock_id: int | None = Field(
        default=None, ge=1,
        description="MSI stock whose salable quantity we publish; unset = the stock of magento_website_code.")
    magento_source_code: str = Field(default="default", description="MSI source used for shipments.")
    magento_timeout_seconds: PositiveSeconds = 30.0

    # --- Mirakl ----------------------------------------------------------------------------
    mirakl_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("http://127.0.0.1:8102"))
    mirakl_api_key: SecretStr = Field(default=SecretStr("sandbox-mirakl-key"))
    mirakl_shop_id: int | None = None
    mirakl_timeout_seconds: PositiveSeconds = 30.0
    mirakl_rate_limit_scale: float = Field(
        default=1.0,
        gt=0,
        le=1.0,
        description="Multiplies every documented Mirakl call interval. 1.0 in production; tests shrink it.",
    )
    mirakl_rate_limit_db: str | None = Field(
        default=None,
        description="SQLite file shared by every worker to pace Mirakl calls per API; unset = in-process limiter.",
    )
    mirakl_external_partner: bool = Field(
        default=False,
        description="The shop key is registered as an External Partner integration: Mirakl allows OR11 only every "
        "15 minutes (seller OpenAPI, OR11 Call Frequency); poll runs in between read nothing.",
    )
    mirakl_min_intervals: dict[str, float] = Field(
        default_factory=dict,
        description='Slower paces than documented, seconds per API code before the scale, e.g. {"OR11": 300} '
        "(an operator's own limits). A pace faster than Mirakl documents is refused.",
    )

    # --- marketplace capabilities (John Lewis defaults) -----------------------------------
    stock_import_api: StockImportApi = StockImportApi.STO01
    price_import_api: PriceImportApi = PriceImportApi.PRI01
    # keep (default): nobody's price is lost without a person deciding it; see PriceDiscounts
    price_discounts: PriceDiscounts = PriceDiscounts.KEEP
    partial_acceptance: bool = False
    multi_shipment: bool = False
    order_tax_mode: OrderTaxMode = OrderTaxMode.TAX_INCLUDED
    refund_tax_rule: RefundTaxRule = RefundTaxRule.PROPORTIONAL_TO_AMOUNT
    currency: str = Field(default="GBP", pattern=r"^[A-Z]{3}$")

    # --- flows ------------------------------------------------------------------------------
    stock_sync_enabled: bool = True
    price_sync_enabled: bool = True
    stock_poll_cron: str = "0 */5 * * * *"
    order_poll_cron: str = "0 * * * * *"
    order_poll_overlap_seconds: int = Field(default=300, ge=0)
    acceptance_policy: AcceptancePolicy = AcceptancePolicy.HOLD
    order_creation_mode: OrderCreationMode = OrderCreationMode.CART
    order_stock_retry_seconds: float = Field(
        default=300, ge=1,
        description="How often a paid order that Adobe Commerce refused for want of stock is tried again.")
    price_tolerance_percent: float = Field(default=1.0, ge=0)
    totals_tolerance: float = Field(default=0.01, ge=0)
    magento_payment_method: str = "checkmo"
    magento_shipping_method: str = "flatrate_flatrate"
    magento_free_shipping_method: str | None = Field(
        default="freeshipping_freeshipping",
        description="Used instead of magento_shipping_method when the marketplace charged no delivery.",
    )
    personal_data_retention_days: int = Field(
        default=90, ge=1, description="Orders' customer names, addresses, phones and e-mails (in every state, "
        "created in Adobe Commerce or not), and what quotes them, are removed after this many days.")
    webhook_body_retention_hours: float = Field(
        default=48.0, gt=0, description="Stored Adobe Commerce webhook bodies are cut down to the event name, ids "
        "and SKUs after this long (the dedup key and receipt time stay).")
    failed_login_name_retention_days: int = Field(
        default=30, ge=1, description="Names typed into the log-in form that failed are removed from the "
        "activity log after this many days (a typed name may be a customer's, or a password).")
    audit_cron: str = "0 0 2 * * *"
    timezone: str = "Europe/London"

    # --- shipments (Magento shipment -> OR23/OR24 or ST01) ---------------------------------------
    shipment_poll_cron: str = Field(default="30 * * * * *", description="Read new Magento shipments and re-read tracks.")
    shipment_watch_cron: str = Field(default="0 */5 * * * *", description="Deadline watch and unconfirmed shipments.")
    carrier_refresh_cron: str = Field(default="0 15 4 * * *", description="Daily refresh of the SH21 carrier list.")
    shipment_recheck_hours: float = Field(
        default=72.0, gt=0, description="Unconfirmed shipments younger than this get their tracks re-read each poll."
    )
    shipping_deadline_lead_hours: float = Field(
        default=12.0, ge=0, description="Raise shipping_deadline_near this long before an unshipped order's deadline."
    )
    shipment_unconfirmed_minutes: float = Field(
        default=120.0, gt=0, description="Raise shipment_unconfirmed when a shipment is not confirmed after this."
    )
    carrier_aliases: dict[str, str] = Field(
        default_factory=dict,
        description='Extra carrier aliases, JSON {"magento title or code": "SH21 code"}.',
    )
    shipment_require_tracking: bool = Field(
        default=True, description="Hold a shipment without a tracking number (John Lewis asks for one)."
    )
    shipment_order_read_ttl_seconds: float = Field(
        default=30.0, ge=0, description="How long one batched OR11 read of orders with due shipments is reused."
    )

    # --- orders (issue 4) -------------------------------------------------------------------------
    order_connection: str = Field(default="johnlewis", min_length=1, max_length=64,
                                  description="Name of this marketplace connection; orders are unique per connection.")
    order_poll_page_size: int = Field(default=100, ge=1, le=100)
    order_initial_lookback_seconds: int = Field(default=7 * 86400, ge=0,
                                                description="How far back the very first OR11 poll reads.")
    order_acceptance_window_seconds: float = Field(
        default=86400.0, gt=0,
        description="Time the marketplace gives to accept an order before refusing it automatically.")
    order_acceptance_reminder_seconds: float = Field(
        default=4 * 3600.0, ge=0, description="Remind ops this long before a held order's deadline.")
    order_housekeeping_cron: str = "30 */5 * * * *"
    order_stuck_max_age_seconds: dict[str, float] = Field(
        default_factory=lambda: {"received": 900.0, "accepted": 86400.0, "awaiting_payment": 3 * 86400.0,
                                 "created": 5 * 86400.0},
        description='JSON {"state": seconds}: past this age in a state an order raises an exception.')
    order_custom_option_values: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='JSON {"SKU": {"option title or id": "value"}} for required custom options.')
    order_shipping_carrier_code: str | None = Field(
        default=None, description="Overrides the carrier part of magento_shipping_method (carrier_method).")

    # --- the order feed (issue 20): one OR11 read per interval, a local mirror, changes on the bus ---
    order_feed_enabled: bool = Field(
        default=True, description="Run the order feed's scheduled read (orders.feed): the one scheduled OR11 "
        "read, whose mirror the orders, shipments, refunds and finance flows read. Off (false): nothing reads "
        "or writes the mirror and those flows keep their own OR11 reads, as before issue 20; kept for a "
        "merchant who wants them.")
    order_feed_interval_seconds: float | None = Field(
        default=None, gt=0, description="Seconds between two feed reads, before mirakl_rate_limit_scale. Unset: "
        "OR11's pace (60 s; 900 s with mirakl_external_partner; or a slower mirakl_min_intervals OR11). A value "
        "faster than that pace is refused.")
    order_feed_overlap_seconds: float = Field(
        default=120.0, ge=0, description="Each read asks OR11 from the cursor minus this, so an order updated "
        "while the previous read was paging (its date older than the newest one that read saw) is not missed.")
    order_feed_lease_seconds: float = Field(
        default=180.0, gt=0, description="How long a reader's lease lasts without being renewed (it is renewed "
        "at every page): a worker killed mid-read delays the next read by at most this long.")
    order_feed_export_after_seconds: float = Field(
        default=21600.0, ge=0, description="When the window a read would ask for (now minus its start: the "
        "cursor less the overlap, or order_initial_lookback_seconds on the very first read) is longer than this, "
        "the read takes [start, now) through Mirakl's differential order export (OR13-OR15, documented for large "
        "volumes; at most one every 5 minutes) instead of paging OR11. 0: never.")
    order_feed_export_timeout_seconds: float = Field(
        default=1800.0, gt=0, description="How long a read through the order export waits for Mirakl to finish "
        "it (OR14). That read holds the feed's lease this long plus order_feed_lease_seconds, so a worker killed "
        "during an export delays another worker's read by at most that.")

    # --- stock and price flow (issue 3) ---------------------------------------------------------
    magento_webhook_public_key_file: Path | None = Field(
        default=None, description="PEM public key Adobe Commerce signs webhooks with (Admin › Webhooks)."
    )
    magento_webhook_public_key: SecretStr | None = Field(
        default=None, description="The same PEM given inline instead of as a file."
    )
    webhook_max_body_bytes: int = Field(default=1_000_000, ge=1024)
    adobe_io_public_key_file: Path | None = Field(
        default=None, description="Adobe I/O Events public keys (PEM, one or more; or a directory of .pem files), "
        "downloaded from static.adobeioevents.com: they are never fetched at run time. Unset: /webhooks/adobe-io "
        "refuses every delivery.")
    adobe_io_public_key: str | None = Field(
        default=None, description="The same PEM key(s) given inline instead of as a file.")
    adobe_io_client_id: str | None = Field(
        default=None, description="The Developer Console project's client id: an I/O Events delivery whose "
        "recipient_client_id differs is refused. Unset: not checked.")
    webhook_recheck_seconds: float = Field(
        default=5.0, ge=0, description="A SKU hinted by a webhook that may come before Adobe Commerce commits "
        "(plugin hooks, *_save_after observers) and read unchanged is read once more this long after. 0: never.")
    webhook_dedup_seconds: float = Field(
        default=7 * 86400.0, ge=0,
        description="A delivery whose key (I/O Events id, else the SHA-256 of the signed body) was seen within "
        "this window is a redelivery or a replay: answered 200, not stored or acted on again.",
    )
    stock_push_cron: str = Field(
        default="*/2 * * * * *", description="How often the push loop looks for pending SKUs (6-field cron)."
    )
    stock_unmanaged_default_quantity: int = Field(
        default=100, ge=0, description="Quantity published for products that do not manage stock."
    )
    stock_salable_read: str = Field(
        default="export",
        pattern=r"^(export|bulk|exact)$",
        description="export: Magento's export-stock-salable-qty (300 SKUs a call, reservations included; "
        "falls back to bulk where the store does not serve it); bulk: salable = in-stock source items of "
        "the stock - min qty, with an exact per-SKU read for SKUs on open orders (reservations); exact: "
        "one salable-quantity call per SKU.",
    )
    stock_read_concurrency: int = Field(default=8, ge=1, le=64)
    stock_exact_read_max: int = Field(
        default=2000, ge=0, description="Up to this many changed SKUs are re-read one by one (exact salable "
        "qty); more than that and one scan of all source items is cheaper."
    )
    stock_import_timeout_seconds: float = Field(default=1800.0, gt=0)
    stock_batch_stale_seconds: float = Field(default=3600.0, gt=0)

    # --- refunds and finance (issue 6) ----------------------------------------------------------
    refund_sync_enabled: bool = True
    refund_poll_cron: str = Field(default="20 * * * * *", description="Read new Magento credit memos (entity id cursor).")
    refund_follow_cron: str = Field(
        default="40 */5 * * * *",
        description="Re-read marketplace orders: follow our refunds to REFUNDED, record refunds started there.",
    )
    refund_reasons_cron: str = Field(default="0 20 4 * * *", description="Daily refresh of the RE01 reason list.")
    refund_backfill_hours: float = Field(
        default=24.0, ge=0, description="On the very first poll, credit memos created this far back are processed."
    )
    refund_reason_map: dict[str, str] = Field(
        default_factory=lambda: {"out of stock": "15", "return": "16", "damaged": "17", "goodwill": "18"},
        description='Magento credit memo comment keyword -> RE01 refund reason code, JSON {"damaged": "17"}.',
    )
    refund_reason_default: str = Field(default="16", min_length=1, description="RE01 code when no keyword matches.")
    refund_adjustment_policy: str = Field(
        default="allocate", pattern=r"^(allocate|flag)$",
        description="allocate: spread credit memo adjustments over the refunded lines; flag: hold them for finance.",
    )
    refund_match_skew_seconds: float = Field(
        default=300.0, ge=0, description="Clock margin when matching a refund we may have sent to one on the marketplace."
    )
    refund_completion_alert_hours: float = Field(
        default=72.0, gt=0, description="Raise refund_not_completed when a refund we sent is not REFUNDED by then."
    )
    refund_retry_seconds: float = Field(
        default=5.0, gt=0, description="First wait before re-sending after an unknown outcome (doubles, at most 6 tries)."
    )
    refund_stall_minutes: float = Field(
        default=10.0, gt=0, description="A credit memo unfinished and untouched this long is started again."
    )
    finance_tolerance: float = Field(default=0.01, ge=0, description="Amounts closer than this match in the finance report.")

    # --- catalogue publishing and the full audit (audit_cron + timezone above) ----------------------
    catalogue_publish_enabled: bool = Field(default=True, description="Publish new Magento products by schedule.")
    catalogue_publish_cron: str = Field(
        default="30 * * * * *", description="How often new products are looked for and imports followed."
    )
    audit_enabled: bool = Field(default=True, description="Run the full audit on audit_cron (timezone: timezone).")
    audit_fix_on_schedule: bool = Field(default=False, description="Let the scheduled audit correct drift too.")
    audit_offer_source: str = Field(
        default="OF52", pattern=r"^(OF52|OF21)$",
        description="OF52 asynchronous export (falls back to OF21 paging when unavailable), or OF21 paging only.",
    )
    audit_export_timeout_seconds: float = Field(default=1800.0, gt=0)
    audit_fix_timeout_seconds: float = Field(default=1800.0, gt=0)
    audit_fix_via_stock_outbox: bool = Field(
        default=True, description="In the running service, send quantity/price fixes through the stock flow's outbox."
    )
    audit_confirm_limit: int = Field(
        default=500, ge=0,
        description="Quantity mismatches re-checked per run with Magento's per-SKU salable quantity (2 calls each).",
    )

    # --- web ------------------------------------------------------------------------------------
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8100, ge=1, le=65535)
    session_secret: SecretStr | None = Field(
        default=None,
        description="Signs console session cookies: at least 32 random bytes (see marketbridge.session_secret). "
        "No default: `marketbridge run` refuses to start without one.",
    )
    session_secret_file: Path | None = Field(
        default=None, description="A file holding the session secret (e.g. a mounted secret), used when "
        "MARKETBRIDGE_SESSION_SECRET is not set.",
    )
    secure_cookies: bool | None = Field(
        default=None,
        description="Secure flag on the session cookie, and HSTS. Unset: on, unless web_host is a loopback "
        "address (127.0.0.1, ::1, localhost), where the console is only reachable over plain http.",
    )
    alert_urls_ecommerce: SecretStr | None = None
    alert_urls_ops: SecretStr | None = None
    alert_urls_finance: SecretStr | None = None
    alert_urls_customer_service: SecretStr | None = None

    # --- console: alerts -------------------------------------------------------------------------
    alert_check_cron: str = Field(default="0 * * * * *", description="How often urgent exceptions are alerted.")
    alert_digest_cron: str = Field(default="0 0 8 * * *", description="When the daily digest goes out (UTC).")
    alert_repeat_hours: float = Field(
        default=12.0, gt=0, description="An urgent problem on one object alerts at most once in this many hours."
    )
    console_url: str = Field(default="", description="Public address of the console, for links in alerts.")

    @model_validator(mode="after")
    def _known_mirakl_paces(self) -> Settings:
        from marketbridge.adapters.mirakl.endpoints import pacing

        # raises ValueError on an unknown code or a pace faster than documented (or than the
        # External Partner OR11 pace when that is on)
        pacing(self.mirakl_min_intervals, external_partner=self.mirakl_external_partner)
        return self

    @property
    def or11_pace(self) -> float:
        """OR11's interval before the rate scale: 60 s, 900 s for External Partner keys, or slower."""
        from marketbridge.adapters.mirakl.endpoints import pacing

        return pacing(self.mirakl_min_intervals, external_partner=self.mirakl_external_partner)["OR11"]

    @property
    def order_feed_interval(self) -> float:
        """Seconds between feed reads before the rate scale: the setting, else OR11's pace."""
        return self.order_feed_interval_seconds if self.order_feed_interval_seconds is not None else self.or11_pace

    @model_validator(mode="after")
    def _feed_not_faster_than_or11(self) -> Settings:
        pace = self.or11_pace
        if self.order_feed_interval_seconds is not None and self.order_feed_interval_seconds < pace:
            raise ValueError(f"MARKETBRIDGE_ORDER_FEED_INTERVAL_SECONDS: OR11 may be read at most once every "
                             f"{pace:g} s; {self.order_feed_interval_seconds:g} s is faster")
        return self

    @field_validator("database_url", "engine_database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        """Accept ``postgres://`` and ``postgresql://`` and use psycopg 3 for both."""
        if value is None:
            return None
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not (value.startswith("sqlite") or value.startswith("postgresql+psycopg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _session_secret_from_file(self) -> Settings:
        """``MARKETBRIDGE_SESSION_SECRET_FILE``: read the secret from a file when it is not set inline."""
        if self.session_secret is None and self.session_secret_file is not None:
            try:
                text = self.session_secret_file.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise ValueError(f"MARKETBRIDGE_SESSION_SECRET_FILE cannot be read ({error.strerror})") from None
            self.session_secret = SecretStr(text) if text else None
        return self

    @property
    def cookies_secure(self) -> bool:
        """``secure_cookies`` when set; otherwise on unless the service listens only on loopback.

        Off by default only where plain http is the sole way in (``make demo``, a laptop). A public
        or wildcard bind (``0.0.0.0``, a host name) sits behind TLS in production: the cookie must
        not travel in clear, so that is the default there; an operator can still force either way.
        """
        if self.secure_cookies is not None:
            return self.secure_cookies
        return not is_loopback_host(self.web_host)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def workflow_database_url(self) -> str:
        """DBOS's system database (see ``adapters.db.engine_store`` for the rule and why)."""
        from marketbridge.adapters.db.engine_store import engine_database_url

        return engine_database_url(self.database_url, self.engine_database_url)

    def secret_values(self) -> list[str]:
        """Every configured secret in clear, for the log redactor. Never print this list."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                if len(raw) >= 6:
                    values.append(raw)
        return values


def is_loopback_host(host: str) -> bool:
    """``127.0.0.1`` (any 127/8), ``::1``, ``localhost``: only this machine can connect."""
    import ipaddress

    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class SettingsError(SystemExit):
    """Raised when the environment is not usable; its text is one line naming the variable."""


def describe_validation_error(error: ValidationError) -> str:
    """One plain line per bad variable, never echoing the value (it may be a secret)."""
    parts = []
    for item in error.errors():
        if not item["loc"]:  # a whole-model check names its variable in its message
            parts.append(str(item["msg"]).removeprefix("Value error, "))
            continue
        name = "MARKETBRIDGE_" + "_".join(str(p) for p in item["loc"]).upper()
        parts.append(f"{name}: {item['msg']}")
    return "configuration error: " + "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
