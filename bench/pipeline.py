"""Events end to end: receiver, Redis, two worker processes, the Odoo sandbox.

Starts the receiver under gunicorn, a Celery worker with two prefork processes on
every queue, Celery Beat (the sweeper) and the Odoo sandbox, each a process of its
own, on a PostgreSQL database made for the run. Customer lifecycles told by
``StripeStory`` (sign-up, trial, invoices, a failed payment, a plan change, a
refund, churn; both payload shapes) are posted signed, customers interleaved so
that each customer's events arrive in order, as Stripe mostly sends them.

It prints:

* events a second end to end (first received to last applied) for ``--events``
  events posted as fast as the receiver takes them, and the p50/p99 latency from
  the inbox row's ``received_at`` to its ``done_at`` (under a flood it is mostly
  time spent queued);
* Odoo calls per event, by model and method from the sandbox's counters, against
  the budget ``bench/rpc_budget.py`` declares for the same mix of event types, and
  Odoo writes per event by type from the audit log (the workers run side by side,
  so the sandbox cannot tell which event a call was for; ``rpc_budget`` counts
  calls per type one event at a time);
* the peak resident memory of the worker's main process and of each child;
* head of line: other customers' events at half the measured throughput, first
  alone, then behind a hot customer's ``--hot-events`` already queued, then while
  another hot customer's events arrive at once; PASS when their p99 latency stays
  within twice the baseline (plus one lock wait, which a busy account may cost
  any event), i.e. a hot account does not slow the others. The last case also
  measures the receiver taking the two cores from the workers while it stores
  the burst; it is judged and printed on its own line.

    REDIS_URL=redis://127.0.0.1:6379/14 python -m bench.pipeline [--events 10000]

Exits 1 when an event did not end applied (done or skipped) or a post failed; a
missed target is printed as MISS and does not change the exit status.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import func, select

from bench.common import (
    GunicornSettings,
    LoadPlan,
    empty_redis,
    exit_on_sigterm,
    gunicorn,
    load_generator,
    machine,
    odoo_sandbox,
    percentile,
    redis_url_from_env,
    sandbox_calls,
    service,
    service_env,
    temp_database,
    verdict,
    wait_until,
    work_dir,
)
from bench.rpc_budget import BUDGET, DEFAULT_BUDGET
from tests.lifecycle.harness import write_mapping
from worker.scenarios import StripeStory
from worker.store import AuditEntry, InboxEvent, InboxStatus, Store

Event = dict[str, Any]
# How much slower other customers' p99 may get while a hot customer is busy.
HOT_FACTOR = 2.0
# Seconds without a single event being applied before the run is declared stuck.
STALL_TIMEOUT = 120.0


def customer_story(prefix: str, number: int) -> list[Event]:
    """One customer's lifecycle, about twenty-five events."""
    story = StripeStory(
        customer_id=f"cus_{prefix}{number}",
        shape="basil" if number % 2 else "legacy",
        currency="usd",
        prefix=f"{prefix}{number}",
    )
    story.customer_created(f"Customer {number}", f"ap{number}@bench.example", "US")
    sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900, 1, True)
    story.trial_will_end(sub)
    story.activate(sub)
    first = story.invoice(sub)
    story.finalize(first)
    story.pay(first)
    story.change_plan(sub, quantity=2, unit_amount=4900)
    second = story.invoice(sub)
    story.finalize(second)
    story.fail_payment(second)
    paid = story.pay(second)
    story.refund(paid, amount=1000)
    story.cancel(sub)
    return story.events


def hot_story(prefix: str, count: int) -> list[Event]:
    """One big customer billed again and again: ``count`` events, in order."""
    story = StripeStory(
        customer_id=f"cus_{prefix}", shape="basil", currency="usd", prefix=prefix
    )
    story.customer_created("Hot Customer", "ap@hot.example", "US")
    sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900, 1)
    while len(story.events) < count:
        invoice = story.invoice(sub)
        story.finalize(invoice)
        story.pay(invoice)
    return story.events[:count]


def interleaved(prefix: str, count: int) -> list[Event]:
    """``count`` events of as many customers as it takes, customers interleaved."""
    stories: list[list[Event]] = []
    total = 0
    while total < count:
        events = customer_story(prefix, len(stories))[: count - total]
        stories.append(events)
        total += len(events)
    longest = max((len(events) for events in stories), default=0)
    return [
        events[step]
        for step in range(longest)
        for events in stories
        if step < len(events)
    ]


def bodies(events: list[Event]) -> list[bytes]:
    return [json.dumps(event).encode() for event in events]


