"""The root Typer app: global flags and the registry of subcommands."""

from __future__ import annotations

from pathlib import Path

import typer

from fra.commands import (
    adopt,
    backtest,
    close,
    config,
    doctor,
    emergency_stop,
    history,
    install_timer,
    loop,
    margin_check,
    metrics,
    notify,
    open,
    positions,
    rank,
    run_cycle,
    scan,
    serve,
    status,
)
from fra.commands.common import Options

app = typer.Typer(
    name="fra",
    help="Funding-rate arbitrage: buy spot, short the perpetual, collect funding.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    db: Path = typer.Option(None, "--db", help="State file (default: FRA_DB or ./state.db)."),
    venue: str = typer.Option(
        None, "--venue", help="Exchange id (binance, bybit, okx, ...) or simulated; FRA_VENUE."
    ),
    init: bool = typer.Option(
        False,
        "--init",
        help="Start afresh on an empty (0-byte) state file, which fra otherwise refuses.",
    ),
) -> None:
    """Funding-rate arbitrage: buy spot, short the perpetual, collect funding."""
    ctx.obj = Options(db=db, venue=venue, init=init)


app.command("scan")(scan.scan)
app.command("rank")(rank.rank)
app.command("open")(open.open_)
app.command("close")(close.close)
app.command("margin-check")(margin_check.margin_check)
app.command("run-cycle")(run_cycle.run_cycle)
app.command("emergency-stop")(emergency_stop.emergency_stop)
app.command("resume")(emergency_stop.resume)
app.command("adopt")(adopt.adopt)
app.command("status")(status.status)
app.command("positions")(positions.positions)
app.command("config")(config.config)
app.command("doctor")(doctor.doctor)
app.command("loop")(loop.loop)
app.command("install-timer")(install_timer.install_timer)
app.command("serve")(serve.serve)
app.command("metrics")(metrics.metrics)
app.add_typer(history.app, name="history")
app.add_typer(notify.app, name="notify")
app.command("backtest")(backtest.backtest)


def main() -> None:
    app()
