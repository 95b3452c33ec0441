"""Pure rules of the shipments flow (no I/O).

What lives here:

* the issue types the flow raises (plain-English text for the operating guide);
* carrier matching: a Magento track (``carrier_code`` + ``title``) to a marketplace carrier code
  from the SH21 list, by explicit mapping, configured alias, exact code or normalised label;
  ranked suggestions (rapidfuzz) when nothing matches;
* line allocation: which marketplace order lines (and quantities) a Magento shipment covers;
* the state machine of one outbound shipment, and the deadline-watch rules.

Wire formats this module reasons about (read by the services, passed in as plain values):

* Magento track: ``{"track_number", "title", "carrier_code", "created_at"}`` (carrier_code is free
  text; ``custom`` is what the Admin uses, known codes ``ups``, ``usps``, ``fedex``, ``dhl``);
* SH21 carrier: ``{"code", "label", "standard_code", "tracking_url"}``.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz

from marketbridge.domain.issues import ObjectType, Severity, Team, issue_type

# ---------------------------------------------------------------------------------- issues
CARRIER_UNMAPPED = issue_type(
    "carrier_unmapped",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.CARRIER,
    title="A carrier used in Adobe Commerce has no John Lewis carrier code",
    meaning="A shipment was made in Adobe Commerce with a carrier that marketplace bridge cannot match to "
    "any carrier on the John Lewis carrier list. We never send an unknown carrier as free text, so the "
    "shipments with this carrier wait and the customer does not see them as dispatched yet.",
    action="Map the carrier to one of the suggested John Lewis carrier codes (dashboard, or "
    "`marketbridge carriers map`). The waiting shipments are then sent by themselves.",
)
TRACKING_MISSING = issue_type(
    "shipment_tracking_missing",
    owner=Team.OPS,
    severity=Severity.WARNING,
    object_type=ObjectType.SHIPMENT,
    title="A shipment has no tracking number",
    meaning="A shipment for a John Lewis order was made in Adobe Commerce without a tracking number, and "
    "John Lewis requires one before the order can be marked as dispatched. The shipment waits.",
    action="Add the tracking number to the shipment in Adobe Commerce. It is then sent by itself.",
)
TRACKING_REUSED = issue_type(
    "tracking_number_reused",
    owner=Team.OPS,
    severity=Severity.WARNING,
    object_type=ObjectType.SHIPMENT,
    title="A tracking number is already used by another order",
    meaning="The tracking number on this shipment was already sent for a different John Lewis order. "
    "This is usually a typing or scanning mistake, so the shipment is held rather than sent.",
    action="Correct the tracking number on the shipment in Adobe Commerce (delete the wrong track and add the "
    "right one). If the parcel really holds several orders, resolve this exception to send it anyway.",
)
LINES_UNKNOWN = issue_type(
    "shipment_lines_unknown",
    owner=Team.OPS,
    severity=Severity.WARNING,
    object_type=ObjectType.SHIPMENT,
    title="A shipment contains items the John Lewis order does not have",
    meaning="The shipment in Adobe Commerce covers products, or more units, than the John Lewis order "
    "contains, so it cannot be confirmed to John Lewis as it is.",
    action="Check the shipment against the John Lewis order. Correct the shipment in Adobe Commerce, or "
    "confirm the dispatch in the John Lewis back office and resolve this exception.",
)
SHIPMENT_REJECTED = issue_type(
    "shipment_rejected",
    owner=Team.OPS,
    severity=Severity.WARNING,
    object_type=ObjectType.SHIPMENT,
    title="John Lewis refused a shipment confirmation",
    meaning="John Lewis answered that the shipment cannot be confirmed (for example the order was cancelled, "
    "or is not waiting for dispatch). Repeating the same request would not help, so it is not repeated.",
    action="Read the reason in the technical detail. Fix the order or the shipment, then press Retry, or "
    "resolve the exception if nothing needs sending.",
)
SHIPPING_DEADLINE_NEAR = issue_type(
    "shipping_deadline_near",
    owner=Team.OPS,
    severity=Severity.CRITICAL,
    object_type=ObjectType.ORDER,
    title="A John Lewis order is close to its dispatch deadline and has not shipped",
    meaning="The order is waiting for dispatch, its John Lewis shipping deadline is near, and no shipment "
    "has been made for it in Adobe Commerce. A late dispatch counts against the shop's ratings.",
    action="Pick, pack and ship the order in Adobe Commerce before the deadline shown, or cancel it if it "
    "cannot be sent.",
)
SHIPMENT_UNCONFIRMED = issue_type(
    "shipment_unconfirmed",
    owner=Team.OPS,
    severity=Severity.WARNING,
    object_type=ObjectType.SHIPMENT,
    title="A shipment has not reached John Lewis in time",
    meaning="A shipment was made in Adobe Commerce some time ago but John Lewis still does not show the order "
    "as dispatched. Another exception on the same shipment usually says why.",
    action="Look at the shipment in the console (state and last error). Fix what holds it (carrier mapping, "
    "tracking number, connection) and it is sent by itself.",
)


# ---------------------------------------------------------------------------------- states
class ShipmentState(enum.StrEnum):
    """Life of one Magento shipment on its way to the marketplace."""

    NEW = "new"  # detected, not yet looked at
    WAITING_CARRIER = "waiting_carrier"  # carrier maps to nothing; waits for a mapping
    WAITING_TRACKING = "waiting_tracking"  # no tracking number yet; waits for a track
    READY = "ready"  # everything known; a send is due
    PARTIAL = "partial"  # single-shipment mode: tracking sent, the rest of the order not shipped yet
    SENT = "sent"  # calls made, marketplace not yet seen SHIPPED
    CONFIRMED = "confirmed"  # marketplace shows the lines/order shipped
    ERROR = "error"  # refused for a reason a repeat cannot fix (see its issue)

    @property
    def is_final(self) -> bool:
        return self is ShipmentState.CONFIRMED

    @property
    def is_waiting(self) -> bool:
        return self in (ShipmentState.WAITING_CARRIER, ShipmentState.WAITING_TRACKING)


OPEN_STATES = tuple(s.value for s in ShipmentState if s is not ShipmentState.CONFIRMED)


# ---------------------------------------------------------------------------------- normalisation
_NOISE_WORDS = frozenset({"uk", "gb", "ltd", "limited", "plc", "inc", "the", "co", "company", "group"})
_PARENS = re.compile(r"\(([^)]*)\)")


def normalise(text: str | None) -> str:
    """Lower-case, accents off, punctuation and ``_``/``-`` to spaces, noise words dropped.

    ``"DPD UK"`` → ``"dpd"``, ``"Royal_Mail"`` → ``"royal mail"``, ``"Evri (Hermes)"`` → ``"evri hermes"``.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    plain = plain.replace("&", " and ")
    words = re.sub(r"[^a-z0-9]+", " ", plain).split()
    kept = [w for w in words if w not in _NOISE_WORDS]
    return " ".join(kept or words)