@dataclass
class Outcome:
    """Where a group of events ended and how long each took to reach Odoo."""

    statuses: Counter[str]
    latencies: list[float]
    first_received: datetime | None
    last_done: datetime | None

    @property
    def span(self) -> float:
        if self.first_received is None or self.last_done is None:
            return 0.0
        return (self.last_done - self.first_received).total_seconds()

    def latency_line(self) -> str:
        p50 = percentile(self.latencies, 0.5)
        p99 = percentile(self.latencies, 0.99)
        return f"p50 {p50:7.2f} s  p99 {p99:7.2f} s"


class Inbox:
    """Reads the benchmark's events back from the inbox."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def count(self, statuses: tuple[str, ...]) -> int:
        with self.store.session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(InboxEvent)
                    .where(InboxEvent.status.in_(statuses))
                )
                or 0
            )

    def wait_applied(self, expected: int) -> None:
        """Wait until ``expected`` rows exist and none is pending; fail on a stall."""
        progress = {"settled": -1, "since": time.monotonic()}

        def applied() -> bool:
            settled = self.count(tuple(set(InboxStatus.ALL) - set(InboxStatus.PENDING)))
            if settled != progress["settled"]:
                progress.update(settled=settled, since=time.monotonic())
            elif time.monotonic() - progress["since"] > STALL_TIMEOUT:
                raise TimeoutError(
                    f"no event applied for {STALL_TIMEOUT:.0f} s; "
                    f"{settled} of {expected} settled"
                )
            return settled >= expected and not self.count(InboxStatus.PENDING)

        wait_until(applied, float("inf"), "the events to be applied", every=0.25)

    def outcome(self, event_ids: set[str]) -> Outcome:
        with self.store.session() as session:
            rows = session.execute(
                select(
                    InboxEvent.event_id,
                    InboxEvent.status,
                    InboxEvent.received_at,
                    InboxEvent.done_at,
                )
            ).all()
        mine = [row for row in rows if row.event_id in event_ids]
        statuses = Counter(row.status for row in mine)
        done = [row for row in mine if row.status == InboxStatus.DONE and row.done_at]
        return Outcome(
            statuses=statuses,
            latencies=[(row.done_at - row.received_at).total_seconds() for row in done],
            first_received=min((row.received_at for row in mine), default=None),
            last_done=max((row.done_at for row in done), default=None),
        )

    def odoo_writes(self, event_ids: set[str]) -> dict[str, list[int]]:
        """Odoo writes each event made (from the audit log), by event type."""
        with self.store.session() as session:
            rows = session.execute(
                select(InboxEvent.event_id, InboxEvent.type, func.count(AuditEntry.id))
                .outerjoin(
                    AuditEntry,
                    (AuditEntry.inbox_id == InboxEvent.id)
                    & (AuditEntry.system == "odoo"),
                )
                .where(InboxEvent.status == InboxStatus.DONE)
                .group_by(InboxEvent.id)
            ).all()
        writes: dict[str, list[int]] = {}
        for event_id, event_type, count in rows:
            if event_id in event_ids:
                writes.setdefault(event_type, []).append(count)
        return writes

    def skip_reasons(self, event_ids: set[str]) -> Counter[str]:
        with self.store.session() as session:
            rows = session.execute(
                select(InboxEvent.event_id, InboxEvent.type, InboxEvent.reason).where(
                    InboxEvent.status == InboxStatus.SKIPPED
                )
            ).all()
        return Counter(
            f"{event_type}: {reason}"
            for event_id, event_type, reason in rows
            if event_id in event_ids
        )

    def failures(self) -> list[tuple[str, str, str | None]]:
        with self.store.session() as session:
            return [
                (row.type, row.status, row.reason)
                for row in session.scalars(
                    select(InboxEvent).where(
                        InboxEvent.status.notin_(InboxStatus.FINAL)
                    )
                )
            ]


class MemorySampler:
    """Peak resident memory of a process and its children, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.peaks: dict[int, int] = {}
        self.roles: dict[int, str] = {}
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                family = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                return
            for process in family:
                try:
                    rss = process.memory_info().rss
                except psutil.Error:
                    continue
                self.peaks[process.pid] = max(self.peaks.get(process.pid, 0), rss)
                self.roles.setdefault(
                    process.pid, "main" if process.pid == self.root.pid else "child"
                )
            self._stop.wait(self._every)

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        parts = [
            f"{self.roles[pid]} {self.peaks[pid] / 2**20:.0f} MB"
            for pid in sorted(self.peaks, key=lambda pid: self.roles[pid] != "main")
        ]
        return ", ".join(parts)


