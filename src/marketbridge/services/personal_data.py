"""Personal data: where it lands, how long it stays, and the purge that removes it.

A customer's name, addresses, phones and e-mail reach the database through:

* **marketplace orders** (OR11): ``marketplace_orders.customer_name``, ``shipping_address`` and
  ``raw`` (the payload's ``customer`` with its addresses, and ``customer_notification_email``).
  Needed until the order is created in Adobe Commerce; removed ``personal_data_retention_days``
  after receipt *whatever the order's state*: held, refused and cancelled orders too;
* **Adobe Commerce webhooks**: ``webhook_events.body`` (an order event carries the customer). After
  ``webhook_body_retention_hours`` the body is cut down to what dispatch needs (event name, ids,
  SKUs, quantities, see :func:`minimise_body`); the row, its dedup key and receipt time stay;
* **text that quotes an order**: a remote system's error in ``exception_records`` (message, detail,
  suggested action, context), a person's note in ``audit_log.detail``, transition facts. When an
  order is purged, its customer's strings are redacted from the records about it; the detail of
  closed issue records older than the retention is dropped as well (it is remote free text);
* **the log-in form**: a failed log-in records the typed name as ``audit_log.actor`` /
  ``object_id`` (it may be a customer's name, or a password typed in the wrong box). Only admins see
  it on the activity page (:func:`marketbridge.services.console.dashboard.activity`); it is removed after
  ``failed_login_name_retention_days``.

Shipments, refunds, deliveries (OR23/OR24 bodies) and the engine's workflow inputs and outputs hold
ids, SKUs, amounts and tracking, not the customer; tests/integration/test_personal_data_purge.py
feeds a customer through every entry point, purges, and searches every column of every table.

:func:`purge` runs in the orders housekeeping schedule (``order_housekeeping_cron``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from marketbridge.adapters.magento.webhooks import WebhookPayloadError, parse_envelope
from marketbridge.ports.personal_data import PersonalDataRepository
from marketbridge.settings import Settings

if TYPE_CHECKING:  # the orders flow hands its orders out (services.orders.queries); only named here
    from marketbridge.adapters.db.models.orders import MarketplaceOrder

REMOVED = "[removed]"
FAILED_LOGIN = "login.failed"
NAME_REMOVED = "(name removed)"

# --------------------------------------------------------------------------- webhook bodies
# Keys a handler reads (services/stock: every "sku"; shipments: entity_id / parent_id; refunds:
# entity_id), kept at any depth with the containers that lead to them. Every other scalar goes.
_KEEP_KEYS = frozenset({"sku", "id", "qty", "quantity", "qty_ordered", "qty_shipped", "qty_refunded",
                        "qty_canceled", "qty_invoiced", "source_code", "status", "state", "store_id",
                        "product_type", "type_id", "increment_id"})
# Ids that are personal (a tax number), although named like one.
_PERSONAL_ID_KEYS = frozenset({"vat_id", "tax_id", "taxvat", "customer_taxvat", "national_id"})


def _keep_key(key: str) -> bool:
    key = key.lower()
    if key in _PERSONAL_ID_KEYS:
        return False
    return key in _KEEP_KEYS or key.endswith(("_id", "_ids"))


def _minimal(value: Any, keep_scalars: bool = False) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            if isinstance(child, dict | list):
                out[key] = _minimal(child, keep_scalars=_keep_key(str(key)))
            elif _keep_key(str(key)) and (child is None or isinstance(child, int | float | str)):
                out[key] = child
        return out
    if isinstance(value, list):
        return [_minimal(child) if isinstance(child, dict | list) else child
                for child in value if isinstance(child, dict | list) or (keep_scalars and isinstance(child, int | float | str))]
    return value


def minimise_body(body: str, event_name: str) -> str:
    """The stored form of a webhook body once its retention is over: ``{"eventName", "data",
    "minimised": true}`` where ``data`` keeps only ids, SKUs and quantities (and the objects and
    lists that contain them). It is still a valid envelope, so an event that was never handled is
    dispatched from it as before."""
    try:
        # the stored name (it may have come from the hook's URL: a plugin body names nothing)
        name, data = parse_envelope(body.encode("utf-8"), event_name or None)
    except WebhookPayloadError:
        name, data = event_name, {}
    return json.dumps({"eventName": name, "data": _minimal(data), "minimised": True}, separators=(",", ":"))


def minimise_webhook_bodies(data: PersonalDataRepository, cutoff: dt.datetime, now: dt.datetime, *,
                            batch: int = 500, max_batches: int = 20) -> int:
    """Cut down the bodies received before ``cutoff`` (oldest first, a bounded amount per run)."""
    done = 0
    for _ in range(max_batches):
        rows = data.webhook_bodies_before(cutoff, batch=batch)
        for row in rows:
            row.body = minimise_body(row.body, row.event_name)
            row.body_minimised_at = now
        data.flush()
        done += len(rows)
        if len(rows) < batch:
            break
    return done


# --------------------------------------------------------------------------- orders
_ADDRESS_KEYS = ("firstname", "lastname", "company", "street_1", "street_2", "city", "zip_code", "phone",
                 "phone_secondary", "email")
_MIN_LENGTH = 3  # shorter fragments ("Li") would redact unrelated text; the full name still goes


def personal_strings(order: MarketplaceOrder) -> set[str]:
    """Every customer string this order holds: names, address lines, phones, e-mails."""
    found: set[str] = set()
    if order.customer_name:
        found.add(order.customer_name)
    raw = order.raw or {}
    raw_customer = raw.get("customer")
    customer: dict[str, Any] = raw_customer if isinstance(raw_customer, dict) else {}
    addresses = [order.shipping_address or {}, customer.get("shipping_address") or {},
                 customer.get("billing_address") or {}]
    for address in addresses:
        if isinstance(address, dict):
            found.update(str(address.get(key)) for key in _ADDRESS_KEYS if address.get(key))
            name = " ".join(str(address.get(k)) for k in ("firstname", "lastname") if address.get(k))
            found.add(name)
    for key, value in customer.items():
        if key not in ("customer_id", "locale", "civility") and isinstance(value, str):
            found.add(value)
    found.add(" ".join(str(customer.get(k)) for k in ("firstname", "lastname") if customer.get(k)))
    if raw.get("customer_notification_email"):
        found.add(str(raw["customer_notification_email"]))
    return {s.strip() for s in found if s and len(s.strip()) >= _MIN_LENGTH}


def _pattern(strings: set[str]) -> re.Pattern[str] | None:
    if not strings:
        return None
    ordered = sorted(strings, key=len, reverse=True)  # the e-mail before the first name inside it
    return re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE)


def redact(value: Any, pattern: re.Pattern[str]) -> Any:
    """``value`` with every match replaced by ``[removed]`` (strings inside dicts and lists too)."""
    if isinstance(value, str):
        return pattern.sub(REMOVED, value)
    if isinstance(value, dict):
        return {redact(k, pattern) if isinstance(k, str) else k: redact(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, pattern) for v in value]
    return value


def _redact_records_about(data: PersonalDataRepository, order: MarketplaceOrder, pattern: re.Pattern[str]) -> None:
    order_id = order.order_id
    for record in data.issue_records_about(order_id):
        record.message = redact(record.message, pattern)
        record.detail = redact(record.detail, pattern)
        record.suggested_action = redact(record.suggested_action, pattern)
        record.context = redact(dict(record.context or {}), pattern)
    for entry in data.audit_entries_about(order_id):
        entry.detail = redact(dict(entry.detail or {}), pattern)
    for transition in order.transitions:
        transition.facts = redact(dict(transition.facts or {}), pattern)


def purge_orders(data: PersonalDataRepository, cutoff: dt.datetime, now: dt.datetime, *, batch: int = 500) -> int:
    """Purge every order received before ``cutoff``, in any state (an order held, refused or
    cancelled before it reached Adobe Commerce carries the same customer as one that did)."""
    from marketbridge.services.orders import purge_personal_data
    from marketbridge.services.orders.queries import orders_due_for_purge

    orders = orders_due_for_purge(data.orders, cutoff, batch=batch)
    for order in orders:
        pattern = _pattern(personal_strings(order))
        purge_personal_data(order, now)
        if pattern is not None:
            _redact_records_about(data, order, pattern)
    data.flush()
    return len(orders)


def drop_old_issue_details(data: PersonalDataRepository, cutoff: dt.datetime) -> int:
    """Closed issue records last seen before ``cutoff`` lose their detail (a remote system's
    free text, which may quote anything); the message, type and history stay."""
    from marketbridge.services.issues import ACTIVE_STATES

    return data.clear_issue_details(states_not_in=ACTIVE_STATES, last_seen_before=cutoff)


# --------------------------------------------------------------------------- the log-in form
def forget_failed_login_names(data: PersonalDataRepository, cutoff: dt.datetime) -> int:
    """Failed log-ins recorded before ``cutoff`` keep their time and action, not the typed name."""
    return data.forget_actors(action=FAILED_LOGIN, before=cutoff, replacement=NAME_REMOVED)


# --------------------------------------------------------------------------- all of it
def purge(data: PersonalDataRepository, settings: Settings, now: dt.datetime) -> dict[str, int]:
    """One pass of every retention rule above, in the caller's transaction (the caller commits):
    the composition root runs it on ``PersonalDataStore.on_session`` of the orders flow's
    housekeeping session."""
    personal_cutoff = now - dt.timedelta(days=settings.personal_data_retention_days)
    return {
        "purged": purge_orders(data, personal_cutoff, now),
        "webhook_bodies_minimised": minimise_webhook_bodies(
            data, now - dt.timedelta(hours=settings.webhook_body_retention_hours), now),
        "failed_login_names_removed": forget_failed_login_names(
            data, now - dt.timedelta(days=settings.failed_login_name_retention_days)),
        "exception_details_dropped": drop_old_issue_details(data, personal_cutoff),
    }


__all__ = ["minimise_body", "personal_strings", "purge", "redact"]
