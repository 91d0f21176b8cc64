"""Nightly reconciliation over many invoices, against one Odoo read per record.

Seeds ``--invoices`` agreeing invoices (every other one paid, so a paid invoice
is two records to compare: the invoice and its payment):

- the Odoo sandbox, in a process of its own, books them in bulk before it serves
  (``tests.reconcile.seed``: the handlers' calls, made in the sandbox process
  without the wire), then answers XML-RPC on loopback like any Odoo;
- the Stripe fake, in another process, holds them and serves its list API;
- a PostgreSQL database made for the run gets the cross-references.

Then, each in a fresh Python process:

1. batched: ``worker.reconcile.reconcile()`` over the window, as the nightly run
   does it (Odoo read ``REVSYNC_RECONCILE_BATCH`` records per ``search_read``);
2. naive: the same comparison on a sample of ``--naive-sample`` invoices with one
   Odoo ``search_read`` per record (cross-references still read once per Stripe
   page, so the difference is the Odoo round trips), extrapolated to the whole
   run from the sample and printed as such.

Figures: wall time, Odoo calls (as the sandbox counts them, login included),
and the peak memory of the reconciling process, read as its peak resident set
size (``getrusage`` ``ru_maxrss``, imports included). CPU seconds of the three
processes show where the wall time went; ``--profile`` runs the batched
reconciliation once more under cProfile and prints the functions that took
the most time of their own.

Targets: 100,000 invoices in under 60 s, peak memory under 500 MB, at most one
Odoo call per 1,000 records compared. Each is printed PASS or MISS; a MISS does
not change the exit status, a mismatch found among agreeing books does (1).

    REDIS_URL=redis://127.0.0.1:6379/14 python -m bench.reconcile [--invoices N]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import pstats
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import select, text

from bench.common import (
    ROOT,
    bench_sandbox,
    empty_redis,
    exit_on_sigterm,
    machine,
    redis_url_from_env,
    sandbox_calls,
    service_env,
    temp_database,
    verdict,
    work_dir,
)
from tests.fakes.stripe import API_KEY, FakeStripe
from tests.lifecycle.harness import write_mapping
from tests.reconcile.seed import (
    SandboxBooks,
    link_customers,
    link_invoices,
    stripe_invoice,
)
from worker.odoo.sandbox import SandboxServer
from worker.reconcile import Window, reconcile
from worker.reconcile.compare import TARGETS, compare
from worker.reconcile.facts import facts_of
from worker.reconcile.stripe_source import StripeSource
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import CrossReference, Store
from worker.stripe_api import stripe_api

WALL_TARGET = 60.0  # seconds per 100,000 invoices
MEMORY_TARGET = 500  # MB
CALLS_TARGET = 1.0  # Odoo calls per 1,000 records compared
PER = 100_000
CHUNK = 1_000  # invoices booked, served or linked at a time while seeding


def bench_invoice(n: int, now: int) -> dict[str, Any]:
    """Invoice ``n``: every other one paid, created in the last quarter hour."""
    return stripe_invoice(n, paid=n % 2 == 0, created=now - 600 - n % 500)


def invoices(start: int, stop: int, now: int) -> list[dict[str, Any]]:
    return [bench_invoice(n, now) for n in range(start, stop)]


def records_of(count: int) -> int:
    """Records compared for ``count`` invoices: each, and each paid one's payment."""
    return count + (count + 1) // 2


# -- The two servers, each in a process of its own ----------------------------------


def _serve_seeded_sandbox(count: int, now: int, replies: Any) -> None:
    started = time.perf_counter()
    sandbox = bench_sandbox()
    books = SandboxBooks(sandbox)
    partners = books.customers()
    moves: list[int] = []
    payments: dict[str, int] = {}
    for start in range(0, count, CHUNK):
        booked, paid = books.book(
            invoices(start, min(count, start + CHUNK), now), partners
        )
        moves.extend(booked)
        payments.update(paid)
    # The seeding calls were made without the wire; only the run's are counted.
    sandbox.reset_calls()
    server = SandboxServer(sandbox, host="127.0.0.1", port=0).start()
    replies.put((server.port, partners, moves, payments, time.perf_counter() - started))
    threading.Event().wait()


def _serve_stripe(count: int, now: int, replies: Any) -> None:
    started = time.perf_counter()
    fake = FakeStripe()
    # The fake writes an answer's headers and body apart; on a kept-alive
    # connection Nagle's algorithm then holds the body until the client's delayed
    # ACK, about 40 ms a page that is neither Stripe's cost nor revsync's.
    # Accepted connections inherit TCP_NODELAY from the listening socket.
    fake.server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for start in range(0, count, CHUNK):
        fake.add(*invoices(start, min(count, start + CHUNK), now))
    fake.collections["invoices"].ordered()
    replies.put((fake.url, time.perf_counter() - started))
    threading.Event().wait()


