"""A revsync of its own for the HubSpot flows: receiver, worker and API fakes.

The session's shared worker knows no HubSpot API, so these tests run a receiver and
a Celery worker on a Redis database of their own, pointed at a fake HubSpot and a
fake Stripe and at a mapping file with HubSpot products, gates and identity rules.
They share the session's PostgreSQL database and Odoo sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from tests.conftest import (
    ODOO_CREDENTIALS,
    STRIPE_SECRET,
    ServedApp,
    WorkerProcess,
    sibling_redis,
)
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.stripe import API_KEY as STRIPE_API_KEY
from tests.fakes.stripe import FakeStripe
from tests.lifecycle.harness import MAPPING
from worker.settings import Settings
from worker.store import CrossReference, Store
from worker.stripe_signing import sign

CLIENT_SECRET = "6f1d7a52-93c4-4b8e-a0d2-5e8f7c6b4a39"
APP_ID = "1160452"
PUBLIC_BASE = "https://hooks.example.com"
HUBSPOT_MAPPING = """
[hubspot]
vat_property = "vat_number"

[hubspot.products]
"PLAN-PRO-Y" = "PRO-Y"
"ONBOARD-1" = "ONBOARD"

[gates]
contract_approval = { property = "contract_approved", equals = "true" }
vat_required_countries = "EU"

[identity]
match_email_domain = true
"""


@pytest.fixture(scope="session")
def hubspot_mapping(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("hubspot-mapping") / "mapping.toml"
    path.write_text(MAPPING + HUBSPOT_MAPPING)
    return str(path)


@pytest.fixture(scope="session")
def fake_hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def hubspot_env(
    service_env: dict[str, str],
    hubspot_mapping: str,
    fake_hubspot: FakeHubSpot,
    fake_stripe: FakeStripe,
    odoo_server: Any,
) -> dict[str, str]:
    # The onboarding package the fixture deal sells.
    if not odoo_server.sandbox.records(
        "product.product", [("default_code", "=", "ONBOARD")]
    ):
        odoo_server.sandbox.create_direct(
            "product.product",
            {"name": "Onboarding", "default_code": "ONBOARD", "type": "service"},
        )
    return {
        **service_env,
        "REDIS_URL": sibling_redis(service_env["REDIS_URL"], 6),
        "REVSYNC_CONFIG": hubspot_mapping,
        "HUBSPOT_API_BASE": fake_hubspot.url,
        "HUBSPOT_ACCESS_TOKEN": fake_hubspot.token,
        "HUBSPOT_CLIENT_SECRET": CLIENT_SECRET,
        "HUBSPOT_APP_ID": APP_ID,
        "STRIPE_API_BASE": fake_stripe.url,
        "STRIPE_API_KEY": STRIPE_API_KEY,
    }


@pytest.fixture(scope="session")
def hubspot_worker(
    store: Store,
    hubspot_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    worker = WorkerProcess(
        hubspot_env,
        tmp_path_factory.mktemp("hubspot-worker") / "worker.log",
        [
            "-Q",
            "realtime,default",
            "-c",
            "2",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"hubspot-{uuid.uuid4().hex[:6]}@%h",
        ],
    )
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def hubspot_receiver(
    store: Store, hubspot_env: dict[str, str], hubspot_worker: WorkerProcess
) -> Iterator[str]:
    settings = Settings(
        database_url=hubspot_env["DATABASE_URL"],
        redis_url=hubspot_env["REDIS_URL"],
        stripe_webhook_secret=SecretStr(STRIPE_SECRET),
        hubspot_client_secret=SecretStr(CLIENT_SECRET),
        hubspot_app_id=APP_ID,
        webhook_public_base_url=PUBLIC_BASE,
        revsync_env="sandbox",
        revsync_config=hubspot_env["REVSYNC_CONFIG"],
        odoo_url=hubspot_env["ODOO_URL"],
        odoo_db=ODOO_CREDENTIALS["db"],
        odoo_username=ODOO_CREDENTIALS["username"],
        odoo_password=SecretStr(ODOO_CREDENTIALS["password"]),
    )
    served = ServedApp(settings)
    try:
        yield served.url
    finally:
        served.stop()


def sign_v3(body: bytes, uri: str, timestamp: str) -> str:
    """HubSpot's v3 signature: HMAC-SHA256 of method, URI, body and timestamp."""
    message = b"POST" + uri.encode() + body + timestamp.encode()
    digest = hmac.new(CLIENT_SECRET.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@pytest.fixture
def post_hubspot(hubspot_receiver: str) -> Callable[..., requests.Response]:
    """POST a batch of HubSpot events (a list, or the exact bytes), signed v3."""

    def post(events: list[dict[str, Any]] | bytes) -> requests.Response:
        body = events if isinstance(events, bytes) else json.dumps(events).encode()
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature-v3": sign_v3(
                body, f"{PUBLIC_BASE}/webhooks/hubspot", timestamp
            ),
        }
        return requests.post(
            f"{hubspot_receiver}/webhooks/hubspot",
            data=body,
            headers=headers,
            timeout=10,
        )

    return post


@pytest.fixture
def post_stripe_here(hubspot_receiver: str) -> Callable[..., requests.Response]:
    """POST a Stripe event to this receiver, signed with the suite's secret."""

    def post(event: dict[str, Any]) -> requests.Response:
        body = json.dumps(event).encode()
        return requests.post(
            f"{hubspot_receiver}/webhooks/stripe",
            data=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(body, STRIPE_SECRET),
            },
            timeout=10,
        )

    return post


@pytest.fixture
def xref_of(store: Store) -> Callable[[str, str, str], CrossReference | None]:
    def read(system: str, object_type: str, external_id: str) -> CrossReference | None:
        with store.session() as session:
            row = (
                session.query(CrossReference)
                .filter_by(
                    system=system, object_type=object_type, external_id=external_id
                )
                .one_or_none()
            )
            if row is not None:
                session.expunge(row)
            return row

    return read
