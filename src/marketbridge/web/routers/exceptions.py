"""JSON API over exception records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from marketbridge.domain.exceptions import ExceptionState, Team
from marketbridge.services import exceptions as exception_service
from marketbridge.web.deps import SessionDep
from marketbridge.web.params import Offset
from marketbridge.web.policy import Reader

router = APIRouter(prefix="/api/exceptions", tags=["exceptions"])


@router.get("")
def list_exceptions(
    session: SessionDep,
    user: Reader,
    owner: Annotated[Team | None, Query()] = None,
    state: Annotated[ExceptionState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Exception records, newest first. Without ``state``, only open and acknowledged ones."""
    filters = exception_service.ExceptionFilter(
        owner=owner, state=state, active_only=state is None, limit=limit, offset=offset
    )
    return [exception_service.to_dict(r) for r in exception_service.list_records(session, filters)]
