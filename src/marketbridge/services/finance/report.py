"""The finance reconciliation for one month: marketplace orders, refunds and commissions next to
Adobe Commerce orders and credit memos (rules in :mod:`marketbridge.domain.finance`).

Which orders a month holds:

* every marketplace order **created** in the month (OR11 ``start_date``/``end_date``; with
  ``order_feed_enabled``, the order export OR13–OR15, :mod:`.marketplace`), with its
  Adobe Commerce order found by ``ext_order_id`` wherever Magento dated it (an order placed at
  23:59 and imported at 00:01 still matches);
* every Adobe Commerce order created in the month with an ``ext_order_id`` the marketplace does
  not know at all (``missing_on_marketplace``). One whose marketplace order exists but was created
  in another month belongs to that month's report, so no order is counted twice. (OR11 by id; with
  the feed on, the feed's mirror, and an id it lacks is reported with a note that it could not be
  ruled out as an older order.)

Amounts are read live from both systems (the report is the reconciliation, not a copy of our
tables): Mirakl ``total_price``, ``total_commission`` and the lines' ``refunds[]``; Magento
``grand_total``, ``total_refunded`` and the count of credit memos.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from marketbridge.domain import finance as finance_domain
from marketbridge.services.finance.marketplace import Or11FinanceOrders

if TYPE_CHECKING:
    from marketbridge.adapters.magento import models as magento_models
    from marketbridge.ports.finance import FinanceOrders
    from marketbridge.runtime import Runtime


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def marketplace_side(order: dict[str, Any]) -> finance_domain.MarketplaceSide:
    """One OR11 order (raw JSON, so ``total_commission`` is kept) as the report needs it."""
    refunded = Decimal(0)
    count = 0
    canceled = Decimal(0)
    for line in order.get("order_lines") or []:
        for refund in line.get("refunds") or []:
            refunded += _dec(refund.get("amount")) + _dec(refund.get("shipping_amount"))
            count += 1
        for cancel in line.get("cancelations") or []:
            canceled += _dec(cancel.get("amount")) + _dec(cancel.get("shipping_amount"))
    commission = order.get("total_commission")
    if commission is None:
        commission = sum((_dec(line.get("total_commission")) for line in order.get("order_lines") or []), Decimal(0))
    return finance_domain.MarketplaceSide(
        order_id=str(order["order_id"]), created=_time(order.get("created_date")), state=str(order.get("order_state") or ""),
        currency=str(order.get("currency_iso_code") or ""), total=_dec(order.get("total_price")),
        commission=_dec(commission), refunded=refunded, refunds=count, canceled=canceled,
    )


def magento_side(order: magento_models.Order, creditmemos: int) -> finance_domain.MagentoSide:
    return finance_domain.MagentoSide(
        ext_order_id=order.ext_order_id or "", increment_id=order.increment_id, created=_time(order.created_at),
        currency=order.order_currency_code or "", grand_total=_dec(order.grand_total),
        refunded=_dec(order.total_refunded), creditmemos=creditmemos,
    )


def _magento_orders(runtime: Runtime, start: dt.datetime, end: dt.datetime) -> Iterator[magento_models.Order]:
    """Magento orders created in ``[start, end)`` that carry an ``ext_order_id`` (keyset paging)."""
    from marketbridge.adapters.magento.criteria import SearchCriteria

    last = 0
    while True:
        criteria = (SearchCriteria().where("created_at", start, "gteq").where("created_at", end, "lt")
                    .where("ext_order_id", None, "notnull").where("entity_id", last, "gt")
                    .order_by("entity_id").page(200))
        page = runtime.magento.search_orders(criteria).items
        yield from (o for o in page if o.ext_order_id)
        if len(page) < 200:
            return
        last = page[-1].entity_id


def _magento_by_ext_ids(runtime: Runtime, ext_ids: Sequence[str]) -> list[magento_models.Order]:
    from marketbridge.adapters.magento.criteria import SearchCriteria

    found: list[magento_models.Order] = []
    for start in range(0, len(ext_ids), 100):
        batch = list(ext_ids[start:start + 100])
        result = runtime.magento.search_orders(SearchCriteria().where("ext_order_id", batch, "in").page(200))
        found.extend(o for o in result.items if o.ext_order_id in batch)
    return found


def _creditmemo_counts(runtime: Runtime, order_ids: Sequence[int]) -> dict[int, int]:
    from marketbridge.adapters.magento.criteria import SearchCriteria

    counts: dict[int, int] = {}
    for start in range(0, len(order_ids), 100):
        batch = list(order_ids[start:start + 100])
        page = 1
        while True:
            result = runtime.magento.search_creditmemos(
                SearchCriteria().where("order_id", batch, "in").order_by("entity_id").page(300, page))
            for memo in result.items:
                counts[memo.order_id] = counts.get(memo.order_id, 0) + 1
            if len(result.items) < 300:
                break
            page += 1
    return counts


def finance_orders(runtime: Runtime) -> FinanceOrders:
    """The source ``bootstrap`` wired (by ``order_feed_enabled``); OR11 in a runtime built by hand."""
    if runtime.finance_orders is not None:
        return runtime.finance_orders
    return Or11FinanceOrders(runtime.mirakl)


def build_report(runtime: Runtime, month: str) -> finance_domain.Report:
    """Read both systems for ``month`` (``YYYY-MM``, business time zone) and compare them."""
    start, end = finance_domain.month_bounds(month, runtime.settings.timezone)
    source = finance_orders(runtime)
    marketplace = [marketplace_side(o) for o in source.created_between(start, end)]
    marketplace = [m for m in marketplace if m.created is None or start <= m.created < end]
    in_month = list(_magento_orders(runtime, start, end))
    mp_ids = {m.order_id for m in marketplace}
    by_ext = {o.ext_order_id: o for o in in_month if o.ext_order_id}
    missing = [i for i in mp_ids if i not in by_ext]
    for order in _magento_by_ext_ids(runtime, missing):
        by_ext.setdefault(order.ext_order_id or "", order)
    strangers = [ext for ext in by_ext if ext not in mp_ids]
    checked = source.known(strangers)
    known_elsewhere = checked.known
    magento_orders = [o for ext, o in by_ext.items() if ext in mp_ids or ext not in known_elsewhere]
    counts = _creditmemo_counts(runtime, [o.entity_id for o in magento_orders])
    magento = [magento_side(o, counts.get(o.entity_id, 0)) for o in magento_orders]
    tolerance = Decimal(str(runtime.settings.finance_tolerance))
    return finance_domain.build_report(month, start, end, marketplace, magento, tolerance,
                                       unverified=dict.fromkeys(checked.unverified, checked.why))


def report_csv(report: finance_domain.Report) -> str:
    return finance_domain.to_csv(report)
