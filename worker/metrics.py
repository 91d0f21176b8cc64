"""Prometheus metrics: what happened, per source and flow, never per customer.

Labels carry low-cardinality values only (source, event type, outcome, queue); a
customer, invoice or event id never becomes a label. Under gunicorn or Celery
prefork, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, from the start-up
script) and every process's samples are added up at scrape time.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

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


def exposition() -> tuple[bytes, str]:
    """The text a scrape of ``/metrics`` returns, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
