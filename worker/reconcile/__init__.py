"""Nightly ledger reconciliation: Stripe and Odoo, proven to agree.

``reconcile(runtime, window)`` compares what Stripe says (invoices, credit notes,
payments and refunds) with what Odoo holds, heals what a re-sync can heal and
records the rest as exceptions for operators.
"""

from __future__ import annotations

from worker.reconcile.run import RunResult, reconcile
from worker.reconcile.window import Window

__all__ = ["RunResult", "Window", "reconcile"]