@dataclass
class Servers:
    odoo_url: str
    stripe_url: str
    odoo_pid: int
    stripe_pid: int
    partners: dict[str, int]
    moves: list[int]
    payments: dict[str, int]
    odoo_seconds: float
    stripe_seconds: float


@contextmanager
def servers(count: int, now: int) -> Iterator[Servers]:
    """The seeded sandbox and Stripe fake, forked before the run opens anything."""
    context = multiprocessing.get_context("fork")
    odoo_replies = context.Queue()
    stripe_replies = context.Queue()
    odoo = context.Process(
        target=_serve_seeded_sandbox, args=(count, now, odoo_replies), daemon=True
    )
    stripe = context.Process(
        target=_serve_stripe, args=(count, now, stripe_replies), daemon=True
    )
    odoo.start()
    stripe.start()
    try:
        stripe_url, stripe_seconds = stripe_replies.get(timeout=600)
        port, partners, moves, payments, odoo_seconds = odoo_replies.get(timeout=1800)
        assert odoo.pid is not None and stripe.pid is not None
        yield Servers(
            odoo_url=f"http://127.0.0.1:{port}",
            stripe_url=stripe_url,
            odoo_pid=odoo.pid,
            stripe_pid=stripe.pid,
            partners=partners,
            moves=moves,
            payments=payments,
            odoo_seconds=odoo_seconds,
            stripe_seconds=stripe_seconds,
        )
    finally:
        for process in (odoo, stripe):
            process.terminate()
            process.join(10)


def link_all(store: Store, count: int, now: int, seeded: Servers) -> None:
    accounts = link_customers(store, seeded.partners)
    for start in range(0, count, CHUNK):
        stop = min(count, start + CHUNK)
        chunk = invoices(start, stop, now)
        paid = {
            i["id"]: seeded.payments[i["id"]]
            for i in chunk
            if i["id"] in seeded.payments
        }
        link_invoices(store, chunk, seeded.moves[start:stop], paid, accounts)
    # Statistics, as autovacuum gathers them soon after any bulk load. Without
    # them the planner expects a handful of rows and looks each page's ids up by
    # scanning every invoice cross-reference.
    with store.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


# -- What runs in the measured process ---------------------------------------------


def _naive(runtime: Runtime, window: Window, sample: int) -> dict[str, Any]:
    """The same comparison, one Odoo ``search_read`` per record compared."""
    api = stripe_api(runtime.settings)
    assert api is not None
    stripe = StripeSource(api)
    client = runtime.odoo
    figures = {"invoices": 0, "records": 0, "mismatches": 0}

    def compare_page(page: list[dict[str, Any]]) -> None:
        facts = [fact for obj in page for fact in facts_of(obj)]
        with runtime.store.session() as session:
            xrefs = {
                (object_type, external_id): odoo_id
                for object_type, external_id, odoo_id in session.execute(
                    select(
                        CrossReference.object_type,
                        CrossReference.external_id,
                        CrossReference.odoo_id,
                    ).where(
                        CrossReference.system == "stripe",
                        CrossReference.object_type.in_(list(TARGETS)),
                        CrossReference.external_id.in_([f.stripe_id for f in facts]),
                    )
                )
            }
        for fact in facts:
            target = fact.target
            linked = xrefs.get((target.object_type, fact.stripe_id))
            ids = [int(linked)] if linked else []
            rows = client.search_read(
                target.model, target.domain(ids, [fact.stripe_id]), target.fields
            )
            figures["records"] += 1
            figures["mismatches"] += len(compare(fact, rows))

    page: list[dict[str, Any]] = []
    for obj in stripe.objects("/v1/invoices", **window.created_params):
        page.append(obj)
        figures["invoices"] += 1
        if len(page) == 100 or figures["invoices"] >= sample:
            compare_page(page)
            page = []
        if figures["invoices"] >= sample:
            break
    if page:
        compare_page(page)
    figures["stripe_calls"] = stripe.calls
    return figures


