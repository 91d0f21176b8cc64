"""Celery tasks: thin wrappers with stable names that call service functions."""

from __future__ import annotations

from worker.tasks import inbox, reconcile  # noqa: F401
from worker.writeback import tasks as writeback  # noqa: F401
