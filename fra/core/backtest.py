"""Replaying history through the strategy: the same ranking, risk and exit rules as run-cycle.

A cycle runs at every funding settlement of any symbol in the data, in the order run-cycle
follows: funding is credited, the shorts' margin is checked against the highs of the bars
since the last cycle (a liquidation or a critical ratio stops everything, as live), the
snapshot is built from what was known at that instant (the rate just settled, the last closed
bars), held positions whose rate fell below the exit rate are closed, and the best-ranked
pairs are opened while the risk rules allow. Pure: the caller loads the history.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import NamedTuple

from fra.core.brackets import (
    Brackets,
    Ladder,
    maintenance_margin,
    maintenance_rate,
    short_liquidation_price,
)
from fra.core.forecast import ForecastParams, Print, Tracker, forecast
from fra.core.history import HOUR_MS, FundingRecord, PriceBar
from fra.core.margin import Cushions, Funds, Short, ShrinkCosts, leg_band, plan_topup
from fra.core.models import SnapshotRow
from fra.core.ranking import Ranked, RankParams, Signal, evaluate, exit_reason, rank, rotation
from fra.core.risk import (
    GLOBAL_RULES,
    ROOM_RULES,
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
# A price is known while a bar closed in the last two bar lengths: one missing bar is a gap.
STALE_BARS = 2


class Params(NamedTuple):
    rank: RankParams
    forecast: ForecastParams  # history holds no predicted rates: the settled mean alone
    limits: RiskLimits
    capital: Decimal
    spot_fee: Decimal
    perp_fee: Decimal
    half_spread: Decimal  # fraction of the price, each leg
    slippage: Decimal  # fraction of the price, each fill, on top of the spread
    brackets: Brackets  # each perpetual's leverage brackets: its shorts' maintenance margin
    margin_alert: Decimal
    margin_critical: Decimal
    resume_after_ms: int  # a halt lasts this long: the human who runs `fra resume`
    cushions: Cushions | None = None  # margin top-ups, as live does them; None: never


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
    perp_bars: tuple[PriceBar, ...]
    spot_bars: tuple[PriceBar, ...]
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
    deployed: Decimal = ZERO  # the share of equity in positions (spot, margin, their P&L)


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
    hours, previous = 8, None
    for _exchange, _symbol, time_ms, rate, interval, mark in records:
        if interval:
            hours = interval
        elif previous is not None:
            gap = round((time_ms - previous) / HOUR_MS)
            if 0 < gap <= 8:
                hours = gap
        out.append(Settlement(time_ms, rate, hours, mark))
        previous = time_ms
    return tuple(out)


def bar_length(bars: Sequence[PriceBar]) -> int:
    """The series' bar length: its most common spacing."""
    gaps = Counter(b.open_time_ms - a.open_time_ms for a, b in pairwise(bars))
    return gaps.most_common(1)[0][0] if gaps else 8 * HOUR_MS


class _Cursor:
    """The bars of one market, read forward in time: only bars closed by `t` are known."""

    def __init__(self, bars: Sequence[PriceBar], bar_ms: int) -> None:
        self.bars = bars
        self.closes = [b.open_time_ms + bar_ms for b in bars]
        self.i = 0  # bars[:i] are closed
        self.next_close = self.closes[0] if bars else None
        self.close: Decimal | None = None
        self.fresh = (0, 0)

    def advance(self, t: int) -> None:
        """Move to `t`: `close` is then the last close known, `fresh` the bars closed since
        the last call."""
        if self.next_close is None or t < self.next_close:
            self.fresh = (self.i, self.i)
            return
        i = self.i
        if i + 1 == len(self.closes) or self.closes[i + 1] > t:  # one bar: the usual case
            j = i + 1
        else:
            j = bisect_right(self.closes, t, lo=i)
        self.fresh = (i, j)
        self.i = j
        self.close = self.bars[j - 1].close
        self.next_close = self.closes[j] if j < len(self.closes) else None

    def fresh_high(self) -> Decimal | None:
        """The highest high of the bars that closed at the last `advance`, if any."""
        i, j = self.fresh
        if j == i + 1:  # the usual case
            return self.bars[i].high
        return max(self.bars[k].high for k in range(i, j)) if j > i else None

    def quote_volume_24h(self, t: int) -> Decimal:
        """Quote volume of the bars that opened in the 24h before `t` and closed by it."""
        total = ZERO
        k = self.i - 1
        while k >= 0 and self.bars[k].open_time_ms >= t - DAY_MS:
            total += self.bars[k].volume * self.bars[k].close
            k -= 1
        return total