def _measure(args: argparse.Namespace) -> dict[str, Any]:
    """One measured run in this process; what the parent prints comes from here."""
    settings = Settings()
    runtime = Runtime(settings)
    window = Window(
        datetime.fromtimestamp(args.window[0], UTC),
        datetime.fromtimestamp(args.window[1], UTC),
        "bench",
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    started = time.perf_counter()
    figures: dict[str, Any]
    if args.child == "naive":
        figures = _naive(runtime, window, args.naive_sample)
    else:
        profiler = cProfile.Profile() if args.profile_to else None
        if profiler is not None:
            profiler.enable()
        result = reconcile(runtime, window)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile_to)
        figures = {
            "invoices": result.compared["invoice"],
            "records": sum(result.compared.values()),
            "mismatches": result.total,
            "stripe_calls": result.stripe_calls,
            "client_calls": result.odoo_calls,
            "batch": settings.reconcile_batch,
        }
    figures["wall"] = time.perf_counter() - started
    figures["cpu"] = time.process_time() - cpu_before
    # ru_maxrss is in kilobytes on Linux.
    figures["rss_before_mb"] = rss_before / 1024
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runtime.store.dispose()
    return figures


# -- The parent: seed, measure in fresh processes, print -----------------------------


@dataclass
class Measured:
    figures: dict[str, Any]
    odoo_calls: int
    odoo_cpu: float
    stripe_cpu: float


def measure(
    kind: str,
    env: dict[str, str],
    window: tuple[int, int],
    seeded: Servers,
    out: Path,
    *,
    sample: int = 0,
    profile_to: Path | None = None,
) -> Measured:
    result_path = out / f"{kind}-{time.monotonic_ns()}.json"
    argv = [
        sys.executable,
        "-m",
        "bench.reconcile",
        "--child",
        kind,
        "--result-to",
        str(result_path),
        "--window",
        str(window[0]),
        str(window[1]),
        "--naive-sample",
        str(sample),
    ]
    if profile_to is not None:
        argv += ["--profile-to", str(profile_to)]
    odoo, stripe = psutil.Process(seeded.odoo_pid), psutil.Process(seeded.stripe_pid)
    calls_before = sum(sandbox_calls(seeded.odoo_url).values())
    odoo_cpu, stripe_cpu = _cpu(odoo), _cpu(stripe)
    completed = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the {kind} run exited with {completed.returncode}:\n"
            + (completed.stdout + completed.stderr)[-4000:]
        )
    return Measured(
        figures=json.loads(result_path.read_text()),
        odoo_calls=sum(sandbox_calls(seeded.odoo_url).values()) - calls_before,
        odoo_cpu=_cpu(odoo) - odoo_cpu,
        stripe_cpu=_cpu(stripe) - stripe_cpu,
    )


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def profile_lines(path: Path, top: int) -> list[str]:
    buffer = StringIO()
    stats = pstats.Stats(str(path), stream=buffer)
    stats.sort_stats("tottime").print_stats(top)
    lines = buffer.getvalue().splitlines()
    start = next(
        (n for n, line in enumerate(lines) if line.strip().startswith("ncalls")), 0
    )
    return [line for line in lines[start:] if line.strip()]


