"""HTTP routes of the stock area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