@contextmanager
def revsync_processes(
    database_url: str,
    redis_url: str,
    odoo_url: str,
    directory: Path,
    receiver: GunicornSettings,
) -> Iterator[tuple[str, int]]:
    """Worker, Beat and receiver; yields the receiver's URL and the worker's pid."""
    env = service_env(
        database_url=database_url,
        redis_url=redis_url,
        odoo_url=odoo_url,
        mapping_path=write_mapping(directory),
        metrics_dir=directory,
    )
    celery = [sys.executable, "-m", "celery", "-A", "worker"]
    worker_argv = [
        *celery,
        "worker",
        "-Q",
        "realtime,default,bulk,reconcile",
        "-c",
        "2",
        "-P",
        "prefork",
        "--without-gossip",
        "--without-mingle",
        "-n",
        f"bench-{directory.name}@%h",
    ]
    beat_argv = [*celery, "beat", "-s", str(directory / "beat-schedule")]
    # The worker and Beat start while gunicorn boots; the warm-up event waits.
    with (
        service("worker", worker_argv, env, directory) as worker,
        service("beat", beat_argv, env, directory),
        gunicorn(
            "receiver", "webhooks:create_app()", env, directory, receiver
        ) as receiver_url,
    ):
        yield receiver_url, worker.process.pid


def post(url: str, events: list[Event], *, rate: float | None = None) -> LoadPlan:
    return LoadPlan(url=url, connections=8, bodies=bodies(events), rate=rate)


def writes_table(writes: dict[str, list[int]]) -> list[str]:
    """Odoo writes per event type next to the type's call budget.

    A write is a call, so a type whose writes exceed its budget on average is over
    it for certain. The maximum may exceed it without that: an event that overtook
    its predecessors creates their records (the customer of an invoice) first.
    """
    lines = [
        f"    {'event type':<40} {'events':>6} {'writes max':>10} {'mean':>5}"
        f" {'call budget':>11}"
    ]
    for event_type in sorted(writes):
        counts = writes[event_type]
        budget = BUDGET.get(event_type, DEFAULT_BUDGET)[0]
        mean = sum(counts) / len(counts)
        flag = "" if mean <= budget else "  OVER"
        lines.append(
            f"    {event_type:<40} {len(counts):>6} {max(counts):>10} "
            f"{mean:>5.2f} {budget:>11}{flag}"
        )
    return lines


