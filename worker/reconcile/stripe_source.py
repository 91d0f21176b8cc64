"""Reading Stripe for a reconciliation: page by page, riding out rate limits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from worker.errors import PermanentError, RetryableError
from worker.stripe_api import StripeAPI

log = structlog.get_logger(__name__)


class StripeSource:
    """Counts its requests and retries a 429 or 5xx a bounded number of times.

    A run is a batch job with its own time budget, so waiting out Stripe's
    ``Retry-After`` here is cheaper than failing the whole run and starting over.
    """

    def __init__(
        self,
        api: StripeAPI,
        *,
        retries: int = 5,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.retries = retries
        self.max_wait = max_wait
        self.sleep = sleep
        self.calls = 0
        self.throttled = 0

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        attempt = 0
        while True:
            self.calls += 1
            try:
                return self.api.get(path, **params)
            except RetryableError as error:
                attempt += 1
                if attempt > self.retries:
                    raise
                self.throttled += 1
                wait = min(self.max_wait, error.retry_after or float(2**attempt))
                log.warning("reconcile.stripe_retry", attempt=attempt, wait=wait)
                self.sleep(wait)

    def find(self, path: str) -> dict[str, Any] | None:
        """One object, or None when Stripe does not know it."""
        try:
            return self.get(path)
        except PermanentError as error:
            if "HTTP 404" in str(error):
                return None
            raise

    def objects(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every object of a list endpoint, one page held at a time."""
        cursor: str | None = None
        while True:
            page_params = dict(params, limit=100)
            if cursor:
                page_params["starting_after"] = cursor
            page = self.get(path, **page_params)
            data = page.get("data") or []
            yield from data
            if not page.get("has_more") or not data:
                return
            cursor = str(data[-1]["id"])
