"""How many digits a figure keeps when fra prints it for machines (`--json`).

Decimal division keeps 28 significant digits, most of them noise: a round-trip cost of
0.003201503722025236070120712294 says no more than 0.003201503722. Three kinds of figure:

* Exact values, as the venue gave them or as fills and payments add up without a division
  (prices, quantities, funding rates, fees, funding): every digit kept. This is the default
  (`plain`), so a figure nobody classified can never lose a digit of a real fill.
* Quotients, the results of a division (rates per 8h, forecasts, APRs, yields, costs,
  break-evens, margin ratios): `ratio`, SIGNIFICANT significant digits. Average fill prices:
  `price`, the same but never fewer than QUOTE_PLACES decimal places, so that the average of
  fills at one price is that price, digit for digit.
* Money derived by valuing or dividing (P&L, exposure, equity, balances, paper cash): `money`,
  QUOTE_PLACES decimal places, the precision USDT balances have on the venue.

Pure: no I/O. Floats (the backtest's analytics) are rounded the same way and stay floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import TypeVar

# Enough to reproduce every figure fra prints (its tables show at most 6) and any sum of them
# to the cent, far below the noise of the rates themselves.
SIGNIFICANT = 10
# USDT on Binance: balances, fees and funding are booked to 8 decimal places.
QUOTE_PLACES = 8

N = TypeVar("N", Decimal, float, None)


def plain(value: Decimal) -> str:
    """`value` in fixed-point notation with every digit it has and no trailing zeros:
    9976.356585560000 -> "9976.35658556", 1E-8 -> "0.00000001", 1E+2 -> "100"."""
    if not value.is_finite():
        return str(value)
    if value.is_zero():
        return "0"
    # format(), not normalize(): normalize rounds to the context's 28 digits.
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def ratio(value: N) -> N:
    """A quotient to SIGNIFICANT significant digits (None stays None)."""
    if value is None:
        return None
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT}g}") + 0.0  # + 0.0: no "-0.0"
    if not value.is_finite() or value.is_zero():
        return value
    return _places(value, SIGNIFICANT - 1 - value.adjusted())


def price(value: Decimal | None) -> Decimal | None:
    """An average of fill prices: SIGNIFICANT significant digits, and never fewer than
    QUOTE_PLACES decimal places, so a price quoted on a tick of 1e-8 or coarser (every venue's
    we know) comes out unchanged."""
    if value is None or not value.is_finite() or value.is_zero():
        return value
    return _places(value, max(QUOTE_PLACES, SIGNIFICANT - 1 - value.adjusted()))


def money(value: N) -> N:
    """Money derived by valuing or dividing, to QUOTE_PLACES decimal places."""
    if value is None:
        return None
    if isinstance(value, float):
        return round(value, QUOTE_PLACES) + 0.0  # + 0.0: no "-0.0"
    if not value.is_finite():
        return value
    return _places(value, QUOTE_PLACES)


def _places(value: Decimal, places: int) -> Decimal:
    # A context wide enough for the digits kept: the default 28 would refuse a large figure.
    wide = Context(prec=max(28, value.adjusted() + places + 2))
    rounded = value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN, wide)
    return rounded if rounded else Decimal(0)  # no "-0E-8"