class _Symbol:
    """One symbol during the replay: what is known of it at the current cycle."""

    def __init__(self, series: Series, brackets: Ladder) -> None:
        self.series = series
        self.brackets = brackets  # its shorts' maintenance margin, looked up once
        self.perp = _Cursor(series.perp_bars, series.bar_ms)
        self.spot = _Cursor(series.spot_bars, series.bar_ms)
        self.settled: Settlement | None = None
        self._at = -1
        self._row: tuple[int, SnapshotRow | None] = (-1, None)

    def catch_up(self, t: int) -> None:
        """Read the bars closed by `t`. Held symbols catch up every cycle, so `mark_high`
        covers exactly the time since the last margin check; the others only when looked at."""
        if self._at != t:
            self._at = t
            self.perp.advance(t)
            self.spot.advance(t)

    def mark_high(self) -> Decimal | None:
        """The highest mark price since the last catch-up, if a bar closed since, as well as
        bars tell it. The venue liquidates on the mark price, which follows the index (spot
        prices on several exchanges), not on the perp's last trade: a perp-only wick is no
        liquidation (ETHUSDT's perp printed 323 on 2020-03-13 while spot stayed under 139).
        So: the perp high, but no higher than the spot high times the closing basis."""
        perp_high = self.perp.fresh_high()
        spot_high = self.spot.fresh_high()
        if perp_high is None or spot_high is None or not self.spot.close or not self.perp.close:
            return perp_high
        return min(perp_high, spot_high * self.perp.close / self.spot.close)

    def stale(self, t: int) -> bool:
        """No bar closed in the last STALE_BARS bar lengths (perp, or spot where the series
        has spot bars): the data has a gap or has ended, and the price is unknown."""
        oldest = t - STALE_BARS * self.series.bar_ms
        perp, spot = self.perp, self.spot
        if not perp.i or perp.closes[perp.i - 1] < oldest:
            return True
        return bool(spot.bars) and (not spot.i or spot.closes[spot.i - 1] < oldest)

    @property
    def perp_close(self) -> Decimal | None:
        return self.perp.close

    @property
    def spot_close(self) -> Decimal | None:
        return self.spot.close


