"""A production-shaped stack for the observability tests.

gunicorn with two workers serves the receiver and a prefork Celery worker applies
the events, both in multiprocess metrics mode, logging JSON, and reporting to a
local stand-in for Sentry that records every envelope it is sent. They listen on a
Redis database of their own, so no other worker of the test run takes their
events.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import (
    OPERATOR_TOKEN,
    ROOT,
    STRIPE_SECRET,
    sibling_redis,
    unique,
    wait_until,
)
from worker.embedded import free_port
from worker.store import Store
from worker.stripe_signing import sign

BIN = Path(sys.executable).parent

# Personal data the scenarios carry; none of it may leave in a log or a report.
CUSTOMER_NAME = "Quillfeather Observability Holdings"
CUSTOMER_EMAIL = "ada.quillfeather@private-mail.example"
STREET = "77 Lanternwick Road"


class SentryRecorder:
    """A tiny Sentry: accepts envelopes on ``/api/<project>/envelope/``."""

    def __init__(self) -> None:
        self.envelopes: list[bytes] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if self.path.startswith("/api/") and self.path.endswith("/envelope/"):
                    with recorder.lock:
                        recorder.envelopes.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.dsn = f"http://publickey@127.0.0.1:{self.port}/1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def items(self) -> list[tuple[dict[str, Any], Any]]:
        """Every (item header, item payload) of every envelope received so far."""
        with self.lock:
            envelopes = list(self.envelopes)
        found: list[tuple[dict[str, Any], Any]] = []
        for envelope in envelopes:
            lines = envelope.split(b"\n")
            position = 1  # line 0 is the envelope header
            while position + 1 < len(lines):
                if not lines[position].strip():
                    position += 1
                    continue
                header = json.loads(lines[position])
                raw = lines[position + 1]
                try:
                    payload: Any = json.loads(raw)
                except ValueError:
                    payload = raw.decode(errors="replace")
                found.append((header, payload))
                position += 2
        return found

    def raw(self) -> str:
        with self.lock:
            return b"\n".join(self.envelopes).decode(errors="replace")

    def errors(self) -> list[dict[str, Any]]:
        """The error events (not transactions, sessions or check-ins)."""
        return [
            payload for header, payload in self.items() if header["type"] == "event"
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Process:
    """A child process whose stdout and stderr are kept in separate files."""

    def __init__(self, args: list[str], env: dict[str, str], directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.stdout_path = directory / "stdout.log"
        self.stderr_path = directory / "stderr.log"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.process = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self._out, stderr=self._err
        )

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
        self._err.close()


def start_receiver(
    env: dict[str, str], directory: Path, *, workers: int = 2
) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        [
            str(BIN / "gunicorn"),
            "--logger-class",
            "worker.logs.GunicornLogger",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "webhooks:create_app()",
        ],
        env,
        directory,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if not process.alive():
            raise AssertionError("gunicorn exited:\n" + process.output()[-3000:])
        try:
            return requests.get(f"{url}/healthz", timeout=3).ok
        except requests.RequestException:
            return False

    wait_until(healthy, 60, "gunicorn to serve /healthz")
    return process, url


class Stack:
    """The receiver and worker processes, and where to reach them."""

    def __init__(
        self,
        receiver: Process,
        receiver_url: str,
        worker: Process,
        worker_metrics_url: str,
        sentry: SentryRecorder,
        env: dict[str, str],
        receiver_metrics_dir: Path,
    ) -> None:
        self.receiver = receiver
        self.receiver_url = receiver_url
        self.worker = worker
        self.worker_metrics_url = worker_metrics_url
        self.sentry = sentry
        self.env = env
        self.receiver_metrics_dir = receiver_metrics_dir

    def post_stripe(self, event: dict[str, Any] | bytes, **kw: Any) -> Any:
        return post_stripe(self.receiver_url, event, **kw)

    def logs(self) -> str:
        return self.receiver.output() + self.worker.output()


def post_stripe(
    url: str, event: dict[str, Any] | bytes, *, signature: str | None = None
) -> requests.Response:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = signature if signature is not None else sign(body, STRIPE_SECRET)
    return requests.post(
        f"{url}/webhooks/stripe",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
        timeout=10,
    )


@pytest.fixture(scope="package")
def sentry() -> Iterator[SentryRecorder]:
    recorder = SentryRecorder()
    try:
        yield recorder
    finally:
        recorder.stop()


@pytest.fixture(scope="package")
def stack(
    store: Store,
    service_env: dict[str, str],
    sentry: SentryRecorder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("observability")
    env = dict(
        service_env,
        REDIS_URL=sibling_redis(service_env["REDIS_URL"], 3),
        REVSYNC_LOG_FORMAT="json",
        SENTRY_DSN=sentry.dsn,
        REVSYNC_ENV="sandbox",
        # An unexpected error goes to dead at once instead of backing off.
        REVSYNC_MAX_ATTEMPTS="1",
        REVSYNC_ACTIVATION_DELAY="1",
        REVSYNC_OPERATOR_TOKEN=OPERATOR_TOKEN,
    )
    receiver_dir = base / "receiver-metrics"
    worker_dir = base / "worker-metrics"
    receiver_dir.mkdir()
    worker_dir.mkdir()

    metrics_port = free_port()
    worker = Process(
        [
            sys.executable,
            "-m",
            "celery",
            "-q",
            "-A",
            "worker",
            "worker",
            "-Q",
            "realtime,default,bulk,reconcile",
            "-c",
            "2",
            "-l",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{unique('observability')}@%h",
        ],
        dict(
            env,
            PROMETHEUS_MULTIPROC_DIR=str(worker_dir),
            REVSYNC_METRICS_PORT=str(metrics_port),
        ),
        base / "worker",
    )
    receiver: Process | None = None
    try:
        wait_until(
            lambda: " ready." in worker.stderr() or not worker.alive(),
            60,
            "the Celery worker to start",
        )
        assert worker.alive(), "celery worker exited:\n" + worker.output()[-3000:]
        receiver, url = start_receiver(
            dict(env, PROMETHEUS_MULTIPROC_DIR=str(receiver_dir)), base / "receiver"
        )
        yield Stack(
            receiver,
            url,
            worker,
            f"http://127.0.0.1:{metrics_port}/metrics",
            sentry,
            env,
            receiver_dir,
        )
    finally:
        if receiver is not None:
            receiver.stop()
        worker.stop()


Scrape = Callable[[str], dict[tuple[str, tuple[tuple[str, str], ...]], float]]


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, keyed by name and sorted labels."""
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(url, timeout=10).text
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float],
    name: str,
    **labels: str,
) -> float:
    """The sample ``name{labels}``, 0 when absent (a counter not yet counted)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
