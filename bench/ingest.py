"""How fast the receiver takes webhooks, against a bare endpoint on the same server.

Serves, one after the other and under the same gunicorn settings, a Flask endpoint
that only reads the body and answers 200, then the receiver itself
(``webhooks:create_app()``: verify the signature, INSERT into the inbox in a
PostgreSQL database made for the run, COMMIT, enqueue to Redis). A load generator in
a process of its own sends signed Stripe ``invoice.finalized`` events (about 3.5 KB,
each with its own event id) on a new connection per request, as gunicorn's sync
workers close each one. Three phases:

1. the bare endpoint, as fast as it answers (closed loop): the baseline;
2. the receiver, the same way: throughput and latency as a ratio of the baseline;
3. the receiver at a fixed 200 requests a second (open loop): p99 latency.

Targets: the receiver's throughput at least half the bare endpoint's, and p99 under
50 ms at 200 requests a second on two cores. The machine and its load average are
printed first: compare ratios taken in one run, not figures across machines.

    REDIS_URL=redis://127.0.0.1:6379/14 python -m bench.ingest [--duration 10]
        [--profile 1000]   # then where a delivery's time goes, in process

Exits 1 when a request failed or an accepted event is missing from the inbox; a
missed speed target is printed as MISS and does not change the exit status.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import time
from unittest import mock

from flask import Flask, Response, jsonify, request
from sqlalchemy import func, select

from bench.common import (
    STRIPE_SECRET,
    GunicornSettings,
    LoadPlan,
    LoadResult,
    empty_redis,
    exit_on_sigterm,
    gunicorn,
    load_generator,
    machine,
    percentile,
    redis_url_from_env,
    service_env,
    temp_database,
    verdict,
    work_dir,
)
from worker.scenarios import StripeStory
from worker.store import InboxEvent, Store
from worker.stripe_signing import sign

MARK = "@@EVENT@@"
THROUGHPUT_TARGET = 0.5
P99_TARGET = 0.050


def bare_app() -> Flask:
    """The baseline: reads the body and answers 200, as the receiver's route does."""
    app = Flask(__name__)

    @app.post("/webhooks/<source>")
    def receive(source: str) -> tuple[Response, int]:
        request.get_data(cache=False)
        return jsonify(accepted=1, duplicates=0), 200

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        return jsonify(status="ok"), 200

    return app


def event_template(run: str) -> tuple[bytes, bytes]:
    """A signed-at-send-time ``invoice.finalized`` event split around its id."""
    story = StripeStory(
        customer_id="cus_ingest", shape="basil", currency="usd", prefix="ingest"
    )
    story.customer_created("Ingest Bench Co", "ap@ingest.example", "US")
    sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900, 1, False)
    story.finalize(story.invoice(sub))
    event = story.events[-1]
    event["id"] = f"evt_ingest_{run}_{MARK}"
    head, tail = json.dumps(event).encode().split(MARK.encode())
    return head, tail


