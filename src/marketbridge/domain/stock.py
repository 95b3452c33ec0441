"""Pure rules of the stock and price flow (no I/O, no framework).

Two questions are answered here, the same way everywhere (webhook, poll, full resync, CLI):

* **How many units do we offer on the marketplace?** :func:`publishable_quantity` takes the
  Magento *salable* quantity for the configured stock and the product facts, then applies the
  channel's stock rules: a safety buffer, a percentage allocation, a maximum quantity and a
  "zero below" threshold. Disabled products publish 0; products that do not manage stock publish
  the configured default.
* **At what price?** :func:`channel_price` takes the Magento price (the special price when it is
  active on the day and lower), then a markup in percent, a fixed amount and a rounding
  (for example to the nearest ``.99``).

Rules are stored per scope and the most specific one wins field by field: ``global`` <
``category`` < ``attribute`` < ``sku``. A rule sets only the fields it names; the others come from
the less specific rules (so a SKU rule "max 5" keeps the global buffer).

:func:`plan_lanes` decides which Mirakl import carries what: stock goes through STO01 when the
connection has it, else through OF01 with only the stock columns (never OF24, which resets every
field it is not given); prices go through PRI01 or OF01 price columns.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marketbridge.domain.catalogue import CatalogueProduct, OverrideAction, exclusion_reason
from marketbridge.domain.issues import ObjectType, Severity, Team, issue_type

# --------------------------------------------------------------------------- issue types
SKU_UNKNOWN_ON_MARKETPLACE = issue_type(
    "stock_sku_unknown_on_marketplace",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="The marketplace has no offer for this SKU",
    meaning="marketbridge sent this SKU's stock or price to John Lewis, and the marketplace answered that "
    "it has no offer with that SKU. Customers on John Lewis cannot see changes to this product until the "
    "offer exists with exactly the same SKU as in Adobe Commerce.",
    action="Check that the product is published on the marketplace and that its offer SKU is spelt exactly "
    "as in Adobe Commerce (watch for spaces). Once the offer exists, the next stock change goes through and "
    "this exception resolves itself; ignore it if the product is not meant to be sold on John Lewis.",
)
STOCK_LINE_REJECTED = issue_type(
    "stock_line_rejected",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="The marketplace rejected this SKU's stock or price update",
    meaning="The marketplace processed our stock or price file but refused the line for this SKU, so the "
    "quantity or price shown on John Lewis is not the one Adobe Commerce says it should be.",
    action="Read the marketplace's message in the technical detail and correct the product or the rule "
    "that produced the value. The next change of this SKU is sent again automatically; the exception "
    "resolves itself when a line for this SKU is accepted.",
)
STOCK_IMPORT_FAILED = issue_type(
    "stock_import_failed",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.CONNECTION,
    title="Stock or price updates to John Lewis are failing",
    meaning="marketbridge could not get a stock or price file accepted by the marketplace (the upload failed "
    "or the whole import failed). Nothing is lost: the changes stay queued and are retried, but until it "
    "works John Lewis shows old quantities or prices, which risks overselling.",
    action="Read the technical detail. If the marketplace is down or refusing our key, check the connection "
    "with `marketbridge check`. The exception resolves itself after the next successful import.",
)
PRICE_DISCOUNT_DROPPED = issue_type(
    "price_discount_dropped",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="A John Lewis discount ended because our new price is lower",
    meaning="A discount or volume price set for this offer in the John Lewis back office was no longer "
    "below the new price from Adobe Commerce. The marketplace only takes a discount below the price, so "
    "marketbridge sent the new price and left that discount out; it is no longer on the offer.",
    action="If the promotion should go on, set a new discount below the new price in the John Lewis back "
    "office, or check the price in Adobe Commerce and the price rules. Resolve this exception once done; "
    "it opens again if another price change drops a discount of this SKU.",
)
PRODUCT_UNREADABLE = issue_type(
    "stock_product_unreadable",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.SKU,
    title="Adobe Commerce could not give the stock or price of this SKU",
    meaning="A change was noticed for this SKU but Adobe Commerce did not return its salable quantity or "
    "product data (for example the product was deleted or has no source items), so nothing was sent for it.",
    action="Check the product in Adobe Commerce (does it exist, is it assigned to a source?). The exception "
    "resolves itself when the product can be read again.",
)

WEBHOOK_UNRECOGNISED = issue_type(
    "webhook_unrecognised",
    owner=Team.ECOMMERCE,
    severity=Severity.WARNING,
    object_type=ObjectType.CONNECTION,
    title="Adobe Commerce sent a webhook we do not recognise",
    meaning="A correctly signed webhook arrived whose hook marketbridge cannot tell from its URL or its "
    "content, so it was stored and answered, but no stock change was taken from it. The regular poll of "
    "Adobe Commerce still picks the change up, only later.",
    action="Check the hook in Adobe Commerce (System › Webhooks) against docs/setup/adobe-commerce.md: its URL "
    "must end in /webhooks/adobe-commerce/<hook name>, and any field filter must keep the SKU fields.",
)

COMPOSITE_TYPES = frozenset({"configurable", "bundle", "grouped"})


def offer_exclusion(type_id: str, attributes: Mapping[str, Any], *, publish_as_simple: bool = False) -> str | None:
    """Why a non-composite product has no marketplace offer to keep up to date, or ``None``.

    The catalogue's own rule (:func:`marketbridge.domain.catalogue.exclusion_reason`), so stock and
    price never push a SKU the catalogue would not publish: a virtual product, or one with a
    required custom option without a ``publish_as_simple`` rule, is not on the marketplace and a
    push would only come back as "unknown SKU". ``attributes`` are Magento's custom attributes;
    Magento sets ``required_options`` to "1" on products with a required custom option.
    """
    product = CatalogueProduct(
        sku="", name="", type_id=type_id, enabled=True, price=None,
        has_required_options=str(attributes.get("required_options") or "0") == "1",
    )
    return exclusion_reason(product, OverrideAction.PUBLISH_AS_SIMPLE if publish_as_simple else None)


class Kind(enum.StrEnum):
    STOCK = "stock"
    PRICE = "price"


class Scope(enum.StrEnum):
    """Where a rule applies. Specificity grows in declaration order."""

    GLOBAL = "global"
    CATEGORY = "category"
    ATTRIBUTE = "attribute"
    SKU = "sku"

    @property
    def rank(self) -> int:
        return list(Scope).index(self)


class Rounding(enum.StrEnum):
    NONE = "none"  # to the penny
    WHOLE = "whole"  # nearest pound
    END_99 = "0.99"  # nearest price ending in .99
    END_95 = "0.95"  # nearest price ending in .95
    END_49_99 = "0.49|0.99"  # nearest price ending in .49 or .99


class RuleError(ValueError):
    """A rule that cannot be applied (bad scope key, negative buffer...). Message is for people."""


STOCK_FIELDS = ("buffer", "allocation_percent", "max_quantity", "zero_below")
PRICE_FIELDS = ("markup_percent", "fixed_amount", "rounding")


@dataclass(frozen=True)
class Rule:
    """One stored rule. ``params`` holds only the fields this rule sets.

    Stock params: ``buffer`` (units held back, int >= 0), ``allocation_percent`` (0-100: share of
    the remaining stock offered), ``max_quantity`` (cap, int >= 0), ``zero_below`` (publish 0 when
    the result is below this, int >= 0).
    Price params: ``markup_percent`` (may be negative), ``fixed_amount`` (added after the markup,
    may be negative), ``rounding`` (one of :class:`Rounding`).

    ``scope_key``: the SKU; ``code=value`` for an attribute (``brand=Acme``); the category id.
    """

    kind: Kind
    scope: Scope
    scope_key: str = ""
    params: Mapping[str, object] = field(default_factory=dict)
    id: int | None = None

    @property
    def label(self) -> str:
        return self.scope.value if self.scope is Scope.GLOBAL else f"{self.scope.value}:{self.scope_key}"


def validate_rule(kind: Kind, scope: Scope, scope_key: str, params: Mapping[str, object]) -> Rule:
    """Check a rule as typed by a person; returns it normalised or raises :class:`RuleError`."""
    scope_key = (scope_key or "").strip()
    if scope is Scope.GLOBAL and scope_key:
        raise RuleError("a global rule takes no scope key")
    if scope is not Scope.GLOBAL and not scope_key:
        raise RuleError(f"a {scope.value} rule needs a scope key")
    if scope is Scope.ATTRIBUTE and ("=" not in scope_key or not scope_key.split("=", 1)[0].strip()):
        raise RuleError("an attribute rule's key is code=value, for example brand=Acme")
    allowed = STOCK_FIELDS if kind is Kind.STOCK else PRICE_FIELDS
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise RuleError(f"unknown {kind.value} rule field(s): {', '.join(unknown)} (allowed: {', '.join(allowed)})")
    clean: dict[str, object] = {}
    for name, value in params.items():
        if value is None:
            continue
        if name in ("buffer", "max_quantity", "zero_below"):
            number = _as_int(name, value)
            if number < 0:
                raise RuleError(f"{name} must be 0 or more")
            clean[name] = number
        elif name == "allocation_percent":
            pct = _as_float(name, value)
            if not 0 <= pct <= 100:
                raise RuleError("allocation_percent must be between 0 and 100")
            clean[name] = pct
        elif name in ("markup_percent", "fixed_amount"):
            number_f = _as_float(name, value)
            if name == "markup_percent" and number_f <= -100:
                raise RuleError("markup_percent must be above -100")
            clean[name] = number_f
        elif name == "rounding":
            try:
                clean[name] = Rounding(str(value)).value
            except ValueError:
                raise RuleError(f"rounding must be one of {', '.join(r.value for r in Rounding)}") from None
    if not clean:
        raise RuleError("a rule must set at least one field")
    return Rule(kind=kind, scope=scope, scope_key=scope_key, params=clean)


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise RuleError(f"{name} must be a whole number")
    try:
        number = float(str(value))
    except ValueError:
        raise RuleError(f"{name} must be a whole number") from None
    if not number.is_integer():
        raise RuleError(f"{name} must be a whole number")
    return int(number)


def _as_float(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise RuleError(f"{name} must be a number")
    try:
        number = float(str(value))
    except ValueError:
        raise RuleError(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise RuleError(f"{name} must be a number")
    return number


@dataclass(frozen=True)
class ProductFacts:
    """What the rules need to know about a product, as last read from Adobe Commerce."""

    sku: str
    enabled: bool = True
    type_id: str = "simple"
    manage_stock: bool = True
    attributes: Mapping[str, str] = field(default_factory=dict)
    category_ids: Sequence[str] = ()


def matching_rules(rules: Iterable[Rule], facts: ProductFacts, kind: Kind) -> list[Rule]:
    """The rules of ``kind`` that apply to this product, least specific first."""
    hits = []
    for rule in rules:
        if rule.kind is not kind:
            continue
        if rule.scope is Scope.GLOBAL:
            hits.append(rule)
        elif rule.scope is Scope.SKU and rule.scope_key == facts.sku:
            hits.append(rule)
        elif rule.scope is Scope.CATEGORY and rule.scope_key in {str(c) for c in facts.category_ids}:
            hits.append(rule)
        elif rule.scope is Scope.ATTRIBUTE:
            code, value = rule.scope_key.split("=", 1)
            if str(facts.attributes.get(code.strip(), "")).strip() == value.strip():
                hits.append(rule)
    hits.sort(key=lambda r: (r.scope.rank, r.scope_key, r.id or 0))
    return hits


def effective_params(rules: Sequence[Rule]) -> tuple[dict[str, object], list[str]]:
    """Merge rules (least specific first): later rules override the fields they set."""
    merged: dict[str, object] = {}
    labels = []
    for rule in rules:
        merged.update(rule.params)
        labels.append(rule.label)
    return merged, labels


def publishable_quantity(
    salable: float | None,
    facts: ProductFacts,
    rules: Iterable[Rule],
    *,
    unmanaged_default: int = 100,
) -> tuple[int, str]:
    """Quantity to publish on the marketplace and a short description of what decided it.

    Order of application: product state (disabled → 0, not managing stock → ``unmanaged_default``,
    salable ≤ 0 or unknown → 0), then buffer, allocation percent (rounded down), maximum, and
    "zero below". The result is never negative.
    """
    if not facts.enabled:
        return 0, "disabled"
    if not facts.manage_stock:
        return max(0, int(unmanaged_default)), "unmanaged-default"
    if salable is None or not math.isfinite(salable) or salable <= 0:
        return 0, "out-of-stock"
    params, labels = effective_params(matching_rules(rules, facts, Kind.STOCK))
    qty = math.floor(salable)
    qty -= int(params.get("buffer", 0) or 0)  # type: ignore[call-overload]
    pct = params.get("allocation_percent")
    if pct is not None:
        qty = math.floor(max(qty, 0) * float(pct) / 100 + 1e-9)  # type: ignore[arg-type]
    cap = params.get("max_quantity")
    if cap is not None:
        qty = min(qty, int(cap))  # type: ignore[call-overload]
    floor_ = params.get("zero_below")
    if floor_ is not None and qty < int(floor_):  # type: ignore[call-overload]
        qty = 0
    qty = max(0, qty)
    return qty, "+".join(labels) if labels else "none"


@dataclass(frozen=True)
class PriceFacts:
    price: Decimal | None
    special_price: Decimal | None = None
    special_from: dt.date | None = None
    special_to: dt.date | None = None


def magento_price(facts: PriceFacts, today: dt.date) -> Decimal | None:
    """Magento's final price: the special price when it is active today and lower than the price."""
    base = facts.price
    special = facts.special_price
    if special is not None and special > 0:
        active = (facts.special_from is None or facts.special_from <= today) and (
            facts.special_to is None or today <= facts.special_to
        )
        if active and (base is None or special < base):
            return special
    return base


