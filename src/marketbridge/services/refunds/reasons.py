"""Refund reasons (RE01): the cached marketplace list and the reason mapping checked against it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from marketbridge.adapters.db.base import utcnow
from marketbridge.services.refunds.results import ReasonTable

if TYPE_CHECKING:
    from marketbridge.runtime import Runtime


def refresh_reasons(runtime: Runtime) -> int:
    """Cache the RE01 list (Mirakl allows it once a day)."""
    reasons = runtime.mirakl.reasons()
    now = utcnow()
    with runtime.refunds_store.unit_of_work() as repo:
        for reason in reasons:
            repo.store_reason(reason.code, label=reason.label, type_=reason.type, is_shop_right=reason.is_shop_right,
                              at=now)
    return len(reasons)


def reason_table(runtime: Runtime) -> ReasonTable:
    """The mapping in use, each code checked against the cached RE01 list."""
    with runtime.refunds_store.unit_of_work() as repo:
        known = repo.valid_reasons()
        cached = [{"code": r.code, "label": r.label, "is_shop_right": r.is_shop_right} for r in known.values()]

    def check(code: str) -> str:
        if not known:
            return "unchecked (run `marketbridge refunds reasons --refresh`)"
        reason = known.get(code)
        if reason is None:
            return "not a John Lewis refund reason"
        return "ok" if reason.is_shop_right else "operator only: the shop may not use it"

    settings = runtime.settings
    return ReasonTable.model_validate({
        "mapping": [{"keyword": k, "code": v, "label": known[v].label if v in known else "", "check": check(v)}
                    for k, v in settings.refund_reason_map.items()],
        "default": {"code": settings.refund_reason_default, "check": check(settings.refund_reason_default)},
        "marketplace_reasons": sorted(cached, key=lambda r: r["code"]),
    })
