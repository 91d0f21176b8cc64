"""The ledger tests' own books: a PostgreSQL database, a sandbox and a fake Stripe.

``Books`` empties its store when it opens, so these tests get a database of their
own beside the run's, instead of clearing tables other suites share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from tests.conftest import PG_ADMIN_URL, sibling_redis
from tests.fakes.stripe import API_KEY, FakeStripe
from tests.lifecycle.harness import Books, write_mapping
from worker.store import Store


@pytest.fixture(scope="session")
def ledger_store(pg_url: str) -> Iterator[Store]:
    name = f"revsync_ledger_{uuid.uuid4().hex[:8]}"
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
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def open_books(
    ledger_store: Store, redis_url: str, tmp_path: Path, fake_stripe: FakeStripe
) -> Iterator[Callable[[], Books]]:
    """Opens fresh books that read the Stripe API from ``fake_stripe``."""
    opened: list[Books] = []

    def open_() -> Books:
        # A Redis database no worker listens to: wake-ups sent there stay unread.
        books = Books(
            ledger_store, sibling_redis(redis_url, 2), write_mapping(tmp_path)
        )
        books.runtime.settings = books.runtime.settings.model_copy(
            update={
                "stripe_api_key": SecretStr(API_KEY),
                "stripe_api_base": fake_stripe.url,
            }
        )
        opened.append(books)
        return books

    try:
        yield open_
    finally:
        for books in opened:
            books.close()
