"""Schema of state.db, built and upgraded by named migrations when the store opens.

Money and quantities are TEXT holding Decimal strings; times are INTEGER epoch milliseconds.
Never edit an applied migration: add a new one.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("fra")


def _run(db: Database, script: str) -> None:
    # executescript() would COMMIT first and break the migration's transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migrations()
def m001_initial(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            venue TEXT NOT NULL,
            simulated INTEGER NOT NULL,
            taken_ms INTEGER NOT NULL
        );
        CREATE TABLE snapshot_rows (
            snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
            perp_symbol TEXT NOT NULL,
            spot_symbol TEXT,
            funding_rate TEXT,
            interval_hours INTEGER NOT NULL,
            next_funding_ms INTEGER NOT NULL,
            mark_price TEXT NOT NULL,
            perp_bid TEXT NOT NULL,
            perp_ask TEXT NOT NULL,
            spot_bid TEXT,
            spot_ask TEXT,
            quote_volume_24h TEXT NOT NULL,
            perp_taker_fee TEXT NOT NULL,
            spot_taker_fee TEXT,
            PRIMARY KEY (snapshot_id, perp_symbol)
        );

        CREATE TABLE positions (
            id INTEGER PRIMARY KEY,
            venue TEXT NOT NULL,
            mode TEXT NOT NULL,
            perp_symbol TEXT NOT NULL,
            spot_symbol TEXT NOT NULL,
            state TEXT NOT NULL,
            target_amount TEXT NOT NULL,
            leverage INTEGER NOT NULL,
            entry_rate TEXT,
            interval_hours INTEGER,
            created_ms INTEGER NOT NULL,
            opened_ms INTEGER,
            closed_ms INTEGER,
            close_reason TEXT,
            note TEXT
        );
        CREATE INDEX positions_state ON positions(state);

        -- Intent: committed before its order is sent, so reconcile can find it by client id.
        CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            position_id INTEGER NOT NULL REFERENCES positions(id),
            leg TEXT NOT NULL,
            purpose TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            requested TEXT NOT NULL,
            state TEXT NOT NULL,
            filled TEXT NOT NULL DEFAULT '0',
            average_price TEXT NOT NULL DEFAULT '0',
            fee TEXT NOT NULL DEFAULT '0',
            fee_currency TEXT NOT NULL DEFAULT '',
            exchange_order_id TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE INDEX orders_position ON orders(position_id);

        -- Keyed by settlement: a late, repeated or concurrent cycle cannot count it twice.
        CREATE TABLE funding_payments (
            position_id INTEGER NOT NULL REFERENCES positions(id),
            time_ms INTEGER NOT NULL,
            amount TEXT NOT NULL,
            rate TEXT NOT NULL,
            mark_price TEXT NOT NULL,
            position_amount TEXT NOT NULL,
            PRIMARY KEY (position_id, time_ms)
        );

        CREATE TABLE cycles (
            id INTEGER PRIMARY KEY,
            started_ms INTEGER NOT NULL,
            finished_ms INTEGER,
            outcome TEXT NOT NULL,
            exit_code INTEGER,
            summary TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE cycle_positions (
            cycle_id INTEGER NOT NULL REFERENCES cycles(id),
            position_id INTEGER NOT NULL REFERENCES positions(id),
            state TEXT NOT NULL,
            funding_rate TEXT,
            margin_ratio TEXT,
            net_pnl TEXT,
            PRIMARY KEY (cycle_id, position_id)
        );

        -- The paper exchange: an emulated account that fills against real or simulated books.
        CREATE TABLE paper_orders (
            client_order_id TEXT PRIMARY KEY,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            status TEXT NOT NULL,
            requested TEXT NOT NULL,
            filled TEXT NOT NULL,
            average_price TEXT NOT NULL,
            fee TEXT NOT NULL,
            fee_currency TEXT NOT NULL,
            timestamp_ms INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE paper_balances (asset TEXT PRIMARY KEY, amount TEXT NOT NULL);
        CREATE TABLE paper_shorts (
            symbol TEXT PRIMARY KEY,
            amount TEXT NOT NULL,
            entry_price TEXT NOT NULL,
            margin TEXT NOT NULL,
            funded_until_ms INTEGER NOT NULL
        );
        CREATE TABLE paper_funding (
            symbol TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            amount TEXT NOT NULL,
            rate TEXT NOT NULL,
            mark_price TEXT NOT NULL,
            position_amount TEXT NOT NULL,
            PRIMARY KEY (symbol, time_ms)
        );
        """,
    )
    db["meta"].insert_all(
        [
            {"key": "created_ms", "value": str(int(time.time() * 1000))},
            # Prefix of client order ids, so two state files trading one account never collide.
            {"key": "instance", "value": secrets.token_hex(3)},
        ]
    )


@migrations()
def m002_venue_cache(db: Database) -> None:
    # Exchange data that changes rarely (markets, account fee rates), kept between cycles so a
    # cron cycle doesn't download Binance's several-MB market list every few minutes.
    _run(
        db,
        """
        CREATE TABLE venue_cache (
            venue TEXT NOT NULL,
            kind TEXT NOT NULL,
            fetched_ms INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (venue, kind)
        );
        """,
    )