class _Book:
    """Cash and hedged positions, with the funding, fees and P&L of each: what the strategy
    and the baselines trade through, so both count money the same way."""

    def __init__(self, p: Params) -> None:
        self.p = p
        self.cash = p.capital
        self.held: dict[str, Holding] = {}
        self.trades: list[Trade] = []
        self.funding = ZERO
        self.fees = ZERO
        self._funding_of: dict[str, Decimal] = {}
        self._fees_of: dict[str, Decimal] = {}
        self._realized_of: dict[str, Decimal] = {}  # price P&L taken by resizing

    def open(
        self, symbol: str, amount: Decimal, spot_px: Decimal, perp_px: Decimal, t: int
    ) -> None:
        """Buy `amount` spot at `spot_px`, short it at `perp_px` (prices after spread and
        slippage), posting notional/leverage as isolated margin."""
        p = self.p
        margin = amount * perp_px / p.limits.leverage
        fee = amount * (spot_px * p.spot_fee + perp_px * p.perp_fee)
        self.cash -= amount * spot_px + margin + fee
        self.fees += fee
        self._fees_of[symbol] = fee
        self._funding_of[symbol] = ZERO
        self._realized_of[symbol] = ZERO
        self.held[symbol] = Holding(symbol, amount, spot_px, perp_px, margin, t)

    def close(
        self,
        h: Holding,
        t: int,
        reason: str,
        spot_px: Decimal,
        perp_px: Decimal,
        *,
        perp_fee: bool = True,
    ) -> None:
        """Sell the spot at `spot_px` and buy the short back at `perp_px`; a liquidation has
        no perp fee of ours (the venue keeps the margin)."""
        p = self.p
        fee = h.amount * (spot_px * p.spot_fee + (perp_px * p.perp_fee if perp_fee else ZERO))
        perp_pnl = h.amount * (h.perp_entry - perp_px)
        self.cash += h.amount * spot_px + h.margin + perp_pnl - fee
        self.fees += fee
        fees = self._fees_of.pop(h.symbol) + fee
        funding = self._funding_of.pop(h.symbol)
        realized = self._realized_of.pop(h.symbol)
        price_pnl = h.amount * (spot_px - h.spot_entry) + perp_pnl + realized
        self.trades.append(
            Trade(
                h.symbol,
                h.opened_ms,
                t,
                h.amount * h.spot_entry,
                funding,
                fees,
                price_pnl + funding - fees,
                reason,
            )
        )
        del self.held[h.symbol]

    def resize(self, h: Holding, amount: Decimal, spot_mid: Decimal, perp_mid: Decimal) -> None:
        """Trade both legs to `amount` coins: only the difference pays fees, spread and
        slippage. The short's P&L so far is settled and its margin reset to the new size."""
        p = self.p
        cost = p.half_spread + p.slippage
        delta = amount - h.amount
        side = ONE if delta > 0 else -ONE  # buying spot and selling perp when growing
        traded = abs(delta)
        spot_px = spot_mid * (ONE + side * cost)
        perp_px = perp_mid * (ONE - side * cost)
        fee = traded * (spot_px * p.spot_fee + perp_px * p.perp_fee)
        crossing = traded * (spot_mid + perp_mid) * cost
        perp_pnl = h.amount * (h.perp_entry - perp_mid)
        margin = amount * perp_mid / p.limits.leverage
        self.cash += h.margin + perp_pnl - delta * spot_mid - crossing - margin - fee
        self.fees += fee
        self._fees_of[h.symbol] += fee
        self._realized_of[h.symbol] += h.amount * (spot_mid - h.spot_entry) + perp_pnl - crossing
        self.held[h.symbol] = Holding(h.symbol, amount, spot_mid, perp_mid, margin, h.opened_ms)

    def add_margin(self, h: Holding, amount: Decimal) -> Holding:
        self.cash -= amount
        h = h._replace(margin=h.margin + amount)
        self.held[h.symbol] = h
        return h

    def shrink(self, h: Holding, q: Decimal, spot_mid: Decimal, perp_mid: Decimal) -> Holding:
        """Sell `q` coins of the spot and buy `q` back of the short (spread, slippage and fees
        paid); the short's margin for them is released to the cash."""
        p = self.p
        cost = p.half_spread + p.slippage
        spot_px, perp_px = spot_mid * (ONE - cost), perp_mid * (ONE + cost)
        fee = q * (spot_px * p.spot_fee + perp_px * p.perp_fee)
        released = h.margin * q / h.amount
        perp_pnl = q * (h.perp_entry - perp_px)
        self.cash += q * spot_px + released + perp_pnl - fee
        self.fees += fee
        self._fees_of[h.symbol] += fee
        self._realized_of[h.symbol] += q * (spot_px - h.spot_entry) + perp_pnl
        h = h._replace(amount=h.amount - q, margin=h.margin - released)
        self.held[h.symbol] = h
        return h

    def credit_funding(self, st: Settlement, sym: _Symbol) -> None:
        """The settlement's funding to the short held, on its mark price (else the last close)."""
        symbol = sym.series.symbol
        h = self.held[symbol]
        mark = st.mark_price or sym.perp_close or h.perp_entry
        amount = h.amount * mark * st.rate  # shorts receive a positive rate
        self.cash += amount
        self.funding += amount
        self._funding_of[symbol] += amount

    def equity(self, symbols: dict[str, _Symbol]) -> Decimal:
        return self.cash + sum((_value(h, symbols[h.symbol]) for h in self.held.values()), ZERO)

    def close_all(self, symbols: dict[str, _Symbol], t: int, reason: str) -> None:
        """At the last close known, paying spread and slippage."""
        cost = self.p.half_spread + self.p.slippage
        for h in list(self.held.values()):
            sym = symbols[h.symbol]
            self.close(
                h,
                t,
                reason,
                (sym.spot_close or h.spot_entry) * (ONE - cost),
                (sym.perp_close or h.perp_entry) * (ONE + cost),
            )


