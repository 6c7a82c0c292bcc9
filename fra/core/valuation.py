"""Valuing positions at the prices of a snapshot (pure)."""

from __future__ import annotations

from decimal import Decimal

from fra.core.models import Snapshot, SnapshotRow
from fra.core.positions import Pnl, Position


def mid(bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
    if bid is None or ask is None:
        return None
    return (bid + ask) / 2


def valued_pnl(position: Position, snapshot: Snapshot | None) -> Pnl:
    """Closed positions at their exit prices; held ones at the snapshot's spot mid and mark."""
    s, p = position.spot, position.perp
    if position.state.is_final or snapshot is None:
        spot_exit = s.sell_proceeds / s.sold if s.sold else None
        perp_exit = p.buy_cost / p.bought if p.bought else None
        return position.pnl(spot_exit, perp_exit)
    row = row_for(snapshot, position.perp_symbol)
    if row is None:
        return position.pnl()
    return position.pnl(mid(row.spot_bid, row.spot_ask), row.mark_price)


def row_for(snapshot: Snapshot, perp_symbol: str) -> SnapshotRow | None:
    for row in snapshot.rows:
        if row.perp_symbol == perp_symbol:
            return row
    return None
