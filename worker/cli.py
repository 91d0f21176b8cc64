"""The ``revsync`` command: operate, inspect and demonstrate revsync."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from worker.settings import settings_or_exit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="revsync")
def main() -> None:
    """revsync keeps HubSpot, Stripe, Zendesk and Odoo telling one customer story."""


@main.group()
def db() -> None:
    """The SQL store."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations to DATABASE_URL."""
    from worker.store import get_store

    settings = settings_or_exit("store")
    get_store(settings.database_url).upgrade(revision)
    click.echo(f"database at revision {revision}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Inbox counts by status, queue depths, and the oldest stuck events."""
    import redis

    from worker.status import inbox_summary, queue_depths
    from worker.store import get_store

    settings = settings_or_exit("store")
    report: dict[str, Any] = inbox_summary(get_store(settings.database_url))
    report["queues"] = None
    if settings.redis_url:
        try:
            report["queues"] = queue_depths(
                redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
            )
        except redis.RedisError:
            report["queues"] = None
    if as_json:
        click.echo(json.dumps(report, sort_keys=True))
        return
    counts = report["counts"]
    click.echo("inbox: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    ages = report["oldest_age_seconds"]
    click.echo(
        "oldest: "
        + ", ".join(f"{k} {'-' if v is None else f'{v:.0f}s'}" for k, v in ages.items())
    )
    queues = report["queues"]
    click.echo(
        "queues: "
        + (", ".join(f"{k} {v}" for k, v in queues.items()) if queues else "unknown")
    )


@main.group()
def odoo() -> None:
    """The Odoo side: check a real one, or serve the sandbox."""


@odoo.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8069, show_default=True, type=int)
def odoo_sandbox(host: str, port: int) -> None:
    """Serve the Odoo sandbox (XML-RPC) until interrupted."""
    from worker.odoo.sandbox import serve_forever

    database = os.environ.get("ODOO_DB", "revsync")
    username = os.environ.get("ODOO_USERNAME", "admin")
    password = os.environ.get("ODOO_PASSWORD", "admin")
    click.echo(f"Odoo sandbox on http://{host}:{port} (database {database})")
    serve_forever(
        host=host, port=port, db=database, username=username, password=password
    )


@odoo.command("check")
def odoo_check() -> None:
    """Check that Odoo is reachable and configured the way revsync needs it."""
    from worker.odoo.check import run_checks

    settings = settings_or_exit("odoo")
    failures = 0
    for check in run_checks(settings):
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"{mark} {check.name}: {check.detail}")
        failures += not check.ok
    if failures:
        raise SystemExit(1)


@main.command()
def demo() -> None:
    """Start everything on embedded defaults and play a customer's story."""
    from worker.demo import run_demo

    sys.exit(run_demo(click.echo))
