"""Which held positions the strategy closes, and which one it gives up for a better pair: the
core's rules (`exit_reason`, `rotation`) applied to the account's positions."""

from __future__ import annotations

from collections.abc import Iterable

from fra.app import App
from fra.core.models import Snapshot
from fra.core.positions import Position, PositionState
from fra.core.ranking import Advice, Ranked, Signal, advise, exit_reason, rank, rotation
from fra.core.scan import snapshot_rows
from fra.engine.signals import signals as read_signals


def exits(
    app: App, positions: Iterable[Position], ranked: Iterable[Ranked], signals: dict[str, Signal]
) -> list[tuple[Position, str]]:
    """The positions to close now, each with the rule's reason."""
    by_symbol = {r.symbol: r for r in ranked}
    params = app.settings.strategy.rank_params()
    now = app.now_ms()
    out = []
    for p in positions:
        reason = exit_reason(by_symbol.get(p.perp_symbol), signals.get(p.perp_symbol), params, now)
        if reason is not None:
            out.append((p, reason))
    return out


def rotation_out(
    app: App, positions: Iterable[Position], ranked: Iterable[Ranked], candidate: Ranked
) -> Position | None:
    """The open position worth giving up for `candidate`, if any (see core.ranking.rotation)."""
    open_ = {p.perp_symbol: p for p in positions if p.state is PositionState.OPEN}
    held = [r for r in ranked if r.symbol in open_]
    out = rotation(held, candidate, app.settings.strategy.rank_params())
    return open_[out.symbol] if out is not None else None


def unprofitable_positions(app: App) -> list[tuple[Position, str]]:
    """`fra close --unprofitable`: the open positions the exit rule would close now, on fresh
    market data."""
    m = app.market
    rows = snapshot_rows(m.markets(), m.funding_quotes(), m.tickers())
    # A close judged on what state.db holds if the venue cannot update it: closing must not
    # wait for the history.
    found = read_signals(app, rows, strict=False)
    held = app.store.positions([PositionState.OPEN])
    ranked = rank(
        rows,
        app.settings.strategy.rank_params(),
        {p.perp_symbol for p in held},
        False,
        found,
    )
    return exits(app, held, ranked, found)


def ranking_with_advice(
    app: App, snapshot: Snapshot, *, update: bool = True
) -> tuple[list[Ranked], dict[str, Advice], dict[str, Signal]]:
    """`fra rank`: the snapshot ranked on each pair's forecast, with what the rules would do
    now. Room to open is judged by the number of positions (the cycle also checks capital).
    Without `update` the forecasts are what state.db holds (the dashboard only reads it)."""
    from fra.engine.market import rank_snapshot

    # A read: the venue failing to update the stored funding does not stop it.
    found = read_signals(app, snapshot.rows, strict=False, update=update)
    ranked = rank_snapshot(app, snapshot, found)
    held = app.store.held_symbols()
    slots = max(app.settings.risk.max_positions - len(held), 0)
    advice = advise(ranked, held, found, app.settings.strategy.rank_params(), app.now_ms(), slots)
    return ranked, advice, found
