"""How a failure is treated: retried, sent to dead letter at once, or waited out.

Every exception a sync step may raise is one of these three kinds, so the base task
decides from the class alone. Messages must be safe to show an operator and to send
to Sentry: ids and field names, never payload values, e-mail addresses or secrets.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class of the failures the base task knows how to handle."""


class RetryableError(SyncError):
    """A transient failure (network, timeout, Odoo serialization, HTTP 429 or 5xx).

    Retried with exponential backoff and jitter; each retry spends the budget.
    ``retry_after`` is the delay the remote system asked for, when it said one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(SyncError):
    """Retrying cannot help (validation, access, missing configuration).

    The event goes to dead letter at once with this message as its reason.
    """


class WaitingError(SyncError):
    """Not yet: a lock another task holds, or a prerequisite that has not landed.

    Never spends the retry budget. ``delay`` is how long to wait before trying again.
    """

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class LockBusy(WaitingError):
    """Another task holds the lock of this account."""


class PrerequisiteMissing(WaitingError):
    """Something this event depends on has not arrived yet and cannot be created.

    ``key`` names what is awaited (``stripe:invoice:in_1``); the event that brings
    it wakes the waiting event at once instead of leaving it to its timer.
    """

    def __init__(self, message: str, *, key: str | None = None, delay: float = 1.0):
        super().__init__(message, delay=delay)
        self.key = key


class HeldError(SyncError):
    """A gate or an ambiguous identity: an operator must decide before it proceeds."""
