"""The reconciliation as operators run it: the CLI, status, alerts, retention."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from sqlalchemy import delete, insert, select

from tests.conftest import ROOT
from tests.reconcile.books import Ledger, env_of
from tests.reconcile.seed import stripe_invoice
from worker.reconcile import Window, reconcile
from worker.reconcile.retention import PRUNED, prune_payloads
from worker.store import InboxEvent, InboxStatus, Store, utcnow

BERLIN = "Europe/Berlin"


def revsync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def stamp(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


class TestReconcileCommand:
    def test_reconciles_the_day_in_its_time_zone_and_writes_reports(
        self, ledger: Ledger, tmp_path: Path
    ) -> None:
        booked = stripe_invoice(
            1, paid=True, created=stamp("2026-11-30T12:00:00+01:00")
        )
        lost = stripe_invoice(2, paid=False, created=stamp("2026-11-30T00:30:00+01:00"))
        # 23:30 UTC on the 30th is already 1 December in Berlin.
        next_day = stripe_invoice(
            3, paid=True, created=stamp("2026-11-30T23:30:00+00:00")
        )
        ledger.stripe.add(booked, lost, next_day)
        ledger.book([booked])
        reports = tmp_path / "reports"

        done = revsync(env_of(ledger, reports), "reconcile", "--date", "2026-11-30")

        assert done.returncode == 0, done.stderr
        out = done.stdout
        assert "for 2026-11-30 (Europe/Berlin)" in out
        assert "compared: invoice 2, payment 1" in out
        assert "missing_in_odoo 1, amount 0" in out
        assert "healed: 1" in out
        assert "exceptions: 0" in out
        paths = [
            line.split(": ", 1)[1] for line in out.splitlines() if "report:" in line
        ]
        report = json.loads(Path(paths[0]).read_text())
        assert Path(paths[0]).parent == reports
        assert [item["stripe_id"] for item in report["items"]] == ["in_r2"]
        with open(paths[1], newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["kind"], r["stripe_id"], r["action"]) for r in rows] == [
            ("missing_in_odoo", "in_r2", "healed")
        ]
        # The healing event is in the inbox, under the run's id.
        with ledger.store.session() as session:
            event_ids = session.scalars(select(InboxEvent.event_id)).all()
        assert event_ids == [f"reconcile:{report['run_id']}:in_r2"]

        status = revsync(env_of(ledger, reports), "status")
        assert status.returncode == 0, status.stderr
        assert f"last reconciliation: run {report['run_id']} done" in status.stdout

    def test_a_malformed_date_changes_nothing(
        self, ledger: Ledger, tmp_path: Path
    ) -> None:
        done = revsync(env_of(ledger, tmp_path), "reconcile", "--date", "30.11.2026")

        assert done.returncode == 2
        assert "--date" in done.stderr
        assert list(tmp_path.iterdir()) == []


class Recorder(Transport):
    """A Sentry transport that keeps the events instead of sending them."""

    def __init__(self, sent: list[dict[str, Any]]) -> None:
        super().__init__()
        self.sent = sent

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            event = item.get_event()
            if event is not None:
                self.sent.append(dict(event))


class TestAlert:
    def test_many_mismatches_reach_sentry_as_counts_only(self, ledger: Ledger) -> None:
        ledger.stripe.add(
            *(stripe_invoice(n, paid=False, created=ledger.now) for n in range(3))
        )
        ledger.settings.reconcile_alert_threshold = 2
        sent: list[dict[str, Any]] = []
        sentry_sdk.init(dsn="https://key@sentry.example/1", transport=Recorder(sent))
        try:
            now = datetime.now(UTC)
            window = Window(now - timedelta(hours=1), now + timedelta(hours=1), "t")
            reconcile(ledger.runtime, window)
        finally:
            sentry_sdk.init(dsn=None)

        messages = [event.get("message") or "" for event in sent]
        assert any("found 3 mismatches (missing_in_odoo=3)" in m for m in messages), (
            messages
        )
        assert not any("in_r" in json.dumps(event) for event in sent)


class TestRetention:
    def test_only_old_finished_payloads_are_blanked(
        self, reconcile_store: Store
    ) -> None:
        store = reconcile_store
        old = utcnow() - timedelta(days=100)
        recent = utcnow() - timedelta(days=5)
        rows = {
            "done-old": (InboxStatus.DONE, old),
            "skipped-old": (InboxStatus.SKIPPED, old),
            "done-recent": (InboxStatus.DONE, recent),
            "dead-old": (InboxStatus.DEAD, old),
        }
        with store.session() as session:
            session.execute(delete(InboxEvent).where(InboxEvent.source == "test"))
            session.execute(
                insert(InboxEvent),
                [
                    {
                        "source": "test",
                        "event_id": name,
                        "type": "invoice.paid",
                        "received_at": at,
                        "payload": {"secret": name},
                        "status": status,
                        "attempts": 1,
                        "updated_at": at,
                        "done_at": at if status != InboxStatus.DEAD else None,
                    }
                    for name, (status, at) in rows.items()
                ],
            )

        assert prune_payloads(store, 90) == 2
        assert prune_payloads(store, 90) == 0

        with store.session() as session:
            kept = dict(
                session.execute(
                    select(InboxEvent.event_id, InboxEvent.payload).where(
                        InboxEvent.source == "test"
                    )
                ).all()
            )
        assert kept == {
            "done-old": PRUNED,
            "skipped-old": PRUNED,
            "done-recent": {"secret": "done-recent"},
            "dead-old": {"secret": "dead-old"},
        }
