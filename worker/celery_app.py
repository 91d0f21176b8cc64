"""The Celery app: four queues by urgency and one policy for every task.

Acknowledgement is late and prefetch is one, so a task lost with its worker is
delivered again; tasks are idempotent because every effect is keyed (inbox status,
external ids in Odoo, cross-references). Results are not stored: the truth lives in
the SQL store.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals

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


app = Celery("revsync")
# A module path, so Celery imports the configuration on first use, not here: that
# keeps ``revsync --help`` free of settings checks, and makes a worker without
# REDIS_URL stop with one line that names it.
app.config_from_object("worker.celeryconfig")


@signals.celeryd_init.connect
def _check_worker_settings(**_: Any) -> None:
    from worker.settings import settings_or_exit

    settings_or_exit("worker")