def _value(h: Holding, sym: _Symbol) -> Decimal:
    """What a position is worth at the last closes: the coins, the margin, the short's P&L."""
    spot = sym.spot_close or h.spot_entry
    perp = sym.perp_close or h.perp_entry
    return h.amount * spot + h.margin + h.amount * (h.perp_entry - perp)


def _settles_between(s: Series, since_ms: int, until_ms: int) -> bool:
    i = bisect_left(s.settlements, since_ms, key=lambda st: st.time_ms)
    return i < len(s.settlements) and s.settlements[i].time_ms <= until_ms


Timeline = dict[int, list[tuple[str, Settlement]]]


def timeline(series: Sequence[Series], since_ms: int, until_ms: int) -> Timeline:
    """The cycles to run: every settlement time in the period, with what settled then. The
    replays build it themselves; a caller replaying the same series several times (the
    strategy and a baseline) builds it once and passes it."""
    by_time: dict[int, list[tuple[str, Settlement]]] = {}
    for s in series:
        times = [st.time_ms for st in s.settlements]
        first, last = bisect_left(times, since_ms), bisect_right(times, until_ms)
        for time_ms, st in zip(times[first:last], s.settlements[first:last], strict=True):
            by_time.setdefault(time_ms, []).append((s.symbol, st))
    return by_time


