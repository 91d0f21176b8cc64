"""Nightly tasks: the ledger reconciliation and the pruning of old payloads."""

from __future__ import annotations

from datetime import date
from typing import Any

from worker.celery_app import TIME_LIMITS, app
from worker.reconcile import Window, reconcile
from worker.reconcile.retention import prune_payloads
from worker.runtime import get_runtime


@app.task(
    name="revsync.reconcile.run",
    acks_late=True,
    ignore_result=True,
    queue="reconcile",
    soft_time_limit=TIME_LIMITS["reconcile"][0],
    time_limit=TIME_LIMITS["reconcile"][1],
)
def reconcile_ledger(day: str | None = None) -> dict[str, Any]:
    """Reconcile one day (default: yesterday in REVSYNC_RECONCILE_TZ).

    A failed run is recorded as failed (``revsync status`` shows it, the exception
    reaches Sentry) and is not retried here: the day is run again with
    ``revsync reconcile --date`` once Stripe or Odoo answers.
    """
    runtime = get_runtime()
    tz = runtime.settings.reconcile_tz
    window = Window.day(date.fromisoformat(day), tz) if day else Window.previous_day(tz)
    return reconcile(runtime, window).summary()


@app.task(
    name="revsync.inbox.prune_payloads",
    acks_late=True,
    ignore_result=True,
    queue="bulk",
    soft_time_limit=TIME_LIMITS["bulk"][0],
    time_limit=TIME_LIMITS["bulk"][1],
)
def prune_inbox_payloads() -> int:
    """Blank raw payloads of finished inbox rows older than the retention period."""
    runtime = get_runtime()
    return prune_payloads(runtime.store, runtime.settings.inbox_retention_days)