_PENNY = Decimal("0.01")


def round_price(value: Decimal, rounding: Rounding) -> Decimal:
    """Round to the nearest allowed price (ties upwards); never below one penny."""
    if rounding is Rounding.NONE:
        result = value.quantize(_PENNY, ROUND_HALF_UP)
    elif rounding is Rounding.WHOLE:
        result = value.quantize(Decimal("1"), ROUND_HALF_UP)
    else:
        endings = [Decimal(e) for e in rounding.value.split("|")]
        whole = int(value.to_integral_value(rounding="ROUND_FLOOR"))
        candidates = [Decimal(w) + e for w in (whole - 1, whole, whole + 1) for e in endings]
        candidates = [c for c in candidates if c > 0]
        result = min(candidates, key=lambda c: (abs(c - value), -c))
    return max(result, _PENNY).quantize(_PENNY)


def channel_price(facts: PriceFacts, product: ProductFacts, rules: Iterable[Rule], today: dt.date) -> tuple[Decimal | None, str]:
    """Price to publish and a short description of what decided it; ``None`` when Magento has none."""
    base = magento_price(facts, today)
    if base is None or base <= 0:
        return None, "no-price"
    params, labels = effective_params(matching_rules(rules, product, Kind.PRICE))
    value = Decimal(base)
    markup = params.get("markup_percent")
    if markup is not None:
        value = value * (Decimal(1) + Decimal(str(markup)) / Decimal(100))
    fixed = params.get("fixed_amount")
    if fixed is not None:
        value = value + Decimal(str(fixed))
    rounding = Rounding(str(params.get("rounding", Rounding.NONE.value)))
    source = "special" if base != facts.price else "price"
    return round_price(value, rounding), "+".join([source, *labels])


