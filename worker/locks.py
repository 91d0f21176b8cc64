"""Per-account locks in Redis, so two events for one customer never race.

Each lock has a timeout longer than the hard time limit of any task that takes it, so a
killed worker cannot block an account forever, and a random token, so only its holder
can release it. The lock only serializes work: correctness under a lost lock comes from
the unique constraints and entity versions in the SQL store and external ids in Odoo.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockError, LockNotOwnedError

from worker.errors import LockBusy


def lock_name(key: str) -> str:
    return f"revsync:lock:{key}"


@contextmanager
def account_lock(
    client: redis.Redis, key: str, *, timeout: float, wait: float = 0.5
) -> Iterator[redis.lock.Lock]:
    """Hold the lock for ``key`` for the body, or raise LockBusy after ``wait`` s.

    :param key: the canonical account, e.g. ``account:42`` or ``stripe:cus_1``.
    :param timeout: seconds after which Redis frees the lock whatever happens.
    :raises LockBusy: another holder kept it for longer than ``wait``.
    """
    lock = client.lock(
        lock_name(key), timeout=timeout, blocking=True, blocking_timeout=wait
    )
    if not lock.acquire():
        raise LockBusy(f"account {key} is locked by another task", delay=wait)
    try:
        yield lock
    finally:
        try:
            lock.release()
        except (LockNotOwnedError, LockError):
            # The lock expired while we worked; whoever holds it now keeps it.
            pass