def label_variants(label: str) -> set[str]:
    """The normalised forms a carrier label answers to: the whole label, the label without its
    parenthesised part, and each parenthesised part (``"Evri (Hermes)"`` → evri hermes, evri, hermes)."""
    variants = {normalise(label), normalise(_PARENS.sub(" ", label))}
    variants.update(normalise(inner) for inner in _PARENS.findall(label))
    return {v for v in variants if v}


def title_key(title: str | None) -> str:
    """The key a mapping row stores for a Magento track title ('' = any title)."""
    return normalise(title)


# ---------------------------------------------------------------------------------- carriers
@dataclass(frozen=True)
class Carrier:
    """One SH21 carrier."""

    code: str
    label: str
    standard_code: str | None = None
    tracking_url: str | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> Carrier:
        return cls(
            code=str(data["code"]),
            label=str(data.get("label") or data["code"]),
            standard_code=(str(data["standard_code"]) if data.get("standard_code") else None),
            tracking_url=(str(data["tracking_url"]) if data.get("tracking_url") else None),
        )

    @property
    def needs_tracking_number(self) -> bool:
        return bool(self.tracking_url and "{trackingId}" in self.tracking_url)


@dataclass(frozen=True)
class Mapping_:
    """A person's decision: this Magento carrier (code and/or title) is that marketplace carrier.

    ``magento_carrier_code`` '' matches any code; ``title_key`` '' matches any title. A row with
    both empty is invalid. A row with only a title key is an *alias*: any track whose title (or
    code) normalises to it.
    """

    magento_carrier_code: str
    title_key: str
    marketplace_code: str


class MatchMethod(enum.StrEnum):
    MAPPING = "mapping"
    ALIAS = "alias"
    EXACT_CODE = "exact_code"
    LABEL = "label"


@dataclass(frozen=True)
class CarrierMatch:
    carrier: Carrier
    method: MatchMethod
    detail: str = ""


@dataclass(frozen=True)
class Suggestion:
    code: str
    label: str
    score: float


