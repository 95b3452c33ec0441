"""Typed results of the refunds flow's commands and views (issue 18: no ``dict[str, Any]`` at the
service boundary).

* Frozen dataclasses for what a command did (:class:`MemoOutcome`, :class:`PendingMemo`,
  :class:`FollowCounts`, :class:`MirrorResult`, :class:`RetryRequested`). The DBOS steps record
  their ``as_json()``, the same JSON the steps recorded before the types existed, so a workflow
  recovered across an upgrade reads the outputs its earlier steps recorded.
* Pydantic models for what is read (:class:`RefundView`, :class:`MarketplaceRefundView`, the
  :func:`~marketbridge.services.refunds.reading.show` details and :class:`ReasonTable`): they are
  the JSON API's ``response_model`` s, so ``/openapi.json`` describes the real shapes. Amounts are
  decimal strings (``"12.50"``), times ISO 8601 strings, as the API always sent them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


# ------------------------------------------------------------------ commands
@dataclass(frozen=True)
class MemoOutcome:
    """What :func:`prepare`, :func:`send` or :func:`process` did to one credit memo.

    ``status`` is a ``refunds_out`` status, or ``"retry"`` from :func:`send` when the outcome is
    unknown or the marketplace is unavailable (call again later, after ``retry_after`` seconds if
    set). The other fields are set only where they mean something (``None`` otherwise).
    """

    status: str
    order_id: str | None = None
    total: str | None = None  # the planned refund, once planned
    problems: tuple[str, ...] | None = None  # why prepare held the memo
    refund_ids: tuple[str, ...] | None = None  # from send: the marketplace refunds of this memo
    error: str | None = None  # from send, with status "retry"
    retry_after: float | None = None  # from send after a 429

    def as_json(self) -> dict[str, Any]:
        """The fields that are set, as JSON (what the workflow records and the CLI prints)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MemoOutcome:
        """The inverse of :meth:`as_json` (a step output read back by the workflow)."""
        fields = dict(data)
        for key in ("problems", "refund_ids"):
            if fields.get(key) is not None:
                fields[key] = tuple(fields[key])
        return cls(**fields)


@dataclass(frozen=True)
class PendingMemo:
    """A credit memo not finished yet, with the workflow id that should run it."""

    creditmemo_id: int
    status: str
    workflow_id: str


@dataclass(frozen=True)
class FollowCounts:
    """One pass of following the marketplace: refund states changed, refunds we did not send
    recorded (``foreign``), our memos completed, and marketplace orders read."""

    updated: int = 0
    foreign: int = 0
    completed: int = 0
    orders: int = 0

    def __add__(self, other: FollowCounts) -> FollowCounts:
        return FollowCounts(self.updated + other.updated, self.foreign + other.foreign,
                            self.completed + other.completed, self.orders + other.orders)

    def as_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class MirrorResult:
    """The Adobe Commerce credit memo that mirrors a marketplace refund (``created`` False when it
    already existed)."""

    refund_id: str
    creditmemo_id: int
    created: bool


@dataclass(frozen=True)
class RetryRequested:
    """A held memo set to be planned again, and the workflow id of its new round."""

    creditmemo_id: int
    workflow_id: str


# ------------------------------------------------------------------ views (JSON API shapes)
class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class RefundLineView(_View):
    """One computed OR28 line (amounts in pence as stored, plus ``amount``/``shipping`` as decimal
    strings for people). Older rows may carry other keys: they are kept."""

    model_config = ConfigDict(frozen=True, extra="allow")

    line_id: str
    sku: str
    quantity: int
    item_amount: int
    adjustment: int
    shipping_amount: int
    reason_code: str
    taxes: list[list[Any]] = []
    shipping_taxes: list[list[Any]] = []
    amount: str
    shipping: str


class RefundView(_View):
    """A credit memo and what became of it (a ``refunds_out`` row)."""

    creditmemo_id: int
    creditmemo_increment_id: str
    magento_order_id: int | None
    order_id: str
    status: str
    source: str
    currency: str
    tax_mode: str
    total: str
    memo_total: str
    lines: list[RefundLineView]
    refund_ids: list[str]
    problem: str
    attempts: int
    sent_at: str | None
    refunded_at: str | None
    created_at: str | None


class MarketplaceRefundView(_View):
    """A refund on a marketplace order line (``origin`` creditmemo, marketplace or cancelation)."""

    refund_id: str
    order_id: str
    order_line_id: str
    sku: str
    origin: str
    creditmemo_id: int | None
    amount: str
    shipping_amount: str
    quantity: int
    reason_code: str
    currency: str
    state: str
    marketplace_created_at: str | None
    first_seen: str | None


class RefundDetail(RefundView):
    """One credit memo with the marketplace refunds it became."""

    marketplace_refunds: list[MarketplaceRefundView]


class MarketplaceRefundDetail(_View):
    """One marketplace refund looked up by its id."""

    marketplace_refund: MarketplaceRefundView


class ReasonMapping(_View):
    keyword: str
    code: str
    label: str
    check: str


class ReasonDefault(_View):
    code: str
    check: str


class MarketplaceReason(_View):
    code: str
    label: str
    is_shop_right: bool


class ReasonTable(_View):
    """The credit-memo comment -> RE01 reason mapping in use, each code checked against the cached
    RE01 list, and that list."""

    mapping: list[ReasonMapping]
    default: ReasonDefault
    marketplace_reasons: list[MarketplaceReason]
