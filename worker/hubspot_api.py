"""The HubSpot CRM API as the lead-to-customer flow reads it: deals, companies,
line items and the deal pipelines. (Billing health is written back to companies
by ``worker.writeback.hubspot``, through ``hubspot-api-client``.)

Reads use plain ``requests`` rather than ``hubspot-api-client``: the SDK keeps a
separate configuration (host, retries) per API namespace, has no client-wide
timeout, and its urllib3 retries would block a worker on 429. Here every call has
a timeout and every failure is classified once, as in ``worker.stripe_api``:
network errors, 429 and 5xx are retryable (with HubSpot's ``Retry-After`` when it
sends one), any other 4xx is permanent. ``HUBSPOT_API_BASE`` points the client at
a local fake in tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import requests

from worker.errors import PermanentError, RetryableError
from worker.settings import Settings

DEAL_PROPERTIES = (
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "deal_currency_code",
    "hs_is_closed_won",
    "hubspot_owner_id",
)
COMPANY_PROPERTIES = (
    "name",
    "domain",
    "phone",
    "address",
    "address2",
    "city",
    "zip",
    "country",
)
LINE_ITEM_PROPERTIES = (
    "name",
    "hs_sku",
    "hs_product_id",
    "quantity",
    "price",
    "amount",
    "discount",
    "hs_discount_percentage",
    "recurringbillingfrequency",
    "hs_recurring_billing_period",
    "hs_line_item_currency_code",
)
PRIMARY_COMPANY_TYPE = 5
BATCH = 100
# Stage definitions change rarely; a stage id not in the cache triggers a refresh.
PIPELINE_TTL = 300.0

_pipelines: dict[str, tuple[float, list[dict[str, Any]]]] = {}
_pipelines_lock = threading.Lock()


class NotFound(PermanentError):
    """The object does not exist (any more) in HubSpot."""


class HubSpotAPI:
    def __init__(
        self, base: str, token: str, timeout: tuple[float, float] = (5, 20)
    ) -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call; the JSON answer, or a classified error naming the path."""
        try:
            response = self.session.request(
                method,
                f"{self.base}{path}",
                params=params,
                json=body,
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise RetryableError(
                f"hubspot: unreachable ({type(error).__name__})"
            ) from None
        status = response.status_code
        if status == 429 or status == 423 or status >= 500:
            raise RetryableError(
                f"hubspot: HTTP {status} for {method} {path}",
                retry_after=_retry_after(response.headers.get("Retry-After")),
            )
        if status == 404:
            raise NotFound(f"hubspot: {path} not found")
        if status >= 400:
            # The body names the property or the scope at fault, never a value.
            raise PermanentError(f"hubspot: HTTP {status} for {method} {path}")
        if not response.content:
            return {}
        answer: dict[str, Any] = response.json()
        return answer

    # -- reads ------------------------------------------------------------------------

    def deal(
        self, deal_id: str, properties: Sequence[str] = DEAL_PROPERTIES
    ) -> dict[str, Any]:
        """The deal with its associated companies and line items."""
        return self.request(
            "GET",
            f"/crm/v3/objects/deals/{deal_id}",
            params={
                "properties": ",".join(properties),
                "associations": "companies,line_items",
            },
        )

    def primary_company_id(self, deal: dict[str, Any]) -> str | None:
        """The deal's primary company (association type 5), else its only company.

        The v3 association list names a company twice (labelled and unlabelled)
        and does not say which one is primary, so v4 is asked when the deal has
        more than one company.
        """
        listed = _association_ids(deal, "companies")
        if len(listed) <= 1:
            return listed[0] if listed else None
        answer = self.request(
            "GET", f"/crm/v4/objects/deals/{deal['id']}/associations/companies"
        )
        for result in answer.get("results") or []:
            types = result.get("associationTypes") or []
            if any(t.get("typeId") == PRIMARY_COMPANY_TYPE for t in types):
                return str(result["toObjectId"])
        return None

    def company(
        self, company_id: str, properties: Sequence[str] = COMPANY_PROPERTIES
    ) -> dict[str, Any]:
        return self.request(
            "GET",
            f"/crm/v3/objects/companies/{company_id}",
            params={"properties": ",".join(properties)},
        )

    def line_items(
        self, ids: Sequence[str], properties: Sequence[str] = LINE_ITEM_PROPERTIES
    ) -> list[dict[str, Any]]:
        """The line items, in the order of ``ids`` (batch reads of up to 100)."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH):
            answer = self.request(
                "POST",
                "/crm/v3/objects/line_items/batch/read",
                body={
                    "properties": list(properties),
                    "inputs": [{"id": i} for i in ids[start : start + BATCH]],
                },
            )
            for item in answer.get("results") or []:
                found[str(item["id"])] = item
        missing = [i for i in ids if i not in found]
        if missing:
            raise RetryableError(f"hubspot: line items {', '.join(missing)} not found")
        return [found[i] for i in ids]

    def deal_line_item_ids(self, deal: dict[str, Any]) -> list[str]:
        # Observed responses key line items as "line items", with a space.
        return _association_ids(deal, "line items") or _association_ids(
            deal, "line_items"
        )

    def deal_pipelines(self, *, refresh: bool = False) -> list[dict[str, Any]]:
        """The deal pipelines and their stages, cached for a few minutes."""
        with _pipelines_lock:
            cached = _pipelines.get(self.base)
            if cached and not refresh and time.monotonic() - cached[0] < PIPELINE_TTL:
                return cached[1]
        pipelines = list(
            self.request("GET", "/crm/v3/pipelines/deals").get("results") or []
        )
        with _pipelines_lock:
            _pipelines[self.base] = (time.monotonic(), pipelines)
        return pipelines


def hubspot_api(settings: Settings) -> HubSpotAPI | None:
    """The API client when HUBSPOT_ACCESS_TOKEN is set, else None."""
    if settings.hubspot_access_token is None:
        return None
    return HubSpotAPI(
        settings.hubspot_api_base, settings.hubspot_access_token.get_secret_value()
    )


def _association_ids(obj: dict[str, Any], key: str) -> list[str]:
    """Distinct ids of one association list, in the order HubSpot gave them."""
    results = ((obj.get("associations") or {}).get(key) or {}).get("results") or []
    ids: list[str] = []
    for result in results:
        value = str(result.get("id") or "")
        if value and value not in ids:
            ids.append(value)
    return ids


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
