"""HTTP routes of the catalogue area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
