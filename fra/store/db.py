"""The state file: one SQLite database, migrated when opened, typed reads and writes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlite_utils import Database

from fra.core.models import OrderResult, Snapshot, SnapshotRow
from fra.errors import StateError
from fra.store.migrations import migrations
from fra.store.sqlite import STATE_FILE, open_database, transaction

if TYPE_CHECKING:
    # Imported where used: `fra rank` reads snapshots only and need not build positions.
    from fra.core.positions import Fill, Payment, Position, PositionState


def dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Rows that do not read as fra wrote them (a number that is not one, a state this fra does
    not know) are damage to the file, reported as such rather than as a crash."""
    try:
        yield
    except (InvalidOperation, ValueError) as exc:
        # Decimal's own message names no value: say what it is instead.
        problem = "a malformed number" if isinstance(exc, InvalidOperation) else str(exc)
        raise StateError(
            f"state file is damaged: {what} holds {problem}",
            "restore it from a backup, or repair that row with the sqlite3 tool",
        ) from None


# Rows a cycle acts on: checked when the file opens, so damage there stops every command before
# it writes anything. (Final positions are checked as they are read.)
_HELD = "(SELECT id FROM positions WHERE state IN ('opening', 'open', 'closing'))"
_NUMBERS = (
    ("position", f"SELECT id, target_amount FROM positions WHERE id IN {_HELD}"),
    (
        "order",
        "SELECT client_order_id, requested || ' ' || filled || ' ' || average_price || ' ' || fee"
        f" FROM orders WHERE position_id IN {_HELD}",
    ),
    (
        "funding payment of position",
        "SELECT position_id, amount || ' ' || rate || ' ' || mark_price || ' ' || position_amount"
        f" FROM funding_payments WHERE position_id IN {_HELD}",
    ),
    ("paper balance", "SELECT asset, amount FROM paper_balances"),
    (
        "paper short",
        "SELECT symbol, amount || ' ' || entry_price || ' ' || margin FROM paper_shorts",
    ),
    (
        "margin action",
        "SELECT id, amount FROM margin_actions WHERE state = 'pending'",
    ),
)


def check_rows(conn: sqlite3.Connection) -> None:
    from fra.core.positions import PositionState

    known = "', '".join(s.value for s in PositionState)
    for pid, state in conn.execute(
        f"SELECT id, state FROM positions WHERE state NOT IN ('{known}') LIMIT 1"
    ):
        raise StateError(
            f"state file is damaged: position {pid} is in state {state!r}, "
            "which this fra does not know",
            "restore it from a backup, or upgrade fra if a newer version wrote it",
        )
    for what, sql in _NUMBERS:
        for key, values in conn.execute(sql):
            for value in str(values).split(" "):
                if not _is_number(value):
                    raise StateError(
                        f"state file is damaged: {what} {key} holds {value!r}, not a number",
                        "restore it from a backup, or repair that row with the sqlite3 tool",
                    )


def _is_number(value: str) -> bool:
    try:
        return Decimal(value).is_finite()
    except InvalidOperation:
        return False


_BATCH = 500  # positions built at once when storing realized totals


def _final_states() -> str:
    """The final states as an SQL list."""
    from fra.core.positions import FINAL_STATES

    return ", ".join(f"'{state.value}'" for state in sorted(FINAL_STATES))


class OrderRow(NamedTuple):
    client_order_id: str
    position_id: int
    leg: str
    purpose: str
    symbol: str
    side: str
    requested: Decimal
    state: str
    fill: Fill


class MarginActionRow(NamedTuple):
    """One step of a margin top-up: intent, then what came of it."""

    id: int
    position_id: int
    kind: str  # transfer | add_margin | shrink
    symbol: str
    amount: Decimal  # USDT (transfer, add_margin) or coins of each leg (shrink)
    state: str  # pending | done | refused | unsent | unknown (delisted before it was found)
    venue_ref: str
    ratio_before: Decimal | None
    reason: str
    created_ms: int
    updated_ms: int


class CycleRow(NamedTuple):
    id: int
    started_ms: int
    finished_ms: int | None
    outcome: str
    exit_code: int | None
    summary: dict[str, Any]