@migrations()
def m003_venue_binding(db: Database) -> None:
    # A state file serves one venue and mode. Files from before that rule hold paper trading
    # on whatever venue their snapshots came from.
    row = db.execute(
        "SELECT venue FROM positions UNION ALL SELECT venue FROM snapshots LIMIT 1"
    ).fetchone()
    if row:
        db["meta"].insert_all(
            [{"key": "venue", "value": row[0]}, {"key": "mode", "value": "paper"}], replace=True
        )


@migrations()
def m004_margin_actions(db: Database) -> None:
    # Margin management: each step that moves money behind a short (a transfer between the
    # wallets, margin added, both legs shrunk) is written here before it is sent, like an
    # order, so that reconcile can finish or forget it after a crash, never send it twice.
    # `venue_ref` is the venue's record of it once found (Binance's tranId; a margin change
    # has no id, so its time and amount), which also keeps one record from being claimed by
    # two steps. paper_margin_adds is the paper exchange's history of margin added.
    _run(
        db,
        """
        CREATE TABLE margin_actions (
            id INTEGER PRIMARY KEY,
            position_id INTEGER NOT NULL REFERENCES positions(id),
            kind TEXT NOT NULL,
            symbol TEXT NOT NULL,
            amount TEXT NOT NULL,
            state TEXT NOT NULL,
            venue_ref TEXT NOT NULL DEFAULT '',
            ratio_before TEXT,
            reason TEXT NOT NULL DEFAULT '',
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE INDEX margin_actions_state ON margin_actions(state);
        CREATE INDEX margin_actions_position ON margin_actions(position_id);

        CREATE TABLE paper_margin_adds (
            id INTEGER PRIMARY KEY,
            symbol TEXT NOT NULL,
            amount TEXT NOT NULL,
            time_ms INTEGER NOT NULL
        );
        """,
    )


@migrations()
def m005_funding_prints(db: Database) -> None:
    # Settled funding prints, kept so that each cycle asks the venue only for what is new
    # (fra/store/prints.py). `funding_print_spans`: per perpetual, the span a per-symbol fetch
    # found complete, so that a new listing's short history is not fetched again every cycle.
    # Both are pruned to the forecast's lookback.
    _run(
        db,
        """
        CREATE TABLE funding_prints (
            symbol TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            rate TEXT NOT NULL,
            interval_hours INTEGER NOT NULL,
            PRIMARY KEY (symbol, time_ms)
        ) WITHOUT ROWID;

        CREATE TABLE funding_print_spans (
            symbol TEXT PRIMARY KEY,
            since_ms INTEGER NOT NULL,
            until_ms INTEGER NOT NULL
        );
        """,
    )


@migrations()
def m006_realized_totals(db: Database) -> None:
    # A final position (closed, unwound, failed) never changes, so its realized P&L is derived
    # from its fills and funding once, when it becomes final, and kept beside it: `fra status`
    # then sums the stored nets instead of rebuilding every closed position from its fills.
    # The net is kept as well as its parts so that the sum reads one column. The store writes
    # them in the transaction that makes the position final (fra/store/db.py); positions
    # already final are back-filled here, the same way.
    for column in (
        "realized_spot_pnl",
        "realized_perp_pnl",
        "realized_funding",
        "realized_fees",
        "realized_net",
    ):
        db.execute(f"ALTER TABLE positions ADD COLUMN {column} TEXT")
    from fra.store.db import Store  # here: db.py imports this module

    final = db.execute(
        "SELECT id FROM positions WHERE state IN ('closed', 'unwound', 'failed') ORDER BY id"
    )
    Store(db, Path(db.conn.execute("PRAGMA database_list").fetchone()[2])).store_realized(
        [position_id for (position_id,) in final]
    )


@migrations()
def m007_notifications(db: Database) -> None:
    # Notifications (fra/store/notifications.py). `notify_conditions`: each condition fra
    # notifies about while it lasts (started, last notified), so that it is sent when it starts,
    # changes and clears and reminded at most every few hours, never once per cycle.
    # `notifications`: every message, written before it is sent; `notification_deliveries`: its
    # outcome at each destination (`target_id` a hash of the URL, `target` the URL masked), a
    # failed one retried by the next run. Positions already in the file when this ran are not
    # announced as opened: the meta keys mark where announcing starts.
    _run(
        db,
        """
        CREATE TABLE notify_conditions (
            key TEXT PRIMARY KEY,
            level TEXT NOT NULL,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            since_ms INTEGER NOT NULL,
            notified_ms INTEGER NOT NULL
        );

        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            created_ms INTEGER NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            level TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX notifications_key ON notifications(key);

        CREATE TABLE notification_deliveries (
            notification_id INTEGER NOT NULL REFERENCES notifications(id),
            target_id TEXT NOT NULL,
            target TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            updated_ms INTEGER NOT NULL,
            error TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (notification_id, target_id)
        );
        CREATE INDEX notification_deliveries_state ON notification_deliveries(state);
        """,
    )
    last = db.execute("SELECT COALESCE(MAX(id), 0) FROM positions").fetchone()[0]
    db["meta"].insert_all(
        [
            {"key": "notify_from_id", "value": str(last)},
            {"key": "notify_baseline_id", "value": str(last)},
        ],
        replace=True,
    )
