"""Stripe flows. Importing this package registers their handlers."""

from __future__ import annotations

from worker.sync.stripe import customers  # noqa: F401
