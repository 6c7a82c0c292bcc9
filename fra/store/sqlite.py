"""Opening fra's SQLite files: refuse what we can't use without writing to it, then migrate."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import NamedTuple

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from fra.errors import StateError


class FileKind(NamedTuple):
    noun: str  # "state file"
    setting: str  # where its path comes from, for the fixes
    what: str  # what a fitting file is, for "not a ..." errors


STATE_FILE = FileKind("state file", "FRA_DB/--db", "fra state file")
HISTORY_FILE = FileKind("history file", "FRA_HISTORY_DB", "fra history file")


Check = Callable[[sqlite3.Connection], None]


def open_database(
    path: Path,
    migrations: Migrations,
    kind: FileKind,
    *,
    check: Check | None = None,
    init: bool = False,
) -> Database:
    """Open, check and migrate. `check` inspects the rows before anything is written; `init`
    allows an empty (zero-length) file to be made new."""
    if path.is_dir():
        raise StateError(f"{kind.noun} {path} is a directory", f"set {kind.setting} to a file")
    if not path.parent.exists():
        raise StateError(
            f"cannot create {kind.noun} {path}: directory {path.parent} does not exist",
            f"create the directory or point {kind.setting} elsewhere",
        )
    if path.exists():
        if not _readable(path):
            raise StateError(
                f"{kind.noun} {path} is not readable", "fix its permissions (chmod u+rw)"
            )
        if path.stat().st_size == 0 and not init:
            # Truncated by a full disk, a failed copy or `: > file`: the trading it recorded
            # may still be open on the exchange, so it must not quietly become a new file.
            raise StateError(
                f"{kind.noun} {path} is empty (0 bytes), not new: whatever it recorded is lost",
                "restore it from a backup; to start afresh on purpose, delete it or add --init "
                "(fra --init ...)",
            )
        if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            # SQLite needs to write the file and create its -wal/-shm beside it.
            raise StateError(
                f"{kind.noun} {path} or its directory is not writable",
                "fix the permissions (chmod u+w, chattr -i) or copy the file somewhere writable",
            )
    else:
        try:
            # Created private: the state file holds the account's whole trading history, and
            # SQLite gives its -wal and -shm files the same permissions.
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            pass  # another process created it a moment ago
        except OSError as exc:
            raise StateError(
                f"cannot create {kind.noun} {path}: {exc.strerror}",
                f"check the directory's permissions or point {kind.setting} elsewhere",
            ) from None
    try:
        conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StateError(f"cannot open {kind.noun} {path}: {exc}", "check the path") from None
    db = Database(conn, execute_plugins=False)
    try:
        _check_and_migrate(db, path, migrations, kind, check)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StateError(
            f"{kind.noun} {path} is corrupt or not a {kind.what} ({exc})",
            "restore it from a backup or move it aside to start afresh",
        ) from None
    except BaseException:
        conn.close()
        raise
    return db


def _check_and_migrate(
    db: Database, path: Path, migrations: Migrations, kind: FileKind, check: Check | None
) -> None:
    conn = db.conn
    conn.execute("PRAGMA busy_timeout = 10000")
    # Read before anything writes, so a file we refuse is left byte for byte as it was.
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    known = {m.name for m in migrations._migrations}
    if tables and "_sqlite_migrations" not in tables:
        raise StateError(
            f"{path} is a SQLite file but not a {kind.what}",
            f"point {kind.setting} at a {kind.what} or a new path",
        )
    applied = {m.name for m in migrations.applied(db)}
    if tables and not applied & known:
        raise StateError(
            f"{path} is a SQLite file but not a {kind.what}",
            f"point {kind.setting} at a {kind.what} or a new path",
        )
    newer = sorted(applied - known)
    if newer:
        raise StateError(
            f"{path} was written by a newer fra (schema {newer[-1]})",
            "upgrade fra (pip install -U fra) or use a backup made by this version",
        )
    if tables and not migrations.pending(db):
        _check_schema(conn, path, migrations, kind)
    if tables and check is not None:
        check(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    if migrations.pending(db):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-check under the write lock: another process may have migrated meanwhile.
            for migration in migrations.pending(db):
                migration.fn(db)
                migrations.ensure_migrations_table(db)
                migrations._record_applied(db, migration.name)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _check_schema(
    conn: sqlite3.Connection, path: Path, migrations: Migrations, kind: FileKind
) -> None:
    """Every table and column the migrations made must be there: a file damaged by hand or
    by a tool fails here, in one line, rather than in the middle of a cycle."""
    found = _schema(conn)
    for table, columns in expected_schema(migrations).items():
        if table not in found:
            what = f"table {table}"
        elif columns - found[table]:
            what = f"{table}'s column(s) {', '.join(sorted(columns - found[table]))}"
        else:
            continue
        raise StateError(
            f"{kind.noun} {path} is damaged: {what} missing",
            "restore it from a backup, or move it aside to start afresh",
        )


@cache
def expected_schema(migrations: Migrations) -> dict[str, frozenset[str]]:
    """Tables and columns a fully migrated file has, found by migrating an empty one."""
    db = Database(memory=True, execute_plugins=False)
    migrations.apply(db)
    return _schema(db.conn)


def _schema(conn: sqlite3.Connection) -> dict[str, frozenset[str]]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return {t: frozenset(r[1] for r in conn.execute(f"PRAGMA table_info('{t}')")) for t in tables}


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction; BEGIN IMMEDIATE so concurrent writers queue, not deadlock."""
    if conn.in_transaction:
        raise RuntimeError("nested transaction: finish the outer one first")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _readable(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            fh.read(1)
        return True
    except OSError:
        return False
