"""`GET /metrics`: what an operator graphs and alerts on, in Prometheus' text format.

Counts of calls and texts are read from the store when scraped, so they agree across
engine processes sharing one database and survive restarts; they are gauges because the
retention period deletes old rows. Webhook latency is measured by the process that
answered, as a histogram per route.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.store import Store, StoreUnavailable

__all__ = ["Metrics"]


class _StoreCounts(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self.store.counts()
        except StoreUnavailable:
            return
        calls = GaugeMetricFamily(
            "ringback_calls", "Calls in the store, by the trigger they are (or ended) in.",
            labels=["trigger"],
        )
        for trigger, number in sorted(counts["calls"].items()):
            calls.add_metric([trigger], number)
        texts = GaugeMetricFamily(
            "ringback_texts", "Follow-up texts in the store, by status and skip reason.",
            labels=["status", "reason"],
        )
        for (status, reason), number in sorted(counts["texts"].items()):
            texts.add_metric([status, reason or ""], number)
        outbox = GaugeMetricFamily("ringback_outbox_depth", "Texts decided and not yet sent.")
        outbox.add_metric([], counts["pending"])
        yield from (calls, texts, outbox)


class Metrics:
    """One engine's metrics, in a registry of its own."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StoreCounts(store))
        self.latency = Histogram(
            "ringback_webhook_seconds", "Time to answer a Twilio webhook.", ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
