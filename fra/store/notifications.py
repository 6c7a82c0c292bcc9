"""Notifications kept in state.db: the conditions being watched, every message and its outcome
at each destination, and where announcing positions has got to. Writes belong in `store.tx()`.

Reads for other views (a dashboard's "recent notifications"): `Notifications(store).recent()`,
`.conditions()`, `.last_heartbeat()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from fra.core.alerts import Kind, Level, Message, Tracked
from fra.store.db import Store

_FROM = "notify_from_id"  # positions above this id (and all held ones) may need announcing
_BASELINE = "notify_baseline_id"  # positions up to this id are never announced as opened
_HEARTBEAT = "notify_heartbeat"


class Delivery(NamedTuple):
    target: str  # the URL, masked
    state: str  # pending | sent | failed | expired | dropped
    attempts: int
    updated_ms: int
    error: str


class NotificationRow(NamedTuple):
    id: int
    created_ms: int
    key: str
    kind: Kind
    level: Level
    title: str
    body: str
    deliveries: list[Delivery]


class Heartbeat(NamedTuple):
    time_ms: int
    ok: bool
    error: str


class Due(NamedTuple):
    notification_id: int
    message: Message
    created_ms: int


class Notifications:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn

    # -- conditions -------------------------------------------------------------------------

    def conditions(self) -> dict[str, Tracked]:
        return {
            r[0]: Tracked(r[0], Level(r[1]), r[2], r[3], r[4], r[5])
            for r in self.conn.execute(
                "SELECT key, level, title, text, since_ms, notified_ms FROM notify_conditions"
            )
        }

    def save_conditions(self, upsert: Iterable[Tracked], cleared: Iterable[str]) -> None:
        for t in upsert:
            self.conn.execute(
                "INSERT OR REPLACE INTO notify_conditions VALUES (?, ?, ?, ?, ?, ?)",
                (t.key, t.level.value, t.title, t.text, t.since_ms, t.notified_ms),
            )
        for key in cleared:
            self.conn.execute("DELETE FROM notify_conditions WHERE key = ?", (key,))

    # -- messages and deliveries ------------------------------------------------------------

    def add(self, message: Message, now_ms: int, targets: Iterable[tuple[str, str]]) -> int:
        """Record `message` and a pending delivery to each (target_id, masked URL)."""
        cursor = self.conn.execute(
            "INSERT INTO notifications(created_ms, key, kind, level, title, body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                now_ms,
                message.key,
                message.kind.value,
                message.level.value,
                message.title,
                message.body,
            ),
        )
        nid = int(cursor.lastrowid or 0)
        for target_id, shown in targets:
            self.conn.execute(
                "INSERT INTO notification_deliveries(notification_id, target_id, target, state,"
                " updated_ms) VALUES (?, ?, ?, 'pending', ?)",
                (nid, target_id, shown, now_ms),
            )
        return nid

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` have a message already (events are sent once)."""
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            found |= {
                r[0]
                for r in self.conn.execute(
                    f"SELECT DISTINCT key FROM notifications WHERE key IN ({marks})", chunk
                )
            }
        return found

    def due(self) -> dict[str, list[Due]]:
        """Deliveries still to make (new or failed before), per target_id, oldest first."""
        out: dict[str, list[Due]] = {}
        for r in self.conn.execute(
            "SELECT d.target_id, n.id, n.key, n.kind, n.level, n.title, n.body, n.created_ms"
            " FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id"
            " WHERE d.state IN ('pending', 'failed') ORDER BY n.id"
        ):
            message = Message(r[2], Kind(r[3]), Level(r[4]), r[5], r[6])
            out.setdefault(r[0], []).append(Due(r[1], message, r[7]))
        return out

    def mark(self, ids: Iterable[int], target_id: str, state: str, error: str, now_ms: int) -> None:
        """The outcome of one attempt to deliver `ids` to `target_id`."""
        for nid in ids:
            self.conn.execute(
                "UPDATE notification_deliveries SET state = ?, error = ?, updated_ms = ?,"
                " attempts = attempts + 1 WHERE notification_id = ? AND target_id = ?",
                (state, error, now_ms, nid, target_id),
            )

    def settle(self, ids: Iterable[int], target_id: str, state: str, why: str, now_ms: int) -> None:
        """Give up on deliveries without an attempt (expired, or the URL is no longer set)."""
        for nid in ids:
            self.conn.execute(
                "UPDATE notification_deliveries SET state = ?, error = ?, updated_ms = ?"
                " WHERE notification_id = ? AND target_id = ?",
                (state, why, now_ms, nid, target_id),
            )

    def recent(self, limit: int = 20) -> list[NotificationRow]:
        """The newest messages first, each with its deliveries."""
        rows = self.conn.execute(
            "SELECT id, created_ms, key, kind, level, title, body FROM notifications"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        deliveries: dict[int, list[Delivery]] = {}
        if rows:
            marks = ", ".join("?" * len(rows))
            for r in self.conn.execute(
                "SELECT notification_id, target, state, attempts, updated_ms, error"
                f" FROM notification_deliveries WHERE notification_id IN ({marks})"
                " ORDER BY target",
                [r[0] for r in rows],
            ):
                deliveries.setdefault(r[0], []).append(Delivery(*r[1:]))
        return [
            NotificationRow(
                r[0], r[1], r[2], Kind(r[3]), Level(r[4]), r[5], r[6], deliveries.get(r[0], [])
            )
            for r in rows
        ]

    # -- positions to announce ---------------------------------------------------------------

    def position_candidates(self) -> list[int]:
        """Ids of positions that may have news: every held one, and any newer than those
        announced in full."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM positions WHERE state IN ('opening', 'open', 'closing')"
                " OR id > ? ORDER BY id",
                (self._meta_int(_FROM),),
            )
        ]

    def baseline_id(self) -> int:
        return self._meta_int(_BASELINE)

    def advance(self, *, baseline: bool) -> None:
        """Announcing has caught up: positions below the lowest held one are done (with
        `baseline`, positions so far are never announced as opened: notifications were off)."""
        held = self.conn.execute(
            "SELECT MIN(id) FROM positions WHERE state IN ('opening', 'open', 'closing')"
        ).fetchone()[0]
        last = self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM positions").fetchone()[0]
        done = held - 1 if held is not None else last
        if self._meta_int(_FROM) != done:
            self.store.set_meta(_FROM, str(done))
        if baseline and self._meta_int(_BASELINE) != last:
            self.store.set_meta(_BASELINE, str(last))

    def _meta_int(self, key: str) -> int:
        return int(self.store.meta(key) or 0)

    # -- the daily summary ------------------------------------------------------------------

    def funding_since(self, since_ms: int, until_ms: int) -> Decimal:
        return sum(
            (
                Decimal(r[0])
                for r in self.conn.execute(
                    "SELECT amount FROM funding_payments WHERE time_ms > ? AND time_ms <= ?",
                    (since_ms, until_ms),
                )
            ),
            Decimal(0),
        )

    def closed_since(self, since_ms: int, until_ms: int) -> tuple[int, Decimal]:
        """Positions that became final in the window, and their realized net P&L."""
        rows = self.conn.execute(
            "SELECT realized_net FROM positions WHERE state IN ('closed', 'unwound', 'failed')"
            " AND closed_ms > ? AND closed_ms <= ?",
            (since_ms, until_ms),
        ).fetchall()
        return len(rows), sum((Decimal(r[0] or 0) for r in rows), Decimal(0))

    # -- the heartbeat and cycles, for `fra status --check` ----------------------------------

    def save_heartbeat(self, beat: Heartbeat) -> None:
        self.store.set_meta(_HEARTBEAT, json.dumps(beat._asdict()))

    def last_heartbeat(self) -> Heartbeat | None:
        raw = self.store.meta(_HEARTBEAT)
        return Heartbeat(**json.loads(raw)) if raw else None

    def last_finished_cycle(self) -> tuple[int, int | None] | None:
        """(finished_ms, exit_code) of the newest cycle that finished."""
        row = self.conn.execute(
            "SELECT finished_ms, exit_code FROM cycles WHERE finished_ms IS NOT NULL"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), row[1]) if row else None
