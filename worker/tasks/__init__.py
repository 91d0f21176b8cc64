"""Celery tasks: thin wrappers with stable names that call service functions."""

from __future__ import annotations

from worker.tasks import inbox  # noqa: F401
