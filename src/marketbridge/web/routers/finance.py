"""HTTP routes of the finance area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
