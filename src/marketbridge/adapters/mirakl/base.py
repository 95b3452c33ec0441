"""The two bases of the Mirakl models: tolerant for what Mirakl sends, strict for what we send.

Responses: Mirakl adds fields and enum values without notice (MIRAKL.md §2.1), so every response
model ignores unknown fields, keeps enums as plain strings, accepts ``null`` for anything optional,
and coerces numbers sent as strings (``"5000"``) and codes sent as numbers (``34``) -- the
published examples do both.

Requests: the models we serialise are strict (``extra="forbid"``, no type coercion), so a bug in
our own code fails here with a clear message instead of as a 400 datatype error from Mirakl.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class MiraklModel(BaseModel):
    """Base for everything read from Mirakl."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, coerce_numbers_to_str=True)


class RequestModel(BaseModel):
    """Base for everything we send: strict types, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, coerce_numbers_to_str=True)

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


__all__ = ["MiraklModel", "RequestModel"]