@dataclass(frozen=True)
class Unmapped:
    """Why a track did not match, with ranked suggestions."""

    magento_carrier_code: str
    title: str
    reason: str
    suggestions: tuple[Suggestion, ...] = ()

    @property
    def key(self) -> str:
        """The business object id of the ``carrier_unmapped`` issue: one per Magento carrier."""
        return carrier_key(self.magento_carrier_code, self.title)


def carrier_key(magento_carrier_code: str | None, title: str | None) -> str:
    code = (magento_carrier_code or "").strip().lower() or "-"
    return f"{code}/{title_key(title) or '-'}"


def match_carrier(
    magento_carrier_code: str | None,
    title: str | None,
    carriers: Sequence[Carrier],
    mappings: Iterable[Mapping_] = (),
    aliases: Mapping[str, str] | None = None,
) -> CarrierMatch | Unmapped:
    """Match one Magento track to a marketplace carrier, most deliberate rule first:

    1. an explicit mapping for this code and title, then for this code with any title;
    2. a mapping or configured alias whose key equals the normalised title (or code);
    3. the Magento code equals a marketplace code (``dhl`` → ``DHL``), or the title does;
    4. the normalised title equals a normalised marketplace label (or part of it, or its code).

    A mapping that points at a code no longer on the SH21 list does not count (the list is the
    truth); the result then says so, with suggestions.
    """
    code_raw = (magento_carrier_code or "").strip()
    code = code_raw.lower()
    tkey = title_key(title)
    by_code = {c.code.upper(): c for c in carriers}
    stale: list[str] = []

    def resolve(target: str, method: MatchMethod, detail: str) -> CarrierMatch | None:
        carrier = by_code.get(target.strip().upper())
        if carrier is None:
            stale.append(target)
            return None
        return CarrierMatch(carrier, method, detail)

    rows = list(mappings)
    for wanted_title in ((tkey,) if tkey else ()) + ("",):
        for row in rows:
            if row.magento_carrier_code and row.magento_carrier_code.lower() == code and row.title_key == wanted_title:
                found = resolve(row.marketplace_code, MatchMethod.MAPPING,
                                f"mapping {row.magento_carrier_code}/{row.title_key or '*'}")
                if found:
                    return found
    alias_keys = {k for k in (tkey, normalise(code_raw)) if k}
    for row in rows:
        if not row.magento_carrier_code and row.title_key in alias_keys:
            found = resolve(row.marketplace_code, MatchMethod.ALIAS, f"alias {row.title_key}")
            if found:
                return found
    for alias, target in (aliases or {}).items():
        if normalise(alias) in alias_keys:
            found = resolve(target, MatchMethod.ALIAS, f"configured alias {alias}")
            if found:
                return found
    for candidate in (code_raw, (title or "").strip()):
        if candidate and candidate.upper() in by_code:
            return CarrierMatch(by_code[candidate.upper()], MatchMethod.EXACT_CODE, candidate)
    if tkey:
        for carrier in carriers:
            if tkey in label_variants(carrier.label) or tkey == normalise(carrier.code):
                return CarrierMatch(carrier, MatchMethod.LABEL, carrier.label)
    if stale:
        reason = f"mapped to {', '.join(sorted(set(stale)))}, which is no longer on the marketplace carrier list"
    elif not carriers:
        reason = "the marketplace carrier list (SH21) is empty or not loaded yet"
    else:
        reason = "no mapping, alias, code or label matches"
    return Unmapped(code_raw, (title or "").strip(), reason, tuple(suggest_carriers(title or code_raw, carriers)))


def suggest_carriers(text: str | None, carriers: Sequence[Carrier], limit: int = 5, cutoff: float = 40.0) -> list[Suggestion]:
    """Marketplace carriers ranked by similarity to ``text`` (best first, scores 0-100)."""
    query = normalise(text)
    if not query:
        return []
    scored: list[Suggestion] = []
    for carrier in carriers:
        forms = label_variants(carrier.label) | {normalise(carrier.code)}
        if carrier.standard_code:
            forms.add(normalise(carrier.standard_code))
        best = max(
            max(fuzz.WRatio(query, form), fuzz.token_set_ratio(query, form)) for form in forms if form
        )
        if best >= cutoff:
            scored.append(Suggestion(carrier.code, carrier.label, round(float(best), 1)))
    scored.sort(key=lambda s: (-s.score, s.label))
    return scored[:limit]


# ---------------------------------------------------------------------------------- tracks
@dataclass(frozen=True)
class Track:
    track_number: str
    title: str
    carrier_code: str
    created_at: str = ""

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> Track:
        return cls(
            track_number=str(data.get("track_number") or "").strip(),
            title=str(data.get("title") or "").strip(),
            carrier_code=str(data.get("carrier_code") or "").strip(),
            created_at=str(data.get("created_at") or ""),
        )


