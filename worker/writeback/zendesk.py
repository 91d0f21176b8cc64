"""Organization fields in Zendesk, written over plain HTTP.

zenpy would sleep inside the worker on a 429 (its ``raise_on_ratelimit`` is not
released) and caches organizations without expiry, so one ``PUT`` with requests is
both simpler and safer here. ``ZENDESK_API_BASE`` is the account's address, e.g.
``https://acme.zendesk.com``; authentication is an API token of an admin.
"""

from __future__ import annotations

import os

import requests

from worker.errors import PermanentError
from worker.settings import Settings
from worker.writeback.clients import TIMEOUT, check, unreachable

SYSTEM = "zendesk"

_sessions: dict[tuple[int, str, str], requests.Session] = {}


def configured(settings: Settings) -> bool:
    return bool(
        settings.zendesk_api_base
        and settings.zendesk_email
        and settings.zendesk_api_token is not None
    )


def _session(settings: Settings) -> requests.Session:
    if not configured(settings):
        raise PermanentError(
            "ZENDESK_API_BASE, ZENDESK_EMAIL and ZENDESK_API_TOKEN must all be set"
        )
    assert settings.zendesk_email and settings.zendesk_api_token
    email = settings.zendesk_email
    key = (os.getpid(), str(settings.zendesk_api_base), email)
    if key not in _sessions:
        session = requests.Session()
        session.auth = (
            f"{email}/token",
            settings.zendesk_api_token.get_secret_value(),
        )
        _sessions[key] = session
    return _sessions[key]


def _base(settings: Settings) -> str:
    base = str(settings.zendesk_api_base).rstrip("/")
    return base.removesuffix("/api/v2")


def update_organization(
    settings: Settings, organization_id: str, fields: dict[str, str | None]
) -> None:
    """PUT the organization's custom fields; keys not sent are left as they are.

    :raises RetryableError: 429 (with Retry-After), 5xx, network failure.
    :raises PermanentError: the organization is gone, a field is invalid, no access.
    """
    session = _session(settings)
    url = f"{_base(settings)}/api/v2/organizations/{organization_id}.json"
    body = {"organization": {"organization_fields": fields}}
    try:
        response = session.put(url, json=body, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise unreachable(SYSTEM, error) from None
    check(SYSTEM, response.status_code, response.headers)
