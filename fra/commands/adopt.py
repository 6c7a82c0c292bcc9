"""fra adopt"""

from __future__ import annotations

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings


def adopt(
    ctx: typer.Context,
    symbol: str = typer.Argument(..., help="The perpetual of the pair, e.g. BTC/USDT:USDT."),
    as_json: bool = JsonOption,
) -> None:
    """Take into the books a hedged pair the exchange holds but fra's books do not (a cycle
    reports such holdings with exit 9 and never trades them by itself). Both legs enter at
    the mark price: P&L counts from adoption. Exit 2 when there is nothing to adopt, 4 when
    the short is not covered by spot coins."""

    def body() -> None:
        from fra.app import open_app
        from fra.commands.common import cycle_lock, setup_logging
        from fra.commands.render import describe, position_json
        from fra.engine.adopt import adopt as adopt_pair

        s = settings(ctx)
        setup_logging(s)
        with cycle_lock(s, s.lock_wait_seconds), open_app(s) as app:
            position = adopt_pair(app, symbol)
            now = app.now_ms()
        if as_json:
            print_json(position_json(position, None, now))
        else:
            print(f"adopted {describe(position)}")

    guarded(body)
