"""Marketplace call budgets (issue 20 item 2): call counts per 10-second bucket, API and flow,
and each flow's latest deferral. Written in batches by ``adapters.mirakl.usage``; times are epoch
seconds (floats), the unit the limiter and the budget arithmetic use."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marketbridge.adapters.db.base import Base


class MiraklCallCount(Base):
    __tablename__ = "mirakl_call_counts"

    bucket_start: Mapped[int] = mapped_column(Integer, primary_key=True)
    api: Mapped[str] = mapped_column(String(32), primary_key=True)
    flow: Mapped[str] = mapped_column(String(32), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[float] = mapped_column(Float, default=0.0)


class MiraklFlowDeferral(Base):
    __tablename__ = "mirakl_flow_deferrals"

    flow: Mapped[str] = mapped_column(String(32), primary_key=True)
    api: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float)
    until: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
