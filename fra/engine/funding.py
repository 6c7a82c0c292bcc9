"""Record the funding each position received, once per settlement."""

from __future__ import annotations

from fra.app import App
from fra.core.positions import HELD_STATES, Payment, Position
from fra.engine.market import delisted
from fra.engine.orders import reload


def first_perp_fill_ms(position: Position) -> int | None:
    times = [f.time_ms for f in position.fills if f.leg == "perp" and f.filled > 0]
    return min(times) if times else None


def settle_position(app: App, position: Position) -> int:
    """Record funding settled while the short was held; returns how many payments were new."""
    since = first_perp_fill_ms(position)
    if since is None or position.perp_symbol in delisted(app, position):
        return 0
    until = position.closed_ms or app.now_ms()
    payments = app.executor.funding_payments(position.perp_symbol, since, until)
    with app.store.tx():
        return app.store.add_funding(
            position.id,
            [
                Payment(p.time_ms, p.amount, p.rate, p.mark_price, p.position_amount)
                for p in payments
            ],
        )


def settle_funding(app: App) -> int:
    """Every held position's funding up to now. Safe to repeat: payments are keyed."""
    return sum(settle_position(app, p) for p in app.store.positions(HELD_STATES))


def settle_and_reload(app: App, position: Position) -> Position:
    settle_position(app, position)
    return reload(app, position)
