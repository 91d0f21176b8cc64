"""``revsync demo``: the whole path on one machine with nothing running beforehand.

It starts a Redis server of its own (unless REDIS_URL is set), keeps the SQL store
in SQLite in a temporary folder (unless DATABASE_URL is set), serves the Odoo sandbox
and the receiver on loopback, runs a real Celery worker, sends signed Stripe events
over HTTP and prints what landed in Odoo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import odoolib
import requests
from pydantic import SecretStr
from werkzeug.serving import make_server

from worker.embedded import EmbeddedRedis, free_port
from worker.settings import Settings
from worker.stripe_signing import sign

Echo = Callable[[str], None]

DEMO_SECRET = "whsec_demo_only_not_a_real_secret"
ODOO = {"db": "revsync", "username": "api", "password": "demo-password"}


@contextmanager
def serve_receiver(settings: Settings) -> Iterator[str]:
    """The Flask receiver on a free loopback port, in a thread."""
    from webhooks import create_app

    server = make_server("127.0.0.1", free_port(), create_app(settings), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def celery_worker(
    env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A worker worker`` on every queue, stopped on exit."""
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "worker",
                "-Q",
                "realtime,default,bulk,reconcile",
                "-c",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``condition`` until it returns something truthy, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def demo_events(now: int) -> list[dict[str, Any]]:
    """A new customer, then an update of its address a few seconds later."""
    customer: dict[str, Any] = {
        "id": "cus_DemoAcme01",
        "object": "customer",
        "name": "Acme Analytics GmbH",
        "email": "billing@acme-analytics.example",
        "phone": "+49 30 1234567",
        "address": {
            "line1": "Torstrasse 1",
            "line2": None,
            "city": "Berlin",
            "postal_code": "10119",
            "country": "DE",
            "state": None,
        },
        "metadata": {},
        "livemode": False,
        "created": now - 5,
    }
    moved = dict(customer, address=dict(customer["address"], line1="Torstrasse 9"))
    return [
        _event("evt_demo_customer_created", "customer.created", customer, now - 5),
        _event("evt_demo_customer_updated", "customer.updated", moved, now),
    ]


def _event(
    event_id: str, kind: str, obj: dict[str, Any], created: int
) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": obj},
    }


def run_demo(echo: Echo) -> int:
    from worker.logs import configure
    from worker.odoo.sandbox import Sandbox, SandboxServer
    from worker.store import get_store

    configure(level="WARNING")
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="revsync-demo-"))
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_server = EmbeddedRedis().start()
            stack.callback(redis_server.stop)
            redis_url = redis_server.url
            echo(f"redis: started its own server at {redis_url}")
        database_url = os.environ.get(
            "DATABASE_URL", f"sqlite:///{workdir / 'revsync.db'}"
        )

        sandbox = Sandbox(
            db=ODOO["db"],
            username=ODOO["username"],
            password=ODOO["password"],
            user_email="revsync-api@demo.example",
        )
        odoo_server = SandboxServer(sandbox, host="127.0.0.1", port=0)
        odoo_server.start()
        stack.callback(odoo_server.stop)
        echo(f"odoo: sandbox serving {odoo_server.url}")

        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ODOO_URL": odoo_server.url,
            "ODOO_DB": ODOO["db"],
            "ODOO_USERNAME": ODOO["username"],
            "ODOO_PASSWORD": ODOO["password"],
            "STRIPE_WEBHOOK_SECRET": DEMO_SECRET,
            "REVSYNC_ENV": "sandbox",
            "REVSYNC_LOG_LEVEL": "WARNING",
        }
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            stripe_webhook_secret=SecretStr(DEMO_SECRET),
            revsync_env="sandbox",
        )
        store = get_store(settings.database_url)
        store.upgrade()
        echo("store: migrated " + settings.database_url.split("://")[0])

        stack.enter_context(celery_worker(env, workdir / "worker.log"))
        receiver = stack.enter_context(serve_receiver(settings))
        echo(f"receiver: {receiver}/webhooks/stripe")

        events = demo_events(int(time.time()))
        for event in events:
            body = json.dumps(event).encode()
            response = requests.post(
                f"{receiver}/webhooks/stripe",
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": sign(body, DEMO_SECRET),
                },
                timeout=10,
            )
            answer = response.text.strip()
            echo(f"sent {event['type']}: HTTP {response.status_code} {answer}")
            if response.status_code != 200:
                return 1

        from worker.store import InboxEvent, InboxStatus

        def all_applied() -> bool:
            with store.session() as session:
                rows = session.query(InboxEvent.status).all()
            return len(rows) == len(events) and all(
                status in InboxStatus.FINAL for (status,) in rows
            )

        try:
            wait_for(all_applied, 60, "the worker to apply the events")
        except TimeoutError:
            echo("the events were not applied in time; worker log:")
            echo((workdir / "worker.log").read_text()[-3000:])
            return 1

        # Read back through odoo-client-lib, as any Odoo client would.
        connection = odoolib.get_connection(
            hostname="127.0.0.1",
            port=odoo_server.port,
            database=ODOO["db"],
            login=ODOO["username"],
            password=ODOO["password"],
        )
        partners = connection.get_model("res.partner").search_read(
            [("ref", "=", "cus_DemoAcme01")],
            ["id", "name", "ref", "street", "city", "country_id"],
        )
        echo("")
        echo("Odoo now holds:")
        for partner in partners:
            country = partner["country_id"][1] if partner["country_id"] else "-"
            echo(
                f"  res.partner {partner['id']}: {partner['name']} "
                f"(ref {partner['ref']}, {partner['street']}, {partner['city']}, "
                f"{country})"
            )
        echo(
            "  external id: revsync.stripe_customer_cus_DemoAcme01 -> "
            f"{sandbox.xmlid('revsync.stripe_customer_cus_DemoAcme01')}"
        )
        return 0 if len(partners) == 1 else 1
    return 1
