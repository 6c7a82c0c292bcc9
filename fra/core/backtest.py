"""Replaying history through the strategy: the same ranking, risk and exit rules as run-cycle.

A cycle runs at every funding settlement of any symbol in the data, in the order run-cycle
follows: funding is credited, the shorts' margin is checked against the highs of the bars
since the last cycle (a liquidation or a critical ratio stops everything, as live), the
snapshot is built from what was known at that instant (the rate just settled, the last closed
bars), held positions whose rate fell below the exit rate are closed, and the best-ranked
pairs are opened while the risk rules allow. Pure: the caller loads the history.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

from fra.core.history import HOUR_MS, Bar, FundingRecord
from fra.core.models import SnapshotRow
from fra.core.ranking import RankParams, exit_reason, rank
from fra.core.risk import (
    GLOBAL_RULES,
    MarginLevel,
    RiskLimits,
    capital_needed,
    check_open,
    largest_notional,
    margin_level,
)

ZERO = Decimal(0)
ONE = Decimal(1)
DAY_MS = 24 * HOUR_MS
INFINITY = Decimal("Infinity")
# A rate is news for two of the longest intervals (8h): older than that, the data has a gap
# and the rate is unknown, as live would find it. Shorter intervals change back and forth
# (SOL went 8h -> 4h -> 2h -> 8h in November 2022), so their own length can't be the test.
STALE_MS = 16 * HOUR_MS


class Params(NamedTuple):
    rank: RankParams
    exit_rate: Decimal  # per 8h
    limits: RiskLimits
    capital: Decimal
    spot_fee: Decimal
    perp_fee: Decimal
    half_spread: Decimal  # fraction of the price, each leg
    slippage: Decimal  # fraction of the price, each fill, on top of the spread
    maintenance_rate: Decimal  # maintenance margin / notional of a short
    margin_alert: Decimal
    margin_critical: Decimal
    resume_after_ms: int  # a halt lasts this long: the human who runs `fra resume`


class Settlement(NamedTuple):
    time_ms: int
    rate: Decimal
    interval_hours: int
    mark_price: Decimal | None


class Series(NamedTuple):
    """One perpetual's history: settlements, and its perp and spot bars (spot may be empty)."""

    symbol: str
    spot_symbol: str
    settlements: tuple[Settlement, ...]
    perp_bars: tuple[Bar, ...]
    spot_bars: tuple[Bar, ...]
    bar_ms: int


class Holding(NamedTuple):
    symbol: str
    amount: Decimal  # coins held spot, and short on the perpetual
    spot_entry: Decimal
    perp_entry: Decimal
    margin: Decimal  # isolated margin posted
    opened_ms: int


class Trade(NamedTuple):
    symbol: str
    opened_ms: int
    closed_ms: int
    notional: Decimal
    funding: Decimal
    fees: Decimal
    pnl: Decimal  # net: both legs' price P&L, funding, fees
    reason: str


class Point(NamedTuple):
    time_ms: int
    equity: Decimal
    held: tuple[str, ...]


class Result(NamedTuple):
    points: list[Point]
    trades: list[Trade]
    funding: Decimal
    fees: Decimal
    events: list[str]  # liquidations, emergency stops, data gaps


def intervals(records: Sequence[FundingRecord]) -> tuple[Settlement, ...]:
    """Settlements with their interval: as recorded, else the spacing from the previous one.
    A spacing longer than 8h is a gap in the data, not an interval: the last one is kept."""
    out: list[Settlement] = []
    hours = 8
    for i, r in enumerate(records):
        if r.interval_hours:
            hours = r.interval_hours
        elif i:
            gap = round((r.time_ms - records[i - 1].time_ms) / HOUR_MS)
            if 0 < gap <= 8:
                hours = gap
        out.append(Settlement(r.time_ms, r.rate, hours, r.mark_price))
    return tuple(out)


def bar_length(bars: Sequence[Bar]) -> int:
    """The series' bar length: its most common spacing."""
    gaps = Counter(b.open_time_ms - a.open_time_ms for a, b in pairwise(bars))
    return gaps.most_common(1)[0][0] if gaps else 8 * HOUR_MS


