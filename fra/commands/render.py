"""Rendering positions as table rows and JSON, shared by status, positions, open and close."""

from __future__ import annotations

from typing import Any

from fra.commands.common import age, iso, money, price, ts
from fra.commands.output import Line, styled, table
from fra.core.models import Snapshot
from fra.core.positions import Position
from fra.core.valuation import valued_pnl


def position_dict(p: Position, snapshot: Snapshot | None, now_ms: int) -> dict[str, Any]:
    pnl = valued_pnl(p, snapshot)
    s, f = p.spot, p.perp
    return {
        "id": p.id,
        "symbol": p.perp_symbol,
        "spot_symbol": p.spot_symbol,
        "state": p.state.value,
        "spot_amount": p.spot_held if not p.state.is_final else s.bought - s.fee_base,
        "perp_amount": p.perp_short if not p.state.is_final else f.sold,
        "spot_entry_price": p.spot_entry_price,
        "perp_entry_price": p.perp_entry_price,
        "spot_exit_price": s.sell_proceeds / s.sold if s.sold else None,
        "perp_exit_price": f.buy_cost / f.bought if f.bought else None,
        "funding": pnl.funding,
        "funding_payments": len(p.payments),
        "fees": pnl.fees,
        "spot_pnl": pnl.spot_price,
        "perp_pnl": pnl.perp_price,
        "net_pnl": pnl.net,
        "opened_at": iso(p.opened_ms),
        "closed_at": iso(p.closed_ms),
        "age": age(p.opened_ms or p.created_ms, p.closed_ms or now_ms),
        "close_reason": p.close_reason,
        "note": p.note,
    }


def positions_table(title: str, rows: list[dict[str, Any]], closed: bool) -> list[Line]:
    columns = ["ID", "Perpetual", "State", "Size", "Spot entry", "Perp entry"]
    if closed:
        columns += ["Spot exit", "Perp exit"]
    columns += ["Funding", "Fees", "Spot P&L", "Perp P&L", "Net P&L", "Age"]
    if closed:
        columns += ["Reason"]
    cells = []
    for r in rows:
        line = [
            str(r["id"]),
            r["symbol"],
            r["state"],
            f"{r['perp_amount']:f}",
            price(r["spot_entry_price"]),
            price(r["perp_entry_price"]),
        ]
        if closed:
            line += [price(r["spot_exit_price"]), price(r["perp_exit_price"])]
        net = r["net_pnl"]
        line += [
            money(r["funding"], 4),
            money(r["fees"], 4),
            money(r["spot_pnl"]),
            money(r["perp_pnl"]),
            styled(money(net), "green" if net >= 0 else "red"),
            r["age"],
        ]
        if closed:
            line += [r["close_reason"] or ""]
        cells.append(line)
    # Net P&L, funding and the state tell how a position does; its parts and prices explain it.
    drop = [("Spot P&L", "Perp P&L"), "Fees", ("Spot exit", "Perp exit"), "Spot entry"]
    drop += ["Perp entry", "Age", "Size"]
    left = {"Perpetual", "State", "Reason"}
    return table(title, columns, cells, left, drop=drop, wrap={"Reason"})


def describe(p: Position) -> str:
    """One line about a position after it was opened or closed."""
    pnl = p.pnl(
        p.spot.sell_proceeds / p.spot.sold if p.spot.sold else None,
        p.perp.buy_cost / p.perp.bought if p.perp.bought else None,
    )
    if p.state.value == "open":
        return (
            f"position {p.id} open: {p.perp_symbol} short {p.perp_short} @ "
            f"{price(p.perp_entry_price)}, {p.spot_symbol} long {p.spot_held} @ "
            f"{price(p.spot_entry_price)}, entry fees {money(pnl.fees, 4)}"
        )
    return (
        f"position {p.id} {p.perp_symbol} {p.state.value} at {ts(p.closed_ms)} UTC"
        f" ({p.close_reason}): funding {money(pnl.funding, 4)}, fees {money(pnl.fees, 4)},"
        f" net {money(pnl.net, 4)}"
    )
