"""Figures of an equity curve: return, volatility, Sharpe, drawdown, time in market.

Analytics, so floats (money stays Decimal in the replay itself). Returns are daily, from the
last equity of each UTC day, annualized over 365 days: crypto trades every day.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import NamedTuple

from fra.core.backtest import DAY_MS, Point, Result, Trade


class Figures(NamedTuple):
    start_equity: float
    end_equity: float
    days: float
    net_return: float  # over the whole period
    annual_return: float
    volatility: float  # annualized, of daily returns
    sharpe: float | None  # annualized, risk-free 0; None without variation
    max_drawdown: float  # as a negative fraction
    funding: float
    fees: float
    trades: int
    time_in_market: float  # fraction of the period with a position open
    deployed: float  # the average share of equity in positions over the period


class SymbolFigures(NamedTuple):
    symbol: str
    trades: int
    days_held: float
    funding: float
    fees: float
    pnl: float


def figures(result: Result, capital: Decimal) -> Figures:
    points = result.points
    start = float(capital)
    if not points:
        return Figures(start, start, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0, 0.0, 0, 0.0, 0.0)
    end = float(points[-1].equity)
    days = max((points[-1].time_ms - points[0].time_ms) / DAY_MS, 1e-9)
    net = end / start - 1
    annual = (end / start) ** (365 / days) - 1 if end > 0 and days >= 1 else net
    returns = daily_returns(points, start)
    vol = _stdev(returns) * math.sqrt(365)
    sharpe = (sum(returns) / len(returns)) * 365 / vol if vol > 0 and returns else None
    return Figures(
        start_equity=start,
        end_equity=end,
        days=days,
        net_return=net,
        annual_return=annual,
        volatility=vol,
        sharpe=sharpe,
        max_drawdown=min(drawdowns(points, start), default=0.0),
        funding=float(result.funding),
        fees=float(result.fees),
        trades=len(result.trades),
        time_in_market=_time_in_market(points),
        deployed=_deployed(points),
    )


def daily_returns(points: Sequence[Point], start: float) -> list[float]:
    closes: dict[int, float] = {}
    for p in points:
        closes[p.time_ms // DAY_MS] = float(p.equity)
    out, previous = [], start
    for day in sorted(closes):
        out.append(closes[day] / previous - 1 if previous > 0 else 0.0)
        previous = closes[day]
    return out


def drawdowns(points: Sequence[Point], start: float) -> list[float]:
    """Equity below its running peak, as a fraction of the peak, at each point."""
    peak, out = start, []
    for p in points:
        equity = float(p.equity)
        peak = max(peak, equity)
        out.append(equity / peak - 1 if peak > 0 else 0.0)
    return out


def per_symbol(trades: Sequence[Trade]) -> list[SymbolFigures]:
    groups: dict[str, list[Trade]] = defaultdict(list)
    for t in trades:
        groups[t.symbol].append(t)
    return sorted(
        (
            SymbolFigures(
                symbol,
                len(ts),
                sum(t.closed_ms - t.opened_ms for t in ts) / DAY_MS,
                float(sum(t.funding for t in ts)),
                float(sum(t.fees for t in ts)),
                float(sum(t.pnl for t in ts)),
            )
            for symbol, ts in groups.items()
        ),
        key=lambda f: -f.pnl,
    )


def _stdev(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


def _deployed(points: Sequence[Point]) -> float:
    """Time-weighted: each point's share holds until the next point."""
    total = points[-1].time_ms - points[0].time_ms
    if total <= 0:
        return 0.0
    return (
        sum(float(a.deployed) * (b.time_ms - a.time_ms) for a, b in itertools.pairwise(points))
        / total
    )


def _time_in_market(points: Sequence[Point]) -> float:
    total = points[-1].time_ms - points[0].time_ms
    if total <= 0:
        return 0.0
    busy = sum(b.time_ms - a.time_ms for a, b in itertools.pairwise(points) if a.held)
    return busy / total
