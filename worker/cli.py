"""The ``revsync`` command: operate, inspect and demonstrate revsync."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import click

from worker.settings import settings_or_exit

INBOX_STATUSES = [
    "received",
    "queued",
    "processing",
    "done",
    "skipped",
    "waiting",
    "held",
    "dead",
]


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

    from worker.status import inbox_summary, last_reconciliation, queue_depths
    from worker.store import get_store

    settings = settings_or_exit("store")
    report: dict[str, Any] = inbox_summary(get_store(settings.database_url))
    report["reconciliation"] = last_reconciliation(get_store(settings.database_url))
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
    last = report["reconciliation"]
    click.echo(
        "last reconciliation: "
        + (
            f"run {last['run_id']} {last['status']} at {last['started_at']}, "
            f"{sum(last['mismatches'].values())} mismatches, "
            f"{last['healed']} healed, {last['exceptions']} exceptions"
            if last
            else "never"
        )
    )


@main.command()
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day to reconcile (default: yesterday in REVSYNC_RECONCILE_TZ).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def reconcile(day: Any, as_json: bool) -> None:
    """Compare Stripe with Odoo for one day, heal what a re-sync can, report."""
    from worker.reconcile import Window
    from worker.reconcile import reconcile as run_reconcile
    from worker.runtime import Runtime

    settings = settings_or_exit("worker")
    if settings.stripe_api_key is None:
        raise click.ClickException("STRIPE_API_KEY is not set")
    tz = settings.reconcile_tz
    window = Window.day(day.date(), tz) if day is not None else Window.previous_day(tz)
    summary = run_reconcile(Runtime(settings), window).summary()
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    click.echo(f"reconciliation run {summary['run_id']} for {window.label} ({tz})")
    click.echo(
        "compared: "
        + (", ".join(f"{k} {v}" for k, v in summary["compared"].items()) or "nothing")
    )
    click.echo(
        "mismatches: " + ", ".join(f"{k} {v}" for k, v in summary["mismatches"].items())
    )
    click.echo(f"healed: {summary['healed']} (re-sync queued)")
    click.echo(f"exceptions: {summary['exceptions']}")
    click.echo(f"odoo calls: {summary['odoo_calls']}")
    click.echo(f"report: {summary['report_json']}")
    click.echo(f"report: {summary['report_csv']}")


def _filter(
    ids: tuple[int, ...],
    status: str | None,
    source: str | None,
    event_type: str | None,
    account: int | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Any:
    from worker.operations import EventFilter

    return EventFilter(
        status=status,
        source=source,
        type=event_type,
        account=account,
        since=since.replace(tzinfo=UTC) if since else None,
        until=until.replace(tzinfo=UTC) if until else None,
        ids=ids,
        limit=limit,
    )


def _filter_options(func: Any) -> Any:
    options = [
        click.option("--status", type=click.Choice(INBOX_STATUSES)),
        click.option("--source", type=click.Choice(["stripe", "hubspot", "zendesk"])),
        click.option("--type", "event_type", help="Event type, e.g. invoice.paid."),
        click.option("--account", type=int, help="Canonical account id."),
        click.option(
            "--since", type=click.DateTime(), help="Received at or after (UTC)."
        ),
        click.option("--until", type=click.DateTime(), help="Received before (UTC)."),
        click.option("--limit", type=int, default=100, show_default=True),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _store() -> Any:
    from worker.store import get_store

    return get_store(settings_or_exit("store").database_url)


def _producer() -> Any:
    from worker.celery_app import make_producer

    settings = settings_or_exit("broker")
    assert settings.redis_url
    return make_producer(settings.redis_url)


def _operator() -> str:
    return os.environ.get("REVSYNC_OPERATOR") or os.environ.get("USER") or "operator"


@main.group()
def events() -> None:
    """Inbox events: find, read, replay, skip."""


@events.command("list")
@_filter_options
@click.option("--json", "as_json", is_flag=True)
def events_list(as_json: bool, **filters: Any) -> None:
    """List inbox events, oldest first."""
    from worker.operations import list_events

    rows = list_events(_store(), _filter((), **filters))
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        click.echo(
            f"{row['id']:>8} {row['status']:<10} {row['source']:<8} "
            f"{row['type']:<36} attempts {row['attempts']} {row['reason'] or ''}"
        )


@events.command("show")
@click.argument("inbox_id", type=int)
@click.option("--payload", is_flag=True, help="Show the payload unredacted.")
def events_show(inbox_id: int, payload: bool) -> None:
    """One event's story: status, attempts, errors and the records it wrote."""
    from worker.operations import OperationError, event_story

    try:
        story = event_story(_store(), inbox_id, payload=payload)
    except OperationError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(story, indent=2, sort_keys=True))


