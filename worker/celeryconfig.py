"""Celery's configuration, imported by Celery on first use (see ``celery_app``)."""

from __future__ import annotations

from datetime import timedelta

from beat_schedule import beat_schedule
from worker.celery_app import TIME_LIMITS, broker_options
from worker.settings import settings_or_exit

_settings = settings_or_exit("broker")

# The broker settings are shared with the receiver, which only publishes.
globals().update(
    broker_options(_settings.redis_url or "", _settings.visibility_timeout)
)

task_ignore_result = True
task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure_or_timeout = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
worker_hijack_root_logger = False
worker_send_task_events = True
task_send_sent_event = True

task_soft_time_limit, task_time_limit = TIME_LIMITS["default"]
timezone = "UTC"
enable_utc = True
imports = ("worker.tasks",)
beat_schedule = {
    name: (
        dict(entry, schedule=timedelta(seconds=_settings.sweep_interval))
        if entry["task"] == "revsync.inbox.sweep"
        else entry
    )
    for name, entry in beat_schedule.items()
}
