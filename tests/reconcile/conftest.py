"""The reconciliation tests' own books: a database, a sandbox and a fake Stripe.

``Ledger`` empties its store when it opens, so these tests get a PostgreSQL
database of their own beside the run's, and a Redis database no other suite's
worker listens to, instead of clearing what other suites share.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from tests.conftest import PG_ADMIN_URL, sibling_redis
from tests.reconcile.books import Ledger
from worker.store import Store

# Offsets 1 to 6 of the run's Redis database belong to other suites.
REDIS_OFFSET = 7


@pytest.fixture(scope="session")
def reconcile_store(pg_url: str) -> Iterator[Store]:
    name = f"revsync_reconcile_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    store = Store(f"{pg_url.rsplit('/', 1)[0]}/{name}")
    store.upgrade()
    try:
        yield store
    finally:
        store.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def ledger(
    reconcile_store: Store, redis_url: str, mapping_path: str, tmp_path: Path
) -> Iterator[Ledger]:
    # Healing events are applied by the test itself, or by the worker it starts.
    url = sibling_redis(redis_url, REDIS_OFFSET)
    redis.Redis.from_url(url).flushdb()
    books = Ledger(reconcile_store, url, mapping_path, str(tmp_path))
    try:
        yield books
    finally:
        books.close()