@events.command("replay")
@click.argument("ids", nargs=-1, type=int)
@_filter_options
@click.option("--note", default="replayed from the CLI", show_default=True)
def events_replay(ids: tuple[int, ...], note: str, **filters: Any) -> None:
    """Process events again (by id or by filter); safe to repeat."""
    from worker.operations import OperationError, replay

    try:
        done = replay(
            _store(), _producer(), _filter(ids, **filters), actor=_operator(), note=note
        )
    except OperationError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"replayed {len(done)} event(s)")


@events.command("skip")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--note", required=True, help="Why no work is needed.")
def events_skip(ids: tuple[int, ...], note: str) -> None:
    """Mark dead, held or waiting events as needing no work."""
    from worker.operations import EventFilter, OperationError, skip

    try:
        done = skip(_store(), EventFilter(ids=ids), actor=_operator(), note=note)
    except OperationError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"skipped {len(done)} event(s)")


@main.group()
def holds() -> None:
    """Events held at a gate or for an ambiguous identity."""


@holds.command("release")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--note", required=True, help="Why the event may proceed.")
def holds_release(ids: tuple[int, ...], note: str) -> None:
    """Let held events through their gate and process them."""
    from worker.operations import EventFilter, OperationError, release

    try:
        done = release(
            _store(), _producer(), EventFilter(ids=ids), actor=_operator(), note=note
        )
    except OperationError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"released {len(done)} event(s)")


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


@main.group()
def backfill() -> None:
    """Import history through the path webhooks take; safe to repeat."""


@backfill.command("stripe")
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Import objects created at or after this moment (UTC).",
)
def backfill_stripe(since: datetime) -> None:
    """Queue every Stripe object created since DATE as an event of its state.

    Customers, subscriptions, invoices, payments, credit notes, refunds, disputes
    and payouts, in that order. Running it again stores only what changed since.
    """
    import time

    from worker.backfill import (
        STRIPE_COLLECTIONS,
        BackfillReport,
        log_report,
        store_events,
        stripe_events,
    )
    from worker.errors import SyncError
    from worker.stripe_api import stripe_api

    settings = settings_or_exit("backfill")
    api = stripe_api(settings)
    assert api is not None, "STRIPE_API_KEY is checked by settings_or_exit"
    store, producer = _store(), _producer()
    report = BackfillReport()
    at = int(time.time())
    events = []
    try:
        with click.progressbar(
            STRIPE_COLLECTIONS,
            label="listing Stripe",
            item_show_func=lambda item: item.name if item else None,
        ) as collections:
            for collection in collections:
                events.extend(
                    stripe_events(
                        api,
                        since.replace(tzinfo=UTC),
                        report,
                        at=at,
                        collections=[collection],
                    )
                )
    except SyncError as error:
        raise click.ClickException(f"listing Stripe failed: {error}") from None
    with click.progressbar(length=len(events), label="storing events") as bar:
        for count in store_events(store, producer, events, report):
            bar.update(count)
    log_report(report)
    listed = ", ".join(f"{name} {count}" for name, count in report.listed.items())
    click.echo(f"listed: {listed}")
    click.echo(
        f"stored {report.stored} new event(s), {report.duplicates} already stored, "
        f"{report.queued} queued"
    )


@main.command()
def demo() -> None:
    """Start everything on embedded defaults and play a customer's story."""
    from worker.demo import run_demo

    sys.exit(run_demo(click.echo))
