"""fra close"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, print_json, raise_if_incomplete, settings
from fra.errors import BadInput


def close(
    ctx: typer.Context,
    target: str = typer.Argument(None, help="Position id or symbol (spot or perp) to close."),
    unprofitable: bool = typer.Option(
        False,
        "--unprofitable",
        help="Close every position whose funding fell below the exit rate or is unavailable.",
    ),
    every: bool = typer.Option(False, "--all", help="Close every open position."),
    as_json: bool = JsonOption,
) -> None:
    """Close both legs of positions and record their realized P&L."""

    def body() -> None:
        if target is not None and target.isdigit() and int(target) >= 2**63:
            raise BadInput(f"no position with id {target}", "see `fra positions` for ids")
        chosen = sum([target is not None, unprofitable, every])
        if chosen != 1:
            raise BadInput(
                "say what to close", "give exactly one of ID, SYMBOL, --unprofitable or --all"
            )
        from fra.app import open_app
        from fra.commands.common import cycle_lock, setup_logging
        from fra.commands.render import describe, position_json
        from fra.core.symbols import typed
        from fra.engine.close import close_position, find_targets
        from fra.engine.decisions import unprofitable_positions
        from fra.engine.interrupts import deferred_signals
        from fra.engine.notify import CLOSE_KINDS, after_command

        s = settings(ctx)
        setup_logging(s)
        with cycle_lock(s, s.lock_wait_seconds), open_app(s) as app:
            app.ready(opening=False)
            closed = []
            with deferred_signals(app.stop):
                if unprofitable:
                    todo = unprofitable_positions(app)
                else:
                    # An id stays an id; a symbol may be typed as ETHUSDT or in lower case.
                    named = target if target is None or target.isdigit() else typed(target)
                    todo = [(p, "manual close") for p in find_targets(app, named, every=every)]
                for position, why in todo:
                    closed.append(close_position(app, position, why))
                    app.stop.check()
                after_command(app, CLOSE_KINDS)
            now = app.now_ms()
        if as_json:
            print_json([position_json(p, None, now) for p in closed])
        elif not closed:
            print("nothing to close")
        else:
            for p in closed:
                print(describe(p))
        raise_if_incomplete(closed)

    guarded(body)
