"""Which perpetual pays best net of costs, and why the others were filtered out.

One implementation, used by `fra rank`, `fra open`, `fra run-cycle` (and the backtest later).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from fra.core.models import PERIOD_HOURS, SnapshotRow

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


class RankParams(NamedTuple):
    min_rate: Decimal  # per 8h period
    min_volume: Decimal
    holding_periods: int  # 8h periods
    symbols: frozenset[str] = frozenset()  # when not empty, trade only these perpetuals


class Ranked(NamedTuple):
    row: SnapshotRow
    rate_8h: Decimal | None  # the rate scaled to an 8h period
    apr: Decimal | None  # rate x 8760 / interval_hours
    cost: Decimal | None  # round trip, as a fraction of notional
    net_yield: Decimal | None  # funding over the horizon minus the round trip
    net_apr: Decimal | None
    breakeven_intervals: Decimal | None
    reasons: tuple[str, ...]

    @property
    def symbol(self) -> str:
        return self.row.perp_symbol

    @property
    def eligible(self) -> bool:
        return not self.reasons


def half_spread(bid: Decimal, ask: Decimal) -> Decimal:
    mid = (bid + ask) / 2
    return (ask - bid) / (2 * mid) if mid > 0 else Decimal(0)


def round_trip_cost(
    spot_fee: Decimal, perp_fee: Decimal, spot_half_spread: Decimal, perp_half_spread: Decimal
) -> Decimal:
    """Taker fees on both legs at entry and exit, plus crossing half the spread each time."""
    return 2 * (spot_fee + perp_fee) + 2 * (spot_half_spread + perp_half_spread)


def evaluate(row: SnapshotRow, params: RankParams, held: bool, halted: bool) -> Ranked:
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
    rate = row.funding_rate
    if rate is None or row.interval_hours <= 0:
        return Ranked(row, None, None, None, None, None, None, tuple(reasons))

    hours = Decimal(row.interval_hours)
    rate_8h = rate * PERIOD_HOURS / hours
    apr = rate * HOURS_PER_YEAR / hours
    if rate_8h < params.min_rate:
        reasons.append(Reason.BELOW_MIN_RATE)
    if Reason.NO_SPOT in reasons:
        return Ranked(row, rate_8h, apr, None, None, None, None, tuple(reasons))

    assert row.spot_bid is not None and row.spot_ask is not None and row.spot_taker_fee is not None
    cost = round_trip_cost(
        row.spot_taker_fee,
        row.perp_taker_fee,
        half_spread(row.spot_bid, row.spot_ask),
        half_spread(row.perp_bid, row.perp_ask),
    )
    horizon_hours = Decimal(params.holding_periods * PERIOD_HOURS)
    net_yield = rate * horizon_hours / hours - cost
    net_apr = net_yield * HOURS_PER_YEAR / horizon_hours
    breakeven = cost / rate if rate > 0 else None
    if net_yield <= 0:
        reasons.append(Reason.UNPROFITABLE)
    return Ranked(row, rate_8h, apr, cost, net_yield, net_apr, breakeven, tuple(reasons))


def rank(
    rows: Iterable[SnapshotRow],
    params: RankParams,
    held: Iterable[str] = (),
    halted: bool = False,
) -> list[Ranked]:
    """Eligible pairs first, best net yield first; then the filtered ones, also by yield."""
    held_set = set(held)
    ranked = [evaluate(r, params, r.perp_symbol in held_set, halted) for r in rows]
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


def exit_reason(row: SnapshotRow | None, exit_rate: Decimal) -> str | None:
    """Why a held position should be closed now, or None to keep it."""
    if row is None or row.funding_rate is None or row.interval_hours <= 0:
        return "funding rate unavailable"
    rate_8h = row.funding_rate * PERIOD_HOURS / row.interval_hours
    if rate_8h < exit_rate:
        return f"funding {rate_8h:.6f}/8h below exit rate {exit_rate}"
    return None