def run(
    series: Sequence[Series],
    params: Params,
    since_ms: int,
    until_ms: int,
    cycles: Timeline | None = None,
) -> Result:
    p = params
    symbols = {s.symbol: _Symbol(s, p.brackets.of(s.symbol)) for s in series}
    by_time = cycles if cycles is not None else timeline(series, since_ms, until_ms)
    book = _Book(p)
    held = book.held
    points: list[Point] = []
    events: list[str] = []
    halted_until = -1
    per_unit = capital_needed(ONE, p.limits.leverage, p.spot_fee, p.perp_fee)
    trackers = {s.symbol: Tracker(p.forecast.half_life_hours, p.rank.stop_rate) for s in series}
    signals: dict[str, Signal] = {}
    # Only a pair whose forecast clears the entry rate can be eligible (rank's first test), so
    # rows are built for those and the held ones only; rank itself still applies every rule.
    paying: set[str] = set()

    times = sorted(by_time)
    # The prints before the period: the forecast's warm-up, as live has them in state.db.
    for s in series:
        tracker = trackers[s.symbol]
        for st in s.settlements:
            if times and st.time_ms >= times[0]:
                break
            tracker.add(Print(st.time_ms, st.rate, st.interval_hours))
    for t in times:
        # 1. What became known: bars closed by t, settlements at t.
        for name in held:
            symbols[name].catch_up(t)
        for name, st in by_time[t]:
            symbols[name].settled = st
            tracker = trackers[name]
            tracker.add(Print(st.time_ms, st.rate, st.interval_hours))
            f = forecast(tracker.mean, None, p.forecast)
            signals[name] = Signal(f, tracker.below_since_ms)
            if f is not None and f >= p.rank.min_rate:
                paying.add(name)
            else:
                paying.discard(name)

        # 2. Margin, against the highest mark price since the last cycle, before funding: a
        # short liquidated or stopped on the way to t is not paid at t. Where top-ups are on,
        # live tops a short up every cycle as the price climbs, so one that survived the high
        # is topped up now and its level judged after; the emergency stop is the last line.
        level = MarginLevel.OK
        for h in list(held.values()):
            sym = symbols[h.symbol]
            brackets = sym.brackets
            high = sym.mark_high() or sym.perp_close or h.perp_entry
            ratio = _margin_ratio(h, high, brackets)
            if ratio >= 1:
                _liquidate(book, h, sym, t, high, events)
                level = MarginLevel.CRITICAL
                continue
            # The cushion shrinks as the price rises: a short with the trigger's cushion at a
            # high above the close has it at the close too, so the plan is skipped.
            close = sym.perp_close
            if (
                p.cushions is not None
                and close
                and sym.spot_close
                and (high < close or _cushion(h, high, brackets) < p.cushions.trigger)
            ):
                h = _top_up(book, h, sym.spot_close, close, p.cushions, t, brackets)
                if h is None:
                    continue
                ratio = _margin_ratio(h, close, brackets)
            level = max(
                level,
                margin_level(ratio, p.margin_alert, p.margin_critical),
                key=_LEVELS.index,
            )
        if level is MarginLevel.CRITICAL:
            if held:
                events.append(f"{_day(t)} emergency stop: {', '.join(sorted(held))} closed")
            book.close_all(symbols, t, "emergency stop: critical margin")
            halted_until = t + p.resume_after_ms

        # 3. Funding to the shorts held.
        for name, st in by_time[t]:
            if name in held:
                book.credit_funding(st, symbols[name])

        # 4. Exits, by the same rule as run-cycle, on the snapshot it would have taken.
        cost = p.half_spread + p.slippage
        for h in list(held.values()):
            sym = symbols[h.symbol]
            if sym.stale(t):
                reason = "no recent prices (a gap in the bars)"
            else:
                r = _ranked(sym, t, p, signals.get(h.symbol), held=True)
                reason = exit_reason(r, signals.get(h.symbol), p.rank, t)
            if reason is not None:
                book.close(
                    h,
                    t,
                    reason,
                    (sym.spot_close or h.spot_entry) * (ONE - cost),
                    (sym.perp_close or h.perp_entry) * (ONE + cost),
                )

        # 5. Opens, best first, while the risk rules allow; a better pair may take a held
        # one's place.
        halted = t < halted_until
        if not halted and level is MarginLevel.OK:
            names = paying.difference(held)
            if len(held) >= p.limits.max_positions:
                # No free position: only a rotation can open, and only into a pair expected to
                # pay more than the worst held one (rotation's first test), so only those are
                # ranked; in the usual cycle there is none.
                worst = min((_forecast(signals, h) for h in held), default=None)
                names = {n for n in names if worst is None or _forecast(signals, n) > worst}
            if names:
                rows = [r for r in (_row(symbols[n], t, p) for n in names) if r is not None]
                _open_best(book, rows, p, per_unit, t, symbols, signals)

        equity = book.equity(symbols)
        points.append(Point(t, equity, tuple(sorted(held)), _share(equity - book.cash, equity)))

    if times:
        book.close_all(symbols, times[-1], "end of the backtest")
        points.append(Point(times[-1], book.cash, ()))
    return Result(points, book.trades, book.funding, book.fees, events)