def print_phase(name: str, result: LoadResult) -> None:
    print(f"  {name:<34}{result.line()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds/phase")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rate-duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--redis-url", default=redis_url_from_env())
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="then profile N deliveries to the receiver in process (no HTTP)",
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()
    server = GunicornSettings(workers=args.workers)

    print(f"ingest benchmark: {machine()}")
    print(
        f"  {server.describe()}; {args.connections} connections, a new one per "
        f"request; {args.duration:g} s per phase after {args.warmup:g} s warm-up"
    )
    directory = work_dir("ingest")
    with (
        load_generator() as loads,
        temp_database() as database_url,
        empty_redis(args.redis_url) as redis_url,
    ):
        Store(database_url).upgrade()
        env = service_env(
            database_url=database_url,
            redis_url=redis_url,
            metrics_dir=directory,
        )

        with gunicorn("bare", "bench.ingest:bare_app()", env, directory, server) as url:
            (bare,) = loads.run(
                LoadPlan(
                    url=url,
                    connections=args.connections,
                    duration=args.duration,
                    warmup=args.warmup,
                    template=event_template("bare"),
                )
            )
        with gunicorn(
            "receiver", "webhooks:create_app()", env, directory, server
        ) as url:
            (receiver,) = loads.run(
                LoadPlan(
                    url=url,
                    connections=args.connections,
                    duration=args.duration,
                    warmup=args.warmup,
                    template=event_template("flat"),
                )
            )
            (steady,) = loads.run(
                LoadPlan(
                    url=url,
                    connections=max(args.connections, 32),
                    duration=args.rate_duration,
                    warmup=1.0,
                    rate=args.rate,
                    template=event_template("rate"),
                )
            )

        with Store(database_url).session() as session:
            stored = session.scalar(select(func.count()).select_from(InboxEvent)) or 0
        profile = profile_receiver(env, args.profile) if args.profile else []

    print_phase("bare endpoint, as fast as it can", bare)
    print_phase("receiver, as fast as it can", receiver)
    print_phase(f"receiver at {args.rate:g} req/s", steady)
    # One Python process uses at most one core; well below it, the generator spent
    # its time waiting for answers, so the server was the limit.
    print(
        f"  load generator: {bare.generator_load:.0%} of one core while the bare "
        f"endpoint ran ({_micros(bare)} µs a request): "
        + ("not the limit" if bare.generator_load < 0.8 else "MAY BE THE LIMIT")
    )

    ratio = receiver.per_second / bare.per_second if bare.per_second else 0.0
    p99 = percentile(steady.latencies, 0.99)
    print(
        f"  receiver throughput / bare endpoint: {ratio:.2f} "
        f"(target at least {THROUGHPUT_TARGET:.2f})  "
        + verdict(ratio >= THROUGHPUT_TARGET)
    )
    print(
        f"  receiver p99 at {args.rate:g} req/s: {p99 * 1e3:.1f} ms "
        f"(target under {P99_TARGET * 1e3:.0f} ms)  {verdict(p99 < P99_TARGET)}"
    )
    accepted = receiver.statuses[200] + steady.statuses[200]
    print(f"  inbox rows: {stored} for {accepted} accepted deliveries (and warm-up)")
    print("\n".join(profile))

    broken = bare.failures + receiver.failures + steady.failures
    if broken:
        print(f"FAILED: {broken} requests were not answered 200; logs in {directory}")
        return 1
    if stored < accepted:
        print(f"FAILED: {accepted - stored} accepted events are not in the inbox")
        return 1
    shutil.rmtree(directory, ignore_errors=True)
    return 0


def profile_receiver(env: dict[str, str], count: int) -> list[str]:
    """Where a delivery's time goes: ``count`` signed deliveries through Flask's
    test client under cProfile, the functions with the most cumulative time."""
    from webhooks import create_app

    head, tail = event_template("profile")
    bodies = [head + str(number).encode() + tail for number in range(count + 20)]
    with mock.patch.dict(os.environ, env):
        client = create_app().test_client()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    for number, body in enumerate(bodies):
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign(body, STRIPE_SECRET),
        }
        if number == 20:  # the first deliveries open connections and warm caches
            started = time.perf_counter()
            profiler.enable()
        response = client.post("/webhooks/stripe", data=body, headers=headers)
        assert response.status_code == 200, response.status_code
    profiler.disable()
    elapsed = time.perf_counter() - started
    lines = [
        f"  profile: {count} deliveries in process, {elapsed / count * 1e3:.2f} ms "
        "each under cProfile; cumulative ms per delivery:"
    ]
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(32)
    for line in out.getvalue().splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[3].replace(".", "").isdigit():
            continue
        if "werkzeug/test.py" in parts[5] or "flask/testing.py" in parts[5]:
            continue  # the test client standing in for gunicorn
        cumulative = float(parts[3]) / count * 1e3
        lines.append(f"    {cumulative:7.2f}  {parts[5][-90:]}")
    return lines


def _micros(result: LoadResult) -> str:
    if not result.count:
        return "-"
    return f"{result.cpu_seconds / result.count * 1e6:.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
