"""Real services for the tests: PostgreSQL, Redis, a Celery worker, the receiver.

PostgreSQL is the machine's (a fresh database per run); where none answers, the
tests that need it skip and say so. Redis is the machine's when one answers on
127.0.0.1:6379, otherwise a server the tests start. The Odoo sandbox and the Flask
receiver are served on loopback ports; the Celery worker is a real ``celery -A
worker worker`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import requests
from werkzeug.serving import make_server

from worker.embedded import EmbeddedRedis, free_port
from worker.settings import Settings
from worker.store import InboxEvent, Store
from worker.stripe_signing import sign

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_ADMIN_URL = os.environ.get(
    "REVSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"
)
STRIPE_SECRET = "whsec_test_secret_for_the_suite"
OPERATOR_TOKEN = "operator-token-for-the-suite"
# Two test runs on one machine at once need databases of their own (this one and
# the next two are used).
REDIS_DB = int(os.environ.get("REVSYNC_TEST_REDIS_DB", "11"))
# Another Redis server on this machine, so that two test runs cannot share one.
REDIS_PORT = int(os.environ.get("REVSYNC_TEST_REDIS_PORT", "6379"))
ODOO_CREDENTIALS = {"db": "revsync", "username": "api", "password": "api-secret"}


def wait_until(
    condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll until ``condition()`` is truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def load_fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# -- PostgreSQL ----------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped at the end."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: test skipped")
    name = f"revsync_test_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+psycopg://"
    )
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(scope="session")
def store(pg_url: str) -> Store:
    migrated = Store(pg_url)
    migrated.upgrade()
    return migrated


# -- Redis ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The machine's Redis (a database of its own), else one started for the run."""
    try:
        redis.Redis(port=REDIS_PORT, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        server = EmbeddedRedis().start()
        try:
            yield server.url
        finally:
            server.stop()
        return
    url = f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}"
    redis.Redis.from_url(url).flushdb()
    yield url


def sibling_redis(url: str, offset: int) -> str:
    """Another database of the same Redis, for processes that must not share."""
    base, _, db = url.rpartition("/")
    return f"{base}/{(int(db) + offset) % 16}"


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


# -- Odoo sandbox ---------------------------------------------------------------


