"""Settled funding prints kept in state.db, so that a cycle asks the venue only for what is new.

`funding_prints` holds one row per perpetual and settlement. Two records say how far it can be
trusted: per perpetual, the span (since, until] that a per-symbol fetch found complete
(`funding_print_spans`); and for every perpetual at once, the time up to which the venue's bulk
call has been read (`synced_ms`, in the meta table). Writes belong inside `store.tx()`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from fra.core.forecast import Print
from fra.core.models import FundingSettlement
from fra.store.db import Store

_SYNCED = "funding_prints_synced_ms"


class Span(NamedTuple):
    """Every print of a perpetual with since_ms < time <= until_ms is stored."""

    since_ms: int
    until_ms: int


class FundingPrints:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    # -- reads --------------------------------------------------------------------------------

    def synced_ms(self) -> int | None:
        """Up to when the venue's bulk call has been read, None before its first use."""
        value = self.store.meta(_SYNCED)
        return int(value) if value is not None else None

    def spans(self) -> dict[str, Span]:
        return {
            r[0]: Span(r[1], r[2])
            for r in self.conn.execute("SELECT symbol, since_ms, until_ms FROM funding_print_spans")
        }

    def span(self, symbol: str) -> Span | None:
        row = self.conn.execute(
            "SELECT since_ms, until_ms FROM funding_print_spans WHERE symbol = ?", (symbol,)
        ).fetchone()
        return Span(row[0], row[1]) if row else None

    def newest(self) -> dict[str, int]:
        """The time of each perpetual's newest stored print."""
        return dict(
            self.conn.execute("SELECT symbol, MAX(time_ms) FROM funding_prints GROUP BY symbol")
        )

    def prints(
        self, symbols: Iterable[str], after_ms: int, until_ms: int
    ) -> dict[str, list[Print]]:
        """Each symbol's prints with after_ms < time <= until_ms, oldest first."""
        out: dict[str, list[Print]] = {s: [] for s in symbols}
        if not out:
            return out
        marks = ",".join("?" * len(out))
        rows = self.conn.execute(
            "SELECT symbol, time_ms, rate, interval_hours FROM funding_prints"
            f" WHERE symbol IN ({marks}) AND time_ms > ? AND time_ms <= ?"
            " ORDER BY symbol, time_ms",
            (*out, after_ms, until_ms),
        )
        for symbol, time_ms, rate, hours in rows:
            out[symbol].append(Print(time_ms, Decimal(rate), hours))
        return out

    def stored(
        self, symbols: Iterable[str], after_ms: int, until_ms: int
    ) -> dict[str, list[tuple[int, str, int]]]:
        """`prints` as stored, (time_ms, rate as text, interval hours), for
        `fra.core.forecast.track_stored`: converting years of prints one by one is most of
        what `fra rank` spends."""
        out: dict[str, list[tuple[int, str, int]]] = {s: [] for s in symbols}
        for symbol in out:
            out[symbol] = self.conn.execute(
                "SELECT time_ms, rate, interval_hours FROM funding_prints"
                " WHERE symbol = ? AND time_ms > ? AND time_ms <= ? ORDER BY time_ms",
                (symbol, after_ms, until_ms),
            ).fetchall()
        return out

    # -- writes (inside store.tx()) -----------------------------------------------------------

    def add(self, settlements: Iterable[FundingSettlement]) -> int:
        """Store settlements; ones already stored are kept as they are. Returns how many were
        new."""
        before = self.conn.total_changes
        self.conn.executemany(
            "INSERT OR IGNORE INTO funding_prints VALUES (?, ?, ?, ?)",
            [(s.symbol, s.time_ms, str(s.rate), s.interval_hours) for s in settlements],
        )
        return self.conn.total_changes - before

    def set_span(self, symbol: str, span: Span) -> None:
        self.conn.execute(
            "INSERT INTO funding_print_spans VALUES (?, ?, ?) ON CONFLICT(symbol)"
            " DO UPDATE SET since_ms = excluded.since_ms, until_ms = excluded.until_ms",
            (symbol, span.since_ms, span.until_ms),
        )

    def set_synced(self, ms: int) -> None:
        self.store.set_meta(_SYNCED, str(ms))

    def prune(self, before_ms: int) -> int:
        """Drop prints at or before `before_ms`, and the spans of perpetuals with nothing
        stored since (delisted, or not fetched for that long). Returns how many prints went."""
        cursor = self.conn.execute("DELETE FROM funding_prints WHERE time_ms <= ?", (before_ms,))
        self.conn.execute(
            "DELETE FROM funding_print_spans WHERE until_ms <= ?"
            " AND symbol NOT IN (SELECT DISTINCT symbol FROM funding_prints)",
            (before_ms,),
        )
        return cursor.rowcount