def _open_best(
    book: _Book,
    rows: list[SnapshotRow],
    p: Params,
    per_unit: Decimal,
    t: int,
    symbols: dict[str, _Symbol],
    signals: dict[str, Signal],
) -> None:
    held = book.held
    rotated = False
    for candidate in rank(rows, p.rank, held, signals=signals, now_ms=t):
        if not candidate.eligible:
            break
        while True:
            refusals, notional = _room(book, p, per_unit, symbols, candidate.symbol)
            if not refusals and notional > 0:
                break
            room = notional <= 0 or any(r.rule in ROOM_RULES for r in refusals)
            out = None
            if room and not rotated:
                ranked_held = [
                    r
                    for h in held
                    if (r := _ranked(symbols[h], t, p, signals.get(h), held=True)) is not None
                ]
                out = rotation(ranked_held, candidate, p.rank)
            if out is None:
                if room or any(r.rule in GLOBAL_RULES for r in refusals):
                    return
                break
            rotated = True  # one switch a cycle: the next cycle judges again
            sym = symbols[out.symbol]
            cost = p.half_spread + p.slippage
            book.close(
                held[out.symbol],
                t,
                f"rotated into {candidate.symbol}",
                (sym.spot_close or held[out.symbol].spot_entry) * (ONE - cost),
                (sym.perp_close or held[out.symbol].perp_entry) * (ONE + cost),
            )
        if refusals or notional <= 0:
            continue
        row = candidate.row
        assert row.spot_ask is not None
        spot_px = row.spot_ask * (ONE + p.slippage)
        perp_px = row.perp_bid * (ONE - p.slippage)
        # Sized on the dearer leg, as live's size_hedge is: the margin and the perp fee are
        # charged on the perp's price, above spot's whenever funding is positive.
        book.open(row.perp_symbol, notional / max(spot_px, perp_px), spot_px, perp_px, t)


def _room(
    book: _Book, p: Params, per_unit: Decimal, symbols: dict[str, _Symbol], symbol: str
) -> tuple[list, Decimal]:
    """The risk rules' answer to opening `symbol` as large as they allow, and that size."""
    held = book.held
    exposure = sum((h.amount * h.spot_entry for h in held.values()), ZERO)
    equity = book.equity(symbols)
    notional = largest_notional(p.limits, exposure, book.cash, per_unit, equity)
    refusals = check_open(
        limits=p.limits,
        notional=notional,
        open_positions=len(held),
        exposure=exposure,
        free_quote=book.cash,
        needed=notional * per_unit,
        halt_reason=None,
        already_held=symbol in held,
        equity=equity,
        per_unit=per_unit,
    )
    return refusals, notional


def _ranked(sym: _Symbol, t: int, p: Params, signal: Signal | None, *, held: bool) -> Ranked | None:
    row = _row(sym, t, p)
    return evaluate(row, p.rank, held, False, signal) if row is not None else None


_LEVELS = [MarginLevel.OK, MarginLevel.ALERT, MarginLevel.CRITICAL]


def _cushion(h: Holding, mark: Decimal, brackets: Ladder) -> Decimal:
    rate = maintenance_rate(brackets, h.amount * mark)
    return Short(h.amount, h.perp_entry, mark, h.margin, rate).cushion


def _top_up(
    book: _Book,
    h: Holding,
    spot: Decimal,
    mark: Decimal,
    cushions: Cushions,
    t: int,
    brackets: Ladder,
) -> Holding | None:
    """The short's margin brought back inside the band by fra.core.margin's plan, with the
    replay's one pool of cash (None: the plan shrank the position away). The rate at the
    short's size, as live's top-up takes it from the venue's maintenance margin."""
    p = book.p
    rate = maintenance_rate(brackets, h.amount * mark)
    short = Short(h.amount, h.perp_entry, mark, h.margin, rate)
    costs = ShrinkCosts(spot * (ONE - p.half_spread - p.slippage), p.spot_fee, p.perp_fee)
    band = leg_band(cushions, p.limits.leverage, rate)
    if band is None:
        return h
    plan = plan_topup(short, Funds(max(book.cash, ZERO)), band, costs)
    if plan.shrink >= h.amount:
        cost = p.half_spread + p.slippage
        book.close(h, t, "margin: no funds to top up", spot * (ONE - cost), mark * (ONE + cost))
        return None
    if plan.shrink:
        h = book.shrink(h, plan.shrink, spot, mark)
    if plan.add:
        h = book.add_margin(h, min(plan.add, max(book.cash, ZERO)))
    return h


