"""Closing both legs of a position (and unwinding a half-open one)."""

from __future__ import annotations

import logging
from decimal import Decimal

from fra.app import App
from fra.core.models import Side
from fra.core.positions import HELD_STATES, Position, PositionState
from fra.core.sizing import floor_step
from fra.engine.funding import settle_and_reload
from fra.engine.market import delisted
from fra.engine.orders import place, reload, resolve_pending
from fra.errors import BadInput

log = logging.getLogger("fra.close")

MAX_ATTEMPTS = 3


def spot_sellable(app: App, position: Position) -> Decimal:
    """Spot that can be sold now without leaving the short unhedged: what is held beyond the
    remaining short, on the step and above the minimums. Below that it is dust."""
    market = app.market.markets().get(position.spot_symbol)
    if market is None:
        return Decimal(0)  # delisted: nothing can be sold
    spare = position.spot_held - max(position.perp_short, Decimal(0))
    amount = floor_step(max(spare, Decimal(0)), market.amount_step)
    if amount < market.min_amount or amount <= 0:
        return Decimal(0)
    price = position.spot_entry_price or Decimal(0)
    if amount * price < market.min_notional:
        return Decimal(0)
    return amount


def flatten(app: App, position: Position, final: PositionState, reason: str) -> Position:
    """Buy back the short and sell the spot until nothing is left, then mark `final`.

    The perp goes first, and spot is only sold down to what still hedges the remaining short:
    an unhedged short is the leg that can be liquidated. If a leg does not fill after a few
    attempts the position stays in its transitional state with a note (`incomplete` is then
    true), and the next cycle's reconcile carries on.
    """
    position = resolve_pending(app, position)
    if position.state is PositionState.OPEN:
        with app.store.tx():
            app.store.set_position_state(position.id, PositionState.CLOSING, reason=reason)
        position = reload(app, position)
    position = settle_and_reload(app, position)
    purpose = "close" if final is PositionState.CLOSED else "unwind"
    gone = delisted(app, position)
    for _ in range(MAX_ATTEMPTS):
        if position.perp_short > 0 and position.perp_symbol not in gone:
            place(
                app,
                position,
                leg="perp",
                purpose=purpose,
                side=Side.BUY,
                amount=position.perp_short,
                reduce_only=True,
            )
            position = reload(app, position)
        sellable = spot_sellable(app, position)
        if sellable > 0:
            place(
                app,
                position,
                leg="spot",
                purpose=purpose,
                side=Side.SELL,
                amount=sellable,
            )
            position = reload(app, position)
        if position.perp_short <= 0 and spot_sellable(app, position) == 0:
            break
        if gone:
            break  # the delisted leg cannot trade: retrying changes nothing
    if position.perp_short > 0 or spot_sellable(app, position) > 0:
        note = (
            f"close incomplete after {MAX_ATTEMPTS} attempts: short {position.perp_short},"
            f" spot {position.spot_held} left; the next cycle retries"
        )
        if gone:
            note = (
                f"{' and '.join(gone)} no longer listed on {app.market.name}: short"
                f" {position.perp_short}, spot {position.spot_held} left; the exchange settles a"
                " delisted perpetual itself, close the rest on the exchange"
            )
        log.error("position %s: %s", position.id, note)
        with app.store.tx():
            app.store.set_position_state(position.id, position.state, note=note)
        return reload(app, position)
    if final is PositionState.UNWOUND and not any(f.filled > 0 for f in position.fills):
        final = PositionState.FAILED
    with app.store.tx():
        app.store.set_position_state(position.id, final, now_ms=app.now_ms(), reason=reason)
    position = settle_and_reload(app, reload(app, position))
    log.info("position %s %s (%s): net %s", position.id, final.value, reason, position.pnl().net)
    return position


def close_position(app: App, position: Position, reason: str) -> Position:
    if position.state.is_final:
        raise BadInput(
            f"position {position.id} is already {position.state.value}",
            "see `fra positions` for open ones",
        )
    final = (
        PositionState.UNWOUND if position.state is PositionState.OPENING else PositionState.CLOSED
    )
    return flatten(app, position, final, reason)


def find_targets(app: App, target: str | None, *, every: bool) -> list[Position]:
    """Resolve `fra close`'s ID|SYMBOL|--all to positions, without touching anything."""
    held = app.store.positions(HELD_STATES)
    if every:
        return held
    assert target is not None
    if target.isdigit():
        found = app.store.position(int(target))
        if found is None:
            raise BadInput(f"no position with id {target}", "see `fra positions` for ids")
        if found.state.is_final:
            raise BadInput(
                f"position {target} is already {found.state.value}", "see `fra positions`"
            )
        return [found]
    matches = [p for p in held if target in (p.perp_symbol, p.spot_symbol)]
    if not matches:
        raise BadInput(f"no open position on {target}", "give an id or symbol from `fra status`")
    return matches
