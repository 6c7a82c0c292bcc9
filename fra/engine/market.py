"""Scanning the venue into a stored snapshot, and ranking a snapshot."""

from __future__ import annotations

from fra.app import App
from fra.core.models import Snapshot
from fra.core.positions import Position
from fra.core.ranking import Ranked, Signal, rank
from fra.core.scan import snapshot_rows
from fra.errors import BadInput

KEEP_SNAPSHOTS = 2000  # about a week of 5-minute cycles


def scan(app: App) -> Snapshot:
    """Fetch funding, prices and volumes in bulk calls and store them as one snapshot."""
    market = app.market
    rows = snapshot_rows(market.markets(), market.funding_quotes(), market.tickers())
    taken = market.now_ms()
    with app.store.tx():
        snapshot_id = app.store.save_snapshot(market.name, market.simulated, taken, rows)
        app.store.prune_snapshots(KEEP_SNAPSHOTS)
    return Snapshot(id=snapshot_id, venue=market.name, taken_ms=taken, rows=tuple(rows))


def delisted(app: App, position: Position) -> list[str]:
    """The position's markets the venue no longer lists (delisted, or halted for settlement).

    Nothing can be traded or read on those; the position is kept, with a note, until the
    exchange settles it and the user closes the rest (see README, "Delisted symbols")."""
    markets = app.market.markets()
    return [s for s in (position.perp_symbol, position.spot_symbol) if s not in markets]


def rank_snapshot(
    app: App, snapshot: Snapshot, signals: dict[str, Signal] | None = None
) -> list[Ranked]:
    """The snapshot ranked on each pair's forecast (`signals`: computed when not given)."""
    from fra.engine.signals import signals as read_signals

    held = app.store.held_symbols()
    return rank(
        snapshot.rows,
        app.settings.strategy.rank_params(),
        held,
        app.store.halt_reason() is not None,
        signals if signals is not None else read_signals(app, snapshot.rows),
        now_ms=app.now_ms(),
    )


def latest_snapshot(app: App, refresh: bool) -> Snapshot:
    snapshot = scan(app) if refresh else app.store.latest_snapshot()
    if snapshot is None:
        raise BadInput("no market snapshot stored yet", "run `fra scan` or `fra rank --refresh`")
    return snapshot
