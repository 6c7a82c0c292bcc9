"""fra history import | fetch | list"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fra.commands.common import JsonOption, day_ms, guarded, iso, print_json, settings, ts
from fra.commands.output import WideOption
from fra.core.text import plural

if TYPE_CHECKING:
    from fra.engine.fetch import HistorySource, SeriesFetched
    from fra.settings import Settings

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
    Importing the same file again changes nothing; a file that contradicts stored rows is
    refused, naming how many, unless --replace. On a terminal, progress shows on stderr."""

    def body() -> None:
        import sys

        from fra.engine.history import import_file

        s = settings(ctx)
        # Progress goes to stderr, on a terminal only: stdout is the summary, which a script
        # may read, and a log file or cron mail would fill with redrawn bars.
        with _ImportReporter(file.name, shown=not as_json and sys.stderr.isatty()) as reporter:
            done = import_file(
                s.history_path,
                file,
                exchange=exchange,
                symbol=symbol,
                replace=replace,
                progress=reporter,
            )
        a = done.added
        summary = {
            "file": str(file),
            "format": done.format,
            "rows": done.rows,
            "symbols": list(done.symbols),
            **a._asdict(),
            "already_stored": a.already_stored,
            "history_db": str(s.history_path),
        }
        if as_json:
            print_json(summary)
            return
        shown = ", ".join(done.symbols[:6]) + (" ..." if len(done.symbols) > 6 else "")
        overlap = (
            f" ({a.unchanged} identical, {a.completed} completed, {a.replaced} replaced)"
            if a.already_stored
            else ""
        )
        print(
            f"{file.name}: {plural(done.rows, f'{done.format} row')} for"
            f" {plural(len(done.symbols), 'symbol')}"
            f" ({shown}): {a.new} new, {a.already_stored} already stored{overlap}"
            f" -> {s.history_path}"
        )

    guarded(body)