# --------------------------------------------------------------------------- which import carries what
@dataclass(frozen=True)
class Lane:
    """One Mirakl import API and the kinds of update it carries (at most one call a minute each)."""

    api: str
    kinds: tuple[Kind, ...]


def plan_lanes(*, stock_enabled: bool, price_enabled: bool, stock_api: str, price_api: str) -> list[Lane]:
    """STO01 or OF01 for stock, PRI01 or OF01 for prices; both on OF01 share one file a minute."""
    if stock_api not in ("STO01", "OF01"):
        raise ValueError("stock goes through STO01 or OF01 (never OF24: it resets omitted fields)")
    if price_api not in ("PRI01", "OF01"):
        raise ValueError("prices go through PRI01 or OF01")
    lanes: dict[str, list[Kind]] = {}
    if stock_enabled:
        lanes.setdefault(stock_api, []).append(Kind.STOCK)
    if price_enabled:
        lanes.setdefault(price_api, []).append(Kind.PRICE)
    return [Lane(api, tuple(kinds)) for api, kinds in lanes.items()]


def lane_for(kind: Kind, lanes: Sequence[Lane]) -> Lane | None:
    for lane in lanes:
        if kind in lane.kinds:
            return lane
    return None


@dataclass(frozen=True)
class ImportFile:
    """One stock/price import file: its columns, its rows, and the SKUs held back from it (their
    values go back to the outbox for a later window: see :func:`import_file`)."""

    columns: list[str]
    rows: list[dict[str, str]]
    held_back: tuple[str, ...] = ()


