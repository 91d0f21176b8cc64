"""The push task: thin, with the write-back's retry policy.

* over the shared budget, or another push of the account running: retried after
  the delay it names, without spending the attempt budget;
* 429: retried after exactly the ``Retry-After`` the system gave; 5xx and network
  failures: exponential backoff with jitter; both spend the ``bulk`` queue's
  attempt budget (``REVSYNC_RETRY_BUDGETS``), after which the failure is recorded;
* refused (other 4xx): recorded at once, not retried.

The dirty marker stays until a write succeeds, so the account's next change (or a
retry) still sends the latest state.
"""

from __future__ import annotations

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import SQLAlchemyError

from worker.celery_app import MAX_COUNTDOWN, app
from worker.errors import PermanentError, RetryableError, WaitingError
from worker.runtime import get_runtime
from worker.tasks.base import backoff
from worker.writeback.push import (
    PUSH_TASK,
    QUEUE,
    defer,
    push,
    record_failure,
    sweep,
)


@app.task(
    name=PUSH_TASK,
    bind=True,
    queue=QUEUE,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,
)
def push_billing_health(
    self: Task, account_id: int, system: str, failures: int = 0
) -> str:
    """Send one account's billing health to HubSpot or Zendesk if it changed."""
    runtime = get_runtime()
    try:
        return push(runtime, account_id, system)
    except WaitingError as wait:
        countdown = wait.delay
        spent = failures
    except PermanentError as error:
        record_failure(runtime, account_id, system, str(error))
        return "refused"
    except (RetryableError, SQLAlchemyError, SoftTimeLimitExceeded) as error:
        attempts, _ = runtime.settings.retry_budget(QUEUE)
        spent = failures + 1
        reason = (
            str(error) if isinstance(error, RetryableError) else type(error).__name__
        )
        if spent >= attempts:
            record_failure(
                runtime, account_id, system, f"gave up after {spent} attempts: {reason}"
            )
            return "gave up"
        retry_after = getattr(error, "retry_after", None)
        countdown = retry_after if retry_after is not None else backoff(spent)
    countdown = min(float(MAX_COUNTDOWN), countdown)
    defer(runtime, account_id, system, countdown)
    raise self.retry(args=(account_id, system, spent), countdown=countdown)


@app.task(name="revsync.writeback.sweep", queue=QUEUE, ignore_result=True)
def sweep_writeback() -> int:
    """Beat: queue the pushes of accounts marked dirty whose task was lost."""
    return sweep(get_runtime())
