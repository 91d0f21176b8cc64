"""A local fake of the HubSpot CRM API: the reads revsync needs and company writes.

It serves, behind ``Authorization: Bearer <token>``:

- ``GET /crm/v3/objects/{deals|companies|line_items}/{id}`` with ``properties=a,b``
  and, for deals, ``associations=companies,line_items`` (line items come back under
  the key ``"line items"``, with a space, and the primary company twice, labelled
  and unlabelled, as real responses do);
- ``POST /crm/v3/objects/{type}/batch/read`` (``inputs``, ``properties``);
- ``GET /crm/v4/objects/deals/{id}/associations/companies`` (Primary = typeId 5);
- ``GET /crm/v3/pipelines/deals`` (the stages with ``isClosed``/``probability``);
- ``PATCH /crm/v3/objects/companies/{id}`` and
  ``POST /crm/v3/objects/companies/batch/update``: the properties are stored and
  every write is kept in ``company_writes[company_id]``.

All property values are strings, as HubSpot sends them. Point ``HUBSPOT_API_BASE``
at ``fake.url`` and ``HUBSPOT_ACCESS_TOKEN`` at ``fake.token``.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections import deque
from pathlib import Path
from typing import Any

from tests.fakes.http import Answer, JsonFake, Request

ACCESS_TOKEN = "pat-na1-revsync-fake-token"
PRIMARY_COMPANY = 5
UNLABELED_COMPANY = 341
_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "hubspot"
# Properties HubSpot returns whatever was asked for.
_ALWAYS = ("hs_object_id", "createdate", "hs_lastmodifieddate")
_OBJECT_TYPES = ("deals", "companies", "line_items")
_STAMP = "2026-01-01T12:00:00.000Z"


def default_pipelines() -> list[dict[str, Any]]:
    """The default sales pipeline and a custom one with opaque stage ids."""
    fixture = json.loads((_FIXTURES / "api_pipelines_deals.json").read_text())
    return list(fixture["results"])


class FakeHubSpot(JsonFake):
    def __init__(self, token: str = ACCESS_TOKEN) -> None:
        self.token = token
        self.objects: dict[str, dict[str, dict[str, str | None]]] = {
            name: {} for name in _OBJECT_TYPES
        }
        # deal id -> (primary company id or None, other company ids, line item ids)
        self.deal_links: dict[str, tuple[str | None, list[str], list[str]]] = {}
        self.pipelines = default_pipelines()
        self.company_writes: dict[str, list[dict[str, str]]] = {}
        # Company writes answered 429 because the write budget was spent.
        self.over_budget = 0
        self._budget: tuple[int, float] | None = None
        self._write_times: deque[float] = deque()
        super().__init__()

    # -- test set-up ----------------------------------------------------------------

    def add_company(self, company_id: str, **properties: str | None) -> None:
        self._put("companies", company_id, properties)

    def add_line_item(self, line_item_id: str, **properties: str | None) -> None:
        self._put("line_items", line_item_id, properties)

    def add_deal(
        self,
        deal_id: str,
        *,
        company: str | None = None,
        other_companies: tuple[str, ...] = (),
        line_items: tuple[str, ...] = (),
        **properties: str | None,
    ) -> None:
        """Store a deal with its primary company and line items."""
        self._put("deals", deal_id, properties)
        with self.lock:
            self.deal_links[deal_id] = (
                company,
                list(other_companies),
                list(line_items),
            )

    def set_primary_company(self, deal_id: str, company: str | None) -> None:
        """Associate the deal with ``company`` as its primary (None: no company)."""
        with self.lock:
            _, others, line_items = self.deal_links[deal_id]
            self.deal_links[deal_id] = (company, others, line_items)

    def update_deal(self, deal_id: str, **properties: str | None) -> None:
        with self.lock:
            self.objects["deals"][deal_id].update(properties)

    def company(self, company_id: str) -> dict[str, str | None]:
        with self.lock:
            return dict(self.objects["companies"][company_id])

    def limit_writes(self, count: int | None, window: float = 10.0) -> None:
        """Answer 429 (TEN_SECONDLY_ROLLING) to a company write beyond ``count``
        within any ``window`` seconds, with a ``Retry-After`` in seconds
        (``None``: no limit)."""
        with self.lock:
            self._budget = None if count is None else (count, window)
            self._write_times.clear()

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
        answer = _error(
            429, "RATE_LIMITS", "You have reached your ten_secondly_rolling limit."
        )
        answer.body.update(errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING")
        answer.headers["Retry-After"] = str(wait)
        return answer

    def calls(self, method: str, path_prefix: str) -> int:
        return sum(
            1
            for r in self.requests
            if r.method == method and r.path.startswith(path_prefix)
        )

    def _put(
        self, object_type: str, object_id: str, properties: dict[str, str | None]
    ) -> None:
        with self.lock:
            stored = {"hs_object_id": object_id, "createdate": _STAMP}
            stored["hs_lastmodifieddate"] = _STAMP
            stored.update(properties)
            self.objects[object_type][object_id] = stored

    # -- serving --------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def route(self, request: Request) -> Answer:
        parts = request.path.strip("/").split("/")
        with self.lock:
            match request.method, parts:
                case "GET", ["crm", "v3", "pipelines", "deals"]:
                    return Answer(200, {"results": copy.deepcopy(self.pipelines)})
                case "GET", ["crm", "v3", "objects", kind, object_id]:
                    return self._read_one(kind, object_id, request.query)
                case "POST", ["crm", "v3", "objects", kind, "batch", "read"]:
                    return self._batch_read(kind, request.body)
                case "GET", ["crm", "v4", "objects", "deals", deal_id, _, "companies"]:
                    return self._deal_companies(deal_id)
                case "PATCH", ["crm", "v3", "objects", "companies", company_id]:
                    return self._update_company(company_id, request.body)
                case "POST", ["crm", "v3", "objects", "companies", "batch", "update"]:
                    return self._batch_update_companies(request.body)
        return _error(404, "NOT_FOUND", "unknown path")

    def _read_one(self, kind: str, object_id: str, query: dict[str, str]) -> Answer:
        stored = self.objects.get(kind, {}).get(object_id)
        if stored is None:
            return _error(404, "OBJECT_NOT_FOUND", "resource not found")
        body = _simple_object(object_id, stored, _names(query.get("properties")))
        if kind == "deals" and query.get("associations"):
            body["associations"] = self._deal_associations(
                object_id, _names(query["associations"]) or []
            )
        return Answer(200, body)

    def _deal_associations(
        self, deal_id: str, wanted: list[str]
    ) -> dict[str, dict[str, list[dict[str, str]]]]:
        primary, others, line_items = self.deal_links.get(deal_id, (None, [], []))
        associations: dict[str, dict[str, list[dict[str, str]]]] = {}
        if "companies" in wanted or "company" in wanted:
            results = []
            if primary is not None:
                results.append({"id": primary, "type": "deal_to_company"})
                results.append({"id": primary, "type": "deal_to_company_unlabeled"})
            results += [
                {"id": other, "type": "deal_to_company_unlabeled"} for other in others
            ]
            if results:
                associations["companies"] = {"results": results}
        if ("line_items" in wanted or "line_item" in wanted) and line_items:
            associations["line items"] = {
                "results": [{"id": i, "type": "deal_to_line_item"} for i in line_items]
            }
        return associations

    def _batch_read(self, kind: str, body: Any) -> Answer:
        if kind not in self.objects or not isinstance(body, dict):
            return _error(400, "VALIDATION_ERROR", "invalid input")
        inputs = body.get("inputs") or []
        if len(inputs) > 100:
            return _error(400, "VALIDATION_ERROR", "at most 100 inputs")
        names = body.get("properties") or None
        results = [
            _simple_object(entry["id"], self.objects[kind][entry["id"]], names)
            for entry in inputs
            if entry.get("id") in self.objects[kind]
        ]
        return Answer(200, {"status": "COMPLETE", "results": results})

    def _deal_companies(self, deal_id: str) -> Answer:
        if deal_id not in self.objects["deals"]:
            return _error(404, "OBJECT_NOT_FOUND", "resource not found")
        primary, others, _ = self.deal_links.get(deal_id, (None, [], []))
        results = []
        if primary is not None:
            results.append(
                {
                    "toObjectId": int(primary),
                    "associationTypes": [
                        _association_type(PRIMARY_COMPANY, "Primary"),
                        _association_type(UNLABELED_COMPANY, None),
                    ],
                }
            )
        for other in others:
            results.append(
                {
                    "toObjectId": int(other),
                    "associationTypes": [_association_type(UNLABELED_COMPANY, None)],
                }
            )
        return Answer(200, {"results": results})

    def _update_company(self, company_id: str, body: Any) -> Answer:
        refusal = self._spend_budget()
        if refusal is not None:
            return refusal
        stored = self.objects["companies"].get(company_id)
        if stored is None:
            return _error(404, "OBJECT_NOT_FOUND", "resource not found")
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            return _error(400, "VALIDATION_ERROR", "properties are required")
        self._write_company(company_id, properties)
        return Answer(200, _simple_object(company_id, stored, list(properties)))

    def _batch_update_companies(self, body: Any) -> Answer:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) > 100:
            return _error(400, "VALIDATION_ERROR", "1 to 100 inputs are required")
        ids = [str(entry.get("id")) for entry in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            message = f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]"
            return _error(400, "VALIDATION_ERROR", message + ". IDs must be unique")
        missing = [i for i in ids if i not in self.objects["companies"]]
        if missing:
            return _error(404, "OBJECT_NOT_FOUND", "resource not found")
        results = []
        for company_id, entry in zip(ids, inputs, strict=True):
            properties = dict(entry.get("properties") or {})
            self._write_company(company_id, properties)
            stored = self.objects["companies"][company_id]
            results.append(_simple_object(company_id, stored, list(properties)))
        return Answer(200, {"status": "COMPLETE", "results": results})

    def _write_company(self, company_id: str, properties: dict[str, Any]) -> None:
        values = {name: str(value) for name, value in properties.items()}
        self.objects["companies"][company_id].update(values)
        self.company_writes.setdefault(company_id, []).append(values)


def _names(raw: str | None) -> list[str] | None:
    if not raw:
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def _simple_object(
    object_id: str, stored: dict[str, str | None], names: list[str] | None
) -> dict[str, Any]:
    """A SimplePublicObject: the asked-for properties (null if unset) and the few
    HubSpot always returns."""
    if names is None:
        properties = dict(stored)
    else:
        properties = {name: stored.get(name) for name in (*_ALWAYS, *names)}
    return {
        "id": object_id,
        "properties": properties,
        "createdAt": _STAMP,
        "updatedAt": stored.get("hs_lastmodifieddate") or _STAMP,
        "archived": False,
    }


def _association_type(type_id: int, label: str | None) -> dict[str, Any]:
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}


def _error(status: int, category: str, message: str) -> Answer:
    return Answer(
        status,
        {
            "status": "error",
            "message": message,
            "category": category,
            "correlationId": "00000000-0000-4000-8000-000000000000",
        },
    )
