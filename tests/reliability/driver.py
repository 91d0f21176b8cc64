"""The processes a reliability scenario runs, the faults it injects, the checks.

A ``Rig`` is one deployment of revsync of its own: a fresh PostgreSQL database, a
Redis database (or server) of its own, a fresh Odoo sandbox, and real processes
started on demand: the receiver under gunicorn, Celery workers (prefork) and Beat.
``Sender`` delivers a stream of signed Stripe events from a thread pool while the
test injects faults, and retries a delivery that was not answered 2xx, as Stripe
does. ``assert_applied_once`` is what every scenario must end with.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
import requests
from sqlalchemy import func, select

from tests.conftest import (
    ODOO_CREDENTIALS,
    PG_ADMIN_URL,
    ROOT,
    STRIPE_SECRET,
    WorkerProcess,
    wait_until,
)
from tests.lifecycle.harness import PRODUCTS, Books
from tests.reliability.stream import NO_AUDIT_GAPS, Stream, audit_gaps
from worker.embedded import free_port
from worker.odoo.sandbox import Sandbox, SandboxServer
from worker.store import InboxEvent, InboxStatus, Store
from worker.stripe_signing import sign

# Short enough that a scenario recovers within seconds, long enough for the
# longest task and retry countdown these streams produce on a loaded machine.
FAST_RECOVERY_ENV = {
    "REVSYNC_LOCK_WAIT": "0.2",
    # A killed worker's account lock frees itself after this long.
    "REVSYNC_LOCK_TIMEOUT": "15",
    # Messages of a killed worker come back, and the sweeper re-queues rows
    # nobody touched, after this long.
    "REVSYNC_VISIBILITY_TIMEOUT": "20",
    "REVSYNC_SWEEP_INTERVAL": "1",
    "REVSYNC_SWEEP_AFTER": "2",
    "REVSYNC_MAX_ATTEMPTS": "12",
    "REVSYNC_LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}
# Bound on the wait for every accepted event to be applied after the faults end.
SETTLE_TIMEOUT = 300.0


class LiveBooks:
    """The books of a live sandbox, read the way ``Books`` reads its own."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    snapshot = Books.snapshot
    duplicates = Books.duplicates


