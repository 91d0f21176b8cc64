"""Company properties in HubSpot, written with ``hubspot-api-client``.

The client is built once per process with no urllib3 retries of its own (a 429 or
an outage is the task's to retry, with a countdown) and every call carries a
timeout, which the library does not set by default.
"""

from __future__ import annotations

import os
from typing import Any

import urllib3
from hubspot import HubSpot
from hubspot.crm.companies import ApiException, SimplePublicObjectInput
from urllib3.util.retry import Retry

from worker.errors import PermanentError
from worker.settings import Settings
from worker.writeback.clients import TIMEOUT, check, unreachable

SYSTEM = "hubspot"

_clients: dict[tuple[int, str, str], Any] = {}


def configured(settings: Settings) -> bool:
    return settings.hubspot_access_token is not None


def _client(settings: Settings) -> Any:
    if settings.hubspot_access_token is None:
        raise PermanentError("HUBSPOT_ACCESS_TOKEN is not set")
    token = settings.hubspot_access_token.get_secret_value()
    key = (os.getpid(), settings.hubspot_api_base, token)
    if key not in _clients:
        _clients[key] = HubSpot(
            access_token=token,
            host=settings.hubspot_api_base,
            retry=Retry(total=0, raise_on_status=False),
        )
    return _clients[key]


def update_company(
    settings: Settings, company_id: str, properties: dict[str, str]
) -> None:
    """PATCH the company's properties.

    :raises RetryableError: 429 (with Retry-After), 5xx, network failure.
    :raises PermanentError: the company is gone, a property is unknown, no access.
    """
    api = _client(settings).crm.companies.basic_api
    try:
        api.update(
            company_id,
            simple_public_object_input=SimplePublicObjectInput(properties=properties),
            _request_timeout=TIMEOUT,
        )
    except ApiException as error:
        # Only the status and headers go on: the body may echo the company's data.
        status, headers = int(error.status or 0), error.headers
    except urllib3.exceptions.HTTPError as error:
        raise unreachable(SYSTEM, error) from None
    else:
        status, headers = 200, None
    if not status:
        # The library reports a TLS failure as status 0.
        raise unreachable(SYSTEM, ConnectionError())
    check(SYSTEM, status, headers)
