"""history.db: funding settlements and price bars, imported or fetched, read by the backtest.

A file of its own next to the state file: it is bulky, can always be fetched again, and is
written by commands that must not hold the cycle lock. Decimals are TEXT, times epoch ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from fra.core.history import Bar, FundingRecord, HistoryError, PriceBar, combine_funding
from fra.store.sqlite import HISTORY_FILE, open_database, transaction

migrations = Migrations("fra-history")


@migrations()
def m001_history(db: Database) -> None:
    db.execute(
        """CREATE TABLE funding (
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            rate TEXT NOT NULL,
            interval_hours INTEGER,
            mark_price TEXT,
            PRIMARY KEY (exchange, symbol, time_ms)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE bars (
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            open_time_ms INTEGER NOT NULL,
            open TEXT NOT NULL,
            high TEXT NOT NULL,
            low TEXT NOT NULL,
            close TEXT NOT NULL,
            volume TEXT NOT NULL,
            PRIMARY KEY (exchange, symbol, open_time_ms)
        ) WITHOUT ROWID"""
    )


class Added(NamedTuple):
    new: int
    completed: int  # stored rows a new source filled in (a mark price, an interval)
    replaced: int  # stored rows the new ones contradicted, overwritten (only with replace)
    unchanged: int  # stored rows the new ones repeated exactly

    @property
    def already_stored(self) -> int:
        """New rows for a settlement or bar history.db held before, whatever became of it."""
        return self.completed + self.replaced + self.unchanged


class Coverage(NamedTuple):
    exchange: str
    symbol: str
    kind: str  # funding | bars
    first_ms: int
    last_ms: int
    rows: int


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


class HistoryStore:
    def __init__(self, db: Database, path: Path) -> None:
        self.db, self.path, self.conn = db, path, db.conn

    @classmethod
    def open(cls, path: Path) -> HistoryStore:
        # An empty history file is simply new: what it held can be fetched again.
        return cls(open_database(Path(path), migrations, HISTORY_FILE, init=True), Path(path))

    def close(self) -> None:
        self.conn.close()

    # -- writing --------------------------------------------------------------------------

    def add_funding(self, records: Sequence[FundingRecord], *, replace: bool = False) -> Added:
        """Store settlements in one transaction. A stored settlement with another rate is an
        error (nothing is written) unless `replace`."""
        new = completed = replaced = unchanged = 0
        first = ""  # the first row that contradicts a stored one
        with transaction(self.conn):
            stored = self._stored_funding(records)
            writes = []
            for r in records:
                old = stored.get((r.exchange, r.symbol, r.time_ms))
                if old is None:
                    new += 1
                    writes.append(r)
                    continue
                merged = combine_funding(old, r)
                if merged == old:
                    unchanged += 1
                    continue
                if merged is None:
                    if not replace and not first:
                        first = (
                            f"{r.symbol} at {r.time_ms}: stored rate {old.rate}"
                            f" (interval {old.interval_hours}, mark {old.mark_price}) differs"
                            f" from the new {r.rate} ({r.interval_hours}, {r.mark_price})"
                        )
                    replaced += 1
                    writes.append(r)
                else:
                    completed += 1
                    writes.append(merged)
            if replaced and not replace:
                raise _contradicted(replaced, first)
            self.conn.executemany(
                "INSERT OR REPLACE INTO funding VALUES (?,?,?,?,?,?)",
                (
                    (
                        r.exchange,
                        r.symbol,
                        r.time_ms,
                        str(r.rate),
                        r.interval_hours,
                        _text(r.mark_price),
                    )
                    for r in writes
                ),
            )
        return Added(new, completed, replaced, unchanged)

    def add_bars(self, bars: Sequence[Bar], *, replace: bool = False) -> Added:
        new = replaced = unchanged = 0
        first = ""  # the first row that contradicts a stored one
        with transaction(self.conn):
            stored = self._stored_bars(bars)
            writes = []
            for b in bars:
                old = stored.get((b.exchange, b.symbol, b.open_time_ms))
                if old is None:
                    new += 1
                elif old == b:
                    unchanged += 1
                    continue
                else:
                    if not replace and not first:
                        first = (
                            f"{b.symbol} bar at {b.open_time_ms}: stored {tuple(old[3:])} differs"
                            f" from the new {tuple(b[3:])}"
                        )
                    replaced += 1
                writes.append(b)
            if replaced and not replace:
                raise _contradicted(replaced, first)
            self.conn.executemany(
                "INSERT OR REPLACE INTO bars VALUES (?,?,?,?,?,?,?,?)",
                ((b[0], b[1], b[2], *(str(v) for v in b[3:])) for b in writes),
            )
        return Added(new, 0, replaced, unchanged)

    def _stored_funding(
        self, records: Iterable[FundingRecord]
    ) -> dict[tuple[str, str, int], FundingRecord]:
        out = {}
        for exchange, symbol, lo, hi in _spans((r.exchange, r.symbol, r.time_ms) for r in records):
            for row in self.conn.execute(
                "SELECT * FROM funding WHERE exchange = ? AND symbol = ?"
                " AND time_ms BETWEEN ? AND ?",
                (exchange, symbol, lo, hi),
            ):
                out[row[:3]] = _funding(row)
        return out

    def _stored_bars(self, bars: Iterable[Bar]) -> dict[tuple[str, str, int], Bar]:
        out = {}
        for exchange, symbol, lo, hi in _spans(
            (b.exchange, b.symbol, b.open_time_ms) for b in bars
        ):
            for row in self.conn.execute(
                "SELECT * FROM bars WHERE exchange = ? AND symbol = ?"
                " AND open_time_ms BETWEEN ? AND ?",
                (exchange, symbol, lo, hi),
            ):
                out[row[:3]] = _bar(row)
        return out

    # -- reading --------------------------------------------------------------------------

    def funding(
        self, exchange: str, symbols: Iterable[str], since_ms: int, until_ms: int
    ) -> dict[str, list[FundingRecord]]:
        """Settlements in [since, until], per symbol, in time order."""
        out: dict[str, list[FundingRecord]] = {}
        for symbol in symbols:
            out[symbol] = [
                FundingRecord(exchange, symbol, t, Decimal(rate), hours, mark and Decimal(mark))
                for t, rate, hours, mark in self.conn.execute(
                    "SELECT time_ms, rate, interval_hours, mark_price FROM funding"
                    " WHERE exchange = ? AND symbol = ? AND time_ms BETWEEN ? AND ?"
                    " ORDER BY time_ms",
                    (exchange, symbol, since_ms, until_ms),
                )
            ]
        return out

    def price_bars(
        self, exchange: str, symbols: Iterable[str], since_ms: int, until_ms: int
    ) -> dict[str, list[PriceBar]]:
        """Bars in [since, until] per symbol, in time order, as a replay reads them (no open,
        no low)."""
        out: dict[str, list[PriceBar]] = {}
        for symbol in symbols:
            out[symbol] = [
                PriceBar(t, Decimal(close), high, volume)
                for t, high, close, volume in self.conn.execute(
                    "SELECT open_time_ms, high, close, volume FROM bars WHERE exchange = ?"
                    " AND symbol = ? AND open_time_ms BETWEEN ? AND ? ORDER BY open_time_ms",
                    (exchange, symbol, since_ms, until_ms),
                )
            ]
        return out

    def span(self, exchange: str, symbol: str, kind: str) -> tuple[int, int] | None:
        """(first, last) stored time of one series (kind: funding | bars): where a fetch
        resumes. None when nothing is stored."""
        table, column = ("funding", "time_ms") if kind == "funding" else ("bars", "open_time_ms")
        row = self.conn.execute(
            f"SELECT MIN({column}), MAX({column}) FROM {table} WHERE exchange = ? AND symbol = ?",
            (exchange, symbol),
        ).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1])

    def symbols(self, exchange: str, kind: str) -> set[str]:
        """The symbols with rows of `kind` (funding | bars): `coverage` without its counting."""
        table = "funding" if kind == "funding" else "bars"
        sql = f"SELECT DISTINCT symbol FROM {table} WHERE exchange = ?"
        return {row[0] for row in self.conn.execute(sql, (exchange,))}

    def coverage(self, exchange: str | None = None) -> list[Coverage]:
        out = []
        for kind, table, column in (
            ("funding", "funding", "time_ms"),
            ("bars", "bars", "open_time_ms"),
        ):
            sql = (
                f"SELECT exchange, symbol, MIN({column}), MAX({column}), COUNT(*) FROM {table}"
                + (" WHERE exchange = ?" if exchange else "")
                + " GROUP BY exchange, symbol ORDER BY exchange, symbol"
            )
            for row in self.conn.execute(sql, (exchange,) if exchange else ()):
                out.append(Coverage(row[0], row[1], kind, row[2], row[3], row[4]))
        return out


def _contradicted(count: int, first: str) -> HistoryError:
    """All of the rows that contradict stored ones are counted, not just the first: how many
    --replace would overwrite is what decides whether to give it."""
    what = "1 row differs" if count == 1 else f"{count} rows differ"
    return HistoryError(
        f"{what} from stored ones; the first: {first}",
        f"give --replace to overwrite {'it' if count == 1 else 'them'} with the file's",
    )


def _spans(keys: Iterable[tuple[str, str, int]]) -> list[tuple[str, str, int, int]]:
    spans: dict[tuple[str, str], list[int]] = {}
    for exchange, symbol, t in keys:
        span = spans.setdefault((exchange, symbol), [t, t])
        span[0], span[1] = min(span[0], t), max(span[1], t)
    return [(e, s, lo, hi) for (e, s), (lo, hi) in spans.items()]


def _funding(row: tuple) -> FundingRecord:
    return FundingRecord(row[0], row[1], row[2], Decimal(row[3]), row[4], _dec(row[5]))


def _bar(row: tuple) -> Bar:
    return Bar(row[0], row[1], row[2], *(Decimal(v) for v in row[3:]))