def usable_tracks(tracks: Iterable[Track]) -> list[Track]:
    """Tracks with a number, oldest first, one per number (Magento allows duplicates)."""
    seen: set[str] = set()
    kept = []
    for track in sorted(tracks, key=lambda t: t.created_at):
        if track.track_number and track.track_number not in seen:
            seen.add(track.track_number)
            kept.append(track)
    return kept


# ---------------------------------------------------------------------------------- lines
@dataclass(frozen=True)
class ShippedItem:
    """One Magento shipment item: the order item, its SKU, the quantity in this shipment, and the
    marketplace line id when the order was created with it (``ext_order_item_id``)."""

    order_item_id: int
    sku: str
    qty: float
    ext_order_item_id: str | None = None


@dataclass(frozen=True)
class MarketplaceLine:
    order_line_id: str
    offer_sku: str
    quantity: int
    state: str = "SHIPPING"


#: Marketplace order states that mean the goods already left (nothing to send).
SHIPPED_ORDER_STATES = frozenset({"SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"})
#: States in which the marketplace will not take a dispatch now, but will later.
NOT_YET_ORDER_STATES = frozenset({"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT"})
#: States in which it never will.
DEAD_ORDER_STATES = frozenset({"CANCELED", "REFUSED"})


@dataclass(frozen=True)
class MarketplaceOrder:
    """A marketplace order as the shipments flow decides on it, wherever it was read: OR11 (the
    flow's own read) or the order feed's mirror (issue 20). Only what a send and the deadline watch
    look at: the state, the lines, the shipping deadline and the order's tracking number (set by
    OR23; the mirror's confirmation of a tracking correction)."""

    order_id: str
    state: str
    lines: tuple[MarketplaceLine, ...] = ()
    shipping_deadline: dt.datetime | None = None
    tracking_number: str | None = None


@dataclass
class LinePlan:
    lines: dict[str, int] = field(default_factory=dict)  # order_line_id -> quantity in this shipment
    unknown: list[str] = field(default_factory=list)  # plain-English problems

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not self.unknown


def sku_key(sku: str) -> str:
    """SKUs compared without surrounding spaces and case (the marketplace copy may carry a stray space)."""
    return sku.strip().casefold()


def allocate_lines(items: Iterable[ShippedItem], lines: Sequence[MarketplaceLine],
                   already_shipped: Mapping[str, int] | None = None) -> LinePlan:
    """Which marketplace lines this shipment covers. An item that matches no line, or more units
    than the line has left (``already_shipped`` by earlier shipments of ours), is a problem."""
    plan = LinePlan()
    by_id = {line.order_line_id: line for line in lines}
    by_sku: dict[str, list[MarketplaceLine]] = {}
    for line in lines:
        by_sku.setdefault(sku_key(line.offer_sku), []).append(line)
    used = dict(already_shipped or {})
    for item in items:
        qty = int(round(item.qty))
        if qty <= 0:
            continue  # a configurable child or a zero line: nothing physically in this parcel
        candidates = ([by_id[item.ext_order_item_id]] if item.ext_order_item_id in by_id
                      else by_sku.get(sku_key(item.sku), []))
        candidates = [c for c in candidates if c.state not in ("REFUSED", "CANCELED")]
        if not candidates:
            plan.unknown.append(f"{item.sku} is not on the marketplace order")
            continue
        remaining = qty
        for line in candidates:
            room = line.quantity - used.get(line.order_line_id, 0)
            take = min(room, remaining)
            if take > 0:
                plan.lines[line.order_line_id] = plan.lines.get(line.order_line_id, 0) + take
                used[line.order_line_id] = used.get(line.order_line_id, 0) + take
                remaining -= take
            if remaining == 0:
                break
        if remaining:
            plan.unknown.append(f"{item.sku}: {remaining} more unit(s) shipped than the marketplace order has left")
    return plan


# ---------------------------------------------------------------------------------- deadlines
def deadline_near(deadline: dt.datetime | None, now: dt.datetime, lead: dt.timedelta) -> bool:
    """An unshipped order whose deadline is within ``lead`` of ``now`` (or past) needs a person."""
    return deadline is not None and deadline - now <= lead


def unconfirmed_too_long(detected_at: dt.datetime, now: dt.datetime, limit: dt.timedelta) -> bool:
    return now - detected_at >= limit


def pick_tracking(tracks: Sequence[Track]) -> Track | None:
    """OR23 carries one tracking number: the newest usable track (a later track usually corrects
    or replaces an earlier one)."""
    usable = usable_tracks(tracks)
    return usable[-1] if usable else None
