"""The marketplace's reference data (PM11 attributes, H11 hierarchies, VL11 value lists) as plain values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


# ----------------------------------------------------------------------------- marketplace reference data
@dataclass(frozen=True)
class MarketAttribute:
    """A PM11 attribute, reduced to what validation needs."""

    code: str
    label: str
    type: str  # TEXT, LONG_TEXT, LIST, DECIMAL, INTEGER, MEDIA, ...
    requirement: str = "OPTIONAL"  # REQUIRED | RECOMMENDED | OPTIONAL | DISABLED
    hierarchy_code: str = ""  # "" = every category
    values_list: str | None = None
    validations: str = ""  # "MAX_LENGTH|150,REGEXP|^[0-9]{13}$"
    variant: bool = False

    def rule(self, name: str) -> str | None:
        for item in self.validations.split(","):
            if item.startswith(name + "|"):
                return item.split("|", 1)[1]
        return None


@dataclass(frozen=True)
class MarketReference:
    """PM11 attributes, H11 categories (code -> parent code) and VL11 value lists (code -> codes/labels)."""

    attributes: tuple[MarketAttribute, ...]
    categories: Mapping[str, str]  # code -> parent_code ("" for top level)
    leaf_categories: frozenset[str]
    value_lists: Mapping[str, Mapping[str, str]]  # list code -> {value code: label}

    def ancestors(self, category: str) -> list[str]:
        chain, seen = [], set()
        while category and category not in seen:
            seen.add(category)
            chain.append(category)
            category = self.categories.get(category, "")
        return chain

    def applies(self, attribute: MarketAttribute, category: str) -> bool:
        return not attribute.hierarchy_code or attribute.hierarchy_code in self.ancestors(category)


def reference_from_api(attributes: Sequence[Mapping[str, Any]], hierarchies: Sequence[Mapping[str, Any]],
                       value_lists: Sequence[Mapping[str, Any]]) -> MarketReference:
    """Build the reference from PM11 ``attributes``, H11 ``hierarchies`` and VL11 ``values_lists`` items."""
    attrs = tuple(
        MarketAttribute(
            code=str(a["code"]), label=str(a.get("label") or a["code"]), type=str(a.get("type") or "TEXT"),
            requirement=str(a.get("requirement_level") or ("REQUIRED" if a.get("required") else "OPTIONAL")),
            hierarchy_code=str(a.get("hierarchy_code") or ""),
            values_list=(str(a.get("values_list") or a.get("type_parameter") or "") or None),
            validations=str(a.get("validations") or ""), variant=bool(a.get("variant")),
        )
        for a in attributes
    )
    categories = {str(h["code"]): str(h.get("parent_code") or "") for h in hierarchies}
    parents = set(categories.values())
    leaves = frozenset(code for code in categories if code not in parents)
    lists = {str(v["code"]): {str(x["code"]): str(x.get("label") or x["code"]) for x in v.get("values") or []}
             for v in value_lists}
    return MarketReference(attrs, categories, leaves, lists)
