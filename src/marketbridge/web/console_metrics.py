"""``/metrics``: the process's Prometheus counters plus gauges read from the database at scrape time.

Counters that code increments (API calls and 429s per endpoint, in ``adapters.metrics``; the
flows' own counters) live in prometheus-client's default registry. Figures that are *state*
(open issues by type and team, orders by state, sync lag, imports by result) are read from the
database on each scrape by :class:`DatabaseCollector`, so every worker process reports the same
truth and nothing drifts after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from marketbridge.services import issues as issue_service
from marketbridge.services.console import dashboard
from marketbridge.web.deps import DbSession, console_queries


class DatabaseCollector(Collector):
    def __init__(self, runtime: Any, session: DbSession) -> None:
        self.runtime = runtime
        self.session = session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        open_issues = GaugeMetricFamily(
            "marketbridge_exceptions_open", "Open or acknowledged exception records, by type and owning team.",
            labels=["type", "team"],
        )
        for (code, owner), n in sorted(issue_service.open_counts_by_type(self.session).items()):
            open_issues.add_metric([code, owner], n)
        yield open_issues

        from marketbridge.web import console_flow_pages

        yield from console_flow_pages.metric_families(self.session, self.runtime)

        lag = GaugeMetricFamily(
            "marketbridge_sync_lag_seconds",
            "Seconds since each flow's polling cursor last moved (how far behind the flow may be).",
            labels=["flow"],
        )
        health = dashboard.flow_health(self.runtime, console_queries(self.runtime, self.session))
        if isinstance(health, list):
            for flow in health:
                if flow.lag_seconds is not None:
                    lag.add_metric([flow.area], flow.lag_seconds)
            last_success = GaugeMetricFamily(
                "marketbridge_flow_last_success_timestamp_seconds",
                "Unix time of each flow's last successful workflow run (absent: none in the last day).",
                labels=["flow"],
            )
            queued = GaugeMetricFamily(
                "marketbridge_flow_queued_workflows", "Workflow runs waiting or running, by flow.", labels=["flow"]
            )
            for flow in health:
                if flow.last_success is not None:
                    last_success.add_metric([flow.area], flow.last_success.timestamp())
                queued.add_metric([flow.area], flow.queued + flow.running)
            yield last_success
            yield queued
        yield lag


def exposition(runtime: Any, session: DbSession) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(runtime, session))
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