def odoo_line(calls: Counter[str], events: list[Event]) -> tuple[str, bool]:
    """Calls per event by model and method, and whether the mix is within budget."""
    objects = Counter(
        {
            name: n
            for name, n in calls.items()
            if name.split(".")[0] not in ("common", "db")
        }
    )
    spent = sum(objects.values()) / len(events)
    budget = sum(BUDGET.get(e["type"], DEFAULT_BUDGET)[0] for e in events) / len(events)
    detail = ", ".join(
        f"{name} {n / len(events):.2f}" for name, n in objects.most_common(8)
    )
    line = (
        f"  Odoo calls per event: {spent:.2f} (budget for this mix {budget:.2f})  "
        f"{verdict(spent <= budget)}\n    by call: {detail}"
    )
    return line, spent <= budget


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--hot-events", type=int, default=1_000)
    parser.add_argument(
        "--others", type=int, default=None, help="other customers' events per phase"
    )
    parser.add_argument("--receiver-workers", type=int, default=4)
    parser.add_argument("--redis-url", default=redis_url_from_env())
    args = parser.parse_args(argv)
    exit_on_sigterm()
    server = GunicornSettings(workers=args.receiver_workers)
    others = args.others if args.others is not None else max(args.hot_events // 2, 10)

    print(f"pipeline benchmark: {machine()}")
    print(
        f"  receiver under {server.describe()}, Celery worker -c 2 (prefork), Beat, "
        "Odoo sandbox; "
        f"{args.events} events, then {args.hot_events} for a hot customer"
    )
    directory = work_dir("pipeline")
    main_events = interleaved("m", args.events)
    warm = customer_story("warm", 0)[:1]
    alone = interleaved("a", others)
    beside = interleaved("b", others)
    behind = interleaved("q", others)
    backlog = hot_story("hotq", args.hot_events)
    hot = hot_story("hot", args.hot_events)
    failed_posts = 0

    with (
        load_generator() as loads,
        odoo_sandbox() as odoo_url,
        temp_database() as database_url,
        empty_redis(args.redis_url) as redis_url,
    ):
        store = Store(database_url)
        store.upgrade()
        inbox = Inbox(store)
        with revsync_processes(
            database_url, redis_url, odoo_url, directory, server
        ) as (receiver, worker_pid):
            # One event through the whole path: the worker is up and logged in.
            (warmed,) = loads.run(post(receiver, warm))
            failed_posts += warmed.failures
            inbox.wait_applied(1)
            memory = MemorySampler(worker_pid)
            calls_before = sandbox_calls(odoo_url)

            (flood,) = loads.run(post(receiver, main_events))
            failed_posts += flood.failures
            inbox.wait_applied(1 + len(main_events))
            calls = sandbox_calls(odoo_url) - calls_before
            main = inbox.outcome({event["id"] for event in main_events})
            throughput = len(main_events) / main.span if main.span else 0.0

            # Other customers at half the throughput, alone and then beside the
            # hot customer's events, which all arrive at once.
            rate = max(throughput / 2, 1.0)
            (paced,) = loads.run(post(receiver, alone, rate=rate))
            failed_posts += paced.failures
            applied = 1 + len(main_events) + len(alone)
            inbox.wait_applied(applied)
            # A hot customer's backlog queued ahead of everyone else's events.
            (queued,) = loads.run(post(receiver, backlog))
            (paced_behind,) = loads.run(post(receiver, behind, rate=rate))
            failed_posts += queued.failures + paced_behind.failures
            applied += len(backlog) + len(behind)
            inbox.wait_applied(applied)
            # A hot customer's burst arriving while the others keep coming.
            arrivals = loads.run(post(receiver, hot), post(receiver, beside, rate=rate))
            for result in arrivals:
                failed_posts += result.failures
            applied += len(hot) + len(beside)
            inbox.wait_applied(applied)
            peak_memory = memory.stop()

        baseline = inbox.outcome({event["id"] for event in alone})
        queued_behind = inbox.outcome({event["id"] for event in behind})
        backlog_outcome = inbox.outcome({event["id"] for event in backlog})
        crowded = inbox.outcome({event["id"] for event in beside})
        hot_outcome = inbox.outcome({event["id"] for event in hot})
        failures = inbox.failures()
        main_ids = {event["id"] for event in main_events}
        writes = inbox.odoo_writes(main_ids)
        skipped = inbox.skip_reasons(main_ids)

    print(
        f"  posted {len(main_events)} events at {flood.per_second:.0f} req/s; "
        f"applied in {main.span:.1f} s"
    )
    print(f"  end to end: {throughput:.1f} events/s")
    print(f"  event-to-Odoo latency (received -> done): {main.latency_line()}")
    print("  statuses: " + ", ".join(f"{s} {n}" for s, n in main.statuses.items()))
    for reason, count in skipped.most_common(6):
        print(f"    skipped {count:>5}  {reason}")
    line, _ = odoo_line(calls, main_events)
    print(line)
    print("  Odoo writes per event by type (audit log), next to the call budget:")
    print("\n".join(writes_table(writes)))
    print(f"  worker peak memory (RSS): {peak_memory}")

    limit = HOT_FACTOR * percentile(baseline.latencies, 0.99) + 0.5
    behind_p99 = percentile(queued_behind.latencies, 0.99)
    crowded_p99 = percentile(crowded.latencies, 0.99)
    arrival = arrivals[0].elapsed
    print(f"  head of line, other customers at {rate:.1f} events/s:")
    rows = [
        ("alone", baseline),
        (f"behind {len(backlog)} queued hot events", queued_behind),
        ("  the queued hot customer", backlog_outcome),
        (f"while {len(hot)} hot events arrive", crowded),
        ("  the arriving hot customer", hot_outcome),
    ]
    for label, outcome in rows:
        print(f"    {label:<36}{outcome.latency_line()}")
    print(
        f"  a hot account's backlog does not slow other accounts: p99 "
        f"{behind_p99:.2f} s (limit {limit:.2f} s = {HOT_FACTOR:g} x alone + 0.5 s)"
        f"  {verdict(behind_p99 <= limit)}"
    )
    print(
        f"  nor does its burst while the receiver stores it ({arrival:.1f} s of "
        f"posting on the same cores): p99 {crowded_p99:.2f} s  "
        f"{verdict(crowded_p99 <= limit)}"
    )

    if failures or failed_posts:
        print(f"FAILED: {failed_posts} posts not answered 200; not applied:")
        for event_type, status, why in failures[:20]:
            print(f"    {event_type} {status}: {why}")
        print(f"  logs in {directory}")
        return 1
    print(f"  all {applied} events applied (done or skipped)")
    shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
