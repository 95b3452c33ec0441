"""OR11 sub-objects beyond the basics, as the seller OpenAPI (schema ``OR11_Response_200``) and its
example (``OR11.response.200.json``) give them.

- order ``delivery_date``: ``{"earliest": ISO date-time, "latest": ISO date-time}``, both required
  ("Earliest/Latest order delivery date");
- order ``invoice_details``: ``{"document_details": [{"format": "PDF" | "cXML"}],
  "payment_terms": {"days": 10, "type": "NET" | "END_OF_MONTH" | ...}}``;
- line ``shipping_from``: ``{"address": {street_1, street_2, zip_code, city, state,
  country_iso_code (required)}, "warehouse": {"code"} | null}``, where the line ships from.

Every field is optional here (Mirakl sends ``null`` for unset values, and enum values grow).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from marketbridge.adapters.mirakl.base import MiraklModel


class DeliveryDate(MiraklModel):
    earliest: datetime | None = None
    latest: datetime | None = None


class InvoiceDocument(MiraklModel):
    format: str | None = None


class PaymentTerms(MiraklModel):
    days: int | None = None
    type: str | None = None


class InvoiceDetails(MiraklModel):
    document_details: list[InvoiceDocument] = Field(default_factory=list)
    payment_terms: PaymentTerms | None = None


class ShippingFromAddress(MiraklModel):
    street_1: str | None = None
    street_2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    state: str | None = None
    country_iso_code: str | None = None


class Warehouse(MiraklModel):
    code: str | None = None


class ShippingFrom(MiraklModel):
    address: ShippingFromAddress | None = None
    warehouse: Warehouse | None = None


__all__ = ["DeliveryDate", "InvoiceDetails", "InvoiceDocument", "PaymentTerms", "ShippingFrom", "ShippingFromAddress",
           "Warehouse"]