class _ImportReporter:
    """A transient progress bar while a file is read and stored; nothing unless `shown`."""

    def __init__(self, name: str, *, shown: bool) -> None:
        from fra.core.text import escaped

        self.name = escaped(name)
        self.bar: Any = None
        self.task: Any = None
        if shown:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

            self.bar = Progress(
                # The file's name is shown as it is: data[1].csv is no rich markup.
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                console=Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> _ImportReporter:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task(f"reading {self.name}", total=1.0, rows=0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def reading(self, rows: int, fraction: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=fraction, rows=rows, refresh=True)

    def storing(self, rows: int) -> None:
        if self.bar is not None:
            # Merging and writing is one transaction with no steps to count: the bar stays
            # full (the file is read) while it runs.
            self.bar.update(
                self.task,
                description=f"storing {self.name}",
                completed=1.0,
                rows=rows,
                refresh=True,
            )


@app.command("fetch")
def fetch(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day to fetch (YYYY-MM-DD, UTC)."),
    until: str = typer.Option(
        None, "--until", help="Fetch up to the start of this day (YYYY-MM-DD, UTC); default now."
    ),
    exchange: str = typer.Option(
        "binance", "--exchange", help="A ccxt exchange id, or sim: the simulated market, offline."
    ),
    symbols: str = typer.Option(
        None, "--symbols", help="Comma-separated perpetuals (BTC/USDT:USDT or BTCUSDT)."
    ),
    top: int = typer.Option(
        None,
        "--top",
        help="Without --symbols: the N perpetuals with a spot market and the most 24h volume"
        " (default 20; 0: all of them).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Fetch funding settlements and 8h price bars (the perpetual's and its spot market's)
    from an exchange into history.db. Resumable: each series continues after what history.db
    holds, so running it again fetches only what is new, and an interrupted run (Ctrl-C)
    carries on where it stopped."""

    def body() -> None:
        from fra.engine.fetch import (
            DEFAULT_TOP,
            SIM,
            FetchStop,
            exchange_name,
            fetch_history,
        )
        from fra.engine.interrupts import deferred_signals
        from fra.errors import BadInput

        s = settings(ctx)
        since_ms = day_ms(since, "--since")
        until_ms = day_ms(until, "--until") if until else None
        if top is not None and top < 0:
            raise BadInput(f"--top {top} is negative", "give a count, or 0 for every perpetual")
        chosen = [x.strip() for x in symbols.split(",") if x.strip()] if symbols else None
        source = _source(s, exchange_name(exchange))
        reporter = _Reporter(quiet=as_json)
        with reporter, deferred_signals(FetchStop()) as stop:
            done = fetch_history(
                s.history_path,
                source,
                since_ms=since_ms,
                until_ms=until_ms,
                symbols=chosen,
                top=DEFAULT_TOP if top is None else top,
                progress=reporter,
                stop=stop,
            )
        summary = {
            "exchange": done.exchange,
            "since": iso(done.since_ms),
            "until": iso(done.until_ms),
            "symbols": list(done.symbols),
            "new_funding": done.new_funding,
            "new_bars": done.new_bars,
            "requests": done.requests,
            "series": [
                {**r._asdict(), "first": iso(r.first_ms), "last": iso(r.last_ms)}
                for r in done.series
            ],
            "history_db": str(s.history_path),
        }
        if as_json:
            print_json(summary)
            return
        how = "computed offline" if done.exchange == SIM else f"{done.requests} requests"
        print(
            f"{done.exchange}: {plural(len(done.symbols), 'perpetual')},"
            f" {plural(done.new_funding, 'new funding settlement')} and"
            f" {plural(done.new_bars, 'new bar')} ({how}) -> {s.history_path}"
        )

    guarded(body)


def _source(s: Settings, exchange: str) -> HistorySource:
    """The simulated market as configured (FRA_SIM__*), or fra's ccxt client of `exchange`
    (FRA_VENUE_URL and the retry and timeout settings apply; no API key: history is public)."""
    from fra.app import exchange_caller, sim_clock, wall_ms
    from fra.engine.fetch import SIM, CcxtSource, SimSource

    if exchange == SIM:
        from fra.venues.simulated import SimulatedMarket, parse_shock

        shocks = [parse_shock(text) for text in s.sim.shocks]
        market = SimulatedMarket(
            seed=s.sim.seed,
            clock=sim_clock(s, wall_ms()),
            shocks=shocks,
            funding_noise=s.sim.funding_noise,
        )
        return SimSource(market)
    public = s.model_copy(update={"venue": exchange, "api_key": None, "api_secret": None})
    return CcxtSource(exchange_caller(public, s.venue_retries))


def _market(symbol: str) -> str:
    return "perp" if ":" in symbol else "spot"


class _Reporter:
    """A progress bar on a terminal; a plain line per perpetual when piped; nothing for --json."""

    def __init__(self, *, quiet: bool) -> None:
        import sys

        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None
        if not quiet and sys.stdout.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )

    def __enter__(self) -> _Reporter:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def begin(self, exchange: str, symbols: Sequence[str]) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task(f"{exchange}", total=len(symbols))

    def page(self, symbol: str, kind: str, up_to_ms: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"{symbol} {kind} to {ts(up_to_ms)[:16]}")

    def symbol_done(self, symbol: str, series: Sequence[SeriesFetched]) -> None:
        if self.quiet:
            return
        parts = []
        for r in series:
            what = "funding" if r.kind == "funding" else f"{_market(r.symbol)} bars"
            held = f"to {ts(r.last_ms)[:16]}" if r.last_ms is not None else "none held"
            parts.append(f"{what} +{r.new} ({held})")
        text = f"{symbol}: " + ", ".join(parts)
        if self.bar is not None:
            self.bar.console.print(text, highlight=False, soft_wrap=True)
            self.bar.advance(self.task)
        else:
            print(text, flush=True)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption, wide: bool = WideOption) -> None:
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
                drop=["Rows", "Exchange"],
            ),
            wide,
        )

    guarded(body)
