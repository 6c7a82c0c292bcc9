"""Rendering positions as table rows and JSON, shared by status, positions, open and close."""

from __future__ import annotations

from typing import Any

from fra.commands.common import age, iso, money, price, ts
from fra.commands.output import Line, styled, table
from fra.core.models import Snapshot
from fra.core.positions import Pnl, Position, PositionState
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


def position_json(p: Position, snapshot: Snapshot | None, now_ms: int) -> dict[str, Any]:
    return json_row(position_dict(p, snapshot, now_ms))


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A `position_dict` row for --json: average prices and the P&L of valuing the position
    rounded (see fra.core.precision); quantities, funding and fees exact. The net is the sum of
    its parts as printed, so a script adding them up gets it to the last digit."""
    from fra.core import precision

    prices = ("spot_entry_price", "perp_entry_price", "spot_exit_price", "perp_exit_price")
    spot, perp = precision.money(row["spot_pnl"]), precision.money(row["perp_pnl"])
    return {
        **row,
        **{key: precision.price(row[key]) for key in prices},
        "spot_pnl": spot,
        "perp_pnl": perp,
        "net_pnl": spot + perp + row["funding"] - row["fees"],
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


def _exit_pnl(p: Position) -> Pnl:
    # What is left (dust) valued at the prices it was sold at, not at entry.
    return p.pnl(
        p.spot.sell_proceeds / p.spot.sold if p.spot.sold else None,
        p.perp.buy_cost / p.perp.bought if p.perp.bought else None,
    )


def describe(p: Position) -> str:
    """One line about a position after it was opened or closed."""
    pnl = _exit_pnl(p)
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


def cycle_line(p: Position, opening: bool) -> str:
    """What a cycle did to a position, for a person: `opening` for one it tried to open."""
    where = f"position {p.id}: {p.perp_symbol}"
    if p.state is PositionState.OPEN:
        return f"opened {where}, {p.perp_short} {p.base} ({money(p.notional)} {p.quote})"
    if p.state is PositionState.OPENING:
        return (
            f"{where} is still opening ({p.note or 'legs pending'});"
            " the next cycle finishes or unwinds it"
        )
    if p.state is PositionState.CLOSING:
        return f"{where} is not fully closed ({p.close_reason}): {p.note or 'legs pending'}"
    if p.state is PositionState.FAILED:
        return f"could not open {where} ({p.close_reason}): nothing filled"
    net = money(_exit_pnl(p).net)
    if opening:
        return f"could not open {where} ({p.close_reason}): what filled was sold back, net {net}"
    verb = "unwound" if p.state is PositionState.UNWOUND else "closed"
    return f"{verb} {where} ({p.close_reason}), net {net}"


# A cycle's stored outcome, in words; the stored values stay what scripts read.
OUTCOME_WORDS = {
    "alert": "margin alert",
    "critical": "margin critical",
    "incomplete": "incomplete (a close left a leg)",
    "untracked": "the exchange holds positions fra's books do not explain",
    "killed": "killed before it finished",
}


def cycle_outcome(outcome: str, halted: str | None) -> str:
    """How a cycle ended, a halt first: "ok" would hide that cycles open nothing while halted.
    A halt this cycle's margin check set (margin critical, a liquidation) stays loud."""
    said = OUTCOME_WORDS.get(outcome, outcome)
    if halted is None or outcome in ("error", "interrupted", "running", "killed"):
        return said
    if outcome == "critical":
        return f"EMERGENCY STOP ({halted}), opened nothing"
    return f"halted ({halted}), opened nothing" + ("" if outcome == "ok" else f"; {said}")
