"""Margin checks, the emergency stop and resuming after it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from fra.app import App
from fra.core.positions import HELD_STATES, Position, PositionState
from fra.core.risk import MarginLevel, margin_level, worst
from fra.engine.close import flatten
from fra.engine.funding import first_perp_fill_ms
from fra.engine.market import delisted
from fra.engine.orders import reload
from fra.engine.topup import manage_margins

log = logging.getLogger("fra.safety")


@dataclass(frozen=True, slots=True)
class LegMargin:
    position_id: int
    symbol: str
    ratio: Decimal
    level: MarginLevel
    mark_price: Decimal
    margin_balance: Decimal
    maintenance_margin: Decimal


@dataclass(frozen=True, slots=True)
class MarginReport:
    legs: list[LegMargin]
    level: MarginLevel
    stopped: list[Position]  # closed by the emergency stop a critical level triggered
    actions: list[dict[str, str]] = field(default_factory=list)  # margin top-up steps taken

    @property
    def worst_ratio(self) -> Decimal | None:
        return max((leg.ratio for leg in self.legs), default=None)


def settle_liquidations(app: App) -> list[Position]:
    """Shorts the venue closed by itself: record its orders, sell the spot they hedged."""
    out: list[Position] = []
    for position in app.store.positions(HELD_STATES):
        if position.perp_short <= 0 or position.perp_symbol in delisted(app, position):
            continue
        if app.executor.perp_margin(position.perp_symbol):
            continue
        since = first_perp_fill_ms(position) or position.created_ms
        known = {f.client_order_id for f in position.fills}
        found = [
            o
            for o in app.executor.venue_orders(position.perp_symbol, since)
            if o.client_order_id not in known
        ]
        with app.store.tx():
            for order in found:
                app.store.add_order(
                    client_order_id=order.client_order_id,
                    position_id=position.id,
                    leg="perp",
                    purpose="liquidation",
                    symbol=order.symbol,
                    side=order.side.value,
                    requested=order.requested,
                    now_ms=order.timestamp_ms,
                )
                app.store.record_order(order)
        position = reload(app, position)
        if position.perp_short > 0:
            note = "the venue holds no short where fra's fills say there is one: check the account"
            log.error("position %s: %s", position.id, note)
            with app.store.tx():
                app.store.set_position_state(position.id, position.state, note=note)
            out.append(reload(app, position))
            continue
        log.error(
            "position %s %s: the venue liquidated the short", position.id, position.perp_symbol
        )
        final = (
            PositionState.UNWOUND
            if position.state is PositionState.OPENING
            else PositionState.CLOSED
        )
        out.append(flatten(app, position, final, "perp leg liquidated by the venue"))
    return out


def measure_margins(app: App) -> list[LegMargin]:
    """Margin ratio of every short still held (also one a close or an open left half-done),
    recorded for `fra status`. Measures only: `margin_check` acts on the result."""
    risk = app.settings.risk
    legs: list[LegMargin] = []
    for position in app.store.positions(HELD_STATES):
        if position.perp_short <= 0:
            continue
        if position.perp_symbol in delisted(app, position):
            log.error("position %s: %s is no longer listed", position.id, position.perp_symbol)
            continue
        m = app.executor.perp_margin(position.perp_symbol)
        if m is None:
            continue
        level = margin_level(m.ratio, risk.margin_alert, risk.margin_critical)
        legs.append(
            LegMargin(
                position.id,
                position.perp_symbol,
                m.ratio,
                level,
                m.mark_price,
                m.margin_balance,
                m.maintenance_margin,
            )
        )
    with app.store.tx():
        app.store.set_meta(
            "last_margin", json.dumps({str(leg.position_id): str(leg.ratio) for leg in legs})
        )
    return legs


def margin_check(app: App) -> MarginReport:
    """Margin ratio of each short; a critical one (or a liquidation) triggers the emergency
    stop. Shorts above FRA_RISK__MARGIN_TOPUP are topped up first, and measured after."""
    liquidated = settle_liquidations(app)
    # A liquidation stops everything anyway: money is not moved behind the other legs then.
    actions = [] if liquidated else manage_margins(app)
    legs = measure_margins(app)
    for leg in legs:
        if leg.level is not MarginLevel.OK:
            log.warning(
                "margin %s on %s: ratio %.2f%%", leg.level.value, leg.symbol, leg.ratio * 100
            )
    level = worst([leg.level for leg in legs])
    stopped: list[Position] = []
    if liquidated:
        names = ", ".join(p.perp_symbol for p in liquidated)
        level = MarginLevel.CRITICAL
        stopped = liquidated + emergency_stop(app, f"the venue liquidated the short on {names}")
    elif level is MarginLevel.CRITICAL:
        bad = max(legs, key=lambda leg: leg.ratio)
        stopped = emergency_stop(app, f"critical margin ratio {bad.ratio:.2%} on {bad.symbol}")
    return MarginReport(legs, level, stopped, actions)


def halt(app: App, reason: str, *, requested: bool = False) -> None:
    """Stop opening; `requested`: a person asked for it (not margin or a liquidation)."""
    from fra.core.text import REASON_MAX, one_line

    # `fra status` and the log show it: one line that cannot steer a terminal.
    reason = one_line(reason, REASON_MAX)
    with app.store.tx():
        app.store.set_meta("halt_reason", reason)
        app.store.set_meta("halted_ms", str(app.now_ms()))
    if requested:
        # Not an error: the command that asked reports the halt itself; the log file keeps it.
        log.warning("emergency stop requested: %s", reason, extra={"file_only": True})
    else:
        log.error("EMERGENCY STOP: %s", reason)


def emergency_stop(app: App, reason: str, *, requested: bool = False) -> list[Position]:
    """Halt opening first (one write), then close everything; returns the positions touched."""
    halt(app, reason, requested=requested)
    return close_all_held(app, f"emergency stop: {reason}")


def close_all_held(
    app: App, reason: str, leave_rest: Callable[[], bool] | None = None
) -> list[Position]:
    """Close every held position; `leave_rest`, asked before each, stops early (fra loop's
    second Ctrl-C: the ones not yet begun stay open, none is left half-closed)."""
    out = []
    for position in app.store.positions(HELD_STATES):
        if leave_rest is not None and leave_rest():
            break
        final = (
            PositionState.UNWOUND
            if position.state is PositionState.OPENING
            else PositionState.CLOSED
        )
        out.append(flatten(app, position, final, reason))
    return out


def resume(app: App) -> str | None:
    """Clear the halt flag; returns the reason it had been set for (None if not halted)."""
    reason = app.store.halt_reason()
    with app.store.tx():
        app.store.delete_meta("halt_reason")
        app.store.delete_meta("halted_ms")
    return reason
