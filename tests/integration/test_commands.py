"""The fixed entry points of the design, run as an operator would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import odoolib
import requests
from sqlalchemy import select

from tests.conftest import (
    ODOO_CREDENTIALS,
    ROOT,
    STRIPE_SECRET,
    WorkerProcess,
    sibling_redis,
    stripe_customer,
    stripe_event,
    wait_until,
)
from worker.embedded import free_port
from worker.store import InboxEvent, Store
from worker.stripe_signing import sign

BIN = Path(sys.executable).parent
REVSYNC = str(BIN / "revsync")


def run(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def bare_env(**values: str) -> dict[str, str]:
    """The process environment without any revsync setting, plus ``values``."""
    names = (
        "DATABASE_URL REDIS_URL ODOO_URL ODOO_DB ODOO_USERNAME ODOO_PASSWORD "
        "STRIPE_WEBHOOK_SECRET REVSYNC_ENV REVSYNC_OPERATOR_TOKEN"
    ).split()
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(values)
    return env


class TestMissingSettings:
    def test_worker_without_redis_url_stops_with_one_line(self, tmp_path) -> None:
        result = run(
            [sys.executable, "-m", "celery", "-A", "worker", "worker"],
            bare_env(DATABASE_URL=f"sqlite:///{tmp_path}/x.db"),
        )

        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert lines == ["revsync: configuration error: REDIS_URL is not set"]

    def test_worker_without_odoo_url_stops_with_one_line(self, redis_url) -> None:
        result = run(
            [sys.executable, "-m", "celery", "-A", "worker", "worker"],
            bare_env(REDIS_URL=redis_url),
        )

        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == (
            "revsync: configuration error: ODOO_URL is not set"
        )
        assert "Traceback" not in result.stderr

    def test_receiver_without_redis_url_stops_with_one_line(self) -> None:
        result = run(
            [sys.executable, "-c", "import webhooks; webhooks.create_app()"],
            bare_env(),
        )

        assert result.returncode == 2
        assert (
            result.stderr.strip()
            == "revsync: configuration error: REDIS_URL is not set"
        )

    def test_a_malformed_setting_is_named_without_its_value(self) -> None:
        result = run(
            [REVSYNC, "db", "upgrade"],
            bare_env(DATABASE_URL="mysql://user:hunter2@db/revsync"),
        )

        assert result.returncode == 2
        assert result.stderr.startswith(
            "revsync: configuration error: DATABASE_URL is malformed"
        )
        assert "hunter2" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


class TestRevsyncCommand:
    def test_help_lists_the_commands(self) -> None:
        result = run([REVSYNC, "--help"], bare_env())

        assert result.returncode == 0
        for command in ("db", "status", "odoo", "demo"):
            assert f"  {command} " in result.stdout

    def test_db_upgrade_migrates_sqlite_and_postgresql(self, tmp_path, pg_url) -> None:
        for url in (f"sqlite:///{tmp_path}/store.db", pg_url):
            result = run([REVSYNC, "db", "upgrade"], bare_env(DATABASE_URL=url))
            assert result.returncode == 0, result.stderr
            assert "database at revision head" in result.stdout

    def test_status_json_reports_counts_queues_and_ages(
        self, store, service_env
    ) -> None:
        result = run([REVSYNC, "status", "--json"], service_env)

        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert set(report["counts"]) == {
            "received",
            "queued",
            "processing",
            "done",
            "skipped",
            "waiting",
            "held",
            "dead",
        }
        assert set(report["queues"]) == {"realtime", "default", "bulk", "reconcile"}
        assert set(report["oldest_age_seconds"]) == {"waiting", "held", "dead"}


class TestServedProcesses:
    def test_gunicorn_serves_healthz(self, service_env) -> None:
        port = free_port()
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
                "webhooks:create_app()",
            ],
            env=service_env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def healthy() -> bool:
                try:
                    return requests.get(
                        f"http://127.0.0.1:{port}/healthz", timeout=1
                    ).ok
                except requests.RequestException:
                    return False

            wait_until(healthy, 30, "gunicorn to serve /healthz")
            assert requests.get(f"http://127.0.0.1:{port}/healthz").json() == {
                "status": "ok"
            }
        finally:
            process.terminate()
            process.wait(timeout=30)

    def test_standalone_sandbox_serves_a_partner_a_webhook_created(
        self, service_env, tmp_path
    ) -> None:
        """revsync odoo sandbox + a worker + the receiver, read back with odoolib."""
        port = free_port()
        redis_url = sibling_redis(service_env["REDIS_URL"], 1)
        # A store of its own: this Odoo is not the one the session's store knows.
        env = dict(
            service_env,
            ODOO_URL=f"http://127.0.0.1:{port}",
            REDIS_URL=redis_url,
            DATABASE_URL=f"sqlite:///{tmp_path}/standalone.db",
        )
        assert run([REVSYNC, "db", "upgrade"], env).returncode == 0
        sandbox = subprocess.Popen(
            [REVSYNC, "odoo", "sandbox", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        worker = WorkerProcess(
            env,
            tmp_path / "worker.log",
            [
                "-Q",
                "realtime,default",
                "-P",
                "solo",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                "standalone@%h",
            ],
        )
        gunicorn_port = free_port()
        receiver = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "-b",
                f"127.0.0.1:{gunicorn_port}",
                "-w",
                "1",
                "webhooks:create_app()",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            worker.wait_ready()
            customer = stripe_customer(name="Standalone Read Co")
            event = stripe_event("customer.created", customer)
            body = json.dumps(event).encode()

            def post() -> requests.Response | None:
                try:
                    return requests.post(
                        f"http://127.0.0.1:{gunicorn_port}/webhooks/stripe",
                        data=body,
                        headers={
                            "Content-Type": "application/json",
                            "Stripe-Signature": sign(body, STRIPE_SECRET),
                        },
                        timeout=5,
                    )
                except requests.ConnectionError:
                    return None

            response = wait_until(post, 30, "the receiver to accept the event")
            assert response.status_code == 200

            connection = odoolib.get_connection(
                hostname="127.0.0.1",
                port=port,
                database=ODOO_CREDENTIALS["db"],
                login=ODOO_CREDENTIALS["username"],
                password=ODOO_CREDENTIALS["password"],
            )
            connection.check_login()
            partners = connection.get_model("res.partner")

            def found() -> list[dict]:
                return partners.search_read([("ref", "=", customer["id"])], ["name"])

            rows = wait_until(found, 30, "the partner to reach the standalone sandbox")
            assert [row["name"] for row in rows] == ["Standalone Read Co"]
            assert connection.user_id
            store = Store(env["DATABASE_URL"])

            def applied() -> bool:
                with store.session() as session:
                    return session.scalar(select(InboxEvent.status)) == "done"

            wait_until(applied, 30, "the worker to record the event done")
        finally:
            receiver.terminate()
            worker.stop()
            sandbox.terminate()
            receiver.wait(timeout=30)
            sandbox.wait(timeout=30)


class TestOdooCheck:
    def test_a_configured_odoo_passes_every_check(self, service_env) -> None:
        result = run([REVSYNC, "odoo", "check"], service_env)

        assert result.returncode == 0, result.stdout
        names = [
            line.split(":")[0].removeprefix("ok   ")
            for line in result.stdout.splitlines()
        ]
        assert names == [
            "reachable",
            "version",
            "login",
            "modules",
            "journal",
            "sales journal",
            "products",
            "api user e-mail",
        ]

    def test_an_unreachable_odoo_is_named_with_its_url(self, service_env) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        result = run([REVSYNC, "odoo", "check"], dict(service_env, ODOO_URL=url))

        assert result.returncode == 1
        assert result.stdout.startswith(f"FAIL reachable: {url} does not answer")

    def test_a_wrong_password_fails_the_login_check(self, service_env) -> None:
        result = run(
            [REVSYNC, "odoo", "check"], dict(service_env, ODOO_PASSWORD="wrong")
        )

        assert result.returncode == 1
        assert "FAIL login: database revsync refused" in result.stdout
        assert "wrong" not in result.stdout

    def test_an_unmapped_product_is_named(self, service_env, tmp_path) -> None:
        mapping = tmp_path / "mapping.toml"
        mapping.write_text('[products]\nprice_x = "NOT-IN-ODOO"\n')

        result = run(
            [REVSYNC, "odoo", "check"], dict(service_env, REVSYNC_CONFIG=str(mapping))
        )

        assert result.returncode == 1
        assert "FAIL products: no product with internal reference NOT-IN-ODOO" in (
            result.stdout
        )


class TestMetrics:
    def test_metrics_count_the_deliveries_by_outcome(
        self, receiver_url, post_stripe
    ) -> None:
        def accepted() -> float:
            text = requests.get(f"{receiver_url}/metrics", timeout=10).text
            for line in text.splitlines():
                if line.startswith(
                    'revsync_webhook_requests_total{outcome="accepted",source="stripe"}'
                ):
                    return float(line.rsplit(" ", 1)[1])
            return 0.0

        before = accepted()
        post_stripe(stripe_event("customer.created", stripe_customer()))
        post_stripe(stripe_event("customer.created", stripe_customer()), secret="bad")

        assert accepted() == before + 1
        text = requests.get(f"{receiver_url}/metrics", timeout=10).text
        assert (
            'revsync_webhook_requests_total{outcome="bad_signature",source="stripe"}'
            in text
        )
