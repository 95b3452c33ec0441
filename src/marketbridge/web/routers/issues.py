"""JSON API over issue records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from marketbridge.domain.issues import IssueState, Team
from marketbridge.services import issues as issue_service
from marketbridge.web.deps import SessionDep
from marketbridge.web.params import Offset
from marketbridge.web.policy import Reader

router = APIRouter(prefix="/api/exceptions", tags=["exceptions"])


# name= keeps the operation id and summary that /openapi.json has always given this route.
@router.get("", name="list_exceptions", response_model=list[issue_service.IssueView])
def list_issues(
    session: SessionDep,
    user: Reader,
    owner: Annotated[Team | None, Query()] = None,
    state: Annotated[IssueState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Exception records, newest first. Without ``state``, only open and acknowledged ones."""
    filters = issue_service.IssueFilter(
        owner=owner, state=state, active_only=state is None, limit=limit, offset=offset
    )
    return [issue_service.to_dict(r) for r in issue_service.list_records(session, filters)]