class _Cursor:
    """The bars of one market, read forward in time: only bars closed by `t` are known."""

    def __init__(self, bars: Sequence[Bar], bar_ms: int) -> None:
        self.bars = bars
        self.closes = [b.open_time_ms + bar_ms for b in bars]
        self.i = 0  # bars[:i] are closed
        self.next_close = self.closes[0] if bars else None
        self.close: Decimal | None = None
        self._volume: tuple[int, Decimal] = (-1, ZERO)

    def advance(self, t: int) -> Decimal | None:
        """Move to `t`: the highest high of the bars that closed since the last call, if any;
        `close` is then the last close known."""
        if self.next_close is None or t < self.next_close:
            return None
        j = bisect_right(self.closes, t, lo=self.i)
        high = max(b.high for b in self.bars[self.i : j])
        self.i = j
        self.close = self.bars[j - 1].close
        self.next_close = self.closes[j] if j < len(self.closes) else None
        return high

    def quote_volume_24h(self) -> Decimal:
        if self._volume[0] != self.i:
            start = self.closes[self.i - 1] - DAY_MS if self.i else 0
            total = ZERO
            k = self.i - 1
            while k >= 0 and self.bars[k].open_time_ms >= start:
                total += self.bars[k].volume * self.bars[k].close
                k -= 1
            self._volume = (self.i, total)
        return self._volume[1]


class _Symbol:
    def __init__(self, series: Series) -> None:
        self.series = series
        self.perp = _Cursor(series.perp_bars, series.bar_ms)
        self.spot = _Cursor(series.spot_bars, series.bar_ms)
        self.settled: Settlement | None = None
        self.perp_high: Decimal | None = None
        self._row: tuple[tuple[object, ...], SnapshotRow | None] = ((), None)

    @property
    def perp_close(self) -> Decimal | None:
        return self.perp.close

    @property
    def spot_close(self) -> Decimal | None:
        return self.spot.close


def _timeline(
    series: Sequence[Series], since_ms: int, until_ms: int
) -> dict[int, list[tuple[str, Settlement]]]:
    """The cycles to run: every settlement time in the period, with what settled then."""
    by_time: dict[int, list[tuple[str, Settlement]]] = {}
    for s in series:
        for st in s.settlements:
            if since_ms <= st.time_ms <= until_ms:
                by_time.setdefault(st.time_ms, []).append((s.symbol, st))
    return by_time


