"""Opening a hedged position: plan (checks, no writes), then execute (intent, legs, hedge)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from fra.app import App
from fra.core.forecast import MIN_PRINTS
from fra.core.models import Market, MarketType, Side, SnapshotRow
from fra.core.positions import HELD_STATES, Position, PositionState, delta_mismatch
from fra.core.ranking import Ranked, Reason, Signal, evaluate, rank
from fra.core.risk import (
    GLOBAL_RULES,
    ROOM_RULES,
    Refusal,
    capital_needed,
    check_open,
    largest_notional,
)
from fra.core.scan import snapshot_rows
from fra.core.sizing import HedgeSize, SizeError, floor_step, minimum_notional, size_hedge
from fra.engine.close import flatten
from fra.engine.orders import place, reload
from fra.engine.signals import signals
from fra.errors import BadInput, Refused

if TYPE_CHECKING:
    from fra.engine.safety import LegMargin
    from fra.venues.base import PerpMargin

log = logging.getLogger("fra.open")


@dataclass(frozen=True, slots=True)
class OpenPlan:
    ranked: Ranked
    spot: Market
    perp: Market
    size: HedgeSize
    price: Decimal

    @property
    def symbol(self) -> str:
        return self.ranked.symbol


class OpenRefused(Refused):
    def __init__(self, symbol: str, refusals: list[Refusal]) -> None:
        detail = "; ".join(str(r) for r in refusals)
        super().__init__(f"{symbol}: {detail}")
        self.refusals = refusals

    @property
    def is_global(self) -> bool:
        return any(r.rule in GLOBAL_RULES for r in self.refusals)

    @property
    def is_room(self) -> bool:
        """Refused for want of room (positions, capital): a rotation could make some."""
        return any(r.rule in ROOM_RULES for r in self.refusals) or any(
            r.rule == "below_minimum" for r in self.refusals
        )


def validate_symbol(markets: dict[str, Market], symbol: str) -> tuple[Market, Market]:
    """The perp and spot markets of `symbol`, or a BadInput naming what is wrong."""
    market = markets.get(symbol)
    if market is None:
        hint = f" (did you mean {symbol}:USDT?)" if f"{symbol}:USDT" in markets else ""
        raise BadInput(
            f"unknown symbol {symbol}{hint}",
            "use a perpetual in unified form, e.g. BTC/USDT:USDT (see `fra rank`)",
        )
    if market.type is not MarketType.PERP:
        raise BadInput(
            f"{symbol} is a spot market", f"give its perpetual, e.g. {symbol}:{market.quote}"
        )
    spot = markets.get(market.spot_symbol)
    if spot is None or spot.type is not MarketType.SPOT:
        raise BadInput(
            f"{symbol} has no spot market ({market.spot_symbol}) to hedge with",
            "pick another pair from `fra rank`",
        )
    return market, spot


def plan_open(
    app: App,
    row: SnapshotRow,
    markets: dict[str, Market],
    size_usd: Decimal | None,
    held: list[Position],
    signal: Signal | None = None,
) -> OpenPlan:
    """Every check an open must pass, without writing anything. Raises OpenRefused/BadInput."""
    perp, spot = validate_symbol(markets, row.perp_symbol)
    halt = app.store.halt_reason()
    held_symbols = {p.perp_symbol for p in held}
    if signal is None:
        signal = signals(app, [row]).get(row.perp_symbol)
    ranked = evaluate(
        row,
        app.settings.strategy.rank_params(),
        row.perp_symbol in held_symbols,
        halt is not None,
        signal,
        app.now_ms(),
    )
    limits = app.settings.risk.limits()
    exposure = sum((p.notional for p in held), Decimal(0))
    free = app.executor.free_quote()
    per_unit = capital_needed(Decimal(1), limits.leverage, spot.taker_fee, perp.taker_fee)
    equity = account_equity(app, held)
    notional = (
        largest_notional(limits, exposure, free, per_unit, equity) if size_usd is None else size_usd
    )
    refusals = check_open(
        limits=limits,
        notional=notional,
        open_positions=len(held),
        exposure=exposure,
        free_quote=free,
        needed=notional * per_unit,
        halt_reason=halt,
        already_held=row.perp_symbol in held_symbols,
        equity=equity,
        per_unit=per_unit,
    )
    for reason in ranked.reasons:
        if reason not in (Reason.HALTED, Reason.HELD):
            refusals.append(Refusal(reason, _strategy_detail(app, ranked, reason)))
    if refusals:
        raise OpenRefused(row.perp_symbol, refusals)
    assert row.spot_ask is not None
    price = max(row.spot_ask, row.perp_ask)
    try:
        size = size_hedge(notional, price, spot, perp)
    except SizeError as exc:
        least = minimum_notional(price, spot, perp)
        if size_usd is not None:
            raise BadInput(
                f"size {size_usd} USD is too small for {row.perp_symbol}: {exc}",
                f"use --size {least} or more",
            ) from None
        raise OpenRefused(
            row.perp_symbol, [Refusal("below_minimum", f"{notional} USD available, need {least}")]
        ) from None
    mismatch = delta_mismatch(size.spot_net, size.perp_amount)
    if mismatch > app.settings.risk.delta_tolerance:
        # Rounding to the two markets' steps would leave the legs too far apart; reconcile
        # would unwind such a position, so don't open it.
        detail = (
            f"at this size the legs differ by {mismatch:.2%} after rounding to the steps,"
            f" more than {app.settings.risk.delta_tolerance:.2%} (FRA_RISK__DELTA_TOLERANCE)"
        )
        if size_usd is not None:
            raise BadInput(f"{row.perp_symbol}: {detail}", "use a larger --size")
        raise OpenRefused(row.perp_symbol, [Refusal("delta_tolerance", detail)])
    return OpenPlan(ranked, spot, perp, size, price)


def account_equity(
    app: App, held: list[Position], measured: Mapping[str, LegMargin] | None = None
) -> Decimal:
    """What the account is worth, as the replay counts it: both wallets' free USDT, and each
    held position's coins and its short's margin balance (isolated margin and unrealized
    P&L) at the mark price. So margin a top-up added still counts, and sizes compound.
    `measured`: the shorts' margins a cycle has just measured, by perpetual, not asked again."""
    wallets = app.executor.wallets()
    total = wallets.spot + wallets.futures
    for p in held:
        margin: LegMargin | PerpMargin | None = None
        if p.perp_short > 0:
            if measured is not None:
                margin = measured.get(p.perp_symbol)
            else:
                margin = app.executor.perp_margin(p.perp_symbol)
        if margin is not None:
            total += p.spot_held * margin.mark_price + margin.margin_balance
        else:
            total += p.spot_held * (p.spot_entry_price or Decimal(0))
    return total


