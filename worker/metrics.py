"""Prometheus metrics: what happened, per source and flow, never per customer.

Labels carry low-cardinality values only (source, event type, outcome, queue); a
customer, invoice or event id never becomes a label. Under gunicorn or Celery
prefork, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, from the start-up
script) and every process's samples are added up at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from worker.store import Store

WEBHOOKS = Counter(
    "revsync_webhook_requests_total",
    "Webhook deliveries by source and outcome.",
    ["source", "outcome"],
)
WEBHOOK_EVENTS = Counter(
    "revsync_webhook_events_total",
    "Verified events received, per source and type.",
    ["source", "event_type", "outcome"],
)
BURST_EVENTS = Counter(
    "revsync_webhook_burst_events_total",
    "Deliveries of a bursting account routed to the bulk queue: its events past "
    "REVSYNC_BURST_LIMIT within REVSYNC_BURST_WINDOW seconds.",
    ["source"],
)
WEBHOOK_SECONDS = Histogram(
    "revsync_webhook_request_duration_seconds",
    "Time to verify, store and enqueue one delivery.",
    ["source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# Calls revsync makes to the systems around it. ``system`` is odoo, stripe, hubspot
# or zendesk; ``outcome`` is ok, retryable or permanent.
EXTERNAL_CALLS = Counter(
    "revsync_external_calls_total",
    "Calls to Odoo, Stripe, HubSpot and Zendesk, by outcome.",
    ["system", "outcome"],
)
RECONCILE_RUNS = Counter(
    "revsync_reconcile_runs_total",
    "Reconciliation runs, by outcome.",
    ["outcome"],
)
RECONCILE_MISMATCHES = Gauge(
    "revsync_reconcile_mismatches",
    "Mismatches found by the latest reconciliation run, by kind.",
    ["kind"],
    multiprocess_mode="mostrecent",
)


# What became of the events workers applied. ``outcome`` of a processed event is
# done or skipped; of a failed attempt retry (it will be tried again), held or dead.
EVENTS_PROCESSED = Counter(
    "revsync_events_processed_total",
    "Events applied (done) or found to need nothing (skipped), per source and type.",
    ["source", "event_type", "outcome"],
)
EVENTS_FAILED = Counter(
    "revsync_events_failed_total",
    "Failed attempts, per source, type and what became of the event.",
    ["source", "event_type", "outcome"],
)
EVENT_LATENCY = Histogram(
    "revsync_event_latency_seconds",
    "From the webhook's arrival to the event being applied (done).",
    ["source"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400),
)


def exposition(live: CollectorRegistry | None = None) -> tuple[bytes, str]:
    """The text a scrape of ``/metrics`` returns, and its content type.

    :param live: collectors computed at scrape time (inbox counts, queue depths),
        which are read fresh by whichever process serves the scrape rather than
        added up across processes.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if live is not None:
        body += generate_latest(live)
    return body, CONTENT_TYPE_LATEST


def serve(port: int, addr: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` from a Celery worker's main process, in a thread.

    Under the prefork pool each child writes its samples to
    ``PROMETHEUS_MULTIPROC_DIR``, and this server adds them up at scrape time.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    start_http_server(port, addr=addr, registry=registry)


def mark_process_dead(pid: int) -> None:
    """Forget a dead child's live gauges (multiprocess mode only)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


class LiveCollector(Collector):
    """Inbox counts, queue depths and business indicators, read at scrape time.

    Runs in the receiver, which reaches both the SQL store and Redis. A store or
    Redis that does not answer leaves its series out and sets
    ``revsync_metrics_source_up`` to 0, so the scrape itself still succeeds.
    """

    def __init__(
        self, store: Store, redis_url: str | None, activation_delay: float
    ) -> None:
        self.store = store
        self.redis_url = redis_url
        self.activation_delay = activation_delay

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "revsync_metrics_source_up",
            "Whether the store and Redis answered this scrape.",
            labels=["source"],
        )
        try:
            families = list(self._from_store())
        except SQLAlchemyError:
            families = []
            up.add_metric(["store"], 0)
        else:
            up.add_metric(["store"], 1)
        yield from families
        try:
            depths = self._queue_depths()
        except redis.RedisError:
            up.add_metric(["redis"], 0)
        else:
            up.add_metric(["redis"], 1)
            depth = GaugeMetricFamily(
                "revsync_queue_depth",
                "Messages waiting in each Celery queue.",
                labels=["queue"],
            )
            for queue, count in depths.items():
                depth.add_metric([queue], count)
            yield depth
        yield up

    def _queue_depths(self) -> dict[str, int]:
        from worker.status import queue_depths

        if not self.redis_url:
            raise redis.ConnectionError("REDIS_URL is not set")
        client = redis.Redis.from_url(
            self.redis_url, socket_connect_timeout=1, socket_timeout=2
        )
        try:
            return queue_depths(client)
        finally:
            client.close()

    def _from_store(self) -> Iterator[Metric]:
        from worker.status import (
            activations_delayed,
            inbox_summary,
            unmatched_payments,
        )

        summary = inbox_summary(self.store)
        counts = GaugeMetricFamily(
            "revsync_inbox_events",
            "Inbox events by status.",
            labels=["status"],
        )
        for status, count in summary["counts"].items():
            counts.add_metric([status], count)
        oldest = GaugeMetricFamily(
            "revsync_inbox_oldest_age_seconds",
            "Age of the oldest waiting, held and dead event (0 when there is none).",
            labels=["status"],
        )
        for status, age in summary["oldest_age_seconds"].items():
            oldest.add_metric([status], age or 0.0)
        delayed = GaugeMetricFamily(
            "revsync_activations_delayed",
            "Live Stripe subscriptions whose Odoo order is not confirmed in time.",
            value=activations_delayed(self.store, self.activation_delay),
        )
        unmatched = GaugeMetricFamily(
            "revsync_payments_unmatched",
            "Stripe payments not registered against an Odoo invoice, by status.",
            labels=["status"],
        )
        for status, count in unmatched_payments(self.store).items():
            unmatched.add_metric([status], count)
        yield from (counts, oldest, delayed, unmatched)


def live_registry(
    store: Store, redis_url: str | None, activation_delay: float
) -> CollectorRegistry:
    """A registry holding only the ``LiveCollector`` (see ``exposition``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveCollector(store, redis_url, activation_delay))
    return registry
