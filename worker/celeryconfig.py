"""Celery's configuration, imported by Celery on first use (see ``celery_app``)."""

from __future__ import annotations

from kombu import Exchange, Queue

from beat_schedule import beat_schedule
from worker.celery_app import QUEUES, TIME_LIMITS, VISIBILITY_TIMEOUT
from worker.settings import settings_or_exit

_settings = settings_or_exit("broker")

broker_url = _settings.redis_url
broker_transport_options = {
    "visibility_timeout": VISIBILITY_TIMEOUT,
    # Fail fast when Redis is down, so the receiver still answers and the sweeper
    # picks the event up later.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 1,
}
broker_connection_retry_on_startup = True
broker_connection_timeout = 2
broker_pool_limit = 4

task_ignore_result = True
task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure_or_timeout = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
worker_hijack_root_logger = False
worker_send_task_events = True
task_send_sent_event = True

task_default_queue = "default"
task_queues = [Queue(name, Exchange(name), routing_key=name) for name in QUEUES]
task_soft_time_limit, task_time_limit = TIME_LIMITS["default"]
task_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
imports = ("worker.tasks",)
beat_schedule = beat_schedule

# The receiver must answer quickly when Redis is down: the event is already in the
# inbox and the sweeper will send it, so a publish retries briefly and gives up.
task_publish_retry_policy = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
