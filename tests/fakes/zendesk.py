"""A local fake of the Zendesk Support API: organizations and their custom fields.

It serves, behind basic auth ``{email}/token:{api_token}`` (an API token, as
revsync uses; a password is refused):

- ``GET /api/v2/organizations/{id}.json``;
- ``PUT /api/v2/organizations/{id}.json`` with ``{"organization":
  {"organization_fields": {...}}}``: the keys sent are merged into the stored
  fields, the others left as they are, and every write is kept in
  ``organization_writes[organization_id]``.

Two kinds of 429, both with ``Retry-After`` in seconds: ``throttle_next(n)``
answers the next requests so, and ``limit_writes(count, window)`` answers any
write beyond ``count`` within ``window`` seconds so, as Zendesk does when the
account's budget is spent. Point ``ZENDESK_API_BASE`` at ``fake.url``.
"""

from __future__ import annotations

import base64
import math
import time
from collections import deque
from typing import Any

from tests.fakes.http import Answer, JsonFake, Request

EMAIL = "revsync-admin@support.example"
API_TOKEN = "zd-revsync-fake-api-token"
_STAMP = "2026-01-01T12:00:00Z"


class FakeZendesk(JsonFake):
    def __init__(self, email: str = EMAIL, api_token: str = API_TOKEN) -> None:
        self.email = email
        self.api_token = api_token
        self.organizations: dict[str, dict[str, Any]] = {}
        self.organization_writes: dict[str, list[dict[str, Any]]] = {}
        # Writes answered 429 because the write budget was spent.
        self.over_budget = 0
        self._budget: tuple[int, float] | None = None
        self._write_times: deque[float] = deque()
        # (time.time() of the answer, status) of every PUT, in order.
        self.put_log: list[tuple[float, int]] = []
        super().__init__()

    # -- test set-up ----------------------------------------------------------------

    def add_organization(self, organization_id: str, **fields: Any) -> None:
        with self.lock:
            self.organizations[organization_id] = {
                "id": int(organization_id),
                "name": f"Organization {organization_id}",
                "external_id": None,
                "organization_fields": dict(fields),
                "created_at": _STAMP,
                "updated_at": _STAMP,
            }

    def fields(self, organization_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.organizations[organization_id]["organization_fields"])

    def writes(self, organization_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.organization_writes.get(organization_id, []))

    def limit_writes(self, count: int | None, window: float = 10.0) -> None:
        """Answer 429 to a write beyond ``count`` within any ``window`` seconds
        (``None``: no limit)."""
        with self.lock:
            self._budget = None if count is None else (count, window)
            self._write_times.clear()

    def handle(self, request: Request) -> Answer:
        answer = super().handle(request)
        if request.method == "PUT":
            with self.lock:
                self.put_log.append((time.time(), answer.status))
        return answer

    # -- serving --------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        expected = base64.b64encode(
            f"{self.email}/token:{self.api_token}".encode()
        ).decode()
        return request.headers.get("authorization") == f"Basic {expected}"

    def route(self, request: Request) -> Answer:
        parts = request.path.strip("/").removesuffix(".json").split("/")
        with self.lock:
            match request.method, parts:
                case "GET", ["api", "v2", "organizations", organization_id]:
                    found = self.organizations.get(organization_id)
                    if found is None:
                        return _not_found()
                    return Answer(200, {"organization": dict(found)})
                case "PUT", ["api", "v2", "organizations", organization_id]:
                    refusal = self._spend_budget()
                    if refusal is not None:
                        return refusal
                    return self._update(organization_id, request.body)
        return _not_found()

    def _spend_budget(self) -> Answer | None:
        if self._budget is None:
            return None
        count, window = self._budget
        now = time.monotonic()
        while self._write_times and self._write_times[0] <= now - window:
            self._write_times.popleft()
        if len(self._write_times) < count:
            self._write_times.append(now)
            return None
        self.over_budget += 1
        wait = max(1, math.ceil(self._write_times[0] + window - now))
        return Answer(
            429,
            {"errors": [{"code": "TooManyRequests", "title": "Too many requests"}]},
            {"Retry-After": str(wait)},
        )

    def _update(self, organization_id: str, body: Any) -> Answer:
        stored = self.organizations.get(organization_id)
        if stored is None:
            return _not_found()
        organization = body.get("organization") if isinstance(body, dict) else None
        fields = (
            organization.get("organization_fields")
            if isinstance(organization, dict)
            else None
        )
        if not isinstance(fields, dict):
            return Answer(
                422,
                {
                    "error": "RecordInvalid",
                    "description": "Record validation errors",
                    "details": {"organization_fields": [{"error": "InvalidValue"}]},
                },
            )
        stored["organization_fields"].update(fields)
        stored["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.organization_writes.setdefault(organization_id, []).append(dict(fields))
        return Answer(200, {"organization": dict(stored)})


def _not_found() -> Answer:
    return Answer(404, {"error": "RecordNotFound", "description": "Not found"})
