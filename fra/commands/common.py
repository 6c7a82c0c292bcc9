"""What every command shares: settings from flags, error handling, the lock, output helpers."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import typer

from fra.errors import ExitCode, FraError, LockHeld, StateError, VenueFailure, from_venue
from fra.settings import Settings, load_settings

T = TypeVar("T")

JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


class Options:
    """Global flags given before the subcommand (`fra --db other.db status`)."""

    def __init__(self, db: Path | None = None, venue: str | None = None, init: bool = False):
        self.db = db
        self.venue = venue
        self.init = init


def settings(ctx: typer.Context, warn: bool = True, **overrides: Any) -> Settings:
    """The effective settings; `warn`: name each FRA_* variable no setting reads on stderr
    (`fra config` lists them in its output instead)."""
    opts: Options = ctx.obj if isinstance(ctx.obj, Options) else Options()
    loaded = load_settings(db=opts.db, venue=opts.venue, **overrides)
    loaded._init_state = opts.init
    if warn:
        warn_unknown_names()
    return loaded


def warn_unknown_names() -> None:
    """One line on stderr for each FRA_* name no setting reads: pydantic-settings ignores it,
    and a misspelt limit would leave the default in force without a word."""
    from fra.env_names import describe, unknown_names

    for unknown in unknown_names():
        print(f"warning: {describe(unknown)}", file=sys.stderr)


def fail(exc: FraError) -> typer.Exit:
    from fra.core.text import escaped

    # Messages quote what was typed: a newline or escape sequence in it must not break the
    # one-line error cron mails, nor steer the terminal.
    print(f"error: {escaped(str(exc))}", file=sys.stderr)
    if json_requested() and not _reported[0]:
        # A script that asked for JSON reads stdout; the line above stays for cron's mail. A
        # command that already printed its JSON report (status --check) said it all there.
        print_json({"error": exc.message, "fix": exc.fix or None, "exit_code": int(exc.exit_code)})
    return typer.Exit(int(exc.exit_code))


def json_requested() -> bool:
    """Whether the running command was given --json (every command names that flag as_json)."""
    from fra.commands.clickcompat import current_context

    ctx = current_context()
    return bool(ctx is not None and ctx.params.get("as_json"))


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body; FraErrors become one line on stderr and their exit code."""
    from fra.venues.base import VenueError

    _reported[0] = False
    try:
        try:
            return fn()
        except VenueError as venue_exc:
            raise from_venue(venue_exc, "the exchange") from None
        except sqlite3.OperationalError as db_exc:
            # Opening checked the file; this is what changed since: a full disk, a file made
            # read-only or immutable. The transaction in flight was rolled back.
            raise StateError(
                f"the state file could not be written ({db_exc})",
                "check free disk space and the file's permissions (chmod u+w, chattr -i)",
            ) from None
    except FraError as exc:
        log = logging.getLogger("fra")
        if log.handlers:
            # Shown below as the one-line error; the log file gets it too, the terminal not twice.
            log.error("%s", exc, extra={"file_only": True})
        raise fail(exc) from None


@contextmanager
def cycle_lock(settings: Settings, wait_seconds: float) -> Iterator[None]:
    """The lock that keeps cycles (and manual trading) from overlapping."""
    from filelock import FileLock, Timeout

    lock_path = settings.db_path.with_name(settings.db_path.name + ".lock")
    if not lock_path.parent.exists():
        raise StateError(
            f"directory {lock_path.parent} does not exist", "create it or point FRA_DB elsewhere"
        )
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=wait_seconds)
    except Timeout:
        raise LockHeld(
            f"another fra cycle holds {lock_path}",
            "wait for it to finish (a cycle exits by itself); nothing was changed",
        ) from None
    try:
        yield
    finally:
        lock.release()


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "level": record.levelname.lower(),
                "logger": record.name,
                "msg": record.getMessage(),
            }
        )


def setup_logging(settings: Settings, verbose: bool = False) -> None:
    """Warnings to the terminal for people, everything as JSON lines to a file for machines."""
    root = logging.getLogger("fra")
    if root.handlers:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.INFO)
    root.propagate = False
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.INFO if verbose else logging.WARNING)
    terminal.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    terminal.addFilter(lambda record: not getattr(record, "file_only", False))
    root.addHandler(terminal)
    try:
        # Private, like the state file: the log holds the account's whole trading history.
        os.close(os.open(settings.log_path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600))
        file_handler = logging.FileHandler(settings.log_path, encoding="utf-8")
    except OSError:
        return
    file_handler.setFormatter(JsonLines())
    root.addHandler(file_handler)


# -- output ----------------------------------------------------------------------------------


_reported = [False]  # whether the running command printed its JSON (fail() then adds none)


def print_json(data: Any) -> None:
    """`data` as JSON. Decimals become strings with every digit they have and no trailing
    zeros, never an exponent; a figure that came out of a division is rounded where it is
    built (fra.core.precision), since only there is it known to be one."""
    _reported[0] = True
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        from fra.core.precision import plain

        return plain(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def ts(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def day_ms(text: str, option: str) -> int:
    """A date (or ISO time) given on the command line, UTC unless it says otherwise."""
    from fra.errors import BadInput

    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(
            f"{option} {text!r} is not a date", f"give {option} as YYYY-MM-DD (UTC)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def age(ms_from: int | None, ms_to: int) -> str:
    if ms_from is None:
        return "-"
    minutes = max(0, (ms_to - ms_from) // 60_000)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{mins:02d}m"


def pct(value: Decimal | None, places: int = 4) -> str:
    return "-" if value is None else f"{value * 100:.{places}f}%"


def money(value: Decimal | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:,.{places}f}"


def price(value: Decimal | None) -> str:
    """A price to four places, more for a coin worth under a cent (PEPE's 0.00000451): at
    least three significant digits."""
    if value is None:
        return "-"
    places = max(4, 2 - value.adjusted()) if value else 4
    return f"{value:,.{places}f}"


def raise_if_incomplete(positions: list[Any]) -> None:
    """Exit 5 when a close left something behind (the venue did not fill it)."""
    stuck = [p for p in positions if not p.state.is_final]
    if stuck:
        ids = ", ".join(str(p.id) for p in stuck)
        raise VenueFailure(
            f"position{'s' * (len(stuck) != 1)} {ids} could not be closed completely"
            " (see `fra positions`)",
            "the next `fra run-cycle` retries the close",
        )


def exit_with(code: ExitCode) -> None:
    if code != ExitCode.OK:
        raise typer.Exit(int(code))