def _margin_ratio(h: Holding, mark: Decimal, brackets: Ladder) -> Decimal:
    """Maintenance margin over the isolated margin balance of a short at `mark`."""
    balance = h.margin + h.amount * (h.perp_entry - mark)
    return maintenance_margin(brackets, h.amount * mark) / balance if balance > 0 else INFINITY


def _liquidation_price(h: Holding, brackets: Ladder) -> Decimal:
    """The mark price at which `_margin_ratio` reaches 1."""
    return short_liquidation_price(brackets, h.amount, h.perp_entry, h.margin)


def _liquidate(
    book: _Book, h: Holding, sym: _Symbol, t: int, high: Decimal, events: list[str]
) -> None:
    """The venue closes the short at its bankruptcy price and keeps the margin. Live fra sees
    it within a cycle and sells the spot then, near the liquidation price (margin ratio 1),
    not at the bar's close hours later, after a squeeze may have reverted."""
    p = book.p
    events.append(f"{_day(t)} {h.symbol}: short liquidated (mark high ~{high:.6g})")
    bankrupt = h.perp_entry + h.margin / h.amount
    liquidation = _liquidation_price(h, sym.brackets)
    basis = sym.spot_close / sym.perp_close if sym.spot_close and sym.perp_close else ONE
    spot_px = liquidation * basis * (ONE - p.half_spread - p.slippage)
    book.close(h, t, "perp leg liquidated by the venue", spot_px, bankrupt, perp_fee=False)


def _row(sym: _Symbol, t: int, p: Params) -> SnapshotRow | None:
    """The symbol's snapshot row at `t` (None while its price or rate is unknown), built once
    per cycle."""
    sym.catch_up(t)
    st = sym.settled
    if st is None or sym.perp_close is None or sym.stale(t):
        return None
    if sym._row[0] != t:
        sym._row = (t, _new_row(sym, st, t - st.time_ms <= STALE_MS, p, t))
    return sym._row[1]


def _new_row(sym: _Symbol, st: Settlement, fresh: bool, p: Params, t: int) -> SnapshotRow:
    assert sym.perp_close is not None
    spot = sym.spot_close
    hs = p.half_spread
    volume = sym.perp.quote_volume_24h(t)
    if spot is not None:
        volume = min(volume, sym.spot.quote_volume_24h(t))
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


def _forecast(signals: dict[str, Signal], name: str) -> Decimal:
    signal = signals.get(name)
    f = signal.forecast if signal is not None else None
    return f if f is not None else -INFINITY


def _share(part: Decimal, whole: Decimal) -> Decimal:
    return part / whole if whole > 0 else ZERO


def _day(t: int) -> str:
    return datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%d %H:%M")


# A baseline's position is traded back to its share of the equity when it drifts this far:
# inside a 3x short's margin (a 10 % rise uses under a third of it), and a drift a person
# holding the trade would not let grow; a fixed coin amount would let BTC's notional grow 14x
# from 2020 to 2024, and its funding with it, on no more capital.
REBALANCE_BAND = Decimal("0.10")


