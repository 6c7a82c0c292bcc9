"""What the state file says about the past, for the dashboard: cycles, the account's P&L and
funding over time, margin steps and closes. Reads only."""

from __future__ import annotations

import json
from bisect import bisect_right
from decimal import Decimal
from itertools import accumulate
from typing import NamedTuple

from fra.store.db import CycleRow, MarginActionRow, Store, _margin_action_row, decoding

Point = tuple[int, Decimal]  # (time in ms, value)


class ClosedRow(NamedTuple):
    id: int
    symbol: str
    state: str
    closed_ms: int | None
    reason: str | None
    net: Decimal | None


class RealizedParts(NamedTuple):
    """Funding and fees of every final position, from the totals kept when each became final."""

    funding: Decimal
    fees: Decimal


def recent_cycles(store: Store, limit: int) -> list[CycleRow]:
    """The newest `limit` cycles, newest first."""
    rows = store.conn.execute(
        "SELECT id, started_ms, finished_ms, outcome, exit_code, summary FROM cycles"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [CycleRow(r[0], r[1], r[2], r[3], r[4], _summary(r[5])) for r in rows.fetchall()]


def _summary(raw: str | None) -> dict:
    try:
        found = json.loads(raw or "{}")
    except ValueError:
        return {}  # shown as a cycle without details rather than a page that fails
    return found if isinstance(found, dict) else {}


def net_pnl_by_cycle(store: Store, limit: int) -> list[Point]:
    """The account's net P&L after each of the newest `limit` finished cycles, oldest first:
    the realized net of every position final by then, plus the net of each position the
    cycle held (as the cycle valued it)."""
    with decoding("a closed position's realized total"):
        closes = [
            (int(t), Decimal(net))
            for t, net in store.conn.execute(
                "SELECT closed_ms, realized_net FROM positions WHERE realized_net IS NOT NULL"
                " AND closed_ms IS NOT NULL ORDER BY closed_ms"
            )
        ]
    times = [t for t, _ in closes]
    realized = list(accumulate((net for _, net in closes), initial=Decimal(0)))
    rows = store.conn.execute(
        "SELECT c.finished_ms, (SELECT group_concat(net_pnl, ' ') FROM cycle_positions"
        " WHERE cycle_id = c.id AND net_pnl IS NOT NULL) FROM cycles c"
        " WHERE c.finished_ms IS NOT NULL ORDER BY c.id DESC LIMIT ?",
        (limit,),
    ).fetchall()
    out: list[Point] = []
    with decoding("a cycle's position values"):
        for finished, nets in reversed(rows):
            held = sum((Decimal(v) for v in (nets or "").split()), Decimal(0))
            out.append((finished, realized[bisect_right(times, finished)] + held))
    return out


def cumulative_funding(store: Store) -> list[Point]:
    """Funding received by every position, summed over time, one point per settlement."""
    total, out = Decimal(0), []
    with decoding("a funding payment"):
        for time_ms, amounts in store.conn.execute(
            "SELECT time_ms, group_concat(amount, ' ') FROM funding_payments"
            " GROUP BY time_ms ORDER BY time_ms"
        ):
            total += sum((Decimal(a) for a in amounts.split()), Decimal(0))
            out.append((time_ms, total))
    return out


def realized_parts(store: Store) -> RealizedParts:
    funding = fees = Decimal(0)
    with decoding("a closed position's realized total"):
        for f, fee in store.conn.execute(
            "SELECT realized_funding, realized_fees FROM positions WHERE realized_net IS NOT NULL"
        ):
            funding += Decimal(f)
            fees += Decimal(fee)
    return RealizedParts(funding, fees)


def recent_closes(store: Store, limit: int) -> list[ClosedRow]:
    """The newest `limit` positions that became final, newest first."""
    with decoding("a closed position's realized total"):
        return [
            ClosedRow(r[0], r[1], r[2], r[3], r[4], None if r[5] is None else Decimal(r[5]))
            for r in store.conn.execute(
                "SELECT id, perp_symbol, state, closed_ms, close_reason, realized_net"
                " FROM positions WHERE state IN ('closed', 'unwound', 'failed')"
                " ORDER BY COALESCE(closed_ms, created_ms) DESC, id DESC LIMIT ?",
                (limit,),
            )
        ]


def recent_margin_actions(store: Store, limit: int) -> list[MarginActionRow]:
    """The newest `limit` margin top-up steps, newest first."""
    with decoding("a margin action"):
        return [
            _margin_action_row(r)
            for r in store._rows("SELECT * FROM margin_actions ORDER BY id DESC LIMIT ?", [limit])
        ]
