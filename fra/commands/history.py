"""fra history import | fetch | list"""

from __future__ import annotations

from pathlib import Path

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings, ts

app = typer.Typer(
    help="Funding and price history for backtests, kept in history.db beside the state file.",
    no_args_is_help=True,
)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="CSV file (.csv, .csv.gz, or Binance's .zip)."),
    exchange: str = typer.Option(
        None, "--exchange", help="Exchange of a Binance archive file (default binance)."
    ),
    symbol: str = typer.Option(
        None, "--symbol", help="Symbol of a Binance archive file, if its name does not say."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Overwrite stored rows that the file contradicts."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Import funding rates or OHLCV bars. Formats: exchange,symbol,funding_time_ms,
    funding_rate[,interval_hours,mark_price]; exchange,symbol,market,open_time_ms,open,high,
    low,close,volume; Binance's archive calc_time,funding_interval_hours,last_funding_rate.
    Importing the same file again changes nothing."""

    def body() -> None:
        from fra.engine.history import import_file

        s = settings(ctx)
        done = import_file(s.history_path, file, exchange=exchange, symbol=symbol, replace=replace)
        summary = {
            "file": str(file),
            "format": done.format,
            "rows": done.rows,
            "symbols": list(done.symbols),
            **done.added._asdict(),
            "history_db": str(s.history_path),
        }
        if as_json:
            print_json(summary)
            return
        a = done.added
        shown = ", ".join(done.symbols[:6]) + (" ..." if len(done.symbols) > 6 else "")
        print(
            f"{file.name}: {done.rows} {done.format} rows for {len(done.symbols)} symbol(s)"
            f" ({shown}): {a.new} new, {a.completed} completed, {a.replaced} replaced,"
            f" {a.unchanged} already stored -> {s.history_path}"
        )

    guarded(body)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """What history.db holds: each series' first and last time and its row count."""

    def body() -> None:
        from fra.commands.output import emit, line, table
        from fra.store.history import HistoryStore

        s = settings(ctx)
        if not s.history_path.exists():
            rows = []
        else:
            store = HistoryStore.open(s.history_path)
            try:
                rows = store.coverage()
            finally:
                store.close()
        if as_json:
            print_json([r._asdict() for r in rows])
            return
        if not rows:
            emit([line(f"No history in {s.history_path}: `fra history import` or `fetch`.")])
            return
        emit(
            table(
                f"History in {s.history_path}",
                ["Exchange", "Symbol", "Kind", "From", "To", "Rows"],
                [
                    [r.exchange, r.symbol, r.kind, ts(r.first_ms), ts(r.last_ms), str(r.rows)]
                    for r in rows
                ],
                left={"Exchange", "Symbol", "Kind"},
            )
        )

    guarded(body)
