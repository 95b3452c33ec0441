"""HTTP routes of the console area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
