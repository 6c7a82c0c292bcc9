"""Which perpetual is expected to pay best net of costs, why the others were filtered out, and
when a held one is closed or given up for a better one.

One implementation, used by `fra rank`, `fra open`, `fra run-cycle` and `fra backtest`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import NamedTuple

from fra.core.models import HOUR_MS, PERIOD_HOURS, SnapshotRow

HOURS_PER_YEAR = 8760


class Reason:
    """Why a pair is not eligible to open. Values are stable: scripts read them from --json."""

    NO_SPOT = "no_spot_market"
    NO_RATE = "rate_unavailable"
    BELOW_MIN_RATE = "below_min_rate"
    LOW_VOLUME = "volume_too_low"
    UNPROFITABLE = "cost_exceeds_funding"
    HELD = "already_held"
    HALTED = "halted"
    NOT_LISTED = "not_in_symbols"
    SHORT_HISTORY = "short_history"
    STOPPED = "stopped"  # every print for stop_hours below the stop rate: not reopened


class RankParams(NamedTuple):
    min_rate: Decimal  # forecast per 8h period to open
    min_volume: Decimal
    holding_periods: int  # 8h periods
    symbols: frozenset[str] = frozenset()  # when not empty, trade only these perpetuals
    exit_rate: Decimal = Decimal(0)  # per 8h: hold while the forecast is above this, less cost
    stop_rate: Decimal | None = None  # per 8h: every print below it for stop_hours closes
    stop_hours: int = 24


class Signal(NamedTuple):
    """What the settled history says of one perpetual (see fra.core.forecast)."""

    forecast: Decimal | None  # expected rate per 8h over the horizon; None: too short a history
    below_stop_since_ms: int | None = None  # every print since then was below the stop rate


class Ranked(NamedTuple):
    row: SnapshotRow
    rate_8h: Decimal | None  # the venue's rate (predicted next, or last settled) per 8h
    forecast: Decimal | None  # the expected rate per 8h the decisions use
    apr: Decimal | None  # the forecast annualized
    cost: Decimal | None  # round trip, as a fraction of notional
    net_yield: Decimal | None  # forecast funding over the horizon minus the round trip
    net_apr: Decimal | None
    breakeven_intervals: Decimal | None
    reasons: tuple[str, ...]

    @property
    def symbol(self) -> str:
        return self.row.perp_symbol

    @property
    def eligible(self) -> bool:
        return not self.reasons

    @property
    def exit_cost(self) -> Decimal:
        """Leaving costs half a round trip: one side's fees and half-spreads."""
        return self.cost / 2 if self.cost is not None else Decimal(0)


def half_spread(bid: Decimal, ask: Decimal) -> Decimal:
    mid = (bid + ask) / 2
    return (ask - bid) / (2 * mid) if mid > 0 else Decimal(0)


def round_trip_cost(
    spot_fee: Decimal, perp_fee: Decimal, spot_half_spread: Decimal, perp_half_spread: Decimal
) -> Decimal:
    """Taker fees on both legs at entry and exit, plus crossing half the spread each time."""
    return 2 * (spot_fee + perp_fee) + 2 * (spot_half_spread + perp_half_spread)


def evaluate(
    row: SnapshotRow,
    params: RankParams,
    held: bool,
    halted: bool,
    signal: Signal | None,
    now_ms: int | None = None,
) -> Ranked:
    """The pair's figures and every reason it may not be opened (`now_ms`: for the stop)."""
    reasons: list[str] = []
    if halted:
        reasons.append(Reason.HALTED)
    if held:
        reasons.append(Reason.HELD)
    if row.spot_symbol is None or row.spot_bid is None or row.spot_ask is None:
        reasons.append(Reason.NO_SPOT)
    if row.funding_rate is None or row.interval_hours <= 0:
        reasons.append(Reason.NO_RATE)
    if params.symbols and row.perp_symbol not in params.symbols:
        reasons.append(Reason.NOT_LISTED)
    if row.quote_volume_24h < params.min_volume:
        reasons.append(Reason.LOW_VOLUME)
    if now_ms is not None and stopped(signal, params, now_ms):
        # The forecast moves slowly and may still clear the entry rate: without this the
        # pair the stop just closed would be opened again at once.
        reasons.append(Reason.STOPPED)
    rate = row.funding_rate
    if rate is None or row.interval_hours <= 0:
        return Ranked(row, None, None, None, None, None, None, None, tuple(reasons))

    hours = Decimal(row.interval_hours)
    rate_8h = rate * PERIOD_HOURS / hours
    f = signal.forecast if signal is not None else None
    if f is None:
        # Pairs those filters exclude are not forecast at all: no history is read for them.
        if not {Reason.NO_SPOT, Reason.NOT_LISTED, Reason.LOW_VOLUME} & set(reasons):
            reasons.append(Reason.SHORT_HISTORY)
    elif f < params.min_rate:
        reasons.append(Reason.BELOW_MIN_RATE)
    apr = f * HOURS_PER_YEAR / PERIOD_HOURS if f is not None else None
    if Reason.NO_SPOT in reasons or f is None:
        return Ranked(row, rate_8h, f, apr, None, None, None, None, tuple(reasons))

    assert row.spot_bid is not None and row.spot_ask is not None and row.spot_taker_fee is not None
    cost = round_trip_cost(
        row.spot_taker_fee,
        row.perp_taker_fee,
        half_spread(row.spot_bid, row.spot_ask),
        half_spread(row.perp_bid, row.perp_ask),
    )
    periods = Decimal(params.holding_periods)
    net_yield = f * periods - cost
    net_apr = net_yield * HOURS_PER_YEAR / (periods * PERIOD_HOURS)
    per_interval = f * hours / PERIOD_HOURS
    breakeven = cost / per_interval if per_interval > 0 else None
    if net_yield <= 0:
        reasons.append(Reason.UNPROFITABLE)
    return Ranked(row, rate_8h, f, apr, cost, net_yield, net_apr, breakeven, tuple(reasons))


