"""The root Typer app: global flags and the registry of subcommands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

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
from fra.commands.clickcompat import NoArgsIsHelpError, UsageError, click
from fra.commands.common import Options

# `-h` too; subcommands' contexts inherit it from the root's.
CONTEXT = {"help_option_names": ["-h", "--help"]}


def _without_flag_metavars(params: list[Any]) -> list[Any]:
    # Typer's help shows `--json <bool>` as if the flag took a value: a flag shows none.
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class FraCommand(TyperCommand):
    def get_params(self, ctx: click.Context) -> list[Any]:
        return _without_flag_metavars(super().get_params(ctx))


class FraGroup(TyperGroup):
    """The root (and each command group): flags without metavars in help, and click's own
    usage errors (an unknown option, a missing argument) said as fra says its errors."""

    def get_params(self, ctx: click.Context) -> list[Any]:
        return _without_flag_metavars(super().get_params(ctx))

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        given = list(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            raise usage_error(exc, given) from None
        ctx.meta.setdefault(_ARGS, given)
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        # A command's options are parsed in here, under the group that names it.
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            # Some parse errors carry no context; the command being parsed is this one's.
            name = ctx.invoked_subcommand
            path = ctx.command_path + (f" {name}" if name else "")
            raise usage_error(exc, ctx.meta.get(_ARGS, []), path) from None


_ARGS = "fra.args"  # the arguments as given, kept where a usage error can read them


def usage_error(exc: UsageError, args: list[str], path: str = "fra") -> Exception:
    """Print a usage error as one line naming the help to read (and, when --json is among
    the arguments, as fra's JSON error on stdout too); the exit that follows keeps its code."""
    import json

    from fra.core.text import escaped

    if isinstance(exc, NoArgsIsHelpError):
        return exc  # `fra` alone: the help, as asked
    where = exc.ctx.command_path if exc.ctx is not None else path
    message = exc.format_message().strip().rstrip(".")
    if message[:1].isupper() and message[1:2].islower():
        message = message[0].lower() + message[1:]
    fix = f"see `{where} -h`"
    print(f"error: {escaped(message)}; {fix}", file=sys.stderr)
    options = args[: args.index("--")] if "--" in args else args  # after `--`, values
    if "--json" in options:
        print(json.dumps({"error": message, "fix": fix, "exit_code": exc.exit_code}, indent=2))
    return typer.Exit(exc.exit_code)


app = typer.Typer(
    name="fra",
    help="Funding-rate arbitrage: buy spot, short the perpetual, collect funding.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    cls=FraGroup,
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
app.add_typer(history.app, name="history", cls=FraGroup)
app.add_typer(notify.app, name="notify", cls=FraGroup)
app.command("backtest")(backtest.backtest)


def _with_help(typer_app: typer.Typer, prefix: str = "") -> None:
    """Each command's examples and exit codes under its --help, and its docstring's first
    paragraph as one line in the command list."""
    from fra.commands.help_text import epilog, one_paragraph

    for command in typer_app.registered_commands:
        if command.cls in (None, TyperCommand):  # typer's default: a cls of its own stays
            command.cls = FraCommand
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
        cls=FraGroup,
    )
    lean.registered_callback = app.registered_callback
    lean.registered_commands = chosen
    return lean
