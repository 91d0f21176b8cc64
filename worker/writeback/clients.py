"""What a failed write to HubSpot or Zendesk means for the task that made it.

Both clients turn an answer into one of three outcomes, count it in
``revsync_external_calls_total`` and never block: a 429 becomes a RetryableError
carrying the ``Retry-After`` the system asked for (the task retries with that
countdown), 5xx and network failures are retryable too, any other 4xx is permanent.
Messages name the system and the status only: responses can echo customer data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from worker.errors import PermanentError, RetryableError
from worker.metrics import EXTERNAL_CALLS

# Seconds to wait after a 429 that names no Retry-After: HubSpot's burst window is
# ten seconds, Zendesk's budget is per minute.
DEFAULT_RETRY_AFTER = {"hubspot": 10.0, "zendesk": 60.0}
# Connect and read timeouts of every write-back call.
TIMEOUT = (3.05, 10.0)
# HubSpot answers 423 while a record is locked by a bulk upsert (about 2 s).
RETRYABLE_STATUSES = frozenset({408, 423, 425, 429})


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """The ``Retry-After`` header in seconds, when it is given in seconds."""
    if not headers:
        return None
    raw = None
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            raw = value
    try:
        seconds = float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def check(system: str, status: int, headers: Mapping[str, Any] | None) -> None:
    """Count the call; raise the error class its status belongs to.

    :raises RetryableError: 429 (with its Retry-After), 408/423/425 and 5xx.
    :raises PermanentError: any other 4xx (validation, auth, unknown record).
    """
    if 200 <= status < 300:
        EXTERNAL_CALLS.labels(system=system, outcome="ok").inc()
        return
    if status in RETRYABLE_STATUSES or status >= 500:
        EXTERNAL_CALLS.labels(system=system, outcome="retryable").inc()
        wait = retry_after(headers)
        if status == 429 and wait is None:
            wait = DEFAULT_RETRY_AFTER[system]
        raise RetryableError(f"{system}: HTTP {status}", retry_after=wait)
    EXTERNAL_CALLS.labels(system=system, outcome="permanent").inc()
    raise PermanentError(f"{system}: HTTP {status} refused the billing health write")


def unreachable(system: str, error: Exception) -> RetryableError:
    EXTERNAL_CALLS.labels(system=system, outcome="retryable").inc()
    return RetryableError(f"{system}: unreachable ({type(error).__name__})")