def report(
    count: int,
    batched: Measured,
    naive: Measured,
    seeded: Servers,
    link_seconds: float,
) -> bool:
    """Print the figures; True when the batched run found no mismatch."""
    b, n = batched.figures, naive.figures
    records = int(b["records"])
    print(
        f"seeded: Odoo sandbox {seeded.odoo_seconds:.1f} s (booked in its own "
        f"process, no wire), Stripe fake {seeded.stripe_seconds:.1f} s, "
        f"cross-references {link_seconds:.1f} s"
    )
    print()
    print(
        "batched: worker.reconcile.reconcile(), REVSYNC_RECONCILE_BATCH="
        f"{b['batch']}, "
        "in a fresh process"
    )
    print(
        f"  compared             {b['invoices']:,} invoices, {records:,} records "
        f"(invoices and payments), {b['mismatches']} mismatches"
    )
    per_100k = b["wall"] * PER / max(count, 1)
    scaled = "" if count == PER else f", {per_100k:.1f} s per 100,000 (linear)"
    print(
        f"  wall time            {b['wall']:.1f} s{scaled}  "
        f"(target under {WALL_TARGET:.0f} s per 100,000)  "
        f"{verdict(per_100k < WALL_TARGET)}"
    )
    per_1000 = batched.odoo_calls * 1000 / max(records, 1)
    print(
        f"  Odoo calls           {batched.odoo_calls} ({per_1000:.2f} per 1,000 "
        f"records, {batched.odoo_calls * 1000 / max(count, 1):.2f} per 1,000 "
        f"invoices; login included)  (target at most {CALLS_TARGET:.0f} per 1,000 "
        f"records)  {verdict(per_1000 <= CALLS_TARGET)}"
    )
    print(
        f"  peak memory          {b['peak_rss_mb']:.0f} MB peak RSS of the "
        f"reconciling process (ru_maxrss; {b['rss_before_mb']:.0f} MB before the "
        f"run)  (target under {MEMORY_TARGET} MB)  "
        f"{verdict(b['peak_rss_mb'] < MEMORY_TARGET)}"
    )
    print(f"  Stripe requests      {b['stripe_calls']:,}")
    print(
        f"  CPU seconds          reconciling process {b['cpu']:.1f}, Odoo sandbox "
        f"{batched.odoo_cpu:.1f}, Stripe fake {batched.stripe_cpu:.1f}"
    )
    print()
    sample = int(n["invoices"])
    factor = count / max(sample, 1)
    naive_wall = n["wall"] * factor
    naive_calls = round(naive.odoo_calls * factor)
    batched_calls = batched.odoo_calls
    print(
        f"naive: one Odoo search_read per record, measured on {sample:,} invoices "
        f"({n['records']:,} records) in this run"
    )
    print(
        f"  measured             {n['wall']:.1f} s, {naive.odoo_calls:,} Odoo calls, "
        f"{n['mismatches']} mismatches, peak RSS {n['peak_rss_mb']:.0f} MB"
    )
    print(
        f"  CPU seconds          reconciling process {n['cpu']:.1f}, Odoo sandbox "
        f"{naive.odoo_cpu:.1f}, Stripe fake {naive.stripe_cpu:.1f}"
    )
    print(
        f"  EXTRAPOLATED to {count:,} invoices from {sample:,}: "
        f"{naive_wall:.1f} s, {naive_calls:,} Odoo calls"
    )
    print()
    print(
        f"naive / batched: wall time {naive_wall / max(b['wall'], 1e-9):.1f}x, "
        f"Odoo calls {naive_calls / max(batched_calls, 1):.0f}x "
        f"(naive extrapolated from {sample:,} invoices)"
    )
    agree = b["mismatches"] == 0 and n["mismatches"] == 0
    if not agree:
        print("ERROR: mismatches found in books seeded to agree")
    if b["invoices"] != count:
        print(f"ERROR: compared {b['invoices']} invoices, seeded {count}")
    return agree and b["invoices"] == count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile")
    parser.add_argument("--invoices", type=int, default=PER)
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=2_000,
        help="invoices the naive comparison is measured on (then extrapolated)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile a third run")
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument("--redis-url", default=redis_url_from_env())
    # What the parent passes to the measured process.
    parser.add_argument("--child", choices=("batched", "naive"), help=argparse.SUPPRESS)
    parser.add_argument("--result-to", help=argparse.SUPPRESS)
    parser.add_argument("--window", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        Path(args.result_to).write_text(json.dumps(_measure(args)))
        return 0
    if args.invoices < 1 or args.naive_sample < 1:
        parser.error("--invoices and --naive-sample must be at least 1")

    exit_on_sigterm()
    count = args.invoices
    sample = min(args.naive_sample, count)
    now = int(time.time())
    window = (now - 3 * 3600, now + 3600)
    out = work_dir("reconcile")
    print(f"Reconciliation of {count:,} invoices ({records_of(count):,} records)")
    print(f"machine: {machine()}")
    with (
        servers(count, now) as seeded,
        temp_database() as database_url,
        empty_redis(args.redis_url) as redis_url,
    ):
        store = Store(database_url)
        store.upgrade()
        started = time.perf_counter()
        link_all(store, count, now, seeded)
        link_seconds = time.perf_counter() - started
        store.dispose()
        env = {
            **service_env(
                database_url=database_url,
                redis_url=redis_url,
                odoo_url=seeded.odoo_url,
                mapping_path=write_mapping(out),
            ),
            "STRIPE_API_KEY": API_KEY,
            "STRIPE_API_BASE": seeded.stripe_url,
            "REVSYNC_REPORT_DIR": str(out / "reports"),
        }
        batched = measure("batched", env, window, seeded, out)
        naive = measure("naive", env, window, seeded, out, sample=sample)
        ok = report(count, batched, naive, seeded, link_seconds)
        if args.profile:
            path = out / "reconcile.prof"
            profiled = measure("batched", env, window, seeded, out, profile_to=path)
            print()
            print(
                f"cProfile of a third batched run ({profiled.figures['wall']:.1f} s "
                f"under the profiler; Odoo sandbox CPU {profiled.odoo_cpu:.1f} s, "
                f"Stripe fake CPU {profiled.stripe_cpu:.1f} s, not profiled), "
                f"by own time; full profile in {path}"
            )
            for line in profile_lines(path, args.profile_top):
                print(f"  {line}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
