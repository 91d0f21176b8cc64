"""Tasks that move inbox events: apply one, and sweep the ones left behind."""

from __future__ import annotations

from worker.celery_app import VISIBILITY_TIMEOUT, app
from worker.inbox import sweep
from worker.pipeline import process_inbox_event
from worker.runtime import get_runtime
from worker.tasks.base import SyncTask


@app.task(name="revsync.inbox.process_event", base=SyncTask, bind=True)
def process_event(self: SyncTask, inbox_id: int) -> str:
    """Apply one inbox event to Odoo (and whatever else its flow writes)."""
    return self.run_event(inbox_id, process_inbox_event)


@app.task(name="revsync.inbox.sweep", bind=True, acks_late=True, ignore_result=True)
def sweep_inbox(self: SyncTask) -> int:
    """Queue inbox rows that were never queued, got stuck, or finished waiting."""
    runtime = get_runtime()
    settings = runtime.settings
    return sweep(
        runtime.store,
        app,
        received_before=settings.sweep_after_seconds,
        stuck_after=settings.visibility_timeout or VISIBILITY_TIMEOUT,
    )
