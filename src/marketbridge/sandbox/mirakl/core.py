"""Shared pieces of the Mirakl simulator state: the sandbox clock, errors, settings, helpers."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

#: Order states as OR11 and OR13 accept them in ``order_state_codes`` (seller OpenAPI enum, with
#: its deprecated values).
ORDER_STATES = {"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED",
                "TO_COLLECT", "RECEIVED", "CLOSED", "REFUSED", "CANCELED", "WAITING_REFUND", "WAITING_REFUND_PAYMENT"}


class SandboxError(Exception):
    """A documented API failure: becomes ``{"status": N, "message": ...}`` (+ ``code``) on the wire,
    with ``headers`` (a 429's ``Retry-After``) when given."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "message": self.message}
        if self.code:
            body["code"] = self.code
        return body


class SandboxClock:
    """Wall-clock UTC plus an offset that ``POST /_sandbox/clock/advance`` moves forward.

    Business timers (acceptance deadline, import processing, refund completion, auto-receive)
    read this clock; the per-API call-frequency limiter uses real monotonic time instead, because
    moving sandbox time must not let a client burst past a real rate limit.
    """

    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()


@dataclass
class SandboxSettings:
    """Operator switches and timers. Changed at run time by ``POST /_sandbox/settings``."""

    partial_acceptance: bool = False
    partial_cancelation: bool = False  # OR30 ("shop partial cancelation", enabled by Mirakl support)
    multi_shipment: bool = False  # ST01/ST11/ST23/ST24
    mandatory_tracking: bool | None = None  # None: as the order's shipping method says (SH12)
    auto_debit: bool = False  # accepted orders go straight to SHIPPING (no /debit call needed)
    import_delay_seconds: float = 1.0
    # P41: how long a product import stays SENT ("sent for integration") before COMPLETE. Real
    # operator integration is asynchronous (P42 integration_details counts products "not accepted
    # in time"); John Lewis's figure is unknown, five minutes is a plausible short one.
    product_integration_delay_seconds: float = 300.0
    # STO03/PRI03 headers: SPEC documents only positions (line number, then reason, then the row);
    # by default the first two header cells are blank, so a client must read them by position.
    # True names them ``error-line``/``error-message``, as OF03's example does.
    report_header_names: bool = False
    export_delay_seconds: float = 1.0
    # OR13: how long (sandbox time) an order export stays PENDING before its files exist.
    order_export_delay_seconds: float = 1.0
    # OR13 items_per_chunk minimum. The spec's is 10,000; OF52's description says Mirakl lowers
    # such minimums on TEST/DEV environments, so tests lower this one to exercise chunking.
    order_export_min_items_per_chunk: float = 10000.0
    refund_delay_seconds: float = 2.0
    acceptance_deadline_seconds: float = 86400.0
    auto_receive_seconds: float = 7 * 86400.0
    close_after_receive_seconds: float = 30 * 86400.0
    update_overlap_seconds: float = 0.0  # OR11 start_update_date safety delta (Mirakl's size unknown)
    restock_on_refusal: bool = True
    # The shop key is an External Partner integration: OR11 every 15 minutes (seller OpenAPI, OR11).
    external_partner: bool = False
    # Operator fraud check: new orders sit in STAGING this long (sandbox time) before
    # WAITING_ACCEPTANCE. 0: the operator runs no fraud check (whether John Lewis does is unknown).
    staging_seconds: float = 0.0
    # Operator setting: lines may be refunded (OR28) while still SHIPPING, "cancelled by the client
    # prior to shipping"; their can_refund is then true. Off by default: the stricter rule.
    refund_while_shipping: bool = False

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise SandboxError(400, f"Unknown setting '{key}'. Known: {', '.join(sorted(known))}")
            current = getattr(self, key)
            if isinstance(current, bool) or key == "mandatory_tracking":
                if value is not None and not isinstance(value, bool):
                    raise SandboxError(400, f"Setting '{key}' must be true or false")
                if value is None and key != "mandatory_tracking":
                    raise SandboxError(400, f"Setting '{key}' must be true or false")
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise SandboxError(400, f"Setting '{key}' must be a number >= 0")
                value = float(value)
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def iso(moment: datetime | None) -> str | None:
    """Mirakl returns UTC with ``Z`` and milliseconds."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_datetime(value: str, name: str) -> datetime:
    text = value.strip().replace(" ", "+")  # an unencoded '+' arrives as a space
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SandboxError(400, f"Parameter '{name}' is not a valid ISO 8601 date: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def money(value: float | Decimal) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01")))


def parse_decimal(text: str) -> Decimal | None:
    """``12.50`` or ``12,50`` (Mirakl files use both) -> Decimal; None when not a number."""
    try:
        number = Decimal(text.strip().replace(",", "."))
    except (InvalidOperation, AttributeError):
        return None
    if not number.is_finite():
        return None
    return number


def parse_int(text: str) -> int | None:
    text = text.strip()
    if not text or not (text.isdigit() or (text.startswith("-") and text[1:].isdigit())):
        return None
    return int(text)


def end_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=23, minute=59, second=59, microsecond=999000)


def ceil_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))
