"""The SQL store: one engine per process, short transactions, migrations by Alembic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from worker.store.models import (
    Account,
    AuditEntry,
    Base,
    CrossReference,
    EntityVersion,
    InboxEvent,
    InboxStatus,
    ReconcileItem,
    ReconcileRun,
    utcnow,
)

__all__ = [
    "Account",
    "AuditEntry",
    "Base",
    "CrossReference",
    "EntityVersion",
    "InboxEvent",
    "InboxStatus",
    "ReconcileItem",
    "ReconcileRun",
    "Store",
    "utcnow",
]

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the receiver write while a worker reads; the busy timeout turns a
    # momentary writer conflict into a short wait instead of "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    """An engine and a session factory for one database URL, safe across fork."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pid = -1
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        return self._ensure_engine()

    def _ensure_engine(self) -> Engine:
        # A forked Celery child must not reuse the parent's sockets.
        if self._engine is None or self._pid != os.getpid():
            self._engine = self._create_engine()
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            self._pid = os.getpid()
        return self._engine

    def _create_engine(self) -> Engine:
        if self.url.startswith("sqlite"):
            engine = create_engine(self.url, connect_args={"timeout": 10})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(
            self.url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            pool_recycle=1800,
            connect_args={"connect_timeout": 5},
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        self._ensure_engine()
        assert self._sessions is not None
        with self._sessions() as session, session.begin():
            yield session

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with the packaged migrations."""
        from alembic import command

        command.upgrade(self.alembic_config(), revision)

    def alembic_config(self):  # type: ignore[no-untyped-def]
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None


_stores: dict[str, Store] = {}


def get_store(url: str) -> Store:
    """The process-wide Store for ``url``."""
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = Store(url)
    return store