class Store:
    """Every read and write of state.db goes through here."""

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self.conn = db.conn

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, init: bool = False) -> Store:
        """Open (creating if absent) and migrate. Refuses, without writing, files it can't use;
        `init` lets an empty (zero-length) file start afresh."""
        path = Path(path)
        return cls(open_database(path, migrations, STATE_FILE, check=check_rows, init=init), path)

    def close(self) -> None:
        self.conn.close()

    def is_empty(self) -> bool:
        """Nothing but the schema: no snapshot, position or cycle was ever written."""
        return not any(
            self.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
            for table in ("snapshots", "positions", "cycles", "paper_orders")
        )

    def delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    @contextmanager
    def tx(self) -> Iterator[Store]:
        """One write transaction; BEGIN IMMEDIATE so concurrent writers queue, not deadlock."""
        with transaction(self.conn):
            yield self

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # -- meta and halt -------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete_meta(self, key: str) -> None:
        self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))

    @property
    def created_ms(self) -> int:
        return int(self.meta("created_ms") or 0)

    @property
    def instance(self) -> str:
        return self.meta("instance") or "fra"

    def halt_reason(self) -> str | None:
        """The reason trading was halted, or None when it is not halted."""
        return self.meta("halt_reason")

    def latest_ms(self) -> int | None:
        """The latest time the venue's clock has put in this file (a snapshot, a cycle, a
        position's or an order's change), or None when it holds none."""
        found = self.conn.execute(
            "SELECT MAX(t) FROM (SELECT MAX(taken_ms) AS t FROM snapshots"
            " UNION ALL SELECT MAX(started_ms) FROM cycles"
            " UNION ALL SELECT MAX(COALESCE(closed_ms, opened_ms, created_ms)) FROM positions"
            " UNION ALL SELECT MAX(updated_ms) FROM orders)"
        ).fetchone()[0]
        return None if found is None else int(found)

    # -- venue cache ---------------------------------------------------------------------

    def cached(self, venue: str, kind: str) -> tuple[int, bytes] | None:
        """(fetched_ms, body) of a cached exchange document, None if never stored."""
        row = self.conn.execute(
            "SELECT fetched_ms, body FROM venue_cache WHERE venue = ? AND kind = ?", (venue, kind)
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def save_cached(self, venue: str, kind: str, fetched_ms: int, body: bytes) -> None:
        self.conn.execute(
            "INSERT INTO venue_cache VALUES (?, ?, ?, ?) ON CONFLICT(venue, kind) "
            "DO UPDATE SET fetched_ms = excluded.fetched_ms, body = excluded.body",
            (venue, kind, fetched_ms, body),
        )

    # -- snapshots -----------------------------------------------------------------------

    def save_snapshot(
        self, venue: str, simulated: bool, taken_ms: int, rows: Iterable[SnapshotRow]
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO snapshots(venue, simulated, taken_ms) VALUES (?, ?, ?)",
            (venue, int(simulated), taken_ms),
        )
        snapshot_id = int(cursor.lastrowid or 0)
        self.conn.executemany(
            "INSERT INTO snapshot_rows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    snapshot_id,
                    r.perp_symbol,
                    r.spot_symbol,
                    text(r.funding_rate),
                    r.interval_hours,
                    r.next_funding_ms,
                    str(r.mark_price),
                    str(r.perp_bid),
                    str(r.perp_ask),
                    text(r.spot_bid),
                    text(r.spot_ask),
                    str(r.quote_volume_24h),
                    str(r.perp_taker_fee),
                    text(r.spot_taker_fee),
                )
                for r in rows
            ],
        )
        return snapshot_id

    def latest_snapshot(self) -> Snapshot | None:
        head = self.conn.execute(
            "SELECT id, venue, simulated, taken_ms FROM snapshots ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if head is None:
            return None
        with decoding(f"snapshot {head[0]}"):
            rows = self._snapshot_rows(head[0])
        return Snapshot(id=head[0], venue=head[1], taken_ms=head[3], rows=rows)

    def _snapshot_rows(self, snapshot_id: int) -> tuple[SnapshotRow, ...]:
        return tuple(
            SnapshotRow(
                perp_symbol=r["perp_symbol"],
                spot_symbol=r["spot_symbol"],
                funding_rate=dec(r["funding_rate"]),
                interval_hours=r["interval_hours"],
                next_funding_ms=r["next_funding_ms"],
                mark_price=Decimal(r["mark_price"]),
                perp_bid=Decimal(r["perp_bid"]),
                perp_ask=Decimal(r["perp_ask"]),
                spot_bid=dec(r["spot_bid"]),
                spot_ask=dec(r["spot_ask"]),
                quote_volume_24h=Decimal(r["quote_volume_24h"]),
                perp_taker_fee=Decimal(r["perp_taker_fee"]),
                spot_taker_fee=dec(r["spot_taker_fee"]),
            )
            for r in self._rows(
                "SELECT * FROM snapshot_rows WHERE snapshot_id = ? ORDER BY perp_symbol",
                [snapshot_id],
            )
        )

    def prune_snapshots(self, keep: int) -> int:
        """Drop all but the newest `keep` snapshots; returns how many went."""
        cursor = self.conn.execute(
            "DELETE FROM snapshots WHERE id <= (SELECT MAX(id) FROM snapshots) - ?", (keep,)
        )
        return cursor.rowcount

    # -- positions, orders, funding ------------------------------------------------------

    def create_position(
        self,
        *,
        venue: str,
        mode: str,
        perp_symbol: str,
        spot_symbol: str,
        target_amount: Decimal,
        leverage: int,
        entry_rate: Decimal | None,
        interval_hours: int | None,
        now_ms: int,
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO positions(venue, mode, perp_symbol, spot_symbol, state, target_amount,"
            " leverage, entry_rate, interval_hours, created_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                venue,
                mode,
                perp_symbol,
                spot_symbol,
                "opening",
                str(target_amount),
                leverage,
                text(entry_rate),
                interval_hours,
                now_ms,
            ),
        )
        return int(cursor.lastrowid or 0)

    def set_position_state(
        self,
        position_id: int,
        state: PositionState,
        *,
        now_ms: int | None = None,
        reason: str | None = None,
        note: str | None = None,
    ) -> None:
        from fra.core.positions import PositionState, can_move

        row = self.conn.execute("SELECT state FROM positions WHERE id = ?", (position_id,))
        current = PositionState(row.fetchone()[0])
        if state is not current and not can_move(current, state):
            raise RuntimeError(f"position {position_id}: no way from {current} to {state}")
        sets = ["state = ?"]
        params: list[Any] = [state.value]
        if state is PositionState.OPEN and now_ms is not None:
            sets.append("opened_ms = COALESCE(opened_ms, ?)")
            params.append(now_ms)
        if state.is_final and now_ms is not None:
            sets.append("closed_ms = COALESCE(closed_ms, ?)")
            params.append(now_ms)
        if reason is not None:
            sets.append("close_reason = COALESCE(close_reason, ?)")
            params.append(reason)
        if note is not None:
            sets.append("note = ?")
            params.append(note)
        params.append(position_id)
        self.conn.execute(f"UPDATE positions SET {', '.join(sets)} WHERE id = ?", params)
        if state.is_final:
            self.store_realized([position_id])

    def add_order(
        self,
        *,
        client_order_id: str,
        position_id: int,
        leg: str,
        purpose: str,
        symbol: str,
        side: str,
        requested: Decimal,
        now_ms: int,
    ) -> None:
        self.conn.execute(
            "INSERT INTO orders(client_order_id, position_id, leg, purpose, symbol, side,"
            " requested, state, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                client_order_id,
                position_id,
                leg,
                purpose,
                symbol,
                side,
                str(requested),
                "pending",
                now_ms,
                now_ms,
            ),
        )

    def record_order(self, result: OrderResult) -> None:
        self.conn.execute(
            "UPDATE orders SET state = ?, filled = ?, average_price = ?, fee = ?,"
            " fee_currency = ?, exchange_order_id = ?, reason = ?, updated_ms = ?"
            " WHERE client_order_id = ?",
            (
                result.status.value,
                str(result.filled),
                str(result.average_price),
                str(result.fee),
                result.fee_currency,
                result.exchange_order_id,
                result.reason,
                result.timestamp_ms,
                result.client_order_id,
            ),
        )

    def mark_order_unsent(self, client_order_id: str, now_ms: int) -> None:
        self.conn.execute(
            "UPDATE orders SET state = 'unsent', reason = 'never reached the venue',"
            " updated_ms = ? WHERE client_order_id = ?",
            (now_ms, client_order_id),
        )

    def orders(self, position_id: int) -> list[OrderRow]:
        with decoding(f"an order of position {position_id}"):
            return [
                _order_row(r)
                for r in self._rows(
                    "SELECT * FROM orders WHERE position_id = ? ORDER BY created_ms, rowid",
                    [position_id],
                )
            ]

    def add_funding(self, position_id: int, payments: Iterable[Payment]) -> int:
        """Record funding payments; ones already recorded are ignored. Returns how many were new."""
        before = self.conn.total_changes
        self.conn.executemany(
            "INSERT OR IGNORE INTO funding_payments VALUES (?,?,?,?,?,?)",
            [
                (
                    position_id,
                    p.time_ms,
                    str(p.amount),
                    str(p.rate),
                    str(p.mark_price),
                    str(p.position_amount),
                )
                for p in payments
            ],
        )
        added = self.conn.total_changes - before
        if added and self._is_final(position_id):
            # The close settles the short's last funding after marking the position final.
            self.store_realized([position_id])
        return added

    def position(self, position_id: int) -> Position | None:
        rows = self._rows("SELECT * FROM positions WHERE id = ?", [position_id])
        return self._build_positions(rows)[0] if rows else None

    def positions(
        self,
        states: Iterable[PositionState] | None = None,
        *,
        since_ms: int | None = None,
        limit: int | None = None,
    ) -> list[Position]:
        """Positions in id order; `since_ms` keeps those still held or final since then, and
        `limit` the newest that many of what is left."""
        where, params = [], []
        if states is not None:
            wanted = [s.value for s in states]
            where.append(f"state IN ({','.join('?' * len(wanted))})")
            params += wanted
        if since_ms is not None:
            where.append(
                f"(state NOT IN ({_final_states()}) OR COALESCE(closed_ms, created_ms) >= ?)"
            )
            params.append(since_ms)
        sql = "SELECT * FROM positions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if limit is None:
            rows = self._rows(sql + " ORDER BY id", params)
        else:
            rows = self._rows(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])[::-1]
        with decoding("a position"):
            return self._build_positions(rows)

    def realized_totals(self) -> tuple[int, Decimal]:
        """How many positions are final, and their realized net P&L summed, from the totals
        stored when each became final (no fills are read)."""
        count, net = 0, Decimal(0)
        # A scan in id order, not the state index: it reads fewer pages, and the sum is added up
        # in the order it always was (Decimal rounds at its 28th digit).
        with decoding("a closed position's realized total"):
            for (value,) in self.conn.execute(
                f"SELECT realized_net FROM positions WHERE +state IN ({_final_states()})"
                " ORDER BY id"
            ):
                count += 1
                net += Decimal(value if value is not None else "missing")
        return count, net

    def store_realized(self, position_ids: list[int]) -> None:
        """Derive the realized P&L of these positions from their fills and funding, and keep it
        on each that is final. In batches: a back-fill may cover tens of thousands."""
        from fra.core.valuation import valued_pnl

        for first in range(0, len(position_ids), _BATCH):
            batch = position_ids[first : first + _BATCH]
            marks = ",".join("?" * len(batch))
            found = self._rows(f"SELECT * FROM positions WHERE id IN ({marks})", batch)
            updates = []
            with decoding("a position"):
                built = self._build_positions(found)
            for p in built:
                if p.state.is_final:
                    pnl = valued_pnl(p, None)
                    updates.append((*map(str, pnl), str(pnl.net), p.id))
            self.conn.executemany(
                "UPDATE positions SET realized_spot_pnl = ?, realized_perp_pnl = ?,"
                " realized_funding = ?, realized_fees = ?, realized_net = ? WHERE id = ?",
                updates,
            )

    def _is_final(self, position_id: int) -> bool:
        from fra.core.positions import PositionState

        row = self.conn.execute("SELECT state FROM positions WHERE id = ?", (position_id,))
        found = row.fetchone()
        return found is not None and PositionState(found[0]).is_final

    def held_symbols(self) -> set[str]:
        """Perpetuals with a position that is not closed (opening, open or closing)."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT perp_symbol FROM positions WHERE state IN ('opening', 'open', 'closing')"
            )
        }

    def _build_positions(self, rows: list[dict[str, Any]]) -> list[Position]:
        from fra.core.positions import Payment, Position, PositionState

        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        fills: dict[int, list[Fill]] = {i: [] for i in ids}
        for r in self._rows(
            f"SELECT * FROM orders WHERE position_id IN ({marks}) ORDER BY created_ms, rowid", ids
        ):
            fills[r["position_id"]].append(_order_row(r).fill)
        payments: dict[int, list[Payment]] = {i: [] for i in ids}
        for r in self._rows(
            f"SELECT * FROM funding_payments WHERE position_id IN ({marks}) ORDER BY time_ms", ids
        ):
            payments[r["position_id"]].append(
                Payment(
                    time_ms=r["time_ms"],
                    amount=Decimal(r["amount"]),
                    rate=Decimal(r["rate"]),
                    mark_price=Decimal(r["mark_price"]),
                    position_amount=Decimal(r["position_amount"]),
                )
            )
        return [
            Position(
                id=r["id"],
                venue=r["venue"],
                mode=r["mode"],
                perp_symbol=r["perp_symbol"],
                spot_symbol=r["spot_symbol"],
                state=PositionState(r["state"]),
                target_amount=Decimal(r["target_amount"]),
                leverage=r["leverage"],
                entry_rate=dec(r["entry_rate"]),
                interval_hours=r["interval_hours"],
                created_ms=r["created_ms"],
                opened_ms=r["opened_ms"],
                closed_ms=r["closed_ms"],
                close_reason=r["close_reason"],
                note=r["note"],
                fills=tuple(fills[r["id"]]),
                payments=tuple(payments[r["id"]]),
            )
            for r in rows
        ]

    # -- margin actions ----------------------------------------------------------------------

    def add_margin_action(
        self,
        *,
        position_id: int,
        kind: str,
        symbol: str,
        amount: Decimal,
        ratio_before: Decimal | None,
        now_ms: int,
    ) -> int:
        """Write a margin step's intent (state `pending`) before it is sent."""
        cursor = self.conn.execute(
            "INSERT INTO margin_actions(position_id, kind, symbol, amount, state, ratio_before,"
            " created_ms, updated_ms) VALUES (?,?,?,?,'pending',?,?,?)",
            (position_id, kind, symbol, str(amount), text(ratio_before), now_ms, now_ms),
        )
        return int(cursor.lastrowid or 0)

    def finish_margin_action(
        self, action_id: int, state: str, *, now_ms: int, venue_ref: str = "", reason: str = ""
    ) -> None:
        self.conn.execute(
            "UPDATE margin_actions SET state = ?, venue_ref = ?, reason = ?, updated_ms = ?"
            " WHERE id = ?",
            (state, venue_ref, reason, now_ms, action_id),
        )

    def margin_actions(
        self, states: Iterable[str] | None = None, *, since_id: int = 0
    ) -> list[MarginActionRow]:
        sql, params = "SELECT * FROM margin_actions WHERE id > ?", [since_id]
        if states is not None:
            wanted = list(states)
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            params += wanted
        with decoding("a margin action"):
            return [_margin_action_row(r) for r in self._rows(sql + " ORDER BY id", params)]

    def margin_action(self, action_id: int) -> MarginActionRow:
        rows = self._rows("SELECT * FROM margin_actions WHERE id = ?", [action_id])
        return _margin_action_row(rows[0])

    def claimed_refs(self, kind: str) -> set[str]:
        """Venue records already matched to a step of this kind: never to be claimed again."""
        return {
            r[0]
            for r in self.conn.execute(
                "SELECT venue_ref FROM margin_actions WHERE kind = ? AND venue_ref != ''", (kind,)
            )
        }

    # -- cycles ----------------------------------------------------------------------------

    def intents_mark(self) -> int:
        """A number that grows with every order and margin step written. Intent is written
        before anything is sent, so an unchanged mark means a command sent nothing."""
        row = self.conn.execute(
            "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM orders)"
            " + (SELECT COALESCE(MAX(id), 0) FROM margin_actions)"
        ).fetchone()
        return int(row[0])

    def start_cycle(self, now_ms: int) -> int:
        """A new cycle row; rows still "running" belong to cycles that were killed, since
        cycles only start under the cycle lock."""
        self.conn.execute(
            "UPDATE cycles SET outcome = 'killed', exit_code = NULL WHERE outcome = 'running'"
        )
        cursor = self.conn.execute(
            "INSERT INTO cycles(started_ms, outcome) VALUES (?, 'running')", (now_ms,)
        )
        return int(cursor.lastrowid or 0)

    def finish_cycle(
        self, cycle_id: int, now_ms: int, outcome: str, exit_code: int, summary: dict[str, Any]
    ) -> None:
        self.conn.execute(
            "UPDATE cycles SET finished_ms = ?, outcome = ?, exit_code = ?, summary = ?"
            " WHERE id = ?",
            (now_ms, outcome, exit_code, json.dumps(summary, default=str), cycle_id),
        )

    def record_cycle_position(
        self,
        cycle_id: int,
        position_id: int,
        state: str,
        funding_rate: Decimal | None,
        margin_ratio: Decimal | None,
        net_pnl: Decimal | None,
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO cycle_positions VALUES (?,?,?,?,?,?)",
            (cycle_id, position_id, state, text(funding_rate), text(margin_ratio), text(net_pnl)),
        )

    def last_cycle(self) -> CycleRow | None:
        rows = self._rows("SELECT * FROM cycles ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        r = rows[0]
        return CycleRow(
            id=r["id"],
            started_ms=r["started_ms"],
            finished_ms=r["finished_ms"],
            outcome=r["outcome"],
            exit_code=r["exit_code"],
            summary=json.loads(r["summary"] or "{}"),
        )

    def last_margin_ratios(self) -> dict[int, Decimal]:
        """Margin ratio of each position as recorded by the latest cycle or margin-check."""
        raw = self.meta("last_margin")
        if not raw:
            return {}
        return {int(k): Decimal(v) for k, v in json.loads(raw).items()}


def _margin_action_row(r: dict[str, Any]) -> MarginActionRow:
    return MarginActionRow(
        id=r["id"],
        position_id=r["position_id"],
        kind=r["kind"],
        symbol=r["symbol"],
        amount=Decimal(r["amount"]),
        state=r["state"],
        venue_ref=r["venue_ref"],
        ratio_before=dec(r["ratio_before"]),
        reason=r["reason"],
        created_ms=r["created_ms"],
        updated_ms=r["updated_ms"],
    )


def _order_row(r: dict[str, Any]) -> OrderRow:
    from fra.core.positions import Fill

    return OrderRow(
        client_order_id=r["client_order_id"],
        position_id=r["position_id"],
        leg=r["leg"],
        purpose=r["purpose"],
        symbol=r["symbol"],
        side=r["side"],
        requested=Decimal(r["requested"]),
        state=r["state"],
        fill=Fill(
            client_order_id=r["client_order_id"],
            leg=r["leg"],
            side=r["side"],
            state=r["state"],
            requested=Decimal(r["requested"]),
            filled=Decimal(r["filled"]),
            price=Decimal(r["average_price"]),
            fee=Decimal(r["fee"]),
            fee_currency=r["fee_currency"],
            time_ms=r["updated_ms"],
        ),
    )
