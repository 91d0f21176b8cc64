"""The one base task: acknowledgement, time limits and the retry policy of revsync.

Failures are classified by ``worker.errors``:

* retryable: exponential backoff with full jitter, counted against the attempt budget
  kept in the inbox row (so replays and redeliveries see the same count), then dead;
* permanent: dead at once, with the reason an operator will read;
* waiting: a busy lock or a missing prerequisite, retried without spending the budget;
* held: a gate or an ambiguous identity, parked until an operator releases it.
"""

from __future__ import annotations

import random
from typing import Any

import structlog
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.celery_app import MAX_COUNTDOWN, RETRY_BACKOFF_MAX
from worker.errors import HeldError, PermanentError, RetryableError, WaitingError
from worker.pipeline import event_age, record_failure
from worker.runtime import get_runtime
from worker.store import InboxStatus
from worker.telemetry import report_exception

log = structlog.get_logger(__name__)

# Longer waits are parked in the inbox (status waiting) for the Beat sweeper.
MAX_WAIT_COUNTDOWN = 30.0
# How often the task retries on its own while the SQL store itself is unreachable;
# beyond that the sweeper finds the row still pending.
STORE_OUTAGE_RETRIES = 20


def backoff(
    attempt: int, *, base: float = 2.0, cap: float = RETRY_BACKOFF_MAX
) -> float:
    """Exponential backoff with "equal" jitter: half the step fixed, half random.

    The fixed half makes the retry window grow for certain (the default budget
    rides out an Odoo outage of about eight minutes); the random half keeps the
    events that failed together from retrying together.
    """
    step = min(cap, base * (2 ** max(attempt - 1, 0)))
    return step / 2 + random.uniform(0, step / 2)


class SyncTask(Task):  # type: ignore[misc]
    """Base class of every revsync task that applies an inbox event."""

    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # the budget lives in the inbox row, see run_event
    ignore_result = True

    def run_event(self, inbox_id: int, func: Any) -> str:
        """Run ``func(runtime, inbox_id)`` and turn its failure into the policy."""
        runtime = get_runtime()
        # Every line logged while this event is handled carries its ids.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            inbox_id=inbox_id, task_id=self.request.id
        )
        try:
            return self._run_event(runtime, inbox_id, func)
        finally:
            structlog.contextvars.clear_contextvars()

    def _run_event(self, runtime: Any, inbox_id: int, func: Any) -> str:
        try:
            return str(func(runtime, inbox_id))
        except WaitingError as wait:
            return self._wait(runtime, inbox_id, wait)
        except HeldError as held:
            record_failure(runtime, inbox_id, status=InboxStatus.HELD, reason=str(held))
            log.warning("inbox.held", inbox_id=inbox_id)
            return InboxStatus.HELD
        except PermanentError as error:
            record_failure(
                runtime, inbox_id, status=InboxStatus.DEAD, reason=str(error)
            )
            log.error("inbox.dead", inbox_id=inbox_id, error_kind="permanent")
            return InboxStatus.DEAD
        except (OperationalError, InterfaceError) as error:
            return self._store_outage(inbox_id, error)
        except RetryableError as error:
            return self._retry(runtime, inbox_id, str(error), error.retry_after)
        except SoftTimeLimitExceeded:
            return self._retry(runtime, inbox_id, "timed out", None)
        except Exception as error:
            reason = f"unexpected {type(error).__name__}"
            log.exception("inbox.unexpected_error", inbox_id=inbox_id)
            report_exception(error, inbox_id=inbox_id)
            return self._retry(runtime, inbox_id, reason, None)

    def _wait(self, runtime: Any, inbox_id: int, wait: WaitingError) -> str:
        delay = wait.delay + random.uniform(0, wait.delay)
        if delay > MAX_WAIT_COUNTDOWN:
            # The row is parked as waiting; its prerequisite or the sweeper wakes it.
            return InboxStatus.WAITING
        # Waiting is not failing: requeue without touching the attempt count.
        raise self.retry(countdown=delay, max_retries=None)

    def _retry(
        self, runtime: Any, inbox_id: int, reason: str, retry_after: float | None
    ) -> str:
        queue = (self.request.delivery_info or {}).get("routing_key") or "default"
        max_attempts, max_age = runtime.settings.retry_budget(queue)
        attempts = record_failure(
            runtime, inbox_id, status=InboxStatus.QUEUED, reason=reason
        )
        age = event_age(runtime, inbox_id)
        if attempts >= max_attempts or age >= max_age:
            spent = (
                f"{attempts} attempts" if attempts >= max_attempts else f"{age:.0f} s"
            )
            record_failure(
                runtime,
                inbox_id,
                status=InboxStatus.DEAD,
                reason=f"gave up after {spent}: {reason}",
            )
            log.error("inbox.dead", inbox_id=inbox_id, error_kind="retries_exhausted")
            return InboxStatus.DEAD
        delay = min(MAX_COUNTDOWN, max(retry_after or 0.0, backoff(attempts)))
        record_failure(
            runtime, inbox_id, status=InboxStatus.QUEUED, reason=reason, retry_in=delay
        )
        log.warning("inbox.retry", inbox_id=inbox_id, attempts=attempts, delay=delay)
        raise self.retry(countdown=delay, max_retries=None)

    def _store_outage(self, inbox_id: int, error: Exception) -> str:
        log.warning("store.unreachable", inbox_id=inbox_id, error=type(error).__name__)
        if self.request.retries >= STORE_OUTAGE_RETRIES:
            # The row is still pending in the store; the sweeper will queue it again.
            return "store unreachable"
        raise self.retry(countdown=backoff(self.request.retries + 1, cap=30))
