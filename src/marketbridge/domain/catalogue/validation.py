"""Pre-validation of a P41 row against the marketplace's reference data, every problem in plain English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from marketbridge.domain.catalogue.reference import MarketReference

# ----------------------------------------------------------------------------- pre-validation
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")
_URL = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)


def validate(row: Mapping[str, str], reference: MarketReference, *, sku: str, raw_category: str = "",
             price: Decimal | None = None) -> list[str]:
    """Every problem with a mapped product row, one plain-English sentence each (empty = publishable)."""
    problems: list[str] = []
    category = row.get("category", "")
    if not category:
        where = f" ('{raw_category}')" if raw_category else ""
        problems.append(f"Its Adobe Commerce category{where} is not mapped to a John Lewis category. "
                        "Add a category mapping.")
    elif category not in reference.categories:
        problems.append(f"The category '{category}' does not exist on John Lewis.")
    elif reference.leaf_categories and category not in reference.leaf_categories:
        problems.append(f"The category '{category}' is a department, not a leaf category; map it to a sub-category.")
    if price is None or price <= 0:
        problems.append("It has no price above zero in Adobe Commerce.")
    for attribute in reference.attributes:
        if attribute.code == "category" or attribute.requirement == "DISABLED":
            continue
        if category and not reference.applies(attribute, category):
            continue
        value = (row.get(attribute.code) or "").strip()
        label = attribute.label
        if not value:
            if attribute.requirement == "REQUIRED":
                if attribute.type == "MEDIA":
                    problems.append(f"It has no image; '{label}' is required.")
                else:
                    problems.append(f"'{label}' is required but empty.")
            continue
        max_length = attribute.rule("MAX_LENGTH")
        if max_length and max_length.isdigit() and len(value) > int(max_length):
            problems.append(f"'{label}' is {len(value)} characters long; the limit is {max_length}.")
        min_length = attribute.rule("MIN_LENGTH")
        if min_length and min_length.isdigit() and len(value) < int(min_length):
            problems.append(f"'{label}' is {len(value)} characters long; at least {min_length} are needed.")
        pattern = attribute.rule("REGEXP")
        if pattern:
            try:
                if not re.fullmatch(pattern, value):
                    problems.append(f"'{label}' has the value '{value}', which is not in the expected format.")
            except re.error:
                pass  # the operator's pattern is not a Python regex; the marketplace will judge
        if attribute.type in ("DECIMAL", "NUMERIC") and not _NUMBER.match(value):
            problems.append(f"'{label}' must be a number, not '{value}'.")
        if attribute.type == "INTEGER" and not _INTEGER.match(value):
            problems.append(f"'{label}' must be a whole number, not '{value}'.")
        if attribute.type == "MEDIA" and not _URL.match(value):
            problems.append(f"'{label}' must be a web address of an image (http or https), not '{value}'.")
        if attribute.type == "LIST" and attribute.values_list:
            allowed = reference.value_lists.get(attribute.values_list)
            if allowed is not None and value not in allowed:
                problems.append(f"'{label}' has the value '{value}', which is not one of the allowed values "
                                f"({', '.join(sorted(allowed)[:12])}). Add a value mapping.")
    return problems


def normalise_list_values(row: dict[str, str], reference: MarketReference) -> dict[str, str]:
    """Accept a value list *label* (``Red``) or a code in another case (``red``) for the code (``RED``)."""
    for attribute in reference.attributes:
        if attribute.type != "LIST" or not attribute.values_list:
            continue
        value = (row.get(attribute.code) or "").strip()
        allowed = reference.value_lists.get(attribute.values_list) or {}
        if not value or value in allowed:
            continue
        folded = value.casefold()
        for code, label in allowed.items():
            if code.casefold() == folded or label.casefold() == folded:
                row[attribute.code] = code
                break
    return row
