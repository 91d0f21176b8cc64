"""The Celery app: four queues by urgency and one policy for every task.

Acknowledgement is late and prefetch is one, so a task lost with its worker is
delivered again; tasks are idempotent because every effect is keyed (inbox status,
external ids in Odoo, cross-references). Results are not stored: the truth lives in
the SQL store.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals
from kombu import Exchange, Queue

QUEUES = ("realtime", "default", "bulk", "reconcile")

# Soft and hard limits per queue, in seconds. The account lock outlives the hard
# limit of every queue whose tasks take it (realtime, default, bulk).
TIME_LIMITS: dict[str, tuple[int, int]] = {
    "realtime": (90, 120),
    "default": (90, 120),
    "bulk": (110, 140),
    "reconcile": (1700, 1800),
}
RETRY_BACKOFF_MAX = 600
# Waits longer than this live in the inbox table (next_attempt_at), swept by Beat.
MAX_COUNTDOWN = RETRY_BACKOFF_MAX
# Redis hands an unacknowledged message to another worker after this long, so it
# must exceed the longest task plus the longest countdown a message may carry.
VISIBILITY_TIMEOUT = max(hard for _, hard in TIME_LIMITS.values()) + MAX_COUNTDOWN + 600


def broker_options(
    redis_url: str, visibility_timeout: int | None = None
) -> dict[str, Any]:
    """Broker and publishing settings shared by workers and the receiver."""
    return {
        "broker_url": redis_url,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout or VISIBILITY_TIMEOUT,
            # Fail fast when Redis is down: the receiver still answers and the
            # sweeper sends the event later.
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            "max_retries": 1,
            # A worker takes from its queues in the order they are declared
            # (realtime first), not in turn: a burst an account sent to bulk, or
            # a backfill, then waits for idle time instead of taking every
            # other turn from the customers behind it.
            "queue_order_strategy": "priority",
        },
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2,
        "broker_pool_limit": 4,
        "task_queues": [
            Queue(name, Exchange(name), routing_key=name) for name in QUEUES
        ],
        "task_default_queue": "default",
        "task_serializer": "json",
        "accept_content": ["json"],
        # A publish retries briefly and gives up; the inbox row is already durable.
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    }


def make_producer(redis_url: str) -> Celery:
    """A Celery app that only publishes, bound to one Redis (used by the receiver)."""
    producer = Celery("revsync-producer", set_as_current=False)
    producer.conf.update(broker_options(redis_url), task_ignore_result=True)
    return producer


app = Celery("revsync")
# A module path, so Celery imports the configuration on first use, not here: that
# keeps ``revsync --help`` free of settings checks, and makes a worker without
# REDIS_URL stop with one line that names it.
app.config_from_object("worker.celeryconfig")


@signals.celeryd_init.connect
def _check_worker_settings(options: Any = None, **_: Any) -> None:
    from worker.logs import configure
    from worker.settings import settings_or_exit

    # Before the worker's own start-up warnings, so they are structured too.
    loglevel = (options or {}).get("loglevel")
    if isinstance(loglevel, int):
        loglevel = logging.getLevelName(loglevel)
    configure(level=os.environ.get("REVSYNC_LOG_LEVEL") or loglevel)
    settings = settings_or_exit("worker")
    _start_telemetry(settings, "worker")
    if settings.metrics_port:
        from worker.metrics import serve

        # The main process serves what its pool's children count.
        serve(settings.metrics_port)


@signals.beat_init.connect
def _start_beat_telemetry(**_: Any) -> None:
    from worker.settings import settings_or_exit

    _start_telemetry(settings_or_exit("broker"), "beat")


def _start_telemetry(settings: Any, component: str) -> None:
    from worker.telemetry import init_sentry, remember_settings_secrets

    remember_settings_secrets(settings)
    init_sentry(settings, component)


@signals.worker_process_shutdown.connect
def _forget_child_metrics(pid: int | None = None, **_: Any) -> None:
    from worker.metrics import mark_process_dead

    mark_process_dead(pid or os.getpid())


@signals.setup_logging.connect
def _configure_logging(loglevel: Any = None, **_: Any) -> None:
    # Connecting this signal also stops Celery from reconfiguring the root logger.
    import logging

    from worker.logs import configure

    level = logging.getLevelName(loglevel) if isinstance(loglevel, int) else loglevel
    configure(level=os.environ.get("REVSYNC_LOG_LEVEL") or level)
