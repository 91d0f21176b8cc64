"""What the benchmarks share: services on loopback, a load generator, and figures.

Each benchmark starts the processes it measures (gunicorn, Celery workers, the Odoo
sandbox) on loopback ports, in a PostgreSQL database created for the run and dropped
after it, and empties the Redis database it is given before and after (so point
``REDIS_URL`` at a database nothing else uses). The load generator runs in a process
of its own so that sending requests does not share the interpreter of the process
that reads the results.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import multiprocessing
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError

import psycopg
import redis

from worker.embedded import free_port

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "REVSYNC_BENCH_PG",
    os.environ.get("REVSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"),
)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
STRIPE_SECRET = "whsec_bench_only_not_a_real_secret"
ODOO_CREDENTIALS = {"db": "revsync", "username": "api", "password": "bench-secret"}


def redis_url_from_env() -> str:
    return os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05
) -> Any:
    """Poll ``condition()`` until it is truthy; raise TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99); nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def machine() -> str:
    """Cores and CPU model, for the header of every benchmark."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, {model}, load average {load}"


# -- Services ------------------------------------------------------------------


@contextmanager
def temp_database() -> Iterator[str]:
    """A PostgreSQL database of the run's own (SQLAlchemy URL), dropped after it."""
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    name = f"revsync_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+psycopg://"
    )
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@contextmanager
def empty_redis(url: str) -> Iterator[str]:
    """The Redis database at ``url``, emptied before and after the run."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


class Service:
    """A child process of the benchmark with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n"
                + self.log()[-3000:]
            )

    def wait_for_http(self, url: str, timeout: float = 60) -> None:
        def answers() -> bool:
            self.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.status == 200)
            except (URLError, ConnectionError, TimeoutError):
                return False

        wait_until(answers, timeout, f"{self.name} to answer {url}", every=0.1)

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        def logged() -> bool:
            self.check_alive()
            return text in self.log()

        wait_until(logged, timeout, f"{self.name} to log {text!r}", every=0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@contextmanager
def service(
    name: str,
    argv: list[str],
    env: dict[str, str],
    log_dir: Path,
    stop_signal: int = signal.SIGTERM,
) -> Iterator[Service]:
    started = Service(name, argv, env, log_dir, stop_signal)
    try:
        yield started
    finally:
        started.stop()


@dataclass(frozen=True)
class GunicornSettings:
    """The one gunicorn configuration every app of a benchmark is served with."""

    workers: int = 4
    worker_class: str = "sync"
    backlog: int = 2048

    def describe(self) -> str:
        return f"gunicorn {self.worker_class}, {self.workers} workers"


@contextmanager
def gunicorn(
    name: str,
    app: str,
    env: dict[str, str],
    log_dir: Path,
    settings: GunicornSettings,
) -> Iterator[str]:
    """Serve ``app`` (a gunicorn app spec) on a free loopback port; yields its URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(settings.workers),
        "--worker-class",
        settings.worker_class,
        "--backlog",
        str(settings.backlog),
        "--log-level",
        "warning",
        app,
    ]
    url = f"http://127.0.0.1:{port}"
    # SIGINT is gunicorn's quick shutdown: nothing is in flight by then.
    with service(name, argv, env, log_dir, signal.SIGINT) as served:
        served.wait_for_http(f"{url}/healthz")
        yield url


def service_env(
    *,
    database_url: str,
    redis_url: str,
    odoo_url: str = "",
    mapping_path: str = "",
    metrics_dir: Path | None = None,
) -> dict[str, str]:
    """The environment of a revsync process started by a benchmark."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
        "REVSYNC_ENV": "sandbox",
        "PYTHONUNBUFFERED": "1",
    }
    if odoo_url:
        env.update(
            ODOO_URL=odoo_url,
            ODOO_DB=ODOO_CREDENTIALS["db"],
            ODOO_USERNAME=ODOO_CREDENTIALS["username"],
            ODOO_PASSWORD=ODOO_CREDENTIALS["password"],
        )
    if mapping_path:
        env["REVSYNC_CONFIG"] = mapping_path
    if metrics_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return env


def work_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"revsync-{prefix}-"))


# -- The Odoo sandbox in a process of its own ------------------------------------


def bench_sandbox() -> Any:
    """A sandbox with the benchmarks' API user and the mapped products."""
    from tests.lifecycle.harness import PRODUCTS
    from worker.odoo.sandbox import Sandbox

    sandbox = Sandbox(
        db=ODOO_CREDENTIALS["db"],
        username=ODOO_CREDENTIALS["username"],
        password=ODOO_CREDENTIALS["password"],
        # Odoo refuses to post chatter (activities done) for a user without one.
        user_email="revsync-api@bench.example",
    )
    for code, name in PRODUCTS.values():
        sandbox.create_direct(
            "product.product", {"name": name, "default_code": code, "type": "service"}
        )
    return sandbox


def _serve_sandbox(ports: Any) -> None:
    from worker.odoo.sandbox import SandboxServer

    server = SandboxServer(bench_sandbox(), host="127.0.0.1", port=0).start()
    ports.put(server.port)
    threading.Event().wait()


