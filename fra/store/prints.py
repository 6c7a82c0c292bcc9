"""Settled funding prints kept in state.db, so that a cycle asks the venue only for what is new.

`funding_prints` holds one row per perpetual and settlement. Two records say how far it can be
trusted: per perpetual, the span (since, until] that a per-symbol fetch found complete
(`funding_print_spans`); and for every perpetual at once, the time up to which the venue's bulk
call has been read (`synced_ms`, in the meta table). Writes belong inside `store.tx()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from fra.core.forecast import Print, Tracker, track_stored
from fra.core.models import FundingSettlement
from fra.store.db import Store

_SYNCED = "funding_prints_synced_ms"
_TRACKERS = "forecast_trackers"  # the Trackers the last cycle computed (see `trackers`)


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

    def trackers(
        self,
        symbols: Iterable[str],
        after_ms: int,
        until_ms: int,
        half_life_hours: int,
        stop_rate: Decimal | None,
        *,
        keep: bool = False,
    ) -> dict[str, Tracker]:
        """Each symbol's Tracker fed its prints with after_ms < time <= until_ms.

        Feeding years of prints is most of what `fra rank` spends, and between two settlements
        the prints in the window do not change. A print is never changed once stored (INSERT OR
        IGNORE; pruning drops only the oldest), so the window's first and last time and its
        count name its prints exactly: a Tracker kept for the same three (and the same
        settings) is the one feeding them would give. `keep` stores the Trackers computed (the
        cycles do: they write anyway, while a read leaves the file as it was)."""
        wanted = list(dict.fromkeys(symbols))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        windows = {
            row[0]: list(row[1:])
            for row in self.conn.execute(
                "SELECT symbol, MIN(time_ms), MAX(time_ms), COUNT(*) FROM funding_prints"
                f" WHERE symbol IN ({marks}) AND time_ms > ? AND time_ms <= ? GROUP BY symbol",
                (*wanted, after_ms, until_ms),
            )
        }
        same_settings = [half_life_hours, None if stop_rate is None else str(stop_rate)]
        kept = self._kept()
        out: dict[str, Tracker] = {}
        now_kept: dict[str, Any] = {}
        for symbol in wanted:
            window = windows.get(symbol)
            key = None if window is None else [*window, *same_settings]
            entry = kept.get(symbol)
            if key is not None and entry is not None and entry.get("key") == key:
                tracker = _restored(entry["state"], half_life_hours, stop_rate)
            else:
                rows = self.conn.execute(
                    "SELECT time_ms, rate, interval_hours FROM funding_prints"
                    " WHERE symbol = ? AND time_ms > ? AND time_ms <= ? ORDER BY time_ms",
                    (symbol, after_ms, until_ms),
                ).fetchall()
                tracker = track_stored(rows, half_life_hours, stop_rate)
            out[symbol] = tracker
            if key is not None:
                now_kept[symbol] = {"key": key, "state": _state(tracker)}
        if keep and now_kept != kept:
            with self.store.tx():
                self.store.set_meta(_TRACKERS, json.dumps(now_kept, separators=(",", ":")))
        return out

    def _kept(self) -> dict[str, Any]:
        text = self.store.meta(_TRACKERS)
        try:
            kept = json.loads(text) if text else {}
        except ValueError:
            return {}  # computed again, and kept again by the next cycle
        return kept if isinstance(kept, dict) else {}

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


def _state(t: Tracker) -> list[Any]:
    return [str(t.total), str(t.weight), t.count, t.last_ms, t.below_since_ms]


def _restored(state: list[Any], half_life_hours: int, stop_rate: Decimal | None) -> Tracker:
    # Decimal's str() round-trips exactly, digits and exponent alike.
    t = Tracker(half_life_hours, stop_rate)
    t.total, t.weight, t.count = Decimal(state[0]), Decimal(state[1]), int(state[2])
    t.last_ms, t.below_since_ms = state[3], state[4]
    return t
