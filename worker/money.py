"""Stripe amounts (integers in the currency's smallest unit) as Odoo amounts."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

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


def display(minor: int, currency: str) -> str:
    """``1225`` USD reads ``12.25 USD``; ``500`` JPY reads ``500 JPY``."""
    places = decimals(currency)
    return f"{Decimal(minor).scaleb(-places):.{places}f} {currency.upper()}"


def to_minor(amount: float, currency: str) -> int:
    """An Odoo amount back in minor units: ``19.99`` USD is ``1999``."""
    exact = Decimal(str(amount)).scaleb(decimals(currency))
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def prorate(amount: int, part: int, whole: int) -> int:
    """``amount * part / whole`` in whole minor units, halves away from zero."""
    if whole == 0:
        raise ValueError("cannot prorate over a zero whole")
    return half_up(Fraction(amount * part, whole))


def half_up(value: Fraction) -> int:
    """The nearest integer, halves away from zero (as Stripe and Odoo round)."""
    magnitude = abs(value)
    rounded = int(magnitude + Fraction(1, 2))
    return rounded if value >= 0 else -rounded


def iso(currency: str | None) -> str:
    if not currency or len(currency) != 3 or not currency.isalpha():
        raise PermanentError("object has no valid ISO currency code")
    return currency.upper()
