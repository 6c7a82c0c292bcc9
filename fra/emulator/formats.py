"""Binance's number formats: decimals travel as strings with a fixed number of places."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def places(step: Decimal) -> int:
    """Decimal places of a step size: 0.001 -> 3, 1 -> 0."""
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def fixed(value: Decimal, digits: int) -> str:
    return f"{value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):f}"


def s8(value: Decimal) -> str:
    """Eight places: spot quantities and prices, balances, rates."""
    return fixed(value, 8)


def plain(value: Decimal) -> str:
    """No trailing zeros, no exponent (steps and limits in futures exchangeInfo)."""
    return f"{value.normalize():f}"
