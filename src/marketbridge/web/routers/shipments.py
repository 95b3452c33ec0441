"""HTTP routes of the shipments area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
