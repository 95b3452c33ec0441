"""Pure rules of the finance reconciliation (no I/O).

A month is a calendar month in the business time zone (Europe/London), turned into a half-open
UTC interval ``[start, end)`` so BST/GMT changes put every order in exactly one month.

For each marketplace order (keyed by its Mirakl order id, which Adobe Commerce keeps as the
order's ``ext_order_id``) the report sets the marketplace side (total, commission, refunds) next
to the Adobe Commerce side (grand total, credit memos) and gives one status:

* ``matched``: both sides exist, and the order totals and the refunded totals each differ by no
  more than the tolerance;
* ``mismatched``: both sides exist but a total differs by more than the tolerance (the row says
  which);
* ``missing_in_magento``: the marketplace has the order but no Adobe Commerce order carries its id;
* ``missing_on_marketplace``: an Adobe Commerce order carries a marketplace id the marketplace does
  not know.

Orders the marketplace refused or cancelled before payment are not expected in Adobe Commerce,
so they are ``matched`` when absent there (``expected_in_magento=False``).

CSV cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab
or carriage return) are prefixed with a single quote; numbers are written as plain numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from marketbridge.domain.money import wire_number

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
NOT_EXPECTED_IN_MAGENTO = frozenset({"REFUSED", "CANCELED", "STAGING", "WAITING_ACCEPTANCE"})


class MonthError(ValueError):
    pass


def month_bounds(month: str, timezone: str = "Europe/London") -> tuple[dt.datetime, dt.datetime]:
    """``"2026-11"`` -> the UTC instants of local midnight on the 1st and on the next month's 1st."""
    found = _MONTH.match(month or "")
    if not found or not 1 <= int(found.group(2)) <= 12 or not 2000 <= int(found.group(1)) <= 2999:
        raise MonthError(f"month must look like 2026-11 (year-month), not {month!r}")
    year, mon = int(found.group(1)), int(found.group(2))
    zone = ZoneInfo(timezone)
    start = dt.datetime(year, mon, 1, tzinfo=zone)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


class Status(enum.StrEnum):
    MATCHED = "matched"
    MISMATCHED = "mismatched"
    MISSING_IN_MAGENTO = "missing_in_magento"
    MISSING_ON_MARKETPLACE = "missing_on_marketplace"


@dataclass(frozen=True)
class MarketplaceSide:
    order_id: str
    created: dt.datetime | None
    state: str
    currency: str
    total: Decimal  # total_price (after cancellations)
    commission: Decimal
    refunded: Decimal  # sum of refund amount + shipping amount
    refunds: int  # how many refunds
    canceled: Decimal = Decimal(0)

    @property
    def expected_in_magento(self) -> bool:
        return self.state not in NOT_EXPECTED_IN_MAGENTO


@dataclass(frozen=True)
class MagentoSide:
    ext_order_id: str
    increment_id: str
    created: dt.datetime | None
    currency: str
    grand_total: Decimal
    refunded: Decimal  # total_refunded
    creditmemos: int


@dataclass
class ReportRow:
    order_id: str
    status: Status
    marketplace: MarketplaceSide | None
    magento: MagentoSide | None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        mp, mg = self.marketplace, self.magento

        def num(value: Decimal | None) -> float | None:  # the report's JSON has always carried numbers
            return wire_number(value)

        return {
            "order_id": self.order_id,
            "status": self.status.value,
            "marketplace_state": mp.state if mp else None,
            "marketplace_created": mp.created.isoformat() if mp and mp.created else None,
            "currency": (mp.currency if mp else mg.currency if mg else None),
            "marketplace_total": num(mp.total) if mp else None,
            "marketplace_commission": num(mp.commission) if mp else None,
            "marketplace_refunded": num(mp.refunded) if mp else None,
            "marketplace_refunds": mp.refunds if mp else None,
            "magento_increment_id": mg.increment_id if mg else None,
            "magento_created": mg.created.isoformat() if mg and mg.created else None,
            "magento_total": num(mg.grand_total) if mg else None,
            "magento_refunded": num(mg.refunded) if mg else None,
            "magento_creditmemos": mg.creditmemos if mg else None,
            "notes": "; ".join(self.notes),
        }


COLUMNS = (
    "order_id", "status", "marketplace_state", "marketplace_created", "currency", "marketplace_total",
    "marketplace_commission", "marketplace_refunded", "marketplace_refunds", "magento_increment_id",
    "magento_created", "magento_total", "magento_refunded", "magento_creditmemos", "notes",
)