@pytest.fixture(scope="session")
def odoo_server() -> Iterator[Any]:
    from tests.lifecycle.harness import PRODUCTS
    from worker.odoo.sandbox import Sandbox, SandboxServer

    sandbox = Sandbox(
        db=ODOO_CREDENTIALS["db"],
        username=ODOO_CREDENTIALS["username"],
        password=ODOO_CREDENTIALS["password"],
        # Odoo refuses to post chatter (activities done) for a user without one.
        user_email="revsync-api@tests.example",
    )
    for code, name in PRODUCTS.values():
        sandbox.create_direct(
            "product.product", {"name": name, "default_code": code, "type": "service"}
        )
    server = SandboxServer(sandbox, host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox(odoo_server: Any) -> Any:
    odoo_server.sandbox.reset_calls()
    return odoo_server.sandbox


@pytest.fixture
def idle_sandbox(odoo_server: Any, store: Store) -> Any:
    """The sandbox with its call counters at zero once earlier tests' events are
    applied, so that a test counting Odoo calls counts only its own."""
    from sqlalchemy import func, select

    from worker.store import InboxStatus

    def idle() -> bool:
        with store.session() as session:
            pending = session.scalar(
                select(func.count())
                .select_from(InboxEvent)
                .where(
                    InboxEvent.status.in_(
                        [
                            InboxStatus.RECEIVED,
                            InboxStatus.QUEUED,
                            InboxStatus.PROCESSING,
                        ]
                    )
                )
            )
        return not pending

    try:
        wait_until(idle, 60, "earlier events to be applied")
    except AssertionError:
        with store.session() as session:
            stuck = session.execute(
                select(
                    InboxEvent.id, InboxEvent.source, InboxEvent.type, InboxEvent.status
                ).where(
                    InboxEvent.status.in_(
                        [
                            InboxStatus.RECEIVED,
                            InboxStatus.QUEUED,
                            InboxStatus.PROCESSING,
                        ]
                    )
                )
            ).all()
        raise AssertionError(f"events still pending: {stuck}") from None
    odoo_server.sandbox.reset_calls()
    return odoo_server.sandbox


# -- The revsync processes --------------------------------------------------------


@pytest.fixture(scope="session")
def mapping_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.lifecycle.harness import write_mapping

    return write_mapping(tmp_path_factory.mktemp("mapping"))


@pytest.fixture(scope="session")
def service_env(
    pg_url: str, redis_url: str, odoo_server: Any, mapping_path: str
) -> dict[str, str]:
    """The environment a revsync process of this test run gets."""
    return {
        "REVSYNC_CONFIG": mapping_path,
        **os.environ,
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "ODOO_URL": odoo_server.url,
        "ODOO_DB": ODOO_CREDENTIALS["db"],
        "ODOO_USERNAME": ODOO_CREDENTIALS["username"],
        "ODOO_PASSWORD": ODOO_CREDENTIALS["password"],
        "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        "REVSYNC_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "REVSYNC_ENV": "sandbox",
        "REVSYNC_LOCK_WAIT": "0.2",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def settings(service_env: dict[str, str]) -> Settings:
    return Settings(
        database_url=service_env["DATABASE_URL"],
        redis_url=service_env["REDIS_URL"],
        odoo_url=service_env["ODOO_URL"],
        odoo_db=service_env["ODOO_DB"],
        odoo_username=service_env["ODOO_USERNAME"],
        odoo_password=service_env["ODOO_PASSWORD"],
        stripe_webhook_secret=STRIPE_SECRET,
        revsync_env="sandbox",
        revsync_config=service_env["REVSYNC_CONFIG"],
        revsync_operator_token=OPERATOR_TOKEN,
    )


class WorkerProcess:
    """A ``celery -A worker worker`` child process and its log."""

    def __init__(self, env: dict[str, str], log_path: Path, args: list[str]) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", *args],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(
            lambda: " ready." in self.log() or self.process.poll() is not None,
            timeout,
            "the Celery worker to start",
        )
        if self.process.poll() is not None:
            raise AssertionError("celery worker exited:\n" + self.log()[-4000:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="session")
def celery_worker(
    store: Store, service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = WorkerProcess(
        service_env,
        log_path,
        [
            "-Q",
            "realtime,default,bulk,reconcile",
            "-c",
            "2",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"test-{uuid.uuid4().hex[:6]}@%h",
        ],
    )
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


class ServedApp:
    """The real Flask app, served over HTTP on a loopback port in a thread."""

    def __init__(self, settings: Settings) -> None:
        from webhooks import create_app

        self.app = create_app(settings)
        self.server = make_server("127.0.0.1", free_port(), self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve_app() -> Iterator[Callable[[Settings], ServedApp]]:
    """Serve an app with settings of the test's own; stopped after the test."""
    served: list[ServedApp] = []

    def serve(settings: Settings) -> ServedApp:
        served.append(ServedApp(settings))
        return served[-1]

    yield serve
    for app in served:
        app.stop()


@pytest.fixture(scope="session")
def receiver_url(store: Store, settings: Settings) -> Iterator[str]:
    served = ServedApp(settings)
    try:
        yield served.url
    finally:
        served.stop()


# -- Helpers the tests share ----------------------------------------------------


def stripe_event(
    event_type: str,
    obj: dict[str, Any],
    *,
    created: int | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": event_id or unique("evt"),
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }


def stripe_customer(customer_id: str | None = None, **fields: Any) -> dict[str, Any]:
    customer = load_fixture("stripe/customer.json")
    customer.update(
        id=customer_id or unique("cus"),
        name="Example Customer Ltd",
        email="billing@customer.example",
        address={
            "line1": "1 Main Street",
            "line2": None,
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
            "state": None,
        },
        discount=None,
    )
    customer.update(fields)
    return customer


@pytest.fixture
def post_stripe(receiver_url: str) -> Callable[..., requests.Response]:
    def post(
        event: dict[str, Any] | bytes,
        *,
        secret: str = STRIPE_SECRET,
        signature: str | None = None,
    ) -> requests.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = {"Content-Type": "application/json"}
        header = signature if signature is not None else sign(body, secret)
        if header:
            headers["Stripe-Signature"] = header
        return requests.post(
            f"{receiver_url}/webhooks/stripe", data=body, headers=headers, timeout=10
        )

    return post


@pytest.fixture
def inbox_row(store: Store) -> Callable[[str, str], InboxEvent | None]:
    def read(source: str, event_id: str) -> InboxEvent | None:
        with store.session() as session:
            return (
                session.query(InboxEvent)
                .filter_by(source=source, event_id=event_id)
                .one_or_none()
            )

    return read


@pytest.fixture
def wait_for_status(
    inbox_row: Callable[[str, str], InboxEvent | None],
) -> Callable[..., InboxEvent]:
    def wait(
        source: str,
        event_id: str,
        statuses: tuple[str, ...] = ("done",),
        timeout: float = 30,
    ) -> InboxEvent:
        def reached() -> InboxEvent | None:
            row = inbox_row(source, event_id)
            return row if row is not None and row.status in statuses else None

        return wait_until(
            reached, timeout, f"{source} event {event_id} to be {statuses}"
        )

    return wait