class Process:
    """A child process (gunicorn, Celery Beat) with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def create_database() -> tuple[str, str]:
    """A fresh, migrated PostgreSQL database: (its name, its SQLAlchemy URL)."""
    name = f"revsync_rel_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace(
        "postgresql://", "postgresql+psycopg://"
    )
    url = f"{base}/{name}"
    Store(url).upgrade()
    return name, url


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


class Rig:
    """One revsync deployment of a scenario's own; ``close`` stops all of it."""

    def __init__(self, directory: Path, redis_url: str, mapping_path: str) -> None:
        self.directory = directory
        self.db_name, self.db_url = create_database()
        self.store = Store(self.db_url)
        self.redis_url = redis_url
        redis.Redis.from_url(redis_url).flushdb()
        self.sandbox = Sandbox(
            db=ODOO_CREDENTIALS["db"],
            username=ODOO_CREDENTIALS["username"],
            password=ODOO_CREDENTIALS["password"],
            user_email="revsync-api@reliability.example",
        )
        for code, name in PRODUCTS.values():
            self.sandbox.create_direct(
                "product.product",
                {"name": name, "default_code": code, "type": "service"},
            )
        self.odoo = SandboxServer(self.sandbox, host="127.0.0.1", port=0).start()
        self.env = {
            "REVSYNC_CONFIG": mapping_path,
            **os.environ,
            **FAST_RECOVERY_ENV,
            "DATABASE_URL": self.db_url,
            "REDIS_URL": redis_url,
            "ODOO_URL": self.odoo.url,
            "ODOO_DB": ODOO_CREDENTIALS["db"],
            "ODOO_USERNAME": ODOO_CREDENTIALS["username"],
            "ODOO_PASSWORD": ODOO_CREDENTIALS["password"],
            "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
            "REVSYNC_ENV": "sandbox",
        }
        self.receiver_url = ""
        self.workers: list[WorkerProcess] = []
        self.others: list[Process] = []
        self._names = Counter[str]()

    # -- processes -------------------------------------------------------------

    def _log_path(self, kind: str) -> Path:
        self._names[kind] += 1
        return self.directory / f"{kind}-{self._names[kind]}.log"

    def start_receiver(self) -> str:
        """gunicorn serving ``webhooks:create_app()``, threads enough for storms."""
        port = free_port()
        receiver = Process(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "webhooks:create_app()",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--graceful-timeout",
                "5",
            ],
            self.env,
            self._log_path("receiver"),
        )
        self.others.append(receiver)
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if receiver.process.poll() is not None:
                raise AssertionError("gunicorn exited:\n" + receiver.log()[-4000:])
            try:
                return requests.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, 60, "the receiver to answer")
        self.receiver_url = url
        return url

    def start_worker(self, concurrency: int = 2) -> WorkerProcess:
        """A prefork ``celery worker`` on every queue, ready to take tasks."""
        worker = WorkerProcess(
            self.env,
            self._log_path("worker"),
            [
                "-Q",
                "realtime,default,bulk,reconcile",
                "-c",
                str(concurrency),
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"rel-{uuid.uuid4().hex[:6]}@%h",
            ],
        )
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def start_beat(self) -> Process:
        """Celery Beat, running the inbox sweeper every REVSYNC_SWEEP_INTERVAL s."""
        beat = Process(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(self.directory / f"beat-schedule-{uuid.uuid4().hex[:6]}"),
                "--pidfile=",
            ],
            self.env,
            self._log_path("beat"),
        )
        self.others.append(beat)
        return beat

    def close(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                kill_parent(worker)
            worker.stop()
        for process in self.others:
            process.stop()
        self.odoo.stop()
        self.store.engine.dispose()
        drop_database(self.db_name)

    def logs(self) -> str:
        """The tail of every process log, for a failing assertion's message."""
        parts = []
        for path in sorted(self.directory.glob("*.log")):
            text = path.read_text(errors="replace")
            parts.append(f"--- {path.name} ---\n{text[-3000:]}")
        return "\n".join(parts)

    # -- faults ------------------------------------------------------------------

    def terminate_connections(self) -> int:
        """Drop every PostgreSQL connection to this rig's database (the receiver's
        and the workers'); returns how many were dropped."""
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            rows = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.db_name,),
            ).fetchall()
        return sum(1 for (dropped,) in rows if dropped)

    # -- the inbox ------------------------------------------------------------------

    def statuses(self) -> dict[str, int]:
        with self.store.session() as session:
            return dict(
                session.execute(
                    select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
                ).all()
            )

    def settled(self) -> int:
        """Rows done or skipped so far."""
        counts = self.statuses()
        return sum(counts.get(status, 0) for status in InboxStatus.FINAL)

    def processing(self) -> bool:
        return self.statuses().get(InboxStatus.PROCESSING, 0) > 0

    def wait_settled(
        self, count: int, what: str, *, in_flight: bool = False, timeout: float = 240
    ) -> None:
        """Wait until ``count`` rows are done or skipped (and, with ``in_flight``,
        a task is applying an event at that moment, for a fault to interrupt)."""
        wait_until(
            lambda: self.settled() >= count and (not in_flight or self.processing()),
            timeout,
            what,
        )


def busy_children(worker: WorkerProcess) -> list[psutil.Process]:
    try:
        return psutil.Process(worker.process.pid).children()
    except psutil.NoSuchProcess:
        return []


def kill_children(worker: WorkerProcess) -> int:
    """SIGKILL the worker's prefork children (the parent starts new ones)."""
    children = busy_children(worker)
    sigkill(children)
    return len(children)


def sigkill(processes: list[psutil.Process]) -> None:
    """SIGKILL each process that is still there."""
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass


def kill_parent(worker: WorkerProcess) -> None:
    """SIGKILL the worker's main process; its orphaned children go down with it
    (as they would with the container), so nothing of the old worker runs on."""
    children = busy_children(worker)
    worker.process.send_signal(signal.SIGKILL)
    worker.process.wait(timeout=30)
    sigkill(children)
    wait_until(lambda: not any(map(running, children)), 30, "the children to die")


