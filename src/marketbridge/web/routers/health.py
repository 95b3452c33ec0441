"""Liveness and readiness: the only routes besides signed webhooks that need no authentication."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from marketbridge.web.deps import RuntimeDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str  # "ok"


class Readiness(BaseModel):
    status: str  # "ready" or "not ready"
    checks: dict[str, str]  # "database", "engine" -> "ok" or what is wrong


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """The process is up and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "Not ready: the database or engine is not usable."}})
def readyz(runtime: RuntimeDep) -> JSONResponse:
    """The database answers and the workflow engine is running."""
    checks: dict[str, str] = {}
    try:
        runtime.db.ping()
        checks["database"] = "ok"
    except Exception as error:  # readiness reports, it never raises
        checks["database"] = f"error: {type(error).__name__}"
    checks["engine"] = "ok" if runtime.engine.is_running() else "not running"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)
