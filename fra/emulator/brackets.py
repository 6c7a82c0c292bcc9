"""The leverage brackets the emulated exchange serves (`/fapi/v1/leverageBracket`) and holds
its accounts to (maintenance margin, liquidation, the leverage a position size allows).

A contract fra's table of Binance's brackets has (fra/data) gets Binance's own; any other a
ladder made from the simulated market's first bracket, Binance-like: each step up halves the
leverage and doubles the maintenance rate. exchangeInfo, as on Binance, shows none of this:
it carries the same placeholder rates for every symbol (`PLACEHOLDER_*`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from fra.core.brackets import Ladder, ladder
from fra.core.models import Market
from fra.venues.bracket_sources import shipped

# What real Binance's exchangeInfo gives every USDⓈ-M symbol, whatever its brackets.
PLACEHOLDER_MAINT_PERCENT = "2.5000"
PLACEHOLDER_REQUIRED_PERCENT = "5.0000"
_SYNTHETIC_BRACKETS = 5
_SYNTHETIC_GROWTH = (1, 5, 25, 100, 500)  # each bracket's cap, in units of the first one's


class Bracket(NamedTuple):
    """One notional bracket of a contract: Binance's leverageBracket entry."""

    number: int
    initial_leverage: int
    floor: Decimal
    cap: Decimal
    maint_rate: Decimal
    cum: Decimal  # maintenance amount: maintenance margin = notional x rate - cum


def brackets_for(market: Market) -> tuple[Bracket, ...]:
    """Binance's brackets for the contract where fra's table has them, else synthetic ones."""
    recorded = shipped().ladders.get(market.symbol)
    return _entries(recorded if recorded is not None else synthetic(market))


def synthetic(market: Market) -> Ladder:
    """A Binance-like ladder from the market's first bracket: each step up halves the leverage
    and doubles the maintenance rate (at most 50 %); `cum` keeps the margin continuous."""
    first_cap = Decimal(2000) * market.max_leverage
    return ladder(
        (
            first_cap * _SYNTHETIC_GROWTH[i],
            min(market.maintenance_margin_rate * 2**i, Decimal("0.5")),
            max(1, market.max_leverage >> i),
            None,
        )
        for i in range(_SYNTHETIC_BRACKETS)
    )


def _entries(brackets: Ladder) -> tuple[Bracket, ...]:
    return tuple(
        Bracket(i + 1, b.max_leverage, b.floor, b.cap, b.rate, b.cum)
        for i, b in enumerate(brackets)
    )


def scaled(brackets: tuple[Bracket, ...], coef: Decimal) -> tuple[Bracket, ...]:
    """A user's brackets where Binance adjusted them (`notionalCoef`): floors and caps times
    the coefficient, and so the maintenance amounts that keep the margin continuous."""
    return tuple(
        b._replace(floor=b.floor * coef, cap=b.cap * coef, cum=b.cum * coef) for b in brackets
    )


def bracket_at(brackets: tuple[Bracket, ...], notional: Decimal) -> Bracket:
    """The bracket a position of this notional (absolute) falls in."""
    for bracket in brackets:
        if notional < bracket.cap:
            return bracket
    return brackets[-1]
