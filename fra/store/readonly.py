"""Opening the state file for reading only, beside running cycles: the dashboard and metrics.

SQLite's `mode=ro` makes a write impossible, not merely unlikely, and in WAL mode a reader
never waits for a writer: cycles and readers run side by side without "database is locked".
No lock is taken and nothing is migrated; a file an older fra wrote is upgraded by any
ordinary command first."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from sqlite_utils import Database

from fra.errors import StateError
from fra.store.db import Store, check_rows
from fra.store.migrations import migrations
from fra.store.sqlite import STATE_FILE, _check_schema

# A reader waits only while a WAL file is being recovered or restarted, which is brief.
BUSY_MS = 10_000


def open_read_only(path: Path) -> Store:
    """The state file at `path` as a Store that can only read; StateError when it is missing,
    not fra's, damaged, or from another version of fra."""
    path = Path(path)
    if not path.is_file():
        raise StateError(f"there is no state file at {path}", "check --db/FRA_DB")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_MS / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")
        db = Database(conn, execute_plugins=False)
        _check(db, path)
    except sqlite3.DatabaseError as exc:
        raise StateError(
            f"state file {path} cannot be read ({exc})",
            "check it with `fra status`; restore it from a backup if it is damaged",
        ) from None
    return Store(db, path)


def _check(db: Database, path: Path) -> None:
    conn = db.conn
    try:
        applied = {m.name for m in migrations.applied(db)}
        known = {m.name for m in migrations._migrations}
        if not applied & known:
            raise StateError(
                f"{path} is not a fra state file", "point --db/FRA_DB at the state file"
            )
        if applied - known:
            raise StateError(
                f"{path} was written by a newer fra", "upgrade fra (pip install -U fra)"
            )
        if known - applied:
            raise StateError(
                f"{path} was written by an older fra and is not upgraded yet",
                "run `fra status` once: it upgrades the file",
            )
        _check_schema(conn, path, migrations, STATE_FILE)
        check_rows(conn)
    except BaseException:
        conn.close()
        raise