def _strategy_detail(app: App, ranked: Ranked, reason: str) -> str:
    s = app.settings.strategy
    if reason == Reason.BELOW_MIN_RATE:
        return (
            f"forecast {ranked.forecast:.6f}/8h < {s.min_funding_rate}"
            " (FRA_STRATEGY__MIN_FUNDING_RATE)"
        )
    if reason == Reason.LOW_VOLUME:
        return (
            f"24h volume {ranked.row.quote_volume_24h:,.0f} < {s.min_volume_usd:,.0f}"
            " (FRA_STRATEGY__MIN_VOLUME_USD)"
        )
    if reason == Reason.UNPROFITABLE:
        return (
            f"round-trip cost {ranked.cost:.4%} exceeds the forecast funding over"
            f" {s.min_holding_periods} periods (FRA_STRATEGY__MIN_HOLDING_PERIODS)"
        )
    if reason == Reason.STOPPED:
        return (
            f"every print for {s.stop_hours}h was below the stop rate {s.stop_funding_rate}/8h"
            " (FRA_STRATEGY__STOP_FUNDING_RATE)"
        )
    if reason == Reason.SHORT_HISTORY:
        return (
            f"fewer than {MIN_PRINTS} settled funding prints to forecast from (a new listing):"
            " wait for more settlements"
        )
    if reason == Reason.NOT_LISTED:
        return "not in FRA_STRATEGY__SYMBOLS"
    if reason == Reason.NO_RATE:
        return "the venue publishes no funding rate for it"
    return reason


