"""fra doctor"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings
from fra.commands.output import WideOption
from fra.settings import Settings


def doctor(
    ctx: typer.Context,
    as_json: bool = JsonOption,
    refresh_tiers: bool = typer.Option(
        False,
        "--refresh-tiers",
        help="Instead of the checks: fetch the account's leverage brackets (needs API keys) and"
        " store them in the state file, where margin figures are computed from them.",
    ),
    wide: bool = WideOption,
) -> None:
    """Check the set-up against the exchange: connectivity, clock skew, API key permissions,
    position mode and balances, the state file, and (live) whether the exchange holds positions
    the books do not explain. Exit 2 when something must be fixed, 5 when the exchange cannot
    be reached, 9 when it holds positions the books do not explain."""

    def body() -> None:
        from fra.engine.doctor import run_checks
        from fra.errors import ExitCode

        s = settings(ctx)
        if refresh_tiers:
            _refresh_tiers(s, as_json)
            return
        checks = run_checks(s)
        if as_json:
            print_json([c._asdict() for c in checks])
        else:
            from fra.commands.output import emit, table

            rows = [[c.name, c.status.upper(), c.detail, c.fix] for c in checks]
            title = f"fra doctor: {s.venue} {s.mode}" + (
                f" via {s.venue_url}" if s.venue_url else ""
            )
            emit(
                table(
                    title,
                    ["Check", "Status", "Detail", "Fix"],
                    rows,
                    left={"Check", "Status", "Detail", "Fix"},
                    wrap={"Detail", "Fix"},
                ),
                wide,
            )
        failed = [c for c in checks if c.status == "fail"]
        if any(c.name == "connectivity" for c in failed):
            raise typer.Exit(int(ExitCode.VENUE))
        if any(c.name != "untracked" for c in failed):
            raise typer.Exit(int(ExitCode.BAD_INPUT))
        if failed:
            raise typer.Exit(int(ExitCode.UNTRACKED))

    guarded(body)


def _refresh_tiers(s: Settings, as_json: bool) -> None:
    from fra.engine.tiers import refresh_tiers

    done = refresh_tiers(s)
    if as_json:
        print_json(done._asdict())
        return
    firsts = "; ".join(f"{symbol} {text}" for symbol, text in done.first_brackets.items())
    print(
        f"stored the leverage brackets of {done.symbols} USDT perpetuals from {done.source}"
        f" in {done.state_file}" + (f": {firsts}" if firsts else "")
    )
    print(
        "paper margin ratios and liquidations are computed from them from now on (live ones"
        " come from the exchange's position data)"
    )
