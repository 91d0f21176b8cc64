"""One call budget per external system, shared by every worker through Redis.

Celery's own ``rate_limit`` counts per worker process; HubSpot and Zendesk count per
app or account. The ``limits`` package keeps a moving window in Redis, so all
processes on all machines draw from the same budget. A task over budget is retried
with a countdown until the window frees a call; no worker ever sleeps for it.
"""

from __future__ import annotations

import os
import random
import time

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from worker.errors import WaitingError

NAMESPACE = "revsync-writeback"


class OverBudget(WaitingError):
    """The system's shared budget is spent; try again after ``delay`` seconds."""


class Budget:
    """The shared call budgets of the write-back, one moving window per system."""

    def __init__(self, redis_url: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(redis_url))

    def spend(self, system: str, rate: str) -> None:
        """Take one call from ``system``'s budget.

        :raises OverBudget: none left; ``delay`` is when the window frees one.
        """
        item: RateLimitItem = parse(rate)
        if self.limiter.hit(item, NAMESPACE, system):
            return
        reset_at, _ = self.limiter.get_window_stats(item, NAMESPACE, system)
        # A little jitter, so that the tasks that waited together do not all
        # come back in the same instant.
        delay = max(0.05, reset_at - time.time()) + random.uniform(0, 0.25)
        raise OverBudget(f"{system} write budget of {rate} is spent", delay=delay)


_budgets: dict[tuple[int, str], Budget] = {}


def budget(redis_url: str) -> Budget:
    """The process's Budget (a forked worker child opens its own connections)."""
    key = (os.getpid(), redis_url)
    if key not in _budgets:
        _budgets[key] = Budget(redis_url)
    return _budgets[key]