def run(series: Sequence[Series], params: Params, since_ms: int, until_ms: int) -> Result:
    symbols = {s.symbol: _Symbol(s) for s in series}
    by_time = _timeline(series, since_ms, until_ms)
    p = params
    cash = p.capital
    held: dict[str, Holding] = {}
    funding_of: dict[str, Decimal] = {}
    fees_of: dict[str, Decimal] = {}
    points: list[Point] = []
    trades: list[Trade] = []
    events: list[str] = []
    total_funding = total_fees = ZERO
    halted_until = -1
    per_unit = capital_needed(ONE, p.limits.leverage, p.spot_fee, p.perp_fee)
    cost = p.half_spread + p.slippage

    def close(h: Holding, t: int, reason: str, perp_price: Decimal | None = None) -> None:
        nonlocal cash, total_fees
        sym = symbols[h.symbol]
        spot_px = (sym.spot_close or h.spot_entry) * (ONE - cost)
        perp_px = perp_price or (sym.perp_close or h.perp_entry) * (ONE + cost)
        fee = h.amount * (spot_px * p.spot_fee + (perp_px * p.perp_fee if not perp_price else 0))
        perp_pnl = h.amount * (h.perp_entry - perp_px)
        cash += h.amount * spot_px + h.margin + perp_pnl - fee
        total_fees += fee
        fees = fees_of.pop(h.symbol) + fee
        funding = funding_of.pop(h.symbol)
        spot_pnl = h.amount * (spot_px - h.spot_entry)
        trades.append(
            Trade(
                h.symbol,
                h.opened_ms,
                t,
                h.amount * h.spot_entry,
                funding,
                fees,
                spot_pnl + perp_pnl + funding - fees,
                reason,
            )
        )
        del held[h.symbol]

    times = sorted(by_time)
    for t in times:
        # 1. What became known: settlements at t, bars closed by t. Funding to the shorts held.
        for sym in symbols.values():
            sym.perp_high = sym.perp.advance(t)
            sym.spot.advance(t)
        for name, st in by_time[t]:
            sym = symbols[name]
            sym.settled = st
            h = held.get(name)
            if h is not None:
                mark = st.mark_price or sym.perp_close or h.perp_entry
                amount = h.amount * mark * st.rate  # shorts receive a positive rate
                cash += amount
                total_funding += amount
                funding_of[name] += amount

        # 2. Margin, against the highest price since the last cycle.
        level = MarginLevel.OK
        for h in list(held.values()):
            sym = symbols[h.symbol]
            high = sym.perp_high or sym.perp_close or h.perp_entry
            balance = h.margin + h.amount * (h.perp_entry - high)
            ratio = h.amount * high * p.maintenance_rate / balance if balance > 0 else INFINITY
            if ratio >= 1:
                bankrupt = h.perp_entry + h.margin / h.amount
                events.append(f"{_day(t)} {h.symbol}: short liquidated (high {high})")
                close(h, t, "perp leg liquidated by the venue", perp_price=bankrupt)
                level = MarginLevel.CRITICAL
            else:
                level = max(
                    level,
                    margin_level(ratio, p.margin_alert, p.margin_critical),
                    key=_LEVELS.index,
                )
        if level is MarginLevel.CRITICAL:
            if held:
                events.append(f"{_day(t)} emergency stop: {', '.join(sorted(held))} closed")
            for h in list(held.values()):
                close(h, t, "emergency stop: critical margin")
            halted_until = t + p.resume_after_ms

        # 3. The snapshot as run-cycle would have taken it.
        rows = {}
        for name, sym in symbols.items():
            row = _row(sym, t, p)
            if row is not None:
                rows[name] = row

        # 4. Exits, by the same rule as run-cycle.
        for h in list(held.values()):
            reason = exit_reason(rows.get(h.symbol), p.exit_rate)
            if reason is not None:
                close(h, t, reason)

        # 5. Opens, best first, while the risk rules allow.
        halted = t < halted_until
        if not halted and level is MarginLevel.OK:
            for candidate in rank(rows.values(), p.rank, held, halted):
                if not candidate.eligible:
                    break
                row = candidate.row
                exposure = sum((h.amount * h.spot_entry for h in held.values()), ZERO)
                notional = largest_notional(p.limits, exposure, cash, per_unit)
                refusals = check_open(
                    limits=p.limits,
                    notional=notional,
                    open_positions=len(held),
                    exposure=exposure,
                    free_quote=cash,
                    needed=notional * per_unit,
                    halt_reason=None,
                    already_held=row.perp_symbol in held,
                )
                if refusals or notional <= 0:
                    if any(r.rule in GLOBAL_RULES for r in refusals) or notional <= 0:
                        break
                    continue
                assert row.spot_ask is not None
                spot_px = row.spot_ask * (ONE + p.slippage)
                perp_px = row.perp_bid * (ONE - p.slippage)
                amount = notional / spot_px
                margin = amount * perp_px / p.limits.leverage
                fee = amount * (spot_px * p.spot_fee + perp_px * p.perp_fee)
                cash -= amount * spot_px + margin + fee
                total_fees += fee
                fees_of[row.perp_symbol] = fee
                funding_of[row.perp_symbol] = ZERO
                held[row.perp_symbol] = Holding(
                    row.perp_symbol, amount, spot_px, perp_px, margin, t
                )

        points.append(Point(t, _equity(cash, held, symbols), tuple(sorted(held))))

    if times:
        for h in list(held.values()):
            close(h, times[-1], "end of the backtest")
        points.append(Point(times[-1], cash, ()))
    return Result(points, trades, total_funding, total_fees, events)


_LEVELS = [MarginLevel.OK, MarginLevel.ALERT, MarginLevel.CRITICAL]


def _row(sym: _Symbol, t: int, p: Params) -> SnapshotRow | None:
    """The symbol's snapshot row at `t`; the same object while nothing new is known."""
    st = sym.settled
    if st is None or sym.perp_close is None:
        return None
    fresh = t - st.time_ms <= STALE_MS
    key = (st, sym.perp.i, sym.spot.i, fresh)
    if sym._row[0] != key:
        sym._row = (key, _new_row(sym, st, fresh, p))
    return sym._row[1]


