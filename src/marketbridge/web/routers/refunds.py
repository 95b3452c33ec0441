"""HTTP routes of the refunds area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
