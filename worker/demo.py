"""``revsync demo``: the whole path on one machine with nothing running beforehand.

It starts a Redis server of its own (unless REDIS_URL is set), keeps the SQL store
in SQLite in a temporary folder (unless DATABASE_URL is set), serves the Odoo sandbox
and the receiver on loopback, runs a real Celery worker, sends the signed Stripe
events of one customer's lifecycle over HTTP (sign-up to churn, with a failed
payment and a refund) and prints the books that resulted in Odoo.
"""

from __future__ import annotations

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
from pydantic import SecretStr
from werkzeug.serving import make_server

from worker.embedded import EmbeddedRedis, free_port
from worker.scenarios import StripeStory
from worker.settings import Settings
from worker.stripe_signing import post_signed

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


DEMO_MAPPING = """
[odoo]
currencies = ["EUR", "USD"]

[products]
prod_pro = "PRO"
prod_team = "TEAM"
"""
DEMO_PRODUCTS = {"PRO": "Pro plan", "TEAM": "Team plan"}


def demo_story() -> StripeStory:
    """One customer: trial, payments, a failure, an upgrade, a refund, churn."""
    story = StripeStory(
        customer_id="cus_DemoAcme01", shape="basil", currency="eur", prefix="demo"
    )
    story.customer_created(
        "Acme Analytics GmbH",
        "billing@acme-analytics.example",
        "DE",
        address={"line1": "Torstrasse 1", "city": "Berlin", "postal_code": "10119"},
    )
    subscription = story.subscribe("price_pro_monthly", "prod_pro", 4900, 1, trial=True)
    story.trial_will_end(subscription)
    story.activate(subscription)
    first = story.invoice(subscription)
    story.finalize(first)
    story.pay(first)
    second = story.invoice(subscription)
    story.finalize(second)
    story.fail_payment(second)
    story.pay(second)
    story.recover(subscription)
    story.change_plan(subscription, quantity=3, unit_amount=4900)
    third = story.invoice(subscription)
    story.finalize(third)
    payment = story.pay(third)
    story.refund(payment, amount=4900)
    story.cancel(subscription)
    return story


def table(echo: Echo, title: str, header: list[str], rows: list[list[Any]]) -> None:
    """Print ``rows`` under ``header`` in aligned columns."""
    cells = [header, *[[str(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    echo("")
    echo(title)
    for index, row in enumerate(cells):
        echo("  " + "  ".join(value.ljust(widths[i]) for i, value in enumerate(row)))
        if index == 0:
            echo("  " + "  ".join("-" * width for width in widths))


def print_books(echo: Echo, connection: Any) -> int:
    """Read the books back through odoo-client-lib and print them; return partners."""

    def read(model: str, domain: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = connection.get_service("object").execute_kw(
            connection.database,
            connection.user_id,
            connection.password,
            model,
            "search_read",
            [domain],
            {"fields": fields, "order": "id"},
        )
        return rows

    partners = read(
        "res.partner",
        [("ref", "=", "cus_DemoAcme01")],
        ["id", "name", "ref", "city", "country_id", "category_id"],
    )
    tags = {
        row["id"]: row["name"] for row in read("res.partner.category", [], ["name"])
    }
    table(
        echo,
        "Customer (res.partner)",
        ["id", "name", "Stripe id", "city", "country", "tags"],
        [
            [
                p["id"],
                p["name"],
                p["ref"],
                p["city"],
                p["country_id"][1],
                ", ".join(tags[t] for t in p["category_id"]),
            ]
            for p in partners
        ],
    )
    orders = read(
        "sale.order", [], ["name", "client_order_ref", "state", "amount_untaxed"]
    )
    table(
        echo,
        "Contract (sale.order)",
        ["order", "subscription", "state", "untaxed"],
        [
            [o["name"], o["client_order_ref"], o["state"], o["amount_untaxed"]]
            for o in orders
        ],
    )
    moves = read(
        "account.move",
        [("move_type", "in", ["out_invoice", "out_refund"])],
        [
            "name",
            "move_type",
            "payment_reference",
            "state",
            "payment_state",
            "amount_total",
            "amount_residual",
            "currency_id",
        ],
    )
    table(
        echo,
        "Invoices and credit notes (account.move)",
        ["number", "type", "Stripe id", "state", "payment", "total", "due"],
        [
            [
                m["name"],
                m["move_type"],
                m["payment_reference"],
                m["state"],
                m["payment_state"],
                f"{m['amount_total']:.2f} {m['currency_id'][1]}",
                f"{m['amount_residual']:.2f}",
            ]
            for m in moves
        ],
    )
    payments = read(
        "account.payment", [], ["name", "memo", "payment_type", "amount", "state"]
    )
    table(
        echo,
        "Payments in the Stripe journal (account.payment)",
        ["number", "Stripe id", "direction", "amount", "state"],
        [
            [p["name"], p["memo"], p["payment_type"], f"{p['amount']:.2f}", p["state"]]
            for p in payments
        ],
    )
    return len(partners)


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
        for code, name in DEMO_PRODUCTS.items():
            sandbox.create_direct(
                "product.product",
                {"name": name, "default_code": code, "type": "service"},
            )
        mapping = workdir / "mapping.toml"
        mapping.write_text(DEMO_MAPPING)
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
            "REVSYNC_CONFIG": str(mapping),
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

        events = demo_story().events
        echo(f"sending {len(events)} Stripe events: a customer's lifecycle")
        for event in events:
            response = post_signed(receiver, event, DEMO_SECRET)
            echo(f"  {event['type']:<40} HTTP {response.status_code}")
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
        connection.check_login()
        partners = print_books(echo, connection)
        echo("")
        echo(
            "external id revsync.stripe_customer_cus_DemoAcme01 -> "
            f"{sandbox.xmlid('revsync.stripe_customer_cus_DemoAcme01')}"
        )
        return 0 if partners == 1 else 1
    return 1