def running(process: psutil.Process) -> bool:
    """Alive and not a zombie: an orphan killed here is reaped by PID 1 when it
    gets round to it (about a second here), after it has stopped doing anything."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- delivering ------------------------------------------------------------------


class Sender:
    """Delivers events from a thread pool, each until it is answered 2xx.

    Like Stripe, a delivery answered otherwise (or not at all) is tried again, a
    bounded number of times; ``accepted`` holds the ids answered 2xx.
    """

    ATTEMPTS = 60

    def __init__(
        self,
        url: Callable[[], str],
        deliveries: Iterable[dict[str, Any]],
        concurrency: int = 4,
    ) -> None:
        self._url = url
        self.accepted: set[str] = set()
        self.refused: Counter[int] = Counter()
        self.gave_up: list[str] = []
        self.answered = 0
        self._lock = threading.Lock()
        self._http = threading.local()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="sender")
        self._futures = [self._pool.submit(self._deliver, e) for e in deliveries]

    def _session(self) -> requests.Session:
        session = getattr(self._http, "session", None)
        if session is None:
            session = self._http.session = requests.Session()
        return session

    def _deliver(self, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        for attempt in range(self.ATTEMPTS):
            try:
                response = self._session().post(
                    f"{self._url()}/webhooks/stripe",
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "Stripe-Signature": sign(body, STRIPE_SECRET),
                    },
                    timeout=30,
                )
            except requests.RequestException:
                status = 0
            else:
                status = response.status_code
            with self._lock:
                if 200 <= status < 300:
                    self.accepted.add(event["id"])
                    self.answered += 1
                    return
                self.refused[status] += 1
            # Stripe's retry, compressed: a short, growing pause between attempts.
            time.sleep(min(1.0, 0.05 * (attempt + 1)))
        with self._lock:
            self.gave_up.append(event["id"])

    def join(self, timeout: float = 300) -> set[str]:
        deadline = time.monotonic() + timeout
        for future in self._futures:
            future.result(timeout=max(0.1, deadline - time.monotonic()))
        self._pool.shutdown()
        return self.accepted


# -- the promise ------------------------------------------------------------------


def wait_applied(rig: Rig, count: int, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until ``count`` rows are done or skipped; fail at once if any is dead
    or held (nothing in these streams may end there)."""

    def applied() -> bool:
        counts = rig.statuses()
        stopped = counts.get(InboxStatus.DEAD, 0) + counts.get(InboxStatus.HELD, 0)
        if stopped:
            raise AssertionError(f"events ended dead or held: {failures(rig)}")
        return sum(counts.get(s, 0) for s in InboxStatus.FINAL) >= count

    try:
        wait_until(applied, timeout, f"{count} events to be applied")
    except AssertionError as error:
        raise AssertionError(
            f"{error}\nby status: {rig.statuses()}\npending: {pending(rig)[:20]}"
            f"\n{rig.logs()}"
        ) from None


def failures(rig: Rig) -> list[tuple[str, str, str | None]]:
    with rig.store.session() as session:
        return [
            (row.event_id, row.type, row.reason)
            for row in session.scalars(
                select(InboxEvent).where(
                    InboxEvent.status.in_([InboxStatus.DEAD, InboxStatus.HELD])
                )
            )
        ]


def pending(rig: Rig) -> list[tuple[str, str, str, str | None]]:
    with rig.store.session() as session:
        return [
            (row.event_id, row.type, row.status, row.last_error)
            for row in session.scalars(
                select(InboxEvent).where(InboxEvent.status.in_(InboxStatus.PENDING))
            )
        ]


def books_diff(
    actual: dict[str, Any], expected: dict[str, Any]
) -> dict[str, dict[str, list[Any]]]:
    """Per kind of record, what the live books have that the expected lack, and
    the other way round (duplicates included)."""
    differences = {}
    for kind in sorted(set(actual) | set(expected)):
        have, want = Counter(actual.get(kind, [])), Counter(expected.get(kind, []))
        extra, missing = list((have - want).elements()), list((want - have).elements())
        if extra or missing:
            differences[kind] = {"extra": extra, "missing": missing}
    return differences


def assert_applied_once(
    rig: Rig, stream: Stream, accepted: set[str], sender: Sender | None = None
) -> None:
    """The promise: every accepted event applied, once in effect, and accounted for."""
    if sender is not None:
        assert sender.gave_up == [], f"deliveries never accepted: {sender.gave_up}"
    assert accepted == set(stream.ids)
    wait_applied(rig, len(stream.ids))
    with rig.store.session() as session:
        rows = session.execute(select(InboxEvent.event_id, InboxEvent.status)).all()
    # None lost: one row per accepted event, and each of them final.
    assert Counter(event_id for event_id, _ in rows) == Counter(accepted)
    assert {status for _, status in rows} <= set(InboxStatus.FINAL)
    books = LiveBooks(rig.sandbox)
    assert books.duplicates() == {}
    differences = books_diff(books.snapshot(), stream.expected)
    assert differences == {}, (
        f"the books differ from the ordered stream's: {differences}"
    )
    gaps = audit_gaps(rig.store, rig.sandbox)
    assert gaps == NO_AUDIT_GAPS, f"the audit log does not account for: {gaps}"
