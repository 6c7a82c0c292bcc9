"""Getting history into history.db from CSV files (`fra history import`); fetching is in
`fra/engine/fetch.py`."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from fra.core.history import HistoryError, archive_symbol, parse
from fra.errors import BadInput
from fra.store.history import Added, HistoryStore


class Imported(NamedTuple):
    format: str
    rows: int
    symbols: tuple[str, ...]
    added: Added


@contextmanager
def bad_history() -> Iterator[None]:
    """A HistoryError as the CLI's one-line bad-input error (exit 2)."""
    try:
        yield
    except HistoryError as exc:
        raise BadInput(exc.problem, exc.fix) from None


def import_file(
    history_path: Path,
    file: Path,
    *,
    exchange: str | None = None,
    symbol: str | None = None,
    replace: bool = False,
) -> Imported:
    """Parse the whole file first, then write it in one transaction: a bad file leaves the
    history file as it was (not even created)."""
    with bad_history():
        if not file.is_file():
            raise HistoryError(f"{file} is not a file", "give the path of a CSV file")
        name = file.name
        with _open_text(file) as text:
            kind, records = parse(
                csv.reader(text),
                source=name,
                exchange=exchange.lower() if exchange else None,
                symbol=symbol or archive_symbol(name),
            )
        if not records:
            raise HistoryError(f"{name} has a header but no rows", "give a file with data")
        store = HistoryStore.open(history_path)
        try:
            if kind == "bars":
                added = store.add_bars(records, replace=replace)  # type: ignore[arg-type]
            else:
                added = store.add_funding(records, replace=replace)  # type: ignore[arg-type]
        finally:
            store.close()
    symbols = tuple(sorted({r.symbol for r in records}))
    return Imported(kind, len(records), symbols, added)


@contextmanager
def _open_text(file: Path) -> Iterator[io.TextIOBase]:
    """A CSV file as text: plain, gzip, or a zip holding one CSV (Binance's archive)."""
    try:
        if file.suffix == ".zip":
            with zipfile.ZipFile(file) as archive:
                members = [m for m in archive.namelist() if m.endswith(".csv")]
                if len(members) != 1:
                    raise HistoryError(
                        f"{file.name} holds {len(members)} CSV files", "give a zip with one CSV"
                    )
                with archive.open(members[0]) as raw:
                    yield io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        elif file.suffix == ".gz":
            with gzip.open(file, "rt", encoding="utf-8-sig", newline="") as text:
                yield text
        else:
            with file.open(encoding="utf-8-sig", newline="") as text:
                yield text
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise HistoryError(f"cannot read {file.name}: {exc}", "give a readable CSV file") from None
