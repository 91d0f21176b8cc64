"""A worker of its own for the write-back tests, pointed at the HubSpot and Zendesk
fakes, with a receiver in front of it.

Both listen on a Redis database no other test's worker consumes, so every push
task of these tests reaches this worker and its settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry, multiprocess
from pydantic import SecretStr

from tests.conftest import (
    OPERATOR_TOKEN,
    STRIPE_SECRET,
    ServedApp,
    WorkerProcess,
    sibling_redis,
)
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.zendesk import FakeZendesk
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import Account, CrossReference, Store, utcnow

# Changes to one account are gathered this long before its state is sent.
DELAY = 2.5
# The shared budget of each system, for every worker together.
RATE_COUNT = 10
RATE_WINDOW = 3
RATE = f"{RATE_COUNT}/{RATE_WINDOW} seconds"


@pytest.fixture(scope="session")
def hubspot_fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="session")
def zendesk_fake() -> Iterator[FakeZendesk]:
    with FakeZendesk() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture(scope="session")
def writeback_redis_url(redis_url: str) -> str:
    url = sibling_redis(redis_url, 3)
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("metrics")


@pytest.fixture(scope="session")
def writeback_settings(
    service_env: dict[str, str],
    writeback_redis_url: str,
    hubspot_fake: FakeHubSpot,
    zendesk_fake: FakeZendesk,
) -> Settings:
    return Settings(
        database_url=service_env["DATABASE_URL"],
        redis_url=writeback_redis_url,
        odoo_url=service_env["ODOO_URL"],
        odoo_db=service_env["ODOO_DB"],
        odoo_username=service_env["ODOO_USERNAME"],
        odoo_password=SecretStr(service_env["ODOO_PASSWORD"]),
        stripe_webhook_secret=SecretStr(STRIPE_SECRET),
        revsync_env="sandbox",
        revsync_config=service_env["REVSYNC_CONFIG"],
        revsync_operator_token=SecretStr(OPERATOR_TOKEN),
        hubspot_api_base=hubspot_fake.url,
        hubspot_access_token=SecretStr(hubspot_fake.token),
        zendesk_api_base=zendesk_fake.url,
        zendesk_email=zendesk_fake.email,
        zendesk_api_token=SecretStr(zendesk_fake.api_token),
        writeback_delay=DELAY,
        hubspot_rate=RATE,
        zendesk_rate=RATE,
    )


@pytest.fixture(scope="session")
def writeback_worker(
    store: Store,
    service_env: dict[str, str],
    writeback_settings: Settings,
    hubspot_fake: FakeHubSpot,
    zendesk_fake: FakeZendesk,
    metrics_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    env = {
        **service_env,
        "REDIS_URL": str(writeback_settings.redis_url),
        "HUBSPOT_API_BASE": hubspot_fake.url,
        "HUBSPOT_ACCESS_TOKEN": hubspot_fake.token,
        "ZENDESK_API_BASE": zendesk_fake.url,
        "ZENDESK_EMAIL": zendesk_fake.email,
        "ZENDESK_API_TOKEN": zendesk_fake.api_token,
        "REVSYNC_WRITEBACK_DELAY": str(DELAY),
        "REVSYNC_HUBSPOT_RATE": RATE,
        "REVSYNC_ZENDESK_RATE": RATE,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log_path = tmp_path_factory.mktemp("writeback-worker") / "worker.log"
    worker = WorkerProcess(
        env,
        log_path,
        [
            "-Q",
            "realtime,default,bulk",
            "-c",
            "2",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"writeback-{uuid.uuid4().hex[:6]}@%h",
        ],
    )
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@pytest.fixture(scope="session")
def writeback_receiver(store: Store, writeback_settings: Settings) -> Iterator[str]:
    served = ServedApp(writeback_settings)
    try:
        yield served.url
    finally:
        served.stop()


@pytest.fixture(scope="session")
def runtime(store: Store, writeback_settings: Settings) -> Runtime:
    """The test process's own runtime: same store, Redis and settings as the worker."""
    return Runtime(writeback_settings)


@pytest.fixture
def external_calls(metrics_dir: Path) -> Callable[[str, str], float]:
    """``revsync_external_calls_total`` as the worker processes counted it."""

    def read(system: str, outcome: str) -> float:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
        value = registry.get_sample_value(
            "revsync_external_calls_total", {"system": system, "outcome": outcome}
        )
        return value or 0.0

    return read


class Linked:
    """One account linked to a HubSpot company and a Zendesk organization."""

    def __init__(self, account_id: int, company_id: str, organization_id: str):
        self.account_id = account_id
        self.company_id = company_id
        self.organization_id = organization_id


def link_account(
    store: Store,
    hubspot: FakeHubSpot,
    zendesk: FakeZendesk,
    account_id: int | None = None,
) -> Linked:
    """Cross-reference a (new) account with a new company and organization."""
    number = int(uuid.uuid4().int % 10**9)
    company_id, organization_id = str(10**10 + number), str(10**7 + number)
    hubspot.add_company(company_id, name=f"Company {number}")
    zendesk.add_organization(organization_id)
    now = utcnow()
    with store.session() as session:
        if account_id is None:
            account = Account(created_at=now)
            session.add(account)
            session.flush()
            account_id = account.id
        for system, object_type, external_id in (
            ("hubspot", "company", company_id),
            ("zendesk", "organization", organization_id),
        ):
            session.add(
                CrossReference(
                    account_id=account_id,
                    system=system,
                    object_type=object_type,
                    external_id=external_id,
                    created_at=now,
                    updated_at=now,
                )
            )
    return Linked(account_id, company_id, organization_id)
