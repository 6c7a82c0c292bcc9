"""Getting history into history.db from CSV files (`fra history import`); fetching is in
`fra/engine/fetch.py`."""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NamedTuple, Protocol

from fra.core.history import HistoryError, archive_symbol, parse
from fra.errors import BadInput
from fra.store.history import Added, HistoryStore


class Imported(NamedTuple):
    format: str
    rows: int
    symbols: tuple[str, ...]
    added: Added


class ImportProgress(Protocol):
    """Told how an import goes: a large file takes seconds to read, then to store."""

    def reading(self, rows: int, fraction: float) -> None:
        """`rows` data rows read so far, `fraction` of the file's bytes (compressed, for a
        .gz or .zip)."""

    def storing(self, rows: int) -> None:
        """The file is read; its `rows` merged records are being written."""


# Rows between progress reports: often enough to move a bar, rare enough to cost nothing.
PROGRESS_EVERY = 5000


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
    progress: ImportProgress | None = None,
) -> Imported:
    """Parse the whole file first, then write it in one transaction: a bad file leaves the
    history file as it was (not even created)."""
    with bad_history():
        if not file.is_file():
            raise HistoryError(f"{file} is not a file", "give the path of a CSV file")
        name = file.name
        with _open_text(file) as (text, position):
            rows: Iterable[list[str]] = csv.reader(text)
            if progress is not None:
                rows = _reported(rows, position, file.stat().st_size, progress)
            kind, records = parse(
                rows,
                source=name,
                exchange=exchange.lower() if exchange else None,
                symbol=symbol or archive_symbol(name),
            )
        if not records:
            raise HistoryError(f"{name} has a header but no rows", "give a file with data")
        if progress is not None:
            progress.storing(len(records))
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


def _reported(
    rows: Iterable[list[str]], position: Callable[[], int], size: int, progress: ImportProgress
) -> Iterator[list[str]]:
    n = -1  # the header is no data row
    for n, row in enumerate(rows):
        if n and n % PROGRESS_EVERY == 0:
            progress.reading(n, min(1.0, position() / size) if size else 1.0)
        yield row
    progress.reading(max(n, 0), 1.0)


@contextmanager
def _open_text(file: Path) -> Iterator[tuple[io.TextIOBase, Callable[[], int]]]:
    """A CSV file as text (plain, gzip, or a zip holding one CSV: Binance's archive), and how
    many of the file's own bytes were read so far."""
    try:
        with ExitStack() as stack:
            raw = stack.enter_context(file.open("rb"))
            if file.suffix == ".zip":
                archive = stack.enter_context(zipfile.ZipFile(raw))
                members = [m for m in archive.namelist() if m.endswith(".csv")]
                if len(members) != 1:
                    raise HistoryError(
                        f"{file.name} holds {len(members)} CSV files", "give a zip with one CSV"
                    )
                binary: io.BufferedIOBase = stack.enter_context(archive.open(members[0]))
            elif file.suffix == ".gz":
                binary = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
            else:
                binary = raw
            text = stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
            yield text, raw.tell
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, EOFError, csv.Error) as exc:
        raise HistoryError(f"cannot read {file.name}: {exc}", "give a readable CSV file") from None