@contextmanager
def odoo_sandbox() -> Iterator[str]:
    """The Odoo sandbox served by a child process; yields its URL.

    Forked, like the load generator: start it before the benchmark opens threads.
    """
    context = multiprocessing.get_context("fork")
    ports = context.Queue()
    process = context.Process(target=_serve_sandbox, args=(ports,), daemon=True)
    process.start()
    try:
        port = ports.get(timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.join(10)


def sandbox_calls(odoo_url: str) -> Counter[str]:
    """The sandbox's call counters, ``model.method`` -> calls."""
    with urllib.request.urlopen(f"{odoo_url}/sandbox/calls", timeout=10) as response:
        return Counter(json.loads(response.read()))


# -- The load generator ------------------------------------------------------------


@dataclass
class LoadPlan:
    """What one load generator process sends.

    Either ``bodies`` (each sent once, in order, then the run ends) or ``template``
    (``head + <unique number> + tail``, as many as ``duration`` allows). Closed loop
    when ``rate`` is None: each connection sends its next request as soon as the last
    is answered. Open loop at ``rate`` requests a second otherwise, with latency taken
    from the time a request was due, so a slow answer is never hidden by a late send.
    Requests answered in the first ``warmup`` seconds are not counted.
    """

    url: str
    connections: int = 8
    duration: float = 10.0
    warmup: float = 0.0
    rate: float | None = None
    bodies: list[bytes] | None = None
    template: tuple[bytes, bytes] | None = None
    secret: str = STRIPE_SECRET
    path: str = "/webhooks/stripe"


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    @property
    def generator_load(self) -> float:
        """The share of one core the generator process used while measuring."""
        return self.cpu_seconds / self.elapsed if self.elapsed else 0.0

    def line(self) -> str:
        p50 = percentile(self.latencies, 0.5) * 1e3
        p99 = percentile(self.latencies, 0.99) * 1e3
        return (
            f"{self.per_second:8.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
            f"  ({self.count} requests, {self.failures} not 200)"
        )

    @property
    def failures(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200) + sum(
            self.errors.values()
        )


def _signed_request(host: str, path: str, body: bytes, secret: bytes) -> bytes:
    stamp = str(int(time.time())).encode()
    digest = hmac.new(secret, stamp + b"." + body, hashlib.sha256).hexdigest()
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/json\r\n"
        b"Stripe-Signature: t=" + stamp + b",v1=" + digest.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close\r\n\r\n" + body
    )


def _exchange(address: tuple[str, int], request: bytes) -> int:
    """Send one request on a new connection; return the status of the answer.

    A new connection per request, as gunicorn's sync workers close every one.
    """
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    answer = b"".join(chunks)
    return int(answer[9:12]) if answer[:5] == b"HTTP/" else 0


def _generate(plan: LoadPlan) -> LoadResult:
    host_port = plan.url.split("://", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    address = (host, int(port))
    secret = plan.secret.encode()
    result = LoadResult()
    lock = threading.Lock()
    counter = iter(range(sys.maxsize))
    started = time.monotonic()
    measure_from = started + plan.warmup
    stop_at = started + plan.warmup + plan.duration
    bodies = plan.bodies

    def body_for(index: int) -> bytes | None:
        if bodies is not None:
            return bodies[index] if index < len(bodies) else None
        assert plan.template is not None
        head, tail = plan.template
        return head + str(index).encode() + tail

    def connection() -> None:
        while True:
            with lock:
                index = next(counter)
            due = started + index / plan.rate if plan.rate else time.monotonic()
            if bodies is None and due >= stop_at:
                return
            body = body_for(index)
            if body is None:
                return
            if plan.rate:
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            request = _signed_request(host_port, plan.path, body, secret)
            try:
                status = _exchange(address, request)
            except OSError as error:
                with lock:
                    result.errors[type(error).__name__] += 1
                continue
            done = time.monotonic()
            if due < measure_from:
                continue
            with lock:
                result.latencies.append(done - due)
                result.statuses[status] += 1

    threads = [
        threading.Thread(target=connection, daemon=True)
        for _ in range(plan.connections)
    ]
    cpu_before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = time.monotonic()
    result.cpu_seconds = time.process_time() - cpu_before
    result.elapsed = (
        finished - max(started, measure_from)
        if bodies is None
        else (finished - started)
    )
    return result


def _generator_loop(plans: Any, results: Any) -> None:
    """Run each batch of plans that arrives, the plans of a batch side by side."""
    while True:
        batch = plans.get()
        if batch is None:
            return
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            outcomes = list(pool.map(_generate, batch))
        results.put(outcomes)


class LoadGenerator:
    """The load generator: a process of its own for the whole benchmark.

    It is forked first thing, before the benchmark has a thread or a connection to
    share, so that it starts at once instead of importing everything again.
    """

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._plans = context.Queue()
        self._results = context.Queue()
        self._process = context.Process(
            target=_generator_loop, args=(self._plans, self._results), daemon=True
        )
        self._process.start()

    def run(self, *plans: LoadPlan) -> list[LoadResult]:
        """Send the plans side by side; return their figures in the same order."""
        self._plans.put(plans)
        while True:
            try:
                outcomes: list[LoadResult] = self._results.get(timeout=1)
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError(
                        f"the load generator exited with {self._process.exitcode}"
                    ) from None
                continue
            return outcomes

    def close(self) -> None:
        if self._process.is_alive():
            self._plans.put(None)
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


@contextmanager
def load_generator() -> Iterator[LoadGenerator]:
    generator = LoadGenerator()
    try:
        yield generator
    finally:
        generator.close()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so a stopped benchmark still drops its
    database and stops its processes."""

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
