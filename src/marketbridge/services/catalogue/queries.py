"""What other flows may read of the catalogue flow's data (issue 18 item 2): stock asks here which
SKUs are published despite a default exclusion, instead of reading ``publish_overrides`` itself."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from marketbridge.adapters.db.models.catalogue import PublishOverride
from marketbridge.domain.catalogue import OverrideAction


def published_as_simple(session: Session) -> frozenset[str]:
    """SKUs the catalogue publishes despite a default exclusion (its ``publish_as_simple`` rules)."""
    return frozenset(session.scalars(select(PublishOverride.magento_sku).where(
        PublishOverride.action == OverrideAction.PUBLISH_AS_SIMPLE.value)))
