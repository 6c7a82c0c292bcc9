"""fra open"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer

from fra.commands.common import JsonOption, guarded, print_json, settings
from fra.errors import BadInput

MAX_SIZE_USD = Decimal("1e12")


def parse_size(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BadInput(f"--size {text!r} is not a number", "pass USD, e.g. --size 500") from None
    if not value.is_finite() or value <= 0:
        raise BadInput(f"--size must be a positive amount of USD, got {text}", "e.g. --size 500")
    if value > MAX_SIZE_USD:
        raise BadInput(f"--size {text} is not a plausible amount of USD", "e.g. --size 500")
    return value


def open_(
    ctx: typer.Context,
    symbol: str = typer.Argument(
        None,
        help="Perpetual to open: BTC/USDT:USDT, BTCUSDT or btcusdt. Default: the best-ranked pair.",
    ),
    size: str = typer.Option(
        None, "--size", help="Notional per leg in USD. Default: the largest the limits allow."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Open a hedged position: buy spot and short the perpetual, the same base quantity,
    through the risk checks. A refusal names the rule that refused it."""

    def body() -> None:
        from fra.app import open_app
        from fra.commands.common import cycle_lock, setup_logging
        from fra.commands.render import describe, position_json
        from fra.core.symbols import typed
        from fra.engine.interrupts import deferred_signals
        from fra.engine.notify import after_command
        from fra.engine.open import open_position

        size_usd = parse_size(size)
        s = settings(ctx)
        setup_logging(s)
        with cycle_lock(s, s.lock_wait_seconds), open_app(s) as app:
            with deferred_signals(app.stop):
                position = open_position(app, symbol and typed(symbol), size_usd)
                after_command(app, ())
                now = app.now_ms()
            if as_json:
                print_json(position_json(position, None, now))
            else:
                print(describe(position))
            app.stop.check()

    guarded(body)
