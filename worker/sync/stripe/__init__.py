"""Stripe flows. Importing this package registers their handlers."""

from __future__ import annotations

from worker.sync.stripe import (  # noqa: F401
    customers,
    disputes,
    invoices,
    payments,
    payouts,
    refunds,
    subscriptions,
)
