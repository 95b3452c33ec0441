"""Builder for Adobe Commerce ``searchCriteria`` query parameters.

Filters in one group are OR-ed; groups are AND-ed (there is no OR across groups)::

    SearchCriteria().where("updated_at", since, "gt").any_of(("status", "pending"), ("status", "processing"))
        .order_by("entity_id").page(100)

``to_params()`` returns ``(key, value)`` pairs in Magento's bracket notation with snake_case keys
(camelCase is accepted too, but one spelling keeps request signatures and logs predictable).
Values: lists become comma-separated (for ``in``/``nin``), datetimes become UTC
``YYYY-MM-DD HH:MM:SS`` (the only format Magento compares correctly), bools become ``1``/``0``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

CONDITIONS = frozenset(
    {"eq", "neq", "gt", "gteq", "lt", "lteq", "moreq", "like", "nlike", "in", "nin",
     "finset", "nfinset", "from", "to", "null", "notnull"}
)  # fmt: skip


def format_value(value: Any) -> str:
    if isinstance(value, datetime):
        moment: datetime = value  # typed: reassigning the Any parameter would make it Any again
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d 00:00:00")
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(format_value(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Filter:
    field: str
    value: Any
    condition: str = "eq"

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition_type {self.condition!r}")


@dataclass
class SearchCriteria:
    groups: list[list[Filter]] = field(default_factory=list)
    sort_orders: list[tuple[str, str]] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None

    def where(self, field_name: str, value: Any = None, condition: str = "eq") -> SearchCriteria:
        """AND a single filter (its own group)."""
        self.groups.append([Filter(field_name, value, condition)])
        return self

    def any_of(self, *filters: Filter | tuple[Any, ...]) -> SearchCriteria:
        """AND one group whose filters are OR-ed."""
        group = [f if isinstance(f, Filter) else Filter(*f) for f in filters]
        if not group:
            raise ValueError("any_of needs at least one filter")
        self.groups.append(group)
        return self

    def order_by(self, field_name: str, direction: str = "ASC") -> SearchCriteria:
        direction = direction.upper()
        if direction not in ("ASC", "DESC"):
            raise ValueError("direction must be ASC or DESC")
        self.sort_orders.append((field_name, direction))
        return self

    def page(self, size: int, current: int = 1) -> SearchCriteria:
        if size < 1 or current < 1:
            raise ValueError("page size and current page start at 1")
        self.page_size = size
        self.current_page = current
        return self

    def copy(self) -> SearchCriteria:
        return SearchCriteria(
            [list(g) for g in self.groups], list(self.sort_orders), self.page_size, self.current_page
        )

    def to_params(self, *, camel: bool = False) -> list[tuple[str, str]]:
        """``camel=True`` spells the keys as the 2.4.8 schema declares them for some endpoints
        (``filterGroups``, ``conditionType``); Magento accepts both spellings."""
        groups_key, condition_key = ("filterGroups", "conditionType") if camel else ("filter_groups", "condition_type")
        params: list[tuple[str, str]] = []
        for g, group in enumerate(self.groups):
            for f, flt in enumerate(group):
                prefix = f"searchCriteria[{groups_key}][{g}][filters][{f}]"
                params.append((f"{prefix}[field]", flt.field))
                params.append((f"{prefix}[value]", format_value(flt.value if flt.value is not None else "")))
                params.append((f"{prefix}[{condition_key}]", flt.condition))
        for s, (name, direction) in enumerate(self.sort_orders):
            params.append((f"searchCriteria[sortOrders][{s}][field]", name))
            params.append((f"searchCriteria[sortOrders][{s}][direction]", direction))
        if self.page_size is not None:
            params.append(("searchCriteria[pageSize]", str(self.page_size)))
        if self.current_page is not None:
            params.append(("searchCriteria[currentPage]", str(self.current_page)))
        if not params:
            params.append(("searchCriteria", ""))  # Magento requires the parameter to be present
        return params


def chunks(values: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = ["CONDITIONS", "Filter", "SearchCriteria", "chunks", "format_value"]
