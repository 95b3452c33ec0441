"""In-memory fakes for the refunds flow's ports (``marketbridge.ports.RefundsStore``), on the same
lines as tests/fakes.py: :class:`FakeRefundsStore` keeps credit memo records (``RefundOut``), the
ledger of marketplace refunds (``MarketplaceRefund``), the cached RE01 reasons and the poll cursors
in dicts, with a :class:`~tests.fakes.FakeIssueLog`, a :class:`~tests.fakes.FakeOrderRecords` and
:class:`FakeSkuLinks`. A unit of work hands out the stored records themselves (the flow's changes are
kept as a committed transaction would keep them) and counts itself in ``units``; it does not roll
back. :class:`FakeRefundsMagento` and :class:`FakeRefundsMirakl` answer the few calls the flow
makes (credit memos and orders; OR11 by id and OR28).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marketbridge.adapters.db.models.refunds import MarketplaceRefund, RefundOut, RefundReason
from marketbridge.adapters.errors import NotFound
from marketbridge.adapters.magento import models as magento_models
from marketbridge.adapters.mirakl import models as mirakl_models
from tests.fakes import FakeIssueLog, FakeOrderRecords, FakeRepository

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def new_memo(creditmemo_id: int, *, status: str = "new", source: str = "poll", **values: Any) -> RefundOut:
    """A memo record with every column set, as the database would fill the defaults."""
    row = RefundOut(
        id=creditmemo_id, creditmemo_id=creditmemo_id, creditmemo_increment_id="", magento_order_id=None, order_id="",
        status=status, source=source, currency="", tax_mode="", total=Decimal(0), memo_total=Decimal(0), lines=[],
        refund_ids=[], problem="", attempts=0, workflow_round=0, in_flight=False, send_started_at=None, sent_at=None,
        refunded_at=None, memo_created_at=None, created_at=NOW, updated_at=NOW)
    for key, value in values.items():
        setattr(row, key, value)
    return row


class FakeSkuLinks:
    """``SkuLinks``: offer SKU -> Adobe Commerce SKU."""

    def __init__(self) -> None:
        self.links: dict[str, str] = {}

    def magento_sku_for(self, offer_sku: str) -> str:
        return self.links.get(offer_sku) or offer_sku

    def all_links(self) -> dict[str, str]:
        return dict(self.links)

    def offer_sku_for(self, magento_sku: str) -> str:
        return next((offer for offer, magento in self.links.items() if magento == magento_sku), magento_sku)


@dataclass
class FakeRefundsStore:
    memos: dict[int, RefundOut] = field(default_factory=dict)
    ledger: dict[str, MarketplaceRefund] = field(default_factory=dict)
    reasons: dict[str, RefundReason] = field(default_factory=dict)
    cursors: dict[str, str] = field(default_factory=dict)
    issues: FakeIssueLog = field(default_factory=FakeIssueLog)
    orders: FakeOrderRecords = field(default_factory=FakeOrderRecords)
    skus: FakeSkuLinks = field(default_factory=FakeSkuLinks)
    units: int = 0
    claims: list[tuple[int, int]] = field(default_factory=list)  # (memo, seen attempts) of each claim

    def add_memo(self, creditmemo_id: int, **values: Any) -> RefundOut:
        row = new_memo(creditmemo_id, **values)
        self.memos[creditmemo_id] = row
        return row

    def add_reason(self, code: str, *, is_shop_right: bool = True, type_: str = "REFUND") -> None:
        self.reasons[code] = RefundReason(code=code, label=code.title(), type=type_, is_shop_right=is_shop_right,
                                          fetched_at=NOW)

    @contextmanager
    def unit_of_work(self) -> Iterator[FakeRefundsRepository]:
        self.units += 1
        yield FakeRefundsRepository(self)


class FakeRefundsRepository(FakeRepository):
    store: FakeRefundsStore

    @property
    def orders(self) -> FakeOrderRecords:
        return self.store.orders

    @property
    def skus(self) -> FakeSkuLinks:
        return self.store.skus

    def memo(self, creditmemo_id: int, *, lock: bool = False) -> RefundOut:
        row = self.store.memos.get(creditmemo_id)
        return row if row is not None else self.store.add_memo(creditmemo_id, source="manual")

    def has_memo(self, creditmemo_id: int) -> bool:
        return creditmemo_id in self.store.memos

    def add_memo(self, creditmemo_id: int, *, status: str, source: str) -> None:
        assert creditmemo_id not in self.store.memos, "a unique constraint would refuse it"
        self.store.add_memo(creditmemo_id, status=status, source=source)

    def add_memo_if_absent(self, creditmemo_id: int, *, status: str, source: str) -> bool:
        if creditmemo_id in self.store.memos:
            return False
        self.store.add_memo(creditmemo_id, status=status, source=source)
        return True

    def memo_by_key(self, key: str) -> RefundOut | None:
        row = self.store.memos.get(int(key)) if key.isdigit() else None
        return row or next((r for r in self.store.memos.values() if r.creditmemo_increment_id == key), None)

    def memos_in(self, statuses: Sequence[str]) -> list[RefundOut]:
        return [r for r in self.store.memos.values() if r.status in statuses]

    def memo_on_order_in(self, order_id: str, statuses: Sequence[str]) -> bool:
        return any(r.order_id == order_id and r.status in statuses for r in self.store.memos.values())

    def list_memos(self, *, status: str | None, order_id: str | None, limit: int) -> list[RefundOut]:
        rows = [r for r in self.store.memos.values()
                if (not status or r.status == status) and (not order_id or r.order_id == order_id)]
        return sorted(rows, key=lambda r: r.id, reverse=True)[:limit]

    def counts_by_status(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for row in self.store.memos.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        return list(counts.items())

    def claim_send(self, creditmemo_id: int, seen_attempts: int, statuses: Sequence[str], *, status: str) -> bool:
        row = self.store.memos.get(creditmemo_id)
        if row is None or row.attempts != seen_attempts or row.status not in statuses:
            return False
        self.store.claims.append((creditmemo_id, seen_attempts))
        row.status, row.send_started_at, row.attempts, row.in_flight = status, dt.datetime.now(dt.UTC), seen_attempts + 1, True
        return True

    def marketplace_refund(self, refund_id: str) -> MarketplaceRefund | None:
        return self.store.ledger.get(refund_id)

    def add_marketplace_refund(self, **values: Any) -> None:
        row = MarketplaceRefund(**{"creditmemo_id": None, "id": len(self.store.ledger) + 1, "first_seen": NOW, **values})
        self.store.ledger[row.refund_id] = row

    def known_refund_ids(self) -> set[str]:
        return set(self.store.ledger)

    def refunds_of_memo(self, creditmemo_id: int) -> list[MarketplaceRefund]:
        return [r for r in self.store.ledger.values() if r.creditmemo_id == creditmemo_id]

    def refund_states(self, refund_ids: Sequence[str]) -> list[str]:
        return [self.store.ledger[i].state for i in refund_ids if i in self.store.ledger]

    def list_marketplace_refunds(self, *, origin: str | None, order_id: str | None,
                                 limit: int) -> list[MarketplaceRefund]:
        rows = [r for r in self.store.ledger.values()
                if (not origin or r.origin == origin) and (not order_id or r.order_id == order_id)]
        return sorted(rows, key=lambda r: r.id, reverse=True)[:limit]

    def order_ids_to_follow(self, sent_status: str) -> list[str]:
        ours = {r.order_id for r in self.store.memos.values() if r.status == sent_status}
        waiting = {r.order_id for r in self.store.ledger.values() if r.state != "REFUNDED"}
        return sorted(o for o in ours | waiting if o)

    def cursor(self, name: str) -> str | None:
        return self.store.cursors.get(name)

    def move_cursor(self, name: str, value: str) -> None:
        self.store.cursors[name] = value

    def valid_reasons(self) -> dict[str, RefundReason]:
        return {code: r for code, r in self.store.reasons.items() if r.type == "REFUND"}

    def store_reason(self, code: str, *, label: str, type_: str, is_shop_right: bool, at: dt.datetime) -> None:
        self.store.reasons[code] = RefundReason(code=code, label=label, type=type_, is_shop_right=is_shop_right,
                                                fetched_at=at)


class FakeRefundsMagento:
    """Credit memos and orders by id (a missing one is ``NotFound``); paged memos by entity id."""

    def __init__(self) -> None:
        self.memos: dict[int, magento_models.Creditmemo] = {}
        self.orders: dict[int, magento_models.Order] = {}

    def add(self, memo_id: int, order_id: int, ext_order_id: str | None, *, comment: str = "",
            items: Sequence[dict[str, Any]] = ({"order_item_id": 1, "sku": "LAMP-1", "qty": 1, "row_total": 10,
                                                 "row_total_incl_tax": 12},)) -> None:
        self.orders[order_id] = magento_models.Order.model_validate({
            "entity_id": order_id, "increment_id": f"M{order_id}", "ext_order_id": ext_order_id,
            "order_currency_code": "GBP",
            "items": [{"item_id": 1, "sku": "LAMP-1", "qty_ordered": 1, "price": 12}]})
        self.memos[memo_id] = magento_models.Creditmemo.model_validate({
            "entity_id": memo_id, "increment_id": f"CM{memo_id}", "order_id": order_id, "grand_total": 12,
            "order_currency_code": "GBP", "created_at": "2026-12-01 08:00:00", "items": list(items),
            "comments": [{"comment": comment}] if comment else []})

    def get_creditmemo(self, creditmemo_id: int) -> magento_models.Creditmemo:
        if creditmemo_id not in self.memos:
            raise NotFound(f"no credit memo {creditmemo_id}")
        return self.memos[creditmemo_id]

    def get_order(self, order_id: int) -> magento_models.Order:
        return self.orders[order_id]

    def iterate_creditmemos(self, *, after_entity_id: int | None = None, created_since: Any = None,
                            order_id: int | None = None, page_size: int = 100) -> Iterator[magento_models.Creditmemo]:
        for memo_id in sorted(self.memos):
            if after_entity_id is None or memo_id > after_entity_id:
                yield self.memos[memo_id]


class FakeRefundsMirakl:
    """Marketplace orders (OR11 by id, or all) and OR28, which answers refund ids R1, R2... or
    raises ``fail_with``."""

    def __init__(self) -> None:
        self.orders: dict[str, mirakl_models.Order] = {}
        self.refunds: list[mirakl_models.RefundRequest] = []
        self.fail_with: Exception | None = None

    def add_order(self, order_id: str, *, refunds: Sequence[dict[str, Any]] = (), state: str = "SHIPPED",
                  **fields: Any) -> None:
        self.orders[order_id] = mirakl_models.Order.model_validate({
            "order_id": order_id, "order_state": state, "currency_iso_code": "GBP", "order_tax_mode": "TAX_INCLUDED",
            "created_date": NOW.isoformat(), "last_updated_date": NOW.isoformat(), "price": 12, "total_price": 12,
            **fields,
            "order_lines": [{"order_line_id": f"{order_id}-1", "offer_sku": "LAMP-1", "quantity": 1, "price": 12,
                             "shipping_price": 0, "total_price": 12, "order_line_state": state,
                             "refunds": list(refunds)}]})

    def get_order(self, order_id: str) -> mirakl_models.Order:
        if order_id not in self.orders:
            raise NotFound(f"no order {order_id}")
        return self.orders[order_id]

    def list_orders(self, *, order_ids: Sequence[str] | None = None, start_update_date: Any = None,
                    **_: Any) -> Iterator[mirakl_models.Order]:
        for order_id, order in self.orders.items():
            if order_ids is None or order_id in order_ids:
                yield order

    def refund(self, request: mirakl_models.RefundRequest) -> mirakl_models.RefundResponse:
        if self.fail_with is not None:
            raise self.fail_with
        self.refunds.append(request)
        return mirakl_models.RefundResponse.model_validate({"refunds": [
            {"order_line_id": line.order_line_id, "refund_id": f"R{len(self.refunds)}-{n}", "amount": line.amount}
            for n, line in enumerate(request.refunds, 1)]})
