"""Reading objects from the Stripe API, to create a prerequisite revsync has not seen.

Only reads; revsync never writes to Stripe. ``STRIPE_API_BASE`` points the client
at a local fake in tests.
"""

from __future__ import annotations

from typing import Any

import requests

from worker.errors import PermanentError, RetryableError
from worker.settings import Settings


class StripeAPI:
    def __init__(self, base: str, api_key: str, timeout: float = 20) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            response = self.session.get(
                f"{self.base}{path}", params=params, timeout=self.timeout
            )
        except requests.RequestException as error:
            raise RetryableError(
                f"stripe: unreachable ({type(error).__name__})"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise RetryableError(
                f"stripe: HTTP {response.status_code}",
                retry_after=float(retry_after) if retry_after else None,
            )
        if response.status_code >= 400:
            raise PermanentError(f"stripe: HTTP {response.status_code} for {path}")
        body: dict[str, Any] = response.json()
        return body

    def list_all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every object of a list endpoint, following ``starting_after`` pages."""
        objects: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page_params = dict(params, limit=100)
            if cursor:
                page_params["starting_after"] = cursor
            page = self.get(path, **page_params)
            data = page.get("data") or []
            objects.extend(data)
            if not page.get("has_more") or not data:
                return objects
            cursor = data[-1]["id"]


def stripe_api(settings: Settings) -> StripeAPI | None:
    """The API client when STRIPE_API_KEY is set, else None."""
    if settings.stripe_api_key is None:
        return None
    return StripeAPI(
        settings.stripe_api_base, settings.stripe_api_key.get_secret_value()
    )
