"""In-memory tables with hash indexes and an undo log.

A real Odoo runs every RPC call in one PostgreSQL transaction: a call that
raises leaves nothing behind, while a call that succeeds is committed before
its reply is marshalled. The store mirrors that with an undo log: every change
made during a call is recorded, replayed backwards on failure and dropped on
commit. Savepoints (a position in the log) give ``load()`` its per-batch
rollback.

Record ids come from a counter that a rollback does not rewind, just as a
PostgreSQL sequence keeps the values a failed transaction consumed.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

Row = dict[str, Any]


class Table:
    """The rows of one model, keyed by id, with hash indexes on some columns."""

    __slots__ = ("_next_id", "indexes", "name", "rows", "store")

    def __init__(self, store: Store, name: str, indexed: Iterable[str] = ()) -> None:
        self.name = name
        self.store = store
        self.rows: dict[int, Row] = {}
        self.indexes: dict[str, dict[Hashable, set[int]]] = {f: {} for f in indexed}
        self._next_id = 1

    def new_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def reserve(self, rid: int) -> None:
        """Make sure later ids are above ``rid`` (for seeded explicit ids)."""
        self._next_id = max(self._next_id, rid + 1)

    def lookup(self, field: str, value: Hashable) -> set[int]:
        return self.indexes[field].get(value, _EMPTY)

    def insert(self, row: Row) -> None:
        rid = row["id"]
        self.rows[rid] = row
        for field, index in self.indexes.items():
            _index_add(index, row.get(field, False), rid)
        self.store._log(("insert", self, rid, None))

    def update(self, rid: int, changes: Row) -> None:
        row = self.rows[rid]
        old = {key: row.get(key, False) for key in changes}
        for field, index in self.indexes.items():
            if field in changes and changes[field] != old[field]:
                _index_remove(index, old[field], rid)
                _index_add(index, changes[field], rid)
        row.update(changes)
        self.store._log(("update", self, rid, old))

    def delete(self, rid: int) -> None:
        row = self.rows.pop(rid)
        for field, index in self.indexes.items():
            _index_remove(index, row.get(field, False), rid)
        self.store._log(("delete", self, rid, row))

    def _undo(self, op: str, rid: int, data: Row | None) -> None:
        if op == "insert":
            row = self.rows.pop(rid)
            for field, index in self.indexes.items():
                _index_remove(index, row.get(field, False), rid)
        elif op == "delete":
            assert data is not None
            self.rows[rid] = data
            for field, index in self.indexes.items():
                _index_add(index, data.get(field, False), rid)
        else:
            assert data is not None
            row = self.rows[rid]
            for field, index in self.indexes.items():
                if field in data and data[field] != row.get(field, False):
                    _index_remove(index, row.get(field, False), rid)
                    _index_add(index, data[field], rid)
            row.update(data)


_EMPTY: set[int] = set()


def _index_add(index: dict[Hashable, set[int]], value: Hashable, rid: int) -> None:
    bucket = index.get(value)
    if bucket is None:
        index[value] = {rid}
    else:
        bucket.add(rid)


def _index_remove(index: dict[Hashable, set[int]], value: Hashable, rid: int) -> None:
    bucket = index.get(value)
    if bucket is not None:
        bucket.discard(rid)
        if not bucket:
            del index[value]


class Store:
    """All tables plus the transaction log of the call in progress."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.counters: dict[Hashable, int] = {}
        self._undo: list[tuple[Any, ...]] | None = None

    def table(self, name: str, indexed: Iterable[str] = ()) -> Table:
        if name not in self.tables:
            self.tables[name] = Table(self, name, indexed)
        return self.tables[name]

    def _log(self, entry: tuple[Any, ...]) -> None:
        if self._undo is not None:
            self._undo.append(entry)

    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def savepoint(self) -> int:
        return len(self._undo) if self._undo is not None else 0

    def rollback(self) -> None:
        """Undo the whole call and leave the transaction."""
        self.rollback_to(0)
        self._undo = None

    def rollback_to(self, savepoint: int) -> None:
        """Undo what happened after ``savepoint``; the transaction goes on."""
        log = self._undo
        if log is None:
            return
        while len(log) > savepoint:
            entry = log.pop()
            if entry[0] == "counter":
                _, key, old = entry
                if old is None:
                    self.counters.pop(key, None)
                else:
                    self.counters[key] = old
            else:
                op, table, rid, data = entry
                table._undo(op, rid, data)

    def next_number(self, key: Hashable) -> int:
        """Next value of a gapless counter; a rollback gives the number back."""
        old = self.counters.get(key)
        self.counters[key] = (old or 0) + 1
        self._log(("counter", key, old))
        return self.counters[key]