def execute_open(app: App, plan: OpenPlan) -> Position:
    """Intent first, then spot, then the perp sized to what the spot filled; never one leg."""
    row = plan.ranked.row
    with app.store.tx():
        position_id = app.store.create_position(
            venue=app.market.name,
            mode=app.executor.mode,
            perp_symbol=plan.perp.symbol,
            spot_symbol=plan.spot.symbol,
            target_amount=plan.size.perp_amount,
            leverage=app.settings.risk.leverage,
            entry_rate=row.funding_rate,
            interval_hours=row.interval_hours,
            now_ms=app.now_ms(),
        )
    position = app.store.position(position_id)
    assert position is not None
    place(app, position, leg="spot", purpose="open", side=Side.BUY, amount=plan.size.spot_amount)
    position = reload(app, position)
    if position.spot_held <= 0:
        return flatten(app, position, PositionState.UNWOUND, "spot leg did not fill")

    perp_amount = floor_step(min(plan.size.perp_amount, position.spot_held), plan.perp.amount_step)
    if perp_amount < plan.perp.min_amount or perp_amount * plan.price < plan.perp.min_notional:
        return flatten(app, position, PositionState.UNWOUND, "spot filled too little to hedge")
    place(app, position, leg="perp", purpose="open", side=Side.SELL, amount=perp_amount)
    position = reload(app, position)
    if position.perp_short <= 0:
        return flatten(app, position, PositionState.UNWOUND, "perp leg did not fill")

    excess = floor_step(position.spot_held - position.perp_short, plan.spot.amount_step)
    if excess >= plan.spot.min_amount and excess * plan.price >= plan.spot.min_notional:
        # The perp filled only in part: sell the spot it does not hedge.
        place(app, position, leg="spot", purpose="hedge", side=Side.SELL, amount=excess)
        position = reload(app, position)

    mismatch = delta_mismatch(position.spot_held, position.perp_short)
    note = None
    if mismatch > app.settings.risk.delta_tolerance:
        note = f"legs differ by {mismatch:.2%} after the open (spot/perp minimums)"
        log.warning("position %s: %s", position.id, note)
    with app.store.tx():
        app.store.set_position_state(
            position.id, PositionState.OPEN, now_ms=app.now_ms(), note=note
        )
    log.info(
        "opened position %s %s: %s short, %s spot",
        position.id,
        position.perp_symbol,
        position.perp_short,
        position.spot_held,
    )
    return reload(app, position)


def live_row(app: App, symbol: str) -> SnapshotRow:
    """Fresh market data for one pair (not stored: a manual open leaves snapshots alone)."""
    market = app.market
    rows = snapshot_rows(market.markets(), market.funding_quotes(), market.tickers())
    for row in rows:
        if row.perp_symbol == symbol:
            return row
    raise BadInput(f"no funding data for {symbol}", "check the symbol with `fra rank --refresh`")


def open_position(app: App, symbol: str | None, size_usd: Decimal | None) -> Position:
    """`fra open`: the named pair, or the best-ranked pair that passes every check."""
    if size_usd is not None and size_usd <= 0:
        raise BadInput(f"size must be positive, got {size_usd}", "pass --size in USD, e.g. 500")
    app.ready(opening=True)
    markets = app.market.markets()
    held = app.store.positions(HELD_STATES)
    if symbol is not None:
        validate_symbol(markets, symbol)
        plan = plan_open(app, live_row(app, symbol), markets, size_usd, held)
        return execute_open(app, plan)
    rows = snapshot_rows(markets, app.market.funding_quotes(), app.market.tickers())
    found = signals(app, rows)
    params = app.settings.strategy.rank_params()
    ranked = rank(rows, params, {p.perp_symbol for p in held}, False, found, app.now_ms())
    refusals: list[str] = []
    for candidate in ranked:
        if not candidate.eligible:
            continue
        try:
            plan = plan_open(
                app, candidate.row, markets, size_usd, held, found.get(candidate.symbol)
            )
        except OpenRefused as exc:
            refusals.append(str(exc))
            if exc.is_global:
                raise
            continue
        return execute_open(app, plan)
    raise Refused(
        "no pair passes the checks: " + (refusals[0] if refusals else "none is eligible"),
        "see `fra rank` for the reason of each pair",
    )