def rank(
    rows: Iterable[SnapshotRow],
    params: RankParams,
    held: Iterable[str] = (),
    halted: bool = False,
    signals: Mapping[str, Signal] | None = None,
    now_ms: int | None = None,
) -> list[Ranked]:
    """Eligible pairs first, best net yield first; then the filtered ones, also by yield."""
    held_set = set(held)
    signals = signals or {}
    ranked = [
        evaluate(r, params, r.perp_symbol in held_set, halted, signals.get(r.perp_symbol), now_ms)
        for r in rows
    ]
    floor = Decimal("-Infinity")
    return sorted(
        ranked,
        key=lambda r: (
            not r.eligible,
            -(r.net_apr if r.net_apr is not None else floor),
            -(r.apr if r.apr is not None else floor),
            r.symbol,
        ),
    )


def exit_bar(r: Ranked, params: RankParams) -> Decimal:
    """The forecast per 8h below which a held pair is closed. The entry cost is sunk and the
    exit cost is paid now or later, so a pair is kept while its forecast carry over the
    horizon beats the exit rate by more than leaving costs: the exit rate less the exit cost
    spread over the horizon. Entry needs the whole round trip paid back, so the two bars
    differ (hysteresis) and a dip between them is held through."""
    return params.exit_rate - r.exit_cost / params.holding_periods


def stopped(signal: Signal | None, params: RankParams, now_ms: int) -> bool:
    """Every print for the last `stop_hours` was below the stop rate."""
    since = signal.below_stop_since_ms if signal is not None else None
    return (
        params.stop_rate is not None
        and since is not None
        and now_ms - since >= params.stop_hours * HOUR_MS
    )


def exit_reason(
    r: Ranked | None, signal: Signal | None, params: RankParams, now_ms: int
) -> str | None:
    """Why a held pair should be closed now, or None to keep it."""
    if r is None or r.rate_8h is None:
        return "funding rate unavailable"
    if stopped(signal, params, now_ms):
        return f"funding below the stop rate {params.stop_rate}/8h for {params.stop_hours}h"
    bar = exit_bar(r, params)
    if r.forecast is None:
        # No history to forecast from (live reads a held pair's back as it can): judged on
        # the venue's rate meanwhile, so a held pair is never kept blind.
        if r.rate_8h < bar:
            return f"rate {r.rate_8h:.6f}/8h (no forecast yet) below the exit bar {bar:.6f}/8h"
        return None
    if r.forecast < bar:
        return f"forecast {r.forecast:.6f}/8h below the exit bar {bar:.6f}/8h"
    return None


def rotation(held: Iterable[Ranked], candidate: Ranked, params: RankParams) -> Ranked | None:
    """The held pair worth giving up for `candidate` when there is no room for both: the one
    expected to pay least, if the candidate's advantage over the horizon pays for switching
    (leaving the one, entering the other). None: keep what is held."""
    if candidate.forecast is None or candidate.cost is None:
        return None
    judged = [h for h in held if h.forecast is not None]
    if not judged:
        return None
    worst = min(judged, key=lambda h: (h.forecast, h.symbol))
    assert worst.forecast is not None
    advantage = (candidate.forecast - worst.forecast) * params.holding_periods
    return worst if advantage > worst.exit_cost + candidate.cost / 2 else None


class Advice(NamedTuple):
    action: str  # open, hold, close, rotate in, rotate out, wait, skip
    why: str


def advise(
    ranked: list[Ranked],
    held: Iterable[str],
    signals: Mapping[str, Signal],
    params: RankParams,
    now_ms: int,
    slots: int,
) -> dict[str, Advice]:
    """What the rules would do with each pair now, and why (`fra rank`): the held pairs are
    closed or kept by `exit_reason`; the best eligible ones opened while there are `slots`
    (free positions), then the best may take the place of the held pair expected to pay
    least (`rotation`, one a cycle). The cycle's risk checks may still refuse an open."""
    held_set = set(held)
    out: dict[str, Advice] = {}
    kept: list[Ranked] = []
    for r in ranked:
        if r.symbol not in held_set:
            continue
        reason = exit_reason(r, signals.get(r.symbol), params, now_ms)
        if reason is not None:
            out[r.symbol] = Advice("close", reason)
            slots += 1  # the cycle closes before it opens
        else:
            kept.append(r)
            assert r.forecast is None or r.rate_8h is not None
            bar = exit_bar(r, params)
            out[r.symbol] = Advice(
                "hold",
                "no forecast yet"
                if r.forecast is None
                else f"forecast {r.forecast:.6f}/8h >= exit bar {bar:.6f}/8h",
            )
    rotating = False
    for r in ranked:
        if r.symbol in held_set:
            continue
        if not r.eligible:
            out[r.symbol] = Advice("skip", ", ".join(r.reasons))
        elif slots > 0:
            slots -= 1
            out[r.symbol] = Advice(
                "open", f"net {r.net_yield:.4%} over {params.holding_periods} x 8h"
            )
        elif not rotating and (victim := rotation(kept, r, params)) is not None:
            rotating = True
            out[r.symbol] = Advice("rotate in", f"replacing {victim.symbol}")
            out[victim.symbol] = Advice("rotate out", f"for {r.symbol}")
        else:
            why = "no free position" + (", and switching would not pay" if kept else "")
            out[r.symbol] = Advice("wait", why)
    return out
