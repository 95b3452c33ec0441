"""Typed results of the catalogue flow's commands and views (issue 18: no ``dict[str, Any]`` at the
service boundary).

* Frozen dataclasses for what a command did (:class:`PassResult`, :class:`ScheduledPass`). The DBOS
  step ``catalogue.publish_pass_step`` records :meth:`ScheduledPass.as_dict`, the same JSON it
  recorded before the types existed, so a workflow recovered across an upgrade reads the outputs its
  earlier steps recorded.
* Pydantic models for what is read (:class:`ListingView`, :class:`UnknownSku`,
  :class:`MappingsView` and its rows): they are the JSON API's ``response_model`` s, so
  ``/openapi.json`` describes the real shapes; the field order is the order the API always sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


# ------------------------------------------------------------------ commands
@dataclass(frozen=True)
class PassResult:
    """One publishing pass: imports that finished, and the P41 / OF01 imports sent (``None``: none)."""

    followed: int = 0
    products_import: str | None = None
    offers_import: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"followed": self.followed, "products_import": self.products_import, "offers_import": self.offers_import}


@dataclass(frozen=True)
class ScheduledPass:
    """What the schedule's pass did: products discovered and prepared, then the publishing pass."""

    discovered: int
    ready: int
    invalid: int
    excluded: int
    publishing: PassResult

    @property
    def followed(self) -> int:
        return self.publishing.followed

    @property
    def products_import(self) -> str | None:
        return self.publishing.products_import

    @property
    def offers_import(self) -> str | None:
        return self.publishing.offers_import

    def as_dict(self) -> dict[str, Any]:
        """The recorded step output and the CLI's JSON (keys and order as before the types)."""
        return {"discovered": self.discovered, "ready": self.ready, "invalid": self.invalid,
                "excluded": self.excluded, **self.publishing.as_dict()}


# ------------------------------------------------------------------ views
class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ListingView(View):
    """One product's listing: its status (new, excluded, invalid, pending, rejected, inactive, live),
    the stage within ``pending`` and the problems in plain English."""

    magento_sku: str
    offer_sku: str
    type_id: str
    variant_group: str | None
    status: str
    stage: str
    problems: list[str]
    product_import_id: str | None
    offer_import_id: str | None
    updated_at: str | None  # ISO 8601


class UnknownSku(View):
    """A SKU asked for that Adobe Commerce does not have (it has no listing)."""

    magento_sku: str
    status: Literal["not_found"] = "not_found"
    problems: list[str]


class AttributeMappingView(View):
    attribute: str
    source: str
    value_map: dict[str, str]


class CategoryMappingView(View):
    magento_category: str
    marketplace_category: str


class OverrideView(View):
    magento_sku: str
    action: str
    note: str


class MappingsView(View):
    """The effective attribute mappings (defaults + edits), category mappings and publish rules."""

    attributes: list[AttributeMappingView]
    categories: list[CategoryMappingView]
    overrides: list[OverrideView]


class PublishRuleView(View):
    """A publish rule as set (``action`` ``None``: the rule was removed)."""

    magento_sku: str
    action: str | None