def _new_row(sym: _Symbol, st: Settlement, fresh: bool, p: Params) -> SnapshotRow:
    assert sym.perp_close is not None
    spot = sym.spot_close
    hs = p.half_spread
    volume = sym.perp.quote_volume_24h()
    if spot is not None:
        volume = min(volume, sym.spot.quote_volume_24h())
    return SnapshotRow(
        perp_symbol=sym.series.symbol,
        spot_symbol=sym.series.spot_symbol if spot is not None else None,
        funding_rate=st.rate if fresh else None,
        interval_hours=st.interval_hours,
        next_funding_ms=st.time_ms + st.interval_hours * HOUR_MS,
        mark_price=sym.perp_close,
        perp_bid=sym.perp_close * (ONE - hs),
        perp_ask=sym.perp_close * (ONE + hs),
        spot_bid=spot * (ONE - hs) if spot is not None else None,
        spot_ask=spot * (ONE + hs) if spot is not None else None,
        quote_volume_24h=volume,
        perp_taker_fee=p.perp_fee,
        spot_taker_fee=p.spot_fee,
    )


def _equity(cash: Decimal, held: dict[str, Holding], symbols: dict[str, _Symbol]) -> Decimal:
    total = cash
    for h in held.values():
        sym = symbols[h.symbol]
        spot = sym.spot_close or h.spot_entry
        perp = sym.perp_close or h.perp_entry
        total += h.amount * spot + h.margin + h.amount * (h.perp_entry - perp)
    return total


def _day(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def hold(series: Sequence[Series], params: Params, since_ms: int, until_ms: int) -> Result:
    """The baseline: an equal share of the capital in each symbol's carry trade, entered at its
    first settlement in the period and held to the end, whatever the rate. Its margin is taken
    as topped up from the spot leg (no liquidation), so it shows the trade, not the risk rules."""
    p = params
    symbols = {s.symbol: _Symbol(s) for s in series}
    by_time = _timeline(series, since_ms, until_ms)
    per_unit = capital_needed(ONE, p.limits.leverage, p.spot_fee, p.perp_fee)
    budget = p.capital / len(series) if series else ZERO
    cost = p.half_spread + p.slippage
    cash, total_funding, total_fees = p.capital, ZERO, ZERO
    held: dict[str, Holding] = {}
    funding_of: dict[str, Decimal] = {}
    points: list[Point] = []
    times = sorted(by_time)
    for t in times:
        for sym in symbols.values():
            sym.perp.advance(t)
            sym.spot.advance(t)
        for name, st in by_time[t]:
            sym = symbols[name]
            h = held.get(name)
            if h is not None:
                amount = h.amount * (st.mark_price or sym.perp_close or h.perp_entry) * st.rate
                cash += amount
                total_funding += amount
                funding_of[name] += amount
            elif sym.perp_close is not None and sym.spot_close is not None:
                spot_px = sym.spot_close * (ONE + cost)
                perp_px = sym.perp_close * (ONE - cost)
                amount = budget / per_unit / spot_px
                margin = amount * perp_px / p.limits.leverage
                fee = amount * (spot_px * p.spot_fee + perp_px * p.perp_fee)
                cash -= amount * spot_px + margin + fee
                total_fees += fee
                funding_of[name] = ZERO
                held[name] = Holding(name, amount, spot_px, perp_px, margin, t)
        points.append(Point(t, _equity(cash, held, symbols), tuple(sorted(held))))
    trades = []
    for h in held.values():
        sym = symbols[h.symbol]
        spot_px = (sym.spot_close or h.spot_entry) * (ONE - cost)
        perp_px = (sym.perp_close or h.perp_entry) * (ONE + cost)
        fee = h.amount * (spot_px * p.spot_fee + perp_px * p.perp_fee)
        perp_pnl = h.amount * (h.perp_entry - perp_px)
        cash += h.amount * spot_px + h.margin + perp_pnl - fee
        total_fees += fee
        funding = funding_of[h.symbol]
        pnl = h.amount * (spot_px - h.spot_entry) + perp_pnl + funding - fee
        trades.append(
            Trade(h.symbol, h.opened_ms, times[-1], h.amount * h.spot_entry, funding, fee, pnl,
                  "end of the backtest")
        )  # fmt: skip
    if times:
        points.append(Point(times[-1], cash, ()))
    return Result(points, trades, total_funding, total_fees, [])
