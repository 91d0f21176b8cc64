"""A local fake of the Stripe API's read side: retrieve and paginated lists.

Objects are kept per collection, newest first, as Stripe lists them. Lists accept
``limit`` (at most 100), ``starting_after``, ``created[gte|gt|lte|lt]`` and equality
filters on top-level fields (``customer=``, ``payout=``, ``status=``, ``type=``);
``expand[]=data.source`` expands balance transactions' sources it holds.
Point ``STRIPE_API_BASE`` at ``fake.url``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any

from tests.fakes.http import Answer, JsonFake, Request

API_KEY = "sk_test_revsync_fake"

# Stripe's ``object`` name → the path of its collection under /v1.
COLLECTIONS = {
    "balance_transaction": "balance_transactions",
    "charge": "charges",
    "credit_note": "credit_notes",
    "customer": "customers",
    "dispute": "disputes",
    "event": "events",
    "invoice": "invoices",
    "invoice_payment": "invoice_payments",
    "payment_intent": "payment_intents",
    "payout": "payouts",
    "refund": "refunds",
    "subscription": "subscriptions",
}
_CREATED = re.compile(r"^created\[(gte|gt|lte|lt)\]$")
_PAGING = {"limit", "starting_after", "ending_before", "expand[]"}


class _Collection:
    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.position: dict[str, int] = {}
        self.dirty = False

    def put(self, obj: dict[str, Any]) -> None:
        if obj["id"] not in self.by_id:
            self.dirty = True
        self.by_id[obj["id"]] = obj

    def ordered(self) -> list[str]:
        if self.dirty:
            self.order = sorted(
                self.by_id,
                key=lambda i: (-int(self.by_id[i].get("created") or 0), i),
            )
            self.position = {i: n for n, i in enumerate(self.order)}
            self.dirty = False
        return self.order


class FakeStripe(JsonFake):
    def __init__(
        self, objects: Iterable[dict[str, Any]] = (), api_key: str = API_KEY
    ) -> None:
        self.api_key = api_key
        self.collections: dict[str, _Collection] = {}
        super().__init__()
        self.add(*objects)

    # -- test set-up ----------------------------------------------------------------

    def add(self, *objects: dict[str, Any]) -> None:
        """Store (or replace) objects; their ``object`` field names the collection."""
        with self.lock:
            for obj in objects:
                name = COLLECTIONS[obj["object"]]
                self.collections.setdefault(name, _Collection()).put(obj)

    def get(self, object_id: str) -> dict[str, Any] | None:
        for collection in self.collections.values():
            if object_id in collection.by_id:
                return collection.by_id[object_id]
        return None

    def calls(self, path_prefix: str = "/v1/") -> int:
        return sum(1 for r in self.requests if r.path.startswith(path_prefix))

    # -- serving --------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header == f"Bearer {self.api_key}":
            return True
        if header.startswith("Basic "):
            user = base64.b64decode(header[6:]).decode(errors="replace")
            return user.split(":", 1)[0] == self.api_key
        return False

    def route(self, request: Request) -> Answer:
        parts = request.path.strip("/").split("/")
        if request.method != "GET" or len(parts) not in (2, 3) or parts[0] != "v1":
            return _error(404, "unknown path")
        with self.lock:
            collection = self.collections.get(parts[1])
            if len(parts) == 3:
                found = collection.by_id.get(parts[2]) if collection else None
                return Answer(200, found) if found else _error(404, "no such object")
            return Answer(200, self._page(parts[1], collection, request.query))

    def _page(
        self, name: str, collection: _Collection | None, query: dict[str, str]
    ) -> dict[str, Any]:
        limit = max(1, min(int(query.get("limit") or 10), 100))
        page: list[dict[str, Any]] = []
        has_more = False
        if collection is not None:
            order = collection.ordered()
            start = 0
            after = query.get("starting_after")
            if after:
                start = collection.position.get(after, len(order) - 1) + 1
            created = {
                m.group(1): int(v)
                for k, v in query.items()
                if (m := _CREATED.match(k)) is not None
            }
            equal = {
                k: v
                for k, v in query.items()
                if k not in _PAGING and not _CREATED.match(k)
            }
            if name == "subscriptions" and equal.get("status") == "all":
                # Stripe's way to ask for canceled ones too, not a field filter.
                del equal["status"]
            for object_id in order[start:]:
                obj = collection.by_id[object_id]
                if not _matches(obj, created, equal):
                    continue
                if len(page) == limit:
                    has_more = True
                    break
                page.append(obj)
        if query.get("expand[]") == "data.source":
            page = [self._expand_source(obj) for obj in page]
        return {
            "object": "list",
            "url": f"/v1/{name}",
            "has_more": has_more,
            "data": page,
        }

    def _expand_source(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``expand[]=data.source``: the source object in place of its id."""
        source = obj.get("source")
        found = self.get(source) if isinstance(source, str) else None
        return dict(obj, source=found) if found is not None else obj


def _matches(
    obj: dict[str, Any], created: dict[str, int], equal: dict[str, str]
) -> bool:
    stamp = int(obj.get("created") or 0)
    bounds = {
        "gte": stamp >= created.get("gte", stamp),
        "gt": "gt" not in created or stamp > created["gt"],
        "lte": stamp <= created.get("lte", stamp),
        "lt": "lt" not in created or stamp < created["lt"],
    }
    if not all(bounds.values()):
        return False
    for key, wanted in equal.items():
        value = obj.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        if str(value).lower() != wanted.lower() and str(value) != wanted:
            return False
    return True


def _error(status: int, message: str) -> Answer:
    return Answer(
        status, {"error": {"type": "invalid_request_error", "message": message}}
    )