def hold(
    series: Sequence[Series],
    params: Params,
    since_ms: int,
    until_ms: int,
    cycles: Timeline | None = None,
) -> Result:
    """The baseline: an equal share of the equity in the carry trade of each symbol that
    settles in the period, entered at its first settlement and held to the end, whatever the
    rate. At each of its settlements a position that drifted more than REBALANCE_BAND from its
    share is traded back to it (fees, spread and slippage on the difference), which also tops
    up the short's margin. Its margin is checked like the strategy's: a short liquidated
    between two settlements loses its margin and is entered again at the next one. No risk
    rules, no stops: it shows the trade."""
    p = params
    symbols = {s.symbol: _Symbol(s, p.brackets.of(s.symbol)) for s in series}
    by_time = cycles if cycles is not None else timeline(series, since_ms, until_ms)
    trading = [s for s in series if _settles_between(s, since_ms, until_ms)]
    share = ONE / len(trading) if trading else ZERO
    cost = p.half_spread + p.slippage
    book = _Book(p)
    points: list[Point] = []
    events: list[str] = []
    # Every symbol is held, so the work per cycle is kept to the symbols with news (a bar
    # closed, a settlement): the others' values stand, summed in `invested`. A cycle that
    # looked at every symbol would cost cycles x symbols (200 symbols settling hourly: 1.7M).
    closing: dict[int, list[str]] = {}
    for name, sym in symbols.items():
        for close in (*sym.perp.closes, *sym.spot.closes):
            closing.setdefault(close, []).append(name)
    close_times = sorted(closing)
    k = 0
    values: dict[str, Decimal] = {}
    invested = ZERO
    held: tuple[str, ...] = ()
    liquidation_at: dict[str, tuple[Holding, Decimal]] = {}
    buy = (ONE + cost) * (ONE + p.spot_fee)  # per coin of spot: price, spread, fee
    short = (ONE - cost) * (ONE / p.limits.leverage + p.perp_fee)  # per coin: margin, fee

    def revalue(name: str) -> None:
        nonlocal invested, held
        was_held = name in values
        value = _value(book.held[name], symbols[name]) if name in book.held else ZERO
        invested += value - values.pop(name, ZERO)
        if name in book.held:
            values[name] = value
        if was_held != (name in values):
            held = tuple(sorted(values))

    times = sorted(by_time)
    for t in times:
        news = [name for name, _st in by_time[t]]
        while k < len(close_times) and close_times[k] <= t:
            news += closing[close_times[k]]
            k += 1
        for name in news:
            sym = symbols[name]
            if sym._at == t:
                continue  # seen this cycle (a bar closed and it settled)
            sym.catch_up(t)
            h = book.held.get(name)
            if h is not None:
                cached = liquidation_at.get(name)
                if cached is None or cached[0] is not h:
                    cached = liquidation_at[name] = (h, _liquidation_price(h, sym.brackets))
                # The perp high first: the mark high is never above it, and rarely near.
                perp_high = sym.perp.fresh_high()
                if perp_high is not None and perp_high >= cached[1]:
                    high = sym.mark_high()
                    if high is not None and high >= cached[1]:
                        _liquidate(book, h, sym, t, high, events)
                revalue(name)
        for name, st in by_time[t]:
            if name in book.held:
                book.credit_funding(st, symbols[name])
        equity = book.cash + invested
        for name, _st in by_time[t]:
            sym = symbols[name]
            spot, perp = sym.spot_close, sym.perp_close
            if spot is None or perp is None or equity <= 0 or sym.stale(t):
                continue
            # Coins the share pays for at these fills: spot, margin and both fees.
            amount = equity * share / (spot * buy + perp * short)
            h = book.held.get(name)
            if h is None:
                book.open(name, amount, spot * (ONE + cost), perp * (ONE - cost), t)
            elif abs(h.amount - amount) > REBALANCE_BAND * amount:
                book.resize(h, amount, spot, perp)
            else:
                continue
            revalue(name)
        points.append(Point(t, book.cash + invested, held, _share(invested, book.cash + invested)))
    if times:
        book.close_all(symbols, times[-1], "end of the backtest")
        points.append(Point(times[-1], book.cash, ()))
    return Result(points, book.trades, book.funding, book.fees, events)
