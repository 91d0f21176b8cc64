"""One reconciliation run: read Stripe, read Odoo in batches, heal, record, report.

Memory stays bounded: Stripe is read a page at a time, and Odoo a batch of
``REVSYNC_RECONCILE_BATCH`` objects at a time with one ``search_read`` per batch
and kind of record (by the ids the cross-references name, and by the Stripe id
Odoo carries, which also finds a second record made for one Stripe object). Only
the ids already compared and the mismatches are kept for the whole run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import sentry_sdk
import structlog
from sqlalchemy import select, update

from worker.metrics import RECONCILE_MISMATCHES, RECONCILE_RUNS
from worker.reconcile.compare import (
    INVOICE,
    KINDS,
    MISSING,
    ORPHAN,
    PAYMENT,
    STATE,
    TARGETS,
    Fact,
    Mismatch,
    compare,
)
from worker.reconcile.facts import LISTS, facts_of
from worker.reconcile.heal import queue_heals
from worker.reconcile.report import write_reports
from worker.reconcile.stripe_source import StripeSource
from worker.reconcile.window import Window
from worker.runtime import Runtime
from worker.store import CrossReference, ReconcileItem, ReconcileRun, utcnow
from worker.stripe_api import stripe_api

log = structlog.get_logger(__name__)

# Moves revsync books for these Stripe objects; an orphan is one Stripe lacks.
ORPHAN_TYPES = {
    "invoice": "/v1/invoices/",
    "credit_note": "/v1/credit_notes/",
    "refund": "/v1/refunds/",
}


@dataclass
class RunResult:
    run_id: int
    window: Window
    compared: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    healed: int = 0
    exceptions: int = 0
    odoo_calls: int = 0
    stripe_calls: int = 0
    resolved: int = 0
    report_json: str | None = None
    report_csv: str | None = None
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "window": {
                "label": self.window.label,
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
            },
            "compared": dict(self.compared),
            "mismatches": {kind: self.counts.get(kind, 0) for kind in KINDS},
            "healed": self.healed,
            "exceptions": self.exceptions,
            "resolved": self.resolved,
            "odoo_calls": self.odoo_calls,
            "stripe_calls": self.stripe_calls,
            "report_json": self.report_json,
            "report_csv": self.report_csv,
        }


class _Batcher:
    """Collects facts per kind of Odoo record and compares them a batch at a time."""

    def __init__(self, runtime: Runtime, result: RunResult, size: int) -> None:
        self.runtime = runtime
        self.result = result
        self.size = size
        self.pending: dict[str, list[Fact]] = defaultdict(list)
        self.seen: set[tuple[str, str]] = set()
        # Invoices whose missing payment is already reported as their state.
        self.unpaid_invoices: set[str] = set()

    def add(self, fact: Fact) -> None:
        key = (fact.target.object_type, fact.stripe_id)
        if key in self.seen:
            return
        self.seen.add(key)
        queue = self.pending[fact.target.object_type]
        queue.append(fact)
        if len(queue) >= self.size:
            if fact.target is PAYMENT:
                # A payment is judged after its invoice, whose state may cover it.
                self.flush(INVOICE.object_type)
            self.flush(fact.target.object_type)

    def flush(self, object_type: str | None = None) -> None:
        # Invoices first: their state decides whether a payment is reported.
        order = [object_type] if object_type else list(TARGETS)
        for name in order:
            facts = self.pending.pop(name, [])
            if facts:
                self._compare(facts)

    def _compare(self, facts: list[Fact]) -> None:
        target = facts[0].target
        refs = [fact.stripe_id for fact in facts]
        with self.runtime.store.session() as session:
            xrefs = dict(
                session.execute(
                    select(CrossReference.external_id, CrossReference.odoo_id).where(
                        CrossReference.system == "stripe",
                        CrossReference.object_type == target.object_type,
                        CrossReference.external_id.in_(refs),
                    )
                ).all()
            )
        ids = sorted({int(v) for v in xrefs.values() if v})
        rows = self.runtime.odoo.search_read(
            target.model, target.domain(ids, refs), target.fields
        )
        by_id = {int(row["id"]): row for row in rows}
        by_ref: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_ref[str(row.get(target.ref_field) or "")].append(row)

        for fact in facts:
            self.result.compared[target.object_type] += 1
            linked = xrefs.get(fact.stripe_id)
            if fact.stripe_id in xrefs and not linked:
                # Booked on another record (a refund under its credit note).
                continue
            found = {int(row["id"]): row for row in by_ref.get(fact.stripe_id, [])}
            if linked and int(linked) in by_id:
                found[int(linked)] = by_id[int(linked)]
            for mismatch in compare(fact, list(found.values())):
                if mismatch.kind == MISSING and linked:
                    # The handlers would trust the cross-reference and write to a
                    # record Odoo no longer has: a person must look first.
                    mismatch.healable = False
                    mismatch.heal_type = mismatch.heal_object = None
                    mismatch.detail["linked_odoo_id"] = int(linked)
                self._record(fact, mismatch)

    def _record(self, fact: Fact, mismatch: Mismatch) -> None:
        if (
            mismatch.kind == STATE
            and mismatch.healable
            and fact.target.object_type == "invoice"
            and _names_payment(fact.heal_object)
        ):
            self.unpaid_invoices.add(fact.stripe_id)
        if (
            mismatch.kind == MISSING
            and fact.target.object_type == "payment"
            and fact.invoice in self.unpaid_invoices
        ):
            # The invoice's own re-sync (invoice.paid) books this payment too.
            return
        self.result.mismatches.append(mismatch)


def _names_payment(invoice: dict[str, Any]) -> bool:
    """Before basil an invoice names its payment, and invoice.paid books it."""
    return bool(invoice.get("payment_intent") or invoice.get("charge"))


def reconcile(
    runtime: Runtime,
    window: Window,
    *,
    stripe: StripeSource | None = None,
    heal: bool = True,
) -> RunResult:
    """Compare Stripe and Odoo over ``window`` plus every item still open."""
    settings = runtime.settings
    if stripe is None:
        api = stripe_api(settings)
        if api is None:
            raise RuntimeError("STRIPE_API_KEY is not set: nothing to reconcile with")
        stripe = StripeSource(api)
    with runtime.store.session() as session:
        run = ReconcileRun(
            started_at=utcnow(),
            window_start=window.start,
            window_end=window.end,
            status="running",
            healed=0,
            exceptions=0,
            odoo_calls=0,
            stripe_calls=0,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    log.info("reconcile.started", run_id=run_id, window=window.label)

    result = RunResult(run_id=run_id, window=window)
    client = runtime.odoo
    calls_before = client.calls
    try:
        _run(runtime, window, stripe, result)
        if heal:
            queue_heals(runtime, run_id, result.mismatches)
        result.odoo_calls = client.calls - calls_before
        result.stripe_calls = stripe.calls
        _finish(runtime, result)
    except Exception as error:
        with runtime.store.session() as session:
            session.execute(
                update(ReconcileRun)
                .where(ReconcileRun.id == run_id)
                .values(
                    status="failed",
                    finished_at=utcnow(),
                    error=f"{type(error).__name__}: {str(error)[:300]}",
                    odoo_calls=client.calls - calls_before,
                    stripe_calls=stripe.calls,
                )
            )
        RECONCILE_RUNS.labels(outcome="failed").inc()
        log.error("reconcile.failed", run_id=run_id, error=type(error).__name__)
        raise
    return result


def _run(
    runtime: Runtime, window: Window, stripe: StripeSource, result: RunResult
) -> None:
    batcher = _Batcher(runtime, result, runtime.settings.reconcile_batch)
    # Every Stripe id read, drafts included: none of them is an orphan.
    listed: set[str] = set()

    def take(obj: dict[str, Any]) -> None:
        listed.add(str(obj["id"]))
        for fact in facts_of(obj):
            batcher.add(fact)

    # Invoices first, so that an invoice's state is known before its payments.
    for path in LISTS:
        for obj in stripe.objects(path, **window.created_params):
            take(obj)
        batcher.flush()
    # Still open from before the window: an open invoice may have changed since.
    before = {"created[lt]": window.created_params["created[gte]"]}
    for obj in stripe.objects("/v1/invoices", status="open", **before):
        take(obj)
    batcher.flush()
    # What earlier runs left unresolved is read again from Stripe.
    for path in _open_item_paths(runtime):
        found = stripe.find(path)
        if found is not None:
            take(found)
    batcher.flush()

    result.mismatches.extend(_orphans(runtime, window, stripe, listed))
    result.resolved = _resolve_earlier(runtime, result, batcher.seen)


def _open_item_paths(runtime: Runtime) -> list[str]:
    with runtime.store.session() as session:
        details = session.scalars(
            select(ReconcileItem.detail).where(
                ReconcileItem.resolved_at.is_(None), ReconcileItem.kind != ORPHAN
            )
        ).all()
    return sorted({str(d["path"]) for d in details if d and d.get("path")})


def _orphans(
    runtime: Runtime,
    window: Window,
    stripe: StripeSource,
    listed: set[str],
) -> list[Mismatch]:
    """Odoo records revsync made in the window for objects Stripe does not know."""
    found: list[Mismatch] = []
    with runtime.store.session() as session:
        rows = session.execute(
            select(
                CrossReference.object_type,
                CrossReference.external_id,
                CrossReference.odoo_model,
                CrossReference.odoo_id,
            ).where(
                CrossReference.system == "stripe",
                CrossReference.object_type.in_(list(ORPHAN_TYPES)),
                CrossReference.odoo_id.is_not(None),
                CrossReference.created_at >= window.start,
                CrossReference.created_at < window.end,
            )
        ).all()
    for object_type, external_id, model, odoo_id in rows:
        if external_id in listed:
            continue
        # Listed outside the window (created earlier, booked now) is not orphaned.
        if stripe.find(ORPHAN_TYPES[object_type] + external_id) is not None:
            continue
        found.append(
            Mismatch(
                kind=ORPHAN,
                object_type=object_type,
                stripe_id=external_id,
                odoo_model=model,
                odoo_ids=[int(odoo_id or 0)],
                detail={"stripe_status": "unknown to stripe"},
                healable=False,
            )
        )
    return found


def _resolve_earlier(
    runtime: Runtime, result: RunResult, seen: set[tuple[str, str]]
) -> int:
    """Earlier items this run compared again and found in agreement are resolved."""
    still = {(m.object_type, m.stripe_id, m.kind) for m in result.mismatches}
    resolved: list[int] = []
    with runtime.store.session() as session:
        rows = session.execute(
            select(
                ReconcileItem.id,
                ReconcileItem.object_type,
                ReconcileItem.stripe_id,
                ReconcileItem.kind,
            ).where(ReconcileItem.resolved_at.is_(None), ReconcileItem.kind != ORPHAN)
        ).all()
        for item_id, object_type, stripe_id, kind in rows:
            if (object_type, stripe_id) in seen and (
                object_type,
                stripe_id,
                kind,
            ) not in still:
                resolved.append(item_id)
        for start in range(0, len(resolved), 1000):
            session.execute(
                update(ReconcileItem)
                .where(ReconcileItem.id.in_(resolved[start : start + 1000]))
                .values(resolved_at=utcnow(), resolved_by_run=result.run_id)
            )
    return len(resolved)


def _finish(runtime: Runtime, result: RunResult) -> None:
    result.counts = Counter(m.kind for m in result.mismatches)
    result.healed = sum(1 for m in result.mismatches if m.healable)
    result.exceptions = len(result.mismatches) - result.healed
    result.report_json, result.report_csv = write_reports(
        runtime.settings.report_dir, result
    )
    with runtime.store.session() as session:
        for start in range(0, len(result.mismatches), 1000):
            session.add_all(
                ReconcileItem(
                    run_id=result.run_id,
                    kind=m.kind,
                    object_type=m.object_type,
                    stripe_id=m.stripe_id,
                    odoo_model=m.odoo_model,
                    odoo_ids=m.odoo_ids,
                    detail={**m.detail, "path": m.path},
                    action=m.action,
                    inbox_id=m.inbox_id,
                )
                for m in result.mismatches[start : start + 1000]
            )
            session.flush()
        session.execute(
            update(ReconcileRun)
            .where(ReconcileRun.id == result.run_id)
            .values(
                status="done",
                finished_at=utcnow(),
                compared=dict(result.compared),
                counts={kind: result.counts.get(kind, 0) for kind in KINDS},
                healed=result.healed,
                exceptions=result.exceptions,
                odoo_calls=result.odoo_calls,
                stripe_calls=result.stripe_calls,
                report_json=result.report_json,
                report_csv=result.report_csv,
            )
        )

    RECONCILE_RUNS.labels(outcome="done").inc()
    for kind in KINDS:
        RECONCILE_MISMATCHES.labels(kind=kind).set(result.counts.get(kind, 0))
    if result.total > runtime.settings.reconcile_alert_threshold:
        # Counts only: a Sentry event must never carry customer data.
        counts = ", ".join(f"{k}={result.counts[k]}" for k in KINDS if result.counts[k])
        sentry_sdk.capture_message(
            f"reconciliation run {result.run_id} found {result.total} mismatches "
            f"({counts})",
            level="warning",
        )
    log.info(
        "reconcile.finished",
        run_id=result.run_id,
        mismatches=result.total,
        healed=result.healed,
        exceptions=result.exceptions,
        odoo_calls=result.odoo_calls,
    )
