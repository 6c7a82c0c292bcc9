"""What a perpetual is expected to pay over the holding horizon, from its settled funding.

A single print is a noisy estimate of the weeks ahead: on some venues consecutive prints are
barely correlated. The forecast is an exponentially weighted mean of the settled prints (per
8h), each weighted by the hours it paid for, so a 1h symbol's eight prints count as much as an
8h symbol's one, and older prints fade with a half-life. Where the venue predicts the next
rate, that prediction is blended in with a fixed weight. Live (from the prints kept in
`state.db`) and the replay (from history) call the same functions on the same prints. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from functools import cache
from typing import NamedTuple

from fra.core.models import HOUR_MS, PERIOD_HOURS

# Fewer settled prints than this and there is no forecast: a new listing's first prints say
# little, and the pair is not opened until it has a history (reason `short_history`).
MIN_PRINTS = 3
# Prints older than this many half-lives weigh under 0.1 %: live reads no further back.
LOOKBACK_HALF_LIVES = 10
QUANTUM = Decimal("1e-12")


class ForecastParams(NamedTuple):
    half_life_hours: int
    predicted_weight: Decimal  # 0..1: the weight of the venue's predicted next rate

    def lookback_ms(self) -> int:
        return LOOKBACK_HALF_LIVES * self.half_life_hours * HOUR_MS


class Print(NamedTuple):
    time_ms: int
    rate: Decimal  # per interval, as settled
    interval_hours: int


def rate_8h(rate: Decimal, interval_hours: int) -> Decimal:
    return rate * PERIOD_HOURS / interval_hours


@cache
def _decay(hours: int, half_life_hours: int) -> Decimal:
    """The weight left after `hours`: 2^(-hours/half-life), to 12 significant digits so that
    every caller gets the same Decimal whatever its platform's float formatting."""
    return Decimal(f"{math.pow(2.0, -hours / half_life_hours):.12g}")


class Tracker:
    """One symbol's settled prints, fed oldest first one at a time (the replay updates it in
    constant time per settlement): their weighted mean, and since when every print has been
    below the stop rate."""

    __slots__ = ("below_since_ms", "count", "half_life", "last_ms", "stop_rate", "total", "weight")

    def __init__(self, half_life_hours: int, stop_rate: Decimal | None = None) -> None:
        self.half_life = half_life_hours
        self.stop_rate = stop_rate
        self.total = Decimal(0)
        self.weight = Decimal(0)
        self.count = 0
        self.last_ms: int | None = None
        self.below_since_ms: int | None = None

    def add(self, p: Print) -> None:
        if self.last_ms is not None:
            if p.time_ms <= self.last_ms:
                return  # a repeat: a print counts once
            # Whole hours: settlement times carry millisecond jitter on the venues.
            d = _decay(round((p.time_ms - self.last_ms) / HOUR_MS), self.half_life)
            self.total *= d
            self.weight *= d
        hours = Decimal(p.interval_hours)
        r8 = rate_8h(p.rate, p.interval_hours)
        self.total += r8 * hours
        self.weight += hours
        self.count += 1
        self.last_ms = p.time_ms
        if self.stop_rate is None or r8 >= self.stop_rate:
            self.below_since_ms = None
        elif self.below_since_ms is None:
            self.below_since_ms = p.time_ms

    @property
    def mean(self) -> Decimal | None:
        """The weighted mean per 8h, or None while the history is too short."""
        if self.count < MIN_PRINTS or self.weight <= 0:
            return None
        # To 1e-12 per 8h (a ten-thousandth of a basis point): an estimate needs no more, and
        # equal prints then give exactly that print.
        return (self.total / self.weight).quantize(QUANTUM)


def track(prints: Iterable[Print], half_life_hours: int, stop_rate: Decimal | None) -> Tracker:
    """A Tracker fed `prints` (oldest first)."""
    t = Tracker(half_life_hours, stop_rate)
    for p in prints:
        t.add(p)
    return t


def track_stored(
    rows: Iterable[tuple[int, str, int]], half_life_hours: int, stop_rate: Decimal | None
) -> Tracker:
    """`track` over prints as state.db keeps them, (time_ms, rate as text, interval hours),
    oldest first: the same Decimal operations in the same order, so the same Tracker to the
    last digit, in about half the time. Live feeds years of prints per symbol wherever the
    last cycle's Tracker no longer applies; each distinct (rate, interval) is converted and
    scaled once here, and no Print is built."""
    t = Tracker(half_life_hours, stop_rate)
    total, weight, count = t.total, t.weight, 0
    last: int | None = None
    below: int | None = None
    # (rate text, interval) -> (8h rate x hours, hours, below the stop rate?)
    scaled: dict[tuple[str, int], tuple[Decimal, Decimal, bool]] = {}
    decays: dict[int, Decimal] = {}
    for time_ms, rate, interval_hours in rows:
        if last is not None:
            if time_ms <= last:
                continue  # a repeat: a print counts once
            d = decays.get(time_ms - last)
            if d is None:
                d = decays[time_ms - last] = _decay(round((time_ms - last) / HOUR_MS), t.half_life)
            total *= d
            weight *= d
        known = scaled.get((rate, interval_hours))
        if known is None:
            hours = Decimal(interval_hours)
            r8 = rate_8h(Decimal(rate), interval_hours)
            known = (r8 * hours, hours, stop_rate is not None and r8 < stop_rate)
            scaled[(rate, interval_hours)] = known
        total += known[0]
        weight += known[1]
        count += 1
        last = time_ms
        if not known[2]:
            below = None
        elif below is None:
            below = time_ms
    t.total, t.weight, t.count, t.last_ms, t.below_since_ms = total, weight, count, last, below
    return t


def forecast(
    settled: Decimal | None, predicted_8h: Decimal | None, params: ForecastParams
) -> Decimal | None:
    """The expected rate per 8h over the horizon: the settled mean blended with the venue's
    predicted next rate where there is one. No settled history: no forecast, whatever the
    prediction says (one number is not a history)."""
    if settled is None:
        return None
    if predicted_8h is None or params.predicted_weight == 0:
        return settled
    w = params.predicted_weight
    return settled * (1 - w) + predicted_8h * w
