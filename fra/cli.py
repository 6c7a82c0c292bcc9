"""The root Typer app: global flags and the registry of subcommands."""

from __future__ import annotations

import sys
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

# `-h` too; subcommands' contexts inherit it from the root's.
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="fra",
    help="Funding-rate arbitrage: buy spot, short the perpetual, collect funding.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        from fra import __version__

        print(f"fra {__version__}")
        raise typer.Exit()


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
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print fra's version."
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


def _with_help(typer_app: typer.Typer, prefix: str = "") -> None:
    """Each command's examples and exit codes under its --help, and its docstring's first
    paragraph as one line in the command list."""
    from fra.commands.help_text import epilog, one_paragraph

    for command in typer_app.registered_commands:
        command.epilog = command.epilog or epilog(prefix + (command.name or ""))
        command.short_help = command.short_help or one_paragraph(command.callback.__doc__)
    for group in typer_app.registered_groups:
        _with_help(group.typer_instance, f"{prefix}{group.name} ")


_with_help(app)


def main() -> None:
    # "fra" even under `python -m fra`: usage lines and the completion variable (_FRA_COMPLETE)
    # must not depend on how it was started.
    app_for(sys.argv[1:])(prog_name="fra")


# Flags of the root callback that take a value (the command name follows them).
_VALUED = {"--db", "--venue"}


def app_for(args: list[str]) -> typer.Typer:
    """The app holding only the command `args` name, when it names one: click builds every
    registered command's parameters before it runs any (about 15 ms), and cron runs one
    command a process. Help, groups and unknown names get the whole app."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        if args[i] in ("--help", "-h"):
            return app
        i += 2 if args[i] in _VALUED else 1
    if i >= len(args):
        return app
    chosen = [c for c in app.registered_commands if c.name == args[i]]
    if not chosen:
        return app
    lean = typer.Typer(
        name=app.info.name,
        help=app.info.help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings=CONTEXT,
    )
    lean.registered_callback = app.registered_callback
    lean.registered_commands = chosen
    return lean