def compare(mp: MarketplaceSide | None, mg: MagentoSide | None, tolerance: Decimal) -> ReportRow:
    order_id = mp.order_id if mp else mg.ext_order_id if mg else ""
    if mp is None:
        return ReportRow(order_id, Status.MISSING_ON_MARKETPLACE, None, mg,
                         ["an Adobe Commerce order carries this marketplace id, but the marketplace has no such order"])
    if mg is None:
        if not mp.expected_in_magento:
            return ReportRow(order_id, Status.MATCHED, mp, None,
                             [f"{mp.state.lower()} on the marketplace; not expected in Adobe Commerce"])
        return ReportRow(order_id, Status.MISSING_IN_MAGENTO, mp, None,
                         ["no Adobe Commerce order carries this marketplace order id"])
    notes = []
    if mp.currency and mg.currency and mp.currency != mg.currency:
        notes.append(f"currency differs: marketplace {mp.currency}, Adobe Commerce {mg.currency}")
    if abs(mp.total - mg.grand_total) > tolerance:
        notes.append(f"order total differs: marketplace {mp.total:.2f}, Adobe Commerce {mg.grand_total:.2f}")
    if abs(mp.refunded - mg.refunded) > tolerance:
        notes.append(f"refunds differ: marketplace {mp.refunded:.2f}, Adobe Commerce {mg.refunded:.2f}")
    return ReportRow(order_id, Status.MISMATCHED if notes else Status.MATCHED, mp, mg, notes)


@dataclass
class Report:
    month: str
    start: dt.datetime
    end: dt.datetime
    rows: list[ReportRow]

    def totals(self) -> dict[str, object]:
        def total(values: Iterable[Decimal]) -> float:  # summed exactly, a JSON number at the end
            return wire_number(sum(values, Decimal(0))) or 0.0

        mps = [r.marketplace for r in self.rows if r.marketplace]
        mgs = [r.magento for r in self.rows if r.magento]
        counts = {status.value: 0 for status in Status}
        for row in self.rows:
            counts[row.status.value] += 1
        return {
            "orders": len(self.rows),
            "by_status": counts,
            "marketplace_total": total(m.total for m in mps),
            "marketplace_commission": total(m.commission for m in mps),
            "marketplace_refunded": total(m.refunded for m in mps),
            "marketplace_refunds": sum(m.refunds for m in mps),
            "magento_total": total(m.grand_total for m in mgs),
            "magento_refunded": total(m.refunded for m in mgs),
            "magento_creditmemos": sum(m.creditmemos for m in mgs),
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "month": self.month,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "totals": self.totals(),
            "rows": [row.as_dict() for row in self.rows],
        }


def build_report(month: str, start: dt.datetime, end: dt.datetime, marketplace: Sequence[MarketplaceSide],
                 magento: Sequence[MagentoSide], tolerance: Decimal,
                 unverified: Mapping[str, str] | None = None) -> Report:
    """Pair both sides by order id; rows sorted by status (problems first) then order id.

    ``unverified``: marketplace ids the reading could not settle, with why (the order feed's mirror
    holds only recent orders); a row missing on the marketplace for one of them carries that note."""
    by_mp = {m.order_id: m for m in marketplace}
    by_mg: dict[str, MagentoSide] = {}
    for order in magento:
        by_mg.setdefault(order.ext_order_id, order)
    rows = [compare(by_mp.get(key), by_mg.get(key), tolerance) for key in sorted(set(by_mp) | set(by_mg))]
    for row in rows:
        why = (unverified or {}).get(row.order_id)
        if why and row.status is Status.MISSING_ON_MARKETPLACE:
            row.notes.append(why)
    rank = {Status.MISMATCHED: 0, Status.MISSING_IN_MAGENTO: 1, Status.MISSING_ON_MARKETPLACE: 2, Status.MATCHED: 3}
    rows.sort(key=lambda r: (rank[r.status], r.order_id))
    return Report(month, start, end, rows)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or tab/CR) gets a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in report.rows:
        data = row.as_dict()
        writer.writerow([safe_cell(data[c]) for c in COLUMNS])
    totals = report.totals()
    writer.writerow([safe_cell(v) for v in (
        "TOTAL", f"{totals['orders']} orders", "", "", "", totals["marketplace_total"], totals["marketplace_commission"],
        totals["marketplace_refunded"], totals["marketplace_refunds"], "", "", totals["magento_total"],
        totals["magento_refunded"], totals["magento_creditmemos"],
        ", ".join(f"{k}={v}" for k, v in totals["by_status"].items()),  # type: ignore[attr-defined]
    )])
    return out.getvalue()
