"""Scanning the venue into a stored snapshot, and ranking a snapshot."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fra.app import App
from fra.core.models import Snapshot, SnapshotRow
from fra.core.positions import Position
from fra.core.ranking import Ranked, Signal, rank
from fra.core.scan import snapshot_rows
from fra.errors import BadInput

log = logging.getLogger("fra.market")

KEEP_SNAPSHOTS = 2000  # about a week of 5-minute cycles


def scan(app: App) -> Snapshot:
    """Fetch funding, prices and volumes in bulk calls and store them as one snapshot."""
    market = app.market
    rows = snapshot_rows(market.markets(), market.funding_quotes(), market.tickers())
    taken = market.now_ms()
    with app.store.tx():
        snapshot_id = app.store.save_snapshot(market.name, market.simulated, taken, rows)
        app.store.prune_snapshots(KEEP_SNAPSHOTS)
    warn_unmatched_symbols(app, rows)
    return Snapshot(id=snapshot_id, venue=market.name, taken_ms=taken, rows=tuple(rows))


def warn_unmatched_symbols(app: App, rows: Sequence[SnapshotRow]) -> None:
    """A warning for each FRA_STRATEGY__SYMBOLS entry the venue does not list: such an
    allowlist trades nothing, or less than meant, and would say so nowhere else."""
    from fra.core.symbols import unmatched

    allowed = app.settings.strategy.symbols
    if not allowed:
        return
    for symbol, guess in unmatched(allowed, (r.perp_symbol for r in rows)):
        hint = f"did you mean {guess}?" if guess else "is it listed there?"
        log.warning(
            "FRA_STRATEGY__SYMBOLS: %s matches no perpetual on %s; %s (perpetuals are written in"
            " ccxt's unified form, e.g. BTC/USDT:USDT)",
            symbol,
            app.venue_label,
            hint,
        )


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
    if refresh:
        return scan(app)
    snapshot = app.store.latest_snapshot()
    if snapshot is None:
        raise BadInput("no market snapshot stored yet", "run `fra scan` or `fra rank --refresh`")
    warn_unmatched_symbols(app, snapshot.rows)
    return snapshot
