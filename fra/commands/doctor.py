"""fra doctor"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings


def doctor(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Check the set-up against the exchange: connectivity, clock skew, API key permissions,
    position mode and balances, the state file, and (live) whether the exchange holds positions
    the books do not explain. Exit 2 when something must be fixed, 5 when the exchange cannot
    be reached, 9 when it holds positions the books do not explain."""

    def body() -> None:
        from fra.engine.doctor import run_checks
        from fra.errors import ExitCode

        s = settings(ctx)
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
                )
            )
        failed = [c for c in checks if c.status == "fail"]
        if any(c.name == "connectivity" for c in failed):
            raise typer.Exit(int(ExitCode.VENUE))
        if any(c.name != "untracked" for c in failed):
            raise typer.Exit(int(ExitCode.BAD_INPUT))
        if failed:
            raise typer.Exit(int(ExitCode.UNTRACKED))

    guarded(body)
