"""``searchCriteria`` as Adobe Commerce 2.4 parses and applies it.

Wire format (query string, PHP bracket notation)::

    searchCriteria[filter_groups][0][filters][0][field]=sku
    searchCriteria[filter_groups][0][filters][0][value]=MB-%25
    searchCriteria[filter_groups][0][filters][0][condition_type]=like
    searchCriteria[sortOrders][0][field]=entity_id&searchCriteria[sortOrders][0][direction]=ASC
    searchCriteria[pageSize]=50&searchCriteria[currentPage]=2

Both casings are accepted (``filterGroups``/``filter_groups``, ``conditionType``/``condition_type``,
``pageSize``/``page_size``...). Filters inside a group are OR-ed, groups are AND-ed. Paging follows
2.4: a page past the end is empty (older versions repeated the last page), ``currentPage`` < 1
is page 1, no ``pageSize`` means every match. The response echoes the criteria in snake_case.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .errors import ApiError, invalid_value, required, type_error

CONDITIONS = {
    "eq", "neq", "gt", "gteq", "lt", "lteq", "moreq", "like", "nlike", "in", "nin",
    "finset", "nfinset", "from", "to", "null", "notnull",
}  # fmt: skip

_KEY_ALIASES = {
    "filterGroups": "filter_groups",
    "conditionType": "condition_type",
    "sortOrders": "sort_orders",
    "pageSize": "page_size",
    "currentPage": "current_page",
}


def parse_brackets(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0][c]=v`` pairs into nested dicts (list indexes stay dict keys, sorted later)."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        parts = [head] + (re.findall(r"\[([^\]]*)\]", "[" + rest) if rest else [])
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return root


def _norm(key: str) -> str:
    return _KEY_ALIASES.get(key, key)


def _as_list(node: Any) -> list[Any]:
    if isinstance(node, list):
        return node
    if isinstance(node, dict):

        def order(k: str) -> tuple[int, str]:
            return (int(k), "") if k.isdigit() else (10**9, k)

        return [node[k] for k in sorted(node, key=order)]
    return []


@dataclass
class Filter:
    field: str
    value: str
    condition_type: str | None = None

    @property
    def condition(self) -> str:
        return self.condition_type or "eq"

    @cached_property
    def numeric_value(self) -> float | None:
        """The value as a number when it looks like one (compared numerically then); parsed once."""
        return float(self.value) if _looks_numeric(self.value) else None

    @cached_property
    def lower_value(self) -> str:
        return self.value.lower()

    @cached_property
    def wanted(self) -> frozenset[str]:
        """The lower-cased members of an ``in``/``nin`` value, split once per request (not once per
        record: a 100-SKU ``in`` over 100,000 source items spent seconds re-splitting it)."""
        return frozenset(v.strip().lower() for v in self.value.split(","))


@dataclass
class SearchCriteria:
    filter_groups: list[list[Filter]] = field(default_factory=list)
    sort_orders: list[tuple[str, str]] | None = None
    page_size: int | None = None
    current_page: int | None = None

    def echo(self) -> dict[str, Any]:
        """The ``search_criteria`` object of the response (snake_case, only what was sent)."""
        groups = []
        for group in self.filter_groups:
            filters = []
            for f in group:
                item: dict[str, Any] = {"field": f.field, "value": f.value}
                if f.condition_type is not None:
                    item["condition_type"] = f.condition_type
                filters.append(item)
            groups.append({"filters": filters})
        out: dict[str, Any] = {"filter_groups": groups}
        if self.sort_orders is not None:
            out["sort_orders"] = [{"field": f, "direction": d} for f, d in self.sort_orders]
        if self.page_size is not None:
            out["page_size"] = self.page_size
        if self.current_page is not None:
            out["current_page"] = self.current_page
        return out


def _int(name: str, value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise type_error(name, value, "int") from None


@dataclass(frozen=True)
class InputLimits:
    """Web API input limiting (``webapi/validation/input_limit_enabled``, off by default in 2.4):
    a default page size when none is sent, and a maximum."""

    default_page_size: int = 20
    maximum_page_size: int = 300


def parse_search_criteria(
    query: Iterable[tuple[str, str]], *, required_param: bool = True, limits: InputLimits | None = None
) -> SearchCriteria:
    """Parse the query string; 400 when ``searchCriteria`` is absent (Magento requires it)."""
    criteria = _parse_search_criteria(query, required_param=required_param)
    if limits is not None:
        if criteria.page_size is None:
            criteria.page_size = limits.default_page_size
        elif criteria.page_size > limits.maximum_page_size:
            raise ApiError(400, "Maximum SearchCriteria pageSize is %max", {"max": limits.maximum_page_size})
    return criteria


def _parse_search_criteria(query: Iterable[tuple[str, str]], *, required_param: bool) -> SearchCriteria:
    pairs = list(query)
    tree = parse_brackets(pairs)
    if "searchCriteria" not in tree and "search_criteria" not in tree:
        if required_param:
            raise required("searchCriteria")
        return SearchCriteria()
    node = tree.get("searchCriteria", tree.get("search_criteria"))
    if not isinstance(node, dict):
        return SearchCriteria()
    node = {_norm(k): v for k, v in node.items()}
    criteria = SearchCriteria()
    for group in _as_list(node.get("filter_groups")):
        if not isinstance(group, dict):
            continue
        filters = []
        for raw in _as_list(group.get("filters")):
            if not isinstance(raw, dict):
                continue
            raw = {_norm(k): v for k, v in raw.items()}
            if "field" not in raw:
                raise required("field")
            condition = raw.get("condition_type")
            if condition is not None and condition not in CONDITIONS:
                raise invalid_value("condition_type", condition)
            filters.append(Filter(str(raw["field"]), str(raw.get("value", "")), condition))
        if filters:
            criteria.filter_groups.append(filters)
    if "sort_orders" in node:
        orders = []
        for raw in _as_list(node["sort_orders"]):
            if not isinstance(raw, dict) or "field" not in raw:
                continue
            direction = str(raw.get("direction", "ASC")).upper()
            if direction not in ("ASC", "DESC"):
                raise invalid_value("direction", raw.get("direction"))
            orders.append((str(raw["field"]), direction))
        criteria.sort_orders = orders
    if node.get("page_size") not in (None, ""):
        criteria.page_size = _int("pageSize", node["page_size"])
    if node.get("current_page") not in (None, ""):
        criteria.current_page = _int("currentPage", node["current_page"])
    return criteria


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _cmp_key(value: Any) -> tuple[int, Any]:
    number = _number(value)
    if number is not None:
        return (0, number)
    return (1, str(value).lower())


def _compare(actual: Any, expected: str) -> int | None:
    """SQL-like comparison: numeric when both sides are numbers, case-insensitive text otherwise."""
    if actual is None:
        return None
    numeric_actual = isinstance(actual, int | float) or (isinstance(actual, str) and _looks_numeric(actual))
    if numeric_actual and _looks_numeric(expected):
        a, b = float(actual), float(expected)
        return (a > b) - (a < b)
    left, right = _as_text(actual).lower(), expected.lower()
    return (left > right) - (left < right)


_NUMERIC = re.compile(r"-?\d+(\.\d+)?")


def _looks_numeric(text: str) -> bool:
    return _NUMERIC.fullmatch(text.strip()) is not None


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("^" + "".join(out) + "$", re.IGNORECASE | re.DOTALL)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def matches(flt: Filter, actual: Any) -> bool:
    cond = flt.condition
    if cond == "null":
        return actual is None or actual == ""
    if cond == "notnull":
        return not (actual is None or actual == "")
    if isinstance(actual, list):
        return any(matches(flt, v) for v in actual)
    if cond in ("in", "nin"):
        found = actual is not None and _as_text(actual).lower() in flt.wanted
        return found if cond == "in" else (actual is not None and not found)
    if cond in ("finset", "nfinset"):
        members = {v.strip().lower() for v in _as_text(actual).split(",")} if actual is not None else set()
        found = flt.value.strip().lower() in members
        return found if cond == "finset" else not found
    if cond in ("like", "nlike"):
        if actual is None:
            return False
        found = bool(_like(flt.value).match(_as_text(actual)))
        return found if cond == "like" else not found
    if isinstance(actual, bool):
        actual = int(actual)
    result = _compare_to(actual, flt)
    if result is None:
        return False
    if cond == "eq":
        return result == 0
    if cond == "neq":
        return result != 0
    if cond == "gt":
        return result > 0
    if cond in ("gteq", "moreq", "from"):
        return result >= 0
    if cond == "lt":
        return result < 0
    if cond in ("lteq", "to"):
        return result <= 0
    raise KeyError(cond)


def _compare_to(actual: Any, flt: Filter) -> int | None:
    """:func:`_compare` with the filter's value parsed once per request, not once per record
    (a keyset page of 50,000 products tested every record against the same value)."""
    if actual is None:
        return None
    expected = flt.numeric_value
    if expected is not None:
        if isinstance(actual, int | float):
            a = float(actual)
            return (a > expected) - (a < expected)
        if isinstance(actual, str) and _looks_numeric(actual):
            a = float(actual)
            return (a > expected) - (a < expected)
    left, right = _as_text(actual).lower(), flt.lower_value
    return (left > right) - (left < right)


Getter = Callable[[Any, str], Any]


def _default_getter(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, Mapping) else getattr(record, name, None)


_RANGE = {"gt", "gteq", "moreq", "from", "lt", "lteq", "to", "eq"}


def _id_range(criteria: SearchCriteria, key: str) -> list[tuple[str, float]] | None:
    """The keyset-paging shape: every group is one numeric range filter on ``key`` and the sort is
    ``key`` ascending (or absent). Returns the bounds, or None when the criteria are anything else."""
    if criteria.sort_orders not in (None, [], [(key, "ASC")]):
        return None
    bounds = []
    for group in criteria.filter_groups:
        if len(group) != 1 or group[0].field != key or group[0].condition not in _RANGE:
            return None
        if not _looks_numeric(group[0].value):
            return None
        bounds.append((group[0].condition, float(group[0].value)))
    return bounds


Lookup = Callable[[str, list[str]], "list[Any] | None"]
Presorted = Callable[[list[tuple[str, str]]], "list[Any] | None"]


def _lookup_keys(group: list[Filter]) -> tuple[str, list[str]] | None:
    """A group that can be answered from an exact-value index: every filter ``eq``/``in`` on one
    field. ``eq`` with a numeric-looking value is left to the scan (it compares numerically, so
    ``001`` equals ``1``; an index of texts would miss that)."""
    name = group[0].field
    keys: list[str] = []
    for flt in group:
        if flt.field != name:
            return None
        if flt.condition == "in":
            keys.extend(flt.wanted)
        elif flt.condition == "eq" and not _looks_numeric(flt.value):
            keys.append(flt.value.lower())
        else:
            return None
    return name, keys


RangeLookup = Callable[[str, str, str], "list[Any] | None"]
_LOWER_BOUNDS = ("gt", "gteq", "moreq", "from")


def _range_candidates(criteria: SearchCriteria, lookup_range: RangeLookup | None,
                      ) -> tuple[list[Any], int] | None:
    """``updated_at gt '2026-...'``-style groups (one lower bound, a value that is not a number,
    so the comparison is on text) answered from a sorted index: (records, the group's position),
    or None when there is none. The index answers its group exactly (a test compares it with the
    scan), in entity order."""
    if lookup_range is None:
        return None
    for position, group in enumerate(criteria.filter_groups):
        if len(group) != 1:
            continue
        flt = group[0]
        if flt.condition in _LOWER_BOUNDS and flt.numeric_value is None:
            found = lookup_range(flt.field, flt.condition, flt.lower_value)
            if found is not None:
                return found, position
    return None


def _keyset_over_range(found: list[Any], position: int, criteria: SearchCriteria, getter: Getter,
                       key: str) -> tuple[list[Any], int] | None:
    """``updated_at gt T`` + ``entity_id gt N`` sorted by id (a poll's keyset page) over the range
    index's answer, by bisection: no scan of the rows updated since T for every page (a seeded
    catalogue shares one timestamp, so that was the whole catalogue, page after page). None when
    the other groups are not id bounds."""
    rest = SearchCriteria([g for i, g in enumerate(criteria.filter_groups) if i != position],
                          criteria.sort_orders, criteria.page_size, criteria.current_page)
    bounds = _id_range(rest, key)
    if bounds is None:
        return None
    def id_of(record: Any) -> float:
        return float(getter(record, key))

    return _bounded_page(found, found, bounds, criteria, key=id_of)


def _bounded_page(rows: list[Any], keys: list[Any], bounds: list[tuple[str, float]], criteria: SearchCriteria,
                  key: Callable[[Any], float] | None = None) -> tuple[list[Any], int]:
    """The rows between the id ``bounds`` (``keys`` sorted, bisected through ``key``), paged."""
    lo, hi = 0, len(rows)
    for condition, value in bounds:
        if condition == "gt":
            lo = max(lo, bisect.bisect_right(keys, value, key=key))
        elif condition in ("gteq", "moreq", "from"):
            lo = max(lo, bisect.bisect_left(keys, value, key=key))
        elif condition == "lt":
            hi = min(hi, bisect.bisect_left(keys, value, key=key))
        elif condition in ("lteq", "to"):
            hi = min(hi, bisect.bisect_right(keys, value, key=key))
        else:  # eq
            lo, hi = max(lo, bisect.bisect_left(keys, value, key=key)), min(hi, bisect.bisect_right(keys, value, key=key))
    selected = rows[lo:hi] if lo < hi else []
    total = len(selected)
    if criteria.page_size is not None and criteria.page_size > 0:
        start = (max(1, criteria.current_page or 1) - 1) * criteria.page_size
        selected = selected[start : start + criteria.page_size]
    return selected, total


def _candidates(criteria: SearchCriteria, lookup: Lookup | None) -> list[Any] | None:
    """Records that may match, from an index, in the records' own order; None = scan them all.
    The candidates are a superset of the matches of one group, so the full filter still runs on
    them and the answer is the one a scan gives."""
    if lookup is None:
        return None
    for group in criteria.filter_groups:
        keys = _lookup_keys(group)
        if keys is None:
            continue
        found = lookup(*keys)
        if found is not None:
            return found
    return None


def apply(
    records: Iterable[Any],
    criteria: SearchCriteria,
    getter: Getter = _default_getter,
    *,
    sorted_by: str | None = None,
    lookup: Lookup | None = None,
    presorted: Presorted | None = None,
    sorted_keys: list[float] | None = None,
    lookup_range: RangeLookup | None = None,
) -> tuple[list[Any], int]:
    """Filter, sort and page ``records``; returns (page, total_count).

    ``sorted_by`` names a numeric key the records already come sorted by (entity ids, which are
    monotonic): keyset queries on it (``entity_id gt N`` sorted ascending) are then answered by
    bisection instead of a scan, so paging through 100,000 products stays linear overall.

    ``lookup(field, lower_cased_values)`` answers ``field eq/in`` groups from an index (records in
    their original order, or None when the field is not indexed): ``sku in (100 SKUs)`` over
    100,000 source items no longer tests every item. ``presorted(sort_orders)`` returns every
    record already in that order (a cached, stably sorted copy) or None: offset paging through
    every source item sorted by SKU then no longer sorts the whole table for each page.
    Both give exactly the answer of the plain scan-and-sort below. ``sorted_keys`` are the
    ``sorted_by`` values of ``records`` when the caller keeps them cached.
    """
    candidates = _candidates(criteria, lookup)
    if candidates is None:
        ranged = _range_candidates(criteria, lookup_range)
        if ranged is not None:
            if sorted_by is not None:
                keyset = _keyset_over_range(ranged[0], ranged[1], criteria, getter, sorted_by)
                if keyset is not None:
                    return keyset
            candidates = ranged[0]
    if candidates is not None:
        records = candidates
    elif presorted is not None and criteria.sort_orders:
        ordered = presorted(criteria.sort_orders)
        if ordered is not None:
            selected = ordered
            if criteria.filter_groups:
                selected = [
                    r
                    for r in ordered
                    if all(any(matches(f, getter(r, f.field)) for f in group) for group in criteria.filter_groups)
                ]
            return _page(selected, criteria)
    bounds = _id_range(criteria, sorted_by) if sorted_by else None
    if bounds is not None and sorted_by is not None:
        rows = records if isinstance(records, list) else list(records)
        keys = sorted_keys if sorted_keys is not None else [float(getter(r, sorted_by)) for r in rows]
        return _bounded_page(rows, keys, bounds, criteria)
    selected = [
        r
        for r in records
        if all(any(matches(f, getter(r, f.field)) for f in group) for group in criteria.filter_groups)
    ]
    for name, direction in reversed(criteria.sort_orders or []):
        present = [r for r in selected if getter(r, name) is not None]
        missing = [r for r in selected if getter(r, name) is None]
        # A def, not a lambda: mypy cannot infer a lambda with a default argument.
        def sort_key(r: Any, n: str = name) -> tuple[int, Any]:
            return _cmp_key(getter(r, n))

        present.sort(key=sort_key, reverse=direction == "DESC")
        selected = missing + present if direction == "ASC" else present + missing
    return _page(selected, criteria)


def _page(selected: list[Any], criteria: SearchCriteria) -> tuple[list[Any], int]:
    total = len(selected)
    if criteria.page_size is not None and criteria.page_size > 0:
        page = max(1, criteria.current_page or 1)
        start = (page - 1) * criteria.page_size
        selected = selected[start : start + criteria.page_size]
    return selected, total


def sort_key(value: Any) -> tuple[int, Any]:
    """The ordering :func:`apply` sorts by (numbers numerically, texts case-insensitively)."""
    return _cmp_key(value)


def result(items: list[Any], criteria: SearchCriteria, total: int) -> dict[str, Any]:
    return {"items": items, "search_criteria": criteria.echo(), "total_count": total}


__all__ = ["ApiError", "Filter", "SearchCriteria", "apply", "matches", "parse_search_criteria", "result"]


def parse_fields(spec: str) -> dict[str, Any]:
    """``items[entity_id,extension_attributes[stock_item[qty]]],total_count`` → nested dict
    (a leaf is ``{}`` = keep the whole value). Raises ValueError on unbalanced brackets."""
    root: dict[str, Any] = {}
    stack = [root]
    name = ""
    for ch in spec:
        if ch == "[":
            node: dict[str, Any] = stack[-1].setdefault(name.strip(), {})
            stack.append(node)
            name = ""
        elif ch in ",]":
            if name.strip():
                stack[-1].setdefault(name.strip(), {})
            name = ""
            if ch == "]":
                if len(stack) == 1:
                    raise ValueError("unbalanced ]")
                stack.pop()
        else:
            name += ch
    if name.strip():
        stack[-1].setdefault(name.strip(), {})
    if len(stack) != 1:
        raise ValueError("unbalanced [")
    return root


def filter_fields(value: Any, spec: dict[str, Any]) -> Any:
    """Keep only the requested fields (Magento's ``?fields=`` partial responses); lists are
    filtered element by element."""
    if not spec:
        return value
    if isinstance(value, list):
        return [filter_fields(v, spec) for v in value]
    if isinstance(value, dict):
        return {k: filter_fields(value[k], sub) for k, sub in spec.items() if k in value}
    return value
