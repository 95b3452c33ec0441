"""HTTP routes of the webhooks area."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