def import_file(api: str, values: Mapping[str, Mapping[str, str]],
                known: Mapping[str, Mapping[str, str | None]] | None = None) -> ImportFile:
    """CSV columns and rows for one import. ``values[sku]`` has ``quantity`` and/or ``price``.

    STO01: ``offer-sku;quantity``. PRI01: ``offer-sku;price``. OF01 (NORMAL mode): ``sku`` plus the
    columns being changed. In NORMAL mode a column present in the file is applied to *every* row,
    a blank cell included (only the deprecated PARTIAL_UPDATE skipped blanks): a SKU whose stock
    changed must not be sent with a blank price because another SKU's price changed. So when a
    file carries both columns, a SKU's missing value is filled from ``known[sku]`` (the value
    marketbridge publishes for it now); a SKU with no known value for a column of the file is held
    back. Of the file with every changed column and the files with one column only, the one that
    holds back fewest SKUs is chosen, so every window sends something.
    """
    if api == "STO01":
        return ImportFile(["offer-sku", "quantity"], [{"offer-sku": s, "quantity": v["quantity"]} for s, v in values.items()])
    if api == "PRI01":
        return ImportFile(["offer-sku", "price"], [{"offer-sku": s, "price": v["price"]} for s, v in values.items()])
    if api != "OF01":
        raise ValueError(f"no stock/price import through {api}")
    changed = [c for c in ("quantity", "price") if any(c in v for v in values.values())]
    options = [changed] + ([[c] for c in changed] if len(changed) > 1 else [])
    best: ImportFile | None = None
    for value_columns in options:
        rows, held = [], []
        for sku, v in values.items():
            if not any(c in v for c in value_columns):
                held.append(sku)
                continue
            row = {"sku": sku, "update-delete": "update"}
            for column in value_columns:
                value = v.get(column) or (known or {}).get(sku, {}).get(column)
                if not value:
                    break
                row[column] = str(value)
            else:
                rows.append(row)
                continue
            held.append(sku)
        candidate = ImportFile(["sku", *value_columns, "update-delete"], rows, tuple(held))
        if best is None or len(candidate.held_back) < len(best.held_back):
            best = candidate
    assert best is not None
    return best


def import_rows(api: str, values: Mapping[str, Mapping[str, str]],
                known: Mapping[str, Mapping[str, str | None]] | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and rows of :func:`import_file` (the SKUs it holds back are not in them)."""
    file = import_file(api, values, known)
    return file.columns, file.rows


def classify_line_error(message: str) -> str:
    """``unknown_offer`` when the marketplace does not know the SKU, else ``rejected``."""
    text = message.lower()
    if ("offer" in text or "product" in text) and ("not exist" in text or "not found" in text or "unknown" in text):
        return "unknown_offer"
    return "rejected"


def format_price(value: Decimal) -> str:
    return f"{value.quantize(_PENNY)}"


__all__ = [
    "COMPOSITE_TYPES",
    "offer_exclusion",
    "Kind",
    "Lane",
    "PriceFacts",
    "ProductFacts",
    "Rounding",
    "Rule",
    "RuleError",
    "Scope",
    "channel_price",
    "classify_line_error",
    "ImportFile",
    "import_file",
    "import_rows",
    "magento_price",
    "matching_rules",
    "plan_lanes",
    "publishable_quantity",
    "round_price",
    "validate_rule",
]
