"""Stripe amounts (integers in the currency's smallest unit) as Odoo amounts."""

from __future__ import annotations

from decimal import Decimal

from worker.errors import PermanentError

# Currencies Stripe counts in whole units, and those with three decimals.
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())


def decimals(currency: str) -> int:
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_amount(minor: int, currency: str) -> float:
    """``1999`` USD is ``19.99``; ``1999`` JPY is ``1999.0``."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise PermanentError(f"amount in {currency} is not an integer")
    return float(Decimal(minor).scaleb(-decimals(currency)))


def iso(currency: str | None) -> str:
    if not currency or len(currency) != 3 or not currency.isalpha():
        raise PermanentError("object has no valid ISO currency code")
    return currency.upper()
